"""`bakepy ci github`: the per-platform flow (plan → build per platform on its runner → merge) as a GitHub Actions
workflow.

GitHub reads the matrix at run time (`bakepy matrix` in a plan job), so the workflow does not change when
targets or platforms do. For `type = "gha"` caches the build job exposes the Actions cache runtime to buildx,
which a plain `run:` step does not have."""

from __future__ import annotations

import shlex
from typing import Any

from bakepy.ci.workflow import (
    ARTIFACT_PREFIX,
    GITHUB_ACTIONS,
    RECORDS_DIR,
    Login,
    WorkflowSpec,
    _header,
    login_for,
)
from bakepy.ci.yaml import to_yaml

# Pull requests build every platform and push nothing (their secrets are not there, and nothing is published).
_PUBLISHING = "github.event_name != 'pull_request'"
# The plan job computes the git context (so the tags) once; the build and merge jobs read it back.
_CONTEXT = "BAKEPY_CONTEXT"


def _login_steps(x: Login) -> list[dict[str, Any]]:
    if x.kind == "ecr":  # OIDC role → short-lived ECR credentials
        return [
            {
                "name": f"AWS credentials for {x.registry} (OIDC role in vars.AWS_ROLE_TO_ASSUME)",
                "if": _PUBLISHING,
                "uses": GITHUB_ACTIONS["aws-credentials"],
                "with": {
                    "role-to-assume": "${{ vars.AWS_ROLE_TO_ASSUME }}",
                    "aws-region": x.region,
                },
            },
            {
                "name": f"Log in to {x.registry}",
                "if": _PUBLISHING,
                "uses": GITHUB_ACTIONS["ecr-login"],
                "with": {"registries": x.registry.split(".", 1)[0]},
            },
        ]
    return [
        {
            "name": f"Log in to {x.registry}",
            "if": _PUBLISHING,
            "uses": GITHUB_ACTIONS["login"],
            "with": {"registry": x.registry, "username": x.username, "password": x.password},
        }
    ]


# -- GitHub Actions -------------------------------------------------------------------------------------
def _plan_steps(
    spec: WorkflowSpec,
    setup: list[dict[str, Any]],
    login_steps: list[dict[str, Any]],
    runner_args: list[str],
) -> list[dict[str, Any]]:
    """The plan job: the matrix; with --changed also the registry logins (it reads what every tag holds and
    copies an unchanged target's index where it is missing) and the unchanged targets' digest records, uploaded
    for the merge job beside the builds' own."""
    if not spec.changed:
        return [
            *setup,
            {
                "name": "Split the plan per platform",
                "id": "matrix",
                "run": spec.bakepy("matrix", "--format", "github", *runner_args),
            },
        ]
    return [
        setup[0],
        *login_steps,
        *setup[1:],
        {
            "name": "Split what changed per platform (the unchanged targets are reused, not built)",
            "id": "matrix",
            "run": spec.bakepy(
                "matrix",
                "--format",
                "github",
                *runner_args,
                "--changed",
                "--reused-records",
                RECORDS_DIR,
            ),
        },
        {
            "name": "Upload the unchanged targets' digest records",
            "if": _PUBLISHING,
            "uses": GITHUB_ACTIONS["upload-artifact"],
            "with": {
                "name": f"{ARTIFACT_PREFIX}reused",
                "path": f"{RECORDS_DIR}/",
                "if-no-files-found": "ignore",
                "retention-days": 1,
            },
        },
    ]


