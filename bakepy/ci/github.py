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
    WorkflowSpec,
    _header,
    login_for,
)
from bakepy.ci.yaml import to_yaml


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
