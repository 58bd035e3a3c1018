#!/usr/bin/env python3
"""Check `bakepy import` against a folder of real bake files: the round trip of issue 10.

For each bake file (or set of files that go together) under DIR, in a temporary directory of its own:

1. `docker buildx bake --list` of the original names every user-visible target and group;
2. `bakepy import FILES -o bakepy.toml`, then `bakepy render` of it to a docker-bake.json;
3. `docker buildx bake --print NAME` of the original and of the rendered file, for every NAME, compared as JSON
   (key order ignored; clock values such as timestamp() masked; local context paths in canonical form; the
   members of a group bake makes of a matrix of several keys in any order, as bake lists them in Go map order).

One line per case (`OK`, `FAIL kind: reason`, or `SKIP` when bake itself rejects the original: at `--list`, at
`--print`, or when it would refuse to build it as printed, a tag that is no valid reference), a summary, and
the line counts of the originals and of their imports, in total and case by case, with the worst case and the
cases over 1.5× (issue 24: every import at most 1.5× its original's lines), and the warnings (how many, and any
two about the same variable or attribute: the aim is one line per variable or construct).
`--json` prints the same as one JSON document; `--python` imports to a bakefile.py instead; `--keep DIR` keeps
each case's work directory (the imported project and its rendered JSON) for a closer look.

`--vary` checks more than the defaults (issue 24 item 2: for every variable of the original, rendering the
import with another value gives what bake prints with that value). After the round trip of a case that
rendered an import, every variable bake lists (`--list=type=variables,format=json`) is set to at most
`--vary-values N` (default 4) other values, none its default (`vary_values`): for a string, a probe
(VARY_PROBE), the empty string, the first value the files compare it with (`NAME == "x"`, `notequal("x",
NAME)`, `contains(["x", "y"], NAME)`, read with regexes), a value shaped like its default ("1.0" → "2.0",
"3.11,3.12" → "3.11", "true" → "false"), then the other compared values; for a bool the other value and 1/0;
for a number one more than its default and 0. For each value, bake lists and prints the original with
`--var NAME=VALUE` (every name at once), and `bakepy render` renders the import with NAME=VALUE in the
environment, whose JSON bake prints for the same names; the two prints are compared as above. Outcomes:

- `match`;
- `refused`: bakepy exits 2 with one `error:` line naming the variable (a frozen variable; the line is kept);
- `mismatch`: the first differing key path and both values (or a name missing from the rendered import);
- `bakepy-error`: anything else from bakepy (a traceback, another exit, another error, a rendered file bake
  cannot read);
- `bake-rejects`: bake refuses the value itself (or prints a tag it would not build): not bakepy's to match.

A line of counts under each case's line, then every mismatch and bakepy-error, one line each, and the totals
for the form (bakepy.toml; bakefile.py with `--python`); `--json` has them (`summary.vary`, each result's
`vary`). The form holds when there is no mismatch and no bakepy-error: bakepy.toml may refuse a frozen
variable but never render another value wrongly; the Python form should refuse few. The exit status is 1
otherwise. The values of a case run `--jobs` at once (as the cases do), and no more than `--jobs` processes
run at a time in all, e.g. `scripts/roundtrip.py --vary [--python] -j 2 DIR`.

Which files go together (see `group_cases`): the files of one bake discovery set in a directory
(docker-bake.json, docker-bake.hcl and their override files, as plain `docker buildx bake` reads them), an
override file `NAME.override.EXT` with its `NAME.EXT`, and the sets listed in DIR/roundtrip-sets.txt (one case a
line, its files in -f order). Every other file is a case of its own. A file name may carry a prefix, so a
flattened corpus (`owner__repo/sub__dir__docker-bake.hcl`) keeps its directories apart.

The temporary directory holds a copy of the case's files and a symlink to every other entry of the files' own
directory, so that paths the definition names (secret sources, contexts) resolve as they would there; both
sides run from it, so relative paths print the same. bake and bakepy run with a small fixed environment (PATH,
HOME, DOCKER_CONFIG, a dummy SSH_AUTH_SOCK): CI variables of the machine running the check do not leak into
variables of the files. `--env NAME=VALUE` adds to it, for files that need a variable or an env secret set.

The core (discovery, comparison, masking, reporting) is pure and unit-tested in
tests/unit/test_roundtrip_script.py; only `BakeTools` starts processes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import posixpath
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

# -- discovery ---------------------------------------------------------------------------------------------

_COMPOSE_NAME = re.compile(r"(^|[_.-])(docker-)?compose([._-][^/]*)?\.ya?ml$")
_SKIPPED_DIRS = {".git", "node_modules", "vendor", "__pycache__"}
#: Files the check writes next to the copies; never taken from the original directory.
WORK_PREFIX = ".roundtrip."


@dataclass(frozen=True)
class Case:
    """One round trip: bake files passed together, in order (`-f A -f B`), named after the first."""

    name: str
    files: tuple[Path, ...]


def is_bake_file(path: Path, text: str | None = None) -> bool:
    """HCL files, compose files (bake reads them as input), and JSON files that hold a bake definition: named
    like one (`docker-bake*.json`, `*.bake.json`), or with a top-level `target` or `group`."""
    name = path.name.lower()
    if name.endswith(".hcl") or _COMPOSE_NAME.search(name):
        return True
    if not name.endswith(".json"):
        return False
    if re.search(r"(^|[_.-])docker-bake[^/]*\.json$|\.bake\.json$", name):
        return True
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and bool({"target", "group"} & set(data))


#: bake's own discovery without -f that reads several files together (buildx bake.defaultFilenames, compose
#: files left out: a compose file beside a bake file is rarely meant as bake input), in bake's order.
DISCOVERY_SET = (
    "docker-bake.json",
    "docker-bake.hcl",
    "docker-bake.override.json",
    "docker-bake.override.hcl",
)


def _discovery_key(name: str) -> tuple[str, int] | None:
    """(`prefix`, position) when `name` is `prefix` + one of DISCOVERY_SET; a prefix keeps a flattened corpus
    (`owner__repo/sub__dir__docker-bake.hcl`) apart by its original directory."""
    for position, default in enumerate(DISCOVERY_SET):
        if name.endswith(default):
            return name[: -len(default)], position
    return None


def override_base(name: str) -> str | None:
    """`bake.override.hcl` → `bake`: the stem of the file an override file goes with."""
    for suffix in (".override.hcl", ".override.json", ".override.yml", ".override.yaml"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return None


def group_cases(
    files: Iterable[Path], root: Path, sets: Sequence[Sequence[Path]] = ()
) -> list[Case]:
    """The cases of `files` (bake files under `root`). Files go together when

    1. they make one bake discovery set in one directory (docker-bake.json + docker-bake.hcl + the override
       files, as `docker buildx bake` alone reads them), in bake's order;
    2. a `NAME.override.EXT` has a `NAME.hcl`/`.json`/`.yml`/`.yaml` beside it (base first);
    3. `sets` says so: each entry is one case, in -f order; a file named in a set is no case on its own.

    Every other file is a case of its own."""
    in_sets = {f for group in sets for f in group}
    by_dir: dict[Path, list[Path]] = {}
    for f in sorted(files):
        if f not in in_sets:
            by_dir.setdefault(f.parent, []).append(f)
    cases = [Case(_case_name(group, root), tuple(group)) for group in sets]
    for members in by_dir.values():
        leaders: dict[Path, list[Path]] = {}
        follows: set[Path] = set()
        discovered: dict[str, list[tuple[int, Path]]] = {}
        for f in members:
            key = _discovery_key(f.name)
            if key is not None:
                discovered.setdefault(key[0], []).append((key[1], f))
        for found in discovered.values():
            ordered = [f for _, f in sorted(found)]
            leaders[ordered[0]] = ordered[1:]
            follows.update(ordered[1:])
        by_name = {f.name: f for f in members}
        for f in members:
            stem = override_base(f.name)
            if stem is None or f in follows:
                continue
            for ext in (".hcl", ".json", ".yml", ".yaml"):
                base = by_name.get(stem + ext)
                if base is not None and base not in follows:
                    leaders.setdefault(base, []).append(f)
                    follows.add(f)
                    break
        for f in members:
            if f not in follows:
                group = [f, *leaders.get(f, [])]
                cases.append(Case(_case_name(group, root), tuple(group)))
    return sorted(cases, key=lambda c: c.name)


def _case_name(files: Sequence[Path], root: Path) -> str:
    def rel(f: Path) -> str:
        try:
            return f.relative_to(root).as_posix()
        except ValueError:
            return f.as_posix()

    return " + ".join(rel(f) for f in files)


def read_sets(path: Path, root: Path) -> list[list[Path]]:
    """A sets file: one case a line, its files (relative to `root`) in -f order; `#` starts a comment."""
    sets = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        group = [root / w for w in words]
        missing = [w for w, f in zip(words, group, strict=True) if not f.is_file()]
        if missing:
            raise ValueError(f"{path}:{number}: no such file {missing[0]} under {root}")
        sets.append(group)
    return sets


#: In DIR, a file of this name lists the files that go together beyond the rules of `group_cases`.
SETS_FILE = "roundtrip-sets.txt"


def discover(root: Path) -> list[Case]:
    """Every case under `root` (a folder of bake files, or one bake file)."""
    if root.is_file():
        return [Case(root.name, (root,))]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for filename in filenames:
            path = Path(dirpath) / filename
            if not filename.startswith(WORK_PREFIX) and is_bake_file(path):
                found.append(path)
    sets_file = root / SETS_FILE
    sets = read_sets(sets_file, root) if sets_file.is_file() else []
    return group_cases(found, root, sets)


# -- comparison (pure) -------------------------------------------------------------------------------------

CLOCK_MASK = "<clock>"
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})",
)
# a date, and in the compact form the time of day that formatdate("YYYYMMDDhhmm", timestamp()) adds
_DATE = re.compile(
    r"(?<![\d-])(\d{4}-\d{2}-\d{2})(?![\d-])|(?<!\d)(\d{8})(?:\d{4}(?:\d{2})?)?(?!\d)"
)
#: How far from now a timestamp may be and still count as the clock's (timestamp() prints the run's time).
CLOCK_WINDOW = timedelta(days=1)
_URL_PREFIXES = (
    "docker-image://",
    "target:",
    "oci-layout://",
    "http://",
    "https://",
    "git@",
    "git://",
)


def clock_values(text: str, now: datetime) -> list[str]:
    """What timestamp() (and formatdate() of it) printed in `text`: RFC 3339 timestamps within CLOCK_WINDOW of
    `now`, and dates (2026-11-29, 20261129, also with the time as 202611291405) of a day in that window."""
    out = []
    for match in _TIMESTAMP.finditer(text):
        try:
            when = datetime.fromisoformat(match.group().replace("Z", "+00:00"))
        except ValueError:
            continue
        if abs(when - now) <= CLOCK_WINDOW:
            out.append(match.group())
    days = {(now + k * CLOCK_WINDOW).date() for k in (-1, 0, 1)}
    spelled = {f"{d:%Y-%m-%d}" for d in days} | {f"{d:%Y%m%d}" for d in days}
    rest = _TIMESTAMP.sub("", text)
    out += [m.group() for m in _DATE.finditer(rest) if (m.group(1) or m.group(2)) in spelled]
    return out


def mask_clock(value: Any, now: datetime, masked: list[str] | None = None, path: str = "") -> Any:
    """`value` with every clock timestamp replaced by CLOCK_MASK; the paths where it did go to `masked`."""
    if isinstance(value, dict):
        return {k: mask_clock(v, now, masked, join(path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_clock(v, now, masked, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        out = value
        for stamp in clock_values(value, now):
            out = out.replace(stamp, CLOCK_MASK)
        if out != value and masked is not None:
            masked.append(path)
        return out
    return value


def _local(path: str) -> bool:
    return not path.startswith(_URL_PREFIXES) and "://" not in path


def canonical(printed: Mapping[str, Any]) -> dict[str, Any]:
    """A `--print` answer as bake builds it: local context paths in canonical form (`./src` and `src` are one
    directory), platform items split at commas (bake builds "linux/amd64,linux/arm64" as two), and `ulimits`
    sorted (bake prints a compose file's in Go map order, which changes between runs)."""
    out: dict[str, Any] = json.loads(json.dumps(printed))
    for target in (out.get("target") or {}).values():
        if isinstance(target.get("platforms"), list):
            target["platforms"] = [
                p.strip() for v in target["platforms"] for p in str(v).split(",") if p.strip()
            ]
        if isinstance(target.get("ulimits"), list):
            target["ulimits"] = sorted(target["ulimits"], key=json.dumps)
        if isinstance(target.get("context"), str) and _local(target["context"]):
            target["context"] = posixpath.normpath(target["context"])
        for key, value in (target.get("contexts") or {}).items():
            if isinstance(value, str) and _local(value):
                target["contexts"][key] = posixpath.normpath(value)
    return out


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_MISSING = object()


@dataclass(frozen=True)
class Difference:
    """Where the original's `--print NAME` and the import's differ; `original`/`imported` are JSON text."""

    name: str
    path: str
    original: str
    imported: str
    kind: str = "diff"

    def __str__(self) -> str:
        return f"{self.path}: {self.original} → {self.imported} (--print {self.name})"


def _show(value: Any) -> str:
    return "(missing)" if value is _MISSING else json.dumps(value, ensure_ascii=False)


def differences(original: Any, imported: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every differing leaf as (key path, original, imported), keys in sorted order, lists item by item.

    A list of different length is reported at its first differing item; a list that holds the same items
    in another order is reported once, at the list, so `compare` can tell a reordered group apart."""
    if isinstance(original, dict) and isinstance(imported, dict):
        for key in sorted(set(original) | set(imported)):
            yield from differences(
                original.get(key, _MISSING), imported.get(key, _MISSING), join(path, key)
            )
        return
    if isinstance(original, list) and isinstance(imported, list):
        if original != imported and sorted(map(json.dumps, original)) == sorted(
            map(json.dumps, imported)
        ):
            yield path, original, imported
            return
        for i in range(max(len(original), len(imported))):
            a = original[i] if i < len(original) else _MISSING
            b = imported[i] if i < len(imported) else _MISSING
            yield from differences(a, b, f"{path}[{i}]")
        return
    if original is _MISSING and imported is _MISSING:
        return
    if original != imported:
        yield path, original, imported


def compare(
    name: str, original: Mapping[str, Any], imported: Mapping[str, Any]
) -> list[Difference]:
    """The differences between two `--print NAME` answers (already masked), in key-path order."""
    out = []
    for path, a, b in differences(canonical(original), canonical(imported)):
        same_members = (
            isinstance(a, list)
            and isinstance(b, list)
            and sorted(map(json.dumps, a)) == sorted(map(json.dumps, b))
        )
        kind = "group-order" if same_members and path.startswith("group.") else "diff"
        out.append(Difference(name, path, _show(a), _show(b), kind))
    return out


# -- varying variables (pure) ------------------------------------------------------------------------------

#: What `--vary` sets a string variable to first: a value no file compares with, so it lands where the variable
#: lands as is (and is unlike the probes bakepy import itself uses, `bkpy0vx`).
VARY_PROBE = "zz-vary"
MATCH, REFUSED, MISMATCH, BAKEPY_ERROR, BAKE_REJECTS = (
    "match",
    "refused",
    "mismatch",
    "bakepy-error",
    "bake-rejects",
)
VARY_OUTCOMES = (MATCH, REFUSED, MISMATCH, BAKEPY_ERROR, BAKE_REJECTS)


@dataclass(frozen=True)
class BakeVariable:
    """A variable as `docker buildx bake --list=type=variables,format=json` lists it: `value` is its default as
    bake prints it (None when null or unset), `type` its declared type, if any."""

    name: str
    value: str | None = None
    type: str | None = None


def parse_variables(listed: str) -> list[BakeVariable]:
    """The variables of bake's `--list=type=variables,format=json` answer."""
    data = json.loads(listed or "[]") or []
    return [
        BakeVariable(
            str(entry["name"]),
            None if entry.get("value") is None else str(entry["value"]),
            None if entry.get("type") is None else str(entry["type"]),
        )
        for entry in data
    ]


_STRING = r'"((?:[^"\\$]|\\.|\$(?!\{))*)"'
_SCALAR = r"(true|false|-?\d+(?:\.\d+)?)"


def compared_literals(name: str, text: str) -> list[str]:
    """The values HCL `text` compares variable `name` with, in file order, each once: the literal on the other
    side of `==`/`!=` (also around a function of it, `lower(NAME) == "x"`), of `equal()`/`notequal()`, and the
    items of a literal list in `contains([…], NAME)`. Read lightly (regex), as a reviewer would; literals holding
    `${…}` are left out (they are not one value)."""
    ident = rf"(?<![\w.]){re.escape(name)}(?![\w(])"
    subject = rf"(?:{ident}|\w+\(\s*{ident}\s*\))"
    patterns = [
        rf"{subject}\s*[!=]=\s*(?:{_STRING}|{_SCALAR})",
        rf"(?:{_STRING}|{_SCALAR})\s*[!=]=\s*{subject}",
        rf"\b(?:not)?equal\(\s*{subject}\s*,\s*(?:{_STRING}|{_SCALAR})\s*\)",
        rf"\b(?:not)?equal\(\s*(?:{_STRING}|{_SCALAR})\s*,\s*{subject}\s*\)",
    ]
    found: list[tuple[int, str]] = []
    for pattern in patterns:
        for match in re.finditer(pattern, text):
            literal = next(g for g in match.groups() if g is not None)
            found.append((match.start(), literal.replace('\\"', '"').replace("\\\\", "\\")))
    for match in re.finditer(rf"\bcontains\(\s*\[([^\]]*)\]\s*,\s*{ident}\s*\)", text):
        for item in re.finditer(_STRING, match.group(1)):
            found.append((match.start() + item.start(), item.group(1)))
    out: list[str] = []
    for _, literal in sorted(found):
        if literal not in out:
            out.append(literal)
    return out


_PLATFORM = re.compile(r"(?:linux|windows|darwin|freebsd)/[a-z0-9_]+(?:/v\d+)?")


def shaped_like(default: str | None, type_: str | None = None) -> str | None:
    """Another value of the shape of `default`: a number plus one, a bool (or "0"/"1") flipped, the first run of
    digits counted up ("1.0" → "2.0", "v3.19" → "v4.19"), a comma list without its last item
    ("3.11,3.12" → "3.11"), another platform for a platform, a word with a "2" after it. None for an empty, null or list/map default."""
    if not default or default.startswith(("[", "{")):
        return None
    if type_ == "number":
        try:
            number = float(default)
        except ValueError:
            return None
        return str(int(number) + 1) if number.is_integer() else str(number + 1)
    flips = {"true": "false", "false": "true", "0": "1", "1": "0"}
    if default in flips:
        return flips[default]
    if _PLATFORM.fullmatch(
        default
    ):  # another real platform: linux/amd65 is no shape bake files take
        return "linux/arm64" if default != "linux/arm64" else "linux/amd64"
    if "," in default.strip(","):
        return default.rsplit(",", 1)[0]
    digits = re.search(r"\d+", default)
    if digits is None:
        return default + "2"
    bumped = str(int(digits.group()) + 1).zfill(len(digits.group()))
    return default[: digits.start()] + bumped + default[digits.end() :]


def vary_values(variable: BakeVariable, texts: Iterable[str], limit: int = 4) -> list[str]:
    """Up to `limit` values to set `variable` to, none its default, most telling first.

    A bool: the other value, then the same ones spelled as 1/0 (bake takes both), then the probe and "". A
    number: one more than its default, 0, then the probe and "". Any other: the probe, "", the first value the
    files compare it with, one shaped like its default, then the other compared values."""
    literals = [lit for text in texts for lit in compared_literals(variable.name, text)]
    shaped = shaped_like(variable.value, variable.type)
    if variable.type == "bool":
        truth = variable.value == "true"
        ordered = ["false" if truth else "true", "0" if truth else "1", "1" if truth else "0"]
        ordered += [VARY_PROBE, ""]
    elif variable.type == "number":
        ordered = [v for v in (shaped, "0") if v is not None] + literals + [VARY_PROBE, ""]
    else:
        ordered = [VARY_PROBE, "", *literals[:1]]
        ordered += [shaped] if shaped is not None else []
        ordered += literals[1:]
    out: list[str] = []
    for value in ordered:
        if value != variable.value and value not in out:
            out.append(value)
    return out[: max(0, limit)]


@dataclass(frozen=True)
class VaryCheck:
    """One variable set to one value: bake's answer for the original against the rendered import's.

    `outcome` is one of VARY_OUTCOMES; `detail` what tells it: bakepy's refusal line, the first difference,
    bakepy's error, or why bake took no such value."""

    variable: str
    value: str
    outcome: str
    detail: str = ""

    def line(self, case: str) -> str:
        return f"{self.outcome:<12} {case}: {self.variable}={json.dumps(self.value)}: {self.detail}"


def refusal(variable: str, exit_code: int | None, stderr: str) -> str | None:
    """bakepy's refusal of a value for a frozen variable, if `stderr` is one: exit 2, no traceback, and one
    `error:` line, which names the variable. That line (without `error: `), else None."""
    if exit_code != 2 or "Traceback (most recent call last)" in stderr:
        return None
    errors = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("error:")]
    if len(errors) != 1 or not re.search(rf"(?<!\w){re.escape(variable)}(?!\w)", errors[0]):
        return None
    return errors[0][len("error:") :].strip()


def vary_differences(
    original: Mapping[str, Any],
    imported: Mapping[str, Any],
    ordered: set[str] | None,
    now: datetime,
) -> list[Difference]:
    """What differs between the original's print and the import's for one value, compared as the round trip
    compares (clock masked, canonical form; the order of a group bake keeps no order of left out)."""
    diffs = compare("*", mask_clock(original, now), mask_clock(imported, now))
    return [d for d in diffs if not _order_free(d, ordered)]


def vary_outcome(
    variable: str,
    value: str,
    *,
    render_error: ToolError | None = None,
    print_error: ToolError | None = None,
    diffs: Sequence[Difference] = (),
) -> VaryCheck:
    """The outcome once bake printed the original with the value (bake's rejections are decided before): the
    render failed (`refused` when it is the one-line refusal, else `bakepy-error`), bake could not print the
    rendered file (a missing name is a `mismatch`, anything else a `bakepy-error`), or the prints compare."""
    if render_error is not None:
        line = refusal(variable, render_error.exit_code, render_error.stderr)
        if line is not None:
            return VaryCheck(variable, value, REFUSED, line)
        tail = "a traceback: " if "Traceback (most recent call last)" in render_error.stderr else ""
        return VaryCheck(
            variable,
            value,
            BAKEPY_ERROR,
            f"bakepy render: exit {render_error.exit_code}: {tail}{render_error}",
        )
    if print_error is not None:
        if "failed to find target" in str(print_error):
            return VaryCheck(variable, value, MISMATCH, f"rendered import: {print_error}")
        return VaryCheck(
            variable, value, BAKEPY_ERROR, f"bake --print of the rendered import: {print_error}"
        )
    if diffs:
        first = diffs[0]
        more = f" (+{len(diffs) - 1} more)" if len(diffs) > 1 else ""
        return VaryCheck(
            variable, value, MISMATCH, f"{first.path}: {first.original} → {first.imported}{more}"
        )
    return VaryCheck(variable, value, MATCH)


def vary_counts(checks: Iterable[Mapping[str, str]]) -> dict[str, int]:
    counts = dict.fromkeys(VARY_OUTCOMES, 0)
    for check in checks:
        counts[check["outcome"]] += 1
    return counts


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts[o]} {o}" for o in VARY_OUTCOMES)


