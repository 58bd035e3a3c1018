"""Throttling and transient faults during a publish: a 429 with Retry-After and a reset are waited out, a 429
that lasts past the deadline fails the run with every tag as before.

A fault proxy stands in front of the stack's second registry; the assertions read the registries' own HTTP API
(the upstream, never the proxy)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import registry_api as api
from e2e_support import bakepy, env_for, nonce_project
from faultproxy import FaultProxy

TAGS = ["1.0", "latest"]


@pytest.fixture
def proxy(stack) -> Iterator[FaultProxy]:
    with FaultProxy(stack.registries[1]) as running:
        yield running


def _state(registry: str, repo: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for tag in TAGS:
        try:
            out[tag], _ = api.get_manifest(registry, repo, tag)
        except api.RegistryAPIError:
            out[tag] = None
    return out


def test_a_429_with_retry_after_on_a_tag_put_and_a_reset_on_a_read_are_waited_out(
    stack, proxy: FaultProxy, unique_repo: str, tmp_path: Path
) -> None:
    root = nonce_project(tmp_path / "p", [proxy.address], unique_repo, TAGS)
    throttled = proxy.add_rule(
        "PUT", rf"/v2/{unique_repo}/manifests/latest$", "status", status=429,
        headers={"Retry-After": "1"}, times=1,
    )  # fmt: skip
    # bakepy's first read of what the build pushed (BuildKit itself never GETs a manifest by digest)
    reset = proxy.add_rule("GET", rf"/v2/{unique_repo}/manifests/sha256:", "reset", times=1)
    started = time.monotonic()
    result = bakepy(["publish", "--progress", "plain"], root, env_for(stack, NONCE="1"))
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    assert (throttled.fired, reset.fired) == (1, 1), proxy.faults()
    assert re.search(
        r"retry 1: PUT .*/manifests/latest after HTTP 429 \(Retry-After 1 s\)", result.stderr
    )
    # the reset read was asked again: over a fresh connection at once where it came on a kept-alive one (what a
    # registry closing an idle connection looks like), else after a logged backoff
    assert sum(1 for h in proxy.log if h.method == "GET" and "/manifests/sha256:" in h.path) >= 2
    assert took >= 1.0  # the Retry-After was honoured
    state = _state(stack.registries[1], unique_repo)
    assert state["latest"] is not None and state["latest"] == state["1.0"]
    _, index = api.get_manifest(stack.registries[1], unique_repo, "latest")
    assert api.platforms(index) == {"linux/amd64", "linux/arm64"}


def test_a_429_that_lasts_past_the_deadline_fails_the_run_and_leaves_every_tag_as_before(
    stack, proxy: FaultProxy, unique_repo: str, tmp_path: Path
) -> None:
    root = nonce_project(tmp_path / "p", [proxy.address], unique_repo, TAGS)
    first = bakepy(["publish"], root, env_for(stack, NONCE="1"))
    assert first.returncode == 0, first.stderr[-3000:]
    before = _state(stack.registries[1], unique_repo)
    assert all(before.values())

    proxy.add_rule(
        "PUT", rf"/v2/{unique_repo}/manifests/latest$", "status", status=429,
        headers={"Retry-After": "1"},
    )  # fmt: skip
    started = time.monotonic()
    env = env_for(stack, NONCE="2", BAKEPY_REGISTRY_TIMEOUT="3")
    failed = bakepy(["publish", "--progress", "plain"], root, env)
    took = time.monotonic() - started
    assert failed.returncode == 5, failed.stderr[-3000:]
    assert "429" in failed.stderr and "Traceback" not in failed.stderr, failed.stderr[-3000:]
    assert "COULD NOT" not in failed.stderr, failed.stderr[-3000:]
    assert took < 120, "the deadline did not bound the retries"
    assert _state(stack.registries[1], unique_repo) == before
