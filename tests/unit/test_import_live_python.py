"""The Python form of an import keeps live what bake computes with (issue 24, item 2): bake's functions in
`bakepy.bakefuncs` with cty's semantics, the HCL reader (`hclexpr`), which variables go live (`hcllive`), and
the written module run under other values of them. The expected values are what `docker buildx bake --print`
gives (tests/e2e/test_import_live_vars.py checks the same files against buildx itself)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bakepy import bakefuncs as f
from bakepy.bake.importer import (
    ImportedProject,
    ImportedTarget,
    ImportedVariable,
    ImportNote,
    Template,
    VarRef,
    to_python,
)
from bakepy.bake.importer import hclexpr as h
from bakepy.bake.importer.hcllive import live_form

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bake"

# -- bake's functions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("got", "want"),
    [
        (f.tostring(1), "1"),
        (f.tostring(2.0), "2"),
        (f.tostring(2.5), "2.5"),
        (f.tostring(True), "true"),
        (f.equal("1", 1), False),
        (f.equal(True, 1), False),
        (f.notequal("master", "1.0"), True),
        (f.format("%s-%03d", "build", 7), "build-007"),
        (f.format("%q and %%", "a"), '"a" and %'),
        (f.formatlist("x-%s", ["a", "b"]), ["x-a", "x-b"]),
        (f.index(["a", "b"], 1), "b"),
        (f.index({"k": "v"}, "k"), "v"),
        (f.element(["a", "b"], 3), "b"),
        (f.keys({"b": 1, "a": 2}), ["a", "b"]),
        (f.values({"b": 1, "a": 2}), [2, 1]),
        (f.split(",", ""), [""]),
        (f.join("-", ["a", 1], ["b"]), "a-1-b"),
        (f.compact(["", "a", ""]), ["a"]),
        (f.coalesce(None, "", "x"), ""),  # cty's: an empty string is a value
        (f.regex_replace("v1.2.3", r"^v([0-9]+)\..*$", "$1"), "1"),
        (f.regex("^(\\d+)\\.(\\d+)", "3.12"), ["3", "12"]),
        (f.can(lambda: f.regex("^7", "23.1")), False),
        (f.substr("abcdef", 1, 3), "bcd"),
        (f.substr("abcdef", -2, -1), "ef"),
        (f.trimprefix("v1.0", "v"), "1.0"),
        (f.distinct(["a", "b", "a"]), ["a", "b"]),
        (f.flatten([["a"], ["b", ["c"]]]), ["a", "b", "c"]),
        (f.setsubtract(["a", "b"], ["b"]), ["a"]),
        (f.parse_bool("1"), True),
        (f.parse_bool("False"), False),
        (f.parse_number("2.5"), 2.5),
        (f.parse_number("41"), 41),
        (f.each({"b": 1, "a": 2}), [2, 1]),
        (f.pairs(["x"]), [(0, "x")]),
    ],
)
def test_bake_functions_follow_cty(got: Any, want: Any) -> None:
    assert got == want


def test_bad_arguments_are_refused_like_bake() -> None:
    with pytest.raises(f.BakeFunctionError):
        f.parse_bool("yes")  # strconv.ParseBool, as bake reads a bool variable
    with pytest.raises(f.BakeFunctionError):
        f.index(["a"], -1)
    with pytest.raises(f.BakeFunctionError):
        f.tobool("1")


def test_variable_values_are_what_render_sees() -> None:
    from bakepy.model import ENVIRONMENT, Variable

    variables = {
        "REPO": Variable(default="acme"),
        "IMAGE": Variable(default="${REPO}/app"),
        "NOTHING": Variable(),
    }
    token = ENVIRONMENT.set({"REPO": "other"})
    try:
        values = f.variable_values(variables)
    finally:
        ENVIRONMENT.reset(token)
    assert values == {"REPO": "other", "IMAGE": "other/app", "NOTHING": None}


# -- the HCL reader ------------------------------------------------------------------------------------------


def test_hcl_expressions_as_trees() -> None:
    files = h.parse_files(
        {
            "docker-bake.hcl": """
