"""The commit's journal: a run's intended tag moves, written before the first one, so a run killed mid-commit
(SIGKILL, OOM, power loss) can be finished by the next one.

Two files in the run's folder (`.bakepy/runs/<run>/`), both through `bakepy.safefs` (no link followed, fsync'd):

* `journal.json`, written whole (renamed into place) before any tag moves: every tag the run means to move, the index it moves
  to and the value the tag held when the run read it;
* `journal.marks`, appended to (one JSON line each): `sending` with the value the tag must still hold (what a
  roll back restores), for every tag of a commit at once, fsync'd before the commit's first read (one fsync, not
  one per tag); `skipped` when the read before a tag's PUT found it moved by someone else (the PUT never left);
  `landed` once the PUT was answered 2xx; `restored` / `removed` as a roll back puts tags back.

While its run lives, `journal.json` is held with an exclusive `flock` (released by the kernel however the process
ends), so another run never finishes a journal whose owner is still at work. A run that ends, committed or
cleanly rolled back, removes both files; one whose roll back could not restore everything keeps them.

`finish_pending` is what `publish`, `merge`, `assemble` and `bakepy recover` run before moving any tag: for each
unlocked journal, if every intended tag holds the run's index the commit is finished (nothing to do but say so);
otherwise the roll back is finished: each tag whose PUT may have left goes back to its `sending` value, unless
someone else has moved it since (left alone and named). Only the registry reads decide; the marks say what to read.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakepy.errors import BakepyError, LocalFileError
from bakepy.safefs import Appender, file_error, read_regular, write_atomic

if TYPE_CHECKING:
    from bakepy.engine.runner import Runner
    from bakepy.publish.merge import RollBack

JOURNAL = "journal.json"
MARKS = "journal.marks"
VERSION = 1
_LIMIT = 16 << 20  # a journal of tens of thousands of tags is still far below this
_WHAT = "the commit's journal"
_BEFORE_MOVE = "no tag was moved"


@dataclass(frozen=True)
class Move:
    """One tag a run means to move."""

    tag: str
    repository: str  # repository-only reference in the tag's registry
    digest: str  # the index the tag moves to
    before: str | None  # what the tag held when the run read it (None: confirmed absent)

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "repository": self.repository,
            "digest": self.digest,
            "before": self.before,
        }


@dataclass
class Entry:
    """A journal as found on disk: the intent and what its marks say happened, tag by tag."""

    folder: Path
    moves: tuple[Move, ...]
    pid: int | None = None
    host: str = ""
    started: float = 0.0
    # tag → what it held right before the run's PUT
    sent: dict[str, str | None] = field(default_factory=dict)
    landed: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)  # restored or removed by a roll back

    @property
    def name(self) -> str:
        return self.folder.name


class Journal:
    """The live run's journal: intent written and locked by `begin`, marks appended, removed by `finish`."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self._fd = fd
        self._marks: Appender | None = None
        self._opening = threading.Lock()

    @classmethod
    def begin(cls, folder: Path, moves: Sequence[Move]) -> Journal:
        """Write the intent (whole, fsync'd, no link followed) and lock it; a `LocalFileError` here means
        nothing moved."""
        doc = {
            "version": VERSION,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "moves": [m.to_json() for m in moves],
        }
        data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
        # whole or not at all (temporary file, fsync, rename): a crash while writing it leaves no half journal
        write_atomic(folder, JOURNAL, data, what=_WHAT, mode=0o600, consequence=_BEFORE_MOVE)
        fd = _lock(folder / JOURNAL, block=True)
        if fd is None:  # cannot happen for a file this process just made; refuse rather than guess
            raise LocalFileError(f"{folder / JOURNAL}: cannot lock {_WHAT}; {_BEFORE_MOVE}")
        return cls(folder, fd)

    def mark(self, tag: str, at: str, pre: str | None = None) -> None:
        """Append one mark. Only `sending` is fsync'd, before its PUT may leave: it is what says a write may
        have left. The others (`landed`, `skipped`, `restored`, `removed`) survive the process being killed but
        not a crash of the machine, and need not: finishing a journal reads each tag with a `sending` mark in
        the registry and acts on what it holds, so a lost one only costs that read."""
        self.mark_many([(tag, at, pre)])

    def mark_many(self, marks: Sequence[tuple[str, str, str | None]]) -> None:
        """Append (tag, at, pre) marks with one write, and one fsync if any is `sending`: a commit marks all
        its tags `sending` at once before its first read. A tag marked `sending` whose PUT never left costs
        only a read when a journal is finished: it still holds its `pre` value (nothing to do) or another
        run's (left alone)."""
        if not marks:
            return
        data = "".join(
            json.dumps({"tag": tag, "at": at} | ({"pre": pre} if at == "sending" else {})) + "\n"
            for tag, at, pre in marks
        )
        with self._opening:
            if self._marks is None:
                self._marks = Appender(self.folder, MARKS, what=_WHAT)
        self._marks.append(data.encode(), durable=any(at == "sending" for _, at, _ in marks))

    def finish(self) -> None:
        """The run ended with nothing left to do: the journal goes (intent first: marks alone mean nothing)."""
        for name in (JOURNAL, MARKS):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.folder / name)
        self.release()

    def release(self) -> None:
        """Keep the files (a roll back left something to do) but let `finish_pending` take them over."""
        if self._marks is not None:
            self._marks.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _lock(path: Path, *, block: bool) -> int | None:
    """An open descriptor of `path` holding its exclusive flock, or None when another process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise file_error(exc, path, _WHAT, verb="read") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise file_error(exc, path, _WHAT, verb="lock") from None
    return fd


# -- reading --------------------------------------------------------------------------------------------
def _bad(path: Path, why: str) -> LocalFileError:
    return LocalFileError(
        f"{path}: {why}, so bakepy cannot tell which tags that run moved",
        hint=f"check the tags it names by hand, then remove {path.parent} (rm -r)",
    )


def read_entry(folder: Path) -> Entry:
    """The journal in `folder` with its marks (a torn last mark, from a crash mid-write, is ignored)."""
    path = folder / JOURNAL
    raw = read_regular(path, what=_WHAT, limit=_LIMIT)
    try:
        doc = json.loads(raw)
        moves = tuple(
            Move(str(m["tag"]), str(m["repository"]), str(m["digest"]), m.get("before"))
            for m in doc["moves"]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise _bad(path, f"is not a journal bakepy wrote ({type(exc).__name__}: {exc})") from None
    entry = Entry(
        folder, moves, doc.get("pid"), str(doc.get("host", "")), float(doc.get("started", 0))
    )
    try:
        marks = read_regular(folder / MARKS, what=_WHAT, limit=_LIMIT)
    except LocalFileError:
        if (folder / MARKS).exists() or os.path.islink(folder / MARKS):
            raise
        marks = b""  # killed before its first PUT: nothing was sent
    for line in marks.splitlines():
        try:
            mark = json.loads(line)
            tag, at = str(mark["tag"]), str(mark["at"])
        except (ValueError, KeyError, TypeError):
            continue  # the last line, cut by the crash
        if at == "sending":
            entry.sent[tag] = mark.get("pre")
        elif at == "landed":
            entry.landed.add(tag)
        elif at == "skipped":  # it never left: the tag was moved by someone else, or held the index
            entry.sent.pop(tag, None)
        elif at in ("restored", "removed"):
            entry.done.add(tag)
    return entry


def pending(runs: Path) -> list[Path]:
    """Run folders under `runs` (bakepy's `.bakepy/runs`) that hold a journal, oldest first. Links are not
    followed; a folder that cannot be listed is skipped (it is not one bakepy made)."""
    found = []
    with contextlib.suppress(OSError):
        for run in sorted(runs.iterdir()):
            with contextlib.suppress(OSError):
                if stat.S_ISDIR(run.lstat().st_mode) and (run / JOURNAL).is_file():
                    found.append(run)
    return found


@contextlib.contextmanager
def taken(folder: Path) -> Iterator[Journal | None]:
    """The journal of `folder` locked for this process, or None while its run (or another recovery) holds it."""
    fd = _lock(folder / JOURNAL, block=False)
    if fd is None:
        yield None
        return
    journal = Journal(folder, fd)
    try:
        yield journal
    finally:
        journal.release()


# -- finishing ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finished:
    """What finishing one journal found and did."""

    run: str
    committed: bool  # every intended tag held the run's index: the commit was finished
    report: RollBack | None
    commands: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return self.report is None or self.report.clean

    def describe(self) -> str:
        if self.committed:
            return f"run {self.run}: every tag it moved holds its index: its commit is complete"
        assert self.report is not None
        return f"run {self.run}, interrupted while moving tags: {self.report.describe()}"


def finish_pending(
    runner: Runner, runs: Path, *, say: Any = None, skip: Iterable[Path] = ()
) -> list[Finished]:
    """Finish every unfinished journal under `runs` whose run is gone, oldest first; `say(line)` is told what
    each one found. Journals that are finished are removed; one that still cannot be restored stays, and its
    `Finished.clean` is False (the caller refuses to move tags over it)."""
    out = []
    skipped = {p.resolve() for p in skip}
    for folder in pending(runs):
        if folder.resolve() in skipped:
            continue
        with taken(folder) as journal:
            if journal is None:
                continue  # its run is still at work (or another run is finishing it)
            entry = read_entry(folder)
            result = finish_one(runner, entry, journal)
            if result.clean:
                journal.finish()
            if say is not None:
                say(result.describe())
            out.append(result)
    return out


def finish_earlier(runner: Runner, runs: Path, *, skip: Iterable[Path] = ()) -> list[Finished]:
    """What `publish`, `merge` and `assemble` do before reading or moving any tag: finish every unfinished
    journal under `runs` (a note on stderr for each), and refuse, with nothing moved, while one cannot be
    finished (a `RegistryError` naming its tags and the commands that restore them)."""
    import sys

    from bakepy.errors import RegistryError

    done = finish_pending(
        runner, runs, say=lambda line: sys.stderr.write(f"note: {line}\n"), skip=skip
    )
    unfinished = [r for r in done if not r.clean]
    if unfinished:
        raise RegistryError(
            "an earlier run was killed while moving tags and its roll back cannot be finished yet: "
            + "; ".join(r.describe() for r in unfinished)
            + "; this run moved nothing",
            hint="run `bakepy recover` once the registry answers (or restore the tags named with the "
            "commands given), then publish again",
        )
    return done


def finish_one(runner: Runner, entry: Entry, journal: Journal | None = None) -> Finished:
    """Read every tag of `entry`; complete → committed; else put back each tag whose PUT may have left."""
    from bakepy.publish.merge import TagWrite, put_back, read_tag

    if entry.moves and entry.sent:
        # if every intended tag holds the run's index, the commit is complete (the index was checked before the
        # first move; a tag whose write never left may hold it already): the reads decide
        try:
            complete = all(
                read_tag(runner, m.tag, expect=m.digest) == m.digest for m in entry.moves
            )
        except BakepyError:  # unreadable: not known to be complete, so the roll back
            complete = False
        if complete:
            return Finished(entry.name, True, None)
    by_tag = {m.tag: m for m in entry.moves}
    writes = [
        TagWrite(tag, by_tag[tag].repository, by_tag[tag].digest, pre, landed=tag in entry.landed)
        for tag, pre in entry.sent.items()
        if tag in by_tag
    ]
    befores = {m.before for m in entry.moves if m.before} | {w.pre for w in writes if w.pre}
    mark = None
    if journal is not None:
        mark = journal.mark
    report = put_back(runner, writes, befores=befores, mark=mark)
    report.untouched += [m.tag for m in entry.moves if m.tag not in entry.sent]
    return Finished(entry.name, False, report)


def describe_all(results: Sequence[Finished]) -> str:
    return "; ".join(r.describe() for r in results)
