"""scripts/roundtrip.py, its pure parts: which files make a case, how two `--print` answers are compared,
what a case's result and the report say. A fake BakeTools stands in for docker and bakepy."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

_PATH = Path(__file__).resolve().parents[2] / "scripts" / "roundtrip.py"
_spec = importlib.util.spec_from_file_location("roundtrip_script", _PATH)
assert _spec is not None and _spec.loader is not None
rt = importlib.util.module_from_spec(_spec)
sys.modules["roundtrip_script"] = rt  # dataclasses look their module up while the class is built
_spec.loader.exec_module(rt)

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def _touch(root: Path, *names: str, text: str = "") -> list[Path]:
    out = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out.append(path)
    return out


# -- discovery -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("docker-bake.hcl", "", True),
        ("ci.hcl", "", True),
        ("compose.yaml", "", True),
        ("docker-compose.prod.yml", "", True),
        ("repo__docker-compose.yml", "", True),
        ("docker-bake.json", '{"VERSIONS": []}', True),
        ("release.json", '{"target": {"a": {}}}', True),
        ("package.json", '{"name": "x"}', False),
        ("broken.json", "{", False),
        ("values.yaml", "", False),
        ("README.md", "", False),
    ],
)
def test_is_bake_file(tmp_path: Path, name: str, text: str, expected: bool) -> None:
    assert rt.is_bake_file(tmp_path / name, text) is expected


def test_each_file_is_its_own_case(tmp_path: Path) -> None:
    files = _touch(tmp_path, "a/docker-bake.hcl", "b/ci.hcl", "b/release.hcl")
    cases = rt.group_cases(files, tmp_path)
    assert [(c.name, len(c.files)) for c in cases] == [
        ("a/docker-bake.hcl", 1),
        ("b/ci.hcl", 1),
        ("b/release.hcl", 1),
    ]


def test_bake_discovery_set_goes_together_in_bake_order(tmp_path: Path) -> None:
    files = _touch(
        tmp_path,
        "docker-bake.override.hcl",
        "docker-bake.hcl",
        "docker-bake.json",
        "other.hcl",
    )
    cases = rt.group_cases(files, tmp_path)
    assert [[f.name for f in c.files] for c in cases] == [
        ["docker-bake.json", "docker-bake.hcl", "docker-bake.override.hcl"],
        ["other.hcl"],
    ]
    assert cases[0].name == "docker-bake.json + docker-bake.hcl + docker-bake.override.hcl"


def test_flattened_prefixes_keep_directories_apart(tmp_path: Path) -> None:
    files = _touch(
        tmp_path,
        "o__r/test__a__docker-bake.hcl",
        "o__r/test__a__docker-bake.json",
        "o__r/test__b__docker-bake.hcl",
    )
    cases = rt.group_cases(files, tmp_path)
    assert [[f.name for f in c.files] for c in cases] == [
        ["test__a__docker-bake.json", "test__a__docker-bake.hcl"],
        ["test__b__docker-bake.hcl"],
    ]


def test_named_override_goes_with_its_base(tmp_path: Path) -> None:
    files = _touch(tmp_path, "bake.hcl", "bake.override.hcl", "lonely.override.hcl")
    cases = rt.group_cases(files, tmp_path)
    assert [[f.name for f in c.files] for c in cases] == [
        ["bake.hcl", "bake.override.hcl"],
        ["lonely.override.hcl"],
    ]


def test_sets_file(tmp_path: Path) -> None:
    _touch(tmp_path, "docker-bake.hcl", "lib/docker-bake.hcl", "src/docker-bake.hcl")
    (tmp_path / rt.SETS_FILE).write_text(
        "# lib needs the root's functions\n"
        "docker-bake.hcl lib/docker-bake.hcl\n"
        "docker-bake.hcl   # alone too\n"
    )
    cases = rt.discover(tmp_path)
    assert [c.name for c in cases] == [
        "docker-bake.hcl",
        "docker-bake.hcl + lib/docker-bake.hcl",
        "src/docker-bake.hcl",
    ]


def test_sets_file_names_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / rt.SETS_FILE).write_text("\nnope.hcl\n")
    with pytest.raises(ValueError, match=r"roundtrip-sets.txt:2: no such file nope.hcl"):
        rt.discover(tmp_path)


def test_discover_skips_work_files_and_vendored_dirs(tmp_path: Path) -> None:
    _touch(tmp_path, "docker-bake.hcl", ".roundtrip.render.json", "vendor/x/docker-bake.hcl")
    (tmp_path / ".roundtrip.render.json").write_text('{"target": {}}')
    assert [c.name for c in rt.discover(tmp_path)] == ["docker-bake.hcl"]


# -- comparison ----------------------------------------------------------------------------------------------


def test_clock_values_only_near_now() -> None:
    text = "built 2026-03-04T05:06:01Z, released 2019-01-01T00:00:00Z, 2026-03-04T06:00:00+01:00"
    assert rt.clock_values(text, NOW) == ["2026-03-04T05:06:01Z", "2026-03-04T06:00:00+01:00"]


def test_clock_dates_of_the_day_are_clock_values() -> None:
    """formatdate("YYYY-MM-DD", timestamp()) prints a date: today's (or a day either side) counts, others not."""
    text = "RELEASE.2026-03-04 20260303 2019-01-01 12345678 2026-03-04-rc1"
    assert rt.clock_values(text, NOW) == ["2026-03-04", "20260303"]
    # formatdate("YYYYMMDDhhmm", timestamp()) in a tag (cloudnative-pg): the minute may turn between two prints
    assert rt.clock_values("pg:14.24-202603040506-minimal", NOW) == ["202603040506"]


