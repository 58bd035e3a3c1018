"""The pure half of the per-platform flow, with no docker and no stand-in for it.

What a runner builds (`platform_slice`) and renders, what a merge accepts (`check_records`, the fingerprints), the
commands it would run (`merge_commands`; `read_and_check`: everything `bakepy merge` does before it asks a
registry) and the checks that compare records with what a registry holds (`label_plain_manifests`,
`match_records`), all driven by `DigestRecord`s built here. Building, pushing and merging for real is proven on
the real stack in tests/e2e/test_split_e2e.py and tests/e2e/test_native_runners.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bakepy.bake.render import render_bake
from bakepy.ci.split import (
    MergeReport,
    Missing,
    accepted_fingerprints,
    check_records,
    merge_commands,
    platform_slice,
    read_and_check,
    target_fingerprints,
)
from bakepy.config import load_project
from bakepy.errors import ConfigError, NothingToDoError
from bakepy.publish.plan import plan_publish
from bakepy.publish.records import DigestRecord, write_records
from bakepy.publish.sources import TargetSpec

REGISTRIES = ("127.0.0.1:5000", "127.0.0.1:5001")
PLATFORMS = ("linux/amd64", "linux/arm64")
REVISION = "a" * 40
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


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


def load(path: Path) -> Any:
    return load_project(path, env={}).project


@pytest.fixture(autouse=True)
def _revision(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GITHUB_SHA", "CI_COMMIT_SHA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BAKEPY_REVISION", REVISION)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


# -- records as `bakepy build` writes them, made here ----------------------------------------------------
def built_records(
    path: Path,
    platforms: Sequence[str] = PLATFORMS,
    targets: Sequence[str] = (),
    *,
    nonce: str = "1",
    revision: str | None = REVISION,
) -> list[DigestRecord]:
    """One record per selected target and platform, stamped as `bakepy build` stamps them (pure: plan only)."""
    project = load(path)
    plan = plan_publish(project, targets)
    fingerprints = target_fingerprints(project, plan)
    out = []
    for tp in plan.targets:
        for platform in platforms:
            if platform in tp.platforms:
                out.append(
                    DigestRecord(
                        target=tp.name,
                        platform=platform,
                        digest=sha(f"image {tp.name} {platform} {nonce}"),
                        source=sha(f"index {tp.name} {platform} {nonce}"),
                        media_type=OCI_INDEX,
                        size=850,
                        repositories=tuple(tp.repositories),
                        fingerprint=fingerprints[tp.name],
                        revision=revision,
                    )
                )
    return out


def dry_merge(path: Path, records: Path, **kwargs: Any) -> MergeReport:
    """What `bakepy merge --dry-run` reports: the records read and checked against the plan, the commands."""
    checked = read_and_check(path, load(path), records_dir=records, **kwargs)
    count = sum(len(r) for r in checked.records.values())
    commands = tuple(merge_commands(checked))
    return MergeReport((), checked.missing, checked.skipped, checked.ignored, count, commands)


# -- build: what one runner builds -----------------------------------------------------------------------
def test_platform_slice_normalises_the_platform_and_skips_targets_without_it(path: Path) -> None:
    project = load(path)
    chosen = platform_slice(project, "linux/aarch64")
    assert (chosen.platform, chosen.targets, chosen.skipped) == ("linux/arm64", ("web", "api"), ())
    assert [tp.name for tp in chosen.plan.targets] == ["web", "api"]  # the whole selection
    chosen = platform_slice(project, "linux/arm64", ["web", "tool"])
    assert (chosen.targets, chosen.skipped) == (("web",), ("tool",))
    assert platform_slice(project, "linux/amd64", ["web", "tool"]).targets == ("web", "tool")


def test_a_platform_no_target_builds_and_a_bad_platform(path: Path) -> None:
    project = load(path)
    with pytest.raises(NothingToDoError, match="no selected target builds for linux/riscv64"):
        platform_slice(project, "linux/riscv64")
    with pytest.raises(NothingToDoError, match="no selected target builds for linux/arm64"):
        platform_slice(project, "linux/arm64", ["tool"])
    with pytest.raises(ConfigError, match="--platform: 'linux/arm65' is not a platform"):
        platform_slice(project, "linux/arm65")


def test_the_slice_is_rendered_pushed_by_digest_with_its_own_cache_scope(tmp_path: Path) -> None:
    path = write_project(
        tmp_path / "proj", cache='cache = { type = "registry", ref = "127.0.0.1:5000/cache" }'
    )
    project = load(path)
    chosen = platform_slice(project, "linux/arm64")
    bake = render_bake(project, targets=chosen.targets, platform=chosen.platform, publish=True)
    assert set(bake["target"]) == {"web", "api"}
    web = bake["target"]["web"]
    assert web["platforms"] == ["linux/arm64"]
    assert "tags" not in web
    assert web["output"] == [
        {
            "type": "image",
            "name": "127.0.0.1:5000/acme/web,127.0.0.1:5001/acme/web",
            "push-by-digest": "true",
            "name-canonical": "true",
            "push": "true",
        }
    ]
    # its own cache scope: the amd64 runner never overwrites it (bake-action#329)
    assert web["cache-to"] == [
        {"type": "registry", "ref": "127.0.0.1:5000/cache:web.linux-arm64", "mode": "max"}
    ]
    assert not any("linux-amd64" in str(e) for e in web["cache-from"])


def test_fingerprints_are_per_target_and_a_merge_also_accepts_the_whole_plans(path: Path) -> None:
    project = load(path)
    plan = plan_publish(project)
    own = target_fingerprints(project, plan)
    assert set(own) == {"web", "api"}
    assert own["web"] != own["api"]
    # Per target: selecting more targets does not change a target's record fingerprint...
    wider = plan_publish(project, ["web", "api", "tool"])
    assert target_fingerprints(project, wider)["web"] == own["web"]
    assert wider.fingerprint != plan.fingerprint  # ...but does change the whole plan's.
    # `bakepy publish --records` stamps the whole plan's fingerprint: a merge of that selection takes both.
    assert accepted_fingerprints(project, plan) == {
        name: frozenset({fp, plan.fingerprint}) for name, fp in own.items()
    }
    # Changing the tags changes what is published, so every fingerprint.
    changed = load(write_project(path.parent, tags='"latest", "1.0", "2.0"'))
    again = target_fingerprints(changed, plan_publish(changed))
    assert all(again[name] != fp for name, fp in own.items())


# -- merge: the records checked against the plan (a dry run moves nothing and needs no registry) ---------
def test_every_record_present_stages_each_index_then_moves_every_tag_in_one_call(
    path: Path, tmp_path: Path
) -> None:
    records = built_records(path)
    write_records(tmp_path / "rec", records)
    report = dry_merge(path, tmp_path / "rec")
    assert (report.records, report.missing, report.skipped, report.published) == (4, (), (), ())
    source = {(r.target, r.platform): r.source for r in records}
    create = ("docker", "buildx", "imagetools", "create")
    expected = []
    for target in ("web", "api"):
        first = f"{REGISTRIES[0]}/acme/{target}"
        # several sources: the index is staged by digest in every registry, then every tag moves in one call
        staged = [a for r in REGISTRIES for a in ("--tag", f"{r}/acme/{target}@INDEX")]
        expected.append((*create, *staged, *(f"{first}@{source[(target, p)]}" for p in PLATFORMS)))
        tags = [
            a
            for r in REGISTRIES
            for t in ("latest", "1.0")
            for a in ("--tag", f"{r}/acme/{target}:{t}")
        ]
        expected.append((*create, *tags, f"{first}@INDEX"))
    assert list(report.commands) == expected
    assert report.to_json()["partial"] is False


def test_a_missing_platform_is_refused(path: Path, tmp_path: Path) -> None:
    write_records(tmp_path / "rec", built_records(path))
    (tmp_path / "rec" / "web--linux-arm64.json").unlink()
    with pytest.raises(ConfigError) as caught:
        dry_merge(path, tmp_path / "rec")
    assert caught.value.message == "missing digest records for web linux/arm64; no tag was moved"
    assert "--allow-partial" in (caught.value.hint or "")


def test_allow_partial_merges_what_was_built_and_names_what_is_missing(
    path: Path, tmp_path: Path
) -> None:
    write_records(tmp_path / "rec", built_records(path))
    (tmp_path / "rec" / "web--linux-arm64.json").unlink()
    report = dry_merge(path, tmp_path / "rec", allow_partial=True)
    assert report.missing == (Missing("web", "linux/arm64"),)
    assert report.to_json()["partial"] is True
    sources = {c[5]: [a for a in c if "@sha256:" in a] for c in report.commands}
    assert len(sources["127.0.0.1:5000/acme/web:latest"]) == 1  # amd64 only: copied as it is
    assert len(sources["127.0.0.1:5000/acme/api@INDEX"]) == 2  # both: staged, then the tags move


def test_allow_partial_skips_a_target_with_no_record_at_all(path: Path, tmp_path: Path) -> None:
    write_records(tmp_path / "rec", built_records(path, targets=["api"]))
    with pytest.raises(ConfigError, match="missing digest records for web linux/amd64, web linux/"):
        dry_merge(path, tmp_path / "rec")
    report = dry_merge(path, tmp_path / "rec", allow_partial=True)
    assert report.skipped == ("web",)
    assert all("/acme/api" in c[5] for c in report.commands)


def test_records_of_another_plan_are_refused(path: Path, tmp_path: Path) -> None:
    write_records(tmp_path / "rec", built_records(path))
    write_project(path.parent, tags='"latest", "1.0", "2.0"')  # the tags changed after the builds
    with pytest.raises(ConfigError, match="was built for another plan"):
        dry_merge(path, tmp_path / "rec")


def test_records_written_by_publish_are_accepted(path: Path, tmp_path: Path) -> None:
    """`bakepy publish --records` stamps its whole run's fingerprint; a merge of the same selection takes it."""
    whole = plan_publish(load(path)).fingerprint
    records = [dataclasses.replace(r, fingerprint=whole) for r in built_records(path)]
    write_records(tmp_path / "rec", records)
    assert len(dry_merge(path, tmp_path / "rec").commands) == 4
    # ...but not a merge of another selection, whose whole plan differs.
    with pytest.raises(ConfigError, match="was built for another plan"):
        dry_merge(path, tmp_path / "rec", targets=["web"])


