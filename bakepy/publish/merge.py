"""Stages 3 and 4 of a publish: decide which tags move, stage every index by digest, then move the tags, all or none.

The transaction (buildx#1089: exports are not transactional, so bakepy makes the tag moves one):

1. `decide` (pure): per target, the one index every tag of it will hold in every registry, and the tags that
   move. A tag whose platform images already equal the new ones is left alone (provenance makes every rebuild a
   new index digest; leaving it keeps its digest and signatures), and new tags copy that same index.
2. `stage`: the index exists **by digest** in every registry before any tag moves. One source index is already
   there (bake pushed it); an index made from several sources is computed with `imagetools create --dry-run`
   (the exact bytes it will push), checked (planned platforms, no duplicates, attestations), and pushed to every
   registry by digest (`--tag REPO@sha256:…`), which names no tag.
3. `commit`: every moving tag of every registry gets the staged index, targets side by side: one manifest PUT
   of its exact bytes per tag where the registry takes anonymous writes, else one `imagetools create` per target
   carrying all its tags (a carbon copy: one source that is an index). Only tags move here. Registries have no
   compare-and-swap, so each tag is read again right before its PUT: one that no longer holds what the run read
   at the start was moved by another run, and the commit stops there (`TagRaceError`: this run lost the race)
   unless told to overwrite (`--force-tags`). Before the first PUT the intended moves are journaled in the run's
   folder, and each write is marked before it leaves (`journal.py`), for a run killed mid-commit.
4. On any failure after the first commit started (a failed or partly failed call, a failed read-back, an
   interrupt, a lost race) `roll_back` reads back every tag this run sent a write for, never trusting an exit
   code, and puts back exactly those that now hold this run's index, each to the value it held right before
   this run's own write (deleted where it did not exist: two reads, or the registry's tag list, agreed). A tag
   that holds something else was moved by someone else and is left alone, and named. Reads and writes are
   retried within the deadline; what still cannot be restored is named with the command that restores it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakepy.engine import registry
from bakepy.engine.runner import Runner, registry_hint
from bakepy.errors import BakepyError, InterruptedRunError, RegistryError
from bakepy.publish.index import (
    OCI_INDEX,
    ImageIndex,
    merged_index,
    parse_index,
    repository_of,
    split_reference,
)
from bakepy.publish.journal import Journal, Move
from bakepy.publish.sources import Collected, _same_images


@dataclass(frozen=True)
class Decision:
    """What happens to the tags of one target in one registry."""

    target: str
    registry: str
    repository: str  # repository-only reference in this registry
    expected: Mapping[str, str]  # platform → image digest every tag must end up with
    attestations: int
    tags: tuple[str, ...]
    before: Mapping[str, str | None]  # tag → digest it pointed at before the run
    move: tuple[str, ...]  # tags this run moves (or creates)
    unchanged: tuple[str, ...]  # tags that already hold these images


@dataclass(frozen=True)
class TargetMerge:
    """One target's merge: one index for every registry, and which tags move to it."""

    collected: Collected
    decisions: tuple[Decision, ...]
    sources: tuple[str, ...]  # `repo@digest` in one registry: what the index is made from
    annotations: tuple[
        tuple[str, str], ...
    ]  # index annotations (`index:` prefixed) for a new merged index
    index: (
        str | None
    )  # the index digest, when known before staging (one index source, or a kept index)
    kept: bool = False  # the index is one an existing tag already holds

    @property
    def target(self) -> str:
        return self.collected.spec.name

    @property
    def moving(self) -> tuple[str, ...]:
        return tuple(t for d in self.decisions for t in d.move)


@dataclass(frozen=True)
class Staged:
    """A target's index, known and present by digest in every registry where its tags move."""

    merge: TargetMerge
    digest: str
    index: ImageIndex

    def source(self) -> str:
        return f"{self.merge.decisions[0].repository}@{self.digest}"


