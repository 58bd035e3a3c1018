"""`bakepy ci gitlab`: the per-platform flow as a GitLab CI file to include.

The output is a file of its own (`.gitlab/bakepy.yml`) that the user's `.gitlab-ci.yml` pulls in with
`include: - local: .gitlab/bakepy.yml`, so hand edits stay in their file and `--check` compares only this one.
It sets no `workflow:` rules (those belong to the including pipeline): each job has its own `rules:`. GitLab has no
run-time matrix without child pipelines, so the build jobs are written out per platform and the plan job fails
when they no longer match the project (`bakepy ci gitlab --check`). Merge-request pipelines build every platform
and push nothing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bakepy.ci.matrix import MatrixEntry, changed_variable
from bakepy.ci.workflow import (
    GITLAB_COSIGN_INSTALL,
    GITLAB_DEFAULT_OUTPUT,
    GITLAB_DOCKER_IMAGE,
    GITLAB_PYTHON_IMAGE,
    RECORDS_DIR,
    Login,
    WorkflowSpec,
    _header,
    login_for,
)
from bakepy.ci.yaml import to_yaml

# Tags and the default branch publish; merge requests build without pushing (never merge, even where a
# merge-request pipeline also names its branch).
_PUBLISHING = [
    {"if": "$CI_MERGE_REQUEST_IID", "when": "never"},
    {"if": "$CI_COMMIT_TAG"},
    {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"},
]
_EVERY = [
    {"if": "$CI_COMMIT_TAG"},
    {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"},
    {"if": "$CI_MERGE_REQUEST_IID"},
]
# The plan job computes the git/CI context once; every later job reads it from this dotenv report.
CONTEXT_DOTENV = "bakepy-context.env"


def _login_line(x: Login) -> str:
    if x.kind == "ecr":  # AWS credentials from the AWS_* CI/CD variables (or the runner's role)
        return (
            f"aws ecr get-login-password --region {x.region} | "
            f"docker login --username AWS --password-stdin {x.registry}"
        )
    return f'echo "${x.password}" | docker login --username "${x.username}" --password-stdin {x.registry}'


# -- GitLab CI ------------------------------------------------------------------------------------------
def gitlab_pipeline(spec: WorkflowSpec, entries: Sequence[MatrixEntry]) -> str:
    """The complete include: plan (the context once; checks this file is current) → one build job per platform
    → merge. `spec.executor` says where jobs run: `docker` (docker:28 with a dind service and a
    docker-container builder) or `shell` (the runner's own python3, docker CLI, builder and QEMU)."""
    logins = [x for r in spec.registries if (x := login_for(r, "gitlab")) is not None]
    login_lines = [_login_line(x) for x in logins]
    shell = spec.executor == "shell"
    if shell:
        # a venv outside the checkout: the project directory is often the build context
        venv = '"${TMPDIR:-/tmp}/bakepy-venv-$CI_JOB_ID"'
        install = [
            f"python3 -m venv {venv}",
            f'export PATH={venv[:-1]}/bin:$PATH"',
            'pip install --quiet "$BAKEPY_INSTALL"',
        ]
    else:
        packages = "python3 py3-pip" + (" aws-cli" if any(x.kind == "ecr" for x in logins) else "")
        install = [
            f"apk add --no-cache {packages}",
            "python3 -m venv /opt/bakepy",
            'export PATH="/opt/bakepy/bin:$PATH"',
            'pip install "$BAKEPY_INSTALL"',
        ]
    before = [
        *install,
        # merge requests push nothing, and their pipelines may not see protected variables: no login there
        *(f'if [ -z "$CI_MERGE_REQUEST_IID" ]; then {line}; fi' for line in login_lines),
        # shell: the runner's builder (BUILDX_BUILDER or its current one)
        *([] if shell else ["docker buildx create --use --name bakepy --driver docker-container"]),
    ]
    runner_args = spec.runner_args()
    check = [*spec.regenerate_args("gitlab"), "--check", "-o", spec.output or GITLAB_DEFAULT_OUTPUT]
    variables: dict[str, str] = {"BAKEPY_INSTALL": spec.install}
    bakepy_job: dict[str, Any] = {"before_script": before}
    plan: dict[str, Any] = {"stage": "plan", "rules": _EVERY}
    if shell:
        plan["before_script"] = install
        plan_script = []
    else:
        variables["DOCKER_TLS_CERTDIR"] = "/certs"
        bakepy_job = {
            "image": GITLAB_DOCKER_IMAGE,
            "services": [f"{GITLAB_DOCKER_IMAGE}-dind"],
            **bakepy_job,
        }
        plan["image"] = GITLAB_PYTHON_IMAGE
        plan_script = ['pip install "$BAKEPY_INSTALL"']
    changed = ("--changed", "--reused-records", RECORDS_DIR) if spec.changed else ()
    if spec.changed:
        # --changed reads what every tag holds and copies an unchanged target's index where it is missing:
        # the plan job logs in like the others (so runs where they run)
        plan = {"stage": "plan", "extends": ".bakepy", "rules": _EVERY}
        plan_script = []
    plan["script"] = [
        *plan_script,
        spec.bakepy(
            "matrix", "--format", "gitlab", "--dotenv", CONTEXT_DOTENV, *runner_args, *changed
        ),
        spec.bakepy(*check, targets=True),
    ]
    plan["artifacts"] = {"reports": {"dotenv": CONTEXT_DOTENV}}
    if spec.changed:  # the unchanged targets' digest records, merged with the builds' own
        plan["artifacts"] = {
            **plan["artifacts"],
            "paths": [f"{RECORDS_DIR}/"],
            "expire_in": "1 day",
        }
    pipeline: dict[str, Any] = {
        "stages": ["plan", "build", "merge"],
        "variables": variables,
        ".bakepy": bakepy_job,
        "plan": plan,
    }
    push = spec.bakepy(
        "build", "--platform", '"$BAKEPY_PLATFORM"', "--push-by-digest", "--records", RECORDS_DIR
    )
    no_push = spec.bakepy("build", "--platform", '"$BAKEPY_PLATFORM"')
    build_command = f'if [ -n "$CI_MERGE_REQUEST_IID" ]; then {no_push}; else {push}; fi'
    push_changed = spec.bakepy(
        "build",
        "--platform",
        '"$BAKEPY_PLATFORM"',
        "--push-by-digest",
        "--records",
        RECORDS_DIR,
        "--fingerprint",
        targets=False,
    )
    no_push_changed = spec.bakepy("build", "--platform", '"$BAKEPY_PLATFORM"', targets=False)
    for entry in entries:
        script = []
        if entry.qemu and not shell:  # a shell runner registers its own QEMU (binfmt_misc)
            # No native runner is configured for this platform: register QEMU for it (slow, but it builds).
            script.append(
                f"docker run --privileged --rm tonistiigi/binfmt --install {entry.platform}"
            )
        if (
            spec.changed
        ):  # only the targets the plan job found changed for this platform (maybe none)
            var = f'"${changed_variable(entry.platform)}"'
            script.append(
                f"if [ -z {var} ]; then echo 'nothing changed for {entry.platform}'; "
                f'elif [ -n "$CI_MERGE_REQUEST_IID" ]; then {no_push_changed} ${changed_variable(entry.platform)}; '
                f"else {push_changed} ${changed_variable(entry.platform)}; fi"
            )
        else:
            script.append(build_command)
        job: dict[str, Any] = {
            "stage": "build",
            "extends": ".bakepy",
            "rules": _EVERY,
            "needs": ["plan"],  # its dotenv: the context the plan job computed
        }
        if entry.runner:
            job["tags"] = [entry.runner]
        job["variables"] = {"BAKEPY_PLATFORM": entry.platform}
        job["script"] = script
        job["artifacts"] = {"paths": [f"{RECORDS_DIR}/"], "expire_in": "1 day"}
        pipeline[f"build:{entry.slug}"] = job
    pipeline["merge"] = {
        "stage": "merge",
        "extends": ".bakepy",
        "rules": _PUBLISHING,
        "needs": ["plan", *(f"build:{e.slug}" for e in entries)],
        "script": [
            *([GITLAB_COSIGN_INSTALL] if spec.sign is not None else []),
            spec.bakepy("merge", "--records", RECORDS_DIR),
        ],
    }
    if spec.sign is not None and spec.sign.keyless:  # cosign reads SIGSTORE_ID_TOKEN itself
        pipeline["merge"]["id_tokens"] = {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}
    header = _header(
        "gitlab",
        spec,
        "Include it from .gitlab-ci.yml:  include: [{local: "
        + (spec.output or GITLAB_DEFAULT_OUTPUT)
        + "}]\n"
        "Each platform builds in its own job (QEMU only where no native runner is configured) and pushes\n"
        "by digest; the merge job then moves every tag in every registry at once, or none. Merge requests\n"
        "build every platform and push nothing. The plan job computes the git context (the tags) once for\n"
        "every job, and fails when the build jobs, written out per platform, no longer match the project."
        + (
            "\nShell executor: runners bring python3, the docker CLI with buildx, a builder that can push by\n"
            "digest (BUILDX_BUILDER) and QEMU for the platforms they emulate."
            if shell
            else ""
        ),
    )
    return header + to_yaml(pipeline, spaced=("",))


_GITHUB_LABEL = re.compile(r"^(ubuntu|windows|macos)-(latest|\d[\w.-]*)$")


def gitlab_warnings(spec: WorkflowSpec, entries: Sequence[MatrixEntry]) -> list[str]:
    """What would silently not work on GitLab: GitHub runner labels as job tags, a `gha` cache."""
    out = []
    for entry in entries:
        if entry.runner and _GITHUB_LABEL.match(entry.runner):
            out.append(
                f"runner {entry.runner!r} for {entry.platform} is a GitHub Actions label; GitLab runners have "
                "their own tags (e.g. saas-linux-small-arm64): pass --runner PLATFORM=TAG"
            )
    if spec.cache == "gha":
        out.append(
            'cache type "gha" only works on GitHub Actions and does nothing on GitLab: use '
            'cache = { type = "registry", ref = "REGISTRY/REPO/cache" } (one scope per platform)'
        )
    return out
