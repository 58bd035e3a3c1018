"""`bakepy builder`: the buildx commands that make, show and remove the `[builder]` of a project.

Pure: the argv of each command, from `BuilderSettings`. One node per platform, each named after its platform
(`linux-arm64`), the default node first, since buildx sends a platform no node lists to the first node (under
QEMU there). Running them is the engine's job (`Runner.run`).
"""

from __future__ import annotations

from bakepy.model import BuilderSettings


def node_name(platform: str) -> str:
    return platform.replace("/", "-")


def create_commands(settings: BuilderSettings) -> list[list[str]]:
    """`docker buildx create` for the first node, then `--append` for each other one."""
    out = []
    for i, platform in enumerate(settings.ordered()):
        argv = ["buildx", "create", "--name", settings.name, *(["--append"] if i else [])]
        argv += ["--node", node_name(platform), "--driver", settings.driver(platform)]
        argv += ["--platform", platform, settings.nodes[platform]]
        out.append(argv)
    return out


def remove_command(settings: BuilderSettings) -> list[str]:
    return ["buildx", "rm", settings.name]


def inspect_command(settings: BuilderSettings) -> list[str]:
    return ["buildx", "inspect", "--bootstrap", settings.name]
