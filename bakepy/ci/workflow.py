"""What every generated CI file shares: the `WorkflowSpec` (a project's per-platform flow as CI sees it), registry
logins, pinned action versions and the header.

Choices, and the peer issues behind them:
* One job per platform, every target in one bake (docker/github-builder builds one target per call, its #43).
* QEMU only where no native runner is configured for the platform (setup-qemu-action#22: emulation is slow).
* Per-platform cache scopes come from `[project] cache` (bake-action#329).
* Digest records travel as artifacts, one per platform, downloaded into one folder.
* Registry credentials are secrets referenced by name, never inlined; GHCR uses the job's `GITHUB_TOKEN`,
  GitLab's registry its `CI_REGISTRY_*` variables. Loopback registries need no login."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bakepy.model import Project
from bakepy.model.targets import SignSettings

if TYPE_CHECKING:
    from bakepy.model import ResolvedProject
    from bakepy.publish.plan import PublishPlan

# Pinned major versions of the actions the workflow uses.
GITHUB_ACTIONS = {
    "checkout": "actions/checkout@v4",
    "setup-python": "actions/setup-python@v5",
    "setup-qemu": "docker/setup-qemu-action@v3",
    "setup-buildx": "docker/setup-buildx-action@v3",
    "login": "docker/login-action@v3",
    "github-runtime": "crazy-max/ghaction-github-runtime@v3",
    "upload-artifact": "actions/upload-artifact@v4",
    "aws-credentials": "aws-actions/configure-aws-credentials@v4",
    "ecr-login": "aws-actions/amazon-ecr-login@v2",
    "download-artifact": "actions/download-artifact@v4",
    "cosign-installer": "sigstore/cosign-installer@v3",
}
GITLAB_COSIGN_INSTALL = (
    "apk add --no-cache cosign"  # docker:28 is Alpine; cosign is in its community repo
)
GITLAB_DOCKER_IMAGE = "docker:28"
GITLAB_PYTHON_IMAGE = "python:3.12-slim"
RECORDS_DIR = "records"
GITHUB_DEFAULT_OUTPUT = ".github/workflows/publish.yml"
GITLAB_DEFAULT_OUTPUT = ".gitlab/bakepy.yml"  # included from the user's own .gitlab-ci.yml
ARTIFACT_PREFIX = "bakepy-records-"
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")
_ECR = re.compile(r"^\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


DISTRIBUTION = "bakepy-publish"  # on PyPI; `bakepy` there is an unrelated project


def default_install() -> str:
    """The pip requirement a generated workflow installs: exactly the version that generated it.

    Until the first release is on PyPI, `bakepy-publish==X` resolves nowhere, so the requirement names the
    repository's source archive of the version's tag: pip builds it with no git and no index of its own (the
    python:3.12-slim and docker:28 images have no git). [ci] install or --install chooses another."""
    from bakepy import __version__

    return (
        f"{DISTRIBUTION} @ https://github.com/bakepy/bakepy/archive/refs/tags/v{__version__}.tar.gz"
    )


@dataclass(frozen=True)
class WorkflowSpec:
    """What the generated workflow needs to know about the project and how bakepy is invoked there."""

    registries: tuple[str, ...]  # registry hosts the targets publish to
    file: str | None = None  # the project file as passed with -f (relative to the repository root)
    targets: tuple[str, ...] = ()
    runners: tuple[tuple[str, str], ...] = ()  # --runner overrides, passed on to `bakepy matrix`
    cache: str | None = None  # the cache type on this CI: [ci.CI] cache, else [project] cache
    executor: str = "docker"  # GitLab: docker (docker:28 + dind) or shell (the runner's own tools)
    install: str = field(
        default_factory=lambda: default_install()
    )  # pip requirement installing bakepy
    install_in_config: bool = (
        False  # `install` is [ci] install (so regenerating needs no --install)
    )
    python: str = "3.12"
    output: str | None = None  # where the workflow is written (GitLab's plan job checks it)
    sign: SignSettings | None = (
        None  # [project.sign]: the merge job signs (cosign installed, OIDC or key)
    )
    changed: bool = (
        False  # `--changed`: the plan job builds only what changed, the merge job reuses the rest
    )

    def signing_secrets(self) -> list[str]:
        """CI secrets the merge job passes to cosign: the key's password, and the key itself where the project
        reads it from the environment (`key = "env://NAME"`)."""
        if self.sign is None or self.sign.keyless:
            return []
        names = ["COSIGN_PASSWORD"]
        for key in (self.sign.key, self.sign.public_key):
            if key and key.startswith("env://"):
                names.append(key.removeprefix("env://"))
        return names

    def regenerate_args(self, ci: str) -> list[str]:
        """The `bakepy ci CI …` arguments that write this workflow again (without -f, targets, -o)."""
        args = ["ci", ci]
        for platform, label in self.runners:
            args += ["--runner", f"{platform}={label}"]
        if self.install != default_install() and not self.install_in_config:
            args += ["--install", self.install]
        if self.changed:
            args.append("--changed")
        return args

    def runner_args(self) -> list[str]:
        return [a for platform, label in self.runners for a in ("--runner", f"{platform}={label}")]

    def bakepy(self, *args: str, targets: bool = True) -> str:
        """A `bakepy` command line with the project options, shell-quoted."""
        argv = ["bakepy", *args]
        if self.file:
            argv += ["-f", self.file]
        if targets:
            argv += list(self.targets)
        return " ".join(a if a.startswith('"$') else shlex.quote(a) for a in argv)


def workflow_spec(
    project: Project | ResolvedProject,
    plan: PublishPlan,
    *,
    ci: str | None = None,
    file: str | None = None,
    targets: Sequence[str] = (),
    runners: Mapping[str, str] | None = None,
    install: str | None = None,
    output: str | None = None,
    changed: bool = False,
) -> WorkflowSpec:
    """The spec of a project's workflow: its registries (from the plan) and cache type; `runners` are the
    `--runner` overrides (already parsed), passed on to the commands the workflow runs."""
    registries: dict[str, None] = {}
    for tp in plan.targets:
        registries.update(dict.fromkeys(repo.split("/", 1)[0] for repo in tp.repositories))
        registries.update(dict.fromkeys(tp.tags_by_registry))
    resolved = project.resolved if isinstance(project, Project) else project
    cache = resolved.settings.cache
    settings = project.ci if isinstance(project, Project) else None
    system = settings.system(ci) if settings is not None else None
    if system is not None and system.cache is not None:
        cache = system.cache
    return WorkflowSpec(
        registries=tuple(registries),
        file=file,
        targets=tuple(targets),
        runners=tuple((runners or {}).items()),
        cache=cache.type if cache is not None else None,
        executor=settings.gitlab.executor if settings is not None and ci == "gitlab" else "docker",
        install=install
        or (settings.install if settings is not None else None)
        or default_install(),
        install_in_config=install is None and settings is not None and settings.install is not None,
        output=output,
        sign=resolved.settings.sign,
        changed=changed,
    )


LoginKind = Literal["secrets", "ghcr", "gitlab", "ecr"]


@dataclass(frozen=True)
class Login:
    """How CI logs in to one registry: expressions naming secrets or variables, never their values.

    `secrets`: a user name and password kept as CI secrets/variables with names derived from the host;
    `ghcr`: GitHub's own token (`packages: write`); `gitlab`: GitLab's own `CI_REGISTRY_*` variables;
    `ecr`: AWS credentials (GitHub: an OIDC role, `vars.AWS_ROLE_TO_ASSUME`; GitLab: the AWS_* variables),
    exchanged for a registry login — ECR has no static passwords.
    """

    registry: str
    kind: LoginKind = "secrets"
    username: str = ""  # GitHub expression or GitLab variable name
    password: str = ""
    secrets: tuple[str, ...] = ()  # secret names the workflow expects (declared for workflow_call)
    region: str = ""  # ecr


def secret_base(registry: str) -> str:
    """A secret/variable name prefix for `registry` that GitHub and GitLab both accept: `[A-Z0-9_]`, never
    starting with a digit (an ECR host does) nor with GitHub's reserved `GITHUB_`."""
    if registry in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return "DOCKERHUB"
    base = re.sub(r"[^A-Z0-9]+", "_", registry.upper()).strip("_")
    if not base or base[0].isdigit() or base.startswith("GITHUB_"):
        base = "REGISTRY_" + base
    return base


