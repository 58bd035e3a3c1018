"""`--changed` decisions (publish/changed.py): which targets build and why, which reuse the index their tags
hold, dependants of a building target, `--all` and `rebuild = "always"`; the plan's commands without them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import pytest

from bakepy.config import load_toml
from bakepy.model import Project
from bakepy.publish.changed import annotations_by_platform, decide_changes, index_fingerprint
from bakepy.publish.fingerprint import Fingerprint
from bakepy.publish.index import ImageIndex, ManifestEntry
from bakepy.publish.plan import merge_commands, plan_publish, plan_to_json

PROJECT = """
[project]
registries = ["r.example", "s.example"]
tags = ["1.0.1", "latest"]
platforms = ["linux/amd64", "linux/arm64"]
[target.base]
context = "base"
[target.app]
contexts = { base = "target:base" }
[target.web]
[target.tool]
"""
PLATFORMS = ("linux/amd64", "linux/arm64")


def _project(extra: str = "") -> Project:
    return load_toml(PROJECT + extra, source="bakepy.toml", table=(), env={})


def _prints(changed: Mapping[str, str] = {}) -> dict[tuple[str, str | None], Fingerprint]:
    out: dict[tuple[str, str | None], Fingerprint] = {}
    for name in ("base", "app", "web", "tool"):
        for p in PLATFORMS:
            parts = {"context": name * 8, "platform": p * 2}
            if name in changed:
                parts["context"] = changed[name] * 8
            out[(name, p)] = Fingerprint(name, p, parts)
    return out


def _index(name: str, prints: Mapping[tuple[str, str | None], Fingerprint]) -> ImageIndex:
    entries = tuple(
        ManifestEntry(
            f"sha256:{name}{i}",
            "application/vnd.oci.image.manifest.v1+json",
            1,
            p,
            annotations={"bakepy.fingerprint": prints[(name, p)].annotation()},
        )
        for i, p in enumerate(PLATFORMS)
    )
    return ImageIndex(f"sha256:{name}-index", "application/vnd.oci.image.index.v1+json", entries)


def _current(
    prints: Mapping[tuple[str, str | None], Fingerprint], missing: tuple[str, ...] = ()
) -> dict[str, ImageIndex | None]:
    out: dict[str, ImageIndex | None] = {}
    for name in ("base", "app", "web", "tool"):
        for registry in ("r.example", "s.example"):
            out[f"{registry}/{name}:1.0.1"] = None  # the new release's tag does not exist yet
            out[f"{registry}/{name}:latest"] = None if name in missing else _index(name, prints)
    return out


def test_only_the_changed_target_and_its_dependants_build() -> None:
    project = _project()
    plan = plan_publish(project)
    old = _prints()
    changes = decide_changes(project.resolved, plan, _prints({"base": "new"}), _current(old))
    assert changes.building == ("base", "app")
    verdict = {t.name: t for t in changes.targets}
    assert verdict["base"].why == (
        "linux/amd64: context (vs r.example/base:latest)",
        "linux/arm64: context (vs r.example/base:latest)",
    )
    assert verdict["web"].reuse == "r.example/web@sha256:web-index"
    assert verdict["web"].why == ("unchanged: keeps what r.example/web:latest holds",)
    assert [t.name for t in changes.targets].index("base") < [
        t.name for t in changes.targets
    ].index("app")

    applied = changes.applied(plan)
    assert applied.built == ("base", "app")
    data = plan_to_json(applied)
    build = next(c for c in data["commands"] if c["step"] == "build")
    assert build["argv"][-2:] == ["base", "app"]
    reuse = [c["target"] for c in data["commands"] if c["step"] == "reuse"]
    assert reuse == ["web", "tool"]
    web = next(m for m in merge_commands(applied) if m.target == "web")
    assert web.argv[-1] == "r.example/web@sha256:web-index"
    assert changes.annotations()["base"]["linux/amd64"].startswith("v1 ")


def test_nothing_changed_builds_nothing() -> None:
    project = _project()
    prints = _prints()
    changes = decide_changes(project.resolved, plan_publish(project), prints, _current(prints))
    assert changes.building == ()


def test_dependant_builds_when_what_it_links_builds_even_if_its_print_matches() -> None:
    project = _project()
    prints = _prints()
    current = _current(prints, missing=("base",))  # base not published yet
    changes = decide_changes(project.resolved, plan_publish(project), prints, current)
    verdict = {t.name: t for t in changes.targets}
    assert verdict["base"].why == ("not published yet (none of its tags exists)",)
    assert verdict["app"].why == ("depends on base, which builds",)


def test_all_and_rebuild_always_and_unknown() -> None:
    project = _project()
    prints = _prints()
    changes = decide_changes(
        project.resolved, plan_publish(project), prints, _current(prints), everything=True
    )
    assert changes.building == ("base", "app", "web", "tool")
    always = load_toml(
        PROJECT.replace("[target.tool]", '[target.tool]\nrebuild = "always"'),
        source="bakepy.toml",
        table=(),
        env={},
    )
    changes = decide_changes(always.resolved, plan_publish(always), prints, _current(prints))
    assert changes.building == ("tool",)
    assert changes.targets[-1].why == ('rebuild = "always"',)
    unknown = dict(prints)
    unknown[("web", "linux/arm64")] = Fingerprint("web", "linux/arm64", {}, "remote context x")
    changes = decide_changes(project.resolved, plan_publish(project), unknown, _current(prints))
    assert changes.building == ("web",)
    assert changes.targets[2].why == ("linux/arm64: remote context x (vs r.example/web:latest)",)


def test_annotations_of_a_plain_manifest_and_the_index_value() -> None:
    raw = b'{"annotations": {"bakepy.fingerprint": "v1 abc"}}'
    plain = ImageIndex(
        "sha256:x",
        "application/vnd.oci.image.manifest.v1+json",
        (ManifestEntry("sha256:x", "m", 1, None),),
        is_index=False,
        raw=raw,
    )
    assert annotations_by_platform(plain, ("linux/amd64",)) == {"linux/amd64": "v1 abc"}
    prints = list(_prints().values())[:2]
    assert index_fingerprint(prints) == index_fingerprint(prints[::-1])


def test_render_writes_the_fingerprint_annotations() -> None:
    from bakepy.bake.render import render_bake

    project = _project()
    prints: dict[str, Mapping[str | None, str]] = {
        "web": {"linux/amd64": "v1 a context:1", "linux/arm64": "v1 b context:2"}
    }
    body = render_bake(project, targets=["web"], publish=True, fingerprints=prints)["target"]["web"]
    assert body["annotations"][1:] == [
        "manifest[linux/amd64]:bakepy.fingerprint=v1 a context:1",
        "manifest-descriptor[linux/amd64]:bakepy.fingerprint=v1 a context:1",
        "manifest[linux/arm64]:bakepy.fingerprint=v1 b context:2",
        "manifest-descriptor[linux/arm64]:bakepy.fingerprint=v1 b context:2",
    ]
    assert body["annotations"][0].startswith("index:bakepy.fingerprint=v1 ")
    one = render_bake(
        project, targets=["web"], platform="linux/arm64", publish=True, fingerprints=prints
    )["target"]["web"]["annotations"]
    assert one[0] == body["annotations"][0]  # the whole index's, also in a one-platform slice
    assert [a for a in one if "amd64" in a] == []
    assert "annotations" not in render_bake(project, targets=["web"], publish=True)["target"]["web"]


def test_the_matrix_has_only_the_changed_jobs_and_stays_within_githubs_limit() -> None:
    from bakepy.ci.matrix import changed_dotenv, matrix_entries

    project = _project()
    plan = plan_publish(project)
    old = _prints()
    applied = decide_changes(
        project.resolved, plan, _prints({"web": "new"}), _current(old)
    ).applied(plan)
    entries = matrix_entries(applied, {}, by="target-platform")
    assert [(e.targets, e.platform) for e in entries] == [
        (("web",), "linux/amd64"),
        (("web",), "linux/arm64"),
    ]
    assert changed_dotenv(applied) == (
        "BAKEPY_CHANGED_LINUX_AMD64=web\nBAKEPY_CHANGED_LINUX_ARM64=web\n"
    )
    nothing = decide_changes(project.resolved, plan, old, _current(old)).applied(plan)
    assert matrix_entries(nothing, {}) == []
    assert changed_dotenv(nothing) == "BAKEPY_CHANGED_LINUX_AMD64=\nBAKEPY_CHANGED_LINUX_ARM64=\n"

    many = "\n".join(f"[target.t{i}]" for i in range(200))
    big = load_toml(PROJECT + many, source="bakepy.toml", table=(), env={})
    split = matrix_entries(plan_publish(big), {}, by="target-platform")
    assert len(split) <= 256
    built = sorted((t, e.platform) for e in split for t in e.targets)
    assert built == sorted((t, p) for t in big.resolved.default_targets for p in PLATFORMS)
    assert len({e.slug for e in split}) == len(split)


def test_generated_pipelines_with_changed() -> None:
    from bakepy.ci.github import github_workflow
    from bakepy.ci.gitlab import gitlab_pipeline
    from bakepy.ci.matrix import matrix_entries
    from bakepy.ci.workflow import workflow_spec

    project = _project()
    plan = plan_publish(project)
    spec = workflow_spec(project, plan, ci="github", changed=True)
    text = github_workflow(spec)
    assert "--changed --reused-records" in text
    assert "needs.plan.outputs.build == 'true'" in text
    assert "needs.build.result == 'skipped'" in text
    assert "bakepy-records-reused" in text or "reused" in text
    assert "--changed" not in github_workflow(workflow_spec(project, plan, ci="github"))
    spec = workflow_spec(project, plan, ci="gitlab", changed=True)
    pipeline = gitlab_pipeline(spec, matrix_entries(plan, {}))
    assert "$BAKEPY_CHANGED_LINUX_ARM64" in pipeline
    assert "nothing changed for linux/arm64" in pipeline
    assert "--changed --reused-records" in pipeline


def test_new_tags_fall_back_to_latest_and_the_last_local_records() -> None:
    project = load_toml(
        PROJECT.replace('tags = ["1.0.1", "latest"]', 'tags = ["1.0.2"]'),
        source="bakepy.toml",
        table=(),
        env={},
    )
    plan = plan_publish(project)
    prints = _prints()
    current: dict[str, ImageIndex | None] = {t: None for tp in plan.targets for t in tp.tags}
    current["r.example/web:latest"] = _index("web", prints)
    current["r.example/tool@sha256:tool-index"] = _index("tool", prints)
    fallbacks = {tp.name: [f"{r}:latest" for r in tp.repositories] for tp in plan.targets}
    fallbacks["tool"].append("r.example/tool@sha256:tool-index")
    changes = decide_changes(project.resolved, plan, prints, current, fallbacks=fallbacks)
    verdict = {t.name: t for t in changes.targets}
    assert verdict["web"].reuse == "r.example/web@sha256:web-index"
    assert verdict["tool"].reuse == "r.example/tool@sha256:tool-index"
    assert changes.building == ("base", "app")


def test_read_changes_asks_latest_only_where_nothing_else_matched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bakepy.engine.registry as registry
    from bakepy.publish import changed as changed_module
    from bakepy.publish.fingerprint import fingerprint_targets
    from bakepy.publish.records import DigestRecord, write_records

    text = PROJECT.replace('tags = ["1.0.1", "latest"]', 'tags = ["1.0.2"]')
    (tmp_path / "base").mkdir()
    for folder in (tmp_path, tmp_path / "base"):
        (folder / "Dockerfile").write_text("FROM scratch\n")
    project = load_toml(text, source="bakepy.toml", table=(), env={})
    plan = plan_publish(project)
    records = tmp_path / "records"  # in the context: written before it is fingerprinted
    write_records(
        records,
        [
            DigestRecord("web", p, "sha256:" + str(i) * 64, "sha256:" + "e" * 64, "m", 1,
                         ("r.example/web", "s.example/web"), "f")
            for i, p in enumerate(PLATFORMS)
        ],
    )  # fmt: skip
    prints = fingerprint_targets(
        project.resolved,
        plan.names,
        {t.name: t.platforms for t in plan.targets},
        project_dir=tmp_path,
        resolve=lambda ref: None,
    )
    indexes = {name: _index(name, prints) for name in plan.names}
    indexes["web"] = dataclasses.replace(indexes["web"], digest="sha256:" + "e" * 64)
    asked: list[list[str]] = []

    def inspect_many(runner: object, refs: list[str], **kwargs: object) -> dict[str, object]:
        asked.append(list(refs))
        out: dict[str, object] = {}
        for ref in refs:
            name = ref.split("/")[1].split(":")[0].split("@")[0]
            out[ref] = (
                indexes[name]
                if ("@" in ref or ref.endswith(":latest")) and ("@" not in ref or name == "web")
                else None
            )
        return out

    monkeypatch.setattr(registry, "inspect_many", inspect_many)
    monkeypatch.setattr(changed_module, "_head_digest", lambda ref: None)
    changes = changed_module.read_changes(
        object(),  # type: ignore[arg-type]
        plan,
        project,
        tmp_path,
        records_dir=records,
    )
    first, second = asked
    web = "sha256:" + "e" * 64
    assert f"r.example/web@{web}" in first and f"s.example/web@{web}" in first
    assert not any(r.endswith(":latest") for r in first)
    assert "r.example/web:latest" not in second and "r.example/tool:latest" in second
    verdict = {t.name: t for t in changes.targets}
    assert verdict["web"].reuse == f"r.example/web@{web}"
    assert verdict["web"].present == ("r.example/web", "s.example/web")
    assert verdict["tool"].reuse == "r.example/tool@sha256:tool-index"
