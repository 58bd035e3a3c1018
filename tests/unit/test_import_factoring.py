"""The pure factoring of an import (bakepy/bake/importer/factoring.py): inherits of private targets and
matrices come back only where bakepy resolves them to exactly the flat import."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pytest

from bakepy.bake.importer import factoring
from bakepy.bake.importer.imported import (
    ImportedGroup,
    ImportedProject,
    ImportedTarget,
    ImportedVariable,
    Template,
    VarRef,
)
from bakepy.bake.importer.toml import to_toml
from bakepy.config import load_toml


def _project(
    targets: dict[str, dict[str, Any]],
    groups: dict[str, tuple[str, ...]] | None = None,
    variables: dict[str, str] | None = None,
) -> ImportedProject:
    return ImportedProject(
        sources=("docker-bake.hcl",),
        variables=tuple(ImportedVariable(k, v) for k, v in (variables or {}).items()),
        targets=tuple(ImportedTarget(name, attrs) for name, attrs in targets.items()),
        groups=tuple(ImportedGroup(name, members) for name, members in (groups or {}).items()),
        notes=(),
    )


def _attrs(project: ImportedProject) -> dict[str, dict[str, Any]]:
    return {t.name: dict(t.attributes) for t in project.targets}


def _same_resolution(
    flat: ImportedProject, factored: ImportedProject, *, free_order: Collection[str] = ()
) -> None:
    """Every target resolves as before, and every group lists its members in the same order, except those in
    `free_order` (a matrix of several keys: bake lists its members in Go map order, which varies by run)."""
    before = load_toml(to_toml(flat), env={}).resolved
    after = load_toml(to_toml(factored), env={}).resolved
    for name, target in after.targets.items():
        assert target == before.targets[name]

    def members(groups: Mapping[str, Any]) -> dict[str, tuple[tuple[str, ...], list[str]]]:
        return {
            name: (
                tuple(m for m in group.targets if m not in free_order),
                sorted(m for m in group.targets if m in free_order),
            )
            for name, group in groups.items()
        }

    assert members(after.groups) == members(before.groups)


INLINE = "FROM busybox\n" + "".join(f"RUN echo {i}\n" for i in range(30))


def test_a_long_inline_dockerfile_is_written_once() -> None:
    flat = _project(
        {
            "_base": {"labels": {"vendor": "acme"}},
            "_node": {"dockerfile-inline": INLINE, "platforms": ["linux/amd64", "linux/arm64"]},
            **{
                f"node-{v}": {
                    "dockerfile-inline": INLINE,
                    "platforms": ["linux/amd64", "linux/arm64"],
                    "labels": {"vendor": "acme"},
                    "args": {"VERSION": v},
                }
                for v in ("18", "20", "22")
            },
        },
        groups={"node": ("node-22", "node-20", "node-18")},
    )
    factored = factoring.factor(flat, written_groups=("node",))
    assert _attrs(factored)["node-22"] == {
        "inherits": ["_base", "_node"],
        "args": {"VERSION": "22"},
    }
    assert to_toml(factored).count("RUN echo 29") == 1
    _same_resolution(flat, factored)


def test_maps_merge_lists_append_and_private_bases_chain() -> None:
    common = {"args": {"GO": "1.22", "CGO": "0"}, "cache-from": [{"type": "gha"}]}
    flat = _project(
        {
            "_common": common,
            "_release": {**common, "platforms": ["linux/amd64", "linux/arm64"]},
            "lint": {**common, "args": {"GO": "1.22", "CGO": "0", "LINT": "1"}},
            "release": {
                **common,
                "platforms": ["linux/amd64", "linux/arm64"],
                "args": {"GO": "1.22", "CGO": "1"},
                "cache-from": [{"type": "gha"}, {"type": "registry", "ref": "acme/c"}],
            },
            "other-order": {**common, "cache-from": [{"type": "local"}, {"type": "gha"}]},
        }
    )
    factored = factoring.factor(flat, written_groups=())
    attrs = _attrs(factored)
    assert attrs["_release"] == {
        "inherits": ["_common"],
        "platforms": ["linux/amd64", "linux/arm64"],
    }
    assert attrs["lint"] == {"inherits": ["_common"], "args": {"LINT": "1"}}
    assert attrs["release"] == {
        "inherits": ["_release"],
        "args": {"CGO": "1"},
        "cache-from": [{"type": "registry", "ref": "acme/c"}],
    }
    assert "inherits" not in attrs["other-order"]  # its list does not start with the base's
    _same_resolution(flat, factored)


def test_a_public_target_may_replace_a_value_of_its_base() -> None:
    base = {"dockerfile-inline": INLINE, "platforms": ["linux/amd64", "linux/arm64"]}
    flat = _project({"_deno": base, "deno-1": {**base, "platforms": ["linux/amd64"]}})
    factored = factoring.factor(flat, written_groups=())
    assert _attrs(factored)["deno-1"] == {"inherits": ["_deno"], "platforms": ["linux/amd64"]}
    _same_resolution(flat, factored)


def test_private_targets_nothing_inherits_are_folded_unless_named() -> None:
    flat = _project(
        {"_unused": {"target": "x"}, "_grouped": {"target": "y"}, "app": {"target": "z"}},
        groups={"g": ("_grouped", "app")},
    )
    factored = factoring.factor(flat, written_groups=("g",))
    assert [t.name for t in factored.targets] == ["_grouped", "app"]
    assert factored.remarks[-1].endswith(": _unused")
    kept = factoring.factor(flat, written_groups=("g",), keep=("_unused",))
    assert [t.name for t in kept.targets] == ["_unused", "_grouped", "app"]


def test_identical_private_targets_use_the_first_by_name() -> None:
    flat = _project({"_a": {"target": "x"}, "_b": {"target": "x"}, "app": {"target": "x"}})
    assert factoring.choose_parents(
        "app", {"target": "x"}, {"_a": {"target": "x"}, "_b": {"target": "x"}}
    ) == ("_a",)
    factored = factoring.factor(flat, written_groups=())
    assert _attrs(factored)["app"] == {"inherits": ["_a"]}
    assert "inherits" not in _attrs(factored)["_b"] if "_b" in _attrs(factored) else True


def test_what_does_not_resolve_the_same_is_written_flat(monkeypatch: pytest.MonkeyPatch) -> None:
    flat = _project({"_base": {"args": {"A": "1"}}, "app": {"args": {"A": "1", "B": "2"}}})

    def lossy(child: Any, base: Any) -> dict[str, Any]:
        return {}  # drops B: the proof must catch it

    monkeypatch.setattr(factoring, "_residual", lossy)
    factored = factoring.factor(flat, written_groups=())
    assert _attrs(factored)["app"] == {"args": {"A": "1", "B": "2"}}


def test_one_key_matrix_with_a_name_that_transforms_the_value() -> None:
    tags = {v: Template((VarRef("REPO"), f":{v}")) for v in ("1.3", "1.2")}
    flat = _project(
        {
            f"bun-{v.replace('.', '_')}": {"tags": [tags[v]], "args": {"BUN_VERSION": v}}
            for v in ("1.3", "1.2")
        },
        groups={"bun": ("bun-1_3", "bun-1_2")},
        variables={"REPO": "acme/bun"},
    )
    factored = factoring.factor(flat, written_groups=())
    text = to_toml(factored)
    assert '\nname = "bun-${item.name}"' in text
    assert 'tags = ["${REPO}:${item.bun_version}"]' in text
    assert [g.name for g in factored.groups] == []
    _same_resolution(flat, factored)


def test_two_key_matrix() -> None:
    flat = _project(
        {
            f"app-{py.replace('.', '')}-{variant}": {
                "tags": [f"acme/app:py{py}-{variant}"],
                "args": {"PY": py, "VARIANT": variant},
            }
            for variant in ("slim", "full")
            for py in ("3.11", "3.12")
        },
        groups={"app": ("app-311-slim", "app-312-slim", "app-311-full", "app-312-full")},
    )
    factored = factoring.factor(flat, written_groups=())
    (app,) = factored.targets
    assert app.attributes["args"] == {
        "PY": Template((factoring.MatrixRef("item.py"),)),
        "VARIANT": Template((factoring.MatrixRef("item.variant"),)),
    }
    assert "acme/app:py${item.py}-${item.variant}" in to_toml(factored)
    _same_resolution(flat, factored, free_order=flat.groups[0].targets)


def test_matrix_values_made_of_other_matrix_values_are_written_as_their_template() -> None:
    """cloudnative-pg's rows: a build arg BASE of the distribution and its digest, EXTENSIONS of the major
    version; the matrix keeps only what varies on its own, and each row stays short."""
    digests = {"bookworm": "abd67ffc", "trixie": "3a39a059"}
    flat = _project(
        {
            f"pg-{major}-{distro}": {
                "tags": [f"acme/pg:{major}-{distro}"],
                "args": {
                    "BASE": f"debian:{distro}-slim@sha256:{digests[distro]}",
                    "EXTENSIONS": f"postgresql-{major}-pgaudit postgresql-{major}-pgvector",
                    "PG_MAJOR": major,
                },
                "annotations": [
                    f"index:org.opencontainers.image.base.digest=sha256:{digests[distro]}"
                ],
            }
            for major in ("16", "17")
            for distro in ("bookworm", "trixie")
        },
        groups={"pg": ("pg-16-bookworm", "pg-16-trixie", "pg-17-bookworm", "pg-17-trixie")},
    )
    factored = factoring.factor(flat, written_groups=())
    (pg,) = factored.targets
    rows = pg.attributes["matrix"]["item"]  # type: ignore[index]
    assert rows[0] == {"pg_major": "16", "tag": "bookworm", "annotation": "abd67ffc"}  # type: ignore[index]
    text = to_toml(factored)
    assert 'BASE = "debian:${item.tag}-slim@sha256:${item.annotation}"' in text
    assert (
        'EXTENSIONS = "postgresql-${item.pg_major}-pgaudit postgresql-${item.pg_major}-pgvector"'
        in text
    )
    _same_resolution(flat, factored, free_order=flat.groups[0].targets)


def test_a_matrix_of_several_keys_is_written_the_same_whatever_order_bake_listed_it_in() -> None:
    """bake nests a matrix's keys in Go map order: the same file gives either member order from run to run. The
    import is the same file either way, with each key's values in their written order."""

    def imported(members: tuple[str, ...]) -> str:
        flat = _project(
            {
                name: {"args": {"PY": f"3.{name[5:7]}", "VARIANT": name.rsplit("-", 1)[1]}}
                for name in members
            },
            groups={"app": members},
        )
        factored = factoring.factor(flat, written_groups=())
        _same_resolution(flat, factored, free_order=members)
        return to_toml(factored)

    python_outer = ("app-311-slim", "app-311-full", "app-312-slim", "app-312-full")
    variant_outer = ("app-311-slim", "app-312-slim", "app-311-full", "app-312-full")
    written = imported(python_outer)
    assert imported(variant_outer) == written
    rows = [line for line in written.splitlines() if line.startswith("  { ")]
    assert [(r.split('"')[1], r.split('"')[3]) for r in rows] == [
        ("3.11", "slim"), ("3.11", "full"), ("3.12", "slim"), ("3.12", "full")
    ]  # fmt: skip