# -- results and reports (pure) ----------------------------------------------------------------------------

OK, FAIL, SKIP = "OK", "FAIL", "SKIP"


@dataclass
class Result:
    """What the round trip of one case found."""

    case: str
    files: list[str]
    status: str = OK
    kind: str = ""
    reason: str = ""
    names: list[str] = field(default_factory=list)
    differences: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    original_lines: int = 0
    imported_lines: int | None = None
    seconds: float = 0.0
    #: `--vary`: how many variables the original has (None: not varied), every VaryCheck (as a dict), and why
    #: the case was not varied, if it was not.
    vary_variables: int | None = None
    vary: list[dict[str, str]] = field(default_factory=list)
    vary_note: str = ""

    @property
    def ratio(self) -> float | None:
        """Imported lines per original line (2 decimals), once the import wrote something."""
        if self.imported_lines is None or not self.original_lines:
            return None
        return round(self.imported_lines / self.original_lines, 2)

    @property
    def over_limit(self) -> bool:
        """More than LINE_LIMIT times the original's lines (exactly, not as rounded)."""
        return self.imported_lines is not None and over_limit(
            self.imported_lines, self.original_lines
        )

    def line(self) -> str:
        head = f"{self.status:<4} {self.case}"
        if self.status == OK:
            notes = [*self.notes]
            if self.imported_lines is not None:
                notes.insert(
                    0, f"{self.original_lines} → {self.imported_lines} lines, {self.ratio}×"
                )
            if self.warnings:
                n = len(self.warnings)
                notes.append(f"{n} import warning{'s' if n > 1 else ''}")
            return f"{head} ({'; '.join(notes)})" if notes else head
        return f"{head}: {self.kind}: {self.reason}"

    def vary_line(self) -> str | None:
        """`--vary`: the counts of the case's outcomes, under its line; None when it was not asked for."""
        if self.vary_note:
            return f"     vary: {self.vary_note}"
        if self.vary_variables is None:
            return None
        n = self.vary_variables
        return (
            f"     vary: {n} variable{'' if n == 1 else 's'}, {len(self.vary)} values: "
            + _counts_text(vary_counts(self.vary))
        )