# -- 1. decide ------------------------------------------------------------------------------------------
def decide(collected: Collected, current: Mapping[str, ImageIndex | None]) -> TargetMerge:
    """The target's index and, per registry, which tags move, given what every tag points at now."""
    spec = collected.spec
    registries = [r for r in spec.registries() if spec.tags_in(r)]
    same = {
        t: idx.digest
        for r in registries
        for t in spec.tags_in(r)
        if (idx := current.get(t)) is not None and _same_images(idx, collected.images)
    }
    keep: str | None = None
    if same:  # the index most tags already hold: every other tag copies it
        counts: dict[str, int] = {}
        for digest in same.values():
            counts[digest] = counts.get(digest, 0) + 1
        keep = max(counts, key=lambda d: (counts[d], d))
    decisions = []
    for r in registries:
        tags = spec.tags_in(r)
        before = {t: (idx.digest if (idx := current.get(t)) else None) for t in tags}
        move = tuple(t for t in tags if keep is None or before[t] != keep)
        unchanged = tuple(t for t in tags if t not in move)
        decisions.append(
            Decision(
                spec.name,
                r,
                spec.repository_in(r),
                collected.images,
                collected.attestations,
                tags,
                before,
                move,
                unchanged,
            )
        )
    first = decisions[0].repository if decisions else spec.repositories[0]
    if keep is not None:
        holder = next(t for t, d in same.items() if d == keep)
        repo = spec.repository_in(split_reference(holder)[0])
        return TargetMerge(collected, tuple(decisions), (f"{repo}@{keep}",), (), keep, kept=True)
    sources = tuple(f"{first}@{d}" for d in collected.digests)
    single = len(sources) == 1 and collected.indexes[collected.digests[0]].is_index
    # One index source is copied as is (it carries its annotations); a merge of several gets them again.
    annotations = () if single else tuple(sorted(spec.index_annotations.items()))
    return TargetMerge(
        collected, tuple(decisions), sources, annotations, collected.digests[0] if single else None
    )


def check_index(merge: TargetMerge, index: ImageIndex) -> None:
    """The index every tag will get holds exactly the planned images and attestations: else nothing moves."""
    spec = merge.collected.spec
    try:
        platforms = index.platform_digests()  # raises on duplicate platforms
    except RegistryError as exc:
        raise RegistryError(
            f"target {spec.name}: the index would list one platform twice ({exc}); no tag was moved",
            hint="each platform must come from exactly one source",
        ) from None
    expected = dict(merge.collected.images)
    if not index.is_index and len(expected) == 1:
        platforms = {next(iter(expected)): index.digest}
    if platforms != expected:
        raise RegistryError(
            f"target {spec.name}: the index would hold {', '.join(sorted(platforms)) or 'nothing'}, "
            f"not the planned {', '.join(sorted(expected))}; no tag was moved"
        )


# -- 2. stage -------------------------------------------------------------------------------------------
def stage(runner: Runner, merge: TargetMerge, known: Mapping[str, ImageIndex]) -> Staged:
    """Make the target's index exist by digest in every registry where its tags move; move no tag."""
    registries = [d for d in merge.decisions if d.move]
    if merge.index is not None and merge.index in known:
        digest, index = merge.index, known[merge.index]
        if merge.kept:  # an index an existing tag holds: copy it by digest where it is not yet
            for d in registries:
                _copy(runner, merge.sources[0], d.repository)
        # else: one index source, which `collect` found in every registry already
    else:
        digest, index = _stage_merged(runner, merge, registries)
    check_index(merge, index)
    return Staged(merge, digest, index)


def _copy(runner: Runner, source: str, repository: str) -> None:
    """`source` (`repo@digest`) by digest into `repository` as it is (children and blobs first): through the
    registry client; through `imagetools create` only where the client cannot log in."""
    try:
        registry.copy(source, repository)
    except registry.NoAnswer:
        registry.count_fallback("imagetools create")
        runner.imagetools_create([f"{repository}@{source.partition('@')[2]}"], [source])


def _stage_merged(
    runner: Runner, merge: TargetMerge, registries: Sequence[Decision]
) -> tuple[str, ImageIndex]:
    """An index made from several sources (or a plain manifest wrapped): built here, checked, pushed by digest.

    Open registries take it over plain HTTP (one PUT each, no process). Where a registry wants credentials,
    buildx makes it instead: `--dry-run` gives the exact bytes it will push, then `--tag REPO@DIGEST` pushes it
    to every registry by digest, with the credential store's auth.
    """
    sources = [merge.collected.indexes[d] for d in merge.collected.digests]
    body, index = merged_index(sources, dict(merge.annotations))
    check_index(merge, index)
    try:
        # every registry at once: a second registry adds no wait
        with ThreadPoolExecutor(max_workers=max(1, len(registries))) as pool:
            for put in [
                pool.submit(registry.put_manifest_by_digest, d.repository, body, OCI_INDEX)
                for d in registries
            ]:
                put.result()
        return index.digest, index
    except registry.NoAnswer:
        registry.count_fallback("imagetools create")
    text = runner.imagetools_create(
        ["dry-run"], merge.sources, annotations=dict(merge.annotations), dry_run=True
    )
    body = text.rstrip("\n").encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    doc = json.loads(body)
    doc["digest"], doc["size"] = digest, len(body)
    index = parse_index(doc)
    check_index(merge, index)
    runner.imagetools_create(
        [f"{d.repository}@{digest}" for d in registries],
        merge.sources,
        annotations=dict(merge.annotations),
    )
    return digest, index


# -- reads a roll back and a commit can trust ------------------------------------------------------------
_UNSET: Any = object()


def _read_once(runner: Runner, tag: str, timeout: float) -> str | None:
    try:
        return registry.head_digest(tag, timeout=timeout)
    except registry.NoAnswer:
        found = registry.inspect(runner, tag)
        return None if found is None else found.digest


