"""The credential warning (bakepy.lint): names like a credential, values shaped like one, in args, labels,
annotations and `--set`; the warning names the place and the kind, never the value (issue 23, item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakepy.config import load_project
from bakepy.lint import credential_kind, looks_like_credential, pass_through_warnings, warnings

# Made-up values of each shape (none is a real credential), split so no scanner takes this file for a leak.
GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GHO = "gho_" + "16C7e42F292c6912E7710c838347Ae178B4a"
GHS = "ghs_" + "16C7e42F292c6912E7710c838347Ae178B4a"
GITHUB_PAT = "github_pat_" + "11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEFGHIJ"
GLPAT = "glpat-" + "xxxxXXXXyyyyYYYYzzzz"
AKIA = "AKIA" + "IOSFODNN7EXAMPLE"
ASIA = "ASIA" + "IOSFODNN7EXAMPLE"
XOXB = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
XOXP = "xoxp-" + "123456789012-1234567890123"
SK_LIVE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
JWT = (
    "eyJhbGciOiJIUzI1NiJ9"
    + "."
    + "eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
URL_PASS = "https://deploy:hunter2@git.example.com/repo.git"
SLACK_HOOK = "https://hooks.slack.com/services/" + "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("npmToken", True),
        ("DB_PASS", True),
        ("db_pass", True),
        ("DOCKER_AUTH_CONFIG", True),
        ("SLACK_WEBHOOK_URL", True),
        ("SENTRY_DSN", True),
        ("CI_JOB_JWT", True),
        (
            "CI_JOB_JWT_V2",
            False,
        ),  # an ending after JWT: a variant name, not caught by name (its value is)
        ("MYSQL_ROOT_PWD", True),
        ("githubToken", True),
        ("DATABASE_URL", True),
        ("SESSION_COOKIE", True),
        ("BYPASS", False),
        ("COMPASS_VERSION", False),
        ("DOCKER_CONFIG", False),
        ("HOMEPAGE_URL", False),
        ("DSN_TIMEOUT_SECONDS", False),
        ("VERSION", False),
        ("GPG_PUBLIC_KEY", False),
        ("TOKENIZER_MODEL", False),
    ],
)
def test_credential_names(name: str, credential: bool) -> None:
    assert looks_like_credential(name) is credential


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (GHP, "a GitHub token"),
        (GHO, "a GitHub token"),
        (GHS, "a GitHub token"),
        (GITHUB_PAT, "a GitHub token"),
        (f"Bearer {GHP}", "a GitHub token"),
        (GLPAT, "a GitLab token"),
        (AKIA, "an AWS access key"),
        (ASIA, "an AWS access key"),
        (XOXB, "a Slack token"),
        (XOXP, "a Slack token"),
        (SK_LIVE, "a Stripe secret key"),
        (JWT, "a JSON web token"),
        (URL_PASS, "a URL with a password"),
        ("postgres://app:s3cret@db:5432/app", "a URL with a password"),
        (SLACK_HOOK, "a Slack webhook"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "a private key"),
        # not credentials
        ("1.2.3", None),
        ("ghp_", None),
        ("ghp_short", None),
        ("https://example.com/path", None),
        ("https://user@example.com/", None),  # a user, no password
        ("git@github.com:org/repo.git", None),
        ("AKIA", None),
        ("eyJhbGciOiJIUzI1NiJ9", None),  # a JWT header alone
        ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", None),  # a Stripe test key is published in its docs
        ("linux/amd64", None),
        ("", None),
    ],
)
def test_credential_shapes(value: str, kind: str | None) -> None:
    assert credential_kind(value) == kind


def _project(tmp_path: Path, body: str) -> list[str]:
    (tmp_path / "bakepy.toml").write_text(
        '[target.app]\ntags = ["r.example/a:1"]\n' + body, encoding="utf-8"
    )
    return warnings(load_project(tmp_path / "bakepy.toml").project)


@pytest.mark.parametrize(
    ("body", "where", "said"),
    [
        ('args = { npmToken = "x" }', "target.app.args.npmToken", "named like a credential"),
        ('args = { DB_PASS = "x" }', "target.app.args.DB_PASS", "named like a credential"),
        ('args = { SENTRY_DSN = "x" }', "target.app.args.SENTRY_DSN", "named like a credential"),
        (
            f'args = {{ EXTRA = "{GHP}" }}',
            "target.app.args.EXTRA",
            "value looks like a GitHub token",
        ),
        (f'args = {{ REPO = "{URL_PASS}" }}', "target.app.args.REPO", "a URL with a password"),
        (f'labels = {{ x = "{GLPAT}" }}', "target.app.labels.x", "looks like a GitLab token"),
        (f'annotations = ["index:x={AKIA}"]', "target.app.annotations[0]", "an AWS access key"),
    ],
)
def test_project_warnings(tmp_path: Path, body: str, where: str, said: str) -> None:
    [line] = _project(tmp_path, body + "\n")
    assert line.startswith(f"bakepy.toml: {where}: ") or f"bakepy.toml: {where}: " in line
    assert said in line
    for secret in (GHP, URL_PASS, GLPAT, AKIA, "hunter2"):
        assert secret not in line


def test_a_value_from_the_environment_is_checked_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXTRA_VALUE", XOXB)
    [line] = _project(
        tmp_path,
        '[variable.EXTRA_VALUE]\n[target.app.args]\nEXTRA = "${EXTRA_VALUE}"\n',
    )
    assert "target.app.args.EXTRA: a build arg whose value looks like a Slack token" in line
    assert XOXB not in line


def test_innocent_args_say_nothing(tmp_path: Path) -> None:
    assert (
        _project(tmp_path, 'args = { VERSION = "1.2.3", BASE = "https://example.com/x" }\n') == []
    )


@pytest.mark.parametrize(
    ("item", "said"),
    [
        ("*.args.NPM_TOKEN=abc", "--set *.args.NPM_TOKEN: a build arg named like a credential"),
        (
            "app.args.CI_JOB_JWT=abc",
            "--set app.args.CI_JOB_JWT: a build arg named like a credential",
        ),
        (
            f"app.args.X={GHS}",
            "--set app.args.X: a build arg whose value looks like a GitHub token",
        ),
        (f"app.labels.x={SK_LIVE}", "--set app.labels.x: its value looks like a Stripe secret key"),
        (
            f"app.args.X+={JWT}",
            "--set app.args.X: a build arg whose value looks like a JSON web token",
        ),
    ],
)
def test_set_warnings(item: str, said: str) -> None:
    [line] = pass_through_warnings([item])
    assert line.startswith(said)
    assert item.partition("=")[2] not in line


@pytest.mark.parametrize(
    "item",
    ["*.args.VERSION=1.2", "app.secrets=id=npm,env=NPM_TOKEN", "app.no-cache=true", "broken"],
)
def test_set_without_credentials_says_nothing(item: str) -> None:
    assert pass_through_warnings([item]) == []


def test_the_cli_says_set_warnings_on_stderr_without_the_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bakepy.cli.options import bake_options

    options = bake_options([f"app.args.EXTRA={GHP}", "*.args.VERSION=1"], False, False)
    assert options.sets == (f"app.args.EXTRA={GHP}", "*.args.VERSION=1")
    err = capsys.readouterr().err
    assert err.startswith(
        "warning: --set app.args.EXTRA: a build arg whose value looks like a GitHub"
    )
    assert err.count("\n") == 1
    assert GHP not in err
