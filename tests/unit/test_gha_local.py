"""The expression subset of tests/gha_local.py (the local GitHub Actions executor the e2e tests run the generated
workflow with): what it evaluates, and that anything else is refused rather than guessed."""

from __future__ import annotations

from pathlib import Path

import pytest
from gha_local import Event, LocalRunner, Unsupported, _read_outputs, evaluate, interpolate

CONTEXTS = {
    "github": {"event_name": "push", "ref": "refs/tags/v1.2.3"},
    "matrix": {"platform": "linux/arm64", "qemu": True, "slug": "linux-arm64"},
    "needs": {"plan": {"outputs": {"matrix": '{"include":[{"platform":"linux/amd64"}]}'}}},
    "secrets": {"GITHUB_TOKEN": "t"},
}


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("github.event_name != 'pull_request'", True),
        ("!(github.event_name != 'pull_request')", False),
        ("github.event_name == 'PUSH'", True),  # GitHub compares strings case-insensitively
        ("matrix.qemu", True),
        ("matrix.missing", None),
        ("matrix.qemu && github.event_name == 'push'", True),
        ("false || 'x'", "x"),
        ("fromJSON(needs.plan.outputs.matrix)", {"include": [{"platform": "linux/amd64"}]}),
        ("${{ secrets.GITHUB_TOKEN }}", "t"),
    ],
)
def test_expressions(expression: str, value: object) -> None:
    assert evaluate(expression, CONTEXTS) == value


def test_interpolation_keeps_a_whole_expressions_type() -> None:
    assert (
        interpolate("bakepy-records-${{ matrix.slug }}", CONTEXTS) == "bakepy-records-linux-arm64"
    )
    assert interpolate("${{ matrix.qemu }}", CONTEXTS) is True
    assert interpolate({"a": ["${{ matrix.platform }}"]}, CONTEXTS) == {"a": ["linux/arm64"]}


@pytest.mark.parametrize("expression", ["hashFiles('x')", "inputs.x", "matrix.a[0]", "a ? b"])
def test_anything_else_is_refused(expression: str) -> None:
    with pytest.raises(Unsupported):
        evaluate(expression, CONTEXTS)


def test_outputs_files(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text('matrix={"a":1}\ntext<<EOF\none\ntwo\nEOF\ncontext=\n')
    assert _read_outputs(path) == {"matrix": '{"a":1}', "text": "one\ntwo", "context": ""}


@pytest.mark.parametrize(
    ("event", "triggered"),
    [
        (Event("push", "refs/tags/v1.2.3", "a"), True),
        (Event("push", "refs/tags/release", "a"), False),
        (Event("push", "refs/heads/main", "a"), True),
        (Event("push", "refs/heads/feature", "a"), False),
        (Event("pull_request", "refs/pull/7/merge", "a", pr=7), True),
    ],
)
def test_the_workflow_triggers(tmp_path: Path, event: Event, triggered: bool) -> None:
    runner = LocalRunner(tmp_path, tmp_path / "w", event, runners={}, env={})
    on = {"push": {"branches": ["main"], "tags": ["v*"]}, "pull_request": None}
    assert runner.triggered({True: on}) is triggered