def test_a_matrix_of_one_key_keeps_the_order_it_was_written_in() -> None:
    """One key of objects (moby/buildkit's lint matrix): bake lists it as written, and no reordering of its
    values (all the plain lints first, say) may change the order a written group builds them in."""
    rows = [("default", "", "golangci-lint"), ("labs", "dfrundevice", "golangci-lint"),
            ("nydus", "nydus", "golangci-lint"), ("yaml", "", "yamllint"), ("proto", "", "protolint")]  # fmt: skip
    flat = _project(
        {
            f"lint-{name}": {"target": target, "args": {"TARGETNAME": name, "BUILDTAGS": tags}}
            for name, tags, target in rows
        },
        groups={"lint": tuple(f"lint-{name}" for name, _, _ in rows)},
    )
    factored = factoring.factor(flat, written_groups=())
    written = to_toml(factored)
    assert "matrix" in written
    _same_resolution(flat, factored)
    after = load_toml(written, env={}).resolved
    assert list(after.groups["lint"].targets) == [f"lint-{name}" for name, _, _ in rows]


@pytest.mark.parametrize(
    "members",
    [
        # a list of another length
        {"img-slim": {"platforms": ["linux/amd64"]}, "img-full": {"platforms": ["a/b", "c/d"]}},
        # a bool that differs
        {"img-slim": {"pull": True}, "img-full": {"pull": False}},
        # different parents
        {"img-slim": {"inherits": ["_a"]}, "img-full": {"inherits": ["_b"]}},
    ],
)
def test_matrices_bake_made_of_other_differences_stay_flat(members: dict[str, Any]) -> None:
    privates = {"_a": {"target": "a"}, "_b": {"target": "b"}}
    flat = _project({**privates, **members}, groups={"img": ("img-slim", "img-full")})
    factored = factoring.factor(flat, written_groups=())
    assert {"img-slim", "img-full"} <= set(_attrs(factored))


