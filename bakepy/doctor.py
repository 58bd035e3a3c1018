"""`bakepy doctor`: what this machine can build and push, each failing check with the command that fixes it.

Gathering goes through the runner (docker CLI, buildx, builders) and reads binfmt_misc from /proc; the report is
plain data (`DoctorReport`) so the CLI can print it as a rich table or as JSON.
"""

from __future__ import annotations

import platform as _platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from bakepy.engine.runner import (
    BUILDX_INSTALL_HINT,
    DOCKER_INSTALL_HINT,
    MIN_BUILDX,
    BuilderState,
    Runner,
    parse_buildx_version,
)
from bakepy.errors import BakepyError

Status = Literal["ok", "warn", "fail"]
DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64")
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
QEMU_FIX = (
    "apt-get install qemu-user-static binfmt-support && update-binfmts --enable "
    "(or: docker run --privileged --rm tonistiigi/binfmt --install all)"
)
# machine names as uname reports them → the OCI architecture
_UNAME_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
# OCI architecture → the qemu binfmt handler that runs it
_QEMU_HANDLER = {
    "arm64": "qemu-aarch64",
    "arm": "qemu-arm",
    "amd64": "qemu-x86_64",
    "386": "qemu-i386",
    "ppc64le": "qemu-ppc64le",
    "s390x": "qemu-s390x",
    "riscv64": "qemu-riscv64",
    "mips64le": "qemu-mips64el",
    "loong64": "qemu-loongarch64",
}


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None
    required: bool = True


@dataclass
class NodeInfo:
    name: str
    endpoint: str
    status: str
    platforms: list[str]


@dataclass
class BuilderInfo:
    name: str
    driver: str
    active: bool
    nodes: list[NodeInfo]

    @classmethod
    def of(cls, state: BuilderState, *, active: bool) -> BuilderInfo:
        nodes = [NodeInfo(n.name, n.endpoint, n.status, list(n.platforms)) for n in state.nodes]
        return cls(state.name, state.driver, active, nodes)

    def where(self, platforms: Sequence[str], host: str | None = None) -> list[PlatformInfo]:
        """Each platform: the node buildx routes it to, and whether it runs there natively or under QEMU."""
        return [_platform_info(p, self.nodes, host or host_arch()) for p in platforms]

    def emulated(self, platforms: Sequence[str]) -> set[str]:
        return {p.platform for p in self.where(platforms) if p.emulated}


@dataclass
class PlatformInfo:
    platform: str
    available: bool
    emulated: bool
    node: str | None


@dataclass
class BinfmtHandler:
    name: str
    enabled: bool
    interpreter: str
    flags: str


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    docker_version: str | None = None
    buildx_version: str | None = None
    builders: list[BuilderInfo] = field(default_factory=list)
    platforms: list[PlatformInfo] = field(default_factory=list)
    binfmt: list[BinfmtHandler] = field(default_factory=list)
    host_arch: str = ""

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks if c.required)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def host_arch() -> str:
    machine = _platform.machine().lower()
    return _UNAME_ARCH.get(machine, machine)


def read_binfmt(directory: Path = BINFMT_DIR) -> list[BinfmtHandler] | None:
    """The binfmt_misc handlers (None when binfmt_misc is not mounted)."""
    if not (directory / "status").exists():
        return None
    handlers = []
    for entry in sorted(directory.iterdir()):
        if entry.name in ("status", "register"):
            continue
        try:
            text = entry.read_text()
        except OSError:
            continue
        fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
        handlers.append(
            BinfmtHandler(
                name=entry.name,
                enabled=text.startswith("enabled"),
                interpreter=fields.get("interpreter", ""),
                flags=fields.get("flags:", fields.get("flags", "")).strip(),
            )
        )
    return handlers


def _arch(platform: str) -> str:
    parts = platform.split("/")
    return parts[1] if len(parts) > 1 else parts[0]


