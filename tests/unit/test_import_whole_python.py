"""The Python form of an import as a translation of the HCL bake file itself (`hclwhole`, issue 24 item 2):
bake files of our own (tests/fixtures/whole-vars) and the import bake would give of them at their defaults, the
module written, run under other values of the variables, and compared with what `docker buildx bake --print`
gives under them (tests/e2e/test_import_whole_vars.py checks the same files against buildx itself). Anything
the translation cannot prove equal to the import falls back to the patched form, unchanged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bakepy import bakefuncs as f
from bakepy.bake.importer import (
    ImportedGroup,
    ImportedProject,
    ImportedTarget,
    ImportedVariable,
    ImportNote,
    Template,
    VarRef,
    python_form,
)
from bakepy.bake.importer.hclwhole import whole_form

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whole-vars"


def _texts(name: str) -> dict[str, str]:
    return {"docker-bake.hcl": (FIXTURES / name).read_text(encoding="utf-8")}


def _imported(
    variables: dict[str, str | None],
    targets: dict[str, dict[str, Any]],
    groups: dict[str, tuple[str, ...]] | None = None,
    frozen: bool = True,
) -> ImportedProject:
    """What the import holds of a bake file at its defaults: the targets as bake prints them, each variable bake
    computes with frozen (with its note)."""
    return ImportedProject(
        sources=("docker-bake.hcl",),
        variables=tuple(ImportedVariable(n, v, frozen=frozen) for n, v in variables.items()),
        targets=tuple(ImportedTarget(n, a) for n, a in targets.items()),
        groups=tuple(ImportedGroup(n, m) for n, m in (groups or {}).items()),
        notes=tuple(
            ImportNote(f"variable.{n}", f"frozen at {v!r}: bake computes with it (a condition)")
            for n, v in variables.items()
            if frozen
        ),
    )


def _run(text: str, env: dict[str, str]) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    """The module's targets (as bakepy resolves them, bake's defaults left out) and groups under `env`."""
    from bakepy import model

    namespace: dict[str, Any] = {}
    token = model.ENVIRONMENT.set(env)
    try:
        exec(compile(text, "bakefile.py", "exec"), namespace)
    finally:
        model.ENVIRONMENT.reset(token)
    resolved = namespace["project"].resolved
    targets = {
        name: {
            k: v
            for k, v in target.model_dump(exclude_defaults=True).items()
            if (k, v) not in (("context", "."), ("dockerfile", "Dockerfile"))
        }
        for name, target in resolved.targets.items()
        if not name.startswith("_")
    }
    return targets, {n: tuple(g.targets) for n, g in resolved.groups.items()}


# -- a matrix, a group and a top-level attribute decided by variables -------------------------------------------


def _matrix_import() -> ImportedProject:
    def py(v: str) -> dict[str, Any]:
        return {"tags": [f"acme/app-testing:{v}"], "args": {"PY": v}}

    return _imported(
        {"VERSIONS": "3.11,3.12", "REGISTRY": "acme", "ENV": "testing"},
        {"py-311": py("3.11"), "py-312": py("3.12"), "docs": {"tags": ["acme/app-testing:docs"]}},
        {"default": ("py",), "py": ("py-311", "py-312")},
    )


@pytest.mark.parametrize(
    ("env", "tags", "default"),
    [
        ({}, {"py-311": "acme/app-testing:3.11", "py-312": "acme/app-testing:3.12"}, ("py",)),
        ({"VERSIONS": "3.13"}, {"py-313": "acme/app-testing:3.13"}, ("py",)),
        (
            {"VERSIONS": "3.9,3.10,3.11", "ENV": "production", "REGISTRY": "quay.io/x"},
            {
                "py-39": "quay.io/x/app:3.9",
                "py-310": "quay.io/x/app:3.10",
                "py-311": "quay.io/x/app:3.11",
            },
            ("py", "docs"),
        ),
    ],
)
def test_a_matrix_and_a_group_follow_their_variables(
    env: dict[str, str], tags: dict[str, str], default: tuple[str, ...]
) -> None:
    text, project = python_form(_matrix_import(), texts=_texts("matrix.hcl"))
    assert "frozen" not in text and not project.notes
    assert not any(v.frozen for v in project.variables)
    assert 'for v in each(split(",", VERSIONS)):' in text
    assert "def short(v: Any) -> Any:" in text
    targets, groups = _run(text, env)
    assert {n: t["tags"] for n, t in targets.items() if n != "docs"} == {
        n: (t,) for n, t in tags.items()
    }
    assert {n: t["args"]["PY"] for n, t in targets.items() if n != "docs"} == {
        n: t.rsplit(":", 1)[1] for n, t in tags.items()
    }
    assert groups["py"] == tuple(tags) and groups["default"] == default
    assert targets["docs"]["tags"][0].endswith(":docs")


# -- inherits, an appended list, null attributes, a computed default --------------------------------------------


def _inherits_import() -> ImportedProject:
    return _imported(
        {"BASE": "slim", "CACHE": "", "PLATFORM": None, "TAG": "1.0", "FULL_TAG": "v1.0"},
        {
            "app": {
                "dockerfile": "slim.Dockerfile",
                "cache-from": [{"type": "registry", "ref": "acme/cache:slim"}],
                "tags": ["acme/app:v1.0"],
            }
        },
    )


@pytest.mark.parametrize(
    ("env", "want"),
    [
        (
            {},
            {
                "dockerfile": "slim.Dockerfile",
                "cache_from": ["acme/cache:slim"],
                "tags": ("acme/app:v1.0",),
            },
        ),
        ({"BASE": "full"}, {"dockerfile": "full.Dockerfile", "tags": ("acme/app:v1.0",)}),
        (  # bake appends the child's cache-from to the one it inherits
            {"CACHE": "acme/c"},
            {
                "dockerfile": "slim.Dockerfile",
                "cache_from": ["acme/cache:slim", "acme/c"],
                "tags": ("acme/app:v1.0",),
            },
        ),
        (  # null attributes are left unset; set, they are the target's
            {"PLATFORM": "linux/arm64", "TAG": ""},
            {
                "dockerfile": "slim.Dockerfile",
                "cache_from": ["acme/cache:slim"],
                "platforms": ("linux/arm64",),
                "target": "cross",
                "tags": ("acme/app:latest",),
            },
        ),
        (
            {"FULL_TAG": "edge", "TAG": "9"},
            {
                "dockerfile": "slim.Dockerfile",
                "cache_from": ["acme/cache:slim"],
                "tags": ("acme/app:edge",),
            },
        ),
    ],
)
def test_inherits_nulls_and_computed_defaults_follow_their_variables(
    env: dict[str, str], want: dict[str, Any]
) -> None:
    text, project = python_form(_inherits_import(), texts=_texts("inherits.hcl"))
    assert "frozen" not in text and not project.notes and not project.remarks
    assert "if FULL_TAG is None:" in text  # the environment's value, else the default bake computes
    targets, _ = _run(text, env)
    got = dict(targets["app"])
    got["cache_from"] = [c["ref"] for c in got.get("cache_from", ())]
    if not got["cache_from"]:
        del got["cache_from"]
    assert got == want


# -- the clock -------------------------------------------------------------------------------------------------


def test_the_clock_is_read_at_render() -> None:
    today = f.formatdate("YYYYMMDD", f.timestamp())
    project = ImportedProject(
        sources=("docker-bake.hcl",),
        variables=(ImportedVariable("REPO", "acme/app"),),
        targets=(
            ImportedTarget(
                "app",
                {
                    "tags": [
                        Template((VarRef("REPO"), f":{today}")),
                        Template((VarRef("REPO"), ":latest")),
                    ],
                    "labels": {
                        "org.opencontainers.image.created": f.formatdate(
                            "YYYY-MM-DD", f.timestamp()
                        )
                    },
                },
            ),
        ),
        groups=(),
        notes=(
            ImportNote(
                "target.app.tags[0]",
                f'looks made from the clock (timestamp()): frozen at "acme/app:{today}"',
            ),
        ),
    )
    text, written = python_form(project, texts=_texts("clock.hcl"))
    assert "now = timestamp()" in text and not written.notes
    targets, _ = _run(text, {"REPO": "other"})
    assert targets["app"]["tags"] == (f"other:{today}", "other:latest")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d", targets["app"]["labels"]["org.opencontainers.image.created"]
    )


def test_bake_date_functions() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", f.timestamp())
    assert f.formatdate("YYYYMMDDhhmm", "2026-12-06T09:05:07Z") == "202612060905"
    assert (
        f.formatdate("DD MMM YYYY 'at' h:mm aa", "2026-01-02T15:04:05Z")
        == "02 Jan 2026 at 15:04 pm"
    )
    assert f.md5("a") == "0cc175b9c0f1b6a831c399e269772661"
    with pytest.raises(f.BakeFunctionError):
        f.formatdate("YYYY-Q", "2026-01-02T15:04:05Z")


# -- the fallback ------------------------------------------------------------------------------------------------


def test_what_it_cannot_translate_keeps_the_patched_form() -> None:
    hcl = _texts("matrix.hcl")["docker-bake.hcl"].replace('replace(v, ".", "")', 'uuidv5("dns", v)')
    why: list[str] = []
    assert whole_form(_matrix_import(), {"docker-bake.hcl": hcl}, why=why) is None
    assert why == ["cannot translate the function uuidv5()"]
    text, project = python_form(_matrix_import(), texts={"docker-bake.hcl": hcl})
    assert "frozen=True" in text and "for v in each" not in text
    assert {n.where for n in project.notes} == {
        "variable.VERSIONS",
        "variable.REGISTRY",
        "variable.ENV",
    }


def test_a_translation_unlike_the_import_keeps_the_patched_form() -> None:
    """The module is run on the values in force at import: a value unlike bake's print is no proof."""
    project = _matrix_import()
    wrong = ImportedTarget("docs", {"tags": ["acme/app-testing:other"]})
    project = ImportedProject(
        project.sources,
        project.variables,
        (*project.targets[:2], wrong),
        project.groups,
        project.notes,
    )
    why: list[str] = []
    assert whole_form(project, _texts("matrix.hcl"), why=why) is None
    assert why[-1] == "it does not render what the import renders"
    assert any(w.startswith("target docs:") for w in why)