def test_a_written_group_is_not_turned_into_a_matrix() -> None:
    flat = _project(
        {"lint-go": {"args": {"L": "go"}}, "lint-yaml": {"args": {"L": "yaml"}}},
        groups={"validate": ("lint-go", "lint-yaml")},
    )
    factored = factoring.factor(flat, written_groups=("validate",))
    assert [t.name for t in factored.targets] == ["lint-go", "lint-yaml"]
    assert factoring.factor(flat, written_groups=None) == factored  # unknown: kept as written


def test_split_cuts_where_words_end() -> None:
    assert factoring._split(["bun-1_3", "bun-1_2"]) == ("bun-", ("1_3", "1_2"), "")
    assert factoring._split(["acme/app:1.2-slim", "acme/app:1.3-slim"]) == (
        "acme/app:",
        ("1.2", "1.3"),
        "-slim",
    )


def test_private_targets_are_left_out_of_the_default_selection() -> None:
    text = '[target._base]\ntarget = "x"\n\n[target.app]\ninherits = ["_base"]\n'
    resolved = load_toml(text, env={}).resolved
    assert resolved.default_targets == ("app",)
    assert resolved.select(["_base"]) == ("_base",)


def test_a_matrix_of_one_key_whose_rows_cover_every_combination_keeps_its_written_order() -> None:
    """runpod/containers: `matrix = { build = BUILDS }`, rows that happen to be every (os, version) pair,
    listed version by version. bake lists a one-key matrix as written, so the rebuilt rows keep that order
    (a matrix of several keys would get `_row_order`'s instead)."""
    members = ("m-jammy-1", "m-noble-1", "m-jammy-2", "m-noble-2")
    flat = _project(
        {name: {"args": {"OS": name.split("-")[1], "V": name.split("-")[2]}} for name in members},
        groups={"m": members},
    )
    factored = factoring.factor(flat, written_groups=(), ordered_matrices=("m",))
    (m,) = factored.targets
    rows = m.attributes["matrix"]["item"]
    assert [(r["os"], r["v"]) for r in rows] == [
        ("jammy", "1"), ("noble", "1"), ("jammy", "2"), ("noble", "2")
    ]  # fmt: skip
    _same_resolution(flat, factored)
    unordered = factoring.factor(flat, written_groups=())
    assert [(r["os"], r["v"]) for r in unordered.targets[0].attributes["matrix"]["item"]] == [
        ("jammy", "1"), ("jammy", "2"), ("noble", "1"), ("noble", "2")
    ]  # fmt: skip