def test_mask_clock_records_paths() -> None:
    masked: list[str] = []
    value = {"target": {"a": {"labels": {"created": "2026-03-04T05:06:00Z"}, "tags": ["x"]}}}
    out = rt.mask_clock(value, NOW, masked)
    assert out["target"]["a"]["labels"]["created"] == rt.CLOCK_MASK
    assert masked == ["target.a.labels.created"]


def test_compare_equal_ignores_key_order_and_context_spelling() -> None:
    a = {"target": {"t": {"context": "./src", "tags": ["x"], "args": {"A": "1", "B": "2"}}}}
    b = {"target": {"t": {"args": {"B": "2", "A": "1"}, "tags": ["x"], "context": "src"}}}
    assert rt.compare("t", a, b) == []


def test_compare_reads_platforms_and_ulimits_as_bake_builds_them() -> None:
    original = {
        "target": {
            "a": {"platforms": ["linux/amd64, linux/arm64"], "ulimits": ["nproc=1", "core=0"]}
        }
    }
    imported = {
        "target": {
            "a": {"platforms": ["linux/amd64", "linux/arm64"], "ulimits": ["core=0", "nproc=1"]}
        }
    }
    assert rt.compare("a", original, imported) == []


def test_compare_first_difference_is_a_key_path() -> None:
    a = {"target": {"t": {"platforms": ["linux/amd64", "linux/arm64/v8"]}}}
    b = {"target": {"t": {"platforms": ["linux/amd64", "linux/arm64"]}}}
    (diff,) = rt.compare("t", a, b)
    assert str(diff) == 'target.t.platforms[1]: "linux/arm64/v8" → "linux/arm64" (--print t)'
    assert diff.kind == "diff"


def test_compare_missing_keys_and_items() -> None:
    a = {"target": {"t": {"tags": ["x", "y"]}}}
    b = {"target": {"t": {"tags": ["x"], "pull": True}}}
    found = [(d.path, d.original, d.imported) for d in rt.compare("t", a, b)]
    assert found == [
        ("target.t.pull", "(missing)", "true"),
        ("target.t.tags[1]", '"y"', "(missing)"),
    ]


def test_compare_group_order_is_its_own_kind() -> None:
    a = {"group": {"g": {"targets": ["vet", "fmt"]}}}
    b = {"group": {"g": {"targets": ["fmt", "vet"]}}}
    (diff,) = rt.compare("g", a, b)
    assert (diff.kind, diff.path) == ("group-order", "group.g.targets")


def test_compare_reordered_list_outside_groups_is_a_diff() -> None:
    a = {"target": {"t": {"tags": ["a", "b"]}}}
    b = {"target": {"t": {"tags": ["b", "a"]}}}
    assert [d.kind for d in rt.compare("t", a, b)] == ["diff"]


# -- a case, with fake tools ---------------------------------------------------------------------------------


class FakeTools:
    """Answers like BakeTools from canned prints; `fail` maps a step to the error it raises."""

    python = False

    def __init__(
        self,
        original: Mapping[str, Any],
        imported: Mapping[str, Any],
        *,
        fail: Mapping[str, str] | None = None,
        project_text: str = "[target.app]\n",
    ) -> None:
        self.original, self.imported = original, imported
        self.fail = dict(fail or {})
        self.project_text = project_text
        self.cwd: Path | None = None

    def _maybe_fail(self, step: str) -> None:
        if step in self.fail:
            raise rt.ToolError([step], f"+ docker …\nerror: {self.fail[step]}\n")

    def listing(self, files: Sequence[str]) -> list[str]:
        self._maybe_fail("list")
        return sorted(self.original)

    def print_(self, files: Sequence[str], name: str) -> dict[str, Any]:
        rendered = files == [f"{rt.WORK_PREFIX}render.json"]
        self._maybe_fail("print-imported" if rendered else "print-original")
        source = self.imported if rendered else self.original
        if name not in source:
            raise rt.ToolError(["print"], f"ERROR: failed to find target {name}")
        return json.loads(json.dumps(source[name]))

    def import_(self, files: Sequence[str], out: str) -> list[str]:
        self._maybe_fail("import")
        assert self.cwd is not None
        (self.cwd / out).write_text(self.project_text)
        return ["variable.X: not kept as a variable"]

    def render(self, project: str, out: str) -> None:
        self._maybe_fail("render")


