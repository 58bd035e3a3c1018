"""`bakepy build --platform P` and `bakepy merge` on the real stack, beyond the two-runner scenario.

test_native_runners.py proves the scenario itself (two runners merged, the naive flow, a missing record with and
without --allow-partial). Here: the records a build writes against what the registries hold, a merge's checks
against the registries (a dry run names the real pushed sources; a record the registry contradicts moves no tag),
many targets from separate record folders, plain-manifest pushes with attestations off, and records written by
`bakepy publish`. Everything runs the real CLI as a subprocess; what was published is read only through the
registries' HTTP API (registry_api). One test per project, several phases each: every build costs seconds.
"""

from __future__ import annotations

import json
import shlex
import shutil
import textwrap
from pathlib import Path
from typing import Any

import registry_api as api
from e2e_support import DOCKERFILE, REVISION, bakepy, env_for
from stack import Stack

TAGS = ("latest", "1")
BOTH = {"linux/amd64", "linux/arm64"}
OCI_MANIFEST_TYPES = {api.OCI_MANIFEST, api.DOCKER_MANIFEST}


def write_project(root: Path, repo: str, registries: list[str], targets: dict[str, str]) -> Path:
    """`targets`: name → its `platforms` line ("" for the project's two). Every target builds DOCKERFILE."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    regs = ", ".join(f'"{r}"' for r in registries)
    tags = ", ".join(f'"{t}"' for t in TAGS)
    text = textwrap.dedent(
        f"""\
        [project]
        registries = [{regs}]
        platforms = ["linux/amd64", "linux/arm64"]
        tags = [{tags}]
        """
    )
    for name, platforms in targets.items():
        text += textwrap.dedent(
            f"""
            [target.{name}]
            image = "{repo}/{name}"
            context = "."
            args = {{ FLAVOUR = "{name}" }}
            {platforms}
            """
        )
    (root / "bakepy.toml").write_text(text)
    return root


def records_in(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(target, platform) → the record, from every *.json below `folder`."""
    out = {}
    for path in sorted(folder.rglob("*.json")):
        record = json.loads(path.read_text())
        out[(record["target"], record["platform"])] = record
    return out


def no_tags(registries: list[str], repo: str, targets: list[str]) -> bool:
    return all(api.list_tags(r, f"{repo}/{t}") == [] for r in registries for t in targets)


def assert_published(
    registries: list[str],
    repo: str,
    records: dict[tuple[str, str], dict[str, Any]],
    planned: dict[str, set[str]],
    attestations: bool,
) -> dict[tuple[str, str], str]:
    """Every tag of every target in every registry holds one index with exactly the recorded images.

    Returns (registry, target) → the index digest all its tags share.
    """
    shared = {}
    for registry in registries:
        for target, platforms in planned.items():
            repository = f"{repo}/{target}"
            assert api.list_tags(registry, repository) == sorted(TAGS)
            digests = set()
            for tag in TAGS:
                digest, index = api.get_manifest(registry, repository, tag)
                assert api.is_index(index), f"{registry}/{repository}:{tag} is not an index"
                images = {p: d["digest"] for p, d in api.image_manifests(index).items()}
                assert images == {p: records[(target, p)]["digest"] for p in platforms}
                assert len(api.attestations(index)) == (len(platforms) if attestations else 0)
                digests.add(digest)
            assert len(digests) == 1, f"tags of {target} in {registry} differ: {digests}"
            shared[(registry, target)] = digests.pop()
    return shared


