"""Every URL bakepy prints or writes is declared: bakepy's own in pyproject's [project.urls], others known here.

A URL a person is sent to (the crash message's issue tracker, the repository generated CI installs from, the
schema's $id) must exist; declaring it in pyproject is where a release checks it. Placeholder hosts in examples
(`https://host/…`, `https://REGISTRY/…`, `*.example`) and templated URLs (`http://{endpoint}/v2/`) are not links.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bakepy"
DECLARED = set(
    tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"].values()
)
REPOSITORY = "https://github.com/bakepy/bakepy"

# Other projects' pages bakepy points at, and addresses that are protocol values rather than links.
KNOWN = {
    "https://docs.docker.com/engine/install/": "how to install docker (runner's missing-tool hint)",
    "https://github.com/docker/buildx#installing": "how to install buildx (runner's missing-tool hint)",
    "https://github.com/docker/buildx/releases": "buildx releases (the importer's version hint)",
    "https://json-schema.org/draft/2020-12/schema": "the schema's $schema",
    "https://index.docker.io/v1/": "Docker Hub's key in ~/.docker/config.json",
    "https://ghcr.io": "a registry key in ~/.docker/config.json",
    "https://github.com": "GITHUB_SERVER_URL's default",
    "https://docs.sigstore.dev/cosign/system_config/installation/": "how to install cosign (signing's hint)",
    "https://token.actions.githubusercontent.com": "GitHub's OIDC issuer ([project.sign] keyless example)",
    "https://github.com/OWNER/REPO/.*": "a keyless identity pattern ([project.sign] error's example)",
    # generated CI's default install until the first release on PyPI (ci/workflow.default_install)
    f"{REPOSITORY}/archive/refs/tags/v{{__version__}}.tar.gz": "a release tag's source archive",
}
_URL = re.compile(r"https?://[^\s\"'`<>\\]+")
_PLACEHOLDER_HOST = re.compile(
    r"^https?://(host|[A-Z][A-Z_]*|[^/]*\.example|localhost|127\.0\.0\.1)([:/]|$)"
)  # host, REGISTRY, …


def urls_in_package() -> dict[str, str]:
    """url -> the first file that names it, for every .py and .json file of the package."""
    found: dict[str, str] = {}
    for path in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.json")]):
        for match in _URL.finditer(path.read_text(encoding="utf-8")):
            url = match.group(0).rstrip(".,;:)]")
            found.setdefault(url, str(path.relative_to(ROOT)))
    return found


def test_every_url_bakepy_prints_is_declared_or_known() -> None:
    undeclared = {
        url: where
        for url, where in urls_in_package().items()
        if url not in DECLARED
        and url not in KNOWN
        and not _PLACEHOLDER_HOST.match(url)
        and not url.startswith(("http://{", "https://{"))
    }
    assert not undeclared, (
        "declare bakepy's own URLs in pyproject's [project.urls], or another project's in KNOWN here: "
        f"{undeclared}"
    )


def test_the_crash_message_and_generated_ci_name_declared_urls() -> None:
    from bakepy.ci.workflow import default_install
    from bakepy.cli.app import REPORT_URL
    from bakepy.schema import SCHEMA_ID

    assert REPORT_URL in DECLARED
    assert SCHEMA_ID in DECLARED
    assert REPOSITORY in DECLARED
    assert default_install().split(" @ ", 1)[1].startswith(f"{REPOSITORY}/archive/refs/tags/v")


def test_known_urls_are_still_used() -> None:
    # a URL dropped from the package is dropped from KNOWN too, so KNOWN never excuses a new one by accident
    assert set(KNOWN) <= set(urls_in_package())
