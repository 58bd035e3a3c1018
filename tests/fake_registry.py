"""An in-memory registry behind the Runner methods the per-platform flow calls (tests only, no docker).

`FakeRunner.bake` "pushes" one index per target and platform (the image and its provenance attestation, as
BuildKit does by default) to every repository named in the rendered push-by-digest output, and
`imagetools_create` / `imagetools_inspect` act on the same store. `offline` makes bakepy.registry skip its
direct HTTP reads of loopback registries, so everything comes from the fake.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class FakeRunner:
    """An in-memory registry behind the Runner methods the per-platform flow calls."""

    echo_output = False

    def __init__(self, nonce: str = "1", *, attest: bool = True) -> None:
        self.nonce = nonce
        self.attest = (
            attest  # False: pushes are plain image manifests, as with attestations turned off
        )
        self.platform_of: dict[str, dict[str, str]] = {}  # image digest -> its config's platform
        self.store: dict[str, dict[str, Any]] = {}
        self.bakes: list[dict[str, Any]] = []
        self.created: list[tuple[str, ...]] = []

    def log(self, line: str) -> None:
        pass

    def bake(
        self,
        files: Sequence[Path],
        targets: Sequence[str],
        *,
        metadata_file: Path | None = None,
        cwd: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        **_: Any,
    ) -> None:
        bake = json.loads(files[0].read_text())
        self.bakes.append(bake)
        metadata = {}
        for name in targets:
            target = bake["target"][name]
            (platform,) = target["platforms"]
            os_, arch = platform.split("/")
            image = sha(f"{name} {platform} {self.nonce}")
            attestation = sha(f"provenance {image} {self.nonce}")
            self.platform_of[image] = {"os": os_, "architecture": arch}
            doc: dict[str, Any] = {
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": image,
                        "size": 400,
                        "platform": {"os": os_, "architecture": arch},
                    },
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": attestation,
                        "size": 300,
                        "platform": {"os": "unknown", "architecture": "unknown"},
                        "annotations": {
                            "vnd.docker.reference.type": "attestation-manifest",
                            "vnd.docker.reference.digest": image,
                        },
                    },
                ],
            }
            digest = sha(json.dumps(doc, sort_keys=True))
            doc.update(digest=digest, size=850)
            if not self.attest:
                digest = image
                doc = {"mediaType": OCI_MANIFEST, "digest": image, "size": 400, "layers": []}
            (output,) = target["output"]
            for repo in output["name"].split(","):
                self.store[f"{repo}@{digest}"] = doc
            metadata[name] = {"containerimage.digest": digest}
        assert metadata_file is not None
        metadata_file.write_text(json.dumps(metadata))

    def imagetools_inspect(self, ref: str) -> dict[str, Any] | None:
        found = self.store.get(ref)
        return copy.deepcopy(found) if found is not None else None

    def imagetools_create(
        self,
        tags: Sequence[str],
        sources: Sequence[str],
        *,
        annotations: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> str:
        docs = [self.store[s] for s in sources]
        if len(docs) == 1 and "manifests" in docs[0]:
            doc = docs[0]  # one index: copied as is
        else:  # imagetools reads a plain manifest's platform from its config
            manifests = [
                m
                for d in docs
                for m in d.get("manifests")
                or [
                    {
                        "mediaType": d["mediaType"],
                        "digest": d["digest"],
                        "size": d["size"],
                        "platform": self.platform_of[d["digest"]],
                    }
                ]
            ]
            doc = {"mediaType": OCI_INDEX, "manifests": manifests}
            doc.update(digest=sha(json.dumps(doc, sort_keys=True)), size=1200)
        repo = sources[0].split("@")[0]
        self.store[f"{repo}@{doc['digest']}"] = doc
        for tag in tags:
            self.store[tag] = doc
        self.created.append(tuple(tags))
        return ""

    def tag_platforms(self, tag: str) -> set[str]:
        doc = self.store[tag]
        return {
            f"{m['platform']['os']}/{m['platform']['architecture']}"
            for m in doc["manifests"]
            if "annotations" not in m
        }


def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of open (loopback) registries go over HTTP first; make them fall through to the fake."""
    import bakepy.registry

    if hasattr(bakepy.registry, "read_anonymously"):

        def no_answer(ref: str, **_: Any) -> None:
            raise bakepy.registry._NoAnswer

        monkeypatch.setattr(bakepy.registry, "read_anonymously", no_answer)