def _run(tmp_path: Path, tools: FakeTools, text: str = 'target "app" {}\n') -> Any:
    (bake,) = _touch(tmp_path / "in", "docker-bake.hcl", text=text)
    case = rt.Case("docker-bake.hcl", (bake,))

    def make(work: Path, sock: Path) -> FakeTools:
        tools.cwd = work
        return tools

    return rt.check_case(case, make, now=lambda: NOW)  # type: ignore[arg-type]


APP = {"app": {"group": {"default": {"targets": ["app"]}}, "target": {"app": {"tags": ["x"]}}}}


def test_case_ok_with_masked_clock_and_warnings(tmp_path: Path) -> None:
    original = {"app": {"target": {"app": {"labels": {"at": "2026-03-04T05:06:00Z"}}}}}
    imported = {"app": {"target": {"app": {"labels": {"at": "2026-03-04T05:05:58Z"}}}}}
    tools = FakeTools(original, imported, project_text='at = "2026-03-04T05:05:58Z"\n')
    result = _run(tmp_path, tools)
    assert result.status == "OK", result.reason
    assert result.original_lines == 1 and result.imported_lines == 1
    assert result.notes == [
        "clock value frozen in the import: 2026-03-04T05:05:58Z",
        "clock values masked at target.app.labels.at",
    ]
    assert result.line() == (
        "OK   docker-bake.hcl (1 → 1 lines, 1.0×; clock value frozen in the import: 2026-03-04T05:05:58Z; "
        "clock values masked at target.app.labels.at; 1 import warning)"
    )


def test_case_original_rejected_is_skipped(tmp_path: Path) -> None:
    result = _run(
        tmp_path, FakeTools(APP, APP, fail={"print-original": "secret.txt: no such file"})
    )
    assert (result.status, result.kind) == ("SKIP", "original")
    assert result.reason == "bake --print app of the original: secret.txt: no such file"
    assert result.imported_lines is None


@pytest.mark.parametrize(
    ("step", "kind"), [("import", "import"), ("render", "render"), ("print-imported", "print")]
)
def test_case_tool_failures(tmp_path: Path, step: str, kind: str) -> None:
    result = _run(tmp_path, FakeTools(APP, APP, fail={step: "bad value"}))
    assert (result.status, result.kind) == ("FAIL", kind)
    assert result.reason.endswith("bad value")


def test_case_missing_name(tmp_path: Path) -> None:
    result = _run(tmp_path, FakeTools(APP, {}))
    assert (result.status, result.kind) == ("FAIL", "missing")


def test_case_whose_original_builds_nothing_is_skipped(tmp_path: Path) -> None:
    """A compose file with image-only services: bake lists its `default` group and prints no target."""
    printed = {"default": {"group": {"default": {"targets": None}}}}
    result = _run(tmp_path, FakeTools(printed, printed))
    assert (result.status, result.reason) == ("SKIP", "the original has no targets")


def test_case_difference(tmp_path: Path) -> None:
    imported = {"app": {**APP["app"], "target": {"app": {"tags": ["y"], "pull": True}}}}
    result = _run(tmp_path, FakeTools(APP, imported))
    assert result.line() == (
        "FAIL docker-bake.hcl: diff: target.app.pull: (missing) → true (--print app) (+1 more)"
    )
    assert [d["path"] for d in result.differences] == ["target.app.pull", "target.app.tags[0]"]


def test_case_group_order_kept_when_bake_is_stable(tmp_path: Path) -> None:
    original = {"g": {"group": {"g": {"targets": ["vet", "fmt"]}}}}
    imported = {"g": {"group": {"g": {"targets": ["fmt", "vet"]}}}}
    written = 'group "g" {\n  targets = ["vet", "fmt"]\n}\n'
    result = _run(tmp_path, FakeTools(original, imported), written)
    assert (result.status, result.kind) == ("FAIL", "group-order")


MATRIX = """target "m" {
  matrix = {
    KEYS
  }
  name = "m-${v}"
}
"""


@pytest.mark.parametrize(
    ("keys", "status"), [('v = ["1", "2"]', "FAIL"), ('v = ["1", "2"]\n    w = ["a"]', "OK")]
)
def test_case_group_of_a_matrix_keeps_its_order_only_with_one_key(
    tmp_path: Path, keys: str, status: str
) -> None:
    """bake lists the group of a matrix of several keys in Go map order, which changes from run to run
    however often it is sampled: read from the files, its order is free (of one key, kept)."""
    original = {"m": {"group": {"m": {"targets": ["m-1", "m-2"]}}}}
    imported = {"m": {"group": {"m": {"targets": ["m-2", "m-1"]}}}}
    result = _run(tmp_path, FakeTools(original, imported), MATRIX.replace("KEYS", keys))
    assert result.status == status, result.reason