def test_records_match_the_registry_and_merge_checks_them_against_it(
    stack: Stack, unique_repo: str, tmp_path: Path
) -> None:
    """Three targets (tool builds amd64 only); the amd64 job writes the default records folder from another
    directory, the arm64 job a sub-folder of it; then a dry run, a contradicted record, and the merge."""
    registries = stack.registries
    targets = {"web": "", "api": "", "tool": 'platforms = ["linux/amd64"]'}
    planned = {"web": BOTH, "api": BOTH, "tool": {"linux/amd64"}}
    project = write_project(tmp_path / "proj", unique_repo, registries, targets)
    elsewhere = project / "ci"
    elsewhere.mkdir()
    default_records = project / ".bakepy" / "records"
    summary = tmp_path / "summary.md"

    # -- the two builds --------------------------------------------------------------------------------
    amd64 = bakepy(
        [
            "build",
            "-f",
            "../bakepy.toml",
            "--platform",
            "linux/amd64",
            "--push-by-digest",
            "--json",
        ],
        elsewhere,
        env_for(stack, GITHUB_STEP_SUMMARY=str(summary)),
    )
    assert amd64.returncode == 0, amd64.stderr[-4000:]
    report = json.loads(amd64.stdout)
    assert (report["targets"], report["skipped"], report["pushed"]) == (list(targets), [], True)
    bake_file = project / ".bakepy" / "build-linux-amd64" / "docker-bake.json"
    assert Path(report["bake_file"]).resolve() == bake_file.resolve()
    assert sorted(Path(p).resolve() for p in report["paths"]) == sorted(
        (default_records / f"{t}--linux-amd64.json").resolve() for t in targets
    )

    arm64_job = ["--records", str(default_records / "arm64-job"), "--json"]
    arm64 = bakepy(
        ["build", "--platform", "linux/aarch64", "--push-by-digest", *arm64_job],
        project,
        env_for(stack),
    )
    assert arm64.returncode == 0, arm64.stderr[-4000:]
    report = json.loads(arm64.stdout)
    assert (report["platform"], report["targets"], report["skipped"]) == (
        "linux/arm64",
        ["web", "api"],
        ["tool"],
    )

    # -- each record describes what its build pushed, in every registry --------------------------------
    records = records_in(default_records)
    assert set(records) == {(t, p) for t, platforms in planned.items() for p in platforms}
    for (target, platform), record in records.items():
        assert record["revision"] == REVISION
        assert record["repositories"] == [f"{r}/{unique_repo}/{target}" for r in registries]
        for registry in registries:
            digest, index = api.get_manifest(registry, f"{unique_repo}/{target}", record["source"])
            assert digest == record["source"]
            assert api.is_index(index)  # the image and its provenance attestation
            assert {p: d["digest"] for p, d in api.image_manifests(index).items()} == {
                platform: record["digest"]
            }
            assert len(api.attestations(index)) == 1
    text = summary.read_text()
    assert "### bakepy: built linux/amd64 by digest" in text
    for target in targets:
        digest = records[(target, "linux/amd64")]["digest"]
        assert f"| {target} | linux/amd64 | `{digest[:19]}…` |" in text
    assert no_tags(registries, unique_repo, list(targets))

    # -- a dry run names the pushed sources, in platform order, and moves nothing -----------------------
    dry = bakepy(["merge", "-f", "../bakepy.toml", "--dry-run"], elsewhere, env_for(stack))
    assert dry.returncode == 0, dry.stderr
    commands = [
        shlex.split(line) for line in dry.stdout.splitlines() if "imagetools create" in line
    ]
    create = ["docker", "buildx", "imagetools", "create"]
    expected = []
    for target, platforms in planned.items():
        repositories = [f"{registry}/{unique_repo}/{target}" for registry in registries]
        tag_args = [a for repo in repositories for tag in TAGS for a in ("--tag", f"{repo}:{tag}")]
        sources = [
            f"{repositories[0]}@{records[(target, p)]['source']}"
            for p in ("linux/amd64", "linux/arm64")
            if p in platforms
        ]
        if len(sources) > 1:  # an index made from several sources is staged by digest first
            staged = [a for repo in repositories for a in ("--tag", f"{repo}@INDEX")]
            expected.append([*create, *staged, *sources])
            sources = [f"{repositories[0]}@INDEX"]
        expected.append([*create, *tag_args, *sources])
    assert commands == expected
    assert no_tags(registries, unique_repo, list(targets))

    # -- a record the registry contradicts: exit 5, no tag anywhere ------------------------------------
    tampered = tmp_path / "tampered"
    shutil.copytree(default_records, tampered)
    lying = tampered / "web--linux-amd64.json"
    data = json.loads(lying.read_text())
    data["digest"] = records[("web", "linux/arm64")]["digest"]  # a real image, but not this one
    lying.write_text(json.dumps(data))
    refused = bakepy(["merge", "--records", str(tampered)], project, env_for(stack))
    assert refused.returncode == 5, refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(
        f"error: target web: the record says linux/amd64 is {data['digest']}, but "
    )
    assert errors[0].endswith("; no tag was moved")
    assert no_tags(registries, unique_repo, list(targets))

    # -- the merge: five records from two folders, three targets, every tag -----------------------------
    merged = bakepy(["merge", "-f", "../bakepy.toml", "--json"], elsewhere, env_for(stack))
    assert merged.returncode == 0, merged.stderr[-4000:]
    report = json.loads(merged.stdout)
    assert (report["records"], report["partial"]) == (5, False)
    shared = assert_published(registries, unique_repo, records, planned, attestations=True)
    assert {
        (row["registry"], row["target"]): row["digest"] for row in report["published"]
    } == shared


