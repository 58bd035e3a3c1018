"""Fixtures and hooks for the end-to-end tests: the real build stack, unique repositories, CI strictness.

* ``stack`` (session): a running stack. With ``BAKEPY_E2E_BUILDER`` set it uses that existing buildx
  builder and the registries in ``BAKEPY_E2E_REGISTRIES`` (e.g. a laptop with Docker); otherwise it runs
  ``tests/stack.py`` install + up, reusing a stack that already runs, and at the end stops only what it
  started. If the stack cannot start the tests are skipped, except in CI (``CI=true``) where they fail.
* ``unique_repo``: a fresh repository path per test, so tests never see each other's tags.
* ``builder_factory``: starts extra independent builders (one per simulated CI runner), stopped after the test.
* Every test under tests/e2e gets ``pytest.mark.e2e``; in CI a skipped e2e test is reported as a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

E2E_DIR = Path(__file__).resolve().parent
TESTS_DIR = E2E_DIR.parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import stack as stack_manager  # noqa: E402  (tests/stack.py, importable once TESTS_DIR is on sys.path)

IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> NoReturn:
    """Skip locally, fail loudly in CI: a CI run that skips its e2e tests proves nothing."""
    if IN_CI:
        pytest.fail(f"e2e stack unavailable in CI (CI=true): {reason}", pytrace=False)
    pytest.skip(f"e2e stack unavailable: {reason}")


@pytest.fixture(scope="session")
def stack() -> Generator[stack_manager.Stack, None, None]:
    builder = os.environ.get("BAKEPY_E2E_BUILDER")
    if builder:
        registries = [
            r.strip() for r in os.environ.get("BAKEPY_E2E_REGISTRIES", "").split(",") if r.strip()
        ]
        if not registries:
            _unavailable("BAKEPY_E2E_BUILDER is set but BAKEPY_E2E_REGISTRIES is empty")
        overlay = {"BUILDX_BUILDER": builder}
        yield stack_manager.Stack(
            builder=builder,
            registries=registries,
            mirror=os.environ.get("BAKEPY_E2E_MIRROR") or None,
            env={**os.environ, **overlay},
            env_overlay=overlay,
        )
        return

    config = stack_manager.StackConfig.from_env()
    try:
        stack_manager.install(config)
        running = stack_manager.up(config)
    except (stack_manager.StackError, OSError) as exc:
        _unavailable(f"{type(exc).__name__}: {exc}")
    try:
        yield running
    finally:
        if running.started:
            stack_manager.down(config, components=running.started)


@pytest.fixture
def builder_factory(
    stack: stack_manager.Stack,
) -> Generator[Callable[..., stack_manager.Builder], None, None]:
    """``make(name, platforms=None) -> Builder``: a fresh extra buildkitd + buildx builder.

    Each starts with an empty cache, like a new CI runner, and is stopped and deleted after the test.
    """
    if os.environ.get("BAKEPY_E2E_BUILDER"):
        _unavailable("extra builders need the local stack (BAKEPY_E2E_BUILDER is set)")
    config = stack_manager.StackConfig.from_env()
    made: list[str] = []

    def make(
        name: str, platforms: Sequence[str] | None = None, extra_config: str = ""
    ) -> stack_manager.Builder:
        builder = stack_manager.start_builder(
            name, platforms, fresh=True, config=config, extra_config=extra_config
        )
        made.append(name)
        return builder

    yield make
    for name in made:
        stack_manager.stop_builder(name, config=config, purge=True)


@pytest.fixture
def two_node_builder(builder_factory: Callable[..., object]) -> Iterator[str]:
    """One buildx builder with two remote nodes: amd64 on one buildkitd, arm64 (QEMU) on another."""
    amd = builder_factory(f"amd-{uuid.uuid4().hex[:6]}", platforms=["linux/amd64"])
    arm = builder_factory(f"arm-{uuid.uuid4().hex[:6]}", platforms=["linux/arm64"])
    name = f"two-{uuid.uuid4().hex[:6]}"
    create = ["docker", "buildx", "create", "--name", name, "--driver", "remote"]
    subprocess.run(
        [*create, "--node", "amd", "--platform", "linux/amd64", amd.address],  # type: ignore[attr-defined]
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*create, "--append", "--node", "arm", "--platform", "linux/arm64", arm.address],  # type: ignore[attr-defined]
        check=True,
        capture_output=True,
    )
    try:
        yield name
    finally:
        subprocess.run(["docker", "buildx", "rm", name], capture_output=True)


@pytest.fixture(scope="session")
def buildx_plugin() -> None:
    """The docker CLI with its buildx plugin: all `docker buildx bake --print` needs (no builder, no stack)."""
    done = subprocess.run(["docker", "buildx", "version"], capture_output=True, timeout=60)
    if done.returncode != 0:
        pytest.skip("docker buildx is not installed")


@pytest.fixture
def unique_repo(request: pytest.FixtureRequest) -> str:
    """``bakepy-test/<test name>-<8 hex>``: a repository no other test (or earlier run) uses."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60].strip("-")
    return f"bakepy-test/{name or 'test'}-{uuid.uuid4().hex[:8]}"


def _is_e2e(item: pytest.Item) -> bool:
    return Path(str(item.path)).resolve().is_relative_to(E2E_DIR)


@pytest.hookimpl(tryfirst=True)  # before `-m` selection, so `-m "not e2e"` sees the marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_e2e(item):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if IN_CI and report.skipped and _is_e2e(item) and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"e2e test skipped in CI (CI=true), which counts as a failure: {reason}"
    return report
