"""The pure parts of the push-access check: the registry's challenge, the token's grants, where a secret may go."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bakepy.engine.access import _credentials, _may_send_to, granted_actions, parse_challenge


def jwt(claims: object) -> str:
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def test_parse_a_bearer_challenge() -> None:
    header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'
    assert parse_challenge(header) == (
        "bearer",
        {"realm": "https://auth.docker.io/token", "service": "registry.docker.io"},
    )
    assert parse_challenge('Basic realm="bakepy-e2e"') == ("basic", {"realm": "bakepy-e2e"})
    assert parse_challenge("") == ("", {})


def test_granted_actions_read_the_access_claim_for_that_repository_only() -> None:
    token = jwt(
        {
            "access": [
                {"type": "repository", "name": "team/app", "actions": ["pull"]},
                {"type": "repository", "name": "team/other", "actions": ["push", "pull"]},
            ]
        }
    )
    assert granted_actions(token, "team/app") == {"pull"}
    assert granted_actions(token, "team/other") == {"push", "pull"}
    assert granted_actions(jwt({"access": []}), "team/app") == set()  # asked, granted nothing
    assert granted_actions("opaque-token", "team/app") is None  # says nothing: not provable
    assert granted_actions(jwt({"sub": "x"}), "team/app") is None
    assert granted_actions("a.!!!.c", "team/app") is None


@pytest.mark.parametrize(
    ("url", "base", "sent"),
    [
        ("https://auth.example/token", "https://registry.example/v2/", True),
        ("http://127.0.0.1:9000/token", "http://127.0.0.1:5000/v2/", True),
        (
            "http://auth.example/token",
            "http://registry.example/v2/",
            False,
        ),  # never in the clear elsewhere
        ("http://127.0.0.1:9000/token", "https://registry.example/v2/", False),
        ("file:///etc/passwd", "http://127.0.0.1:5000/v2/", False),
    ],
)
def test_a_secret_goes_over_https_or_to_plain_http_loopback_only(
    url: str, base: str, sent: bool
) -> None:
    assert _may_send_to(url, base) is sent


def test_credentials_from_the_docker_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    auth = base64.b64encode(b"ci:pa:ss").decode()
    config = {
        "auths": {
            "https://registry.example": {"auth": auth},
            "ghcr.io": {"identitytoken": "refresh"},
            "https://index.docker.io/v1/": {"username": "u", "password": "p"},
        }
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert _credentials("registry.example") == ("ci", "pa:ss")
    assert _credentials("ghcr.io") == ("<token>", "refresh")
    assert _credentials("docker.io") == ("u", "p")
    assert _credentials("quay.io") is None
