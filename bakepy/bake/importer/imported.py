"""What an import produces: the attributes bakepy can express, and the model of an imported project
(targets, groups, variables kept as `${NAME}` templates, and notes for anything not carried over exactly)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

# -- what bakepy can express ------------------------------------------------------------------------------

#: Target attributes bakepy.toml accepts (the contract's list, minus `inherits`/`matrix`/`name`, which bake
#: has already applied by the time `--print` answers), in the order the writers emit them.
TARGET_ATTRIBUTES: tuple[str, ...] = (
    "description",
    "context",
    "contexts",
    "dockerfile",
    "dockerfile-inline",
    "target",
    "platforms",
    "tags",
    "args",
    "labels",
    "annotations",
    "attest",
    "cache-from",
    "cache-to",
    "output",
    "secret",
    "ssh",
    "pull",
    "no-cache",
    "no-cache-filter",
    "network",
    "shm-size",
    "ulimits",
    "entitlements",
    "extra-hosts",
    "call",
    "resources",
    "policy",
)

#: Attributes `bake --print` writes with `${` → `$${` and `%{` → `%%{` (buildx bake.Target.MarshalJSON).
_PRINT_ESCAPED = frozenset({"annotations", "dockerfile-inline", "labels", "args", "extra-hosts"})

#: Values bake fills in when a target sets none; the import leaves them out (bake adds them back).
BAKE_DEFAULTS: Mapping[str, str] = {"context": ".", "dockerfile": "Dockerfile"}


#: bake's built-in variables: they cannot be overridden (not even with --var), so they cannot be probed.
BUILTIN_VARIABLES: tuple[str, ...] = ("BAKE_CMD_CONTEXT", "BAKE_LOCAL_PLATFORM")

# -- the model of an import --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VarRef:
    """A reference to a bakepy variable inside a string: `${NAME}` in bakepy.toml."""

    name: str


@dataclass(frozen=True)
class MatrixRef(VarRef):
    """A reference to a matrix value inside a rebuilt matrix target: `${version}`, `${item.tag}`."""


@dataclass(frozen=True)
class Template:
    """A string made of literal text and variable references, e.g. `acme/app:${TAG}`."""

    parts: tuple[str | VarRef, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(
                p.name for p in self.parts if isinstance(p, VarRef) and not isinstance(p, MatrixRef)
            )
        )

    def resolve(self, values: Mapping[str, str]) -> str:
        return "".join(p if isinstance(p, str) else values[p.name] for p in self.parts)


#: An attribute value: JSON-like, where a string may be a `Template`.
Value: TypeAlias = str | Template | bool | int | float | list["Value"] | dict[str, "Value"]


@dataclass(frozen=True)
class ImportNote:
    """Something the import could not carry over exactly: `where` (a path like `target.app.tags[1]`,
    `variable.TAG`) and a sentence saying what happened to it."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class ImportedVariable:
    name: str
    #: the value in force at import; a `Template` when the files make it of other variables; None for null
    default: str | Template | None
    description: str | None = None
    #: bakepy.toml cannot follow it (a note says why): render and publish refuse another value of it
    frozen: bool = False


@dataclass(frozen=True)
class ImportedTarget:
    name: str
    attributes: Mapping[str, Value]
    #: attributes bakepy cannot express, kept verbatim (as bake printed them) for a comment in the output.
    unsupported: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportedGroup:
    name: str
    targets: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True)
class ImportedProject:
    """The result of an import: what the writers turn into bakepy.toml or a Python module."""

    sources: tuple[str, ...]
    variables: tuple[ImportedVariable, ...]
    targets: tuple[ImportedTarget, ...]
    groups: tuple[ImportedGroup, ...]
    notes: tuple[ImportNote, ...]
    #: informational lines for the header (nothing lost): e.g. private targets folded into their children.
    remarks: tuple[str, ...] = ()
