"""Building on native runners, simulated: one process per runner, each with its own buildkitd and buildx builder
(one building linux/amd64, the other linux/arm64 under QEMU), sharing only the registries and the records folder;
then `bakepy merge`. Everything published is checked through the registries' HTTP API (registry_api), never
through bakepy.

The project: 2 targets × 2 platforms × 3 tags × 2 registries.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import registry_api as api
from e2e_support import DOCKERFILE, bakepy, env_for
from stack import Builder, Stack

REPO_ROOT = Path(__file__).resolve().parents[2]
TAGS = ("latest", "1.0", "1")
TARGETS = ("web", "api")
PLATFORMS = {"linux/amd64", "linux/arm64"}
UNAME = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
BuilderFactory = Callable[[str, Sequence[str] | None], Builder]


def write_project(root: Path, repo: str, registries: list[str], nonce: str = "0") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    regs = ", ".join(f'"{r}"' for r in registries)
    tags = ", ".join(f'"{t}"' for t in TAGS)
    (root / "bakepy.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            registries = [{regs}]
            platforms = ["linux/amd64", "linux/arm64"]
            tags = [{tags}]
            runners = {{ "linux/arm64" = "arm-runner", default = "x86-runner" }}
            cache = {{ type = "local", path = "cache" }}

            [target.web]
            image = "{repo}/web"
            context = "."
            args = {{ FLAVOUR = "web", NONCE = "{nonce}" }}
            annotations = ["index:org.opencontainers.image.description=web, merged"]

            [target.api]
            image = "{repo}/api"
            context = "."
            args = {{ FLAVOUR = "api", NONCE = "{nonce}" }}
            """
        )
    )
    return root


def checkout(source: Path, where: Path) -> Path:
    """A runner's own copy of the repository (runners share nothing but registries and records)."""
    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(source, where, ignore=shutil.ignore_patterns(".bakepy"))
    return where


def run_side_by_side(
    jobs: list[tuple[list[str], Path, dict[str, str]]],
) -> list[tuple[int, str, str]]:
    """Start every job at once (like parallel CI jobs) and wait for all of them."""
    procs = [
        subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv, cwd, env in jobs
    ]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        out.append((proc.returncode, stdout, stderr))
    return out


def build_on_runners(
    stack: Stack,
    source: Path,
    work: Path,
    records: Path,
    runners: dict[str, Builder | None],
) -> None:
    """`bakepy build --platform P --push-by-digest` on each runner, side by side, into one records folder."""
    jobs = []
    for platform, builder in runners.items():
        slug = platform.replace("/", "-")
        cwd = checkout(source, work / f"runner-{slug}")
        argv = [sys.executable, "-m", "bakepy", "build", "--platform", platform]
        argv += ["--push-by-digest", "--records", str(records), "--json"]
        jobs.append((argv, cwd, env_for(stack, builder.name if builder else None)))
    for platform, (code, stdout, stderr) in zip(runners, run_side_by_side(jobs), strict=True):
        assert code == 0, f"build {platform}: exit {code}\n{stderr[-4000:]}"
        report = json.loads(stdout)
        assert report["platform"] == platform
        assert sorted(r["target"] for r in report["records"]) == sorted(TARGETS)