def read_tag(
    runner: Runner, tag: str, *, expect: str | None = _UNSET, deadline: float | None = None
) -> str | None:
    """The digest `tag` holds now (None: absent), read again while `deadline` (monotonic; default: now +
    `BAKEPY_REGISTRY_TIMEOUT`) allows when a read fails: the client retries 429/5xx/resets inside one read,
    this retries the read itself. A value other than `expect` is read a second time and the second read is
    taken: one 404 from a registry in replication or restarting must not make an existing tag absent."""
    end = deadline if deadline is not None else time.monotonic() + registry.write_timeout()
    attempt = 0
    while True:
        left = max(1.0, min(registry.READ_TIMEOUT, end - time.monotonic()))
        try:
            now = _read_once(runner, tag, left)
            if expect is _UNSET or now == expect:
                return now
            time.sleep(0.05)
            return _read_once(runner, tag, left)
        except RegistryError:
            wait_for = min(2.0, 0.2 * 2**attempt)
            if time.monotonic() + wait_for >= end:
                raise
            time.sleep(wait_for)
            attempt += 1


def _tag_lists(repositories: Sequence[str]) -> dict[str, set[str] | None]:
    with ThreadPoolExecutor(max_workers=registry.workers_for(repositories)) as pool:
        return dict(
            zip(repositories, pool.map(registry.tag_list_of_run, repositories), strict=True)
        )


def read_current(
    runner: Runner, tags: Sequence[str], known: Mapping[str, ImageIndex]
) -> dict[str, ImageIndex | None]:
    """What every tag holds before the run. Each repository's tag list comes first (one request each); only
    the tags it names are read (a HEAD each; a GET where the content is new to the run). A tag the list leaves
    out is absent as far as this read goes, and the read right before this run's PUT is the second read that
    must agree (one that disagrees stops the run as a race, before that tag moves). Where a registry has no list
    to trust, every tag is read and each absence confirmed by a second read (`confirm_absent`)."""
    unique = list(dict.fromkeys(tags))
    lists = _tag_lists(sorted({repository_of(t) for t in unique}))

    def named(tag: str) -> bool:
        listed = lists[repository_of(tag)]
        return listed is None or (split_reference(tag)[2] or "latest") in listed

    to_read = [t for t in unique if named(t)]
    found = registry.inspect_many(runner, to_read, known=known) if to_read else {}
    return confirm_absent(runner, {t: found.get(t) for t in unique}, lists=lists)


def confirm_absent(
    runner: Runner,
    current: Mapping[str, ImageIndex | None],
    *,
    lists: Mapping[str, set[str] | None] | None = None,
) -> dict[str, ImageIndex | None]:
    """`current` (every tag as first read) with each tag read as absent confirmed: absent only when the
    registry's tag list does not name it or, where there is no list to trust, a second read agrees. A tag the
    list names but reads keep missing is read until the deadline, then refused: nothing has moved yet.
    `lists`: the tag lists already read (repository → names, None where untrusted)."""
    missing = [t for t, found in current.items() if found is None]
    if not missing:
        return dict(current)
    repositories = sorted({repository_of(t) for t in missing})
    if lists is None or any(r not in lists for r in repositories):
        lists = _tag_lists(repositories)
    end = time.monotonic() + registry.write_timeout()

    def settle(tag: str) -> str | None:
        listed = lists[repository_of(tag)]
        name = split_reference(tag)[2] or "latest"
        if listed is not None and name not in listed:
            return None  # the list and the first read agree
        while True:
            now = read_tag(runner, tag, deadline=end)
            if now is not None or listed is None:
                return now  # found after all, or two reads agree it is absent
            if time.monotonic() + 0.5 >= end:
                raise RegistryError(
                    f"{tag}: the registry lists this tag but answers 404 to reads of it; bakepy cannot "
                    "tell what it holds, so no tag was moved",
                    hint="the registry may be restarting or replicating: publish again in a moment",
                )
            time.sleep(0.5)

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(missing)))) as pool:
        found = dict(zip(missing, pool.map(settle, missing), strict=True))
    out = dict(current)
    for tag, digest in found.items():
        if digest is not None:  # the first read was wrong: the tag exists
            out[tag] = registry.inspect(runner, f"{repository_of(tag)}@{digest}")
    return out


# -- the ledger: what this run wrote -----------------------------------------------------------------------
@dataclass
class TagWrite:
    """One tag this run sent a move for: what it held right before (`pre`: the value a roll back restores)."""

    tag: str
    repository: str  # repository-only reference in the tag's registry
    digest: str  # this run's index
    pre: str | None  # read just before this run's PUT; None: absent (confirmed by two reads)
    landed: bool = False  # the registry answered 2xx
    read_at: float = 0.0  # monotonic time of the read right before the PUT
    landed_at: float = 0.0  # monotonic time of the answer


