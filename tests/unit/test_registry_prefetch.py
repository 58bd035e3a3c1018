"""Reads started early (`registry.prefetch`, `records.prefetch_sources`) and the runner's idle work: what a merge
does while it only waits. The registry side is a stand-in for `_read` (the registry API itself is exercised end
to end in tests/e2e/test_registries.py and by bench/merge.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bakepy.engine import registry, transport
from bakepy.engine.runner import Runner, _default_logger
from bakepy.errors import RegistryError
from bakepy.publish.index import ImageIndex
from bakepy.publish.records import DigestRecord, prefetch_sources, write_records

DIGEST = "sha256:" + "ab" * 32
INDEX = ImageIndex(DIGEST, "application/vnd.oci.image.index.v1+json", (), raw=b"{}")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every read that reaches the registry, by reference; `prefetch`'s pending reads forgotten after."""
    seen: list[str] = []
    lock = threading.Lock()

    def fake_read(ref: str, *, timeout: float) -> ImageIndex | None:
        with lock:
            seen.append(ref)
        if "broken" in ref:
            raise RegistryError(f"{ref}: the registry answered 500 to a read")
        return INDEX

    def fake_list(repository: str, **kw: object) -> set[str]:
        with lock:
            seen.append(f"list {repository}")
        return {"latest"}

    monkeypatch.setattr(registry, "_read", fake_read)
    monkeypatch.setattr(registry, "tag_names", fake_list)
    monkeypatch.setattr(transport.session(), "prime", lambda registries: None)
    yield seen
    registry._PREFETCHED.clear()
    registry._PREFETCHED_LISTS.clear()


def test_a_prefetched_read_is_taken_once_and_a_failed_one_read_again(reads: list[str]) -> None:
    good, broken = f"r:5000/app@{DIGEST}", f"r:5000/broken@{DIGEST}"
    registry.prefetch([good, broken, "r:5000/app:latest"])  # a tag is never read early
    assert registry.read(good) is INDEX
    with pytest.raises(RegistryError):
        registry.read(broken)  # read again: its error where it is needed
    assert registry.read(good) is INDEX  # taken once: a second read asks again
    assert sorted(reads) == sorted([good, broken, broken, good])


def test_a_read_started_by_another_run_is_not_taken(
    reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = f"r:5000/app@{DIGEST}"
    registry.prefetch([ref])
    monkeypatch.setattr(transport, "_SESSION", transport.Session())  # the next run in this process
    registry.read(ref)
    deadline = time.monotonic() + 5
    while len(reads) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reads == [ref, ref]


def test_the_records_sources_are_read_in_every_repository_they_were_pushed_to(
    reads: list[str], tmp_path: Path
) -> None:
    record = DigestRecord(
        target="app",
        platform="linux/amd64",
        digest=DIGEST,
        source=DIGEST,
        media_type="application/vnd.oci.image.index.v1+json",
        size=2,
        repositories=("r1:5000/x/app", "r2:5000/x/app"),
        fingerprint="f" * 12,
    )
    write_records(tmp_path, [record])
    prefetch_sources(tmp_path)
    prefetch_sources(tmp_path / "missing")  # nothing to read early: nothing happens
    deadline = time.monotonic() + 5
    while len(reads) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(reads) == [
        "list r1:5000/x/app",
        "list r2:5000/x/app",
        f"r1:5000/x/app@{DIGEST}",
        f"r2:5000/x/app@{DIGEST}",
    ]
    # a tag list read early is the run's first read of it, taken once
    assert registry.tag_list_of_run("r1:5000/x/app") == {"latest"}
    registry.tag_list_of_run("r1:5000/x/app")
    assert reads.count("list r1:5000/x/app") == 2


def test_idle_work_runs_once_and_its_failure_is_its_own() -> None:
    runner = Runner(log=lambda line: None)
    done: list[str] = []
    runner.idle += [lambda: done.append("a"), lambda: 1 / 0, lambda: done.append("b")]
    runner.run_idle()
    runner.run_idle()
    assert done == ["a", "b"] and runner.idle == []


def test_commands_are_plain_lines_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    _default_logger("+ docker buildx bake [dim] --print")
    assert capsys.readouterr().err == "+ docker buildx bake [dim] --print\n"
