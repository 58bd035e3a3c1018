"""`docker buildx bake -f rendered.json --print` resolves every golden project to exactly what the model says.

Needs only the docker CLI and the buildx plugin (`--print` talks to no builder). The rendered files are
compared target by target with what buildx prints, after buildx's own documented adjustments: literal `${`
and `%{` stay escaped only in the attributes buildx re-escapes when printing, and `policy` prints as
buildx's internal structure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bakepy.bake.render import dumps, render_bake
from bakepy.config import load_project
from bakepy.errors import ConfigError
from bakepy.publish.plan import plan_publish

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
CASES = sorted(
    p.parent
    for p in [
        *ROOT.glob("tests/fixtures/render/*/bakepy.toml"),
        *ROOT.glob("examples/*/bakepy.toml"),
    ]
)
REESCAPED = {
    "annotations",
    "dockerfile-inline",
    "labels",
    "args",
    "extra-hosts",
}  # bake Target.MarshalJSON


@pytest.fixture(scope="module")
def ssh_agent_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # `--print` checks that the ssh agent socket exists; a bound unix socket is enough.
    path = tmp_path_factory.mktemp("ssh") / "agent.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    yield str(path)
    sock.close()


def buildx_print(bake_file: Path, targets: list[str], cwd: Path, ssh_sock: str) -> dict[str, Any]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.fail("the docker CLI is not installed")
    env = {**os.environ, "SSH_AUTH_SOCK": ssh_sock}
    result = subprocess.run(
        [docker, "buildx", "bake", "-f", str(bake_file), "--print", *targets],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed: dict[str, Any] = json.loads(result.stdout)
    return printed


def expected_print(body: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in body.items():
        if key not in REESCAPED:
            value = json.loads(json.dumps(value).replace("$${", "${").replace("%%{", "%{"))
        out[key] = value
    return out


def normalize_policy(body: dict[str, Any]) -> dict[str, Any]:
    if "policy" in body:
        body = dict(body)
        body["policy"] = [
            {k: v for k, v in (("filename", f["Filename"]),) if v}
            for p in body["policy"]
            for f in p["Files"]
        ]
    return body


def _publishes(case: Path) -> bool:
    try:
        plan_publish(load_project(case / "bakepy.toml", env={}).project)
    except ConfigError:
        return False
    return True


PARAMS = [
    *(pytest.param(case, False, id=f"render-{case.relative_to(ROOT)}") for case in CASES),
    *(
        pytest.param(case, True, id=f"publish-{case.relative_to(ROOT)}")
        for case in CASES
        if _publishes(case)
    ),
]


@pytest.mark.parametrize(("case", "publish"), PARAMS)
def test_print_resolves_to_the_model(
    case: Path, publish: bool, tmp_path: Path, ssh_agent_socket: str
) -> None:
    project = load_project(case / "bakepy.toml", env={}).project
    if publish:
        names = list(plan_publish(project).names)
        bake = render_bake(project, targets=names, publish=True)
    else:
        bake = render_bake(project)
        names = [*bake["target"], *(g for g in bake["group"] if g != "default")]
    bake_file = tmp_path / "docker-bake.json"
    bake_file.write_text(dumps(bake), encoding="utf-8")
    printed = buildx_print(bake_file, names, case, ssh_agent_socket)
    assert set(printed["target"]) == set(bake["target"])
    for name, body in bake["target"].items():
        assert normalize_policy(printed["target"][name]) == expected_print(body), name
    for name, group in bake["group"].items():
        if name != "default":
            assert printed["group"][name] == group


@pytest.mark.parametrize("name", ["app", "all", "app-debug", "tools", "outer", "inner", "default"])
def test_a_name_shared_by_a_group_and_a_target_selects_what_bake_selects(
    name: str, tmp_path: Path, ssh_agent_socket: str
) -> None:
    """bake resolves a name to the group before the target, and inside that group its own name to the target:
    the model's selection is the set of targets `docker buildx bake --print NAME` prints."""
    case = ROOT / "tests" / "fixtures" / "render" / "shared-names"
    loaded = load_project(case / "bakepy.toml", env={})
    bake_file = tmp_path / "docker-bake.json"
    bake_file.write_text(dumps(render_bake(loaded.project)), encoding="utf-8")
    printed = buildx_print(bake_file, [name], case, ssh_agent_socket)
    assert set(loaded.project.resolved.select([name])) == set(printed["target"])