variable "V" { default = "1.0" }
function "tag" {
  params = [name]
  variadic_params = rest
  result = notequal("master", V) && !(V == "x") ? "${name}:${V}" : "a%{ if V == "1" }b%{ endif }"
}
top = [for s in split(",", V) : upper(s) if s != ""]
target "t" {
  args = { "a.b" = 1, C = <<-EOT
    x ${V}
    EOT
  }
}
"""
        }
    )
    assert files.variables["V"].default == h.Template(("1.0",))
    fn = files.functions["tag"]
    assert (fn.params, fn.variadic) == (("name",), "rest")
    assert isinstance(fn.result, h.Conditional)
    assert fn.result.condition == h.Binary(
        "&&",
        h.Call("notequal", (h.Template(("master",)), h.Name("V"))),
        h.Unary("!", h.Binary("==", h.Name("V"), h.Template(("x",)))),
    )
    assert fn.result.otherwise == h.Template(
        (
            "a",
            h.TemplateIf(h.Binary("==", h.Name("V"), h.Template(("1",))), ("b",), ()),
        )
    )
    assert isinstance(files.attributes["top"], h.For)
    args = files.targets["t"].attributes["args"]
    assert args == h.Object(
        (
            (h.Literal("a.b"), h.Literal(1)),
            (h.Literal("C"), h.Template(("x ", h.Name("V"), "\n"))),
        )
    )


# -- the written module --------------------------------------------------------------------------------------


def _tags_project() -> ImportedProject:
    """What the import of tests/fixtures/bake/live-python-tags.hcl holds: VERSION frozen."""

    def tags(image: str) -> list[Any]:
        return [
            Template((VarRef("ORG"), "/", VarRef("PREFIX"), f"{image}:", VarRef("PINNED"))),
            Template((VarRef("ORG"), "/", VarRef("PREFIX"), f"{image}:", VarRef("VERSION"))),
            Template((VarRef("ORG"), "/", VarRef("PREFIX"), f"{image}:latest")),
        ]

    return ImportedProject(
        sources=("docker-bake.hcl",),
        variables=(
            ImportedVariable("ORG", "acme"),
            ImportedVariable("PINNED", "1.0.1"),
            ImportedVariable("PREFIX", ""),
            ImportedVariable("VERSION", "1.0", frozen=True),
        ),
        targets=(
            ImportedTarget(
                "api", {"inherits": ["defaults"], "context": "api", "tags": tags("api")}
            ),
            ImportedTarget(
                "defaults",
                {
                    "platforms": ["linux/amd64"],
                    "args": {"VERSION": Template((VarRef("PINNED"),))},
                },
            ),
            ImportedTarget(
                "web", {"inherits": ["defaults"], "context": "web", "tags": tags("web")}
            ),
        ),
        groups=(),
        notes=(
            ImportNote("variable.VERSION", 'frozen at "1.0": bake computes with it (a condition)'),
        ),
    )


def _load(text: str, env: dict[str, str]) -> Any:
    from bakepy import model

    namespace: dict[str, Any] = {}
    token = model.ENVIRONMENT.set(env)
    try:
        exec(compile(text, "bakefile.py", "exec"), namespace)
    finally:
        model.ENVIRONMENT.reset(token)
    return namespace["project"].resolved.targets


@pytest.mark.parametrize(
    ("env", "tags"),
    [
        ({}, ("acme/api:1.0.1", "acme/api:1.0", "acme/api:latest")),
        ({"VERSION": "main"}, ("acme/api:main", "acme/api:latest")),  # bake drops the empty tag
        ({"VERSION": "main-arm"}, ("acme/api:main-arm", "acme/api:latest")),
        (
            {"VERSION": "2.0", "PREFIX": "x-"},
            ("acme/x-api:1.0.1", "acme/x-api:2.0", "acme/x-api:latest"),
        ),
    ],
)
def test_a_condition_in_a_function_stays_live(env: dict[str, str], tags: tuple[str, ...]) -> None:
    texts = {"docker-bake.hcl": (FIXTURES / "live-python-tags.hcl").read_text()}
    text = to_python(_tags_project(), texts=texts)
    assert "frozen" not in text  # neither the variable nor its note
    assert "def tag(image: Any) -> Any:" in text
    assert "notequal(" in text and " if " in text
    targets = _load(text, env)
    assert targets["api"].tags == tags
    assert targets["web"].tags == tuple(t.replace("api", "web") for t in tags)
    assert targets["api"].args == {"VERSION": "1.0.1"}


def test_without_the_bake_files_the_variable_stays_frozen() -> None:
    text = to_python(_tags_project(), texts={})
    assert 'Variable(default="1.0", frozen=True)' in text
    assert "def tag" not in text


def test_what_cannot_be_translated_stays_frozen() -> None:
    """A clock function in the function: the variable stays frozen, with its note (today's behaviour)."""
    hcl = (
        (FIXTURES / "live-python-tags.hcl")
        .read_text()
        .replace('"${ORG}/${PREFIX}${image}:latest"', 'formatdate("YYYY", timestamp())')
    )
    why: dict[str, str] = {}
    assert live_form(_tags_project(), {"docker-bake.hcl": hcl}, why) is None
    assert "timestamp()" in why["VERSION"] or "formatdate()" in why["VERSION"]
    text = to_python(_tags_project(), texts={"docker-bake.hcl": hcl})
    assert "frozen=True" in text and "variable.VERSION: frozen" in text


def test_a_translation_that_disagrees_with_the_import_stays_frozen() -> None:
    """The code is run on the values in force; a value unlike the import's keeps the variable frozen."""
    project = _tags_project()
    wrong = ImportedTarget("api", {**project.targets[0].attributes, "tags": ["acme/api:other"]})
    project = ImportedProject(
        project.sources, project.variables, (wrong, *project.targets[1:]), (), project.notes
    )
    why: dict[str, str] = {}
    texts = {"docker-bake.hcl": (FIXTURES / "live-python-tags.hcl").read_text()}
    assert live_form(project, texts, why) is None
    assert why["VERSION"] == "target.api.tags: the code gives another value"


def test_a_matrix_or_an_appended_list_keeps_its_variables_frozen() -> None:
    texts = {"docker-bake.hcl": (FIXTURES / "live-python-frozen.hcl").read_text()}
    project = ImportedProject(
        sources=("docker-bake.hcl",),
        variables=(
            ImportedVariable("CACHE", "on", frozen=True),
            ImportedVariable("LIVE", "yes", frozen=True),
            ImportedVariable("VERSIONS", "3.11,3.12", frozen=True),
        ),
        targets=(
            ImportedTarget("_cache", {"cache-from": [{"type": "registry", "ref": "acme/cache"}]}),
            ImportedTarget("app", {"inherits": ["_cache"], "tags": ["acme/app:live"]}),
            ImportedTarget("py-311", {"tags": ["acme/py:3.11"]}),
            ImportedTarget("py-312", {"tags": ["acme/py:3.12"]}),
        ),
        groups=(),
        notes=(),
    )
    why: dict[str, str] = {}
    form = live_form(project, texts, why)
    assert form is not None and form.live == ("LIVE",)
    assert "matrix" in why["VERSIONS"]
    assert "appends" in why["CACHE"]
    # The whole translation of the file (hclwhole) keeps them live too: a matrix as loops, cache-from on its
    # base (tests/e2e/test_import_live_vars.py checks it against buildx).
    text = to_python(project, texts=texts)
    assert "frozen" not in text
    assert '"LIVE": Variable(default="yes")' in text
    assert _load(text, {"LIVE": "no"})["app"].tags == ("acme/app:dead",)
    assert [n for n in _load(text, {"VERSIONS": "3.13"}) if n.startswith("py")] == ["py-313"]
    assert not _load(text, {"CACHE": "off"})["app"].cache_from


def test_code_a_base_of_the_import_would_hand_on_keeps_the_variable_frozen() -> None:
    """The import made `lint` inherit `build` (both printed the same values): code on `build` would reach
    `lint`, which bake does not compute from VERSION."""
    hcl = """
variable "VERSION" {
  default = null
}
target "build" {
  output = ["type=cacheonly"]
  args = {
    VERSION = VERSION
  }
}
target "lint" {
  output = ["type=cacheonly"]
}
"""
    project = ImportedProject(
        sources=("docker-bake.hcl",),
        variables=(ImportedVariable("VERSION", None, frozen=True),),
        targets=(
            ImportedTarget("build", {"output": [{"type": "cacheonly"}], "args": {}}),
            ImportedTarget("lint", {"inherits": ["build"]}),
        ),
        groups=(),
        notes=(),
    )
    why: dict[str, str] = {}
    assert live_form(project, {"docker-bake.hcl": hcl}, why) is None
    assert why["VERSION"] == "target.lint.args would inherit code the bake file does not give it"


def test_a_target_the_import_gave_a_base_keeps_its_own_value() -> None:
    """`b` inherits `a` in the import only (they printed the same); `a`'s context is code, so `b` gets its own
    value written (bake's default `.`) instead of `a`'s code."""
    hcl = """
variable "CTX" {
  default = "."
}
target "a" {
  context = CTX == "" ? "." : CTX
  tags = ["acme/x"]
}
target "b" {
  tags = ["acme/x"]
}
"""
    project = ImportedProject(
        sources=("docker-bake.hcl",),
        variables=(ImportedVariable("CTX", ".", frozen=True),),
        targets=(
            ImportedTarget("a", {"tags": ["acme/x"]}),
            ImportedTarget("b", {"inherits": ["a"]}),
        ),
        groups=(),
        notes=(),
    )
    text = to_python(project, texts={"docker-bake.hcl": hcl})
    assert "frozen" not in text
    targets = _load(text, {"CTX": "sub"})
    assert (targets["a"].context, targets["b"].context) == ("sub", ".")
    targets = _load(text, {"CTX": ""})
    assert (targets["a"].context, targets["b"].context) == (".", ".")