class TagRaceError(RegistryError):
    """Another run moved a tag of this run between this run's read and its write (or after it): this run lost
    the race and put back its own moves; the tag keeps the other run's value. Exit 9: another run won."""

    exit_code = 9


class Ledger:
    """Every tag write this run sent, thread-safe, each one journaled (fsync'd) before the PUT leaves."""

    def __init__(self, journal: Journal | None = None) -> None:
        self.journal = journal
        self._lock = threading.Lock()
        self.writes: dict[str, TagWrite] = {}
        self._intended: set[str] = set()
        # the longest time from a tag's last read to its PUT's answer, in seconds: in all, and per registry
        self.longest = 0.0
        self.longest_in: dict[str, float] = {}
        # per registry, each landed move's (read_at, landed_at): what the registry answered while it was busy
        self.moves_in: dict[str, list[tuple[float, float]]] = {}
        # (tag, what it held at the start, what this run overwrote): --force-tags
        self.forced: list[tuple[str, str | None, str | None]] = []

    def intend(self, tags: Mapping[str, str | None]) -> None:
        """Journaled (fsync'd) before the read that precedes each tag's PUT, all of `tags` (tag → the value it
        held when the run read it) with one write: the writes may leave from here on. A tag already intended
        is not marked again."""
        with self._lock:
            new = [(t, "sending", before) for t, before in tags.items() if t not in self._intended]
            self._intended.update(t for t, _, _ in new)
        if self.journal is not None:
            self.journal.mark_many(new)

    def skipped(self, tag: str) -> None:
        """The write did not leave after all (the tag was moved by someone else, or already held the index)."""
        if self.journal is not None:
            with contextlib.suppress(BakepyError):
                self.journal.mark(tag, "skipped")

    def sending(self, write: TagWrite, before: str | None) -> None:
        if (
            self.journal is not None and write.pre != before
        ):  # forced: restore what it held just now
            self.journal.mark(write.tag, "sending", write.pre)
        write.read_at = time.monotonic()
        with self._lock:
            self.writes[write.tag] = write

    def landed(self, tag: str) -> None:
        with self._lock:
            write = self.writes[tag]
            write.landed = True
            write.landed_at = time.monotonic()
            took = write.landed_at - write.read_at
            self.longest = max(self.longest, took)
            where = split_reference(write.tag)[0]
            self.longest_in[where] = max(self.longest_in.get(where, 0.0), took)
            self.moves_in.setdefault(where, []).append((write.read_at, write.landed_at))
        if self.journal is not None:
            self.journal.mark(tag, "landed")

    def sent(self) -> list[TagWrite]:
        with self._lock:
            return list(self.writes.values())

    def longest_during(self, write: TagWrite) -> float:
        """The longest read-to-answer time of the moves in `write`'s registry under way while it was (itself
        included)."""
        where = split_reference(write.tag)[0]
        with self._lock:
            return max(
                (
                    landed - read
                    for read, landed in self.moves_in.get(where, ())
                    if read <= write.landed_at and landed >= write.read_at
                ),
                default=write.landed_at - write.read_at,
            )


def _race(tag: str, before: str | None, now: str | None, *, when: str) -> TagRaceError:
    held = before or "nothing (it did not exist)"
    return TagRaceError(
        f"lost the race for {tag}: another run moved it to {now or 'nothing (deleted it)'} {when} "
        f"(it held {held} when this run read it); that run's value stays",
        hint="another publish of these tags ran at the same time: publish again to move them to this run's "
        "images, or overwrite the other run's moves with --force-tags (BAKEPY_FORCE_TAGS=1)",
    )


