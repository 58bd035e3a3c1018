"""Loading projects: discovery, the three file kinds, environment overrides, and the invalid catalog."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bakepy.config import discover, load_project, load_toml
from bakepy.errors import ConfigError

INVALID = Path(__file__).parents[1] / "fixtures" / "invalid"


def catalog() -> list[Path]:
    files = [*INVALID.glob("*.toml"), *INVALID.glob("*.py"), *INVALID.glob("*/pyproject.toml")]
    return sorted(files)


def expectation(path: Path) -> tuple[str, str | None]:
    lines = path.read_text(encoding="utf-8").splitlines()
    expect = lines[0].removeprefix("# expect: ")
    hint = (
        lines[1].removeprefix("# hint: ")
        if len(lines) > 1 and lines[1].startswith("# hint: ")
        else None
    )
    return expect, hint


def test_catalog_is_large_enough() -> None:
    assert len(catalog()) >= 30


@pytest.mark.parametrize("path", catalog(), ids=lambda p: str(p.relative_to(INVALID)))
def test_invalid_catalog(path: Path) -> None:
    expect, hint = expectation(path)
    with pytest.raises(ConfigError) as info:
        load_project(path.relative_to(INVALID), cwd=INVALID, env={})
    assert info.value.message == expect
    assert info.value.hint == hint
    assert info.value.exit_code == 2
    assert "\n" not in info.value.message


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_discovery_order(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape("no bakepy.toml, pyproject.toml with [tool.bakepy] or bakefile.py"),
    ):
        discover(tmp_path)
    write(tmp_path / "bakefile.py", "from bakepy.model import Project\nproject = Project()\n")
    assert discover(tmp_path).name == "bakefile.py"
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    assert discover(tmp_path).name == "bakefile.py"  # no [tool.bakepy]: not a project file
    (tmp_path / "bakefile.py").unlink()
    write(tmp_path / "pyproject.toml", "[tool.bakepy.target.app]\n")
    assert discover(tmp_path).name == "pyproject.toml"
    (tmp_path / "pyproject.toml").unlink()
    write(tmp_path / "bakepy.toml", "[target.app]\n")
    assert discover(tmp_path).name == "bakepy.toml"


def test_two_project_files_are_refused_naming_both(tmp_path: Path) -> None:
    # issue 24 item 12: bakepy.toml beside bakefile.py was read silently; the one a publish pushes is not guessed
    write(tmp_path / "bakepy.toml", "[target.app]\n")
    write(tmp_path / "bakefile.py", "from bakepy.model import Project\nproject = Project()\n")
    with pytest.raises(ConfigError) as caught:
        discover(tmp_path)
    assert caught.value.exit_code == 2
    assert caught.value.message == (
        f"bakepy.toml and bakefile.py in {tmp_path} both define the project; "
        "bakepy does not guess which one to use"
    )
    assert caught.value.hint == (
        "pick one with -f bakepy.toml or -f bakefile.py, or keep only one of them in the folder"
    )
    write(tmp_path / "pyproject.toml", "[tool.bakepy.target.app]\n")
    with pytest.raises(
        ConfigError,
        match=re.escape("bakepy.toml, pyproject.toml with [tool.bakepy] and bakefile.py in "),
    ):
        discover(tmp_path)
    # -f chooses
    assert load_project(Path("bakefile.py"), tmp_path).kind == "python"
    assert load_project(Path("bakepy.toml"), tmp_path).kind == "toml"


def test_load_kinds(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.bakepy.target.app]\ncontext = 'x'\n")
    loaded = load_project(cwd=tmp_path)
    assert loaded.kind == "pyproject"
    assert loaded.path == tmp_path / "pyproject.toml"
    assert loaded.project.resolved.targets["app"].context == "x"
    write(tmp_path / "other.toml", "[target.b]\n")
    assert load_project(Path("other.toml"), cwd=tmp_path).kind == "toml"
    write(
        tmp_path / "build.py",
        "from bakepy.model import Project, Target\nproject = Project(targets={'c': Target()})\n",
    )
    loaded = load_project(tmp_path / "build.py")
    assert loaded.kind == "python"
    assert list(loaded.project.resolved.targets) == ["c"]


def test_bakefile_can_import_its_neighbours(tmp_path: Path) -> None:
    write(tmp_path / "versions.py", "PYTHONS = ['3.12', '3.13']\n")
    write(
        tmp_path / "bakefile.py",
        "from versions import PYTHONS\nfrom bakepy.model import Project, Target\n"
        "project = Project(targets={'py' + v.replace('.', ''): Target(args={'V': v}) for v in PYTHONS})\n",
    )
    assert list(load_project(cwd=tmp_path).project.resolved.targets) == ["py312", "py313"]


def test_missing_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("nope.toml: no such file")):
        load_project(Path("nope.toml"), cwd=tmp_path)
    write(tmp_path / "x.yaml", "a: 1\n")
    with pytest.raises(ConfigError, match="not a project file"):
        load_project(Path("x.yaml"), cwd=tmp_path)


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "[variable.TAG]\ndefault = 'dev'\n[target.app]\ntags = ['ghcr.io/a/app:${TAG}']\n"
    assert load_toml(text, env={}).resolved.targets["app"].tags == ("ghcr.io/a/app:dev",)
    assert load_toml(text, env={"TAG": "1.0"}).resolved.targets["app"].tags == (
        "ghcr.io/a/app:1.0",
    )
    monkeypatch.setenv("TAG", "2.0")
    assert load_toml(text).resolved.targets["app"].tags == ("ghcr.io/a/app:2.0",)


def test_errors_count_the_rest(tmp_path: Path) -> None:
    text = "[target.app]\nplatforms = ['linux/arm65', 'linux/amd46']\npull = 'x'\n"
    with pytest.raises(ConfigError) as info:
        load_toml(text, source="b.toml")
    assert re.fullmatch(
        r"b\.toml: target\.app\.platforms\[0\]: .* \(and 2 more errors\)", info.value.message
    )


def test_toml_errors_name_the_line() -> None:
    with pytest.raises(ConfigError, match=r"^x.toml:[23]:\d+: invalid TOML: "):
        load_toml("[target.app]\nargs = {\n", source="x.toml")