class ShiftingTools(FakeTools):
    """bake printing a matrix group of several keys: the first print in one nesting, every later one in the
    other (one nesting can come up far more often than the other)."""

    prints = 0

    def print_(self, files: Sequence[str], name: str) -> dict[str, Any]:
        if files == [f"{rt.WORK_PREFIX}render.json"]:
            return super().print_(files, name)
        self.prints += 1
        order = (
            ["m-a-1", "m-b-1", "m-a-2", "m-b-2"]
            if self.prints == 1
            else ["m-a-1", "m-a-2", "m-b-1", "m-b-2"]
        )
        return {"group": {"m": {"targets": order}}}


def test_case_group_order_is_free_when_the_original_print_itself_differs(tmp_path: Path) -> None:
    imported = {"m": {"group": {"m": {"targets": ["m-a-1", "m-a-2", "m-b-1", "m-b-2"]}}}}
    # written as a group, so only sampling bake's order can tell (the fallback when reading the files does not)
    written = 'group "m" {\n  targets = ["m-a-1", "m-a-2", "m-b-1", "m-b-2"]\n}\n'
    result = _run(tmp_path, ShiftingTools({"m": {}}, imported), written)
    assert result.status == "OK", result.reason


def test_kept_folder_names_stay_under_the_file_system_limit() -> None:
    assert rt.kept_name("owner__repo/docker-bake.hcl") == "owner__repo__docker-bake.hcl"
    long_set = " + ".join(f"owner__repo/dir{i}__docker-bake.hcl" for i in range(12))
    name = rt.kept_name(long_set)
    assert len(name.encode()) <= 200 and name.startswith("owner__repo__dir0__docker-bake.hcl+")
    assert name != rt.kept_name(long_set + " + x.hcl")


# -- reports -------------------------------------------------------------------------------------------------


def _result(
    status: str,
    kind: str = "",
    original: int = 10,
    imported: int | None = 12,
    warnings: Sequence[str] = (),
    case: str = "",
) -> Any:
    return rt.Result(
        case=case or f"{status}{kind}",
        files=[],
        status=status,
        kind=kind,
        reason="why",
        original_lines=original,
        imported_lines=imported,
        warnings=list(warnings),
    )


def test_summary_counts_and_line_ratio() -> None:
    results = [
        _result("OK"),
        _result("FAIL", "render"),
        _result("FAIL", "render"),
        _result("FAIL", "import", imported=None),
        _result("SKIP", "original", original=5, imported=None),
    ]
    summary = rt.summarise(results)
    assert summary["cases"] == 5
    assert (summary["OK"], summary["FAIL"], summary["SKIP"]) == (1, 3, 1)
    assert summary["fail_kinds"] == {"import": 1, "render": 2}
    assert summary["lines"] == {
        "cases": 3,
        "original": 45,
        "original_of_imported": 30,
        "imported": 36,
        "ratio": 1.2,
        "within_1_5x": True,
        "worst": {"case": "OK", "original": 10, "imported": 12, "ratio": 1.2},
        "over_1_5x": [],
    }
    text = rt.report_text(results)
    assert "FAIL FAILrender: render: why" in text
    assert "5 cases: 1 OK, 3 FAIL, 1 SKIP (import 1, render 2)" in text
    assert "30 of those imported became 36 imported lines (1.2×, within 1.5×)" in text
    assert "per case: worst 1.2× (10 → 12 lines, OK); 0 of 3 imported cases over 1.5×" in text
    doc = json.loads(rt.report_json(results))
    assert set(doc) == {"summary", "results"} and len(doc["results"]) == 5


def test_summary_per_case_ratios_worst_and_cases_over_the_limit() -> None:
    """The total can hide a small file that doubles: each case is judged on its own, exactly (3001 lines of
    2000 is over 1.5× although its ratio rounds to 1.5; 30 of 20 is not)."""
    results = [
        _result("OK", case="big", original=1000, imported=900),
        _result("OK", case="tiny", original=3, imported=6),
        _result("OK", case="edge", original=20, imported=30),
        _result("OK", case="over", original=2000, imported=3001),
        _result("SKIP", case="skipped", original=7, imported=None),
    ]
    lines = rt.summarise(results)["lines"]
    assert lines["ratio"] == 1.3 and lines["within_1_5x"] is True
    assert lines["worst"] == {"case": "tiny", "original": 3, "imported": 6, "ratio": 2.0}
    assert lines["over_1_5x"] == ["tiny", "over"]
    assert [r.ratio for r in results] == [0.9, 2.0, 1.5, 1.5, None]
    text = rt.summary_text(results)
    assert (
        "per case: worst 2.0× (3 → 6 lines, tiny); 2 of 4 imported cases over 1.5×: tiny, over"
        in text
    )
    assert results[1].line() == "OK   tiny (3 → 6 lines, 2.0×)"
    doc = json.loads(rt.report_json(results))
    assert [(r["case"], r["ratio"], r["over_1_5x"]) for r in doc["results"]] == [
        ("big", 0.9, False),
        ("tiny", 2.0, True),
        ("edge", 1.5, False),
        ("over", 1.5, True),
        ("skipped", None, False),
    ]


