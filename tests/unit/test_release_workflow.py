"""The release workflow: a version tag builds the sdist and the wheel and publishes them by trusted publishing.

actionlint checks it too (`actionlint .github/workflows/release.yml`, the binary tests/stack.py installs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def workflow() -> dict[str, Any]:
    data = yaml.safe_load(
        (ROOT / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8")
    )
    assert isinstance(data, dict)
    return data


def test_a_version_tag_builds_the_sdist_and_the_wheel() -> None:
    doc = workflow()
    assert doc["on"] == {"push": {"tags": ["v*"]}}
    assert doc["permissions"] == {"contents": "read"}
    runs = "\n".join(s.get("run", "") for s in doc["jobs"]["build"]["steps"])
    assert "python -m build" in runs  # both the sdist and the wheel
    assert 'test -f "dist/bakepy_publish-$version.tar.gz"' in runs
    assert 'test "$(/tmp/check/bin/bakepy --version)" = "bakepy $version"' in runs


def test_publishing_is_trusted_publishing_in_its_own_job() -> None:
    publish = workflow()["jobs"]["publish"]
    assert publish["needs"] == "build"
    assert publish["permissions"] == {"id-token": "write"}  # OIDC, and only in this job
    assert publish["environment"] == "pypi"
    uses = [s.get("uses", "") for s in publish["steps"]]
    assert uses[-1] == "pypa/gh-action-pypi-publish@release/v1"
    assert not any("password" in s.get("with", {}) for s in publish["steps"])  # no stored token