def _same_targets(flat: ImportedProject, factored: ImportedProject) -> None:
    """The flat import's targets and groups resolve the same from the factored one (which may add a base, or a
    family matrix's own group, that the original does not have)."""
    before = load_toml(to_toml(flat), env={}).resolved
    after = load_toml(to_toml(factored), env={}).resolved
    assert {n: after.targets[n] for n in before.targets} == dict(before.targets)
    assert {n: sorted(after.groups[n].targets) for n in before.groups} == {
        n: sorted(g.targets) for n, g in before.groups.items()
    }


# -- issue 24, item 6: imports people keep ---------------------------------------------------------------------


def test_a_public_target_others_hold_entirely_is_their_base() -> None:
    """Mailu's `defaults`: every image inherits it; the import writes it once instead of in every target."""
    shared = {"platforms": ["linux/amd64"], "args": {"VERSION": "local"}}
    flat = _project(
        {
            "defaults": dict(shared),
            "admin": {**shared, "context": "core/admin", "tags": ["mailu/admin"]},
            "front": {**shared, "context": "core/nginx", "tags": ["mailu/nginx"]},
            "docs": {**shared, "context": "docs", "args": {"VERSION": "local", "v": "1"}},
        }
    )
    factored = factoring.factor(flat, written_groups=())
    attrs = _attrs(factored)
    assert attrs["defaults"] == shared
    assert attrs["admin"] == {
        "inherits": ["defaults"],
        "context": "core/admin",
        "tags": ["mailu/admin"],
    }
    assert attrs["docs"] == {"inherits": ["defaults"], "context": "docs", "args": {"v": "1"}}
    _same_resolution(flat, factored)


