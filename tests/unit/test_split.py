"""The per-platform flow without docker: `build_platform` and `merge_project` against an in-memory registry.

`FakeRunner` stands in for bakepy.runner.Runner: its `bake` "pushes" one index per target (the platform image and
its attestation, as BuildKit does with default provenance) to every repository named in the rendered output,
and `imagetools_create` / `imagetools_inspect` act on the same in-memory store. The records checks are pure.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fake_registry import OCI_INDEX, FakeRunner, offline, sha

from bakepy.config import load_project
from bakepy.errors import ConfigError, NothingToDoError, RegistryError
from bakepy.plan import plan_publish
from bakepy.records import DigestRecord, write_records
from bakepy.split import (
    Missing,
    build_platform,
    check_records,
    merge_project,
    read_record_files,
    target_fingerprints,
)

REGISTRIES = ("127.0.0.1:5000", "127.0.0.1:5001")
PLATFORMS = ("linux/amd64", "linux/arm64")
REVISION = "a" * 40


def write_project(root: Path, *, tags: str = '"latest", "1.0"', cache: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    regs = ", ".join(f'"{r}"' for r in REGISTRIES)
    path = root / "bakepy.toml"
    path.write_text(
        textwrap.dedent(
            f"""\
            [project]
            registries = [{regs}]
            platforms = ["linux/amd64", "linux/arm64"]
            tags = [{tags}]
            {cache}

            [target.web]
            image = "acme/web"

            [target.api]
            image = "acme/api"

            [target.tool]
            image = "acme/tool"
            platforms = ["linux/amd64"]

            [group.default]
            targets = ["web", "api"]
            """
        )
    )
    return path


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    offline(monkeypatch)


@pytest.fixture(autouse=True)
def _revision(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GITHUB_SHA", "CI_COMMIT_SHA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BAKEPY_REVISION", REVISION)


def build_all(
    path: Path, runner: FakeRunner, records: Path, platforms: Sequence[str] = PLATFORMS
) -> None:
    project = load_project(path, env={}).project
    for platform in platforms:
        build_platform(path, project, runner, platform=platform, records_dir=records)  # type: ignore[arg-type]


def merge(path: Path, runner: FakeRunner, records: Path, **kwargs: Any) -> Any:
    project = load_project(path, env={}).project
    return merge_project(path, project, runner, records_dir=records, **kwargs)  # type: ignore[arg-type]


# -- build ----------------------------------------------------------------------------------------------
def test_build_renders_one_platform_and_writes_one_record_per_target(tmp_path: Path) -> None:
    path = write_project(
        tmp_path / "proj", cache='cache = { type = "registry", ref = "127.0.0.1:5000/cache" }'
    )
    runner = FakeRunner()
    project = load_project(path, env={}).project
    report = build_platform(
        path,
        project,
        runner,
        platform="linux/aarch64",
        records_dir=tmp_path / "rec",  # type: ignore[arg-type]
    )
    assert report.platform == "linux/arm64"  # normalised
    assert report.targets == ("web", "api")
    assert report.bake_file == path.parent / ".bakepy" / "build-linux-arm64" / "docker-bake.json"
    (bake,) = runner.bakes
    web = bake["target"]["web"]
    assert web["platforms"] == ["linux/arm64"]
    assert "tags" not in web
    assert web["output"][0]["push-by-digest"] == "true"
    # its own cache scope: the amd64 runner never overwrites it (bake-action#329)
    assert any("web.linux-arm64" in str(entry) for entry in web["cache-to"])
    assert sorted(p.name for p in report.paths) == [
        "api--linux-arm64.json",
        "web--linux-arm64.json",
    ]
    fingerprints = target_fingerprints(project, plan_publish(project))
    for record in report.records:
        assert record.platform == "linux/arm64"
        assert record.fingerprint == fingerprints[record.target]
        assert record.revision == REVISION
        assert record.repositories == tuple(f"{r}/acme/{record.target}" for r in REGISTRIES)
        assert (
            record.source != record.digest
        )  # the pushed index (with its attestation), not the image


def test_build_of_a_platform_no_target_builds_is_nothing_to_do(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    project = load_project(path, env={}).project
    with pytest.raises(NothingToDoError, match="no selected target builds for linux/riscv64"):
        build_platform(path, project, FakeRunner(), platform="linux/riscv64")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--platform: 'linux/arm65' is not a platform"):
        build_platform(path, project, FakeRunner(), platform="linux/arm65")  # type: ignore[arg-type]


def test_build_only_builds_selected_targets_that_have_the_platform(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    project = load_project(path, env={}).project
    report = build_platform(
        path,
        project,
        FakeRunner(),
        platform="linux/arm64",
        targets=["web", "tool"],  # type: ignore[arg-type]
    )
    assert report.targets == ("web",)
    assert report.skipped == ("tool",)


# -- merge ----------------------------------------------------------------------------------------------
def test_merge_publishes_every_tag_with_every_platform(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    report = merge(path, runner, tmp_path / "rec")
    assert {(p.target, p.registry) for p in report.published} == {
        (t, r) for t in ("web", "api") for r in REGISTRIES
    }
    assert report.missing == ()
    for registry in REGISTRIES:
        for target in ("web", "api"):
            for tag in ("latest", "1.0"):
                assert runner.tag_platforms(f"{registry}/acme/{target}:{tag}") == set(PLATFORMS)
    assert (
        len(runner.created) == 4
    )  # one imagetools create per target and registry, all tags at once


@pytest.mark.parametrize("partial", [False, True])
def test_without_attestations_each_push_is_a_plain_manifest(tmp_path: Path, partial: bool) -> None:
    """A plain image manifest names no platform; the build pushed exactly one, and the record says which."""
    path = write_project(tmp_path / "proj")
    runner = FakeRunner(attest=False)
    build_all(path, runner, tmp_path / "rec")
    for _, found in read_record_files(tmp_path / "rec"):
        assert found.source == found.digest  # nothing wraps the image
    if partial:
        (tmp_path / "rec" / "web--linux-arm64.json").unlink()
    report = merge(path, runner, tmp_path / "rec", allow_partial=partial)
    assert all(p.attestations == 0 for p in report.published)
    web = {"linux/amd64"} if partial else set(PLATFORMS)
    assert runner.tag_platforms("127.0.0.1:5001/acme/web:1.0") == web
    assert runner.tag_platforms("127.0.0.1:5001/acme/api:1.0") == set(PLATFORMS)


def test_a_missing_platform_is_refused_and_moves_nothing(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    (tmp_path / "rec" / "web--linux-arm64.json").unlink()
    with pytest.raises(
        ConfigError, match=r"missing digest records for web linux/arm64; no tag was moved"
    ):
        merge(path, runner, tmp_path / "rec")
    assert runner.created == []


def test_allow_partial_publishes_what_was_built_and_names_what_is_missing(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    (tmp_path / "rec" / "web--linux-arm64.json").unlink()
    report = merge(path, runner, tmp_path / "rec", allow_partial=True)
    assert report.missing == (Missing("web", "linux/arm64"),)
    assert report.to_json()["partial"] is True
    assert runner.tag_platforms("127.0.0.1:5000/acme/web:latest") == {"linux/amd64"}
    assert runner.tag_platforms("127.0.0.1:5001/acme/api:1.0") == set(PLATFORMS)


def test_allow_partial_skips_a_target_with_no_record_at_all(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    for name in ("web--linux-amd64.json", "web--linux-arm64.json"):
        (tmp_path / "rec" / name).unlink()
    report = merge(path, runner, tmp_path / "rec", allow_partial=True)
    assert report.skipped == ("web",)
    assert {p.target for p in report.published} == {"api"}
    assert "127.0.0.1:5000/acme/web:latest" not in runner.store


def test_dry_run_checks_the_records_and_prints_real_sources(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    report = merge(path, runner, tmp_path / "rec", dry_run=True)
    assert runner.created == []
    assert len(report.commands) == 4
    web = next(c for c in report.commands if "127.0.0.1:5000/acme/web:latest" in c)
    sources = [a for a in web if "@sha256:" in a]
    assert len(sources) == 2  # one pushed index per platform


def test_records_of_another_plan_are_refused(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    write_project(
        tmp_path / "proj", tags='"latest", "1.0", "2.0"'
    )  # the tags changed after the builds
    with pytest.raises(ConfigError, match="was built for another plan"):
        merge(path, runner, tmp_path / "rec")
    assert runner.created == []


def test_records_of_another_revision_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    monkeypatch.setenv("BAKEPY_REVISION", "b" * 40)
    with pytest.raises(ConfigError, match=f"built from revision {REVISION}, but this checkout is"):
        merge(path, runner, tmp_path / "rec")


def test_records_of_two_revisions_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec", ["linux/amd64"])
    monkeypatch.setenv("BAKEPY_REVISION", "b" * 40)
    build_all(path, runner, tmp_path / "rec", ["linux/arm64"])
    monkeypatch.delenv("BAKEPY_REVISION")
    with pytest.raises(ConfigError, match="records come from different source revisions"):
        merge(path, runner, tmp_path / "rec")


def test_duplicate_records_are_refused(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    # a second job built arm64 again (another nonce: a different image), its artifact landed in a sub-folder
    build_all(path, FakeRunner("2"), tmp_path / "rec" / "job-2", ["linux/arm64"])
    with pytest.raises(
        ConfigError, match=r"two records for api linux/arm64: .*rec/job-2/api--linux-arm64.json"
    ):
        merge(path, runner, tmp_path / "rec")
    assert runner.created == []


def test_a_record_for_a_target_outside_the_plan(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    project = load_project(path, env={}).project
    build_platform(
        path,
        project,
        runner,
        platform="linux/amd64",
        targets=["tool"],
        records_dir=tmp_path / "rec",
    )  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match="a record for target tool, which this plan does not publish"
    ):
        merge(path, runner, tmp_path / "rec")
    # naming the targets makes other targets' records someone else's business
    report = merge(path, runner, tmp_path / "rec", targets=["web", "api"])
    assert [p.name for p in report.ignored] == ["tool--linux-amd64.json"]
    assert {p.target for p in report.published} == {"web", "api"}


def test_many_targets_in_one_merge_from_separate_folders(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    project = load_project(path, env={}).project
    for platform in PLATFORMS:  # CI artifacts: one folder per job
        build_platform(
            path,
            project,
            runner,
            platform=platform,
            records_dir=tmp_path / "rec" / platform.replace("/", "-"),
        )  # type: ignore[arg-type]
    build_platform(
        path,
        project,
        runner,
        platform="linux/amd64",
        targets=["tool"],
        records_dir=tmp_path / "rec" / "tool",
    )  # type: ignore[arg-type]
    report = merge(path, runner, tmp_path / "rec", targets=["web", "api", "tool"])
    assert {p.target for p in report.published} == {"web", "api", "tool"}
    assert report.records == 5


def test_a_record_that_does_not_match_the_registry_is_refused(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    record_path = tmp_path / "rec" / "web--linux-amd64.json"
    data = json.loads(record_path.read_text())
    data["digest"] = sha("something else")
    record_path.write_text(json.dumps(data))
    with pytest.raises(RegistryError, match="the record says linux/amd64 is"):
        merge(path, runner, tmp_path / "rec")
    assert runner.created == []


def test_records_written_by_publish_are_accepted(tmp_path: Path) -> None:
    """`bakepy publish --records` stamps its whole run's fingerprint; a merge of the same selection accepts it."""
    path = write_project(tmp_path / "proj")
    runner = FakeRunner()
    build_all(path, runner, tmp_path / "rec")
    plan = plan_publish(load_project(path, env={}).project)
    for record_path, record in read_record_files(tmp_path / "rec"):
        data = record.to_json()
        data["fingerprint"] = plan.fingerprint
        record_path.write_text(json.dumps(data))
    assert len(merge(path, runner, tmp_path / "rec").published) == 4


