"""Every "did you mean" bakepy says is closer to what was meant than what was typed, and none is absurd.

The suggesting places (grep "did you mean"): platforms (whole value, OS, architecture, variant), model keys and
enumerated values (cache/output/attest types, network, call, entitlements, ulimits, annotations), targets,
groups and variables, tag rule types, template expressions and condition names, and buildx builder names. All go
through `bakepy.model.base.suggest`; the properties below run it on each place's own candidates and, for the places
reachable without a project, through the message the user reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bakepy.cli import _COMMANDS
from bakepy.engine.runner import Runner
from bakepy.model import ProjectSettings, Target, normalize_platform
from bakepy.model.attributes import ULIMIT_NAMES
from bakepy.model.base import did_you_mean, edit_distance, near_enough, suggest
from bakepy.model.builder import BuilderSettings
from bakepy.model.explain import _fields_of
from bakepy.model.platforms import COMMON_PLATFORMS, KNOWN_ARCH, KNOWN_OS, platform_warning
from bakepy.model.targets import _ANNOTATION_TYPES, CALL_METHODS, ENTITLEMENTS, NETWORK_MODES
from bakepy.tagging.rules import RULE_TYPES, TagRule
from bakepy.tagging.templates import CONDITION_NAMES, GLOBAL_NAMES, check_condition, check_template

CANDIDATES: dict[str, tuple[str, ...]] = {
    "platform": COMMON_PLATFORMS,
    "os": tuple(sorted(KNOWN_OS)),
    "arch": tuple(sorted(KNOWN_ARCH)),
    "target key": tuple(_fields_of(Target)),
    "project key": tuple(_fields_of(ProjectSettings)),
    "builder key": tuple(_fields_of(BuilderSettings)),
    "call": CALL_METHODS,
    "network": NETWORK_MODES,
    "entitlement": tuple(ENTITLEMENTS),
    "ulimit": tuple(ULIMIT_NAMES),
    "annotation": _ANNOTATION_TYPES,
    "rule type": RULE_TYPES,
    "expression": GLOBAL_NAMES,
    "condition": CONDITION_NAMES,
    "builder": ("bakepy-stack", "default", "multi-arch", "bakepy-two-1a2b3c"),
    "target": ("app", "app-py311", "app-py312", "web", "api", "worker", "docs"),
    "command": tuple(_COMMANDS),  # `bakepy plna`: the commands, with init among them
}
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789/-_."


def _typo(draw: st.DrawFn, intended: str) -> str:
    """`intended` with one or two slips: a character dropped, added, changed, or two neighbours swapped."""
    value = intended
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["drop", "add", "change", "swap"]))
        if kind in ("drop", "change", "swap") and len(value) < 2:
            kind = "add"
        i = draw(st.integers(0, len(value) - (2 if kind == "swap" else 1 if kind != "add" else 0)))
        c = draw(st.sampled_from(ALPHABET))
        if kind == "drop":
            value = value[:i] + value[i + 1 :]
        elif kind == "add":
            value = value[:i] + c + value[i:]
        elif kind == "change":
            value = value[:i] + c + value[i + 1 :]
        else:
            value = value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    return value


@st.composite
def slips(draw: st.DrawFn) -> tuple[str, tuple[str, ...], str, str]:
    place = draw(st.sampled_from(sorted(CANDIDATES)))
    candidates = CANDIDATES[place]
    intended = draw(st.sampled_from(candidates))
    return place, candidates, intended, _typo(draw, intended)


def _unique_nearest(typed: str, intended: str, candidates: tuple[str, ...]) -> bool:
    mine = edit_distance(typed, intended)
    return all(edit_distance(typed, c) > mine for c in candidates if c != intended)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slips())
def test_a_suggestion_is_closer_to_what_was_meant_than_what_was_typed(
    slip: tuple[str, tuple[str, ...], str, str],
) -> None:
    place, candidates, intended, typed = slip
    assume(typed not in candidates and typed)
    suggested = suggest(typed, candidates)
    for s in suggested:  # never farther from what was meant than the typo itself
        assert (
            edit_distance(s, intended) < edit_distance(typed, intended)
            or edit_distance(s, typed) <= edit_distance(intended, typed)  # an equally good reading
            # the slip spelt another name's start: `shm` (for `ssh`) reads as `shm-size`
            or s.startswith(typed)
        ), (place, typed, suggested)
    if _unique_nearest(typed, intended, candidates) and near_enough(typed, intended):
        assert suggested == [intended], (place, typed, intended, suggested)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(sorted(CANDIDATES)), st.text(ALPHABET + ", :ABC", max_size=30))
def test_no_absurd_suggestion_for_any_input(place: str, typed: str) -> None:
    """Whatever is typed, a suggestion changes at most a third of it, or is the same word with another ending
    (`registry` → `registries`), or the one name it abbreviates (`ver` → `version`)."""
    for s in suggest(typed, CANDIDATES[place]):
        stem = _common_prefix(typed, s)
        assert (
            edit_distance(s, typed) <= max(1, len(typed) // 3)
            or (stem >= 4 and len(typed) - stem <= 3 and len(s) - stem <= 3)
            or (s.startswith(typed) and len(typed) >= 3)
        ), (place, typed, s)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


# -- through the message the user reads ---------------------------------------------------------------------
def _said(message: str) -> list[str]:
    """The suggestions in a message: `did you mean 'a'?`, `'a' or 'b'`, `{{a}}`."""
    found = re.search(r"did you mean (.*)\?", message)
    if not found:
        return []
    return [a or b for a, b in re.findall(r"'([^']*)'|\{\{(\w+)\}\}", found.group(1))]


def _platform_message(value: str) -> str:
    try:
        normalize_platform(value)
    except ValueError as exc:
        return str(exc)
    return platform_warning(value) or ""


@settings(max_examples=800, deadline=None)
@given(st.sampled_from(COMMON_PLATFORMS), st.data())
def test_platform_messages_suggest_what_was_meant(intended: str, data: st.DataObject) -> None:
    typed = data.draw(st.composite(lambda draw: _typo(draw, intended))())
    assume(typed not in COMMON_PLATFORMS and "," not in typed and typed.strip() == typed)
    message = _platform_message(typed)
    said = _said(message)
    meant_one = _unique_nearest(typed, intended, COMMON_PLATFORMS) and near_enough(typed, intended)
    if "not a platform" in message and meant_one:
        assert said == [intended], message
    # a hint for one part (`unknown architecture 'amd6'; did you mean 'amd64'?`) names that part only: it is
    # judged against the part as typed; a whole platform is judged against the whole input
    part = re.search(r"unknown (?:variant|architecture|operating system) '([^']*)'", message)
    for s in said:
        judged = part.group(1) if part and "/" not in s else typed
        assert near_enough(judged, s) or s.startswith(judged), message


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("linux/arm65", "linux/arm64"),
        ("linux/amd46", "linux/amd64"),
        ("linx/amd64", "linux/amd64"),
        ("darwn/arm64", "darwin/arm64"),
        ("linux/arm64/v9", None),  # not a slip of anything in particular
        ("linux/", None),  # not every linux platform at once
        ("linux/amd64,linux/arm64", None),  # two platforms: one per item, never `linux/amd64/v4`
        ("linux/mips/softflaot", "softfloat"),
    ],
)
def test_platform_table(typed: str, meant: str | None) -> None:
    message = _platform_message(typed)
    assert _said(message) == ([meant] if meant else []), message


def test_the_comma_list_says_how_to_write_it() -> None:
    message = _platform_message("linux/amd64,linux/arm64")
    assert "write one per list item: ['linux/amd64', 'linux/arm64']" in message
    assert "linux/amd64/v4" not in message


@pytest.mark.parametrize(
    ("check", "typed", "meant"),
    [
        (lambda v: check_template("{{" + v + "}}"), "brnch", "branch"),
        (lambda v: check_template("{{" + v + "}}"), "is_defualt_branch", "is_default_branch"),
        (check_condition, "evnt", None),
        (lambda v: TagRule.model_validate({"type": v}), "semvr", "semver"),
        (lambda v: TagRule.model_validate({"type": v}), "pep404", "pep440"),
        (lambda v: TagRule.model_validate({"type": v}), "zzz", None),
    ],
)
def test_tagging_messages(check: object, typed: str, meant: str | None) -> None:
    with pytest.raises(ValueError) as info:
        check(typed)  # type: ignore[operator]
    said = _said(str(info.value))
    if meant is None:
        assert not said or all(edit_distance(s, typed) <= 2 for s in said), info.value
    else:
        assert said == [meant], info.value
        assert edit_distance(said[0], meant) < edit_distance(typed, meant)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("bakepy-stak", "bakepy-stack"),
        ("bakepy-stackx", "bakepy-stack"),
        ("Bakepy-stack", "bakepy-stack"),
        ("multiarch", "multi-arch"),
        ("no-such-builder", None),
        ("x", None),
    ],
)
def test_a_wrong_builder_name_gets_the_near_one(
    typed: str, meant: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instances = tmp_path / "buildx" / "instances"
    instances.mkdir(parents=True)
    for name in CANDIDATES["builder"]:
        (instances / name).write_text("{}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    said = _said(Runner()._builder_suggestion(typed))
    assert said == ([meant] if meant else [])


@pytest.mark.parametrize(
    ("typed", "candidates", "said"),
    [
        ("registry", _fields_of(ProjectSettings), ["registries"]),  # another ending
        ("ver", ("version", "python"), ["version"]),  # an abbreviation of exactly one
        ("gah", ("registry", "local", "inline", "gha", "s3", "azblob"), ["gha"]),  # two swapped
        ("app-py314", CANDIDATES["target"], ["app-py311", "app-py312"]),  # equally near: both named
        ("v9", ("v5", "v6", "v7", "v8"), []),  # one slip from each of four: no guess
        ("linux/", COMMON_PLATFORMS, []),  # abbreviates many
    ],
)
def test_table(typed: str, candidates: tuple[str, ...], said: list[str]) -> None:
    assert suggest(typed, candidates) == said
    text = did_you_mean(typed, candidates)
    assert _said(text) == said
