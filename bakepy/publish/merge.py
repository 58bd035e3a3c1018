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
   carrying all its tags (a carbon copy: one source that is an index). Only tags move here.
4. On any failure after the first commit started (a failed or partly failed call, a failed read-back, an
   interrupt) `roll_back` reads every tag back, never trusting an exit code, and puts back exactly the tags that
   now hold this run's index: to their old index, or deleted where they did not exist and the registry allows it.
   A tag that holds something else was moved by someone else during the run and is left alone, and said so.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from bakepy.engine import registry
from bakepy.engine.runner import Runner, registry_hint
from bakepy.errors import BakepyError, InterruptedRunError, RegistryError
from bakepy.publish.index import OCI_INDEX, ImageIndex, merged_index, parse_index, split_reference
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
        for d in registries:
            registry.put_manifest_by_digest(d.repository, body, OCI_INDEX)
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


# -- 3. commit ------------------------------------------------------------------------------------------
def commit(runner: Runner, staged: Sequence[Staged], *, workers: int = 8) -> list[BaseException]:
    """Move every moving tag of every target in every registry to its staged index; return the failures.

    The floor: one manifest PUT per tag, side by side, of the exact bytes staged by digest (no blob copies, no
    reads). Tags in registries that want credentials (or whose index bytes are not known here) move with one
    `imagetools create` per target carrying all of them, so auth stays the credential store's.

    A write that gets no answer within `BAKEPY_REGISTRY_TIMEOUT` fails the run, but it was sent and may still
    land: commit returns only when every write sent has answered (or its connection ended), so the roll back
    that follows reads where each tag really is.
    """
    work = [s for s in staged if s.merge.moving]
    if not work:
        return []
    soft = registry.write_timeout()
    hard = soft + registry.IN_DOUBT_GRACE
    errors: list[BaseException] = []
    by_create: dict[int, list[str]] = {}  # target (index in work) → tags for imagetools

    def put(i: int, tag: str) -> None:
        s = work[i]
        try:
            registry.put_tag(
                tag, s.index.raw or b"", s.index.media_type, timeout=hard, retry_for=soft
            )
        except registry.NoAnswer:
            by_create.setdefault(i, []).append(tag)  # dict/list appends are atomic under the GIL
        except RegistryError as exc:
            raise RegistryError(
                f"merge of target {s.merge.target} failed: {exc.message}",
                hint=exc.hint or "fix the registry problem and publish again",
            ) from exc

    def create(i: int, tags: Sequence[str]) -> None:
        s = work[i]
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

    jobs: list[tuple[str, Callable[[], None]]] = []
    for i, s in enumerate(work):
        if _bytes_known(s):
            runner.log(f"+ PUT {s.digest[:19]}… as {' '.join(s.merge.moving)}  (registry API)")
            jobs += [(t, functools.partial(put, i, t)) for t in s.merge.moving]
        else:
            by_create[i] = list(s.merge.moving)
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1)))
    try:
        errors += _run_all(pool, jobs, soft)
        creates = [(f"target {work[i].merge.target}", functools.partial(create, i, tags))
                   for i, tags in sorted(by_create.items())]  # fmt: skip
        errors += _run_all(pool, creates, None)
    except BaseException:
        pool.shutdown(
            wait=True, cancel_futures=True
        )  # writes already sent finish before the roll back
        raise
    pool.shutdown(wait=True)
    return errors


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

    @property
    def clean(self) -> bool:
        return not self.failed

    def describe(self) -> str:
        if not (self.restored or self.removed or self.failed or self.foreign):
            return "no tag was created or moved (read back from the registries)"
        parts = []
        if self.restored:
            parts.append(f"put back {len(self.restored)} tag(s) moved in this run")
        if self.removed:
            parts.append(f"removed {len(self.removed)} tag(s) this run had created")
        if self.failed:
            listed = "; ".join(f"{t} ({why})" for t, why in self.failed)
            parts.append(f"COULD NOT put back {len(self.failed)} tag(s): {listed}")
        if self.foreign:
            listed = ", ".join(f"{t} (now {d[:19]}…)" for t, d in self.foreign)
            parts.append(f"left alone, moved by someone else during this run: {listed}")
        return "; ".join(parts)


def _read_digest(runner: Runner, ref: str) -> str | None:
    try:
        return registry.head_digest(ref)
    except registry.NoAnswer:
        found = registry.inspect(runner, ref)
        return None if found is None else found.digest