def diagnose(
    runner: Runner,
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    *,
    binfmt_dir: Path = BINFMT_DIR,
) -> DoctorReport:
    report = DoctorReport(host_arch=host_arch())
    checks = report.checks

    # 1. docker CLI
    try:
        report.docker_version = runner.run(["--version"], what="docker --version").strip()
        checks.append(Check("docker CLI", "ok", report.docker_version))
    except BakepyError as exc:
        checks.append(Check("docker CLI", "fail", exc.message, exc.hint or DOCKER_INSTALL_HINT))
        return report

    # 2. buildx plugin and version gates
    try:
        report.buildx_version = runner.buildx_version()
    except BakepyError as exc:
        checks.append(Check("buildx plugin", "fail", exc.message, BUILDX_INSTALL_HINT))
        return report
    version = parse_buildx_version(report.buildx_version)
    minimum = ".".join(map(str, MIN_BUILDX))
    if version is None:
        checks.append(
            Check(
                "buildx plugin",
                "warn",
                f"{report.buildx_version}: version unknown (needs ≥ {minimum})",
                "build buildx with -ldflags '-X github.com/docker/buildx/version.Version=vX.Y.Z'",
                required=False,
            )
        )
    elif version < MIN_BUILDX:
        checks.append(
            Check(
                "buildx plugin",
                "fail",
                f"{report.buildx_version} is older than {minimum}",
                BUILDX_INSTALL_HINT,
            )
        )
    else:
        checks.append(Check("buildx plugin", "ok", f"{report.buildx_version} (≥ {minimum})"))

    # 3. the builder buildx would use: one `buildx inspect` (not `buildx ls`, which waits on every builder)
    try:
        found = runner.inspect_builder(bootstrap=True)
    except BakepyError as exc:
        checks.append(
            Check(
                "builder",
                "fail",
                exc.message,
                "docker buildx create --use --driver docker-container (or --driver remote ADDRESS)",
            )
        )
        return report
    report.builders.append(BuilderInfo.of(found, active=True))
    current = next((b for b in report.builders if b.active), None)
    if current is None:
        checks.append(
            Check(
                "builder",
                "fail",
                "buildx did not name the builder it would use",
                "docker buildx use NAME",
            )
        )
        return report
    up = [n for n in current.nodes if n.status == "running"]
    if not up and current.driver in ("", "docker"):
        checks.append(
            Check(
                "builder",
                "fail",
                f"{current.name}: the docker driver's builder, and no Docker daemon answers "
                "(it could not push by digest anyway)",
                "docker buildx create --use --driver docker-container (or --driver remote ADDRESS), "
                "or bakepy builder create",
            )
        )
        return report
    checks.append(
        Check(
            "builder",
            "ok" if up else "fail",
            f"{current.name} (driver {current.driver}, {len(current.nodes)} node(s), "
            f"{'running' if up else 'not running'})",
            None if up else f"docker buildx inspect --bootstrap {current.name}",
        )
    )
    if not up:
        return report  # its platforms and driver are unknown until it runs

    # 4. push by digest
    if current.driver == "docker":
        checks.append(
            Check(
                "push by digest",
                "fail",
                "the docker driver cannot push by digest",
                "docker buildx create --use --driver docker-container",
            )
        )
    else:
        checks.append(Check("push by digest", "ok", f"driver {current.driver} can push by digest"))

    # 5. binfmt_misc
    handlers = read_binfmt(binfmt_dir)
    relevant = {_QEMU_HANDLER.get(_arch(_normalise(p))) for p in platforms} - {None}
    # Only the handlers the planned platforms need: a machine lists dozens (jar, python3.11, llvm …).
    handlers = None if handlers is None else [h for h in handlers if h.name in relevant]
    report.binfmt = handlers or []
    if handlers is None:
        checks.append(
            Check(
                "binfmt_misc",
                "warn",
                "binfmt_misc is not mounted",
                "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc",
                required=False,
            )
        )
    else:
        enabled = [h.name for h in handlers if h.enabled and h.name.startswith("qemu-")]
        checks.append(
            Check(
                "binfmt_misc",
                "ok" if enabled or not relevant else "warn",
                f"{len(enabled)} QEMU handler(s) enabled"
                + (
                    f": {', '.join(enabled[:6])}…"
                    if len(enabled) > 6
                    else f": {', '.join(enabled)}"
                    if enabled
                    else ""
                ),
                None if enabled else QEMU_FIX,
                required=False,
            )
        )

    # 6. each wanted platform: native or emulated, or not buildable
    for plat in platforms:
        info = _platform_info(plat, current.nodes, report.host_arch)
        report.platforms.append(info)
        if not info.available:
            checks.append(
                Check(
                    f"platform {plat}",
                    "fail",
                    f"no node of {current.name} can build {plat}",
                    QEMU_FIX + f", then docker buildx inspect --bootstrap {current.name}",
                )
            )
        elif info.emulated:
            handler = _QEMU_HANDLER.get(_arch(plat))
            have = handlers is None or any(h.name == handler and h.enabled for h in report.binfmt)
            checks.append(
                Check(
                    f"platform {plat}",
                    "ok" if have else "warn",
                    f"emulated (QEMU{', ' + handler if handler else ''}) on node {info.node}",
                    None if have else QEMU_FIX,
                    required=False,
                )
            )
        else:
            checks.append(Check(f"platform {plat}", "ok", f"native on node {info.node}"))
    return report


def _normalise(plat: str) -> str:
    parts = plat.split("/")
    if len(parts) == 3 and parts[1] == "arm64" and parts[2] == "v8":
        return "/".join(parts[:2])
    if len(parts) == 3 and parts[1] == "amd64" and parts[2] == "v1":
        return "/".join(parts[:2])
    return plat


