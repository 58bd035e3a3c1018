"""Imported variables stay live or are frozen out loud (issue 24, items 2 and 15), without docker.

- `hclrefs.variable_use` finds, in the bake files' text, the variables bake computes with (a condition, a
  function argument, an operator, an index, a loop, a directive), also through a variable, a top-level
  attribute or a function, and the defaults that are only text and other variables;
- the conversion declares such variables `frozen`, and bakepy (the model) refuses another value of a frozen
  variable instead of ignoring it;
- a tag list bake collapsed because empty variables made two tags equal is imported with both tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bakepy.bake import importer
from bakepy.bake.importer import conversion, hclrefs
from bakepy.bake.importer import resolve as importer_resolve
from bakepy.bake.importer.imported import Template, VarRef
from bakepy.config import load_toml
from bakepy.errors import ConfigError

# -- which variables bake computes with ----------------------------------------------------------------------

_MAILU = """
variable "ORG" { default = "mailu" }
variable "VERSION" { default = "local" }
variable "PINNED" { default = "local" }
function "tag" {
  params = [image_name]
  result = [ notequal("master", VERSION) ? "${ORG}/${image_name}:${PINNED}" : "",
             "${ORG}/${image_name}:${VERSION}" ]
}
target "admin" { tags = tag("admin") }
"""


def _use(text: str, *names: str, name: str = "docker-bake.hcl") -> hclrefs.VariableUse:
    return hclrefs.variable_use({name: text}, names)


def test_a_variable_in_a_condition_is_computed_and_its_branches_are_not() -> None:
    use = _use(_MAILU, "ORG", "VERSION", "PINNED")
    assert set(use.computed) == {"VERSION"}
    assert "notequal()" in use.computed["VERSION"]


@pytest.mark.parametrize(
    ("expression", "computed"),
    [
        ('["${TAG}"]', None),
        ('["acme/app:${TAG}", "x"]', None),
        ("TAG", None),
        ('concat(["a:${TAG}"], ["b"])', None),
        ('{ VERSION = TAG, "x" = "${TAG}-y" }', None),
        ('TAG ? "a" : "b"', "a condition"),
        ('TAG == "" ? ["a"] : ["b"]', "a condition"),
        ('["${upper(TAG)}"]', "an argument of upper()"),
        ('replace(TAG, ".", "-")', "an argument of replace()"),
        ('"${TAG}" != "" ? "a" : "b"', "a condition"),
        ('["x${TAG}y"][0]', "an index"),
        ("LIST[TAG]", "an index"),
        ('[for v in split(",", TAG) : "x-${v}"]', "a for expression"),
        ('"%{ if TAG != "" }x%{ endif }"', "a %{ } directive"),
        ("TAG + 1", "the operator +"),
        ("<<EOT\nFROM x:${TAG}\nEOT", None),
    ],
)
def test_what_counts_as_computing(expression: str, computed: str | None) -> None:
    text = f'variable "TAG" {{}}\ntarget "app" {{\n  x = {expression}\n}}\n'
    found = _use(text, "TAG").computed
    if computed is None:
        assert found == {}
    else:
        assert computed in found["TAG"]


def test_computing_with_a_derived_value_computes_with_what_it_is_made_of() -> None:
    text = """
variable "REPO" { default = "acme/app" }
variable "TAG" { default = "1.0" }
variable "FULL" { default = "${REPO}:${TAG}" }
fullname = "${FULL}-x"
function "image" {
  params = [TAG]
  result = upper(TAG)
}
target "app" {
  tags = [lower(fullname), image("x")]
}
"""
    use = _use(text, "REPO", "TAG", "FULL")
    # TAG inside `image` is the function's own parameter, not the variable; FULL reaches lower() through
    # `fullname`, and REPO and TAG through FULL.
    assert set(use.computed) == {"FULL", "REPO", "TAG"}
    assert "through" in use.computed["REPO"]


def test_validation_blocks_and_comments_do_not_count() -> None:
    text = """
