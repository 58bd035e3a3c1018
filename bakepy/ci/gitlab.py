"""`bakepy ci gitlab`: the per-platform flow as a GitLab CI pipeline.

GitLab has no run-time matrix without child pipelines, so its build jobs are written out per platform and the plan
job fails when they no longer match the project (`bakepy ci gitlab --check`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bakepy.ci.matrix import MatrixEntry
from bakepy.ci.workflow import (
    GITLAB_DEFAULT_OUTPUT,
    GITLAB_DOCKER_IMAGE,
    GITLAB_PYTHON_IMAGE,
    RECORDS_DIR,
    WorkflowSpec,
    _header,
    login_for,
)
from bakepy.ci.yaml import to_yaml


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
