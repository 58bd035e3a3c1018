"""A refused signature takes back what this run signed only once every signature push has settled: one still
on its way when the take-back ran would land after it and stay (tests/e2e/test_signing.py found it)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from bakepy.engine import registry
from bakepy.errors import SigningError
from bakepy.publish import sign

REFS = [f"r:5000/app@sha256:{c * 64}" for c in "ab"]


def test_the_take_back_waits_for_every_signature_push(monkeypatch: pytest.MonkeyPatch) -> None:
    tags: dict[str, str] = {}
    lock = threading.Lock()

    def sign_one(ref: str) -> None:
        if ref == REFS[0]:
            raise SigningError("the registry refused a signature")
        time.sleep(0.2)  # a slow push that lands after the other one failed
        with lock:
            tags[sign.signature_tag(ref)] = "sha256:" + "c" * 64

    def delete_tag(tag: str, *, digest: str, others_safe: bool) -> bool:
        with lock:
            del tags[tag]
        return True

    monkeypatch.setattr(sign, "targets_of", lambda staged, manifests: REFS)
    monkeypatch.setattr(registry, "head_digest", lambda tag, **kw: tags.get(tag))
    monkeypatch.setattr(registry, "delete_tag", delete_tag)
    cosign = SimpleNamespace(
        settings=SimpleNamespace(manifests=False), sign=sign_one, verify=lambda ref: None
    )
    with pytest.raises(SigningError, match="no tag was moved; took back 1 signature"):
        sign.sign_staged(cosign, [])  # type: ignore[arg-type]
    assert tags == {}