# -- 3. commit ------------------------------------------------------------------------------------------
def commit(
    runner: Runner,
    staged: Sequence[Staged],
    *,
    ledger: Ledger | None = None,
    force: bool = False,
    workers: int | None = None,
) -> list[BaseException]:
    """Move every moving tag of every target in every registry to its staged index; return the failures.

    The floor: one manifest PUT per tag, side by side, of the exact bytes staged by digest (no blob copies).
    Tags in registries that want credentials (or whose index bytes are not known here) move with one
    `imagetools create` per target carrying all of them, so auth stays the credential store's.

    Optimistic concurrency (registries have no compare-and-swap): each tag is read again right before its PUT.
    If it no longer holds what the run read at the start, another run moved it: the commit stops (no further
    PUT leaves) and fails with `TagRaceError` naming the tag and its new value, unless `force`, which
    overwrites it and keeps it in `ledger.forced`. What the tag held right then is what a roll back restores.

    A write that gets no answer within `BAKEPY_REGISTRY_TIMEOUT` fails the run, but it was sent and may still
    land: commit returns only when every write sent has answered (or its connection ended), so the roll back
    that follows reads where each tag really is.
    """
    ledger = ledger if ledger is not None else Ledger()
    work = [s for s in staged if s.merge.moving]
    if not work:
        return []
    soft = registry.write_timeout()
    hard = soft + registry.IN_DOUBT_GRACE
    errors: list[BaseException] = []
    by_create: dict[int, list[str]] = {}  # target (index in work) → tags for imagetools
    # set by the first tag found moved by someone else: no further PUT leaves
    stop = threading.Event()
    before_of = {t: d.before.get(t) for s in work for d in s.merge.decisions for t in d.move}
    repository_of_tag = {t: d.repository for s in work for d in s.merge.decisions for t in d.move}

    def claim(s: Staged, tag: str) -> bool:
        """Journal the write, read `tag` right before it, compare. False: nothing to write (stopped, or the
        tag already holds this run's index, put there by someone else: not this run's to put back). The
        journal's mark comes first, so nothing but the read's answer sits between the check and the PUT."""
        if stop.is_set():
            return False
        before = before_of[tag]
        ledger.intend({tag: before})  # marked with the others before the first read: a no-op then
        try:
            pre = read_tag(runner, tag, expect=before, deadline=time.monotonic() + soft)
        except BaseException:
            ledger.skipped(tag)
            raise
        if (pre == s.digest and pre != before) or stop.is_set():
            ledger.skipped(tag)
            return False
        if pre != before:
            if not force:
                stop.set()
                ledger.skipped(tag)
                raise _race(tag, before, pre, when="after this run read it, before its own move")
            ledger.forced.append((tag, before, pre))
        ledger.sending(TagWrite(tag, repository_of_tag[tag], s.digest, pre), before)
        return True

    def put(i: int, tag: str) -> None:
        s = work[i]
        try:
            if not claim(s, tag):
                return
            registry.put_tag(
                tag, s.index.raw or b"", s.index.media_type, timeout=hard, retry_for=soft
            )
            ledger.landed(tag)
        except registry.NoAnswer:
            by_create.setdefault(i, []).append(tag)  # dict/list appends are atomic under the GIL
        except TagRaceError:
            raise
        except RegistryError as exc:
            raise RegistryError(
                f"merge of target {s.merge.target} failed: {exc.message}",
                hint=exc.hint or "fix the registry problem and publish again",
            ) from exc

    def create(i: int, tags: Sequence[str]) -> None:
        s = work[i]
        claimed = {w.tag for w in ledger.sent()}
        tags = [t for t in tags if t in claimed or claim(s, t)]
        if not tags:
            return
        registry.count_fallback("imagetools create")
        try:
            runner.imagetools_create(tags, [s.source()])
        except BakepyError as exc:
            failed = RegistryError(
                f"merge of target {s.merge.target} failed: {exc.message}",
                hint=registry_hint(f"{exc.message}\n{exc.detail or ''}")
                or "fix the registry problem and publish again (--debug shows imagetools' output)",
                detail=exc.detail,
            )
            failed.__cause__ = exc
            raise failed from exc
        for tag in tags:
            ledger.landed(tag)

    jobs: list[tuple[str, Callable[[], None]]] = []
    for i, s in enumerate(work):
        if _bytes_known(s):
            runner.log(f"+ PUT {s.digest[:19]}… as {' '.join(s.merge.moving)}  (registry API)")
            jobs += [(t, functools.partial(put, i, t)) for t in s.merge.moving]
        else:
            by_create[i] = list(s.merge.moving)
    # every PUT's `sending` mark in one fsync, before the first read: not one fsync between each read and PUT
    ledger.intend({t: before_of[t] for t, _ in jobs})
    if workers is None:
        workers = registry.workers_for((t for t, _ in jobs), registry.WRITES_PER_REGISTRY)
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1)))
    try:
        errors += _run_all(pool, jobs, soft)
        if not stop.is_set():
            creates = [(f"target {work[i].merge.target}", functools.partial(create, i, tags))
                       for i, tags in sorted(by_create.items())]  # fmt: skip
            errors += _run_all(pool, creates, None)
    except BaseException:
        stop.set()
        pool.shutdown(
            wait=True, cancel_futures=True
        )  # writes already sent finish before the roll back
        raise
    pool.shutdown(wait=True)
    # the race first: it says why the rest stopped
    return sorted(errors, key=lambda e: not isinstance(e, TagRaceError))


def race_check(
    runner: Runner, staged: Sequence[Staged], found: Mapping[str, str | None], *, when: str
) -> None:
    """`TagRaceError` for the first tag of `staged` that `found` (tag → digest read back) shows holding
    another index than this run's, once a second read agrees: another run moved it after this run's move."""
    for s in staged:
        for d in s.merge.decisions:
            for tag in d.tags:
                now = found.get(tag, s.digest)
                if now is not None and now != s.digest:
                    now = read_tag(runner, tag, expect=s.digest)
                    if now != s.digest:
                        raise _race(tag, d.before.get(tag), now, when=when)