def roll_back(runner: Runner, staged: Sequence[Staged]) -> RollBack:
    """Read every tag this run may have moved; put back exactly those that hold this run's index."""
    result = RollBack()
    restore: dict[tuple[str, str], list[str]] = {}
    create: list[tuple[str, Decision, str]] = []
    for s in staged:
        for d in s.merge.decisions:
            for tag in d.move:
                before = d.before.get(tag)
                try:
                    now = _read_digest(runner, tag)
                except BakepyError as exc:
                    result.failed.append((tag, f"cannot read it: {exc.message}"))
                    continue
                if now == before:
                    result.untouched.append(tag)
                elif now != s.digest:
                    result.foreign.append((tag, str(now)))
                elif before is None:
                    create.append((tag, d, s.digest))
                else:
                    restore.setdefault((d.repository, before), []).append(tag)
    for (repo, before), tags in restore.items():
        whys = _put_back(runner, repo, before, tags)
        for tag in tags:
            try:
                ok = _read_digest(runner, tag) == before
            except BakepyError:
                ok = False
            if ok:
                result.restored.append(tag)
            else:
                result.failed.append(
                    (tag, whys.get(tag, f"still not at {before[:19]}… after putting it back"))
                )
    for tag, d, digest in create:
        safe = digest not in set(d.before.values())
        if registry.delete_tag(tag, digest=digest, others_safe=safe):
            result.removed.append(tag)
        else:
            result.failed.append(
                (tag, "it did not exist before and this registry does not let bakepy delete it")
            )
    return result


def _put_back(runner: Runner, repo: str, before: str, tags: Sequence[str]) -> dict[str, str]:
    """Point `tags` (of `repo`) at `before` again, each on its own so one refusal stops no other; return why
    each failed one failed (the caller's reads decide what counts as put back)."""
    whys: dict[str, str] = {}
    rest = list(tags)
    try:
        old = registry.read(f"{repo}@{before}")
    except (registry.NoAnswer, RegistryError):
        old = None
    if old is not None and old.raw is not None:
        rest = []
        for tag in tags:
            try:
                registry.put_tag(tag, old.raw, old.media_type, timeout=registry.write_timeout())
            except registry.NoAnswer:
                rest.append(tag)
            except RegistryError as exc:
                whys[tag] = f"putting it back failed: {exc.message}"
                rest.append(
                    tag
                )  # a refused PUT may still have landed, or imagetools may get through
    for tag in rest:
        registry.count_fallback("imagetools create")
        try:
            runner.imagetools_create([tag], [f"{repo}@{before}"])
        except BakepyError as exc:
            whys.setdefault(tag, f"putting it back failed: {exc.message}")
    return whys


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


def transact(
    runner: Runner,
    merges: Sequence[TargetMerge],
    known: Mapping[str, ImageIndex],
    *,
    verify: Callable[[Sequence[Staged]], Any],
) -> Any:
    """Stage every index, then commit every tag, then `verify`; on any failure after the first tag may have
    moved, put back what this run moved and raise with what moved, what was put back and what could not be."""
    # every target's index by digest, side by side; nothing moves here, so a failure needs no roll back
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(merges)))) as pool:
        staged = list(pool.map(lambda m: stage(runner, m, known), merges))
    try:
        errors = commit(runner, staged)
        if errors:
            raise errors[0]
        return verify(staged)
    except KeyboardInterrupt:
        stopped = runner.terminate_children()
        with _signals_deferred():  # a second Ctrl-C waits too: it is already ending as interrupted
            report = roll_back(runner, staged)
        note = f" (stopped {len(stopped)} child process(es))" if stopped else ""
        raise InterruptedRunError(
            f"interrupted while moving tags{note}; {report.describe()}",
            hint="publish again to finish"
            if report.clean
            else "restore the tags named above by hand",
        ) from None
    except BakepyError as exc:
        with _signals_deferred() as signalled:
            report = roll_back(runner, staged)
        if (
            signalled
        ):  # interrupted while putting tags back: the original error, ended as an interrupt
            raise InterruptedRunError(
                f"{exc.message}; interrupted while putting tags back, which finished first; "
                f"{report.describe()}",
                hint="publish again to finish"
                if report.clean
                else "restore the tags named above by hand, then publish again",
            ) from exc
        raise type(exc)(
            f"{exc.message}; {report.describe()}",
            hint=exc.hint
            if report.clean
            else "restore the tags named above by hand, then publish again",
            detail=exc.detail,
        ) from exc