def test_no_records(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NothingToDoError, match="no digest records to merge"):
        merge(path, FakeRunner(), tmp_path / "empty")
    with pytest.raises(ConfigError, match="no such records directory"):
        merge(path, FakeRunner(), tmp_path / "absent")


# -- the pure check, table style -------------------------------------------------------------------------
def record(target: str, platform: str, **changes: Any) -> DigestRecord:
    base = {
        "target": target,
        "platform": platform,
        "digest": sha(f"{target}{platform}"),
        "source": sha(f"src{target}{platform}"),
        "media_type": OCI_INDEX,
        "size": 1,
        "repositories": (f"r:5000/{target}",),
        "fingerprint": f"fp-{target}",
        "revision": REVISION,
        **changes,
    }
    return DigestRecord(**base)


def specs() -> list[Any]:
    from bakepy.publish import TargetSpec

    return [
        TargetSpec("web", PLATFORMS, ("r:5000/web",), ("r:5000/web:1",)),
        TargetSpec("api", PLATFORMS, ("r:5000/api",), ("r:5000/api:1",)),
    ]


FINGERPRINTS = {"web": frozenset({"fp-web"}), "api": frozenset({"fp-api"})}


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([record("web", "linux/s390x")], "web is not planned for linux/s390x"),
        (
            [record("web", "linux/amd64", fingerprint="fp-old")],
            "fingerprint fp-old, this plan fp-web",
        ),
        (
            [record("web", "linux/amd64", repositories=("r:5001/web",))],
            "was not pushed to r:5000/web",
        ),
        (
            [record("web", "linux/amd64", revision=None), record("api", "linux/amd64")],
            "different source revisions",
        ),
    ],
)
def test_check_records_refuses(records: list[DigestRecord], message: str) -> None:
    found = [(Path(f"{i}.json"), r) for i, r in enumerate(records)]
    with pytest.raises(ConfigError, match=message):
        check_records(specs(), found, fingerprints=FINGERPRINTS, revision=None)


def test_check_records_without_a_known_revision_only_needs_them_to_agree() -> None:
    found = [
        (Path(f"{i}.json"), record(t, p))
        for i, (t, p) in enumerate([(t, p) for t in ("web", "api") for p in PLATFORMS])
    ]
    checked = check_records(specs(), found, fingerprints=FINGERPRINTS, revision=None)
    assert [s.name for s, _ in checked.sources] == ["web", "api"]
    assert all(len(digests) == 2 for _, digests in checked.sources)


def test_records_survive_a_copy(tmp_path: Path) -> None:
    """What CI artifacts do: records written on one machine, read on another."""
    written = write_records(tmp_path / "a", [record("web", "linux/amd64")])
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    ((path, again),) = read_record_files(tmp_path / "b")
    assert again == record("web", "linux/amd64")
    assert path.name == written[0].name
