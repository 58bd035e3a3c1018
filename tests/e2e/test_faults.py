"""Registry faults during the tag moves, injected by a proxy in front of the second registry.

Every failed run must exit non-zero with every tag in both registries where it was before; with the fault
gone, one publish converges. Checked through the registries' own HTTP API (the upstream, not the proxy).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import registry_api as api
from e2e_support import bakepy, env_for, nonce_project

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from faultproxy import FaultProxy  # noqa: E402

RUNS = 10
TAGS = ["1.0", "1", "latest"]


@pytest.fixture
def proxy(stack) -> Iterator[FaultProxy]:
    with FaultProxy(stack.registries[1]) as running:
        yield running


def _state(registries: list[str], repo: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for registry in registries:
        for tag in TAGS:
            try:
                out[f"{registry}:{tag}"], _ = api.get_manifest(registry, repo, tag)
            except api.RegistryAPIError:
                out[f"{registry}:{tag}"] = None
    return out


@pytest.mark.parametrize(
    ("fault", "status"),
    [("status", 500), ("status", 400), ("reset", 0), ("forward-then-fail", 500)],
    ids=["500", "4xx-like-an-immutable-tag", "reset", "forward-then-fail"],
)
def test_a_failing_tag_put_leaves_every_tag_as_before_and_a_rerun_converges(
    stack, proxy: FaultProxy, unique_repo: str, tmp_path: Path, fault: str, status: int
) -> None:
    direct = [stack.registries[0], stack.registries[1]]  # what the assertions read: never the proxy
    root = nonce_project(tmp_path / "p", [stack.registries[0], proxy.address], unique_repo, TAGS)
    first = bakepy(["publish"], root, env_for(stack, NONCE="first"))
    assert first.returncode == 0, first.stderr
    before = _state(direct, unique_repo)
    assert all(before.values())

    failed = 0
    for run in range(RUNS):
        tag = TAGS[run % len(TAGS)]
        proxy.clear()
        # every PUT of that tag fails (buildx retries a failed PUT; a single fault would be retried away)
        proxy.add_rule("PUT", rf"/v2/{unique_repo}/manifests/{tag}$", fault, status=status)  # type: ignore[arg-type]
        # the client retries a 5xx or reset within the deadline: keep it short, the fault lasts
        env = env_for(stack, NONCE=uuid.uuid4().hex, BAKEPY_REGISTRY_TIMEOUT="2")
        result = bakepy(["publish"], root, env)
        after = _state(direct, unique_repo)
        if result.returncode == 0:  # buildx retried past the fault: every tag moved, all complete
            assert len({after[f"{r}:{t}"] for r in direct for t in TAGS}) == 1, result.stderr
            before = after
            continue
        failed += 1
        assert after == before, result.stderr
        assert "COULD NOT" not in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        if status == 400:  # a registry refusing to move a tag: the hint says why and what to do
            assert "refuses to move an existing tag" in result.stderr, result.stderr[-2000:]
    assert failed >= RUNS // 2, f"only {failed} of {RUNS} runs saw the fault fail them"

    proxy.clear()
    final = bakepy(["publish"], root, env_for(stack, NONCE="final"))
    assert final.returncode == 0, final.stderr
    converged = _state(direct, unique_repo)
    assert len(set(converged.values())) == 1
    _, index = api.get_manifest(direct[1], unique_repo, "latest")
    assert api.platforms(index) == {"linux/amd64", "linux/arm64"}


TIMEOUT = 2  # BAKEPY_REGISTRY_TIMEOUT for the delay runs: the proxy answers 10 s past it


def test_a_tag_move_answered_10s_past_the_timeout_fails_the_run_and_leaves_every_tag_as_before(
    stack, proxy: FaultProxy, unique_repo: str, tmp_path: Path
) -> None:
    """The proxy holds one tag's PUT for timeout + 10 s, then forwards it: the write lands late. bakepy fails
    the run at the timeout, but waits for the write it sent before putting tags back, so nothing lands after
    the roll back: every tag is where it was, read well after the delayed write went through."""
    direct = [stack.registries[0], stack.registries[1]]
    root = nonce_project(tmp_path / "p", [stack.registries[0], proxy.address], unique_repo, TAGS)
    first = bakepy(["publish"], root, env_for(stack, NONCE="first"))
    assert first.returncode == 0, first.stderr
    before = _state(direct, unique_repo)
    assert all(before.values())

    for run in range(RUNS):
        tag = TAGS[run % len(TAGS)]
        proxy.clear()
        delayed = proxy.add_rule(
            "PUT", rf"/v2/{unique_repo}/manifests/{tag}$", "delay", seconds=TIMEOUT + 10, times=1
        )
        env = env_for(stack, NONCE=uuid.uuid4().hex, BAKEPY_REGISTRY_TIMEOUT=str(TIMEOUT))
        result = bakepy(["publish"], root, env)
        assert delayed.fired == 1, "the fault never fired"
        assert result.returncode == 5, result.stderr
        assert f"no answer within {TIMEOUT} s" in result.stderr, result.stderr[-2000:]
        assert "COULD NOT" not in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert any(h.fault == "delay" and h.status == 201 for h in proxy.faults()), proxy.faults()
        assert _state(direct, unique_repo) == before, result.stderr  # the late write did not stay

    proxy.clear()
    final = bakepy(["publish"], root, env_for(stack, NONCE="final"))
    assert final.returncode == 0, final.stderr
    assert len(set(_state(direct, unique_repo).values())) == 1