def tag_digests(registries: list[str], repo: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for registry in registries:
        for target in TARGETS:
            existing = set(api.list_tags(registry, f"{repo}/{target}"))
            for tag in TAGS:
                key = f"{registry}/{repo}/{target}:{tag}"
                out[key] = (
                    api.get_manifest(registry, f"{repo}/{target}", tag)[0]
                    if tag in existing
                    else None
                )
    return out


def built_on(registry: str, repository: str, manifest_digest: str) -> str:
    """What /built-on says in an image: the machine (or emulator) that ran its RUN step."""
    _, manifest = api.get_manifest(registry, repository, manifest_digest)
    for layer in reversed(manifest["layers"]):
        blob = api.get_blob(registry, repository, layer["digest"])
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.name.lstrip("./") == "built-on" and member.isfile():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    return extracted.read().decode().strip()
    raise AssertionError(f"no /built-on in {registry}/{repository}@{manifest_digest}")


def assert_complete(stack: Stack, repo: str, records: Path) -> None:
    """Every tag of every target in every registry: one index with both platforms, as the records say."""
    recorded = {
        (r["target"], r["platform"]): r["digest"]
        for r in (json.loads(p.read_text()) for p in records.rglob("*.json"))
    }
    for registry in stack.registries:
        for target in TARGETS:
            repository = f"{repo}/{target}"
            assert api.list_tags(registry, repository) == sorted(TAGS)
            digests = set()
            for tag in TAGS:
                digest, index = api.get_manifest(registry, repository, tag)
                assert api.is_index(index), f"{registry}/{repository}:{tag} is not an index"
                assert api.platforms(index) == PLATFORMS
                assert len(api.attestations(index)) == 2  # each runner's provenance, kept
                images = {p: d["digest"] for p, d in api.image_manifests(index).items()}
                assert images == {p: recorded[(target, p)] for p in PLATFORMS}
                digests.add(digest)
            assert len(digests) == 1, f"tags of {target} in {registry} differ: {digests}"


# -- the scenario ---------------------------------------------------------------------------------
def test_two_runners_build_one_platform_each_and_one_merge_publishes_complete_indexes(
    stack: Stack, builder_factory: BuilderFactory, unique_repo: str, tmp_path: Path
) -> None:
    amd64 = builder_factory("nr-amd64", ["linux/amd64"])
    arm64 = builder_factory("nr-arm64", ["linux/arm64"])
    source = write_project(tmp_path / "repo", unique_repo, stack.registries)
    records = tmp_path / "records"

    build_on_runners(stack, source, tmp_path, records, {"linux/amd64": amd64, "linux/arm64": arm64})
    assert sorted(p.name for p in records.iterdir()) == [
        "api--linux-amd64.json",
        "api--linux-arm64.json",
        "web--linux-amd64.json",
        "web--linux-arm64.json",
    ]
    # Each runner wrote only its own cache scopes (bake-action#329: no runner overwrites another's).
    for slug in ("linux-amd64", "linux-arm64"):
        cache = tmp_path / f"runner-{slug}" / "cache"
        written = sorted(p.name for p in cache.iterdir() if (p / "index.json").is_file())
        assert written == [f"api.{slug}", f"web.{slug}"]
    # Nothing is tagged before the merge.
    assert all(v is None for v in tag_digests(stack.registries, unique_repo).values())

    summary = tmp_path / "summary.md"
    merger = checkout(source, tmp_path / "merge-job")
    result = bakepy(
        ["merge", "--records", str(records), "--json"],
        merger,
        env_for(stack, GITHUB_STEP_SUMMARY=str(summary)),
    )
    assert result.returncode == 0, result.stderr
    assert_complete(stack, unique_repo, records)

    report = json.loads(result.stdout)
    assert report["partial"] is False
    assert {(p["target"], p["registry"]) for p in report["published"]} == {
        (t, r) for t in TARGETS for r in stack.registries
    }
    for row in report["published"]:
        digest, index = api.get_manifest(
            row["registry"], f"{unique_repo}/{row['target']}", "latest"
        )
        assert row["digest"] == digest
        if (
            row["target"] == "web"
        ):  # the merge of two sources carries the target's index annotations
            assert index["annotations"]["org.opencontainers.image.description"] == "web, merged"
    table = summary.read_text()
    assert "| target | registry | tags | index digest | platforms |" in table
    assert table.count("linux/amd64, linux/arm64") == 4

    # The arm64 image really ran on the arm64 runner, under QEMU; amd64 natively on the other.
    registry = stack.registries[0]
    _, index = api.get_manifest(registry, f"{unique_repo}/web", "latest")
    for platform, descriptor in api.image_manifests(index).items():
        text = built_on(registry, f"{unique_repo}/web", descriptor["digest"])
        assert text == f"web 0 built on {UNAME[platform]}"


def test_the_naive_flow_leaves_one_platform_and_bakepy_keeps_both(
    stack: Stack, builder_factory: BuilderFactory, unique_repo: str, tmp_path: Path
) -> None:
    """What users do today: each runner pushes the tag itself. The last push wins (buildx#2955)."""
    amd64 = builder_factory("nv-amd64", ["linux/amd64"])
    arm64 = builder_factory("nv-arm64", ["linux/arm64"])
    source = write_project(tmp_path / "repo", unique_repo, stack.registries)
    registry = stack.registries[0]
    tag = f"{registry}/{unique_repo}/web:latest"

    naive = []
    for platform, builder in (("linux/amd64", amd64), ("linux/arm64", arm64)):
        cwd = checkout(source, tmp_path / f"naive-{platform.replace('/', '-')}")
        argv = ["docker", "buildx", "build", "--builder", builder.name, "--platform", platform]
        argv += ["--build-arg", "FLAVOUR=web", "--push", "-t", tag, "."]
        naive.append((argv, cwd, env_for(stack)))
    for code, _, stderr in run_side_by_side(naive):
        assert code == 0, stderr[-4000:]
    _, index = api.get_manifest(registry, f"{unique_repo}/web", "latest")
    assert len(api.platforms(index)) == 1, "the naive flow should have lost a platform"

    # The same inputs through bakepy: build per runner, then one merge.
    records = tmp_path / "records"
    build_on_runners(stack, source, tmp_path, records, {"linux/amd64": amd64, "linux/arm64": arm64})
    result = bakepy(
        ["merge", "--records", str(records)], checkout(source, tmp_path / "m"), env_for(stack)
    )
    assert result.returncode == 0, result.stderr
    _, index = api.get_manifest(registry, f"{unique_repo}/web", "latest")
    assert api.platforms(index) == PLATFORMS


def test_a_missing_record_moves_no_tag_and_allow_partial_publishes_the_rest(
    stack: Stack, unique_repo: str, tmp_path: Path
) -> None:
    # Both "runners" use the stack's builder here: this test is about the merge.
    runners: dict[str, Builder | None] = {"linux/amd64": None, "linux/arm64": None}
    source = write_project(tmp_path / "repo", unique_repo, stack.registries)
    first = tmp_path / "records-1"
    build_on_runners(stack, source, tmp_path, first, runners)
    merger = checkout(source, tmp_path / "merge-job")
    assert bakepy(["merge", "--records", str(first)], merger, env_for(stack)).returncode == 0
    before = tag_digests(stack.registries, unique_repo)
    assert all(before.values())

    # A new commit: new images; the arm64 job's record of web never arrives.
    source = write_project(tmp_path / "repo", unique_repo, stack.registries, nonce="1")
    second = tmp_path / "records-2"
    build_on_runners(stack, source, tmp_path, second, runners)
    (second / "web--linux-arm64.json").unlink()
    merger = checkout(source, tmp_path / "merge-job")

    refused = bakepy(["merge", "--records", str(second)], merger, env_for(stack))
    assert refused.returncode == 2, refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: missing digest records for web linux/arm64; no tag was moved"]
    assert tag_digests(stack.registries, unique_repo) == before

    partial = bakepy(
        ["merge", "--records", str(second), "--allow-partial", "--json"], merger, env_for(stack)
    )
    assert partial.returncode == 0, partial.stderr
    assert "warning: --allow-partial: published without web linux/arm64" in partial.stderr
    assert json.loads(partial.stdout)["missing"] == [{"target": "web", "platform": "linux/arm64"}]
    after = tag_digests(stack.registries, unique_repo)
    for registry in stack.registries:
        for tag in TAGS:
            _, web = api.get_manifest(registry, f"{unique_repo}/web", tag)
            assert api.platforms(web) == {"linux/amd64"}  # what was built, and only that
            _, api_index = api.get_manifest(registry, f"{unique_repo}/api", tag)
            assert api.platforms(api_index) == PLATFORMS
            key = f"{registry}/{unique_repo}/api:{tag}"
            assert after[key] != before[key]  # api moved to the new commit's images