def test_plain_manifests_without_attestations_and_records_written_by_publish(
    stack: Stack, unique_repo: str, tmp_path: Path
) -> None:
    """With BUILDX_NO_DEFAULT_ATTESTATIONS=1 each one-platform push is a plain manifest that names no platform
    (its record does): merged partially, then completely. Then `bakepy publish --records` and a merge of those
    records, which accepts them and moves nothing."""
    registries = stack.registries
    project = write_project(tmp_path / "proj", unique_repo, registries, {"app": ""})
    env = env_for(stack, BUILDX_NO_DEFAULT_ATTESTATIONS="1")
    rec = tmp_path / "rec"

    for platform in ("linux/amd64", "linux/arm64"):
        folder = rec / platform.replace("/", "-")
        built = bakepy(
            ["build", "--platform", platform, "--push-by-digest", "--records", str(folder)],
            project,
            env,
        )
        assert built.returncode == 0, built.stderr[-4000:]
    records = records_in(rec)
    for (target, platform), record in records.items():
        assert record["source"] == record["digest"]  # nothing wraps the image
        for registry in registries:
            _, manifest = api.get_manifest(registry, f"{unique_repo}/{target}", record["digest"])
            assert manifest["mediaType"] in OCI_MANIFEST_TYPES
            blob = api.get_blob(registry, f"{unique_repo}/{target}", manifest["config"]["digest"])
            config = json.loads(blob)
            assert f"{config['os']}/{config['architecture']}" == platform  # the record is right

    partial = bakepy(
        ["merge", "--records", str(rec / "linux-amd64"), "--allow-partial"], project, env
    )
    assert partial.returncode == 0, partial.stderr[-4000:]
    assert "warning: --allow-partial: published without app linux/arm64" in partial.stderr
    assert_published(registries, unique_repo, records, {"app": {"linux/amd64"}}, attestations=False)

    complete = bakepy(["merge", "--records", str(rec), "--json"], project, env)
    assert complete.returncode == 0, complete.stderr[-4000:]
    assert all(row["attestations"] == 0 for row in json.loads(complete.stdout)["published"])
    assert_published(registries, unique_repo, records, {"app": BOTH}, attestations=False)

    # `bakepy publish --records` stamps its whole run's fingerprint; `bakepy merge` accepts it.
    published = tmp_path / "published"
    run = bakepy(["publish", "--records", str(published)], project, env)
    assert run.returncode == 0, run.stderr[-4000:]
    again = bakepy(["merge", "--records", str(published), "--json"], project, env)
    assert again.returncode == 0, again.stderr[-4000:]
    assert all(row["moved"] == [] for row in json.loads(again.stdout)["published"])
    assert_published(
        registries, unique_repo, records_in(published), {"app": BOTH}, attestations=False
    )


def test_a_failing_platform_build_names_its_target(stack, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM busybox\nRUN echo broken >&2 && exit 9\n")
    (project / "bakepy.toml").write_text(
        '[project]\nplatforms = ["linux/amd64", "linux/arm64"]\n\n'
        '[target.tool]\ntags = ["127.0.0.1:5000/bakepy-test/never:1"]\n'
    )
    result = bakepy(["build", "--platform", "linux/arm64"], project, env_for(stack))
    assert result.returncode == 4, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: build of target tool")
    assert "exit code: 9" in errors[0]
