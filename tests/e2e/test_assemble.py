"""`bakepy assemble` and `bakepy status`: the ECR flow on the real stack, checked through the registry HTTP API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import registry_api as api
from e2e_support import bakepy, env_for

DOCKERFILE = "FROM busybox\nARG N=0\nRUN echo $N > /n && uname -m > /arch\n"


def _push(
    root: Path, env: dict[str, str], platform: str, ref: str, *, attest: bool, n: str
) -> None:
    """`docker buildx build --push` of one platform under its own tag, as an ECR guide's host would."""
    run_env = dict(env)
    if not attest:
        run_env["BUILDX_NO_DEFAULT_ATTESTATIONS"] = "1"
    output = f"type=image,name={ref},push=true" + ("" if attest else ",oci-mediatypes=false")
    subprocess.run(
        ["docker", "buildx", "build", "--platform", platform, "--build-arg", f"N={n}",
         "--output", output, str(root)],
        env=run_env, check=True, capture_output=True,
    )  # fmt: skip


def _digests(refs: list[tuple[str, str, str]]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for registry, repo, tag in refs:
        try:
            out[f"{registry}/{repo}:{tag}"], _ = api.get_manifest(registry, repo, tag)
        except api.RegistryAPIError:
            out[f"{registry}/{repo}:{tag}"] = None
    return out


def test_per_arch_tags_assembled_into_every_registry_checked_and_refused(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    r1, r2 = stack.registries[0], stack.registries[1]
    env = env_for(stack)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    src = f"{r1}/{unique_repo}/src"
    _push(
        tmp_path, env, "linux/amd64", f"{src}:amd64", attest=True, n="a"
    )  # an OCI index + attestation
    _push(
        tmp_path, env, "linux/arm64", f"{src}:arm64", attest=False, n="b"
    )  # a plain Docker v2 manifest
    _, arm = api.get_manifest(r1, f"{unique_repo}/src", "arm64")
    assert arm["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"

    out = f"{unique_repo}/hello"
    tags = [f"--tag={r}/{out}:{t}" for r in (r1, r2) for t in ("latest", "1.0")]
    done = bakepy(["assemble", *tags, f"{src}:amd64", f"{src}:arm64"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    for registry in (r1, r2):
        assert sorted(api.list_tags(registry, out)) == ["1.0", "latest"]
        for tag in ("latest", "1.0"):
            _, index = api.get_manifest(registry, out, tag)
            assert api.is_index(index)
            assert api.platforms(index) == {"linux/amd64", "linux/arm64"}
            assert len(api.attestations(index)) == 1  # the amd64 source's, carried along
    every = [(r, out, t) for r in (r1, r2) for t in ("latest", "1.0")]
    before = _digests(every)

    # an amd64 image given for arm64: refused, naming both; no tag moves (complete ones included)
    _push(tmp_path, env, "linux/amd64", f"{src}:cross", attest=False, n="c")
    wrong = bakepy(
        ["assemble", *tags, f"linux/arm64={src}:cross", f"linux/amd64={src}:amd64"], tmp_path, env
    )
    assert wrong.returncode == 2, wrong.stderr  # bad input, not a registry failure
    assert "is given for linux/arm64, but its image config says linux/amd64" in wrong.stderr
    assert "--annotate linux/arm64=" in wrong.stderr
    assert _digests(every) == before

    # two sources for one platform: refused, nothing moved
    twice = bakepy(["assemble", *tags, f"{src}:amd64", f"linux/amd64={src}:cross"], tmp_path, env)
    assert twice.returncode == 2, twice.stderr
    assert "two sources for linux/amd64" in twice.stderr
    assert _digests(every) == before

    # --annotate cannot relabel a buildx push (an index: its attestation makes it one); the error names the
    # image manifest inside it to pass instead, and that one is taken
    _, pushed = api.get_manifest(r1, f"{unique_repo}/src", "amd64")
    child = api.image_manifests(pushed)["linux/amd64"]["digest"]
    relabel = bakepy(
        ["assemble", f"--tag={r1}/{out}:relabelled", f"--annotate=linux/arm64={src}:amd64", f"{src}:cross"],
        tmp_path,
        env,
    )  # fmt: skip
    assert relabel.returncode == 2, relabel.stderr
    assert (
        f"pass its image manifest instead, --annotate linux/arm64={src}@{child}" in relabel.stderr
    )
    taken = bakepy(
        ["assemble", f"--tag={r1}/{out}:relabelled", f"--annotate=linux/arm64={src}@{child}", f"{src}:cross"],
        tmp_path,
        env,
    )  # fmt: skip
    assert taken.returncode == 0, taken.stderr
    _, index = api.get_manifest(r1, out, "relabelled")
    assert api.image_manifests(index)["linux/arm64"]["digest"] == child
    assert _digests(every) == before

    # said explicitly: the index lists linux/arm64 for it, and the output says so
    said = bakepy(
        ["assemble", f"--tag={r1}/{out}:annotated", f"--annotate=linux/arm64={src}:cross", f"{src}:amd64"],
        tmp_path,
        env,
    )  # fmt: skip
    assert said.returncode == 0, said.stderr
    assert "published as linux/arm64, as you said" in said.stderr
    _, index = api.get_manifest(r1, out, "annotated")
    images = api.image_manifests(index)
    cross, _ = api.get_manifest(r1, f"{unique_repo}/src", "cross")
    assert images["linux/arm64"]["digest"] == cross


def test_status_reports_a_tag_overwritten_by_a_single_platform_push(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    r1 = stack.registries[0]
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "bakepy.toml").write_text(
        f'[project]\nregistries = ["{r1}"]\nplatforms = ["linux/amd64", "linux/arm64"]\n'
        f'tags = ["1.0", "latest"]\n\n[target.app]\nimage = "{unique_repo}"\n'
    )
    env = env_for(stack)
    assert bakepy(["publish"], tmp_path, env).returncode == 0
    good = bakepy(["status", "--json"], tmp_path, env)
    assert good.returncode == 0, good.stderr
    assert {row["state"] for row in json.loads(good.stdout)} == {"complete"}

    _push(
        tmp_path, env, "linux/amd64", f"{r1}/{unique_repo}:latest", attest=True, n="x"
    )  # the race
    bad = bakepy(["status"], tmp_path, env)
    assert bad.returncode == 5
    assert f"{r1}/{unique_repo}:latest (incomplete)" in bad.stderr
    assert "1 tag(s) not complete" in bad.stderr


def test_status_reports_drift_when_registries_hold_another_complete_index_under_a_tag(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    """`latest` moved by hand, through the registry HTTP API, to another complete index in one of two
    registries: every copy is complete, and the registries disagree."""
    r1, r2 = stack.registries[0], stack.registries[1]
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "bakepy.toml").write_text(
        f'[project]\nregistries = ["{r1}", "{r2}"]\nplatforms = ["linux/amd64", "linux/arm64"]\n'
        f'tags = ["1.0", "latest"]\n\n[variable.N]\ndefault = "1"\n\n'
        f'[target.app]\nimage = "{unique_repo}"\nargs = {{ N = "${{N}}" }}\n'
    )
    env = env_for(stack)
    assert bakepy(["publish"], tmp_path, env).returncode == 0
    # another complete index of the same repository: the next build, published under `next` only
    (tmp_path / "next.toml").write_text(
        (tmp_path / "bakepy.toml")
        .read_text()
        .replace('tags = ["1.0", "latest"]', 'tags = ["next"]')
    )
    assert bakepy(["publish", "-f", "next.toml", "--var", "N=2"], tmp_path, env).returncode == 0
    body, media_type = api.get_manifest_raw(r2, unique_repo, "next")
    api.put_manifest(r2, unique_repo, "latest", body, media_type)
    _, moved = api.get_manifest(r2, unique_repo, "latest")
    assert api.platforms(moved) == {"linux/amd64", "linux/arm64"}  # complete, and not r1's

    result = bakepy(["status"], tmp_path, env)
    assert result.returncode == 5, result.stderr
    first, second = f"{r1}/{unique_repo}:latest", f"{r2}/{unique_repo}:latest"
    assert f"{first} (drift: {second} holds another index)" in result.stderr
    assert f"{second} (drift: {first} holds another index)" in result.stderr
    assert "2 tag(s) not complete" in result.stderr  # the 1.0 tags are alike
    rows = {
        row["tag"]: row["state"]
        for row in json.loads(bakepy(["status", "--json"], tmp_path, env).stdout)
    }
    assert rows == {
        first: "drift",
        second: "drift",
        f"{r1}/{unique_repo}:1.0": "complete",
        f"{r2}/{unique_repo}:1.0": "complete",
    }


def test_publish_assembles_a_declared_target_with_the_built_ones_in_one_transaction(
    stack, unique_repo: str, tmp_path: Path
) -> None:
    """bakepy.toml names a target's per-platform sources: `plan` shows it, `publish` builds the other target and
    assembles this one, moving every tag of both at once."""
    r1, r2 = stack.registries[0], stack.registries[1]
    env = env_for(stack)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    src = f"{r1}/{unique_repo}/src"
    _push(tmp_path, env, "linux/amd64", f"{src}:amd64", attest=True, n="1")
    _push(tmp_path, env, "linux/arm64", f"{src}:arm64", attest=False, n="2")
    (tmp_path / "bakepy.toml").write_text(
        f'[project]\nregistries = ["{r1}", "{r2}"]\nplatforms = ["linux/amd64", "linux/arm64"]\n'
        f'tags = ["1.0"]\n\n'
        f'[target.built]\nimage = "{unique_repo}/built"\n\n'
        f'[target.hello]\nimage = "{unique_repo}/hello"\n'
        f'sources = ["{src}:amd64", "linux/arm64={src}:arm64"]\n'
    )
    plan = bakepy(["plan", "--json"], tmp_path, env)
    assert plan.returncode == 0, plan.stderr
    steps = [c["step"] for c in __import__("json").loads(plan.stdout)["commands"]]
    assert steps[:2] == ["build", "assemble"]

    done = bakepy(["publish"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    for registry in (r1, r2):
        for target in ("built", "hello"):
            _, index = api.get_manifest(registry, f"{unique_repo}/{target}", "1.0")
            assert api.platforms(index) == {"linux/amd64", "linux/arm64"}
