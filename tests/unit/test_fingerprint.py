"""The input fingerprint (publish/fingerprint.py): Docker's .dockerignore rules, table-tested against the
examples of Docker's documentation, and what changes a target × platform's fingerprint and what does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakepy.model import Project
from bakepy.publish.fingerprint import (
    Fingerprint,
    base_images,
    context_digest,
    fingerprint_targets,
    ignored,
    parse_dockerignore,
    read_annotation,
)

# Docker's documentation (build/concepts/context, "Syntax"), each example with paths it keeps and drops.
IGNORE_TABLE = [
    ("*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "somedir/temp", True),
    ("*/temp*", "somedir/temp/inner.txt", True),  # a parent directory matched
    ("*/temp*", "temporary.txt", False),  # only one level down
    ("*/*/temp*", "somedir/subdir/temporary.txt", True),
    ("*/*/temp*", "somedir/temporary.txt", False),
    ("temp?", "tempa", True),
    ("temp?", "tempb", True),
    ("temp?", "temp", False),
    ("temp?", "tempab", False),
    ("**/*.go", "main.go", True),  # `**` matches no directory at all too
    ("**/*.go", "a/b/c/main.go", True),
    ("**/*.go", "a/main.goo", False),
    ("*.md\n!README.md", "README.md", False),
    ("*.md\n!README.md", "CHANGES.md", True),
    ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", True),
    ("*.md\n!README*.md\nREADME-secret.md", "README-public.md", False),
    ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", False),  # the last match wins
    ("/build", "build/out.o", True),  # a leading slash is the context root
    ("./build/../dist", "dist/a", True),  # cleaned as filepath.Clean cleans it
    ("node_modules", "node_modules/x/y.js", True),
    ("node_modules", "src/node_modules/y.js", False),  # not "anywhere", unlike .gitignore
    ("**/node_modules", "src/node_modules/y.js", True),
    ("docs/**", "docs/a/b.txt", True),
    (
        "docs/**",
        "docs",
        True,
    ),  # `docs/**` is `docs/.*`: docs itself only through `docs/` paths… see below
    ("# a comment\n\n   data   ", "data/x", True),  # comments, blank lines and spaces
    ("*\n!src", "src/main.c", False),  # an exception for a directory keeps what is below it
    ("*\n!src", "other.c", True),
    ("f[ab]o", "fao", True),
    ("f[ab]o", "fco", False),
    ("f[^ab]o", "fco", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("*", ".dockerignore", True),
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), IGNORE_TABLE)
def test_dockerignore_rules(patterns: str, path: str, excluded: bool) -> None:
    if path == "docs" and patterns == "docs/**":
        # patternmatcher turns a trailing `**` into `.*`: `docs/**` is `^docs/.*$`, which `docs` alone does not
        # match; BuildKit still sends no file below it, and an empty `docs` directory is what is left.
        assert ignored(path, parse_dockerignore(patterns)) is False
        return
    assert ignored(path, parse_dockerignore(patterns)) is excluded


def test_lone_exclamation_and_comments_are_not_patterns() -> None:
    assert parse_dockerignore("#x\n!\n\n") == ()


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_context_digest_follows_the_ignore_file(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.txt": "a", "logs/x.log": "1", "src/m.c": "int"})
    patterns = parse_dockerignore("logs\n")
    before = context_digest(tmp_path, patterns)
    (tmp_path / "logs/x.log").write_text("2")
    (tmp_path / "logs/new.log").write_text("3")
    assert context_digest(tmp_path, patterns) == before  # ignored files do not count
    (tmp_path / "src/m.c").write_text("int main")
    assert context_digest(tmp_path, patterns) != before
    after = context_digest(tmp_path, patterns)
    (tmp_path / "src/m.c").chmod(0o755)
    assert context_digest(tmp_path, patterns) != after  # the executable bit is content


def test_base_images_resolve_args_and_skip_stages() -> None:
    dockerfile = """\
# syntax=docker/dockerfile:1
ARG BASE=alpine
ARG TAG=3.19
FROM ${BASE}:${TAG} AS build
RUN echo \\
  FROM nothing