def test_a_variable_the_import_follows_is_probed() -> None:
    """A variable the import keeps as `${NAME}` is checked at a probe value too: the import's template stands
    for bake's print under it."""
    project = _imported(
        {"REPO": "acme/app"},
        {"app": {"tags": [Template((VarRef("REPO"), ":latest"))]}},
        frozen=False,
    )
    hcl = 'variable "REPO" {\n  default = "acme/app"\n}\ntarget "app" {\n  tags = ["${REPO}:latest"]\n}\n'
    assert whole_form(project, {"docker-bake.hcl": hcl}) is not None
    lying = hcl.replace(
        '["${REPO}:latest"]', '[REPO == "acme/app" ? "acme/app:latest" : "x:latest"]'
    )
    why: list[str] = []
    assert whole_form(project, {"docker-bake.hcl": lying}, why=why) is None
    assert why[-1] == "with REPO at a probe value it does not render what the import renders"


def test_json_bake_files_are_not_translated() -> None:
    why: list[str] = []
    assert whole_form(_matrix_import(), {"docker-bake.json": "{}"}, why=why) is None
    assert why == ["not an HCL file"]


def test_a_validation_refuses_what_bake_refuses() -> None:
    hcl = """
variable "ENV" {
  default = "testing"
  validation {
    condition     = contains(["testing", "production"], ENV)
    error_message = "ENV is testing or production"
  }
}
target "app" {
  tags = ["acme/app:${ENV}"]
}
"""
    project = _imported({"ENV": "testing"}, {"app": {"tags": ["acme/app:testing"]}})
    text, _ = python_form(project, texts={"docker-bake.hcl": hcl})
    assert 'raise ValueError("ENV is testing or production")' in text
    assert _run(text, {"ENV": "production"})[0]["app"]["tags"] == ("acme/app:production",)
    with pytest.raises(ValueError, match="ENV is testing or production"):
        _run(text, {"ENV": "staging"})