def test_summary_warnings_and_the_ones_about_the_same_thing() -> None:
    results = [
        _result("OK", case="a", warnings=['variable.TAG: frozen at "1": …']),
        _result(
            "OK",
            case="b",
            warnings=[
                'variable.TAG: frozen at "1": …',
                "target.app.labels.created: is the clock …",
                "target.app.labels.created: and 3 more values …",
            ],
        ),
    ]
    warnings = rt.summarise(results)["warnings"]
    assert warnings == {
        "total": 4,
        "most": {"case": "b", "warnings": 3},
        "repeated": {"b": ["target.app.labels.created"]},
    }
    assert (
        "warnings: 4 in all, at most 3 in one case (b); repeated: b: target.app.labels.created"
        in rt.summary_text(results)
    )
    assert "none about the same variable or attribute twice" in rt.summary_text(results[:1])


def test_summary_of_runs_that_imported_nothing() -> None:
    text = rt.summary_text([_result("SKIP", "original", original=5, imported=None)])
    assert "0 of those imported became 0 imported lines (nothing imported)" in text


def test_line_count() -> None:
    assert [rt.line_count(t) for t in ("", "a", "a\n", "a\nb")] == [0, 1, 1, 2]


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("+ docker buildx bake\nwarning: x\nerror: bad platform\nhint: fix it\n", "bad platform"),
        ("#1 loading\nERROR: failed to find target nope\n", "failed to find target nope"),
        ("something odd\n", "something odd"),
        ("", "(no message)"),
    ],
)
def test_error_line(stderr: str, expected: str) -> None:
    assert rt.error_line(stderr) == expected


def test_case_whose_original_buildx_would_not_build_is_skipped(tmp_path: Path) -> None:
    """bake prints `image:${VERSION}` with VERSION empty as `image:`, and refuses it only when it builds."""
    empty = {"app": {"target": {"app": {"tags": ["ghcr.io/o/app:", "ghcr.io/o/app:1"]}}}}
    result = _run(tmp_path, FakeTools(empty, empty))
    assert (result.status, result.kind) == ("SKIP", "original")
    assert "tag 'ghcr.io/o/app:' is no valid reference" in result.reason
    assert result.imported_lines is None


@pytest.mark.parametrize(
    ("tags", "bad"),
    [
        (["127.0.0.1:5000/app", "app:1.0", "app@sha256:" + "a" * 64, "a/b:c_d.e-f"], None),
        (["app:1.0", "app:"], "app:"),
        (["registry:5000/app:-x"], "registry:5000/app:-x"),
        (["app:" + "x" * 129], "app:" + "x" * 129),
        (["docker.io/docker/:1.0.0"], "docker.io/docker/:1.0.0"),
        (["-other:v1.0.0"], "-other:v1.0.0"),
        (["localhost/a__b/c-d:1", "ghcr.io/Org/app"], "ghcr.io/Org/app"),
    ],
)
def test_unbuildable_tag(tags: list[str], bad: str | None) -> None:
    assert rt.unbuildable_tag({"target": {"t": {"tags": tags}}}) == bad


def test_env_assignments_are_name_value() -> None:
    assert rt._assignment("MY_TOKEN=x=y") == "MY_TOKEN=x=y"
    for bad in ("MY_TOKEN", "=x"):
        with pytest.raises(rt.argparse.ArgumentTypeError, match="write NAME=VALUE"):
            rt._assignment(bad)


# -- --vary: values, outcomes, report ------------------------------------------------------------------------


def test_parse_variables_as_bake_lists_them() -> None:
    listed = json.dumps(
        [
            {"name": "N", "type": "number", "value": "3"},
            {"name": "NUL"},
            {"name": "PUSH", "description": "push it", "type": "bool", "value": "false"},
            {"name": "TAG", "value": "1.0"},
        ]
    )
    assert rt.parse_variables(listed) == [
        rt.BakeVariable("N", "3", "number"),
        rt.BakeVariable("NUL"),
        rt.BakeVariable("PUSH", "false", "bool"),
        rt.BakeVariable("TAG", "1.0"),
    ]
    assert rt.parse_variables("") == [] and rt.parse_variables("null") == []


