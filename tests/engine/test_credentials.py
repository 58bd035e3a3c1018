"""Logins resolved as the docker CLI resolves them: credHelpers, then credsStore, then auths; Docker Hub's v1 key.

These tests start processes (credential helpers), so they live outside tests/unit. The helpers are small programs speaking docker's credential-helper protocol (`get` with the
server address on standard input, JSON on standard output), put on PATH as `docker-credential-NAME`, exactly as
ecr-login, gcloud or pass are found."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from bakepy.engine import credentials


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    home = tmp_path / "docker"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(home))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def write(
        doc: dict[str, object], helpers: dict[str, dict[str, dict[str, str]]] | None = None
    ) -> None:
        (home / "config.json").write_text(json.dumps(doc))
        for name, answers in (helpers or {}).items():
            program = bin_dir / f"docker-credential-{name}"
            log = tmp_path / f"{name}.asked"
            program.write_text(
                "#!/usr/bin/env python3\n"
                "import json, sys\n"
                f"answers = {answers!r}\n"
                "server = sys.stdin.read().strip()\n"
                f"open({str(log)!r}, 'a').write(sys.argv[1] + ' ' + server + '\\n')\n"
                "if sys.argv[1] == 'list':\n"
                "    print(json.dumps({k: v['Username'] for k, v in answers.items()})); sys.exit(0)\n"
                "if server not in answers:\n"
                "    print('credentials not found in native keychain'); sys.exit(1)\n"
                "print(json.dumps(dict(answers[server], ServerURL=server)))\n"
            )
            program.chmod(program.stat().st_mode | stat.S_IEXEC)

    return write


def basic(user: str, secret: str) -> str:
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


def test_auths_entries_in_every_form_docker_writes(config) -> None:  # type: ignore[no-untyped-def]
    config(
        {
            "auths": {
                "https://registry.example": {"auth": basic("ci", "pa:ss")},
                "ghcr.io": {"identitytoken": "refresh"},
                "https://index.docker.io/v1/": {"username": "u", "password": "p"},
                "quay.io": {"registrytoken": "bearer-token"},
                "empty.example": {},
            }
        }
    )
    found = credentials.lookup("registry.example")
    assert found is not None and (found.kind, found.user, found.secret) == ("basic", "ci", "pa:ss")
    found = credentials.lookup("ghcr.io")
    assert found is not None and (found.kind, found.secret) == ("identity", "refresh")
    for hub in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        found = credentials.lookup(hub)
        assert found is not None and (found.user, found.secret) == ("u", "p")
    found = credentials.lookup("quay.io")
    assert found is not None and (found.kind, found.secret) == ("bearer", "bearer-token")
    assert credentials.lookup("empty.example") is None
    assert credentials.lookup("other.example") is None


def test_a_cred_helper_for_the_host_wins_over_auths_and_creds_store(config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config(
        {
            "auths": {"123.dkr.ecr.eu-west-1.amazonaws.com": {"auth": basic("stale", "old")}},
            "credsStore": "store",
            "credHelpers": {"123.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"},
        },
        {
            "ecr-login": {
                "123.dkr.ecr.eu-west-1.amazonaws.com": {"Username": "AWS", "Secret": "ecr-token"}
            },
            "store": {"ghcr.io": {"Username": "<token>", "Secret": "gh-refresh"}},
        },
    )
    found = credentials.lookup("123.dkr.ecr.eu-west-1.amazonaws.com")
    assert found is not None and (found.user, found.secret) == ("AWS", "ecr-token")
    assert "credential helper docker-credential-ecr-login" in found.source
    found = credentials.lookup(
        "ghcr.io"
    )  # credsStore for every other registry; <token> is an identity token
    assert found is not None and (found.kind, found.secret) == ("identity", "gh-refresh")
    assert credentials.lookup("quay.io") is None  # the store has nothing and auths neither
    assert (tmp_path / "ecr-login.asked").read_text() == "get 123.dkr.ecr.eu-west-1.amazonaws.com\n"


def test_a_cred_helper_that_has_nothing_is_final_as_in_docker(config) -> None:  # type: ignore[no-untyped-def]
    config(
        {
            "auths": {"gcr.io": {"auth": basic("stale", "old")}},
            "credHelpers": {"gcr.io": "gcloud"},
        },
        {"gcloud": {}},
    )
    assert credentials.lookup("gcr.io") is None


def test_docker_hub_is_asked_under_its_v1_server_address(config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config(
        {"credsStore": "desktop"},
        {"desktop": {"https://index.docker.io/v1/": {"Username": "me", "Secret": "hub-pat"}}},
    )
    found = credentials.lookup("docker.io")
    assert found is not None and (found.user, found.secret) == ("me", "hub-pat")
    assert credentials.has_credentials("docker.io")
    assert "get https://index.docker.io/v1/" in (tmp_path / "desktop.asked").read_text()


def test_a_missing_helper_or_config_is_no_login(
    config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    config({"credsStore": "not-installed"})
    assert credentials.lookup("ghcr.io") is None
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nowhere"))
    assert credentials.lookup("ghcr.io") is None


def test_a_login_never_shows_its_secret(config) -> None:  # type: ignore[no-untyped-def]
    config({"auths": {"r.example": {"auth": basic("ci", "top-secret-value")}}})
    found = credentials.lookup("r.example")
    assert found is not None
    assert "top-secret-value" not in repr(found) and "top-secret-value" not in str(found)


def test_the_keychain_asks_a_helper_once_per_run(config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config({"credsStore": "store"}, {"store": {"ghcr.io": {"Username": "u", "Secret": "s"}}})
    keychain = credentials.Keychain()
    for _ in range(5):
        assert keychain.get("ghcr.io") is not None
    assert (tmp_path / "store.asked").read_text().count("get ghcr.io") == 1