def settle_pause(
    ledger: Ledger, registry: str | None = None, write: TagWrite | None = None
) -> float:
    """How long after a tag's move its read-back waits, 50 ms to 1 s; 0 when nothing was sent: twice the
    longest read-to-answer time of this run's moves in the same registry that were under way while `write` was
    (itself included); without `write`, of all its moves in `registry` (or in all registries).

    Registries have no compare-and-swap: another run that read a tag just before this run's move can still
    land its own PUT after this run's move. Its read came before this run's PUT landed (later, it reads this
    run's value and stops), so its PUT is on its way while this run's lands: its read-to-answer time is of the
    order of the moves this run had under way in the same registry at that moment, and a read-back twice that
    late catches it; this run then lost the race (and puts back its own moves). The one read-back after this
    pause is both the check that every tag holds the staged index and the race check. A tag in a fast registry
    does not wait for a slow one's answers, nor a tag moved late for the registry's slow first answers."""
    if not ledger.sent():
        return 0.0
    if write is not None and write.landed:
        longest = ledger.longest_during(write)
    elif registry is not None:
        longest = ledger.longest_in.get(registry, ledger.longest)
    else:
        longest = ledger.longest
    return min(1.0, max(0.05, 2 * longest))


def read_settled(
    runner: Runner,
    ledger: Ledger,
    tags: Sequence[str],
    known: Mapping[str, ImageIndex],
) -> dict[str, ImageIndex | None]:
    """What every tag of `tags` holds, each read `settle_pause` after its own move landed (a tag this run did
    not move: at once). The pause counts from each tag's own answer, not from the last one: a tag moved early in
    the commit is read back while later ones still wait, so the whole read-back ends one read after the last
    tag's pause. Meanwhile this thread does the runner's `idle` work."""
    now = time.monotonic()
    due = {
        w.tag: (w.landed_at if w.landed else now) + settle_pause(ledger, write=w)
        for w in ledger.sent()
    }
    order = sorted(dict.fromkeys(tags), key=lambda t: due.get(t, 0.0))

    def one(tag: str) -> ImageIndex | None:
        wait = due.get(tag, 0.0) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        return registry.inspect_many(runner, [tag], known=known)[tag]

    with ThreadPoolExecutor(max_workers=registry.workers_for(order)) as pool:
        futures = [pool.submit(one, tag) for tag in order]
        runner.run_idle()  # this thread only waits from here on
        return {tag: f.result() for tag, f in zip(order, futures, strict=True)}


def _bytes_known(s: Staged) -> bool:
    raw = s.index.raw
    return raw is not None and "sha256:" + hashlib.sha256(raw).hexdigest() == s.digest


def _run_all(
    pool: ThreadPoolExecutor, jobs: Sequence[tuple[str, Callable[[], None]]], soft: float | None
) -> list[BaseException]:
    """Run `jobs` side by side; every one has ended when this returns. A job still running after `soft`
    seconds is a failure (no answer in time), and is still waited for."""
    futures = {pool.submit(fn): what for what, fn in jobs}
    _, late = wait(futures, timeout=soft)
    errors: list[BaseException] = []
    if late:
        names = sorted(futures[f] for f in late)
        errors.append(
            RegistryError(
                f"no answer within {soft:g} s to the tag move(s) of {', '.join(names[:4])}"
                + (f" and {len(names) - 4} more" if len(names) > 4 else ""),
                hint=f"the registry is slow or stuck: try again later, or raise {registry.WRITE_TIMEOUT_ENV}",
            )
        )
        wait(late)  # sent writes may still land: wait for their answers before anything is put back
    for f in futures:
        exc = f.exception()
        if exc is not None:
            errors.append(exc)
    return errors