MAILU = """variable "MAILU_VERSION" { default = "local" }
variable "PINNED_MAILU_VERSION" { default = "local" }
function "tag" {
  params = [image_name]
  result = [notequal("master",MAILU_VERSION) && notequal("master-arm", MAILU_VERSION) ? "x:${PINNED_MAILU_VERSION}" : ""]
}
"""


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("MAILU_VERSION", MAILU, ["master", "master-arm"]),
        ("PINNED_MAILU_VERSION", MAILU, []),
        (
            "ENV",
            'x = ENV == "prod" ? 1 : 2\ny = "stage" != ENV\nz = ENV == "prod"',
            ["prod", "stage"],
        ),
        ("V", 'a = lower(V) == "edge"\nb = equal(V, "1.2")\nc = V == 1', ["edge", "1.2", "1"]),
        ("E", 'condition = contains(["testing", "production"], E)', ["testing", "production"]),
        ("V", 'a = V == "${X}-1"\nb = local.V == "no"\nc = V_2 == "no"\nd = "V" == "no"', []),
        ("V", 'a = V == "say \\"hi\\""', ['say "hi"']),
        ("B", "a = B == true ? 1 : 2", ["true"]),
    ],
)
def test_compared_literals(name: str, text: str, expected: list[str]) -> None:
    assert rt.compared_literals(name, text) == expected


@pytest.mark.parametrize(
    ("default", "type_", "expected"),
    [
        ("1.0", None, "2.0"),
        ("v3.19", None, "v4.19"),
        ("alpine3.09-x", None, "alpine4.09-x"),
        ("build-09", None, "build-10"),
        ("3.11,3.12", None, "3.11"),
        ("linux/amd64,linux/arm64", None, "linux/amd64"),
        ("linux/amd64", None, "linux/arm64"),
        ("linux/arm64", None, "linux/amd64"),
        ("linux/arm/v7", None, "linux/arm64"),
        ("tonistiigi/xx", None, "tonistiigi/xx2"),
        ("mailu", None, "mailu2"),
        ("true", None, "false"),
        ("0", None, "1"),
        ("3", "number", "4"),
        ("1.5", "number", "2.5"),
        ("", None, None),
        (None, None, None),
        ('["a"]', None, None),
    ],
)
def test_shaped_like(default: str | None, type_: str | None, expected: str | None) -> None:
    assert rt.shaped_like(default, type_) == expected


def test_vary_values_of_a_string_probe_empty_compared_then_shaped() -> None:
    variable = rt.BakeVariable("MAILU_VERSION", "local")
    assert rt.vary_values(variable, [MAILU], limit=6) == [
        rt.VARY_PROBE,
        "",
        "master",
        "local2",
        "master-arm",
    ]
    assert rt.vary_values(variable, [MAILU]) == [rt.VARY_PROBE, "", "master", "local2"]
    assert rt.vary_values(variable, [MAILU], limit=1) == [rt.VARY_PROBE]


def test_vary_values_never_the_default() -> None:
    """A compared value or the empty string that is the default already is what the round trip checked."""
    text = 'x = CHANNEL == "mainline" ? "a" : "b"'
    assert rt.vary_values(rt.BakeVariable("CHANNEL", "mainline"), [text]) == [
        rt.VARY_PROBE,
        "",
        "mainline2",
    ]
    assert rt.vary_values(rt.BakeVariable("PREFIX", ""), []) == [rt.VARY_PROBE]
    assert rt.vary_values(rt.BakeVariable("NUL"), [], limit=3) == [rt.VARY_PROBE, ""]


def test_vary_values_of_a_bool_and_a_number() -> None:
    assert rt.vary_values(rt.BakeVariable("PUSH", "false", "bool"), []) == [
        "true",
        "1",
        "0",
        rt.VARY_PROBE,
    ]
    assert rt.vary_values(rt.BakeVariable("PUSH", "true", "bool"), [], limit=2) == ["false", "0"]
    assert rt.vary_values(rt.BakeVariable("N", "3", "number"), ["x = N == 7"], limit=6) == [
        "4",
        "0",
        "7",
        rt.VARY_PROBE,
        "",
    ]


@pytest.mark.parametrize(
    ("code", "stderr", "expected"),
    [
        (
            2,
            'error: bakepy.toml: variable.V: V="x" is set, but V is frozen at "1": …\nhint: import again\n',
            'bakepy.toml: variable.V: V="x" is set, but V is frozen at "1": …',
        ),
        (1, 'error: variable.V: V="x" is set, but V is frozen\n', None),
        (2, "error: target.app.tags[0]: 'o/app:' has an empty tag\n", None),
        (2, "error: V is frozen\nerror: and more\n", None),
        (2, "Traceback (most recent call last):\n  …\nerror: V\n", None),
        (2, "error: VERSION is frozen\n", None),
    ],
)
def test_refusal_is_one_line_exit_2_naming_the_variable(
    code: int, stderr: str, expected: str | None
) -> None:
    assert rt.refusal("V", code, stderr) == expected


def _tool_error(stderr: str, code: int = 2) -> Any:
    return rt.ToolError(["bakepy", "render"], stderr, code)


