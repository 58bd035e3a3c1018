"""`bakepy import`: turn existing bake definitions (HCL, JSON, compose) into a bakepy project.

Three steps kept apart so that two of them run no process:

1. **resolve** (`resolve.resolve_bake`): ask buildx what the definitions mean (`--list`, `--print`, probes).
2. **convert** (`convert.convert`, pure): the answers become an `ImportedProject` (`imported`), with an
   `ImportNote` for anything bakepy cannot express, instead of dropping it silently.
3. **write** (`toml.to_toml`, `python.to_python`, pure): deterministic text, with the notes as comments.

The promise checked by the round-trip tests: `docker buildx bake --print` of the original and of
`bakepy render` of the import are equal for every target and group.
"""

from __future__ import annotations

from bakepy.bake.importer.conversion import convert, with_remark
from bakepy.bake.importer.imported import (
    ImportedGroup,
    ImportedProject,
    ImportedTarget,
    ImportedVariable,
    ImportNote,
    Template,
    VarRef,
)
from bakepy.bake.importer.python import python_form, to_python
from bakepy.bake.importer.resolve import (
    BakeRunner,
    BakeSource,
    ResolvedBake,
    resolve_bake,
    source_texts,
)
from bakepy.bake.importer.toml import to_toml

__all__ = [
    "BakeRunner",
    "BakeSource",
    "ImportNote",
    "ImportedGroup",
    "ImportedProject",
    "ImportedTarget",
    "ImportedVariable",
    "ResolvedBake",
    "Template",
    "VarRef",
    "convert",
    "import_bake",
    "python_form",
    "resolve_bake",
    "source_texts",
    "to_python",
    "to_toml",
    "with_remark",
    "write",
]


def import_bake(source: BakeSource, runner: BakeRunner) -> ImportedProject:
    """Steps 1 and 2: ask buildx, then convert."""
    return convert(resolve_bake(source, runner))


def write(project: ImportedProject, *, python: bool = False) -> str:
    """bakepy.toml text, or with `python` a bakefile.py."""
    return to_python(project) if python else to_toml(project)
