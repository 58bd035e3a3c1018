"""Own only what this run wrote (issue 23), against an in-memory registry: a tag is absent only when confirmed,
each tag goes back to what it held right before this run's write, another run's move stops the commit and
survives the roll back, reads and put-backs are retried, and what cannot be restored is named with a command;
the journal is written, locked, read back and finished."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bakepy.engine import registry
from bakepy.engine.runner import Runner
from bakepy.errors import RegistryError
from bakepy.publish import journal
from bakepy.publish.index import ImageIndex, ManifestEntry, repository_of
from bakepy.publish.merge import (
    Ledger,
    Staged,
    TagRaceError,
    TagWrite,
    commit,
    confirm_absent,
    decide,
    put_back,
    read_settled,
    read_tag,
    settle_pause,
)
from bakepy.publish.sources import Collected, TargetSpec

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPO = "r1:5000/app"
TAGS = (f"{REPO}:1.0", f"{REPO}:1", f"{REPO}:latest")


def made(name: str, platform: str = "linux/amd64") -> ImageIndex:
    image = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
    raw = json.dumps({"name": name}).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    return ImageIndex(
        digest, OCI_INDEX, (ManifestEntry(image, OCI_MANIFEST, 1, platform),), raw=raw
    )


OLD, NEW, OTHER = made("old"), made("new"), made("other")


@dataclass
class FakeRegistry:
    """Tags and manifests by digest of one registry, with scripted faults."""

    tags: dict[str, str] = field(default_factory=dict)
    manifests: dict[str, ImageIndex] = field(default_factory=dict)
    absent_once: set[str] = field(default_factory=set)  # a tag read answers 404 once
    failing_reads: dict[str, int] = field(default_factory=dict)  # tag → reads that fail (-1: all)
    failing_puts: dict[str, int] = field(default_factory=dict)
    listed: bool = True  # the tag list answers
    on_read: dict[str, str] = field(default_factory=dict)  # tag → digest another writer moves it to
    puts: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def head_digest(self, ref: str, *, timeout: float = 30.0) -> str | None:
        if self.failing_reads.get(ref, 0):
            self.failing_reads[ref] -= 1
            raise RegistryError(f"{ref}: the registry answered 500 to a read")
        if ref in self.absent_once:
            self.absent_once.discard(ref)
            return None
        now = self.tags.get(ref)
        if ref in self.on_read:  # another writer, right after this read
            self.tags[ref] = self.on_read.pop(ref)
        return now

    def read(self, ref: str, *, timeout: float = 30.0) -> ImageIndex | None:
        return self.manifests.get(ref.partition("@")[2])

    def inspect(self, runner: object, ref: str) -> ImageIndex | None:
        return self.manifests.get(ref.partition("@")[2])

    def put_tag(self, ref: str, body: bytes, media_type: str, **kw: object) -> None:
        if self.failing_puts.get(ref, 0):
            self.failing_puts[ref] -= 1
            raise RegistryError(f"{ref}: the registry answered 500 to the tag move")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.tags[ref] = digest
        self.puts.append((ref, digest))

    def delete_tag(self, ref: str, *, digest: str, others_safe: bool) -> bool:
        self.tags.pop(ref, None)
        self.deleted.append(ref)
        return True

    def tag_names(self, repository: str, **kw: object) -> set[str] | None:
        if not self.listed:
            return None
        return {t.rpartition(":")[2] for t in self.tags if repository_of(t) == repository}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRegistry]:
    monkeypatch.setenv("BAKEPY_REGISTRY_TIMEOUT", "2")
    fake = FakeRegistry(manifests={i.digest: i for i in (OLD, NEW, OTHER)})
    for name in ("head_digest", "read", "inspect", "put_tag", "delete_tag", "tag_names"):
        monkeypatch.setattr(registry, name, getattr(fake, name))
    yield fake


RUNNER = Runner(log=lambda line: None, echo_output=False)


def staged(current: dict[str, ImageIndex | None]) -> Staged:
    spec = TargetSpec("app", ("linux/amd64",), (REPO,), TAGS)
    collected = Collected(spec, (NEW.digest,), dict(NEW.platform_digests()), 0, {NEW.digest: NEW})
    return Staged(decide(collected, current), NEW.digest, NEW)


# -- 1. absent means absent --------------------------------------------------------------------------------
def test_a_tag_read_absent_once_but_listed_by_the_registry_is_read_again(
    fake: FakeRegistry,
) -> None:
    fake.tags = {TAGS[0]: OLD.digest}
    assert confirm_absent(RUNNER, {TAGS[0]: None}) == {TAGS[0]: OLD}


def test_without_a_tag_list_a_second_read_decides(fake: FakeRegistry) -> None:
    fake.listed = False
    fake.tags = {TAGS[0]: OLD.digest}
    assert confirm_absent(RUNNER, {TAGS[0]: None, TAGS[1]: None}) == {TAGS[0]: OLD, TAGS[1]: None}


def test_a_read_that_differs_from_what_is_expected_is_read_twice(fake: FakeRegistry) -> None:
    fake.tags = {TAGS[0]: OLD.digest}
    fake.absent_once = {TAGS[0]}
    assert read_tag(RUNNER, TAGS[0], expect=OLD.digest) == OLD.digest


def test_a_failing_read_is_read_again_within_the_deadline(fake: FakeRegistry) -> None:
    fake.tags = {TAGS[0]: OLD.digest}
    fake.failing_reads = {TAGS[0]: 2}
    assert read_tag(RUNNER, TAGS[0]) == OLD.digest


# -- 2. optimistic concurrency ------------------------------------------------------------------------------
def test_a_tag_moved_by_another_run_before_its_put_stops_the_commit_and_is_named(
    fake: FakeRegistry,
) -> None:
    fake.tags = dict.fromkeys(TAGS, OLD.digest)
    s = staged(dict.fromkeys(TAGS, OLD))
    fake.tags[TAGS[1]] = OTHER.digest  # moved after the run's first read
    ledger = Ledger()
    errors = commit(RUNNER, [s], ledger=ledger, workers=1)
    assert isinstance(errors[0], TagRaceError) and errors[0].exit_code == 9
    assert f"lost the race for {TAGS[1]}: another run moved it to {OTHER.digest}" in str(errors[0])
    assert TAGS[1] not in {w.tag for w in ledger.sent()}  # never written
    assert (TAGS[1], NEW.digest) not in fake.puts
    report = put_back(RUNNER, ledger.sent())
    assert fake.tags == {TAGS[0]: OLD.digest, TAGS[1]: OTHER.digest, TAGS[2]: OLD.digest}
    assert report.clean


def test_force_overwrites_and_keeps_the_overwritten_value_to_restore(fake: FakeRegistry) -> None:
    fake.tags = dict.fromkeys(TAGS, OLD.digest)
    s = staged(dict.fromkeys(TAGS, OLD))
    fake.tags[TAGS[1]] = OTHER.digest
    ledger = Ledger()
    assert commit(RUNNER, [s], ledger=ledger, force=True) == []
    assert ledger.forced == [(TAGS[1], OLD.digest, OTHER.digest)]
    assert set(fake.tags.values()) == {NEW.digest}
    report = put_back(RUNNER, ledger.sent())
    assert fake.tags[TAGS[1]] == OTHER.digest  # back to what it held right before this run's write
    assert sorted(report.restored) == sorted(TAGS)


# -- 1 and 4. the roll back ----------------------------------------------------------------------------------
def write(tag: str, pre: ImageIndex | None, *, landed: bool = True) -> TagWrite:
    return TagWrite(tag, REPO, NEW.digest, pre.digest if pre else None, landed=landed)


def test_the_roll_back_restores_removes_and_leaves_alone_by_what_each_tag_holds(
    fake: FakeRegistry,
) -> None:
    fake.tags = {TAGS[0]: NEW.digest, TAGS[1]: OTHER.digest, TAGS[2]: NEW.digest}
    fake.tags[f"{REPO}:new"] = NEW.digest
    report = put_back(
        RUNNER,
        [write(TAGS[0], OLD), write(TAGS[1], OLD), write(TAGS[2], OLD), write(f"{REPO}:new", None)],
        befores={OLD.digest},
    )
    assert sorted(report.restored) == sorted([TAGS[0], TAGS[2]])
    assert report.foreign == [(TAGS[1], OTHER.digest)]
    assert report.removed == [f"{REPO}:new"]
    assert fake.tags == {TAGS[0]: OLD.digest, TAGS[1]: OTHER.digest, TAGS[2]: OLD.digest}
    assert f"left alone, moved by someone else during this run: {TAGS[1]} (now {OTHER.digest})" in (
        report.describe()
    )


def test_a_tag_that_cannot_be_read_is_still_put_back_when_its_write_was_sent(
    fake: FakeRegistry,
) -> None:
    fake.tags = {TAGS[0]: NEW.digest}
    fake.failing_reads = {TAGS[0]: -1}
    report = put_back(RUNNER, [write(TAGS[0], OLD)])
    assert fake.tags[TAGS[0]] == OLD.digest
    assert report.restored == [TAGS[0]] and report.unread == [TAGS[0]] and report.clean
    assert "without a read to confirm it" in report.describe()


def test_what_cannot_be_put_back_is_named_with_the_command_that_does(fake: FakeRegistry) -> None:
    fake.tags = {TAGS[0]: NEW.digest}
    fake.failing_puts = {TAGS[0]: -1}

    def refuse(*args: object, **kwargs: object) -> str:
        raise RegistryError("imagetools create: refused")

    runner = Runner(log=lambda line: None, echo_output=False)
    runner.imagetools_create = refuse  # type: ignore[method-assign]
    report = put_back(runner, [write(TAGS[0], OLD)])
    assert not report.clean
    assert (
        f"restore it with: docker buildx imagetools create --prefer-index=false --tag {TAGS[0]} "
        f"{REPO}@{OLD.digest}" in report.describe()
    )


# -- 3. the journal ------------------------------------------------------------------------------------------
def moves() -> list[journal.Move]:
    return [journal.Move(t, REPO, NEW.digest, OLD.digest) for t in TAGS]


def test_the_journal_is_written_locked_read_and_finished(tmp_path: Path) -> None:
    live = journal.Journal.begin(tmp_path, moves())
    live.mark(TAGS[0], "sending", OLD.digest)
    live.mark(TAGS[0], "landed")
    live.mark(TAGS[1], "sending", OLD.digest)
    live.mark(TAGS[1], "skipped")
    live.mark(TAGS[2], "sending", OTHER.digest)
    with (tmp_path / journal.MARKS).open("a") as marks:
        marks.write('{"tag": "torn')  # a crash mid-write
    assert journal.pending(tmp_path.parent) == [tmp_path]
    with journal.taken(tmp_path) as other:
        assert other is None  # its run still holds it
    entry = journal.read_entry(tmp_path)
    assert entry.moves == tuple(moves())
    assert entry.sent == {TAGS[0]: OLD.digest, TAGS[2]: OTHER.digest}
    assert entry.landed == {TAGS[0]}
    live.finish()
    assert not (tmp_path / journal.JOURNAL).exists() and not (tmp_path / journal.MARKS).exists()


def test_a_killed_runs_journal_is_rolled_back_or_found_committed(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    run = tmp_path / "runs" / "killed"
    run.mkdir(parents=True)
    live = journal.Journal.begin(run, moves())
    for tag in TAGS[:2]:
        live.mark(tag, "sending", OLD.digest)
    live.release()  # the process died: the kernel drops its lock
    fake.tags = {TAGS[0]: NEW.digest, TAGS[1]: OTHER.digest, TAGS[2]: OLD.digest}
    (done,) = journal.finish_pending(RUNNER, tmp_path / "runs")
    assert not done.committed and done.clean
    assert fake.tags == {TAGS[0]: OLD.digest, TAGS[1]: OTHER.digest, TAGS[2]: OLD.digest}
    assert "put back 1 tag(s)" in done.describe() and OTHER.digest in done.describe()
    assert journal.pending(tmp_path / "runs") == []

    live = journal.Journal.begin(run, moves())
    for tag in TAGS:
        live.mark(tag, "sending", OLD.digest)
    live.release()
    fake.tags = dict.fromkeys(TAGS, NEW.digest)
    (done,) = journal.finish_pending(RUNNER, tmp_path / "runs")
    assert done.committed and set(fake.tags.values()) == {NEW.digest}


def test_only_the_mark_that_a_write_may_leave_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = journal.Journal.begin(tmp_path, moves())
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    live.mark(TAGS[0], "sending", OLD.digest)
    opened = len(synced)  # the marks file made: it and its folder, once
    live.mark(TAGS[1], "sending", OLD.digest)
    live.mark(TAGS[0], "landed")
    live.mark(TAGS[1], "skipped")
    assert len(synced) == opened + 1
    live.finish()


def test_each_tag_is_read_back_its_own_pause_after_its_move(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = Ledger()
    start = time.monotonic()
    for i, tag in enumerate(
        TAGS
    ):  # each move took 50 ms, none while another was under way: pause 0.1 s
        ledger.sending(TagWrite(tag, REPO, NEW.digest, OLD.digest), OLD.digest)
        ledger.writes[tag].read_at = start + 0.1 * i - 0.05
        ledger.landed(tag)
        ledger.writes[tag].landed_at = start + 0.1 * i
        ledger.moves_in["r1:5000"][-1] = (start + 0.1 * i - 0.05, start + 0.1 * i)
    read_at: dict[str, float] = {}

    def inspect_many(runner: object, refs: list[str], **kw: object) -> dict[str, ImageIndex]:
        read_at.update(dict.fromkeys(refs, time.monotonic()))
        return dict.fromkeys(refs, NEW)

    monkeypatch.setattr(registry, "inspect_many", inspect_many)
    other = f"{REPO}:kept"  # not moved by this run: read at once
    found = read_settled(RUNNER, ledger, [*TAGS, other], {NEW.digest: NEW})
    assert set(found) == {*TAGS, other}
    assert read_at[other] < start + 0.1
    for i, tag in enumerate(TAGS):
        assert read_at[tag] >= start + 0.1 * i + 0.1
    assert read_at[TAGS[0]] < read_at[TAGS[2]] - 0.1  # the first tag did not wait for the last


def test_requests_run_side_by_side_per_registry() -> None:
    assert registry.workers_for([]) == 1
    assert registry.workers_for([f"{REPO}:{i}" for i in range(3)]) == 3
    assert registry.workers_for([f"r{i % 2}:5000/app:{i}" for i in range(40)]) == 16
    assert registry.workers_for([f"r{i % 2}:5000/app:{i}" for i in range(40)], 4) == 8


def test_the_settle_pause_is_each_registrys_own() -> None:
    ledger = Ledger()
    start = time.monotonic()
    for tag, took in ((f"{REPO}:fast", 0.01), ("r2:5000/app:slow", 0.3)):
        ledger.sending(TagWrite(tag, tag.rpartition(":")[0], NEW.digest, None), None)
        ledger.writes[tag].read_at = start - took
        ledger.landed(tag)
    assert 0.05 <= settle_pause(ledger, "r1:5000") < 0.1  # its own 10 ms, at least 50 ms
    assert settle_pause(ledger, "r2:5000") >= 0.6
    assert settle_pause(ledger) >= 0.6  # in all: the slowest
    assert settle_pause(Ledger()) == 0.0  # nothing sent


def test_the_settle_pause_counts_the_moves_under_way_at_the_same_time() -> None:
    """A racing run's PUT is on its way while this run's lands (it read the tag before): the registry's answers
    then, not its slow first ones, tell how long it may take."""
    ledger = Ledger()
    start = time.monotonic()
    moves = {  # tag: (read_at, landed_at), in r1:5000
        f"{REPO}:early": (start, start + 0.4),  # the registry's slow first answer
        f"{REPO}:late": (start + 0.5, start + 0.52),
        f"{REPO}:beside": (start + 0.51, start + 0.56),  # under way while `late` was
        f"{REPO}:after": (start + 0.6, start + 0.61),
    }
    for tag, (read_at, landed_at) in moves.items():
        ledger.sending(TagWrite(tag, REPO, NEW.digest, None), None)
        ledger.landed(tag)
        ledger.writes[tag].read_at, ledger.writes[tag].landed_at = read_at, landed_at
        ledger.moves_in["r1:5000"][-1] = (read_at, landed_at)
    pause = {tag: settle_pause(ledger, write=ledger.writes[tag]) for tag in moves}
    assert pause[f"{REPO}:early"] == pytest.approx(0.8)
    assert pause[f"{REPO}:late"] == pytest.approx(0.1)  # twice `beside`'s 50 ms
    assert pause[f"{REPO}:beside"] == pytest.approx(0.1)
    assert pause[f"{REPO}:after"] == pytest.approx(0.05)  # 2 x 10 ms, at least 50 ms


def test_a_commit_marks_every_tag_sending_with_one_fsync_before_its_first_read(
    fake: FakeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.tags = dict.fromkeys(TAGS, OLD.digest)
    s = staged(dict.fromkeys(TAGS, OLD))
    live = journal.Journal.begin(tmp_path, moves())
    events: list[str] = []
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync"))
    head = fake.head_digest

    def read(ref: str, **kw: object) -> str | None:
        events.append(f"read {ref}")
        return head(ref)

    monkeypatch.setattr(registry, "head_digest", read)
    assert commit(RUNNER, [s], ledger=Ledger(live), workers=2) == []
    first_read = next(i for i, e in enumerate(events) if e.startswith("read"))
    assert (
        events.count("fsync") - events[:first_read].count("fsync") == 0
    )  # none between reads and PUTs
    marks = (tmp_path / journal.MARKS).read_text().splitlines()
    assert [json.loads(m)["at"] for m in marks[:3]] == ["sending"] * 3
    assert {json.loads(m)["tag"] for m in marks[:3]} == set(TAGS)
    assert set(fake.tags.values()) == {NEW.digest}
    live.finish()