def test_vary_outcomes() -> None:
    refused = rt.vary_outcome("V", "x", render_error=_tool_error("error: V is frozen at 1\n"))
    assert (refused.outcome, refused.detail) == ("refused", "V is frozen at 1")
    crash = rt.vary_outcome(
        "V", "x", render_error=_tool_error("Traceback (most recent call last):\nKeyError: 'V'\n", 1)
    )
    assert crash.outcome == "bakepy-error"
    assert crash.detail == "bakepy render: exit 1: a traceback: KeyError: 'V'"
    other = rt.vary_outcome(
        "V", "", render_error=_tool_error("error: target.a.tags[0]: empty tag\n")
    )
    assert (other.outcome, other.detail) == (
        "bakepy-error",
        "bakepy render: exit 2: target.a.tags[0]: empty tag",
    )
    missing = rt.vary_outcome(
        "V", "x", print_error=_tool_error("ERROR: failed to find target m-x\n", 1)
    )
    assert (missing.outcome, missing.detail) == (
        "mismatch",
        "rendered import: failed to find target m-x",
    )
    unreadable = rt.vary_outcome("V", "x", print_error=_tool_error("ERROR: bad json\n", 1))
    assert unreadable.outcome == "bakepy-error"
    assert rt.vary_outcome("V", "x").outcome == "match"


def test_vary_differences_mask_the_clock_and_free_group_order() -> None:
    original = {
        "group": {"m": {"targets": ["m-1", "m-2"]}},
        "target": {"a": {"tags": ["o/a:x"], "labels": {"at": "2026-03-04T05:06:00Z"}}},
    }
    imported = {
        "group": {"m": {"targets": ["m-2", "m-1"]}},
        "target": {"a": {"tags": ["o/a:1.0"], "labels": {"at": "2026-03-04T05:06:09Z"}}},
    }
    diffs = rt.vary_differences(original, imported, set(), NOW)
    assert [d.path for d in diffs] == ["target.a.tags[0]"]
    kept = rt.vary_differences(original, imported, {"m"}, NOW)
    assert [(d.path, d.kind) for d in kept] == [
        ("group.m.targets", "group-order"),
        ("target.a.tags[0]", "diff"),
    ]
    check = rt.vary_outcome("V", "x", diffs=diffs)
    assert check.outcome == "mismatch"
    assert check.line("c.hcl") == 'mismatch     c.hcl: V="x": target.a.tags[0]: "o/a:x" → "o/a:1.0"'
    assert rt.vary_outcome("V", "x", diffs=kept).detail.endswith("(+1 more)")


def _varied(case: str, *checks: tuple[str, str, str, str], variables: int = 2) -> Any:
    result = _result("OK", case=case)
    result.vary_variables = variables
    result.vary = [{"variable": v, "value": x, "outcome": o, "detail": d} for v, x, o, d in checks]
    return result


def test_vary_report_lines_problems_and_totals() -> None:
    results = [
        _varied(
            "a.hcl",
            ("V", "zz-vary", "match", ""),
            ("V", "", "bake-rejects", "bake would not build tag 'o/a:'"),
            ("F", "master", "refused", "variable.F: F is frozen"),
            ("F", "dev", "refused", "variable.F: F is frozen"),
        ),
        _varied(
            "b.hcl",
            ("W", "1", "mismatch", 'target.b.tags[0]: "b:1" → "b:0"'),
            ("W", "", "bakepy-error", "bakepy render: exit 1: a traceback: KeyError"),
            variables=1,
        ),
    ]
    skipped = _result("SKIP", "original", case="c.hcl", imported=None)
    skipped.vary_note = "not varied: the round trip rendered no import (SKIP original)"
    results.append(skipped)
    assert results[0].vary_line() == (
        "     vary: 2 variables, 4 values: 1 match, 2 refused, 0 mismatch, 0 bakepy-error, 1 bake-rejects"
    )
    assert results[1].vary_line() == (
        "     vary: 1 variable, 2 values: 0 match, 0 refused, 1 mismatch, 1 bakepy-error, 0 bake-rejects"
    )
    assert _result("OK").vary_line() is None
    summary = rt.vary_summary(results, "bakefile.py")
    assert {k: v for k, v in summary.items() if k != "problems"} == {
        "form": "bakefile.py",
        "cases": 2,
        "not_varied": ["c.hcl"],
        "variables": 3,
        "values": 6,
        "match": 1,
        "refused": 2,
        "mismatch": 1,
        "bakepy-error": 1,
        "bake-rejects": 1,
        "refused_variables": 1,
        "holds": False,
    }
    assert [(p["case"], p["variable"], p["outcome"]) for p in summary["problems"]] == [
        ("b.hcl", "W", "mismatch"),
        ("b.hcl", "W", "bakepy-error"),
    ]
    text = rt.report_text(results, "bakefile.py")
    assert "OK   a.hcl (10 → 12 lines, 1.2×)\n     vary: 2 variables" in text
    assert "     vary: not varied: the round trip rendered no import (SKIP original)" in text
    assert text.endswith(
        'mismatch     b.hcl: W="1": target.b.tags[0]: "b:1" → "b:0"\n'
        'bakepy-error b.hcl: W="": bakepy render: exit 1: a traceback: KeyError\n'
        "vary (bakefile.py): 2 cases; 1 not varied, 3 variables, 6 values: 1 match, 2 refused, "
        "1 mismatch, 1 bakepy-error, 1 bake-rejects (1 variables refused); "
        "does not hold: 1 mismatch, 1 bakepy-error\n"
    )
    doc = json.loads(rt.report_json(results, "bakefile.py"))
    assert doc["summary"]["vary"]["mismatch"] == 1
    assert doc["results"][0]["vary"][2]["outcome"] == "refused"