def line_count(text: str) -> int:
    """Lines as `wc -l` counts them, plus a last line without a newline."""
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


#: Issue 24: an import of at most 1.5 times the original's lines, case by case (and in total).
LINE_LIMIT = 1.5


def over_limit(imported: int, original: int) -> bool:
    return imported > LINE_LIMIT * original


def _where(warning: str) -> str:
    """What a warning is about: its path before the first `: ` (`variable.TAG`, `target.app.platforms`)."""
    return warning.split(": ", 1)[0]


def _repeated(warnings: Sequence[str]) -> list[str]:
    """What more than one of `warnings` is about."""
    counts = Counter(_where(w) for w in warnings)
    return sorted(where for where, n in counts.items() if n > 1)


def summarise(results: Sequence[Result], form: str = "bakepy.toml") -> dict[str, Any]:
    counts = {s: sum(r.status == s for r in results) for s in (OK, FAIL, SKIP)}
    kinds: dict[str, int] = {}
    for r in results:
        if r.status == FAIL:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
    imported = [r for r in results if r.imported_lines is not None]
    original_all = sum(r.original_lines for r in results)
    original_imported = sum(r.original_lines for r in imported)
    imported_total = sum(r.imported_lines or 0 for r in imported)
    ratio = round(imported_total / original_imported, 2) if original_imported else None
    # the worst case by its exact ratio; a tie goes to the longer import, then to the first case
    ranked = sorted(
        imported,
        key=lambda r: (
            -(r.imported_lines or 0) / max(r.original_lines, 1),
            -(r.imported_lines or 0),
        ),
    )
    worst = ranked[0] if ranked else None
    warned = [r for r in results if r.warnings]
    most_warned = max(warned, key=lambda r: len(r.warnings), default=None)
    repeated = {r.case: _repeated(r.warnings) for r in warned}
    return {
        "cases": len(results),
        **counts,
        "fail_kinds": dict(sorted(kinds.items())),
        "lines": {
            "cases": len(imported),
            "original": original_all,
            "original_of_imported": original_imported,
            "imported": imported_total,
            "ratio": ratio,
            "within_1_5x": original_imported > 0
            and not over_limit(imported_total, original_imported),
            "worst": None
            if worst is None
            else {
                "case": worst.case,
                "original": worst.original_lines,
                "imported": worst.imported_lines,
                "ratio": worst.ratio,
            },
            "over_1_5x": [r.case for r in ranked if r.over_limit],
        },
        "warnings": {
            "total": sum(len(r.warnings) for r in results),
            "most": None
            if most_warned is None
            else {"case": most_warned.case, "warnings": len(most_warned.warnings)},
            # warnings about one variable or attribute said more than once (the aim: one line each)
            "repeated": {case: where for case, where in repeated.items() if where},
        },
        **({"vary": vary_summary(results, form)} if _varied(results) else {}),
    }