FROM scratch
FROM build AS again
FROM --platform=$BUILDPLATFORM golang:1.22 AS tools
FROM base
COPY --from=tools /go /go
COPY --from=0 /x /x
COPY --from=registry.example/lib:1 /lib /lib
"""
    found = base_images(dockerfile, {"TAG": "3.20"}, named=("base",))
    assert found == ("alpine:3.20", "golang:1.22", "registry.example/lib:1")
    assert base_images("ARG V\nFROM img:${V:-1}\n", {}) == ("img:1",)
    assert base_images("FROM img:$MISSING\n", {}) == ("img:",)


PROJECT = """
[project]
registries = ["r.example"]
tags = ["1"]
platforms = ["linux/amd64", "linux/arm64"]
[target.base]
context = "base"
[target.app]
context = "app"
contexts = { base = "target:base" }
args = { MODE = "fast" }
secret = ["id=token,env=TOKEN"]
[target.other]
context = "other"
"""


def _project(root: Path, text: str = PROJECT) -> Project:
    from bakepy.config import load_toml

    return load_toml(text, source="bakepy.toml", table=(), env={})


def _files(root: Path) -> None:
    _tree(
        root,
        {
            "base/Dockerfile": "FROM r.example/os:1\n",
            "app/Dockerfile": "FROM base\nCOPY . /app\n",
            "app/main.py": "print(1)\n",
            "app/.dockerignore": "*.log\n",
            "other/Dockerfile": "FROM r.example/os:1\nFROM scratch\n",
        },
    )


def _prints(
    root: Path, project: Project, digests: dict[str, str] | None = None
) -> dict[tuple[str, str | None], Fingerprint]:
    digests = {"r.example/os:1": "sha256:1"} if digests is None else digests
    resolved = project.resolved
    names = list(resolved.targets)
    return fingerprint_targets(
        resolved,
        names,
        {n: ("linux/amd64", "linux/arm64") for n in names},
        project_dir=root,
        resolve=digests.get,
    )


def test_what_changes_a_fingerprint(tmp_path: Path) -> None:
    _files(tmp_path)
    project = _project(tmp_path)
    first = _prints(tmp_path, project)
    assert all(f.unknown is None for f in first.values())
    amd, arm = first[("app", "linux/amd64")], first[("app", "linux/arm64")]
    assert amd.value != arm.value and amd.changes_from(arm.annotation()) == (
        "contexts.base",  # its base is per platform too
        "platform",
    )
    assert _prints(tmp_path, project) == first  # stable

    (tmp_path / "app/debug.log").write_text("noise")  # ignored: nothing changes
    assert _prints(tmp_path, project) == first

    (tmp_path / "app/main.py").write_text("print(2)\n")
    second = _prints(tmp_path, project)
    assert second[("app", "linux/amd64")].changes_from(amd.annotation()) == ("context",)
    assert second[("base", "linux/amd64")] == first[("base", "linux/amd64")]

    (tmp_path / "base/Dockerfile").write_text("FROM r.example/os:1\nRUN true\n")
    third = _prints(tmp_path, project)
    assert third[("base", "linux/amd64")].changes_from(
        second[("base", "linux/amd64")].annotation()
    ) == ("context", "dockerfile")  # the Dockerfile is in its context too
    # a dependant through `target:` changes with it
    assert third[("app", "linux/amd64")].changes_from(
        second[("app", "linux/amd64")].annotation()
    ) == ("contexts.base",)
    assert third[("other", "linux/amd64")] == second[("other", "linux/amd64")]

    fourth = _prints(tmp_path, project, {"r.example/os:1": "sha256:2"})  # the base image re-pushed
    for name in ("base", "other", "app"):
        assert fourth[(name, "linux/amd64")].value != third[(name, "linux/amd64")].value


def test_args_and_secrets_change_it_but_not_secret_values_or_labels(tmp_path: Path) -> None:
    _files(tmp_path)
    first = _prints(tmp_path, _project(tmp_path))[("app", "linux/amd64")]
    same = PROJECT.replace(
        'secret = ["id=token,env=TOKEN"]',
        'secret = ["id=token,env=OTHER_VAR"]\nlabels = { version = "2" }\n'
        'annotations = ["index:org.opencontainers.image.version=2"]',
    )
    assert _prints(tmp_path, _project(tmp_path, same))[("app", "linux/amd64")] == first
    args = PROJECT.replace('MODE = "fast"', 'MODE = "slow"')
    assert _prints(tmp_path, _project(tmp_path, args))[("app", "linux/amd64")].changes_from(
        first.annotation()
    ) == ("args",)
    secrets = PROJECT.replace("id=token", "id=key")
    assert _prints(tmp_path, _project(tmp_path, secrets))[("app", "linux/amd64")].changes_from(
        first.annotation()
    ) == ("secrets",)


def test_dockerfile_own_ignore_file_comes_first(tmp_path: Path) -> None:
    _files(tmp_path)
    project = _project(tmp_path)
    first = _prints(tmp_path, project)[("app", "linux/amd64")]
    (tmp_path / "app/Dockerfile.dockerignore").write_text("main.py\n")
    second = _prints(tmp_path, project)[("app", "linux/amd64")]
    assert second.changes_from(first.annotation()) == ("context",)
    (tmp_path / "app/main.py").write_text("changed\n")  # ignored by the Dockerfile's own file now
    assert _prints(tmp_path, project)[("app", "linux/amd64")] == second


def test_what_cannot_be_fingerprinted_counts_as_changed(tmp_path: Path) -> None:
    _files(tmp_path)
    remote = PROJECT.replace('context = "other"', 'context = "https://github.com/a/b.git#main"')
    found = _prints(tmp_path, _project(tmp_path, remote))[("other", "linux/amd64")]
    assert found.unknown == "remote context https://github.com/a/b.git#main"
    assert found.changes_from(found.annotation()) == (found.unknown,)
    unread = _prints(tmp_path, _project(tmp_path), {})[("base", "linux/amd64")]
    assert unread.unknown == "base image r.example/os:1 cannot be read"


def test_annotation_round_trip() -> None:
    f = Fingerprint("a", "linux/amd64", {"context": "ab" * 32, "args": "cd" * 32})
    value, parts = read_annotation(f.annotation()) or ("", {})
    assert value == f.value and parts == {"args": "cd" * 5, "context": "ab" * 5}
    assert "," not in f.annotation() and "=" not in f.annotation()
    assert f.changes_from(None) == ("no fingerprint on the published image",)
    assert f.changes_from(f.annotation()) == ()
    assert read_annotation("something else") is None


def test_bakepys_own_folder_is_never_an_input(tmp_path: Path) -> None:
    _files(tmp_path)
    text = PROJECT.replace('context = "other"', 'context = "."')
    project = _project(tmp_path, text)
    first = _prints(tmp_path, project)[("other", "linux/amd64")]
    (tmp_path / ".bakepy" / "runs").mkdir(parents=True)
    (tmp_path / ".bakepy" / "runs" / "x.json").write_text("{}")
    assert _prints(tmp_path, project)[("other", "linux/amd64")] == first
