"""`bakepy publish` on the real stack, checked through the registries' own HTTP API (never through bakepy).

The project: 2 targets × 2 platforms (amd64 native, arm64 under QEMU) × 3 tags × 2 registries = 12 tags.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import registry_api as api
from e2e_support import small_project

TAGS = ("latest", "1.0", "1")
PLATFORMS = {"linux/amd64", "linux/arm64"}

DOCKERFILE = """\
FROM busybox
ARG TARGETARCH
ARG FLAVOUR=plain
RUN echo "$FLAVOUR on $(uname -m)" > /flavour
{extra}
CMD ["cat", "/flavour"]
"""


def bakepy(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakepy", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


def write_project(
    root: Path,
    repo: str,
    registries: list[str],
    *,
    tags: tuple[str, ...] = TAGS,
    fail_arm64: bool = False,
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    extra = (
        'RUN if [ "$TARGETARCH" = arm64 ]; then echo "arm64 stage fails" >&2; exit 7; fi'
        if fail_arm64
        else ""
    )
    (root / "Dockerfile").write_text(DOCKERFILE.format(extra=""))
    (root / "Dockerfile.api").write_text(DOCKERFILE.format(extra=extra))
    regs = ", ".join(f'"{r}"' for r in registries)
    tag_list = ", ".join(f'"{t}"' for t in tags)
    (root / "bakepy.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            registries = [{regs}]
            platforms = ["linux/amd64", "linux/arm64"]
            tags = [{tag_list}]

            [target.web]
            image = "{repo}/web"
            context = "."
            args = {{ FLAVOUR = "web" }}

            [target.api]
            image = "{repo}/api"
            context = "."
            dockerfile = "Dockerfile.api"
            args = {{ FLAVOUR = "api" }}

            [group.default]
            targets = ["web", "api"]
            """
        )
    )


def tag_digests(
    registries: list[str], repo: str, tags: tuple[str, ...] = TAGS
) -> dict[str, str | None]:
    """registry/repo/target:tag → digest (None when the tag does not exist), read from the registry."""
    out: dict[str, str | None] = {}
    for registry in registries:
        for target in ("web", "api"):
            existing = set(api.list_tags(registry, f"{repo}/{target}"))
            for tag in tags:
                key = f"{registry}/{repo}/{target}:{tag}"
                out[key] = (
                    api.get_manifest(registry, f"{repo}/{target}", tag)[0]
                    if tag in existing
                    else None
                )
    return out


