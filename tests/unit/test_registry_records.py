"""Pure parts of publishing: references, index parsing (from captured buildx output), failure parsing, records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bakepy.errors import ConfigError, RegistryError
from bakepy.publish.build import BuildLog
from bakepy.publish.index import (
    ImageIndex,
    ManifestEntry,
    parse_index,
    repository_of,
    split_reference,
)
from bakepy.publish.records import DigestRecord, read_record_files, write_records
from bakepy.publish.sources import TargetSpec, check_sources

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "buildx"
D = "sha256:" + "a" * 64
E = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("127.0.0.1:5000/a/b:1.0", ("127.0.0.1:5000", "a/b", "1.0", None)),
        ("127.0.0.1:5000/a/b", ("127.0.0.1:5000", "a/b", None, None)),
        (f"ghcr.io/acme/app@{D}", ("ghcr.io", "acme/app", None, D)),
        (f"ghcr.io/acme/app:v1@{D}", ("ghcr.io", "acme/app", "v1", D)),
        ("busybox", ("docker.io", "library/busybox", None, None)),
        ("acme/app:latest", ("docker.io", "acme/app", "latest", None)),
        ("localhost/app:1", ("localhost", "app", "1", None)),
    ],
)
def test_split_reference(ref: str, expected: tuple[str, str, str | None, str | None]) -> None:
    assert split_reference(ref) == expected


def test_repository_of() -> None:
    assert repository_of("127.0.0.1:5001/x/y:2") == "127.0.0.1:5001/x/y"


def test_parse_index_tells_attestations_apart() -> None:
    index = parse_index(json.loads((FIXTURES / "inspect-index.json").read_text()))
    assert index.is_index
    assert index.platforms == ("linux/amd64", "linux/arm64")
    assert len(index.attestations) == 2
    image_digests = {m.digest for m in index.images}
    assert {a.attests for a in index.attestations} == image_digests
    assert set(index.platform_digests()) == {"linux/amd64", "linux/arm64"}


def test_parse_single_manifest() -> None:
    manifest = parse_index(json.loads((FIXTURES / "inspect-manifest.json").read_text()))
    assert not manifest.is_index
    assert manifest.size == 858


def test_duplicate_platforms_are_refused() -> None:
    index = ImageIndex(
        D,
        "application/vnd.oci.image.index.v1+json",
        (ManifestEntry(D, "m", 1, "linux/amd64"), ManifestEntry(E, "m", 1, "linux/amd64")),
    )
    with pytest.raises(RegistryError, match="two images for platform linux/amd64"):
        index.platform_digests()


def test_build_log_names_target_and_platform_of_the_failure() -> None:
    log = BuildLog(None, ["ok", "bad"])
    for line in (FIXTURES / "bake-fail-arm64.txt").read_text().splitlines():
        log(line)
    message = log.describe()
    assert message is not None
    assert message.startswith("build of target bad for linux/arm64 failed: process ")
    assert "exit code: 3" in message


def _record(**kw: object) -> DigestRecord:
    base: dict[str, object] = dict(
        target="app",
        platform="linux/arm64",
        digest=D,
        source=E,
        media_type="application/vnd.oci.image.index.v1+json",
        size=10,
        repositories=("r:5000/a",),
        fingerprint="f1",
        revision="abc",
    )
    base.update(kw)
    return DigestRecord(**base)  # type: ignore[arg-type]


def test_records_round_trip(tmp_path: Path) -> None:
    records = [_record(), _record(platform="linux/amd64")]
    paths = write_records(tmp_path / "sub", records)
    assert [p.name for p in paths] == ["app--linux-arm64.json", "app--linux-amd64.json"]
    assert sorted((r for _, r in read_record_files(tmp_path)), key=lambda r: r.platform) == sorted(
        records, key=lambda r: r.platform
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"digest": "sha256:nope"}, "digest: 'sha256:nope' is not a sha256 digest"),
        ({"target": 3}, "target: missing or not a string"),
        ({"version": 9}, "version: record format 9 is not 1"),
        ({"extra": 1}, "unknown key 'extra'"),
        ({"repositories": []}, "repositories: must be a non-empty list"),
    ],
)
def test_bad_records_are_config_errors(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    data = _record().to_json()
    data.update(change)
    (tmp_path / "r.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        read_record_files(tmp_path)


def test_records_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such records directory"):
        read_record_files(tmp_path / "missing")


def test_build_log_names_the_one_target_of_an_unlabelled_push_failure() -> None:
    """buildx labels steps with their target only when it builds several; a lone target is the one that failed."""
    log = BuildLog(None, ["hello"])
    for line in (FIXTURES / "bake-push-refused.txt").read_text().splitlines():
        log(line)
    message = log.describe()
    assert message is not None
    assert message.startswith("push of target hello failed: failed to push 127.0.0.1:5999/ux/hello")
    assert log.push_failed


def _index(digest: str, *platforms: str | None) -> ImageIndex:
    entries = tuple(
        ManifestEntry("sha256:" + str(i) * 64, "application/vnd.oci.image.manifest.v1+json", 1, p)
        for i, p in enumerate(platforms, start=1)
    )
    return ImageIndex(digest, "application/vnd.oci.image.index.v1+json", entries)


def test_a_target_without_platforms_takes_what_the_builder_built() -> None:
    spec = TargetSpec("app", (), ("r:5000/a",), ("r:5000/a:1",))
    collected = check_sources(spec, [D], {f"r:5000/a@{D}": _index(D, "linux/amd64")})
    assert set(collected.images) == {"linux/amd64"}


def test_a_push_that_names_no_platform_is_refused_when_none_was_planned() -> None:
    spec = TargetSpec("app", (), ("r:5000/a",), ("r:5000/a:1",))
    plain = ImageIndex(
        D,
        "application/vnd.oci.image.manifest.v1+json",
        (ManifestEntry(D, "m", 1, None),),
        is_index=False,
    )
    with pytest.raises(RegistryError, match="does not say which platform it is; no tag was moved"):
        check_sources(spec, [D], {f"r:5000/a@{D}": plain})


def test_planned_platforms_must_match_exactly() -> None:
    spec = TargetSpec("app", ("linux/amd64", "linux/arm64"), ("r:5000/a",), ("r:5000/a:1",))
    with pytest.raises(RegistryError, match=r"missing linux/arm64\); no tag was moved"):
        check_sources(spec, [D], {f"r:5000/a@{D}": _index(D, "linux/amd64")})
    with pytest.raises(RegistryError, match=r"r:5000/a@sha256:a+ is missing; no tag was moved"):
        check_sources(spec, [D], {})


def test_cryptic_registry_refusals_get_their_fix() -> None:
    from bakepy.engine.runner import registry_hint

    assert "create-repository" in (registry_hint("NAME_UNKNOWN: repository name not known") or "")
    assert "immutable" in (
        registry_hint(
            "tag invalid: The image tag 'latest' already exists ... because the repository is immutable"
        )
        or ""
    )
    assert "docker login" in (registry_hint("unexpected status: 401 Unauthorized") or "")
    assert registry_hint("connection reset by peer") is None