def test_a_set_and_a_list_are_one_set_as_in_cty() -> None:
    """`cond ? list : setsubtract(…)` is a set whichever branch is taken: bake prints its members sorted."""
    assert f.setsubtract(["c", "a", "b", "a"], ["x"]) == ["a", "b", "c"]
    assert f.setunion(["b"], ["a", "b"]) == ["a", "b"]
    hcl = """
variable "X" {
  default = ""
}
target "a" {}
target "b" {}
target "c" {}
group "g" {
  targets = X == "" ? ["c", "a", "b"] : setsubtract(["c", "a", "b"], [X])
}
"""
    project = _imported({"X": ""}, {n: {} for n in "abc"}, {"g": ("a", "b", "c")})
    text, _ = python_form(project, texts={"docker-bake.hcl": hcl})
    assert _run(text, {})[1]["g"] == ("a", "b", "c")
    assert _run(text, {"X": "b"})[1]["g"] == ("a", "c")
    wrong = _imported({"X": ""}, {n: {} for n in "abc"}, {"g": ("c", "a", "b")})
    why: list[str] = []
    assert whole_form(wrong, {"docker-bake.hcl": hcl}, why=why) is None  # a group's order is proven
    assert why[0].startswith("group g:")


# -- a variable that only lands as text stays ${NAME} (issue 24 item 15) ------------------------------------------