def test_publish_every_tag_in_every_registry_is_a_complete_index(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    write_project(project, unique_repo, stack.registries)

    result = bakepy(["publish", "--json"], project, stack.env_overlay)
    assert result.returncode == 0, result.stderr

    for registry in stack.registries:
        for target in ("web", "api"):
            repo = f"{unique_repo}/{target}"
            assert sorted(api.list_tags(registry, repo)) == sorted(TAGS)
            digests = set()
            for tag in TAGS:
                digest, index = api.get_manifest(registry, repo, tag)
                assert api.is_index(index), f"{registry}/{repo}:{tag} is not an index"
                assert api.platforms(index) == PLATFORMS
                assert (
                    len(api.attestations(index)) == 2
                )  # one provenance manifest per platform, kept
                digests.add(digest)
            assert len(digests) == 1, f"tags of {target} in {registry} differ: {digests}"

    summary = json.loads(result.stdout)
    rows = summary["published"]
    assert {(r["target"], r["registry"]) for r in rows} == {
        (t, r) for t in ("web", "api") for r in stack.registries
    }
    for row in rows:
        assert set(row["platforms"]) == PLATFORMS
        digest, _ = api.get_manifest(row["registry"], f"{unique_repo}/{row['target']}", "latest")
        assert row["digest"] == digest
        assert "linux/arm64" in row["emulated"]


def test_a_failing_platform_moves_no_tag_anywhere(stack, unique_repo: str, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    write_project(project, unique_repo, stack.registries)
    first = bakepy(["publish"], project, stack.env_overlay)
    assert first.returncode == 0, first.stderr
    before = tag_digests(stack.registries, unique_repo, (*TAGS, "2.0"))
    assert all(v is not None for k, v in before.items() if not k.endswith(":2.0"))

    # Now api's arm64 stage fails, and the run would add a new tag 2.0 and change web's image.
    write_project(project, unique_repo, stack.registries, tags=(*TAGS, "2.0"), fail_arm64=True)
    (project / "Dockerfile").write_text(DOCKERFILE.format(extra="RUN echo changed > /changed"))
    second = bakepy(["publish"], project, stack.env_overlay)

    assert second.returncode == 4, second.stderr
    lines = [line for line in second.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "target api for linux/arm64" in lines[0]
    assert "no tag was created or moved" in lines[0]
    assert "Traceback" not in second.stderr
    assert tag_digests(stack.registries, unique_repo, (*TAGS, "2.0")) == before


def test_publishing_again_without_changes_keeps_every_digest(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    write_project(project, unique_repo, stack.registries)
    assert bakepy(["publish"], project, stack.env_overlay).returncode == 0
    before = tag_digests(stack.registries, unique_repo)

    again = bakepy(["publish", "--json"], project, stack.env_overlay)
    assert again.returncode == 0, again.stderr
    assert tag_digests(stack.registries, unique_repo) == before
    assert all(row["moved"] == [] for row in json.loads(again.stdout)["published"])


def test_a_new_tag_joins_the_index_the_old_tags_hold(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    write_project(project, unique_repo, stack.registries)
    assert bakepy(["publish"], project, stack.env_overlay).returncode == 0
    before = tag_digests(stack.registries, unique_repo)

    write_project(project, unique_repo, stack.registries, tags=(*TAGS, "1.0.1"))
    assert bakepy(["publish"], project, stack.env_overlay).returncode == 0
    after = tag_digests(stack.registries, unique_repo, (*TAGS, "1.0.1"))
    for key, digest in before.items():
        assert after[key] == digest  # untouched
        assert (
            after[key.rsplit(":", 1)[0] + ":1.0.1"] == digest
        )  # the new tag copies the same index


def test_dry_run_pushes_nothing(stack, unique_repo: str, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    write_project(project, unique_repo, stack.registries)
    result = bakepy(["publish", "--dry-run"], project, stack.env_overlay)
    assert result.returncode == 0, result.stderr
    assert "docker buildx bake" in result.stdout
    assert "imagetools create" in result.stdout
    for registry in stack.registries:
        for target in ("web", "api"):
            assert api.list_tags(registry, f"{unique_repo}/{target}") == []


def test_examples_hello_publishes(stack, tmp_path: Path) -> None:
    """The README's main job, on a copy of examples/hello (publish writes .bakepy/ beside the project)."""
    example = tmp_path / "hello"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "hello", example)
    # A user's BUILDX_BAKE_FILE_RELATIVE_PATHS=1 must not rebase contexts onto .bakepy/, where bakepy renders.
    env = {**stack.env_overlay, "BUILDX_BAKE_FILE_RELATIVE_PATHS": "1"}
    result = bakepy(["publish", "--json"], example, env)
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["published"][0]
    registry = row["registry"]
    repo = row["tags"][0].split("/", 1)[1].rsplit(":", 1)[0]
    _, index = api.get_manifest(registry, repo, "latest")
    assert api.platforms(index) == PLATFORMS


def test_single_platform_without_attestations(stack, unique_repo: str, tmp_path: Path) -> None:
    """A one-platform push with attestations off is a plain manifest that names no platform: the plan does."""
    project = small_project(
        tmp_path / "proj",
        f"""\
        [project]
        registries = ["{stack.registries[0]}"]
        platforms = ["linux/arm64"]
        tags = ["latest", "1"]

        [target.app]
        image = "{unique_repo}"
        """,
    )
    env = {**stack.env_overlay, "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}
    first = bakepy(["publish"], project, env)
    assert first.returncode == 0, first.stderr
    digests = {
        tag: api.get_manifest(stack.registries[0], unique_repo, tag)[0] for tag in ("latest", "1")
    }
    _, index = api.get_manifest(stack.registries[0], unique_repo, "latest")
    assert api.platforms(index) == {"linux/arm64"}
    assert api.attestations(index) == []
    assert len(set(digests.values())) == 1

    again = bakepy(["publish", "--json"], project, env)
    assert again.returncode == 0, again.stderr
    assert all(row["moved"] == [] for row in json.loads(again.stdout)["published"])
    assert {
        t: api.get_manifest(stack.registries[0], unique_repo, t)[0] for t in ("latest", "1")
    } == digests


def test_an_unknown_builder_is_a_config_error(stack, unique_repo: str, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    write_project(project, unique_repo, stack.registries)
    result = bakepy(
        ["publish"], project, {**stack.env_overlay, "BUILDX_BUILDER": "no-such-builder"}
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: there is no buildx builder named 'no-such-builder' (from --builder or BUILDX_BUILDER)"
    ]
    assert "docker buildx ls" in result.stderr

    # a near miss gets a suggestion that is closer than what was typed
    typo = stack.builder[:-1] + "x" if stack.builder else "bakepy-stackx"
    near = bakepy(["publish"], project, {**stack.env_overlay, "BUILDX_BUILDER": typo})
    assert near.returncode == 2
    assert f"did you mean {stack.builder!r}?" in near.stderr


def test_index_annotations_reach_every_tag(stack, unique_repo: str, tmp_path: Path) -> None:
    project = small_project(
        tmp_path / "proj",
        f"""\
        [project]
        registries = ["{stack.registries[0]}", "{stack.registries[1]}"]
        platforms = ["linux/amd64", "linux/arm64"]
        tags = ["latest", "1"]

        [target.app]
        image = "{unique_repo}"
        annotations = ["index:org.opencontainers.image.description=an index annotation"]
        """,
        dockerfile="FROM busybox\nRUN true\n",
    )
    result = bakepy(["publish"], project, stack.env_overlay)
    assert result.returncode == 0, result.stderr
    for registry in stack.registries:
        for tag in ("latest", "1"):
            _, index = api.get_manifest(registry, unique_repo, tag)
            assert (
                index["annotations"]["org.opencontainers.image.description"]
                == "an index annotation"
            )
            assert api.platforms(index) == PLATFORMS


def test_a_target_without_platforms_publishes_the_builders_default(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    project = small_project(
        tmp_path / "proj",
        f"""\
        [project]
        registries = ["{stack.registries[0]}"]
        tags = ["latest"]

        [target.app]
        image = "{unique_repo}"
        """,
    )
    first = bakepy(["publish", "--json"], project, stack.env_overlay)
    assert first.returncode == 0, first.stderr
    _, index = api.get_manifest(stack.registries[0], unique_repo, "latest")
    assert api.platforms(index) == {"linux/amd64"}  # the stack's builder runs on amd64
    again = bakepy(["publish", "--json"], project, stack.env_overlay)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["published"][0]["moved"] == []


def test_pass_through_options_reach_real_buildx(stack, unique_repo: str, tmp_path: Path) -> None:
    """--set changes what is built (a build arg), --no-cache and --pull are accepted by buildx's bake."""
    from e2e_support import nonce_project

    project = nonce_project(tmp_path / "p", [stack.registries[0]], unique_repo, ["a"])
    plain = bakepy(["publish", "--progress", "plain"], project, stack.env_overlay)
    assert plain.returncode == 0, plain.stderr
    first, _ = api.get_manifest(stack.registries[0], unique_repo, "a")
    overridden = bakepy(
        [
            "publish",
            "--progress",
            "plain",
            "--set",
            "*.args.NONCE=from-set",
            "--no-cache",
            "--pull",
        ],
        project,
        stack.env_overlay,
    )
    assert overridden.returncode == 0, overridden.stderr
    assert "--set '*.args.NONCE=from-set' --no-cache --pull" in overridden.stderr
    second, _ = api.get_manifest(stack.registries[0], unique_repo, "a")
    assert second != first  # the build argument really changed the image