def _varied(results: Sequence[Result]) -> bool:
    return any(r.vary_variables is not None or r.vary_note for r in results)


def vary_summary(results: Sequence[Result], form: str = "bakepy.toml") -> dict[str, Any]:
    """`--vary` over all cases: the outcomes counted, the variables refused (frozen), and every mismatch and
    bakepy error. `holds` says issue 24 item 2 holds for the form: no mismatch and no bakepy error (bakepy.toml
    may refuse a frozen variable; the Python form's refusals are counted, to be brought down)."""
    varied = [r for r in results if r.vary_variables is not None]
    checks = [c for r in varied for c in r.vary]
    counts = vary_counts(checks)
    refused = sorted(
        {(r.case, c["variable"]) for r in varied for c in r.vary if c["outcome"] == REFUSED}
    )
    return {
        "form": form,
        "cases": len(varied),
        "not_varied": [r.case for r in results if r.vary_note],
        "variables": sum(r.vary_variables or 0 for r in varied),
        "values": len(checks),
        **counts,
        "refused_variables": len(refused),
        "holds": counts[MISMATCH] == 0 and counts[BAKEPY_ERROR] == 0,
        "problems": [
            {"case": r.case, **c}
            for r in varied
            for c in r.vary
            if c["outcome"] in (MISMATCH, BAKEPY_ERROR)
        ],
    }