def _text_only(hcl: str) -> frozenset[str]:
    from bakepy.bake.importer import hclexpr as h
    from bakepy.bake.importer.hclproof import text_only
    from bakepy.bake.importer.hclwhole import _LIST, _MAP, _STRUCTURED, _TEXT

    return text_only(
        h.parse_files({"docker-bake.hcl": hcl}), _TEXT - {"context"}, _LIST - _STRUCTURED, _MAP
    )


_DECLARED = 'variable "V" {\n  default = "x"\n}\n'


@pytest.mark.parametrize(
    "body",
    [
        'target "a" {\n  tags = ["acme/${V}:1"]\n}',
        'target "a" {\n  args = { X = "v-${V}" }\n  description = "${V} and more"\n}',
        'function "f" {\n  params = [p]\n  result = ["${p}:1"]\n}\ntarget "a" {\n  tags = f("r/${V}")\n}',
        'prefix = "acme/${V}"\ntarget "a" {\n  tags = ["${prefix}:1"]\n}',
        'target "a" {\n  tags = [true ? "a/${V}" : "b"]\n}',
    ],
    ids=["template", "map-and-text", "function-parameter", "top-level-attribute", "a-branch"],
)
def test_a_variable_only_interpolated_is_text(body: str) -> None:
    assert _text_only(_DECLARED + body) == {"V"}


@pytest.mark.parametrize(
    "body",
    [
        'target "a" {\n  tags = [V == "x" ? "a:1" : "b:1"]\n}',
        'target "a" {\n  tags = split(",", "a/${V}:1")\n}',
        'function "f" {\n  params = [p]\n  result = [replace(p, "a", "b")]\n}\n'
        'target "a" {\n  tags = f("r/${V}")\n}',
        'target "a" {\n  tags = ["a/%{ if V != "" }x%{ endif }:1"]\n}',
        'target "a" {\n  name = "a-${m}"\n  matrix = { m = ["${V}-1"] }\n}',
        'target "a" {\n  tags = ["${V}"]\n}',  # alone: an empty V is an item bake drops
        'target "a" {\n  inherits = ["${V}b"]\n}',
        'target "a" {\n  args = { "${V}k" = "v" }\n}',
        'group "g" {\n  targets = ["${V}a"]\n}',
        'target "a" {\n  tags = ["r/${V}:1"]\n}\ntarget "b" {\n  tags = [V]\n}',
    ],
    ids=[
        "compared",
        "split",
        "bakefuncs-in-a-function",
        "a-condition",
        "a-matrix-value",
        "a-whole-item",
        "inherits",
        "a-map-key",
        "a-group",
        "once-not-text",
    ],
)
def test_a_variable_computed_with_is_not_text(body: str) -> None:
    assert _text_only(_DECLARED + body) == frozenset()