def test_records_of_another_revision_are_refused(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_records(tmp_path / "rec", built_records(path))
    monkeypatch.setenv("BAKEPY_REVISION", "b" * 40)
    with pytest.raises(
        ConfigError, match=f"built from revision {REVISION}, but this checkout is b"
    ):
        dry_merge(path, tmp_path / "rec")


def test_records_of_two_revisions_are_refused(path: Path, tmp_path: Path) -> None:
    write_records(tmp_path / "rec", built_records(path, ["linux/amd64"]))
    write_records(tmp_path / "rec", built_records(path, ["linux/arm64"], revision="b" * 40))
    with pytest.raises(ConfigError, match="records come from different source revisions"):
        dry_merge(path, tmp_path / "rec")


def test_duplicate_records_are_refused(path: Path, tmp_path: Path) -> None:
    write_records(tmp_path / "rec", built_records(path))
    # a second job built arm64 again (a different image); its artifact landed in a sub-folder
    write_records(tmp_path / "rec" / "job-2", built_records(path, ["linux/arm64"], nonce="2"))
    with pytest.raises(
        ConfigError, match=r"two records for api linux/arm64: .*rec/job-2/api--linux-arm64.json"
    ):
        dry_merge(path, tmp_path / "rec")


def test_a_record_for_a_target_outside_the_plan(path: Path, tmp_path: Path) -> None:
    write_records(tmp_path / "rec", built_records(path))
    write_records(tmp_path / "rec", built_records(path, ["linux/amd64"], ["tool"]))
    with pytest.raises(
        ConfigError, match="a record for target tool, which this plan does not publish"
    ):
        dry_merge(path, tmp_path / "rec")
    # naming the targets makes other targets' records someone else's business
    report = dry_merge(path, tmp_path / "rec", targets=["web", "api"])
    assert [p.name for p in report.ignored] == ["tool--linux-amd64.json"]
    assert report.records == 4
    write_records(tmp_path / "tool-only", built_records(path, ["linux/amd64"], ["tool"]))
    with pytest.raises(NothingToDoError, match=r"no record matches the selected targets \(web\)"):
        dry_merge(path, tmp_path / "tool-only", targets=["web"], allow_partial=True)


def test_many_targets_in_one_merge_from_separate_folders(path: Path, tmp_path: Path) -> None:
    """CI artifacts: one folder per job, searched recursively."""
    for platform in PLATFORMS:
        write_records(
            tmp_path / "rec" / platform.replace("/", "-"), built_records(path, [platform])
        )
    write_records(tmp_path / "rec" / "tool", built_records(path, ["linux/amd64"], ["tool"]))
    report = dry_merge(path, tmp_path / "rec", targets=["web", "api", "tool"])
    assert report.records == 5
    assert [c[5] for c in report.commands] == [
        f"{REGISTRIES[0]}/acme/web@INDEX",  # two sources: staged by digest first
        f"{REGISTRIES[0]}/acme/web:latest",
        f"{REGISTRIES[0]}/acme/api@INDEX",
        f"{REGISTRIES[0]}/acme/api:latest",
        f"{REGISTRIES[0]}/acme/tool:latest",  # one source: copied as it is
    ]


def test_no_records(path: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NothingToDoError, match="no digest records to merge"):
        dry_merge(path, tmp_path / "empty")
    with pytest.raises(ConfigError, match="no such records directory"):
        dry_merge(path, tmp_path / "absent")


# -- the check itself, table style -----------------------------------------------------------------------
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


def specs() -> list[TargetSpec]:
    return [
        TargetSpec("web", PLATFORMS, ("r:5000/web",), ("r:5000/web:1",)),
        TargetSpec("api", PLATFORMS, ("r:5000/api",), ("r:5000/api:1",)),
    ]


FINGERPRINTS = {"web": frozenset({"fp-web"}), "api": frozenset({"fp-api"})}


def numbered(records: Sequence[DigestRecord]) -> list[tuple[Path, DigestRecord]]:
    return [(Path(f"{i}.json"), r) for i, r in enumerate(records)]


def every_record(**changes: Any) -> list[DigestRecord]:
    return [record(t, p, **changes) for t in ("web", "api") for p in PLATFORMS]


@pytest.mark.parametrize(
    ("records", "revision", "message"),
    [
        ([record("web", "linux/s390x")], None, "web is not planned for linux/s390x"),
        (
            [record("web", "linux/amd64", fingerprint="fp-old")],
            None,
            "fingerprint fp-old, this plan fp-web",
        ),
        (
            [record("web", "linux/amd64", repositories=("r:5001/web",))],
            None,
            "was not pushed to r:5000/web",
        ),
        (
            [record("web", "linux/amd64", revision=None), record("api", "linux/amd64")],
            None,
            "different source revisions",
        ),
        (every_record(), "b" * 40, f"built from revision {REVISION}, but this checkout is b"),
        (
            [*every_record(), record("api", "linux/arm64", digest=sha("again"))],
            None,
            r"two records for api linux/arm64: 3.json and 4.json",
        ),
        ([record("tool", "linux/amd64")], None, "a record for target tool, which this plan"),
        (every_record()[:3], None, "missing digest records for api linux/arm64; no tag was moved"),
    ],
)
def test_check_records_refuses(
    records: list[DigestRecord], revision: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_records(specs(), numbered(records), fingerprints=FINGERPRINTS, revision=revision)


def test_check_records_with_nothing_to_merge() -> None:
    with pytest.raises(NothingToDoError, match="where: no digest records to merge"):
        check_records(specs(), [], fingerprints=FINGERPRINTS, revision=None, where="where")
    tool_only = numbered([record("tool", "linux/amd64")])
    with pytest.raises(NothingToDoError, match="no record matches the selected targets"):
        check_records(
            specs(),
            tool_only,
            fingerprints=FINGERPRINTS,
            revision=None,
            explicit=True,
            allow_partial=True,
        )


def test_check_records_orders_sources_by_the_planned_platforms() -> None:
    found = numbered(list(reversed(every_record())))  # arrival order does not matter
    checked = check_records(specs(), found, fingerprints=FINGERPRINTS, revision=REVISION)
    assert [s.name for s, _ in checked.sources] == ["web", "api"]
    assert checked.sources[0][1] == tuple(record("web", p).source for p in PLATFORMS)
    assert [r.platform for r in checked.records["api"]] == list(PLATFORMS)


def test_check_records_without_a_known_revision_only_needs_them_to_agree() -> None:
    checked = check_records(
        specs(), numbered(every_record(revision=None)), fingerprints=FINGERPRINTS, revision=None
    )
    assert all(len(digests) == 2 for _, digests in checked.sources)


def test_one_source_holding_several_platforms_is_named_once() -> None:
    """`bakepy publish` pushes one index per target: its records share a source."""
    found = numbered([record("web", p, source=sha("one index")) for p in PLATFORMS])
    checked = check_records(
        specs()[:1], found, fingerprints=FINGERPRINTS, revision=None, allow_partial=True
    )
    assert checked.sources[0][1] == (sha("one index"),)
    assert merge_commands(checked) == [
        (
            "docker",
            "buildx",
            "imagetools",
            "create",
            "--tag",
            "r:5000/web:1",
            f"r:5000/web@{sha('one index')}",
        )
    ]


def test_merge_commands_annotate_an_index_made_from_several_sources() -> None:
    spec = TargetSpec(
        "web",
        PLATFORMS,
        ("r:5000/web", "q:5001/web"),
        ("r:5000/web:1", "r:5000/web:2"),  # nothing to tag in q:5001: no command there
        {"index:org.opencontainers.image.title": "web"},
    )
    found = numbered(
        [record("web", p, repositories=("r:5000/web", "q:5001/web")) for p in PLATFORMS]
    )
    checked = check_records([spec], found, fingerprints=FINGERPRINTS, revision=None)
    stage, commit = merge_commands(checked)
    assert stage == (
        "docker",
        "buildx",
        "imagetools",
        "create",
        "--tag",
        "r:5000/web@INDEX",
        "--annotation",
        "index:org.opencontainers.image.title=web",
        *(f"r:5000/web@{record('web', p).source}" for p in PLATFORMS),
    )
    assert commit == (
        "docker",
        "buildx",
        "imagetools",
        "create",
        "--tag",
        "r:5000/web:1",
        "--tag",
        "r:5000/web:2",
        "r:5000/web@INDEX",
    )
