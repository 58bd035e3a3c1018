"""CI workflow generation: the per-platform flow (plan → build per platform on its runner → merge) as a GitHub
Actions workflow or a GitLab CI pipeline, plus the markdown summary a merge writes for the CI's job page.

This module owns the text of what `bakepy ci github|gitlab` writes. Pure: it turns a `WorkflowSpec` (and, for
GitLab, the matrix) into YAML with a small deterministic emitter (no YAML library: the output must be byte-stable
so a checked-in workflow can be compared with a fresh one).

Choices, and the peer issues behind them:
* One job per platform, every target in one bake (docker/github-builder builds one target per call, its #43).
* QEMU only where no native runner is configured for the platform (setup-qemu-action#22: emulation is slow).
* Per-platform cache scopes come from `[project] cache` (bake-action#329); for `type = "gha"` the build job
  exposes the Actions cache runtime to buildx, which a plain `run:` step does not have.
* Digest records travel as artifacts, one per platform, downloaded into one folder (`merge-multiple`).
* Registry credentials are secrets referenced by name, never inlined; GHCR uses the job's `GITHUB_TOKEN`,
  GitLab's registry its `CI_REGISTRY_*` variables. Loopback registries need no login.
* GitHub reads the matrix at run time (`bakepy matrix` in a plan job), so the workflow does not change when
  targets or platforms do. GitLab has no run-time matrix without child pipelines, so its build jobs are written
  out per platform and the plan job fails when they no longer match the project (`bakepy ci gitlab --check`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bakepy.matrix import MatrixEntry

__all__ = [
    "GITHUB_ACTIONS",
    "Login",
    "WorkflowSpec",
    "github_workflow",
    "gitlab_pipeline",
    "login_for",
    "summary_markdown",
    "to_yaml",
    "workflow_spec",
]

# Pinned major versions of the actions the workflow uses.
GITHUB_ACTIONS = {
    "checkout": "actions/checkout@v4",
    "setup-python": "actions/setup-python@v5",
    "setup-qemu": "docker/setup-qemu-action@v3",
    "setup-buildx": "docker/setup-buildx-action@v3",
    "login": "docker/login-action@v3",
    "github-runtime": "crazy-max/ghaction-github-runtime@v3",
    "upload-artifact": "actions/upload-artifact@v4",
    "download-artifact": "actions/download-artifact@v4",
}
GITLAB_DOCKER_IMAGE = "docker:28"
GITLAB_PYTHON_IMAGE = "python:3.12-slim"
RECORDS_DIR = "records"
GITHUB_DEFAULT_OUTPUT = ".github/workflows/publish.yml"
GITLAB_DEFAULT_OUTPUT = ".gitlab-ci.yml"
ARTIFACT_PREFIX = "bakepy-records-"
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")


def default_install() -> str:
    """The pip requirement a generated workflow installs: the bakepy version that generated it."""
    from bakepy import __version__

    return f"bakepy=={__version__}"


@dataclass(frozen=True)
class WorkflowSpec:
    """What the generated workflow needs to know about the project and how bakepy is invoked there."""

    registries: tuple[str, ...]  # registry hosts the targets publish to
    file: str | None = None  # the project file as passed with -f (relative to the repository root)
    targets: tuple[str, ...] = ()
    runners: tuple[tuple[str, str], ...] = ()  # --runner overrides, passed on to `bakepy matrix`
    cache: str | None = None  # [project] cache type
    install: str = field(
        default_factory=lambda: default_install()
    )  # pip requirement installing bakepy
    python: str = "3.12"
    output: str | None = None  # where the workflow is written (GitLab's plan job checks it)

    def regenerate_args(self, ci: str) -> list[str]:
        """The `bakepy ci CI …` arguments that write this workflow again (without -f, targets, -o)."""
        args = ["ci", ci]
        for platform, label in self.runners:
            args += ["--runner", f"{platform}={label}"]
        if self.install != default_install():
            args += ["--install", self.install]
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
    project: Any,
    plan: Any,
    *,
    file: str | None = None,
    targets: Sequence[str] = (),
    runners: Mapping[str, str] | None = None,
    install: str | None = None,
    output: str | None = None,
) -> WorkflowSpec:
    """The spec of a project's workflow: its registries (from the plan) and cache type; `runners` are the
    `--runner` overrides (already parsed), passed on to the commands the workflow runs."""
    registries: dict[str, None] = {}
    for tp in plan.targets:
        registries.update(dict.fromkeys(repo.split("/", 1)[0] for repo in tp.repositories))
        registries.update(dict.fromkeys(tp.tags_by_registry))
    resolved = project.resolved if hasattr(project, "resolved") else project
    cache = resolved.settings.cache
    return WorkflowSpec(
        registries=tuple(registries),
        file=file,
        targets=tuple(targets),
        runners=tuple((runners or {}).items()),
        cache=cache.type if cache is not None else None,
        install=install or default_install(),
        output=output,
    )


@dataclass(frozen=True)
class Login:
    """How CI logs in to one registry: expressions naming secrets, never their values."""

    registry: str
    username: str  # GitHub expression or GitLab variable name
    password: str
    secrets: tuple[str, ...]  # secret names the workflow expects (declared for workflow_call)


def _secret_base(registry: str) -> str:
    if registry == "docker.io":
        return "DOCKERHUB"
    return re.sub(r"[^A-Z0-9]+", "_", registry.upper()).strip("_")


def login_for(registry: str, ci: str) -> Login | None:
    """The login for `registry` on `ci` ("github" or "gitlab"); None when none is needed (loopback)."""
    if _LOOPBACK.match(registry):
        return None
    base = _secret_base(registry)
    user, password = (
        (f"{base}_USERNAME", f"{base}_TOKEN")
        if registry == "docker.io"
        else (f"{base}_USERNAME", f"{base}_PASSWORD")
    )
    if ci == "github":
        if registry == "ghcr.io":
            return Login(registry, "${{ github.actor }}", "${{ secrets.GITHUB_TOKEN }}", ())
        return Login(
            registry,
            f"${{{{ secrets.{user} }}}}",
            f"${{{{ secrets.{password} }}}}",
            (user, password),
        )
    if registry == "registry.gitlab.com":
        return Login(registry, "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD", ())
    return Login(registry, user, password, (user, password))


# -- GitHub Actions -------------------------------------------------------------------------------------
def github_workflow(spec: WorkflowSpec) -> str:
    """The complete `.github/workflows/*.yml`: plan → build per platform → merge."""
    logins = [x for r in spec.registries if (x := login_for(r, "github")) is not None]
    secrets = [s for x in logins for s in x.secrets]
    permissions = {"contents": "read"}
    if any(x.registry == "ghcr.io" for x in logins):
        permissions["packages"] = "write"

    setup: list[dict[str, Any]] = [
        {"uses": GITHUB_ACTIONS["checkout"]},
        {
            "uses": GITHUB_ACTIONS["setup-python"],
            "with": {"python-version": spec.python},
        },
        {"name": "Install bakepy", "run": f"pip install {shlex.quote(spec.install)}"},
    ]
    login_steps = [
        {
            "name": f"Log in to {x.registry}",
            "uses": GITHUB_ACTIONS["login"],
            "with": {"registry": x.registry, "username": x.username, "password": x.password},
        }
        for x in logins
    ]
    runner_args = spec.runner_args()
    build_steps: list[dict[str, Any]] = [
        setup[0],
        {
            "name": "Set up QEMU (no native runner for this platform)",
            "if": "matrix.qemu",
            "uses": GITHUB_ACTIONS["setup-qemu"],
            "with": {"platforms": "${{ matrix.platform }}"},
        },
        {"uses": GITHUB_ACTIONS["setup-buildx"]},
    ]
    if spec.cache == "gha":
        build_steps.append(
            {
                "name": "Expose the Actions cache to buildx (per-platform cache scopes)",
                "uses": GITHUB_ACTIONS["github-runtime"],
            }
        )
    build_steps += [
        *login_steps,
        *setup[1:],
        {
            "name": "Build ${{ matrix.platform }} by digest",
            "env": {"PLATFORM": "${{ matrix.platform }}"},
            "run": spec.bakepy(
                "build", "--platform", '"$PLATFORM"', "--push-by-digest", "--records", RECORDS_DIR
            ),
        },
        {
            "name": "Upload the digest records",
            "uses": GITHUB_ACTIONS["upload-artifact"],
            "with": {
                "name": f"{ARTIFACT_PREFIX}${{{{ matrix.slug }}}}",
                "path": f"{RECORDS_DIR}/",
                "if-no-files-found": "error",
                "retention-days": 1,
            },
        },
    ]
    merge_steps: list[dict[str, Any]] = [
        setup[0],
        {"uses": GITHUB_ACTIONS["setup-buildx"]},
        *login_steps,
        *setup[1:],
        {
            "name": "Download the digest records of every platform",
            "uses": GITHUB_ACTIONS["download-artifact"],
            "with": {
                "pattern": f"{ARTIFACT_PREFIX}*",
                "merge-multiple": True,
                "path": RECORDS_DIR,
            },
        },
        {
            "name": "Merge: every tag in every registry at once",
            "run": spec.bakepy("merge", "--records", RECORDS_DIR),
        },
    ]
    call: dict[str, Any] = {"secrets": {s: {"required": True} for s in secrets}} if secrets else {}
    workflow: dict[str, Any] = {
        "name": "publish",
        "on": {
            "push": {"branches": ["main"], "tags": ["v*"]},
            "workflow_dispatch": None,
            "workflow_call": call,
        },
        "permissions": permissions,
        "concurrency": {
            "group": "bakepy-publish-${{ github.ref }}",
            "cancel-in-progress": False,
        },
        "jobs": {
            "plan": {
                "runs-on": "ubuntu-latest",
                "outputs": {"matrix": "${{ steps.matrix.outputs.matrix }}"},
                "steps": [
                    *setup,
                    {
                        "name": "Split the plan per platform",
                        "id": "matrix",
                        "run": spec.bakepy("matrix", "--format", "github", *runner_args),
                    },
                ],
            },
            "build": {
                "name": "build ${{ matrix.platform }}",
                "needs": "plan",
                "runs-on": "${{ matrix.runner }}",
                "strategy": {
                    "fail-fast": True,
                    "matrix": "${{ fromJSON(needs.plan.outputs.matrix) }}",
                },
                "steps": build_steps,
            },
            "merge": {
                "needs": "build",
                "runs-on": "ubuntu-latest",
                "steps": merge_steps,
            },
        },
    }
    header = _header(
        "github",
        spec,
        "Each platform builds on its own runner (QEMU only where none is native) and pushes by digest;\n"
        "the merge job then moves every tag in every registry at once, or none.",
    )
    return header + to_yaml(workflow, spaced=("", "jobs"))


# -- GitLab CI ------------------------------------------------------------------------------------------
def gitlab_pipeline(spec: WorkflowSpec, entries: Sequence[MatrixEntry]) -> str:
    """The complete `.gitlab-ci.yml`: plan (checks this file is current) → one build job per platform → merge."""
    logins = [x for r in spec.registries if (x := login_for(r, "gitlab")) is not None]
    before = [
        "apk add --no-cache python3 py3-pip",
        "python3 -m venv /opt/bakepy",
        'export PATH="/opt/bakepy/bin:$PATH"',
        'pip install "$BAKEPY_INSTALL"',
        *(
            f'echo "${x.password}" | docker login --username "${x.username}" --password-stdin {x.registry}'
            for x in logins
        ),
        "docker buildx create --use --name bakepy --driver docker-container",
    ]
    runner_args = spec.runner_args()
    check = [*spec.regenerate_args("gitlab"), "--check", "-o", spec.output or GITLAB_DEFAULT_OUTPUT]
    pipeline: dict[str, Any] = {
        "workflow": {
            "rules": [
                {"if": "$CI_COMMIT_TAG"},
                {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"},
            ]
        },
        "stages": ["plan", "build", "merge"],
        "variables": {
            "BAKEPY_INSTALL": spec.install,
            "DOCKER_TLS_CERTDIR": "/certs",
        },
        ".bakepy": {
            "image": GITLAB_DOCKER_IMAGE,
            "services": [f"{GITLAB_DOCKER_IMAGE}-dind"],
            "before_script": before,
        },
        "plan": {
            "stage": "plan",
            "image": GITLAB_PYTHON_IMAGE,
            "script": [
                'pip install "$BAKEPY_INSTALL"',
                spec.bakepy("matrix", "--format", "gitlab", *runner_args),
                spec.bakepy(*check, targets=True),
            ],
        },
    }
    build_command = spec.bakepy(
        "build", "--platform", '"$BAKEPY_PLATFORM"', "--push-by-digest", "--records", RECORDS_DIR
    )
    for entry in entries:
        script = []
        if entry.qemu:
            # No native runner is configured for this platform: register QEMU for it (slow, but it builds).
            script.append(
                f"docker run --privileged --rm tonistiigi/binfmt --install {entry.platform}"
            )
        script.append(build_command)
        job: dict[str, Any] = {"stage": "build", "extends": ".bakepy"}
        if entry.runner:
            job["tags"] = [entry.runner]
        job["variables"] = {"BAKEPY_PLATFORM": entry.platform}
        job["script"] = script
        job["artifacts"] = {"paths": [f"{RECORDS_DIR}/"], "expire_in": "1 day"}
        pipeline[f"build:{entry.slug}"] = job
    pipeline["merge"] = {
        "stage": "merge",
        "extends": ".bakepy",
        "needs": [f"build:{e.slug}" for e in entries],
        "script": [spec.bakepy("merge", "--records", RECORDS_DIR)],
    }
    header = _header(
        "gitlab",
        spec,
        "Each platform builds in its own job (QEMU only where no native runner is configured) and pushes\n"
        "by digest; the merge job then moves every tag in every registry at once, or none. The build jobs\n"
        "are written out per platform: the plan job fails when they no longer match the project.",
    )
    return header + to_yaml(pipeline, spaced=("",))


def _header(ci: str, spec: WorkflowSpec, what: str) -> str:
    command = spec.bakepy(*spec.regenerate_args(ci))
    if spec.output:
        command += f" -o {shlex.quote(spec.output)}"
    lines = [f"Generated by `{command}`: regenerate it rather than edit it.", *what.splitlines()]
    return "".join(f"# {line}\n" for line in lines) + "\n"


# -- the job summary ------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def summary_markdown(
    published: Iterable[Any], missing: Sequence[Any] = (), title: str = "published"
) -> str:
    """A markdown table of what was published (for `$GITHUB_STEP_SUMMARY`), and what is missing."""
    rows = [
        f"### bakepy: {title}",
        "",
        "| target | registry | tags | index digest | platforms |",
        "|---|---|---|---|---|",
    ]
    for p in published:
        target, registry, tags, digest, platforms = p.summary_cells()
        cells = (target, registry, ", ".join(tags), f"`{digest}`", ", ".join(platforms))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if missing:
        rows += [
            "",
            "**Missing** (published without them, `--allow-partial`): "
            + ", ".join(f"{m.target} {m.platform}" for m in missing),
        ]
    return "\n".join(rows) + "\n"


def build_summary_markdown(platform: str, records: Iterable[Any]) -> str:
    """A markdown table of what one platform build pushed by digest."""
    rows = [
        f"### bakepy: built {platform} by digest",
        "",
        "| target | platform | image digest | pushed to |",
        "|---|---|---|---|",
    ]
    for r in records:
        rows.append(
            f"| {_cell(r.target)} | {_cell(r.platform)} | `{r.digest[:19]}…` | "
            f"{_cell(', '.join(r.repositories))} |"
        )
    return "\n".join(rows) + "\n"


# -- a small, deterministic YAML emitter ----------------------------------------------------------------
_RESERVED = frozenset(
    ("true", "false", "yes", "no", "on", "off", "null", "y", "n", "~")
)  # compared lower-cased: YAML 1.1 reads these as booleans or null
_NUMBER = re.compile(
    r"^[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^0[xob][0-9a-fA-F_]+$|^[-+]?\.(inf|nan)$", re.I
)
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    plain = (
        text != ""
        and text == text.strip()
        and text[0] not in _INDICATORS
        and text.lower() not in _RESERVED
        and not _NUMBER.match(text)
        and ": " not in text
        and " #" not in text
        and not text.endswith(":")
        and "\n" not in text
        and "\t" not in text
    )
    return text if plain else json.dumps(text, ensure_ascii=False)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple)) or not value


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return _scalar(value)


def to_yaml(data: Mapping[str, Any], *, spaced: Sequence[str] = ("",)) -> str:
    """Block-style YAML for dicts, lists and scalars. Mappings at the dotted paths in `spaced` ("" = the top)
    get a blank line between their entries."""
    lines: list[str] = []
    _emit_mapping(data, 0, "", tuple(spaced), lines)
    return "\n".join(lines) + "\n"


def _emit_mapping(
    data: Mapping[str, Any], indent: int, path: str, spaced: tuple[str, ...], lines: list[str]
) -> None:
    pad = " " * indent
    for i, (key, value) in enumerate(data.items()):
        if i and path in spaced:
            lines.append("")
        child = f"{path}.{key}" if path else str(key)
        if _is_scalar(value):
            text = _inline(value)
            lines.append(f"{pad}{_scalar(key)}:" + (f" {text}" if text else ""))
        elif isinstance(value, dict):
            lines.append(f"{pad}{_scalar(key)}:")
            _emit_mapping(value, indent + 2, child, spaced, lines)
        else:
            lines.append(f"{pad}{_scalar(key)}:")
            _emit_sequence(value, indent + 2, child, spaced, lines)


def _emit_sequence(
    items: Sequence[Any], indent: int, path: str, spaced: tuple[str, ...], lines: list[str]
) -> None:
    pad = " " * indent
    for item in items:
        if _is_scalar(item):
            lines.append(f"{pad}- {_inline(item)}")
        elif isinstance(item, dict):
            nested: list[str] = []
            _emit_mapping(item, indent + 2, path, spaced, nested)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines += nested[1:]
        else:
            nested = []
            _emit_sequence(item, indent + 2, path, spaced, nested)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines += nested[1:]