def route(nodes: Sequence[NodeInfo], plat: str) -> NodeInfo | None:
    """The node buildx sends `plat` to: one that lists it first (its configured or native platform, as with
    `docker buildx create --append --platform P`), else the first node that can build it at all."""
    want = _normalise(plat)
    for node in nodes:
        if node.platforms and _normalise(node.platforms[0]) == want:
            return node
    return next((n for n in nodes if _node_supports(n, plat)), None)


def _node_supports(node: NodeInfo, plat: str) -> bool:
    want = _normalise(plat)
    return any(_normalise(p) == want for p in node.platforms)


def _native_arch(node: NodeInfo, fallback: str) -> str:
    # BuildKit lists a worker's native platform first; local endpoints share the host's architecture.
    if node.endpoint.startswith(("unix://", "docker-container://")) or not node.platforms:
        return fallback
    return _arch(_normalise(node.platforms[0]))


def project_repositories(cwd: Path, file: Path | None = None) -> list[str]:
    """The repositories (`registry/path`) the project's default selection pushes to (none when there is no
    loadable project)."""
    from bakepy.config import load_project
    from bakepy.model import parse_reference
    from bakepy.publish.plan import plan_publish

    try:
        plan = plan_publish(load_project(file, cwd).project)
    except BakepyError:
        return []
    found = (parse_reference(repo) for t in plan.targets for repo in t.repositories)
    return list(dict.fromkeys(f"{r.registry}/{r.path}" for r in found))


def registry_checks(repositories: Sequence[str]) -> list[Check]:
    """Each registry the project pushes to answers, has credentials where it wants a login, and (where it can
    tell without a write) lets that login push to each repository."""
    from bakepy.engine.access import probe, push_access

    by_registry: dict[str, list[str]] = {}
    for repository in repositories:
        registry, _, path = repository.partition("/")
        by_registry.setdefault(registry, []).append(path)
    checks = []
    for registry, paths in by_registry.items():
        p = probe(registry)
        name = f"registry {registry}"
        if p.access == "down":
            checks.append(
                Check(name, "fail", f"does not answer ({p.detail})", "check the address; is it up?")
            )
        elif p.access == "login" and not p.credentials:
            detail = f"wants a login ({p.detail}); no credentials stored"
            checks.append(Check(name, "fail", detail, f"docker login {registry}"))
        elif p.access == "login":
            checks.append(Check(name, "ok", "login stored in the Docker credential store"))
            for path in dict.fromkeys(paths):
                found = push_access(p, path)
                refused = found.verdict == "refused"
                status: Status = "fail" if refused else "ok"
                word = (
                    "refused"
                    if refused
                    else {"authorised": "authorised"}.get(found.verdict, "not proven")
                )
                fix = (
                    f"docker login {registry} with an account that may push to {path}"
                    if refused
                    else None
                )
                checks.append(
                    Check(f"push {registry}/{path}", status, f"{word}: {found.detail}", fix)
                )
        else:
            checks.append(Check(name, "ok", f"answers ({p.detail}), no login needed"))
    return checks


def wanted_platforms(cwd: Path, explicit: Sequence[str], file: Path | None = None) -> list[str]:
    """Platforms to check: --platform, else those of the project's default selection, else linux/amd64 +
    linux/arm64 (no project here, or one that does not load: doctor checks the machine, not the config)."""
    if explicit:
        return list(explicit)
    from bakepy.config import load_project

    try:
        resolved = load_project(file, cwd).project.resolved
    except BakepyError:
        return list(DEFAULT_PLATFORMS)
    from bakepy.model import normalize_platform

    found: dict[str, None] = {}
    for name in resolved.select(()):
        for p in resolved.targets[name].platforms:
            try:
                found[normalize_platform(p)] = None  # `linux/arm64/v8` is the builder's linux/arm64
            except ValueError:
                continue  # a value from a variable that plan and publish refuse themselves

    return list(found) or list(DEFAULT_PLATFORMS)


def active_builder(runner: Runner) -> BuilderInfo | None:
    """The builder buildx would use, from one `buildx inspect` (None when buildx cannot say: the build will)."""
    try:
        return BuilderInfo.of(runner.inspect_builder(), active=True)
    except BakepyError:
        return None


def diagnose_platforms(runner: Runner, platforms: Sequence[str]) -> list[PlatformInfo]:
    """For the active builder: can each platform be built, on which node, native or emulated."""
    builder = active_builder(runner)
    nodes = builder.nodes if builder is not None else []
    return [_platform_info(plat, nodes, host_arch()) for plat in platforms]


def _platform_info(plat: str, nodes: Sequence[NodeInfo], host: str) -> PlatformInfo:
    node = route(nodes, plat)
    if node is None:
        return PlatformInfo(plat, False, False, None)
    return PlatformInfo(plat, True, _arch(plat) != _native_arch(node, host), node.name)