def vary_text(results: Sequence[Result], form: str = "bakepy.toml") -> str:
    """Every mismatch and bakepy error, one line each, then the totals for the form."""
    s = vary_summary(results, form)
    lines = [
        VaryCheck(p["variable"], p["value"], p["outcome"], p["detail"]).line(p["case"])
        for p in s["problems"]
    ]
    verdict = (
        "holds: every value matched bake's print or was refused"
        if s["holds"]
        else f"does not hold: {s[MISMATCH]} mismatch, {s[BAKEPY_ERROR]} bakepy-error"
    )
    not_varied = f"; {len(s['not_varied'])} not varied" if s["not_varied"] else ""
    lines.append(
        f"vary ({form}): {s['cases']} cases{not_varied}, {s['variables']} variables, {s['values']} values: "
        f"{_counts_text(s)} ({s['refused_variables']} variables refused); {verdict}"
    )
    return "\n".join(lines) + "\n"


def report_text(results: Sequence[Result], form: str = "bakepy.toml") -> str:
    """One line per case (and its `--vary` line), a blank line, then the summary."""
    lines = [ln for r in results for ln in (r.line(), r.vary_line()) if ln is not None]
    return "\n".join([*lines, "", summary_text(results, form)])


def summary_text(results: Sequence[Result], form: str = "bakepy.toml") -> str:
    """The counts by status and failure kind, the line totals and the worst case, the warnings, and with
    `--vary` every mismatch and bakepy error and the totals."""
    s = summarise(results, form)
    kinds = ", ".join(f"{k} {n}" for k, n in s["fail_kinds"].items())
    lines = []
    lines.append(
        f"{s['cases']} cases: {s[OK]} OK, {s[FAIL]} FAIL, {s[SKIP]} SKIP"
        + (f" ({kinds})" if kinds else "")
    )
    ln = s["lines"]
    judged = (
        "nothing imported"
        if ln["ratio"] is None
        else f"{ln['ratio']}×, {'within' if ln['within_1_5x'] else 'over'} 1.5×"
    )
    lines.append(
        f"lines: originals {ln['original']} in all; {ln['original_of_imported']} of those imported became "
        f"{ln['imported']} imported lines ({judged})"
    )
    worst = ln["worst"]
    if worst is not None:
        over = ln["over_1_5x"]
        lines.append(
            f"per case: worst {worst['ratio']}× ({worst['original']} → {worst['imported']} lines, "
            f"{worst['case']}); {len(over)} of {ln['cases']} imported cases over 1.5×"
            + (f": {', '.join(over)}" if over else "")
        )
    warnings = s["warnings"]
    if warnings["total"]:
        most = warnings["most"]
        repeated = warnings["repeated"]
        lines.append(
            f"warnings: {warnings['total']} in all, at most {most['warnings']} in one case "
            f"({most['case']}); "
            + (
                "repeated: "
                + "; ".join(f"{case}: {', '.join(where)}" for case, where in repeated.items())
                if repeated
                else "none about the same variable or attribute twice"
            )
        )
    out = "\n".join(lines) + "\n"
    return out + vary_text(results, form) if _varied(results) else out