def github_workflow(spec: WorkflowSpec) -> str:
    """The complete `.github/workflows/*.yml`: plan → build per platform → merge."""
    logins = [x for r in spec.registries if (x := login_for(r, "github")) is not None]
    secrets = [s for x in logins for s in x.secrets]
    permissions = {"contents": "read"}
    if any(x.kind == "ghcr" for x in logins):
        permissions["packages"] = "write"
    if any(x.kind == "ecr" for x in logins):
        permissions["id-token"] = "write"  # OIDC: assume an AWS role, no static keys
    if spec.sign is not None and spec.sign.keyless:
        permissions["id-token"] = "write"  # cosign's keyless signing: the job's OIDC token
    secrets += spec.signing_secrets()

    setup: list[dict[str, Any]] = [
        {"uses": GITHUB_ACTIONS["checkout"]},
        {
            "uses": GITHUB_ACTIONS["setup-python"],
            "with": {"python-version": spec.python},
        },
        {"name": "Install bakepy", "run": f"pip install {shlex.quote(spec.install)}"},
    ]
    login_steps = [step for x in logins for step in _login_steps(x)]
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
            "if": _PUBLISHING,
            "env": {"PLATFORM": "${{ matrix.platform }}"},
            "run": spec.bakepy(
                "build",
                "--platform",
                '"$PLATFORM"',
                "--push-by-digest",
                "--records",
                RECORDS_DIR,
                *(("--fingerprint",) if spec.changed else ()),
            ),
        },
        {
            "name": "Build ${{ matrix.platform }} (a pull request: nothing is pushed)",
            "if": f"!({_PUBLISHING})",
            "env": {"PLATFORM": "${{ matrix.platform }}"},
            "run": spec.bakepy("build", "--platform", '"$PLATFORM"'),
        },
        {
            "name": "Upload the digest records",
            "if": _PUBLISHING,
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
        *(
            [
                {
                    "name": "Install cosign (signs before any tag moves)",
                    "uses": GITHUB_ACTIONS["cosign-installer"],
                }
            ]
            if spec.sign is not None
            else []
        ),
        {
            "name": "Merge: every tag in every registry at once"
            + (", each index signed first" if spec.sign is not None else ""),
            **(
                {"env": {s: f"${{{{ secrets.{s} }}}}" for s in spec.signing_secrets()}}
                if spec.signing_secrets()
                else {}
            ),
            "run": spec.bakepy("merge", "--records", RECORDS_DIR),
        },
    ]
    call: dict[str, Any] = {"secrets": {s: {"required": True} for s in secrets}} if secrets else {}
    workflow: dict[str, Any] = {
        "name": "publish",
        "on": {
            "push": {"branches": ["main"], "tags": ["v*"]},
            "pull_request": None,
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
                "outputs": {
                    "matrix": "${{ steps.matrix.outputs.matrix }}",
                    "context": "${{ steps.matrix.outputs.context }}",
                    **({"build": "${{ steps.matrix.outputs.build }}"} if spec.changed else {}),
                },
                "steps": _plan_steps(spec, setup, login_steps, runner_args),
            },
            "build": {
                "name": "build ${{ matrix.platform }}",
                "needs": "plan",
                # --changed: nothing changed gives an empty matrix, which GitHub refuses to run
                **({"if": "needs.plan.outputs.build == 'true'"} if spec.changed else {}),
                "runs-on": "${{ matrix.runner }}",
                "env": {_CONTEXT: "${{ needs.plan.outputs.context }}"},
                "strategy": {
                    "fail-fast": True,
                    "matrix": "${{ fromJSON(needs.plan.outputs.matrix) }}",
                },
                "steps": build_steps,
            },
            "merge": {
                "needs": ["plan", "build"],
                # --changed: also when no build job ran (the unchanged targets' tags still move)
                "if": (
                    f"!cancelled() && needs.plan.result == 'success' && "
                    f"(needs.build.result == 'success' || needs.build.result == 'skipped') && {_PUBLISHING}"
                )
                if spec.changed
                else _PUBLISHING,
                "runs-on": "ubuntu-latest",
                "env": {_CONTEXT: "${{ needs.plan.outputs.context }}"},
                "steps": merge_steps,
            },
        },
    }
    header = _header(
        "github",
        spec,
        "Each platform builds on its own runner (QEMU only where none is native) and pushes by digest;\n"
        "the merge job then moves every tag in every registry at once, or none. The plan job computes the\n"
        "git context (the tags) once; every job reads it from BAKEPY_CONTEXT.",
    )
    return header + to_yaml(workflow, spaced=("", "jobs"))