def login_for(registry: str, ci: str) -> Login | None:
    """The login for `registry` on `ci` ("github" or "gitlab"); None when none is needed (loopback)."""
    if _LOOPBACK.match(registry):
        return None
    if (ecr := _ECR.match(registry)) is not None:
        return Login(registry, "ecr", region=ecr.group("region"))
    if ci == "github" and registry == "ghcr.io":
        return Login(registry, "ghcr", "${{ github.actor }}", "${{ secrets.GITHUB_TOKEN }}")
    if ci == "gitlab" and registry == "registry.gitlab.com":
        return Login(registry, "gitlab", "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD")
    base = secret_base(registry)
    user, password = (
        f"{base}_USERNAME",
        f"{base}_TOKEN" if base == "DOCKERHUB" else f"{base}_PASSWORD",
    )
    if ci == "github":
        return Login(
            registry,
            "secrets",
            f"${{{{ secrets.{user} }}}}",
            f"${{{{ secrets.{password} }}}}",
            (user, password),
        )
    return Login(registry, "secrets", user, password, (user, password))


def cache_hint(ci: str) -> str:
    """What to set when the generated file would build without a cache: a cache type that works on `ci`
    (`gha` is the Actions cache service, GitHub only; GitLab takes a registry cache), in that CI's own table."""
    if ci == "github":
        example = 'cache = { type = "gha" }'
    else:
        example = 'cache = { type = "registry", ref = "REGISTRY/REPO/cache" }'
    return (
        f"set [ci.{ci}] {example} (or [project] cache) to give each platform its own cache scope on "
        f"{'GitHub Actions' if ci == 'github' else 'GitLab CI'}"
    )


def _header(ci: str, spec: WorkflowSpec, what: str) -> str:
    command = spec.bakepy(*spec.regenerate_args(ci))
    if spec.output:
        command += f" -o {shlex.quote(spec.output)}"
    lines = [f"Generated by `{command}`: regenerate it rather than edit it.", *what.splitlines()]
    if spec.install == default_install():
        lines += [
            "bakepy is installed from its repository (the source archive of this version's tag) until it is",
            "on PyPI; [ci] install in bakepy.toml pins another (a wheel path, bakepy-publish==VERSION).",
        ]
    return "".join(f"# {line}\n" for line in lines) + "\n"
