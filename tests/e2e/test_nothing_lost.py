"""Nothing lost (issue 23): a failed, racing or killed run never deletes, hides or overwrites a tag it did not own.

One amd64-only project publishes three tags to two registries, the second behind a fault proxy. Three sets of
digest records are built once (`bakepy build --push-by-digest`, contents S0, S1, S2); every case then runs
`bakepy merge` of one set (the cheap way to move the same tags to a new index again and again). Before each run
the tags are set to S0 through the registry API, and every check reads the registries' own API (the upstream,
never the proxy, never bakepy). Each case runs 5 times; the race runs 20 times.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import registry_api as api
from e2e_support import bakepy, env_for, small_project

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from faultproxy import FaultProxy, Rule  # noqa: E402

RUNS = 5
RACES = 20
TAGS = ("1.0", "1", "latest")
TIMEOUT = "5"  # BAKEPY_REGISTRY_TIMEOUT: lasting faults fail a run in seconds
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Lab:
    root: Path
    repo: str
    direct: tuple[str, str]  # what the checks read: the registries themselves
    proxy: FaultProxy  # in front of direct[1]; the project names it as its second registry
    records: dict[str, Path]  # S0/S1/S2 → its records folder
    index: dict[str, str]  # S0/S1/S2 → the index digest a merge of it publishes
    env: Callable[..., dict[str, str]]

    def state(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for registry in self.direct:
            for tag in TAGS:
                try:
                    out[f"{registry}:{tag}"], _ = api.get_manifest(registry, self.repo, tag)
                except api.RegistryAPIError:
                    out[f"{registry}:{tag}"] = None
        return out

    def set_tag(self, registry: str, tag: str, digest: str) -> None:
        """Another writer: one manifest PUT through the registry API."""
        url = f"http://{registry}/v2/{self.repo}/manifests"
        got = _HTTP.open(
            urllib.request.Request(
                f"{url}/{digest}", headers={"Accept": api.MANIFEST_ACCEPT}, method="GET"
            ),
            timeout=30,
        )
        body, media_type = got.read(), got.headers["Content-Type"]
        put = urllib.request.Request(
            f"{url}/{tag}", data=body, headers={"Content-Type": media_type}, method="PUT"
        )
        assert _HTTP.open(put, timeout=30).status == 201

    def reset(self, name: str = "S0") -> dict[str, str | None]:
        self.proxy.clear()
        self.proxy.log.clear()
        for registry in self.direct:
            for tag in TAGS:
                self.set_tag(registry, tag, self.index[name])
        state = self.state()
        assert set(state.values()) == {self.index[name]}
        return state

    def merge(self, name: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return bakepy(["merge", "--records", str(self.records[name])], self.root, self.env(**extra))

    def start_merge(self, name: str, *args: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "bakepy", "merge", "--records", str(self.records[name]), *args],
            cwd=self.root,
            env=self.env(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture(scope="module")
def lab(stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    import uuid

    repo = f"bakepy-e2e/nothing-lost-{uuid.uuid4().hex[:10]}"
    tmp = tmp_path_factory.mktemp("nothing-lost")
    with FaultProxy(stack.registries[1]) as proxy:
        registries = [stack.registries[0], proxy.address]
        root = small_project(
            tmp / "p",
            f"""
            [project]
            registries = {registries!r}
            platforms = ["linux/amd64"]
            tags = {list(TAGS)!r}

            [variable.NONCE]
            default = "0"

            [target.app]
            image = "{repo}"
            args = {{ NONCE = "${{NONCE}}" }}
            """,
            "FROM busybox\nARG NONCE\nRUN echo $NONCE > /nonce\n",
        )

        def env(**extra: str) -> dict[str, str]:
            return env_for(stack, BAKEPY_REGISTRY_TIMEOUT=TIMEOUT, **extra)

        records: dict[str, Path] = {}
        index: dict[str, str] = {}
        for name in ("S0", "S1", "S2"):
            folder = tmp / f"records-{name}"
            built = bakepy(
                [
                    "build",
                    "--platform",
                    "linux/amd64",
                    "--push-by-digest",
                    "--records",
                    str(folder),
                ],
                root,
                env(NONCE=f"{name}-{uuid.uuid4().hex}"),
            )
            assert built.returncode == 0, built.stderr[-3000:]
            (record,) = [json.loads(p.read_text()) for p in folder.glob("*.json")]
            records[name], index[name] = folder, record["source"]
        lab = Lab(
            root, repo, (stack.registries[0], stack.registries[1]), proxy, records, index, env
        )
        seeded = lab.merge("S0")
        assert seeded.returncode == 0, seeded.stderr
        assert set(lab.state().values()) == {index["S0"]}
        yield lab


def _tag_path(lab: Lab, tag: str) -> str:
    return rf"/v2/{lab.repo}/manifests/{re.escape(tag)}$"


def _wait(what: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _held(rule: Rule, proc: subprocess.Popen[str]) -> Callable[[], bool]:
    return lambda: rule.fired >= 1 or proc.poll() is not None


def _put_landed(lab: Lab, tag: str, proc: subprocess.Popen[str]) -> Callable[[], bool]:
    def landed() -> bool:
        hits = list(lab.proxy.log)
        put = [h for h in hits if h.method == "PUT" and h.path.endswith(f"/manifests/{tag}")]
        return proc.poll() is not None or any(h.status == 201 for h in put)

    return landed


def _clean(err: str) -> None:
    assert "Traceback" not in err and "unexpected error" not in err, err


# -- deliverable 1: a transient 404 never makes an existing tag "created" ---------------------------------
def test_a_transient_404_on_a_tag_read_then_a_commit_failure_changes_and_removes_nothing(
    lab: Lab,
) -> None:
    for run in range(RUNS):
        before = lab.reset()
        absent = lab.proxy.add_rule("HEAD", _tag_path(lab, "1.0"), "status", status=404, times=1)
        lab.proxy.add_rule("PUT", _tag_path(lab, "latest"), "status", status=500)
        result = lab.merge("S1")
        assert absent.fired == 1, f"run {run}: the 404 never fired"
        assert result.returncode == 5, result.stderr
        _clean(result.stderr)
        assert "removed" not in result.stderr, (
            result.stderr
        )  # no tag was taken for one this run created
        assert "COULD NOT" not in result.stderr, result.stderr
        assert lab.state() == before, result.stderr


# -- deliverable 2: another writer's move survives, and is named ------------------------------------------
@pytest.mark.parametrize(
    "when", ["before-the-put", "before-the-put-then-a-failure", "after-the-put-then-a-failure"]
)
def test_another_writers_move_during_the_run_survives_and_is_named(lab: Lab, when: str) -> None:
    other = lab.index["S2"]
    moved = f"{lab.direct[1]}:1"
    for run in range(RUNS):
        before = lab.reset()
        path = _tag_path(lab, "1")
        if when.startswith("before"):
            # the start read of `1` goes through; the read right before its PUT is held while the other
            # writer moves it
            held = lab.proxy.add_rule("HEAD", path, "delay", seconds=1.5, after=1, times=1)
        if when.endswith("failure"):
            lab.proxy.add_rule("PUT", _tag_path(lab, "latest"), "status", status=500)
        proc = lab.start_merge("S1")
        if when.startswith("before"):
            _wait(_held(held, proc))
        else:  # this run's own PUT of `1` landed: the other writer moves it right after
            _wait(_put_landed(lab, "1", proc))
        lab.set_tag(lab.direct[1], "1", other)
        _, err = proc.communicate(timeout=300)
        _clean(err)
        after = lab.state()
        assert after[moved] == other, f"run {run}: the other writer's move was lost: {err}"
        assert {k: v for k, v in after.items() if k != moved} == {
            k: v for k, v in before.items() if k != moved
        }, err
        assert other in err, err  # the run says which tag moved, and to what
        if when == "after-the-put-then-a-failure":
            assert proc.returncode == 5, err
            assert "left alone, moved by someone else" in err, err
        else:
            assert proc.returncode == 9, err
            assert f"lost the race for {lab.proxy.address}/{lab.repo}:1" in err, err


def test_force_tags_overwrites_another_writers_move_and_says_so(lab: Lab) -> None:
    other = lab.index["S2"]
    for _ in range(RUNS):
        lab.reset()
        held = lab.proxy.add_rule(
            "HEAD", _tag_path(lab, "1"), "delay", seconds=1.5, after=1, times=1
        )
        proc = lab.start_merge("S1", BAKEPY_FORCE_TAGS="1")
        _wait(_held(held, proc))
        lab.set_tag(lab.direct[1], "1", other)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert f"was moved to {other} by someone else during this run" in err, err
        assert "overwritten" in err, err
        assert set(lab.state().values()) == {lab.index["S1"]}


# -- deliverable 2: two merges of the same tags at once: at most one wins -----------------------------------
def test_two_merges_racing_for_the_same_tags_at_most_one_wins(lab: Lab) -> None:
    """Both runs' first read of `1.0` (proxied registry) is held 2 s, so each run reads its tags while the
    other is under way: a race, not two runs one after the other (a race whose two held reads came more than
    1.5 s apart is counted as sequential and checked only for complete tags)."""
    outcomes: dict[str, int] = {}
    sequential = 0
    for race in range(RACES):
        before = lab.reset()
        held = lab.proxy.add_rule("HEAD", _tag_path(lab, "1.0"), "delay", seconds=2, times=2)
        procs = {name: lab.start_merge(name) for name in ("S1", "S2")}
        seen: list[float] = []
        while len(seen) < 2 and any(p.poll() is None for p in procs.values()):
            if held.fired > len(seen):
                seen += [time.monotonic()] * (held.fired - len(seen))
            time.sleep(0.002)
        done = {name: (p.wait(timeout=300), p.communicate()[1]) for name, p in procs.items()}
        state = lab.state()
        assert set(state.values()) <= {lab.index["S1"], lab.index["S2"], *before.values()}, state
        if len(seen) < 2 or seen[1] - seen[0] > 1.5:
            sequential += 1
            continue
        winners = [name for name, (code, _) in done.items() if code == 0]
        key = " ".join(f"{n}:{c}" for n, (c, _) in sorted(done.items()))
        outcomes[key] = outcomes.get(key, 0) + 1
        for name, (code, err) in done.items():
            _clean(err)
            if code == 0:  # a run that says it published: every tag holds its index
                assert set(state.values()) == {lab.index[name]}, (race, name, state, done)
            else:
                assert code == 9, (race, name, code, err)
                assert "lost the race for " in err, err
        assert len(winners) <= 1, (race, done)
        if winners:
            (winner,) = winners
            (loser,) = [n for n in done if n != winner]
            assert lab.index[winner] in done[loser][1], (race, done[loser][1])
    print(f"{RACES} races: {outcomes}, {sequential} not overlapping")
    assert sequential <= RACES // 4, f"{sequential} of {RACES} races did not overlap"


# -- deliverable 3: killed mid-commit, finished by the next run ---------------------------------------------
@pytest.mark.parametrize("then", ["recover", "merge"])
def test_sigkill_during_the_commit_is_finished_by_the_next_run(lab: Lab, then: str) -> None:
    for run in range(RUNS):
        before = lab.reset()
        # the read right before the PUT of `latest` (proxied registry) is held: the other PUTs land meanwhile
        held = lab.proxy.add_rule(
            "HEAD", _tag_path(lab, "latest"), "delay", seconds=3, after=1, times=1
        )
        proc = lab.start_merge("S1")
        _wait(_held(held, proc))
        time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1]
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        killed = lab.state()
        assert lab.index["S1"] in killed.values(), "nothing had moved yet: no commit was killed"
        journals = list((lab.root / ".bakepy" / "runs").glob("*/journal.json"))
        assert journals, "the killed run left no journal"
        time.sleep(3)  # the held read ends (a read: it changes nothing)
        if then == "recover":
            result = bakepy(["recover"], lab.root, lab.env())
            assert result.returncode == 0, result.stderr
            assert "put back" in result.stdout + result.stderr, result.stdout + result.stderr
            assert lab.state() == before, f"run {run}: {result.stdout}{result.stderr}"
        else:
            result = lab.merge("S1")
            assert result.returncode == 0, result.stderr
            assert "interrupted while moving tags: put back" in result.stderr, result.stderr
            assert set(lab.state().values()) == {lab.index["S1"]}  # the registries agree
        _clean(result.stderr)
        assert not list((lab.root / ".bakepy" / "runs").glob("*/journal.json"))


# -- deliverable 4: the roll back does not give up after a failed read ---------------------------------------
def test_a_read_back_500_after_the_commit_then_a_failure_puts_every_moved_tag_back(
    lab: Lab,
) -> None:
    tags = "|".join(t.replace(".", r"\.") for t in TAGS)
    for run in range(RUNS):
        before = lab.reset()
        # the proxied registry's tags: read at the start (3), read again right before each PUT (3), then every
        # read answers 500: the read-back after the commit fails, and so do the roll back's reads
        broken = lab.proxy.add_rule(
            "HEAD", rf"/v2/{lab.repo}/manifests/({tags})$", "status", status=500, after=6
        )
        lab.proxy.add_rule("GET", rf"/v2/{lab.repo}/manifests/({tags})$", "status", status=500)
        result = lab.merge("S1")
        lab.proxy.clear()
        assert broken.fired > 0, "the read-back never failed"
        assert result.returncode == 5, result.stderr
        _clean(result.stderr)
        assert "put back 6 tag(s)" in result.stderr, result.stderr
        assert "COULD NOT" not in result.stderr, result.stderr
        assert lab.state() == before, f"run {run}: {result.stderr}"