def report_json(results: Sequence[Result], form: str = "bakepy.toml") -> str:
    doc = {
        "summary": summarise(results, form),
        "results": [{**asdict(r), "ratio": r.ratio, "over_1_5x": r.over_limit} for r in results],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def error_line(stderr: str) -> str:
    """The line that says what went wrong: bakepy's `error: …`, buildx's `ERROR: …`, else the last line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for prefix in ("error:", "ERROR:"):
        hits = [ln for ln in lines if ln.startswith(prefix)]
        if hits:
            return hits[-1][len(prefix) :].strip()
    return lines[-1] if lines else "(no message)"


# -- running (the only part that starts processes) -------------------------------------------------------


class ToolError(Exception):
    def __init__(self, argv: Sequence[str], stderr: str, exit_code: int | None = None) -> None:
        super().__init__(error_line(stderr))
        self.argv = list(argv)
        self.stderr = stderr
        self.exit_code = exit_code


@dataclass(frozen=True)
class BakeTools:
    """docker buildx bake and bakepy, run in one directory with a fixed environment."""

    cwd: Path
    env: Mapping[str, str]
    bakepy: tuple[str, ...]
    docker: str = "docker"
    timeout: float = 300
    python: bool = False
    #: `--var NAME=VALUE` for every bake call (`--vary`: bake's answer for a value of the original's).
    bake_vars: tuple[str, ...] = ()
    #: Shared by every case's tools: at most this many processes at once, however many threads wait.
    slots: threading.Semaphore | None = field(default=None, compare=False)

    def _run(self, argv: Sequence[str]) -> str:
        return self._run_both(argv)[0]

    def _run_both(self, argv: Sequence[str]) -> tuple[str, str]:
        with self.slots or contextlib.nullcontext():
            try:
                done = subprocess.run(
                    list(argv),
                    cwd=self.cwd,
                    env=dict(self.env),
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise ToolError(argv, f"timed out after {self.timeout:.0f} s") from None
        if done.returncode != 0:
            raise ToolError(argv, done.stderr, done.returncode)
        return done.stdout, done.stderr

    def bake(self, files: Sequence[str], *args: str) -> str:
        argv = [self.docker, "buildx", "bake", "--progress=quiet"]
        for f in files:
            argv += ["--file", f]
        for assignment in self.bake_vars:
            argv += ["--var", assignment]
        return self._run([*argv, *args])

    def listing(self, files: Sequence[str]) -> list[str]:
        data = json.loads(self.bake(files, "--list=type=targets,format=json") or "[]")
        return [str(entry["name"]) for entry in data or []]

    def print_(self, files: Sequence[str], name: str, *more: str) -> dict[str, Any]:
        data = json.loads(self.bake(files, "--print", name, *more))
        return data if isinstance(data, dict) else {}

    def variables(self, files: Sequence[str]) -> list[BakeVariable]:
        return parse_variables(self.bake(files, "--list=type=variables,format=json"))

    def import_(self, files: Sequence[str], out: str) -> list[str]:
        """Import `files` into `out`; the warnings bakepy printed (what it could not carry over)."""
        _, stderr = self._run_both([*self.bakepy, "import", *files, "-o", out, "--force"])
        return [
            ln[len("warning:") :].strip() for ln in stderr.splitlines() if ln.startswith("warning:")
        ]

    def render(self, project: str, out: str) -> None:
        self._run([*self.bakepy, "render", "-f", project, "-o", out])


def clean_env(home: Path, ssh_sock: Path | None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(home)),
        "LANG": "C.UTF-8",
        "DOCKER_CONFIG": os.environ.get(
            "DOCKER_CONFIG", str(Path(os.environ.get("HOME", str(home))) / ".docker")
        ),
    }
    if ssh_sock is not None:
        env["SSH_AUTH_SOCK"] = str(ssh_sock)
    return env


def work_names(case: Case) -> list[str]:
    """The names the case's files get in the work directory: the -f names, in order."""
    names: list[str] = []
    for f in case.files:
        names.append(f.name if f.name not in names else f"{len(names)}-{f.name}")
    return names


def prepare(case: Case, work: Path) -> list[str]:
    """Copy the case's files into `work`, link the rest of their directory; the -f names, in order."""
    names = work_names(case)
    for f, name in zip(case.files, names, strict=True):
        shutil.copyfile(f, work / name)
    for entry in sorted(case.files[0].parent.iterdir()):
        target = work / entry.name
        if entry.name.startswith(WORK_PREFIX) or target.exists() or target.is_symlink():
            continue
        target.symlink_to(entry.resolve())
    return names


def kept_name(case: str) -> str:
    """The folder `--keep` gives a case: its name, flattened; a set of files whose joined names would pass the
    file system's 255-byte limit gets its first file's name, shortened, and a hash of the whole."""
    import hashlib

    flat = case.replace("/", "__").replace(" + ", "+")
    if len(flat.encode()) <= 200:
        return flat
    digest = hashlib.sha256(case.encode()).hexdigest()[:12]
    return f"{flat.split('+', 1)[0][:150]}+{digest}"


def check_case(
    case: Case,
    make_tools: Callable[[Path, Path], BakeTools],
    keep: Path | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    vary: int | None = None,
    jobs: int = 1,
) -> Result:
    """Run one round trip in a temporary directory; never raises for what the files or tools do. With `vary`
    (values per variable), then check each variable of the original set to other values (`_vary`), `jobs`
    values at once."""
    started = datetime.now(timezone.utc)
    result = Result(case=case.name, files=[f.as_posix() for f in case.files])
    result.original_lines = sum(
        line_count(f.read_text(encoding="utf-8", errors="replace")) for f in case.files
    )
    base = Path(tempfile.mkdtemp(prefix="roundtrip-"))
    work = base / "work"
    work.mkdir()
    sock = socket.socket(socket.AF_UNIX)
    try:
        # bake --print checks that an ssh agent socket exists for `ssh = ["default"]`.
        sock.bind(str(base / "ssh.sock"))
        tools = make_tools(work, base / "ssh.sock")
        _round_trip(case, tools, work, result, now)
        if vary is not None:
            _vary(case, tools, work, result, now, vary, jobs)
    finally:
        sock.close()
        if keep is not None:
            dest = keep / kept_name(case.name)
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(work, dest, symlinks=True)
        shutil.rmtree(base, ignore_errors=True)
    result.seconds = round((datetime.now(timezone.utc) - started).total_seconds(), 1)
    return result


# The tag of an image reference, in distribution's reference grammar, which buildx applies when it builds (not
# when it prints): `invalid tag "…": invalid reference format`.
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


def unbuildable_tag(printed: Mapping[str, Any]) -> str | None:
    """The first tag of a printed definition that buildx refuses to build with, if any: an empty or malformed tag
    after the name (`image:${VERSION}` with VERSION empty prints as `image:`; `--print` does not check tags), or
    a name with an empty or malformed path component."""
    for target in (printed.get("target") or {}).values():
        for ref in target.get("tags") or ():
            name = str(ref).partition("@")[0]
            colon = name.rfind(":")
            has_tag = colon > name.rfind("/")
            if has_tag and not _TAG.fullmatch(name[colon + 1 :]):
                return str(ref)
            parts = (name[:colon] if has_tag else name).split("/")
            if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
                parts = parts[1:]  # a registry host
            if any(not _PATH_COMPONENT.fullmatch(part) for part in parts):
                return str(ref)  # `docker.io/docker/${IMAGE}:1.0` with IMAGE empty
    return None


def _fail(result: Result, kind: str, reason: str, status: str = FAIL) -> Result:
    result.status, result.kind, result.reason = status, kind, reason
    return result


def _round_trip(
    case: Case, tools: BakeTools, work: Path, result: Result, now: Callable[[], datetime]
) -> Result:
    files = prepare(case, work)
    project = f"{WORK_PREFIX}{'bakefile.py' if tools.python else 'bakepy.toml'}"
    rendered = f"{WORK_PREFIX}render.json"
    try:
        names = tools.listing(files)
    except ToolError as exc:
        return _fail(result, "original", f"bake rejects the original: {exc}", SKIP)
    if not names:
        return _fail(result, "original", "the original has no targets", SKIP)
    result.names = names
    originals: dict[str, dict[str, Any]] = {}
    for name in names:
        # Before the import: what bake cannot print of the original (a secret file that is not there) is
        # no failure of bakepy's.
        try:
            originals[name] = tools.print_(files, name)
        except ToolError as exc:
            return _fail(result, "original", f"bake --print {name} of the original: {exc}", SKIP)
        bad = unbuildable_tag(originals[name])
        if bad is not None:
            return _fail(
                result,
                "original",
                f"bake would not build {name} of the original as printed: tag {bad!r} is no valid reference "
                "(a variable empty by default?)",
                SKIP,
            )
    if names == ["default"] and not (originals["default"].get("target") or {}):
        # only bake's own `default` group (a compose file whose services build nothing)
        return _fail(result, "original", "the original has no targets", SKIP)
    try:
        result.warnings = tools.import_(files, project)
    except ToolError as exc:
        return _fail(result, "import", str(exc))
    text = (work / project).read_text(encoding="utf-8")
    result.imported_lines = line_count(text)
    frozen = clock_values(text, now())
    if frozen:
        result.notes.append(f"clock value frozen in the import: {frozen[0]}")
    try:
        tools.render(project, rendered)
    except ToolError as exc:
        return _fail(result, "render", str(exc))
    found: list[Difference] = []
    masked: list[str] = []
    ordered = ordered_groups({f: (work / f).read_text(errors="replace") for f in files})
    for name in names:
        try:
            imported = tools.print_([rendered], name)
        except ToolError as exc:
            kind = "missing" if "failed to find target" in str(exc) else "print"
            return _fail(result, kind, f"--print {name} of the rendered import: {exc}")
        stamp = now()
        diffs = compare(
            name, mask_clock(originals[name], stamp, masked), mask_clock(imported, stamp)
        )
        if any(d.kind == "group-order" for d in diffs):
            diffs = [d for d in diffs if not _order_free(d, ordered)]
        if any(d.kind == "group-order" for d in diffs):
            diffs = _unless_unstable(
                diffs, functools.partial(tools.print_, files, name), stamp, originals[name]
            )
        found += diffs
    if masked:
        result.notes.append(f"clock values masked at {masked[0]}")
    if found:
        first = found[0]
        more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
        result.differences = [asdict(d) for d in found[:50]]
        return _fail(result, first.kind, f"{first}{more}")
    return result


def ordered_groups(texts: Mapping[str, str]) -> set[str] | None:
    """The groups whose member order bake keeps, read from the files' texts (name → text) as the importer and
    tests/e2e/test_import_roundtrip.py read them: the groups the files write, and those bake makes of a matrix
    of one key. Every other group bake makes of a matrix lists its members in Go map order, which changes
    between runs. None when bakepy cannot be imported here (the check then samples bake's order instead)."""
    try:
        from bakepy.bake.importer.resolve import _one_key_matrices, _written_groups
    except ImportError:  # pragma: no cover - run with a Python that has bakepy
        return None
    return {*_written_groups(texts), *_one_key_matrices(texts)}


def _order_free(diff: Difference, ordered: set[str] | None) -> bool:
    """A group-order difference in a group of a matrix of several keys, where bake has no order to keep."""
    if diff.kind != "group-order" or ordered is None:
        return False
    group = diff.path.removeprefix("group.").rsplit(".targets", 1)[0]
    return diff.path.startswith("group.") and group not in ordered


def _unless_unstable(
    diffs: list[Difference],
    reprint: Callable[[], dict[str, Any]],
    now: datetime,
    original: Mapping[str, Any],
) -> list[Difference]:
    """Drop group-order differences where bake's own order changes between runs (a matrix of several keys is
    listed in Go map order): there the original has no order to keep. The original's first print counts with
    five more (`reprint`), as one nesting can come up far more often than another (7 prints in 8 here)."""
    orders: dict[str, set[str]] = {}
    for printed in [original, *(reprint() for _ in range(5))]:
        again = canonical(mask_clock(printed, now))
        for d in diffs:
            if d.kind == "group-order":
                value: Any = again
                for part in d.path.split("."):
                    value = value.get(part, {}) if isinstance(value, dict) else {}
                orders.setdefault(d.path, set()).add(json.dumps(value))
    return [d for d in diffs if d.kind != "group-order" or len(orders.get(d.path, ())) <= 1]


def _vary(
    case: Case,
    tools: BakeTools,
    work: Path,
    result: Result,
    now: Callable[[], datetime],
    limit: int,
    jobs: int,
) -> None:
    """`--vary`, after the round trip: every variable of the original, set to each of `vary_values` (issue 24
    item 2: rendering the import with another value gives what bake prints with that value)."""
    if result.status == SKIP or result.imported_lines is None or result.kind == "render":
        result.vary_note = (
            f"not varied: the round trip rendered no import ({result.status} {result.kind})"
        )
        return
    files = work_names(case)
    project = f"{WORK_PREFIX}{'bakefile.py' if tools.python else 'bakepy.toml'}"
    try:
        variables = tools.variables(files)
    except ToolError as exc:
        result.vary_note = f"not varied: bake lists no variables: {exc}"
        return
    texts = {f: (work / f).read_text(encoding="utf-8", errors="replace") for f in files}
    ordered = ordered_groups(texts)
    pairs = [(v.name, x) for v in variables for x in vary_values(v, texts.values(), limit)]

    def one(index: int) -> VaryCheck:
        variable, value = pairs[index]
        return _vary_one(tools, files, project, variable, value, index, ordered, now)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        checks = list(pool.map(one, range(len(pairs))))
    result.vary_variables = len(variables)
    result.vary = [asdict(c) for c in checks]


def _vary_one(
    tools: BakeTools,
    files: Sequence[str],
    project: str,
    variable: str,
    value: str,
    index: int,
    ordered: set[str] | None,
    now: Callable[[], datetime],
) -> VaryCheck:
    """One value: bake's print of the original with `--var NAME=VALUE` (every name bake then lists, at once),
    against bake's print of the import rendered with NAME=VALUE in the environment."""
    bake_side = dataclasses.replace(tools, bake_vars=(*tools.bake_vars, f"{variable}={value}"))
    try:
        names = bake_side.listing(files)
        original = bake_side.print_(files, *names) if names else {}
    except ToolError as exc:
        return VaryCheck(variable, value, BAKE_REJECTS, str(exc))
    if not (original.get("target") or {}):
        return VaryCheck(variable, value, BAKE_REJECTS, "the original has no targets with it")
    bad = unbuildable_tag(original)
    if bad is not None:
        return VaryCheck(variable, value, BAKE_REJECTS, f"bake would not build tag {bad!r}")
    ours = dataclasses.replace(tools, env={**tools.env, variable: value})
    rendered = f"{WORK_PREFIX}vary-{index}.json"
    try:
        ours.render(project, rendered)
    except ToolError as exc:
        return vary_outcome(variable, value, render_error=exc)
    try:
        imported = ours.print_([rendered], *names)
    except ToolError as exc:
        return vary_outcome(variable, value, print_error=exc)
    finally:
        (tools.cwd / rendered).unlink(missing_ok=True)
    stamp = now()
    diffs = vary_differences(original, imported, ordered, stamp)
    if any(d.kind == "group-order" for d in diffs):
        diffs = _unless_unstable(diffs, lambda: bake_side.print_(files, *names), stamp, original)
    return vary_outcome(variable, value, diffs=diffs)


# -- command line --------------------------------------------------------------------------------------------


def _assignment(value: str) -> str:
    if "=" not in value or value.startswith("="):
        raise argparse.ArgumentTypeError(f"{value!r}: write NAME=VALUE")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Round-trip every bake file under DIR through bakepy import/render and compare "
        "`docker buildx bake --print` of every target and group with the original's."
    )
    parser.add_argument(
        "dir", type=Path, help="a folder of bake files (searched recursively), or one file"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of lines"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=os.cpu_count() or 2, help="cases run at once"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        type=_assignment,
        metavar="NAME=VALUE",
        help="an environment variable for both sides of every case (repeatable): what a file needs set, "
        "a secret's env source or a version its tags are empty without",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="copy each case's work directory here (imported bakepy.toml, rendered JSON)",
    )
    parser.add_argument(
        "--bakepy",
        default=f"{sys.executable} -m bakepy",
        help="how to run bakepy (default: this Python's `-m bakepy`)",
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds for one command")
    parser.add_argument(
        "--python",
        action="store_true",
        help="import to a Python bakefile.py instead of bakepy.toml",
    )
    parser.add_argument(
        "--vary",
        action="store_true",
        help="then set each variable of the original to other values, and compare bake's print of the "
        "original with the import rendered with each (issue 24 item 2)",
    )
    parser.add_argument(
        "--vary-values",
        type=int,
        default=4,
        metavar="N",
        help="with --vary, at most N values per variable (default 4)",
    )
    args = parser.parse_args(argv)

    if not args.dir.exists():
        parser.error(f"{args.dir}: no such file or directory")
    docker = shutil.which("docker")
    if docker is None:
        print(
            "error: docker CLI not found on PATH (bake --print needs docker and buildx)",
            file=sys.stderr,
        )
        return 2
    check = subprocess.run(
        [docker, "buildx", "version"], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        print(f"error: docker buildx is not installed: {error_line(check.stderr)}", file=sys.stderr)
        return 2
    try:
        cases = discover(args.dir)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not cases:
        print(f"error: no bake files under {args.dir}", file=sys.stderr)
        return 2
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    bakepy = tuple(args.bakepy.split())
    extra_env = dict(value.split("=", 1) for value in args.env)
    home = Path(os.environ.get("HOME", "/root"))
    jobs = max(1, args.jobs)
    # cases and, with --vary, each case's values run in threads; processes run `jobs` at once in all
    slots = threading.Semaphore(jobs)

    def tools(work: Path, ssh_sock: Path) -> BakeTools:
        return BakeTools(
            cwd=work,
            env={**clean_env(home, ssh_sock), **extra_env},
            bakepy=bakepy,
            docker=docker,
            timeout=args.timeout,
            python=args.python,
            slots=slots,
        )

    def run(case: Case) -> Result:
        vary = args.vary_values if args.vary else None
        return check_case(case, tools, args.keep, vary=vary, jobs=jobs)

    form = "bakefile.py" if args.python else "bakepy.toml"
    results = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(run, cases):
            results.append(result)
            if not args.json:
                print(result.line(), flush=True)
                vary_line = result.vary_line()
                if vary_line is not None:
                    print(vary_line, flush=True)
    sys.stdout.write(
        report_json(results, form) if args.json else "\n" + summary_text(results, form)
    )
    failed = any(r.status == FAIL for r in results)
    return 1 if failed or (args.vary and not vary_summary(results, form)["holds"]) else 0


if __name__ == "__main__":
    sys.exit(main())