# -- 4. roll back ---------------------------------------------------------------------------------------
@dataclass
class RollBack:
    """What a roll back found and did, tag by tag, from reads of the registries."""

    untouched: list[str] = field(default_factory=list)  # still where they were
    restored: list[str] = field(default_factory=list)  # moved by this run, put back
    removed: list[str] = field(default_factory=list)  # created by this run, deleted again
    failed: list[tuple[str, str]] = field(default_factory=list)  # (tag, why) not restored
    foreign: list[tuple[str, str]] = field(
        default_factory=list
    )  # (tag, digest) moved by someone else
    # of `restored`: put back, but no read confirmed it
    unread: list[str] = field(default_factory=list)
    # failed tag → the command that restores it
    commands: dict[str, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.failed

    def describe(self) -> str:
        if not (self.restored or self.removed or self.failed or self.foreign):
            return "no tag was created or moved (read back from the registries)"
        parts = []
        if self.restored:
            parts.append(f"put back {len(self.restored)} tag(s) moved in this run")
        if self.unread:
            parts.append(
                f"of those, {len(self.unread)} without a read to confirm it (the registry did not answer "
                f"reads): {', '.join(sorted(self.unread))}"
            )
        if self.removed:
            parts.append(f"removed {len(self.removed)} tag(s) this run had created")
        if self.failed:
            listed = "; ".join(
                f"{t} ({why}; restore it with: {self.commands[t]})"
                if t in self.commands
                else f"{t} ({why})"
                for t, why in self.failed
            )
            parts.append(f"COULD NOT put back {len(self.failed)} tag(s): {listed}")
        if self.foreign:
            listed = ", ".join(f"{t} (now {d})" for t, d in self.foreign)
            parts.append(f"left alone, moved by someone else during this run: {listed}")
        return "; ".join(parts)

    def merge(self, other: RollBack) -> None:
        self.untouched += other.untouched
        self.restored += other.restored
        self.removed += other.removed
        self.failed += other.failed
        self.foreign += other.foreign
        self.unread += other.unread
        self.commands.update(other.commands)


def restore_command(tag: str, repository: str, pre: str | None) -> str:
    """The one-liner that puts `tag` back by hand: a carbon copy of its old manifest (same digest), or the
    tag's removal where it did not exist before."""
    if pre is None:
        return f"regctl tag delete {tag}"
    return f"docker buildx imagetools create --prefer-index=false --tag {tag} {repository}@{pre}"


def roll_back(runner: Runner, ledger: Ledger, staged: Sequence[Staged] = ()) -> RollBack:
    """Put back every tag this run sent a move for (`ledger`): see `put_back`."""
    befores = {b for s in staged for d in s.merge.decisions for b in d.before.values() if b}
    mark = ledger.journal.mark if ledger.journal is not None else None
    return put_back(runner, ledger.sent(), befores=befores, mark=mark)


def put_back(
    runner: Runner,
    writes: Sequence[TagWrite],
    *,
    befores: Collection[str] = (),
    mark: Callable[[str, str], None] | None = None,
) -> RollBack:
    """Read every tag in `writes`; put back exactly those that hold this run's index, each to the value it held
    right before this run's own write. A tag holding anything else was moved by someone else and is left alone
    (and named). Reads and writes are retried within `BAKEPY_REGISTRY_TIMEOUT`; a tag that still cannot be read
    is put back anyway where this run's write to it was sent (its old value is known), and a tag that cannot
    be put back is named with the command that restores it. `befores`: every digest a tag held before the run
    (a tag this run created is deleted by digest only where no such tag names it); `mark(tag, what)`: the
    journal."""
    result = RollBack()
    if not writes:
        return result
    end = time.monotonic() + registry.write_timeout()
    lock = threading.Lock()

    def one(w: TagWrite) -> RollBack:
        out = RollBack()
        command = restore_command(w.tag, w.repository, w.pre)
        try:
            now: str | None = read_tag(runner, w.tag, expect=w.digest, deadline=end)
            unread = None
        except BakepyError as exc:
            # taken as holding this run's index: its write was sent
            now, unread = w.digest, exc.message
        if now == w.pre:
            out.untouched.append(w.tag)
        elif now != w.digest:
            out.foreign.append((w.tag, str(now)))
        elif w.pre is None:
            if unread is not None:
                out.failed.append((w.tag, f"cannot read it: {unread}"))
                out.commands[w.tag] = command
            elif registry.delete_tag(w.tag, digest=w.digest, others_safe=w.digest not in befores):
                out.removed.append(w.tag)
                if mark is not None:
                    # a full disk must not stop the roll back
                    with contextlib.suppress(BakepyError):
                        mark(w.tag, "removed")
            else:
                refused = "it did not exist before and this registry does not let bakepy delete it"
                out.failed.append((w.tag, refused))
                out.commands[w.tag] = command
        else:
            why = _put_one_back(runner, w, end)
            try:
                back = read_tag(runner, w.tag, expect=w.pre, deadline=end) == w.pre
                unconfirmed = False
            except BakepyError:
                back, unconfirmed = why is None, True
            if back:
                out.restored.append(w.tag)
                if unconfirmed:
                    out.unread.append(w.tag)
                if mark is not None:
                    with contextlib.suppress(BakepyError):
                        mark(w.tag, "restored")
            else:
                out.failed.append((w.tag, why or f"still not at {w.pre} after putting it back"))
                out.commands[w.tag] = command
        return out

    with ThreadPoolExecutor(
        max_workers=registry.workers_for((w.tag for w in writes), registry.WRITES_PER_REGISTRY)
    ) as pool:
        for part in pool.map(one, writes):
            with lock:
                result.merge(part)
    return result


def _put_one_back(runner: Runner, w: TagWrite, end: float) -> str | None:
    """Point `w.tag` at `w.pre` again: one PUT of the old manifest's bytes (read by digest), retried within
    `end`; through `imagetools create` where the client cannot log in. Returns why it failed, or None."""
    assert w.pre is not None
    source = f"{w.repository}@{w.pre}"
    old: ImageIndex | None = None
    why: str | None = None
    attempt = 0
    while True:
        try:
            old = registry.read(source)
            if old is None or old.raw is None:
                why = f"its old manifest {source} is gone from the registry"
                return why
            left = max(1.0, end - time.monotonic())
            registry.put_tag(w.tag, old.raw, old.media_type, timeout=left, retry_for=left)
            return None
        except registry.NoAnswer:
            break
        except RegistryError as exc:
            why = f"putting it back failed: {exc.message}"
            wait_for = min(2.0, 0.2 * 2**attempt)
            if time.monotonic() + wait_for >= end:
                break  # a refused PUT may still have landed, or imagetools may get through
            time.sleep(wait_for)
            attempt += 1
    registry.count_fallback("imagetools create")
    try:
        runner.imagetools_create([w.tag], [source])
        return None
    except BakepyError as exc:
        return why or f"putting it back failed: {exc.message}"


# -- the transaction ------------------------------------------------------------------------------------
@contextlib.contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """While putting tags back, SIGINT/SIGTERM wait: a half-done roll back is worse than a late exit. Yields
    the signals that arrived meanwhile, so the caller still ends the run as interrupted."""
    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return

    def hold(signum: int, _frame: Any) -> None:
        pending.append(signum)

    old = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield pending
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


FORCE_ENV = "BAKEPY_FORCE_TAGS"


def force_tags() -> bool:
    """`BAKEPY_FORCE_TAGS=1` (what `--force-tags` sets): overwrite a tag another run moved during this one."""
    return os.environ.get(FORCE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _after_roll_back(report: RollBack, journal: Journal | None) -> str:
    """The journal goes when nothing is left to do; else it stays for `bakepy recover`. Returns the hint."""
    if journal is None:
        return "restore the tags named above by hand, then publish again"
    if report.clean:
        journal.finish()
        return ""
    journal.release()
    return (
        "restore the tags named above with the commands given, or run `bakepy recover` (it retries from "
        f"the journal in {journal.folder}), then publish again"
    )


def transact(
    runner: Runner,
    merges: Sequence[TargetMerge],
    known: Mapping[str, ImageIndex],
    *,
    verify: Callable[[Sequence[Staged]], Any],
    journal_dir: Path | None = None,
    force: bool | None = None,
    ledger: Ledger | None = None,
    before_commit: Callable[[Sequence[Staged]], None] | None = None,
) -> Any:
    """Stage every index, then commit every tag, then `verify`; on any failure after the first tag may have
    moved, put back what this run moved and raise with what moved, what was put back and what could not be.

    `before_commit` runs once every index is staged and before any tag moves (signing, the pushed-digest
    history): its failure moves nothing.

    With `journal_dir` (the run's folder) the intended moves are journaled there before the first one, each
    write marked before it leaves (`journal.py`): a run killed mid-commit is finished by the next one."""
    # every target's index by digest, side by side; nothing moves here, so a failure needs no roll back
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(merges)))) as pool:
        staged = list(pool.map(lambda m: stage(runner, m, known), merges))
    if before_commit is not None:
        before_commit(staged)
    moves = [
        Move(t, d.repository, s.digest, d.before.get(t))
        for s in staged
        for d in s.merge.decisions
        for t in d.move
    ]
    journal = Journal.begin(journal_dir, moves) if journal_dir is not None and moves else None
    ledger = ledger if ledger is not None else Ledger()
    ledger.journal = journal
    try:
        errors = commit(
            runner, staged, ledger=ledger, force=force_tags() if force is None else force
        )
        if errors:
            raise errors[0]
        result = verify(staged)
    except KeyboardInterrupt:
        stopped = runner.terminate_children()
        with _signals_deferred():  # a second Ctrl-C waits too: it is already ending as interrupted
            report = roll_back(runner, ledger, staged)
        hint = _after_roll_back(report, journal)
        note = f" (stopped {len(stopped)} child process(es))" if stopped else ""
        raise InterruptedRunError(
            f"interrupted while moving tags{note}; {report.describe()}",
            hint=hint or "publish again to finish",
        ) from None
    except BakepyError as exc:
        with _signals_deferred() as signalled:
            report = roll_back(runner, ledger, staged)
        hint = _after_roll_back(report, journal)
        if (
            signalled
        ):  # interrupted while putting tags back: the original error, ended as an interrupt
            raise InterruptedRunError(
                f"{exc.message}; interrupted while putting tags back, which finished first; "
                f"{report.describe()}",
                hint=hint or "publish again to finish",
            ) from exc
        raise type(exc)(
            f"{exc.message}; {report.describe()}", hint=hint or exc.hint, detail=exc.detail
        ) from exc
    except BaseException:
        if journal is not None:
            journal.release()  # a bug: the journal stays for `bakepy recover`
        raise
    if journal is not None:
        journal.finish()
    return result