def _prose_import() -> ImportedProject:
    """What the import holds of whole-vars/text.hcl at its defaults: REGISTRY frozen (bake computes with it:
    an argument of refs()), both kept as `${NAME}` where they land."""
    r, s = VarRef("REGISTRY"), VarRef("SHA")
    project = _imported(
        {"REGISTRY": "Where the images go, with a trailing slash", "FLAVOR": "slim"},
        {
            "app": {
                "tags": [Template((r, "app:latest")), Template((r, "app:", s))],
                "args": {"SIZE": "small", "BASE": Template((r, "base:", s))},
                "labels": {"org.example.size": "small, without the docs"},
            }
        },
    )
    sha = ImportedVariable("SHA", "The commit the images are built from")
    return ImportedProject(
        project.sources, (*project.variables, sha), project.targets, (), project.notes
    )


def test_a_prose_default_is_imported_live_and_refused_by_plan() -> None:
    """Issue 24 item 15: a value from a variable that is not valid where it is used is imported with the
    variable kept, rendered as bake prints it, and refused only at plan/publish, naming the variable."""
    from bakepy.bake.render import render_bake
    from bakepy.errors import ConfigError

    text, project = python_form(_prose_import(), texts=_texts("text.hcl"))
    assert "frozen" not in text and not project.notes
    assert 'REGISTRY = "${REGISTRY}"' in text and 'SHA = "${SHA}"' in text
    assert 'FLAVOR = value["FLAVOR"] or ""' in text  # compared: read
    namespace: dict[str, Any] = {}
    exec(compile(text, "bakefile.py", "exec"), namespace)
    rendered = render_bake(namespace["project"])["target"]["app"]
    assert rendered["tags"][1] == (
        "Where the images go, with a trailing slashapp:The commit the images are built from"
    )
    with pytest.raises(ConfigError, match=r"REGISTRY.*the default of variable\.REGISTRY"):
        namespace["project"].resolved.check(["app"])
    targets, _ = _run(text, {"REGISTRY": "quay.io/org/", "SHA": "abc", "FLAVOR": "full"})
    assert targets["app"]["tags"] == ("quay.io/org/app:latest", "quay.io/org/app:abc")
    assert targets["app"]["args"] == {"SIZE": "large", "BASE": "quay.io/org/base:abc"}
    assert targets["app"]["labels"] == {"org.example.size": "large, with the docs and the tests"}
    # a chain of conditionals as an item of brackets: one part a line, unparenthesized, as ruff writes it
    assert (
        '        "org.example.size": "small, without the docs"\n'
        '        if FLAVOR == "slim"\n'
        '        else "large, with the docs and the tests"\n'
        '        if FLAVOR == "full"\n'
        '        else "medium",\n'
    ) in text


def test_a_chain_of_conditionals_is_laid_out_as_ruff_writes_it() -> None:
    """`a if x else b if y else c` that does not fit: one part a line, never nested; parenthesized as a
    statement, not as an item of brackets (the e2e tests run `ruff format --check` on whole modules)."""
    from bakepy.bake.importer.hclpython import CallCode, Code, DictCode, IfElse
    from bakepy.bake.importer.python import _code_lines

    chain = IfElse(
        Code("a" * 30), Code("x" * 30), IfElse(Code("b" * 30), Code("y" * 30), Code("c"))
    )
    parts = ["a" * 30, "if " + "x" * 30, "else " + "b" * 30, "if " + "y" * 30, "else c"]
    assert _code_lines(chain, 0, "v = ", "") == ["v = (", *(f"    {p}" for p in parts), ")"]
    call = CallCode("f", (chain, Code("other")))
    assert _code_lines(call, 0, "v = ", "") == [
        "v = f(",
        *(f"    {p}" for p in parts[:-1]),
        "    else c,",
        "    other,",
        ")",
    ]
    mapping = DictCode(((Code('"k"'), chain),))
    assert _code_lines(mapping, 4, "return ", "") == [
        "    return {",
        f'        "k": {parts[0]}',
        *(f"        {p}" for p in parts[1:-1]),
        "        else c,",
        "    }",
    ]
