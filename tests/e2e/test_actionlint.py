"""The GitHub workflows `bakepy ci github` writes pass actionlint (syntax, expressions, action inputs, matrix use).

actionlint comes from `python tests/stack.py install` (pinned in tests/stack.py). Without it the test skips
locally and fails in CI (CI=true): an unchecked generator proves nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import stack as stack_manager

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "native-runners"

PROJECT = """\
[project]
registries = ["ghcr.io/acme", "docker.io/acme", "quay.io/acme", "registry.example.com:8443/x", "127.0.0.1:5000"]
platforms = ["linux/amd64", "linux/arm64", "linux/riscv64"]
tags = ["latest", "1.0"]
runners = {{ "linux/arm64" = "ubuntu-24.04-arm", default = "ubuntu-latest" }}
{cache}

[target.web]
context = "."

[target.api]
context = "."
platforms = ["linux/amd64"]

[group.all]
targets = ["web", "api"]
"""


def actionlint() -> str:
    found = shutil.which("actionlint") or str(stack_manager.actionlint_path())
    if not Path(found).is_file():
        message = "actionlint is not installed; run `python tests/stack.py install`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def lint(path: Path) -> None:
    proc = subprocess.run(
        [actionlint(), "-no-color", str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"actionlint {path}:\n{proc.stdout}{proc.stderr}"


def generate(cwd: Path, *args: str) -> Path:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = cwd / ".github" / "workflows" / "publish.yml"
    proc = subprocess.run(
        [sys.executable, "-m", "bakepy", "ci", "github", *args, "-o", str(out)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_the_example_workflow_passes_actionlint() -> None:
    lint(EXAMPLE / ".github" / "workflows" / "publish.yml")


@pytest.mark.parametrize(
    ("cache", "args"),
    [
        ('cache = { type = "gha" }', ()),
        (
            'cache = { type = "gha" }',
            ("--changed",),
        ),  # docs/changed.md: plan logs in, merge may run alone
        ("", ("all",)),
        (
            'cache = { type = "registry", ref = "ghcr.io/acme/cache" }',
            ("--runner", "linux/riscv64=riscv-box"),
        ),
        (
            "",
            (
                "-f",
                "deploy/bakepy.toml",
                "web",
                "--install",
                "bakepy @ git+https://example.com/b.git",
            ),
        ),
    ],
)
def test_generated_workflows_pass_actionlint(
    tmp_path: Path, cache: str, args: tuple[str, ...]
) -> None:
    project = tmp_path / "deploy" if "-f" in args else tmp_path
    project.mkdir(exist_ok=True)
    (project / "bakepy.toml").write_text(textwrap.dedent(PROJECT.format(cache=cache)))
    lint(generate(tmp_path, *args))


@pytest.mark.parametrize(
    "sign",
    [
        'keyless = true\nidentity = "https://github.com/acme/app/.*"\n'
        'issuer = "https://token.actions.githubusercontent.com"',
        'key = "env://COSIGN_PRIVATE_KEY"\npublic-key = "cosign.pub"',
    ],
    ids=["keyless", "key-from-a-secret"],
)
def test_a_signing_workflow_passes_actionlint(tmp_path: Path, sign: str) -> None:
    (tmp_path / "bakepy.toml").write_text(
        textwrap.dedent(PROJECT.format(cache="")) + f"\n[project.sign]\n{sign}\n"
    )
    workflow = generate(tmp_path)
    lint(workflow)
    text = workflow.read_text()
    assert "sigstore/cosign-installer" in text
    if "keyless" in sign:
        assert "id-token: write" in text and "secrets.COSIGN" not in text
    else:
        assert "COSIGN_PASSWORD: ${{ secrets.COSIGN_PASSWORD }}" in text
        assert "COSIGN_PRIVATE_KEY: ${{ secrets.COSIGN_PRIVATE_KEY }}" in text
