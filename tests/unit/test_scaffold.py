"""`bakepy init`'s scaffolding (bakepy.scaffold): Dockerfiles found, targets named, registries from the remote."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from bakepy.config import load_toml
from bakepy.errors import ConfigError, NothingToDoError
from bakepy.scaffold import PLACEHOLDER_REGISTRY, find_dockerfiles, registry_from_remote, scaffold


def tree(root: Path, *files: str) -> Path:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("FROM scratch\n", encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("url", "registry"),
    [
        ("https://github.com/Acme/App.git", "ghcr.io/acme"),
        ("git@github.com:acme/app.git", "ghcr.io/acme"),
        ("ssh://git@github.com/acme/app", "ghcr.io/acme"),
        ("https://x-access-token:secret@github.com/acme/app.git", "ghcr.io/acme"),
        ("https://gitlab.com/Group/Sub/Project.git", "registry.gitlab.com/group/sub/project"),
        ("git@gitlab.com:group/project.git", "registry.gitlab.com/group/project"),
        (
            "https://gitlab.example.com/group/project.git",
            None,
        ),  # a self-hosted registry has its own name
        ("https://github.com/acme", None),  # not a repository
        ("/srv/git/app.git", None),
        ("", None),
        (None, None),
    ],
)
def test_registry_from_the_remote(url: str | None, registry: str | None) -> None:
    assert registry_from_remote(url) == registry


def test_dockerfiles_found_and_the_folders_left_out(tmp_path: Path) -> None:
    tree(
        tmp_path,
        "Dockerfile",
        "web/Dockerfile.prod",
        "web/dev.Dockerfile",
        "services/api/Containerfile",
        "services/api/README.md",
        ".git/Dockerfile",
        ".venv/lib/Dockerfile",
        "node_modules/pkg/Dockerfile",
    )
    assert find_dockerfiles(tmp_path) == [
        PurePosixPath("Dockerfile"),
        PurePosixPath("web/Dockerfile.prod"),
        PurePosixPath("web/dev.Dockerfile"),
        PurePosixPath("services/api/Containerfile"),
    ]


def test_a_target_per_dockerfile_named_after_its_folder(tmp_path: Path) -> None:
    root = tree(
        tmp_path / "My_App",
        "Dockerfile",
        "web/Dockerfile",
        "web/Dockerfile.prod",
        "a/api/Dockerfile",
        "b/api/Dockerfile",
    )
    made = scaffold(root, remote_url="git@github.com:Acme/my-app.git")
    assert [(t.name, t.context, t.dockerfile) for t in made.targets] == [
        ("my-app", ".", "Dockerfile"),
        ("web", "web", "Dockerfile"),
        ("web-prod", "web", "Dockerfile.prod"),
        ("a-api", "a/api", "Dockerfile"),  # two folders called api: their parents tell them apart
        ("b-api", "b/api", "Dockerfile"),
    ]
    assert made.registries == ("ghcr.io/acme",)
    assert made.registry_source == "git remote origin github.com/Acme/my-app"
    project = load_toml(made.text)
    assert project.resolved.settings.platforms == ("linux/amd64", "linux/arm64")
    assert '[target.a-api]\ncontext = "a/api"\ndockerfile = "Dockerfile"\n' in made.text
    assert (
        'registries = ["ghcr.io/acme"]  # from git remote origin github.com/Acme/my-app\n'
        in made.text
    )
    assert "bakepy plan" in made.text and "bakepy publish --dry-run" in made.text


def test_no_credentials_from_the_remote_reach_the_file(tmp_path: Path) -> None:
    made = scaffold(
        tree(tmp_path, "Dockerfile"), remote_url="https://user:s3cret@gitlab.com/g/p.git"
    )
    assert made.registries == ("registry.gitlab.com/g/p",)
    assert "s3cret" not in made.text and "user" not in made.registry_source


def test_without_a_known_remote_a_placeholder_that_loads(tmp_path: Path) -> None:
    made = scaffold(tree(tmp_path, "Dockerfile"), remote_url="https://git.example.com/a/b.git")
    assert made.registries == (PLACEHOLDER_REGISTRY,)
    assert made.registry_source == "placeholder"
    assert "# a placeholder: your registry and namespace" in made.text
    load_toml(made.text)


def test_registries_given_win_and_are_checked(tmp_path: Path) -> None:
    root = tree(tmp_path, "Dockerfile")
    made = scaffold(root, remote_url="git@github.com:acme/app.git", registries=["quay.io/acme"])
    assert (made.registries, made.registry_source) == (("quay.io/acme",), "given")
    with pytest.raises(ConfigError, match=r"^bakepy.toml: project.registries\[0\]: "):
        scaffold(root, registries=["Quay.io/Acme!"])


def test_no_dockerfile_is_nothing_to_do(tmp_path: Path) -> None:
    with pytest.raises(NothingToDoError, match="no Dockerfile under "):
        scaffold(tree(tmp_path, "node_modules/x/Dockerfile"))


def test_the_docs_show_what_init_writes(tmp_path: Path) -> None:
    root = tree(tmp_path / "shop", "Dockerfile", "api/Dockerfile", "web/Dockerfile.prod")
    text = scaffold(root, remote_url="git@github.com:Acme/shop.git").text
    docs = (Path(__file__).resolve().parents[2] / "docs" / "init.md").read_text(encoding="utf-8")
    assert f"```toml\n{text}```" in docs, "paste what bakepy init writes into docs/init.md"
