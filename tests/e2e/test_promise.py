"""The promise on paths beyond one node and a failing build: a two-node builder, interrupts, a mislabelled source.

Every check reads the registry's own HTTP API (registry_api), never bakepy's report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import registry_api as api
from e2e_support import bakepy, env_for, nonce_project, small_project

from bakepy.engine.runner import _descendants

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from faultproxy import FaultProxy  # noqa: E402

FAIL_ON_ARM = """FROM busybox
ARG TARGETARCH
RUN if [ "$TARGETARCH" = arm64 ]; then echo "no arm64 for you" >&2; exit 3; fi; uname -m > /arch
"""


def _tags(registry: str, repo: str) -> list[str]:
    try:
        return sorted(api.list_tags(registry, repo))
    except api.RegistryAPIError:  # the repository does not exist: no tag at all
        return []


def _project(root: Path, registries: list[str], repo: str, dockerfile_two: str) -> Path:
    small_project(
        root,
        f"""
        [project]
        registries = {registries!r}
        platforms = ["linux/amd64", "linux/arm64"]
        tags = ["1.0"]

        [target.one]
        image = "{repo}/one"

        [target.two]
        image = "{repo}/two"
        dockerfile = "Dockerfile.two"
        """,
    )
    (root / "Dockerfile.two").write_text(dockerfile_two)
    return root


def test_two_node_builder_never_pushes_a_tag_from_the_build(
    stack, two_node_builder: str, unique_repo: str, tmp_path: Path
) -> None:
    registries = list(stack.registries)
    env = env_for(stack, builder=two_node_builder)
    doctor = bakepy(
        ["doctor", "--platform", "linux/amd64", "--platform", "linux/arm64"], tmp_path, env
    )
    lines = doctor.stdout.splitlines()
    assert any("linux/amd64" in x and "node amd" in x for x in lines), doctor.stdout
    assert any("linux/arm64" in x and "node arm" in x for x in lines), doctor.stdout

    # target two fails on arm64 (its node): no tag at all in any repository, `latest` included
    bad = _project(tmp_path / "bad", registries, unique_repo, FAIL_ON_ARM)
    result = bakepy(["publish"], bad, env)
    assert result.returncode == 4, result.stderr
    assert "target two for linux/arm64" in result.stderr, result.stderr[-1500:]
    for registry in registries:
        for target in ("one", "two"):
            assert _tags(registry, f"{unique_repo}/{target}") == []

    # a good run creates exactly the planned tags: `1.0`, and no `latest` beside it
    good = _project(
        tmp_path / "good", registries, unique_repo, "FROM busybox\nRUN uname -m > /arch\n"
    )
    result = bakepy(["publish"], good, env)
    assert result.returncode == 0, result.stderr
    for registry in registries:
        for target in ("one", "two"):
            assert _tags(registry, f"{unique_repo}/{target}") == ["1.0"]
            _, index = api.get_manifest(registry, f"{unique_repo}/{target}", "1.0")
            assert api.platforms(index) == {"linux/amd64", "linux/arm64"}


def _digests(registries: list[str], repo: str, tags: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for registry in registries:
        for tag in tags:
            try:
                out[f"{registry}/{repo}:{tag}"], _ = api.get_manifest(registry, repo, tag)
            except api.RegistryAPIError:
                out[f"{registry}/{repo}:{tag}"] = None
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_tag_moves_leaves_every_tag_as_before_and_no_child(
    stack, unique_repo: str, tmp_path: Path, sig: signal.Signals
) -> None:
    """The second registry sits behind the fault proxy, which holds one tag's PUT for 2 s: the signal lands
    while the tag moves are in flight (some tags moved, that one on its way). Afterwards every tag is as before
    in both registries (the held write is waited for, then put back) and no child process is left."""
    registries = list(stack.registries)  # what the assertions read: never the proxy
    tags = [f"t{i}" for i in range(12)]
    with FaultProxy(stack.registries[1]) as proxy:
        root = nonce_project(tmp_path / "p", [registries[0], proxy.address], unique_repo, tags)
        first = bakepy(["publish"], root, env_for(stack, NONCE="first"))
        assert first.returncode == 0, first.stderr
        before = _digests(registries, unique_repo, tags)
        assert all(before.values())

        for attempt in range(5):
            proxy.clear()
            held = proxy.add_rule(
                "PUT", rf"/v2/{unique_repo}/manifests/t5$", "delay", seconds=2, times=1
            )
            env = env_for(stack, NONCE=f"second-{attempt}-{uuid.uuid4().hex}")
            proc = subprocess.Popen(
                [sys.executable, "-m", "bakepy", "--debug", "publish"],
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and proc.poll() is None and not held.fired:
                time.sleep(0.005)
            assert held.fired, "the tag moves never reached the proxy"
            time.sleep(0.2)  # the other tags' PUTs go through meanwhile
            children = _descendants(proc.pid)
            os.kill(proc.pid, sig)
            _, err = proc.communicate(timeout=300)
            after = _digests(registries, unique_repo, tags)
            assert proc.returncode == 130, err
            assert "interrupted while moving tags" in err, err
            assert "put back" in err, err  # tags had moved: the message says they were put back
            assert after == before, err
            assert not any(_alive(pid) for pid in children), "a child outlived bakepy"
            leftovers = subprocess.run(
                ["pgrep", "-f", f"imagetools create.*{unique_repo}"], capture_output=True, text=True
            )
            assert leftovers.stdout.strip() == "", "a child outlived bakepy"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_mislabelled_source_is_refused_before_any_tag_moves(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    """Records that swap two plain manifests' platforms (what a hand-written record for a cross-built image
    says): refused, naming both platforms, and every tag — complete ones included — keeps its digest."""
    import json

    registries = list(stack.registries)
    root = small_project(
        tmp_path / "p",
        f"""
        [project]
        registries = {registries!r}
        platforms = ["linux/amd64", "linux/arm64"]
        tags = ["1.0", "latest"]

        [target.app]
        image = "{unique_repo}"
        """,
    )
    env = env_for(stack, BUILDX_NO_DEFAULT_ATTESTATIONS="1")
    first = bakepy(["publish"], root, env)
    assert first.returncode == 0, first.stderr
    before = _digests(registries, unique_repo, ["1.0", "latest"])

    rec = tmp_path / "rec"
    for platform in ("linux/amd64", "linux/arm64"):
        (root / "Dockerfile").write_text(f"FROM busybox\nRUN echo {uuid.uuid4().hex} > /n\n")
        built = bakepy(
            ["build", "--platform", platform, "--push-by-digest", "--records", str(rec)], root, env
        )
        assert built.returncode == 0, built.stderr[-3000:]
    files = sorted(rec.glob("*.json"))
    assert len(files) == 2
    docs = [json.loads(f.read_text()) for f in files]
    docs[0]["platform"], docs[1]["platform"] = docs[1]["platform"], docs[0]["platform"]
    for f, doc in zip(files, docs, strict=True):
        f.write_text(json.dumps(doc))

    merged = bakepy(["merge", "--records", str(rec)], root, env)
    assert merged.returncode == 5, merged.stderr
    assert "is listed as linux/arm64, but its image config says linux/amd64" in merged.stderr or (
        "is listed as linux/amd64, but its image config says linux/arm64" in merged.stderr
    ), merged.stderr
    assert "no tag was moved" in merged.stderr
    assert _digests(registries, unique_repo, ["1.0", "latest"]) == before


def test_two_publishes_of_different_content_to_the_same_tags_at_once(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    """Ten races: no tag ever incomplete; either both registries agree per target, or a run exited non-zero
    naming the disagreement (a re-run fixes it)."""
    registries = list(stack.registries)
    tags = ["1.0", "latest"]
    a = nonce_project(tmp_path / "a", registries, unique_repo, tags)
    b = nonce_project(tmp_path / "b", registries, unique_repo, tags)
    seed = bakepy(["publish"], a, env_for(stack, NONCE="seed"))
    assert seed.returncode == 0, seed.stderr
    for race in range(10):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "bakepy", "publish"],
                cwd=root,
                env=env_for(stack, NONCE=f"{name}-{race}-{uuid.uuid4().hex}"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, root in (("a", a), ("b", b))
        ]
        outcomes = [(p.wait(timeout=600), p.communicate()[1]) for p in procs]
        state = _digests(registries, unique_repo, tags)
        for ref, digest in state.items():
            assert digest is not None, ref
            registry, _, tag = ref.partition(f"/{unique_repo}:")
            _, index = api.get_manifest(registry, unique_repo, tag)
            assert api.platforms(index) == {"linux/amd64", "linux/arm64"}, ref  # complete
        agree = len(set(state.values())) == 1
        print(f"race {race}: exits {[code for code, _ in outcomes]}, registries agree: {agree}")
        if not agree:
            losers = [err for code, err in outcomes if code != 0]
            assert losers, f"race {race}: registries disagree and both runs exited 0: {state}"
            assert any("someone else" in e or "another publish" in e for e in losers), losers
    again = bakepy(["publish"], a, env_for(stack, NONCE="settle"))
    assert again.returncode == 0, again.stderr
    assert len(set(_digests(registries, unique_repo, tags).values())) == 1


def test_a_verify_failure_puts_every_moved_tag_back(
    stack, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verify is forced to fail after every tag moved (both registries, one call): all of them are put back."""
    from bakepy.config import load_project
    from bakepy.engine.runner import Runner
    from bakepy.errors import RegistryError
    from bakepy.publish import run as publish_run

    registries = list(stack.registries)
    tags = ["1.0", "latest"]
    root = nonce_project(tmp_path / "p", registries, unique_repo, tags)
    for key, value in stack.env_overlay.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NONCE", "first")
    runner = Runner(log=lambda line: None, echo_output=False)
    publish_run.publish_project(root / "bakepy.toml", load_project(None, root).project, runner)
    before = _digests(registries, unique_repo, tags)

    def broken(*args: object) -> object:
        raise RegistryError("verify: forced failure")

    monkeypatch.setattr(publish_run, "verify", broken)
    monkeypatch.setenv("NONCE", "second")
    with pytest.raises(RegistryError) as failure:
        publish_run.publish_project(root / "bakepy.toml", load_project(None, root).project, runner)
    assert str(failure.value).startswith("verify: forced failure; put back 4 tag(s)")
    assert _digests(registries, unique_repo, tags) == before