def test_vary_totals_hold_with_refusals_only_and_are_absent_without_vary() -> None:
    results = [_varied("a.hcl", ("F", "x", "refused", "F is frozen"), variables=1)]
    assert rt.summary_text(results).endswith(
        "vary (bakepy.toml): 1 cases, 1 variables, 1 values: 0 match, 1 refused, 0 mismatch, "
        "0 bakepy-error, 0 bake-rejects (1 variables refused); holds: every value matched bake's print "
        "or was refused\n"
    )
    assert "vary" not in rt.summarise([_result("OK")])
    assert "vary" not in rt.summary_text([_result("OK")])


VARIED = """variable "TAG" {
  default = "1.0"
}
variable "FROZEN" {
  default = "a"
}
target "app" {
  tags = ["o/app:${TAG}", FROZEN == "b" ? "o/app:b" : "o/app:a"]
}
"""


@dataclass(frozen=True)
class ScriptedTools(rt.BakeTools):
    """BakeTools whose commands answer from a script instead of processes: bake prints TAG as it is given
    (`--var`) and FROZEN's branch; the import renders TAG from the environment but ignores TAG=2.0, and refuses
    FROZEN in one line."""

    def _run_both(self, argv: Sequence[str]) -> tuple[str, str]:
        args = list(argv)
        if "import" in args:
            (self.cwd / args[args.index("-o") + 1]).write_text(
                '[target.app]\ntags = ["o/app:${TAG}"]\n'
            )
            return "", ""
        if "render" in args:
            if "FROZEN" in self.env:
                raise rt.ToolError(args, 'error: variable.FROZEN: FROZEN is frozen at "a"\n', 2)
            return "", ""
        if "--list=type=variables,format=json" in args:
            return json.dumps(
                [{"name": "FROZEN", "value": "a"}, {"name": "TAG", "value": "1.0"}]
            ), ""
        if "--list=type=targets,format=json" in args:
            return json.dumps([{"name": "app"}]), ""
        assert "--print" in args
        given = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--var")
        if any(a.startswith(f"{rt.WORK_PREFIX}vary-") or a.endswith("render.json") for a in args):
            tag = self.env.get("TAG", "1.0")
            tag = "1.0" if tag == "2.0" else tag  # a value the import ignores
            return json.dumps({"target": {"app": {"tags": [f"o/app:{tag}", "o/app:a"]}}}), ""
        if given.get("FROZEN") == "":
            raise rt.ToolError(args, "ERROR: FROZEN must not be empty\n", 1)
        tag, branch = given.get("TAG", "1.0"), "b" if given.get("FROZEN") == "b" else "a"
        return json.dumps({"target": {"app": {"tags": [f"o/app:{tag}", f"o/app:{branch}"]}}}), ""


def test_case_varied_with_scripted_tools(tmp_path: Path) -> None:
    (bake,) = _touch(tmp_path / "in", "docker-bake.hcl", text=VARIED)
    case = rt.Case("docker-bake.hcl", (bake,))

    def make(work: Path, sock: Path) -> ScriptedTools:
        return ScriptedTools(cwd=work, env={"PATH": "/bin"}, bakepy=("bakepy",))

    result = rt.check_case(case, make, now=lambda: NOW, vary=4, jobs=2)
    assert result.status == "OK", result.reason
    found = {(c["variable"], c["value"]): (c["outcome"], c["detail"]) for c in result.vary}
    assert found == {
        ("FROZEN", rt.VARY_PROBE): ("refused", 'variable.FROZEN: FROZEN is frozen at "a"'),
        ("FROZEN", ""): ("bake-rejects", "FROZEN must not be empty"),
        ("FROZEN", "b"): ("refused", 'variable.FROZEN: FROZEN is frozen at "a"'),
        ("FROZEN", "a2"): ("refused", 'variable.FROZEN: FROZEN is frozen at "a"'),
        ("TAG", rt.VARY_PROBE): ("match", ""),
        ("TAG", ""): ("bake-rejects", "bake would not build tag 'o/app:'"),
        ("TAG", "2.0"): ("mismatch", 'target.app.tags[0]: "o/app:2.0" → "o/app:1.0"'),
    }
    assert result.vary_line() == (
        "     vary: 2 variables, 7 values: 1 match, 3 refused, 1 mismatch, 0 bakepy-error, 2 bake-rejects"
    )
    assert not list((tmp_path / "in").glob(f"{rt.WORK_PREFIX}*"))
