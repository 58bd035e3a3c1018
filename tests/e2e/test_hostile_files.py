"""Issue 23, items 4 to 6, on the real stack: hostile files, a full or read-only disk, a SIGKILLed bakepy.

* a link planted where `bakepy build --records DIR` writes a record: the file it points at is not touched;
* a FIFO, a link to /dev/zero and an oversized record among the records: `bakepy merge` fails at once, exit 2,
  one line naming the file;
* `.bakepy` on a full tmpfs or a read-only bind mount, and a `--records` folder on a full tmpfs (a real ENOSPC
  after the build): one line naming the path, exit 2, and the tag that existed before is where it was (read
  through the registry HTTP API);
* SIGKILL of bakepy during its build: no `docker buildx bake` (nor its `docker-buildx` plugin child) is left.

The mounts need root (`mount -t tmpfs`, `mount --bind` + remount read-only); they are unmounted in `finally`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import registry_api as api
from e2e_support import bakepy, env_for, small_project

NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a tmpfs or a read-only bind mount needs root"
)


def _project(root: Path, registry: str, repo: str, nonce: str) -> Path:
    return small_project(
        root,
        f"""
        [project]
        registries = ["{registry}"]
        platforms = ["linux/amd64"]
        tags = ["latest"]

        [target.app]
        image = "{repo}"
        """,
        f"FROM busybox\nRUN echo {nonce} > /nonce\n",
    )


def _tag(registry: str, repo: str) -> str | None:
    try:
        return api.get_manifest(registry, repo, "latest")[0]
    except api.RegistryAPIError as exc:
        if exc.status == 404:
            return None
        raise


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "unexpected error" not in stderr, stderr
    return lines[0]


@contextlib.contextmanager
def _mounted(*commands: list[str], at: Path) -> Iterator[None]:
    at.mkdir(parents=True, exist_ok=True)
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(at)], capture_output=True)


def _fill(folder: Path) -> None:
    """Write until the file system is full."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as out:
        while True:
            out.write(b"\0" * 4096)
            out.flush()


# -- records ------------------------------------------------------------------------------------------------
def test_a_link_planted_where_a_record_is_written_writes_nothing_outside(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    project = _project(tmp_path / "proj", stack.registries[0], unique_repo, uuid.uuid4().hex)
    records = tmp_path / "records"
    records.mkdir()
    outside = tmp_path / "bashrc"
    outside.write_text("precious\n")
    (records / "app--linux-amd64.json").symlink_to(outside)
    args = ["build", "--platform", "linux/amd64", "--push-by-digest", "--records", str(records)]
    done = bakepy(args, project, env_for(stack))
    assert done.returncode == 0, done.stderr
    assert outside.read_text() == "precious\n"
    record = records / "app--linux-amd64.json"
    assert not record.is_symlink() and '"target": "app"' in record.read_text()
    assert _tag(stack.registries[0], unique_repo) is None  # a build moves no tag


@pytest.mark.parametrize("planted", [".bakepy", ".bakepy/build-linux-amd64", ".bakepy/records"])
def test_a_link_planted_for_a_folder_of_bakepy_is_refused_before_the_build(
    stack, unique_repo: str, tmp_path: Path, planted: str
) -> None:
    project = _project(tmp_path / "proj", stack.registries[0], unique_repo, uuid.uuid4().hex)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project / planted).parent.mkdir(parents=True, exist_ok=True)
    (project / planted).symlink_to(elsewhere)
    done = bakepy(
        ["build", "--platform", "linux/amd64", "--push-by-digest"], project, env_for(stack)
    )
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert line.startswith(f"error: {project / planted}: is a symbolic link (to '{elsewhere}')")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "oversized"])
def test_merge_refuses_a_hostile_record_at_once(
    stack, unique_repo: str, tmp_path: Path, kind: str
) -> None:
    project = _project(tmp_path / "proj", stack.registries[0], unique_repo, "x")
    records = tmp_path / "records" / "job-1"
    records.mkdir(parents=True)
    bad = records / "app--linux-amd64.json"
    if kind == "fifo":
        os.mkfifo(bad)
    elif kind == "dev-zero":
        bad.symlink_to("/dev/zero")
    else:
        bad.write_bytes(b" " * (2 << 20))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bakepy", "merge", "--records", str(tmp_path / "records")],
        cwd=project,
        env=env_for(stack),
        capture_output=True,
        text=True,
        timeout=60,  # the FIFO hung `bakepy merge` forever
    )
    assert time.monotonic() - started < 30
    assert done.returncode == 2, done.stderr
    assert _one_error_line(done.stderr).startswith(f"error: {bad}: ")
    assert _tag(stack.registries[0], unique_repo) is None


