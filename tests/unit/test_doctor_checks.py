"""The pure parts of `bakepy doctor`: which platforms to check, binfmt_misc parsing, native or emulated."""

from __future__ import annotations

from pathlib import Path

from bakepy.doctor import (
    DEFAULT_PLATFORMS,
    BuilderInfo,
    NodeInfo,
    _platform_info,
    read_binfmt,
    wanted_platforms,
)
from bakepy.engine.runner import BuilderNode, parse_builder_inspect


def test_explicit_platforms_win(tmp_path: Path) -> None:
    assert wanted_platforms(tmp_path, ["linux/riscv64"]) == ["linux/riscv64"]


def test_without_a_project_the_defaults(tmp_path: Path) -> None:
    assert wanted_platforms(tmp_path, []) == list(DEFAULT_PLATFORMS)


def test_the_projects_platforms_in_order(tmp_path: Path) -> None:
    (tmp_path / "bakepy.toml").write_text(
        "[project]\nplatforms = ['linux/arm64', 'linux/amd64']\n"
        "[target.a]\ntags = ['127.0.0.1:5000/a:1']\n"
        "[target.b]\nplatforms = ['linux/arm/v7']\ntags = ['127.0.0.1:5000/b:1']\n"
    )
    assert wanted_platforms(tmp_path, []) == ["linux/arm64", "linux/amd64", "linux/arm/v7"]


def test_a_broken_project_does_not_stop_the_machine_check(tmp_path: Path) -> None:
    (tmp_path / "bakepy.toml").write_text("[target.a\n")
    assert wanted_platforms(tmp_path, []) == list(DEFAULT_PLATFORMS)


def test_read_binfmt(tmp_path: Path) -> None:
    assert read_binfmt(tmp_path) is None  # not mounted
    (tmp_path / "status").write_text("enabled\n")
    (tmp_path / "register").write_text("")
    (tmp_path / "qemu-aarch64").write_text(
        "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"
    )
    (tmp_path / "qemu-riscv64").write_text(
        "disabled\ninterpreter /usr/bin/qemu-riscv64-static\nflags: F\n"
    )
    handlers = read_binfmt(tmp_path)
    assert handlers is not None
    assert [(h.name, h.enabled, h.flags) for h in handlers] == [
        ("qemu-aarch64", True, "PF"),
        ("qemu-riscv64", False, "F"),
    ]


def test_native_or_emulated() -> None:
    local = NodeInfo("n0", "unix:///run/buildkitd.sock", "running", ["linux/amd64", "linux/arm64"])
    assert _platform_info("linux/amd64", [local], "amd64").emulated is False
    assert (
        _platform_info("linux/arm64/v8", [local], "amd64").emulated is True
    )  # normalised, then matched
    assert _platform_info("linux/s390x", [local], "amd64").available is False
    # A remote node lists its own platform first: an arm64 machine builds arm64 natively.
    remote = NodeInfo("arm", "tcp://arm-runner:1234", "running", ["linux/arm64", "linux/amd64"])
    assert _platform_info("linux/arm64", [remote], "amd64").emulated is False
    assert _platform_info("linux/amd64", [remote], "amd64").emulated is True


def test_a_platform_goes_to_the_node_that_lists_it_first() -> None:
    from bakepy.doctor import NodeInfo, route

    amd = NodeInfo("amd", "unix:///a.sock", "running", ["linux/amd64", "linux/arm64", "linux/386"])
    arm = NodeInfo("arm", "unix:///b.sock", "running", ["linux/arm64", "linux/arm/v7"])
    assert route([amd, arm], "linux/arm64") is arm
    assert route([amd, arm], "linux/amd64") is amd
    assert route([amd, arm], "linux/arm/v7") is arm  # only arm can build it
    assert route([amd, arm], "linux/s390x") is None


FIXTURES = Path(__file__).parent.parent / "fixtures" / "buildx"


def test_buildx_inspect_text_of_a_two_node_builder() -> None:
    # captured from `docker buildx inspect --bootstrap` (buildx v0.36.1) of a builder made with
    # `create --node amd --platform linux/amd64` and `create --append --node arm --platform linux/arm64`
    state = parse_builder_inspect((FIXTURES / "inspect-two-node.txt").read_text())
    assert (state.name, state.driver) == ("i14probe", "remote")
    assert [(n.name, n.status) for n in state.nodes] == [("amd", "running"), ("arm", "running")]
    assert state.nodes[0].endpoint.startswith("unix:///")
    assert state.nodes[0].platforms[:2] == ("linux/amd64", "linux/amd64/v2")  # the `*` mark dropped
    assert (
        state.nodes[1].platforms[0] == "linux/arm64" and "linux/arm/v6" in state.nodes[1].platforms
    )
    builder = BuilderInfo.of(state, active=True)
    where = {i.platform: i.node for i in builder.where(["linux/amd64", "linux/arm64"], "amd64")}
    assert where == {"linux/amd64": "amd", "linux/arm64": "arm"}


def test_buildx_inspect_text_of_a_builder_that_is_not_running() -> None:
    text = "Name:   old\nDriver: docker-container\n\nNodes:\nName:     old0\nEndpoint: unix:///x.sock\n"
    text += "Error:    Cannot connect\n"
    state = parse_builder_inspect(text)
    assert state.nodes == (BuilderNode("old0", "unix:///x.sock", "", ()),)