def test_a_public_target_held_by_one_other_only_stays_flat() -> None:
    flat = _project({"a": {"target": "x"}, "b": {"target": "x", "context": "b"}})
    assert "inherits" not in _attrs(factoring.factor(flat, written_groups=()))["b"]


def test_what_many_targets_share_becomes_a_private_base() -> None:
    labels = {
        f"org.opencontainers.image.{k}": f"value of {k}" for k in ("url", "vendor", "licenses")
    }
    flat = _project(
        {
            f"app{i}": {
                "context": f"app{i}",
                "platforms": ["linux/amd64", "linux/arm64"],
                "labels": {**labels, "org.opencontainers.image.title": f"app {i}"},
                "attest": [{"type": "sbom"}],
                "tags": [f"acme/app{i}"],
            }
            for i in range(6)
        }
    )
    factored = factoring.factor(flat, written_groups=())
    attrs = _attrs(factored)
    assert attrs["_common"] == {
        "platforms": ["linux/amd64", "linux/arm64"],
        "labels": labels,
        "attest": [{"type": "sbom"}],
    }
    assert attrs["app3"] == {
        "inherits": ["_common"],
        "context": "app3",
        "labels": {"org.opencontainers.image.title": "app 3"},
        "tags": ["acme/app3"],
    }
    assert not any("_common" in r for r in factored.remarks)
    _same_targets(flat, factored)


def test_no_base_is_made_where_it_saves_little() -> None:
    flat = _project({f"a{i}": {"platforms": ["linux/amd64"], "tags": [f"a{i}"]} for i in range(3)})
    assert "_common" not in _attrs(factoring.factor(flat, written_groups=()))


def test_a_matrix_whose_rows_differ_in_list_length_is_one_matrix_per_family() -> None:
    """cloudnative-pg: the `system` rows of each version have two more (rolling) tags; the group is written and
    lists every member, the families are matrices of their own."""
    targets: dict[str, dict[str, Any]] = {}
    for pg in ("16", "17", "18"):
        for tgt in ("minimal", "system"):
            tags = [f"pg:{pg}-{tgt}"] + ([f"pg:{pg}", f"pg:{pg}-latest"] if tgt == "system" else [])
            targets[f"pg-{pg}-{tgt}"] = {"target": tgt, "tags": tags, "args": {"PG": pg}}
    flat = _project(targets, groups={"default": tuple(sorted(targets))})
    factored = factoring.factor(flat, written_groups=())
    labels = sorted(t.name for t in factored.targets)
    assert labels == ["_default-1", "_default-2"]
    assert all("matrix" in t.attributes for t in factored.targets)
    assert factored.groups == (ImportedGroup("default", tuple(sorted(targets))),)
    _same_targets(flat, factored)


def test_long_groups_are_written_several_members_a_line() -> None:
    names = tuple(f"postgresql-{v}-minimal-bookworm" for v in range(10, 30))
    toml = to_toml(_project({n: {"target": "x"} for n in names}, groups={"default": names}))
    group = toml[toml.index("[group.default]") :].splitlines()
    assert group[1] == "targets = [" and group[-1] == "]"
    assert 2 < len(group) - 2 < len(names)
    assert all(len(line) <= 100 for line in group)
    assert load_toml(toml, env={}).resolved.groups["default"].targets == names