# -- a full or read-only disk -------------------------------------------------------------------------------
@pytest.fixture
def published(stack, unique_repo: str, tmp_path: Path) -> tuple[Path, str]:
    """A project published once (tag `latest` exists), then changed: the next publish would move the tag."""
    project = _project(tmp_path / "proj", stack.registries[0], unique_repo, "v1")
    first = bakepy(["publish"], project, env_for(stack))
    assert first.returncode == 0, first.stderr
    before = _tag(stack.registries[0], unique_repo)
    assert before is not None
    _project(project, stack.registries[0], unique_repo, uuid.uuid4().hex)
    return project, before


@NEEDS_ROOT
def test_bakepy_folder_on_a_full_disk(stack, unique_repo: str, published: tuple[Path, str]) -> None:
    project, before = published
    work = project / ".bakepy"
    with _mounted(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(work)], at=work):
        _fill(work)
        done = bakepy(["publish"], project, env_for(stack))
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert line.startswith(f"error: {work}: cannot write its run files: only ")
    assert line.endswith("; nothing was built and no tag was moved")
    assert "df -h" in done.stderr
    assert _tag(stack.registries[0], unique_repo) == before


@NEEDS_ROOT
def test_bakepy_folder_read_only(stack, unique_repo: str, published: tuple[Path, str]) -> None:
    project, before = published
    work = project / ".bakepy"
    remount = ["mount", "-o", "remount,ro,bind", str(work)]
    with _mounted(["mount", "--bind", str(work), str(work)], remount, at=work):
        done = bakepy(["publish"], project, env_for(stack))
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    # said by whichever check comes first: the records folder's (inputs.py) or .bakepy's own (safefs)
    assert line in (
        f"error: {work}: cannot write its run files: the file system is read-only; "
        "nothing was built and no tag was moved",
        f"error: --records {work / 'records'}: cannot make the records folder there: "
        f"{work / 'records'} is not writable; nothing was built",
    )
    assert _tag(stack.registries[0], unique_repo) == before


@NEEDS_ROOT
def test_records_on_a_full_disk_after_the_build(
    stack, unique_repo: str, published: tuple[Path, str], tmp_path: Path
) -> None:
    """The disk fills during the build: the record's write fails with ENOSPC itself, after the push by digest
    and before any tag moves."""
    project, before = published
    records = tmp_path / "full"
    with _mounted(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(records)], at=records):
        _fill(records)
        done = bakepy(["publish", "--records", str(records)], project, env_for(stack))
        left = sorted(p.name for p in records.iterdir())
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert line == (
        f"error: {records / 'app--linux-amd64.json'}: cannot write a digest record: no space left on the "
        "device; the images are pushed by digest only, no tag was moved"
    )
    assert left == ["filler"]  # no temporary file left behind
    assert _tag(stack.registries[0], unique_repo) == before


# -- SIGKILL during the build -------------------------------------------------------------------------------
def _processes_mentioning(text: str) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = entry.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry.parent / "stat").read_text().rpartition(")")[2].split()[0]
            if text in argv and state != "Z":
                found[int(entry.parent.name)] = argv
    return found


def test_sigkill_during_the_build_leaves_no_buildx_process(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    project = small_project(
        tmp_path / "proj",
        f"""
        [project]
        registries = ["{stack.registries[0]}"]
        platforms = ["linux/amd64"]
        tags = ["latest"]

        [target.app]
        image = "{unique_repo}"
        """,
        f"FROM busybox\nRUN echo {uuid.uuid4().hex} && sleep 300\n",
    )
    log = (tmp_path / "bakepy.log").open("w")
    bakepy_process = subprocess.Popen(
        [sys.executable, "-m", "bakepy", "publish"],
        cwd=project,
        env=env_for(stack),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    marker = str(project / ".bakepy" / "runs")  # every bake of this run names its file there
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            bakes = {p: a for p, a in _processes_mentioning(marker).items() if "buildx bake" in a}
            if any("docker-buildx" in a for a in bakes.values()):
                break
            assert bakepy_process.poll() is None, (tmp_path / "bakepy.log").read_text()
            time.sleep(0.2)
        else:
            pytest.fail("the build never started: " + (tmp_path / "bakepy.log").read_text())
        time.sleep(3)  # into the build (the RUN sleeps 300 s)
        assert len(bakes) == 2, bakes  # docker and its plugin, docker-buildx
        bakepy_process.send_signal(signal.SIGKILL)
        bakepy_process.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _processes_mentioning(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_mentioning(marker) == {}
    finally:
        for pid in _processes_mentioning(marker):  # a failed check: leave no build running
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if bakepy_process.poll() is None:
            bakepy_process.kill()
        log.close()
    assert _tag(stack.registries[0], unique_repo) is None
