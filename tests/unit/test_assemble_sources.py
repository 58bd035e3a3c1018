"""`bakepy assemble`'s checks of its sources, before anything is pushed: a contradiction, a duplicate platform or an
index given to `--annotate` is bad input (ConfigError, exit 2) with the way forward, not a registry failure (5).

The registry is a table of what each reference holds (`registry.inspect` and `registry.config_platform` replaced);
the same refusals run on the real stack in tests/e2e/test_assemble.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from bakepy.engine.runner import Runner
from bakepy.errors import ConfigError
from bakepy.publish import assemble
from bakepy.publish.assemble import SourceSpec, resolve_sources
from bakepy.publish.index import ImageIndex, ManifestEntry

REPO = "127.0.0.1:5000/acme/src"
CHILD_AMD64 = "sha256:" + "a" * 64
CHILD_ARM64 = "sha256:" + "b" * 64
PLAIN = "application/vnd.docker.distribution.manifest.v2+json"
OCI_IMAGE = "application/vnd.oci.image.manifest.v1+json"


def _image(digest: str) -> ImageIndex:
    return ImageIndex(digest, PLAIN, (), is_index=False)


def _index(digest: str, *children: tuple[str, str]) -> ImageIndex:
    manifests = [ManifestEntry(d, OCI_IMAGE, 500, p) for p, d in children]
    manifests += [ManifestEntry("sha256:" + "e" * 64, OCI_IMAGE, 300, None, attests=children[0][1])]
    return ImageIndex(digest, "application/vnd.oci.image.index.v1+json", tuple(manifests))


# reference → (what it points at, its image config's platform)
HELD: dict[str, tuple[ImageIndex, str | None]] = {
    f"{REPO}:amd64": (_image("sha256:" + "1" * 64), "linux/amd64"),
    # cross-built for arm64, but its config says amd64
    f"{REPO}:cross": (_image("sha256:" + "2" * 64), "linux/amd64"),
    f"{REPO}:pushed": (_index("sha256:" + "3" * 64, ("linux/amd64", CHILD_AMD64)), None),
    f"{REPO}:both": (
        _index("sha256:" + "4" * 64, ("linux/amd64", CHILD_AMD64), ("linux/arm64", CHILD_ARM64)),
        None,
    ),
}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    by_digest = {f"{REPO}@{index.digest}": (index, config) for index, config in HELD.values()}
    children = {
        f"{REPO}@{CHILD_AMD64}": (_image(CHILD_AMD64), "linux/amd64"),
        f"{REPO}@{CHILD_ARM64}": (_image(CHILD_ARM64), "linux/arm64"),
    }
    known = {**HELD, **by_digest, **children}

    def inspect(runner: Any, ref: str) -> ImageIndex | None:
        return known[ref][0] if ref in known else None

    def config_platform(runner: Any, ref: str) -> str | None:
        return known[ref][1]

    monkeypatch.setattr(assemble.registry, "inspect", inspect)
    monkeypatch.setattr(assemble.registry, "config_platform", config_platform)


def _refused(*specs: SourceSpec) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        resolve_sources(Runner(), specs)
    error = caught.value
    assert error.exit_code == 2
    assert "\n" not in error.message
    return error


@pytest.mark.usefixtures("registry")
def test_a_source_whose_config_contradicts_its_platform_is_bad_input() -> None:
    error = _refused(SourceSpec.parse(f"linux/arm64={REPO}:cross"))
    assert error.message == (
        f"source {REPO}:cross is given for linux/arm64, but its image config says linux/amd64; "
        "no tag was moved"
    )
    assert error.hint is not None and f"--annotate linux/arm64={REPO}:cross" in error.hint


@pytest.mark.usefixtures("registry")
def test_two_sources_for_one_platform_are_bad_input() -> None:
    error = _refused(SourceSpec.parse(f"{REPO}:amd64"), SourceSpec.parse(f"{REPO}:pushed"))
    assert error.message.startswith(f"two sources for linux/amd64: {REPO}:amd64 and {REPO}:pushed")


@pytest.mark.usefixtures("registry")
def test_an_index_given_for_another_platform_names_its_manifest_to_pass_instead() -> None:
    error = _refused(SourceSpec.parse(f"linux/arm64={REPO}:pushed"))
    assert "is given for linux/arm64, but it is an index of linux/amd64" in error.message
    assert error.hint is not None
    assert f"--annotate linux/arm64={REPO}@{CHILD_AMD64}" in error.hint


@pytest.mark.usefixtures("registry")
def test_annotate_of_an_index_names_the_platform_manifest_to_pass_instead() -> None:
    """A buildx push is an index (its attestation makes it one): the way forward is its image manifest."""
    error = _refused(SourceSpec.parse(f"linux/arm64={REPO}:pushed", annotate=True))
    assert error.message.startswith(
        f"--annotate linux/arm64={REPO}:pushed: {REPO}:pushed is an index"
    )
    assert f"--annotate linux/arm64={REPO}@{CHILD_AMD64}" in error.message
    # several images: the one of the platform asked for, when the index has it
    error = _refused(SourceSpec.parse(f"linux/arm64={REPO}:both", annotate=True))
    assert f"--annotate linux/arm64={REPO}@{CHILD_ARM64}" in error.message
    assert CHILD_AMD64 not in error.message


@pytest.mark.usefixtures("registry")
def test_the_manifest_named_by_that_error_is_taken() -> None:
    (source,) = resolve_sources(
        Runner(), [SourceSpec.parse(f"linux/arm64={REPO}@{CHILD_AMD64}", annotate=True)]
    )
    assert source.platforms == ("linux/arm64",) and source.annotated == "linux/amd64"
