"""The one seam through which bakepy runs docker: python-on-whales underneath, every command logged.

Nothing else in bakepy starts a docker process. Each call is printed first (`+ docker buildx bake …`,
shlex-quoted; never the environment), and a failed call becomes one `BakepyError` here, keeping the command,
its exit code and the tail of its stderr. Where python-on-whales offers the call with every flag we need we use it
as is; where it lacks a flag (`bake --call/--allow/--var`, `imagetools create --prefer-index`, …) we extend its
command (`docker_cmd`) in this module only. Its `run` and stream take no hook to make a child die with its
parent, so the command runs through `engine.children` (the same argv and environment, plus a parent-death
signal): no `docker buildx bake` outlives a bakepy that was SIGKILLed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bakepy.errors import BakepyError, BuildError, ConfigError, RegistryError, ToolMissingError

if TYPE_CHECKING:
    from bakepy.engine.buildx_store import StoredBuilder
    from bakepy.engine.children import ProcessFailed

DOCKER_INSTALL_HINT = (
    "install the docker CLI (Debian: `apt-get install docker.io` or docker-ce-cli; "
    "see https://docs.docker.com/engine/install/), or put `docker` on PATH"
)
BUILDX_INSTALL_HINT = (
    "install the buildx plugin: copy a docker-buildx binary to ~/.docker/cli-plugins/docker-buildx "
    "(https://github.com/docker/buildx#installing), or build it with "
    "`go install github.com/docker/buildx/cmd/buildx@v0.36.1` and copy $GOBIN/buildx there"
)
# The oldest buildx bakepy drives: imagetools annotations (0.12), bake --metadata-file (0.6), attestations (0.10).
MIN_BUILDX = (0, 12, 0)

Logger = Callable[[str], None]


def _default_logger(line: str) -> None:
    """Each command on stderr: dimmed on a terminal (rich), as plain lines otherwise (a CI log, a pipe), where
    rich would write the same bytes, so it is not even imported for them."""
    try:
        terminal = sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        terminal = False
    if terminal or os.environ.get("FORCE_COLOR"):
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[dim]{escape(line)}[/]")
    else:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def parse_buildx_version(text: str) -> tuple[int, int, int] | None:
    """`github.com/docker/buildx v0.36.1 abc…` → (0, 36, 1); None when buildx was built without a version."""
    match = re.search(r"\bv?(\d+)\.(\d+)\.(\d+)", text)
    if not match or text.strip().split()[1:2] == ["v0.0.0+unknown"]:
        return None
    major, minor, patch = (int(x) for x in match.groups())
    return (major, minor, patch)


@dataclass(frozen=True)
class BakeOptions:
    """What a user passes through to every build bake (`--set`, `--no-cache`, `--pull`, `--load`)."""

    sets: tuple[str, ...] = ()
    no_cache: bool = False
    pull: bool = False
    load: bool = False

    def args(self) -> list[str]:
        out = [a for s in self.sets for a in ("--set", s)]
        out += ["--no-cache"] * self.no_cache + ["--pull"] * self.pull
        return out + ["--load"] * self.load


class Runner:
    """Runs docker commands for bakepy. One instance per CLI invocation (or per library call)."""

    def __init__(
        self,
        *,
        builder: str | None = None,
        log: Logger | None = None,
        echo_output: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.builder = builder
        self.log = log or _default_logger
        self.echo_output = echo_output
        self.env = dict(env or {})
        self._docker_path: str | None = None
        self.bake_options = BakeOptions()
        # work the caller needs done later (imports for its output) and lets run while the run only waits
        self.idle: list[Callable[[], object]] = []

    def run_idle(self) -> None:
        """Run (once) what was left in `idle`, on this thread: called where the run only waits, such as the
        settle pause of a merge. A failure there is the work's own business and is met again where it is
        needed."""
        while self.idle:
            with contextlib.suppress(Exception):
                self.idle.pop(0)()

    # -- binaries ---------------------------------------------------------------------------------
    def docker_path(self) -> str:
        if self._docker_path is None:
            found = shutil.which("docker")
            if found is None:
                raise ToolMissingError(
                    "the docker CLI was not found on PATH", hint=DOCKER_INSTALL_HINT
                )
            self._docker_path = found
        return self._docker_path

    def _client(self) -> Any:
        from python_on_whales import DockerClient

        return DockerClient(client_call=[self.docker_path()])

    def docker_cmd(self) -> list[str]:
        """The argv prefix python-on-whales would use (`docker` plus any client config)."""
        return [str(x) for x in self._client().docker_cmd]

    # -- running ----------------------------------------------------------------------------------
    def run(
        self,
        args: Sequence[str],
        *,
        what: str,
        error: type[BakepyError] = RegistryError,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Run `docker ARGS…`, log it, return stdout; a failure becomes `error(…)` naming `what`."""
        from bakepy.engine.children import ProcessFailed, run_captured

        argv = [*self.docker_cmd(), *args]
        self.log("+ " + shlex.join(argv))
        try:
            return run_captured(argv, {**self.env, **(env or {})}, input)
        except ProcessFailed as exc:
            raise self._failure(exc, argv, what, error) from exc
        except FileNotFoundError as exc:
            raise ToolMissingError(
                "the docker CLI was not found", hint=DOCKER_INSTALL_HINT
            ) from exc

    def stream(
        self,
        args: Sequence[str],
        *,
        what: str,
        error: type[BakepyError] = BuildError,
        on_line: Callable[[str], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Run `docker ARGS…` showing its output as it comes (builds); a failure becomes `error(…)`."""
        from bakepy.engine.children import ProcessFailed, stream_lines

        argv = [*self.docker_cmd(), *args]
        self.log("+ " + shlex.join(argv))
        tail: deque[str] = deque(maxlen=40)
        try:
            for _source, raw in stream_lines(argv, {**self.env, **(env or {})}):
                line = raw.decode(errors="replace").rstrip("\n")
                tail.append(line)
                if on_line is not None:
                    on_line(line)
                elif self.echo_output:
                    self.log("  " + line)
        except ProcessFailed as exc:
            raise self._failure(exc, argv, what, error, tail="\n".join(tail)) from exc
        except FileNotFoundError as exc:
            raise ToolMissingError(
                "the docker CLI was not found", hint=DOCKER_INSTALL_HINT
            ) from exc

    def _failure(
        self,
        exc: ProcessFailed,
        argv: Sequence[str],
        what: str,
        error: type[BakepyError],
        tail: str | None = None,
    ) -> BakepyError:
        stderr = tail if tail is not None else exc.stderr
        # Without the plugin the docker CLI reads `buildx …` as its own arguments: `docker buildx version` says
        # "unknown command: docker buildx", `docker buildx bake --file …` says "unknown flag: --file" (exit 125).
        plugin_missing = "buildx" in argv[1:3]  # argv: docker [client flags] buildx …
        if (
            "'buildx' is not a docker command" in stderr
            or "unknown command: docker buildx" in stderr
            or (
                plugin_missing
                and exc.return_code == 125
                and ("unknown flag:" in stderr or "docker [OPTIONS] COMMAND" in stderr)
            )
        ):
            return ToolMissingError(
                "the docker buildx plugin is not installed", hint=BUILDX_INSTALL_HINT
            )
        missing_builder = re.search(r'no builder "([^"]+)" found', stderr)
        if missing_builder:
            name = missing_builder.group(1)
            return ConfigError(
                f"there is no buildx builder named {name!r} (from --builder or BUILDX_BUILDER)"
                + self._builder_suggestion(name),
                hint="`docker buildx ls` lists the builders; `docker buildx create --name NAME` makes one; "
                "`bakepy doctor` checks it",
            )
        last = _last_meaningful_line(stderr)
        summary = f"{what} failed (exit {exc.return_code})" + (f": {last}" if last else "")
        return error(
            summary,
            hint=registry_hint(stderr) or "run again with --debug to see the command's output",
            detail=f"$ {shlex.join(argv)}\n{stderr[-4000:]}",
        )

    def _builder_suggestion(self, name: str) -> str:
        """`; did you mean 'x'?` from the builders buildx has stored (its instances folder: asking `buildx ls`
        would contact every builder, and a stale one can keep it waiting)."""
        from bakepy.model.base import did_you_mean

        home = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
        try:
            names = sorted(p.name for p in (home / "buildx" / "instances").iterdir())
        except OSError:
            return ""
        return did_you_mean(name, names)

    # -- buildx -----------------------------------------------------------------------------------
    def buildx_version(self) -> str:
        """The first line of `docker buildx version`; ToolMissingError when the plugin is missing."""
        return self.run(
            ["buildx", "version"], what="docker buildx version", error=ToolMissingError
        ).strip()

    def docker_daemon(self) -> str | None:
        """The local Docker daemon's version, or None when none answers (what `--load` loads into)."""
        try:
            out = self.run(
                ["version", "--format", "{{.Server.Version}}"],
                what="docker version",
                error=BuildError,
            )
        except BuildError:
            return None
        return out.strip() or None

    def _builder_args(self, builder: str | None = None) -> list[str]:
        name = builder or self.builder
        return ["--builder", name] if name else []

    def bake(
        self,
        files: Sequence[Path],
        targets: Sequence[str],
        *,
        metadata_file: Path | None = None,
        set_: Iterable[str] = (),
        call: str | None = None,
        allow: Iterable[str] = (),
        print_only: bool = False,
        progress: str = "plain",
        on_line: Callable[[str], None] | None = None,
        cwd: Path | None = None,
    ) -> dict[str, Any] | None:
        """`docker buildx bake`. With `print_only` returns the resolved definition (`--print`).

        Bake resolves relative contexts against the working directory, not the file (buildx#1028): pass the
        project's directory as `cwd`.
        """
        args = ["buildx", "bake", *self._builder_args()]
        for f in files:
            args += ["--file", str(f)]
        if metadata_file is not None:
            args += ["--metadata-file", str(metadata_file)]
        for s in set_:  # repeatable: python-on-whales' bake(set=dict) cannot repeat a key
            args += ["--set", s]
        if call:
            args += ["--call", call]
        for a in allow:
            args += ["--allow", a]
        # bakepy bakes files it rendered into .bakepy/, with contexts relative to the project directory: a user's
        # BUILDX_BAKE_FILE_RELATIVE_PATHS=1 (buildx 0.36) would rebase them onto .bakepy/.
        env = {"BUILDX_BAKE_FILE_RELATIVE_PATHS": "false"}
        with _working_directory(cwd):
            if print_only:
                what = "docker buildx bake --print"
                out = self.run([*args, "--print", *targets], what=what, error=BuildError, env=env)
                return dict(json.loads(out))
            args += ["--progress", progress, *self.bake_options.args()]
            self.stream(
                [*args, *targets],
                what="docker buildx bake",
                error=BuildError,
                on_line=on_line,
                env=env,
            )
        return None

    def imagetools_create(
        self,
        tags: Sequence[str],
        sources: Sequence[str],
        *,
        annotations: Mapping[str, str] | None = None,
        dry_run: bool = False,
        prefer_index: bool = True,
    ) -> str:
        """`docker buildx imagetools create --tag … SOURCES`; returns stdout (the index JSON with dry_run).

        `prefer_index=False` copies a single image manifest as it is (a carbon copy, buildx#2481) instead of
        wrapping it in a one-platform index; python-on-whales' wrapper lacks the flag."""
        args = ["buildx", "imagetools", "create", *self._builder_args()]
        if not prefer_index:
            args.append("--prefer-index=false")
        for tag in tags:
            args += ["--tag", tag]
        for key, value in (annotations or {}).items():
            args += ["--annotation", f"{key}={value}"]
        if dry_run:
            args.append("--dry-run")
        args += list(sources)
        return self.run(args, what="docker buildx imagetools create", error=RegistryError)

    def imagetools_inspect(self, ref: str) -> dict[str, Any] | None:
        """The manifest or index `ref` points at, with its `digest` and `size`; None if it does not exist.

        python-on-whales' `imagetools.inspect` parses `--raw`, which has no digest; `{{json .Manifest}}` has it.
        """
        return self._imagetools_json(ref, "{{json .Manifest}}", f"reading {ref} from its registry")

    def imagetools_image_config(self, ref: str) -> dict[str, Any] | None:
        """The image config (`os`, `architecture`, `variant`, …) of one image manifest `ref`; None if missing."""
        return self._imagetools_json(ref, "{{json .Image}}", f"reading the image config of {ref}")

    def _imagetools_json(self, ref: str, template: str, what: str) -> dict[str, Any] | None:
        """`imagetools inspect --format TEMPLATE REF` as a JSON object; None when the reference does not exist."""
        from bakepy.engine.children import ProcessFailed, run_captured

        argv = [*self.docker_cmd(), "buildx", "imagetools", "inspect", *self._builder_args()]
        argv += ["--format", template, ref]
        self.log("+ " + shlex.join(argv))
        try:
            out = run_captured(argv, self.env)
        except ProcessFailed as exc:
            if _is_not_found(exc.stderr):
                return None
            raise self._failure(exc, argv, what, RegistryError) from exc
        found = json.loads(out) if out.strip() else None
        return dict(found) if isinstance(found, dict) else None

    def terminate_children(self, *, grace: float = 5.0) -> list[int]:
        """Stop every process this one started (bake, imagetools), and theirs: SIGTERM, then SIGKILL.

        They are started from worker threads (`engine.children`) and no handle is kept, so they are found by
        parent PID in /proc. Returns the PIDs that were running.
        """
        return terminate_descendants(grace=grace)

    def inspect_builder(self, name: str | None = None, *, bootstrap: bool = False) -> BuilderState:
        """One builder, its nodes and their platforms (`docker buildx inspect [--bootstrap] [NAME]`; without NAME
        the one buildx would use: --builder, else BUILDX_BUILDER, else the current one).

        Read from `inspect`'s text, in one call: python-on-whales' `buildx.inspect` also runs `buildx ls`, which
        contacts every builder, so a stale one elsewhere could keep bakepy waiting."""
        wanted = name or self.builder
        args = [
            "buildx",
            "inspect",
            *(["--bootstrap"] if bootstrap else []),
            *([wanted] if wanted else []),
        ]
        out = self.run(args, what="docker buildx inspect", error=BuildError)
        state = parse_builder_inspect(out)
        if not state.name:
            raise BuildError(
                f"could not read the builder name from `docker buildx inspect`: {out[:200]!r}"
            )
        return state

    def stored_builder(self) -> StoredBuilder | None:
        """The builder buildx would use as its own store describes it (no docker process); None when the store
        cannot say (`engine/buildx_store.py`), and `inspect_builder` must."""
        from bakepy.engine.buildx_store import stored_builder

        return stored_builder(self.builder, {**os.environ, **self.env})

    def active_builder(self, *, bootstrap: bool = True) -> str:
        """The name of the builder buildx would use (--builder, else BUILDX_BUILDER, else the current one);
        `bootstrap` starts it if needed."""
        return self.inspect_builder(bootstrap=bootstrap).name


@dataclass(frozen=True)
class BuilderNode:
    name: str
    endpoint: str
    status: str
    platforms: tuple[str, ...]
    """As buildx lists them: a node's configured platforms (`--platform`) first, then what its workers run."""


@dataclass(frozen=True)
class BuilderState:
    name: str
    driver: str
    nodes: tuple[BuilderNode, ...]


def parse_builder_inspect(text: str) -> BuilderState:
    """`docker buildx inspect`'s text: the builder's name and driver, then per node its name, endpoint, status
    and platforms (buildx marks configured platforms with `*`; the mark is dropped, the order kept)."""
    head: dict[str, str] = {}
    nodes: list[dict[str, str]] = []
    for line in text.splitlines():
        if not line or line[0].isspace():
            continue  # labels, GC policy details
        key, sep, value = line.partition(":")
        if key == "Nodes" and not value.strip():
            nodes.append({})
            continue
        if not sep:
            continue
        if nodes:
            if key == "Name" and "Name" in nodes[-1]:
                nodes.append({})
            nodes[-1].setdefault(key, value.strip())
        else:
            head.setdefault(key, value.strip())
    return BuilderState(
        head.get("Name", ""),
        head.get("Driver", ""),
        tuple(
            BuilderNode(
                n.get("Name", ""),
                n.get("Endpoint", ""),
                n.get("Status", ""),
                tuple(
                    p.strip().rstrip("*") for p in n.get("Platforms", "").split(",") if p.strip()
                ),
            )
            for n in nodes
            if n
        ),
    )


def registry_hint(stderr: str) -> str | None:
    """The fix for registry refusals whose own words are cryptic (ECR and other cloud registries)."""
    text = stderr.lower()
    if (
        "name_unknown" in text
        or "repositorynotfound" in text
        or "repository does not exist" in text
    ):
        return (
            "the repository does not exist, and this registry does not create repositories on push (ECR): "
            "create it first, e.g. `aws ecr create-repository --repository-name NAME`"
        )
    if "immutable" in text or "tag_invalid" in text or "imagetagalreadyexists" in text:
        return (
            "the registry refuses to move an existing tag (immutable tags, e.g. ECR's IMMUTABLE setting): "
            "publish a new tag, or make the repository's tags mutable"
        )
    if "denied" in text or "unauthorized" in text or "401" in text:
        return "log in to the registry first (`docker login REGISTRY`, or its credential helper)"
    return None


def terminate_descendants(*, grace: float = 5.0) -> list[int]:
    """Stop every process below this one: SIGTERM, then SIGKILL after `grace` seconds. Returns their PIDs."""
    found = _descendants(os.getpid())
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_running(pid) for pid in found):
        time.sleep(0.05)
    for pid in found:
        if _running(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return found


def _descendants(root: int) -> list[int]:
    """Every live process below `root` (Linux /proc; elsewhere none are found)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = entry.read_text()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        if len(fields) > 1 and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    out: list[int] = []
    queue = [root]
    while queue:
        for child in children.get(queue.pop(), []):
            out.append(child)
            queue.append(child)
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@contextlib.contextmanager
def _working_directory(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _is_not_found(stderr: str) -> bool:
    lowered = stderr.lower()
    return any(
        s in lowered for s in (": not found", "manifest unknown", "name unknown", "404 not found")
    )


def _last_meaningful_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        stripped = line.strip()
        if stripped and not stripped.startswith("------"):
            return stripped[:400]
    return ""