variable "ENV" {
  default = "testing"
  validation {
    condition = contains(["testing", "production"], ENV)
    error_message = "no"
  }
}
# upper(ENV) in a comment
target "app" { tags = ["acme/${ENV}"] }  // ENV == "x"
"""
    assert _use(text, "ENV").computed == {}


def test_a_default_of_text_and_variables_is_kept_as_a_template() -> None:
    text = 'variable "R" { default = "acme" }\nvariable "T" {}\nvariable "F" { default = "${R}:${T}\\t" }\n'
    use = _use(text, "R", "T", "F")
    assert use.derived == {"F": Template((VarRef("R"), ":", VarRef("T"), "\t"))}
    json_text = '{"variable": {"R": {}, "F": {"default": "${R}\\\\x"}}, "target": {"a": {"tags": ["${upper(R)}"]}}}'
    json_use = _use(json_text, "R", "F", name="docker-bake.json")
    assert json_use.computed == {"R": "an argument of upper()"}
    assert json_use.derived == {"F": Template((VarRef("R"), "\\x"))}


def test_compose_files_are_not_read() -> None:
    assert (
        _use("services:\n  a:\n    image: ${TAG:-x}\n", "TAG", name="compose.yaml").computed == {}
    )


# -- conversion: frozen variables are declared and named -----------------------------------------------------


def _resolved(
    targets: Mapping[str, Any], **kwargs: Any
) -> importer.ResolvedBake:  # the shape test_importer uses
    listing = tuple(importer_resolve.ListedName(name, False) for name in targets)
    return importer.ResolvedBake(
        sources=("docker-bake.hcl",),
        listing=listing,
        printed={"target": targets},
        default_group=None,
        **kwargs,
    )


def test_a_variable_bake_computes_with_is_frozen_with_one_note() -> None:
    s = importer_resolve.sentinel(0)
    base = {"app": {"tags": ["acme/app:1.0.1", "acme/app:1.0"]}}
    probed = {"app": {"tags": ["acme/app:1.0.1", f"acme/app:{s}"]}}
    resolved = _resolved(
        base,
        variables=(importer_resolve.BakeVariable("VERSION", "1.0"),),
        probes=(importer_resolve.Probe((("VERSION", s),), {"target": probed}),),
        combined=importer_resolve.Probe((("VERSION", s),), {"target": probed}),
        computed=(("VERSION", "a condition"),),
    )
    project = importer.convert(resolved)
    assert project.variables == (importer.ImportedVariable("VERSION", "1.0", frozen=True),)
    assert [n.where for n in project.notes] == ["variable.VERSION"]
    assert "\n" not in project.notes[0].message and "a condition" in project.notes[0].message
    toml = importer.to_toml(project)
    assert "frozen = true" in toml
    assert "frozen=True" in importer.to_python(project, texts={})  # no bake file: frozen
    # the same value renders; another is refused (one line, exit 2), never ignored
    assert load_toml(toml, env={"VERSION": "1.0"}).resolved.targets["app"].tags == (
        "acme/app:1.0.1",
        "acme/app:1.0",
    )
    with pytest.raises(ConfigError) as refused:
        load_toml(toml, env={"VERSION": "master"})
    assert refused.value.exit_code == 2
    message = refused.value.message
    assert message.startswith("bakepy.toml: variable.VERSION: ")
    assert 'is frozen at "1.0"' in message and "\n" not in message
    assert "bakepy import --python" in message  # the form that keeps it live


def test_a_derived_default_follows_its_variables() -> None:
    s0, s1, s2 = (importer_resolve.sentinel(i) for i in range(3))
    variables = (
        importer_resolve.BakeVariable("IMAGE", "acme/app:1.0"),
        importer_resolve.BakeVariable("REPO", "acme/app"),
        importer_resolve.BakeVariable("VERSION", "1.0"),
    )
    probes = (
        importer_resolve.Probe((("IMAGE", s0),), {"target": {"app": {"tags": [s0]}}}),
        importer_resolve.Probe((("REPO", s1),), {"target": {"app": {"tags": [f"{s1}:1.0"]}}}),
        importer_resolve.Probe(
            (("VERSION", s2),), {"target": {"app": {"tags": [f"acme/app:{s2}"]}}}
        ),
    )
    resolved = _resolved(
        {"app": {"tags": ["acme/app:1.0"]}},
        variables=variables,
        probes=probes,
        combined=importer_resolve.Probe(
            (("IMAGE", s0), ("REPO", s1), ("VERSION", s2)), {"target": {"app": {"tags": [s0]}}}
        ),
        derived=(("IMAGE", Template((VarRef("REPO"), ":", VarRef("VERSION")))),),
    )
    project = importer.convert(resolved)
    assert project.notes == ()
    toml = importer.to_toml(project)
    assert 'default = "${REPO}:${VERSION}"' in toml
    assert load_toml(toml, env={"VERSION": "2"}).resolved.targets["app"].tags == ("acme/app:2",)


def test_assigned_rederives_unless_set() -> None:
    derived = {"FULL": Template((VarRef("REPO"), ":", VarRef("TAG")))}
    values = {"REPO": "r", "TAG": "1", "FULL": "r:1"}
    assert conversion._assigned(values, derived, {"TAG": "2"})["FULL"] == "r:2"
    assert conversion._assigned(values, derived, {"FULL": "x", "TAG": "2"})["FULL"] == "x"


def test_a_probe_a_second_later_is_not_the_variables_doing() -> None:
    base = {"app": {"labels": {"created": "2026-11-29T10:00:00Z"}, "tags": ["r/app:1"]}}
    later = {"app": {"labels": {"created": "2026-11-29T10:00:01Z"}, "tags": ["r/app:x"]}}
    assert conversion._reclocked(later, base) == {
        "app": {"labels": {"created": "2026-11-29T10:00:00Z"}, "tags": ["r/app:x"]}
    }


# -- item 15: tags bake collapsed because empty variables made them equal -------------------------------------


def test_tags_collapsed_by_empty_variables_are_imported_with_their_variables() -> None:
    s0, s1 = importer_resolve.sentinel(0), importer_resolve.sentinel(1)

    def printed(*tags: str) -> dict[str, Any]:
        return {"target": {"app": {"tags": list(tags)}}}

    resolved = _resolved(
        {"app": {"tags": ["org/app:"]}},
        variables=(
            importer_resolve.BakeVariable("CHANNEL", ""),
            importer_resolve.BakeVariable("VERSION", ""),
        ),
        probes=(
            importer_resolve.Probe((("CHANNEL", s0),), printed("org/app:", f"org/app:{s0}")),
            importer_resolve.Probe((("VERSION", s1),), printed(f"org/app:{s1}", "org/app:")),
        ),
        combined=importer_resolve.Probe(
            (("CHANNEL", s0), ("VERSION", s1)), printed(f"org/app:{s1}", f"org/app:{s0}")
        ),
    )
    project = importer.convert(resolved)
    assert project.notes == ()
    toml = importer.to_toml(project)
    assert 'tags = ["org/app:${VERSION}", "org/app:${CHANNEL}"]' in toml
    # bakepy loads it (the import is not refused); plan and publish refuse it while the tag is empty, naming
    # the variable, and take it once CI sets them
    loaded = load_toml(toml, env={})
    problems = loaded.resolved.problems["app"]
    assert 'with VERSION = ""' in str(problems[0])
    assert load_toml(toml, env={"VERSION": "1", "CHANNEL": "stable"}).resolved.targets[
        "app"
    ].tags == ("org/app:1", "org/app:stable")


def test_probe_candidates_take_collapsed_lists() -> None:
    """resolve: a variable whose probe only un-collapses a list is probed with the others at once."""
    from bakepy.bake.importer.printed import expands_to

    base = {"app": {"tags": ["org/app:"]}}
    probed = {"app": {"tags": ["org/app:bkpy0vx", "org/app:"]}}
    assert expands_to(base, probed, {"bkpy0vx": ""})
    assert not expands_to(base, probed, {"bkpy0vx": "1"})


def test_values_made_from_the_clock_are_one_note() -> None:
    """cloudnative-pg's `now = timestamp()` in every target's labels and tags: one note, not one per place."""
    stamp = "2026-11-29T10:00:00Z"
    targets = {
        f"pg-{i}": {"labels": {"created": stamp}, "tags": [f"pg:{i}-202611291000"]}
        for i in range(20)
    }
    project = importer.convert(_resolved(targets, clock_used=True))
    assert len(project.notes) == 1
    (note,) = project.notes
    assert "and 39 more values look made from the clock" in note.message
    assert "\n" not in note.message
