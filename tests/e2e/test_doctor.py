"""`bakepy doctor` against the real stack, and with the buildx plugin taken away."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def doctor(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakepy", "doctor", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_doctor_on_the_stack_marks_arm64_emulated(stack, tmp_path: Path) -> None:
    result = doctor(["--json"], stack.env_overlay, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    active = [b for b in report["builders"] if b["active"]]
    assert [b["name"] for b in active] == [stack.builder]
    assert any("linux/arm64" in node["platforms"] for node in active[0]["nodes"])
    modes = {p["platform"]: p for p in report["platforms"]}
    assert modes["linux/arm64"]["available"] and modes["linux/arm64"]["emulated"]
    assert modes["linux/amd64"]["available"] and not modes["linux/amd64"]["emulated"]
    assert any(h["name"] == "qemu-aarch64" and h["enabled"] for h in report["binfmt"])


def test_doctor_human_output_lists_the_builder(stack, tmp_path: Path) -> None:
    result = doctor([], stack.env_overlay, tmp_path)
    assert result.returncode == 0, result.stderr
    assert stack.builder in result.stdout
    assert "emulated (QEMU)" in result.stdout


def test_doctor_without_buildx_says_how_to_install_it(stack, tmp_path: Path) -> None:
    empty_config = tmp_path / "docker-config"  # no cli-plugins/ here: buildx is not found
    empty_config.mkdir()
    result = doctor([], {"DOCKER_CONFIG": str(empty_config)}, tmp_path)
    assert result.returncode == 7
    assert "buildx plugin" in result.stdout
    assert "~/.docker/cli-plugins/docker-buildx" in result.stdout
    assert "error: doctor: 1 required check(s) failed: buildx plugin" in result.stderr


def test_publish_without_buildx_says_how_to_install_it(stack, tmp_path: Path) -> None:
    empty_config = tmp_path / "docker-config"
    empty_config.mkdir()
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM busybox\n")  # the inputs are checked before the tools
    (project / "bakepy.toml").write_text(
        '[target.app]\nplatforms = ["linux/amd64"]\ntags = ["127.0.0.1:5000/x/app:1"]\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "bakepy", "publish"],
        env={**os.environ, "DOCKER_CONFIG": str(empty_config)},
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 6
    assert "error: the docker buildx plugin is not installed" in result.stderr
    assert "hint: install the buildx plugin" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_docker_driver_default_builder_without_a_daemon_is_explained(
    stack, tmp_path: Path
) -> None:
    """No engine here: buildx's `default` builder (docker driver) cannot run; doctor and publish say so plainly."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM busybox\n")
    (project / "bakepy.toml").write_text(
        f'[project]\nregistries = ["{stack.registries[0]}"]\ntags = ["x"]\n\n[target.app]\n'
    )
    env = {**os.environ, **stack.env_overlay, "BUILDX_BUILDER": "default", "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bakepy", *args], cwd=project, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    doctor = run("doctor")
    assert doctor.returncode == 7
    assert "the docker driver's builder, and no Docker daemon answers" in doctor.stdout
    assert "driver ," not in doctor.stdout
    publish = run("publish")
    assert publish.returncode == 4
    assert "error: the builder needs a Docker daemon and none answers" in publish.stderr
    assert "fix the build" not in publish.stderr
