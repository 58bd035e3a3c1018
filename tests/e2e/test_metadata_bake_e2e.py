"""`--metadata-bake` against buildx: metadata-action's bake files merged into a project as `docker buildx bake -f
docker-bake.hcl -f FILE…` merges them. The project and an HCL file saying the same are written here; the files
are of the shapes metadata-action writes (bake-file-tags, bake-file-labels, bake-file-annotations), with the
characters its labels carry (quotes, `$`, `%{`, a newline, unicode)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from e2e_support import bake_print, bakepy, env_for

PROJECT = """\
[target.docker-metadata-action]
tags = ["127.0.0.1:5000/meta/app:placeholder"]
labels = { "org.opencontainers.image.licenses" = "MIT" }
annotations = ["manifest:com.example.placeholder=1"]

[target.app]
inherits = ["docker-metadata-action"]
dockerfile-inline = "FROM busybox"
args = { OWN = "1" }

[group.default]
targets = ["app"]
"""

HCL = """\
target "docker-metadata-action" {
  tags        = ["127.0.0.1:5000/meta/app:placeholder"]
  labels      = { "org.opencontainers.image.licenses" = "MIT" }
  annotations = ["manifest:com.example.placeholder=1"]
}

target "app" {
  inherits          = ["docker-metadata-action"]
  dockerfile-inline = "FROM busybox"
  args              = { OWN = "1" }
}
"""

DESCRIPTION = 'A "quoted" $HOME, $${literal} and %%{literal}\nsecond line — ünïcode'
FILES = {
    "tags.json": {
        "tags": ["127.0.0.1:5000/meta/app:1.2.3", "127.0.0.1:5000/meta/app:latest"],
        "args": {"DOCKER_META_IMAGES": "127.0.0.1:5000/meta/app", "DOCKER_META_VERSION": "1.2.3"},
    },
    "labels.json": {
        "labels": {
            "org.opencontainers.image.description": DESCRIPTION,
            "org.opencontainers.image.version": "1.2.3",
            "org.opencontainers.image.licenses": None,
        }
    },
    "annotations.json": {
        "annotations": [
            "index:org.opencontainers.image.version=1.2.3",
            f"manifest:org.opencontainers.image.description={DESCRIPTION}",
        ]
    },
}


def test_metadata_bake_files_merge_as_bake_merges_them(stack, tmp_path: Path) -> None:
    (tmp_path / "bakepy.toml").write_text(PROJECT)
    (tmp_path / "docker-bake.hcl").write_text(textwrap.dedent(HCL))
    for name, body in FILES.items():
        (tmp_path / name).write_text(json.dumps({"target": {"docker-metadata-action": body}}))
    env = env_for(stack)
    options = [a for name in FILES for a in ("--metadata-bake", name)]
    rendered = bakepy(["render", *options, "-o", "rendered.json"], tmp_path, env)
    assert rendered.returncode == 0, rendered.stderr

    expected = bake_print(["docker-bake.hcl", *FILES], ["app"], tmp_path, env)["target"]["app"]
    got = bake_print(["rendered.json"], ["app"], tmp_path, env)["target"]["app"]
    for key in ("tags", "labels", "annotations", "args"):
        assert got[key] == expected[key], key
    assert (
        expected["annotations"][0] == "manifest:com.example.placeholder=1"
    )  # appended, as bake does

    planned = bakepy(["plan", "--json", *options], tmp_path, env)
    assert planned.returncode == 0, planned.stderr
    (target,) = json.loads(planned.stdout)["targets"]
    assert sorted(target["tags"]["127.0.0.1:5000"]) == sorted(expected["tags"])


def test_a_pull_request_without_tags_builds_with_no_push_and_says_why_it_cannot_publish(
    stack, tmp_path: Path
) -> None:
    """metadata-action's file on a pull request with release rules only: `"tags": []`."""
    (tmp_path / "bakepy.toml").write_text(
        PROJECT.replace('tags = ["127.0.0.1:5000/meta/app:placeholder"]\n', "")
    )
    (tmp_path / "pr.json").write_text(
        json.dumps({"target": {"docker-metadata-action": {"tags": [], "labels": {}}}})
    )
    env = env_for(stack)
    published = bakepy(["publish", "--metadata-bake", "pr.json"], tmp_path, env)
    assert published.returncode == 2
    assert published.stderr.splitlines() == [
        "error: bakepy.toml: target.app: 'app' publishes nowhere: pr.json has no tags (metadata-action made "
        "none for this event, e.g. a pull request with release rules only)",
        "hint: build without pushing with --no-push (set push only for the events that tag)",
    ]
    built = bakepy(["publish", "--no-push", "--metadata-bake", "pr.json"], tmp_path, env)
    assert built.returncode == 0, built.stderr
    assert "nothing was pushed or tagged" in built.stdout
