"""The input fingerprint of one target × platform: what BuildKit would be given to build it, hashed.

This module owns what "unchanged" means for `--changed` (docs/changed.md): the files of the context as BuildKit
receives them (`.dockerignore` applied with Docker's rules, the Dockerfile's own `<Dockerfile>.dockerignore`
first when present), the Dockerfile and its target stage, the build args, the secrets' ids (never their values),
the named contexts (recursively: a `target:` context is that target's own fingerprint), the platform, and the
digests the Dockerfile's `FROM` (and `COPY --from`) images resolve to now. The files are read here (local I/O);
a registry is asked only through the `resolve` callable the caller passes (`registry.head_digest` in a run, a
dict in tests), so nothing here starts a process or opens a socket.

What cannot be fingerprinted (a remote or git context, a base image no registry answers for) gives a
`Fingerprint` with `unknown` set: it counts as changed, and says why. Labels and annotations are left out on
purpose: tag rules put the version and revision there, and a release must not rebuild because of its own name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bakepy.model import ResolvedProject, Target

__all__ = [
    "ANNOTATION",
    "Fingerprint",
    "IgnorePattern",
    "Resolver",
    "base_images",
    "context_digest",
    "fingerprint_targets",
    "ignored",
    "index_annotation",
    "is_remote",
    "parse_dockerignore",
    "read_annotation",
]

ANNOTATION = "bakepy.fingerprint"
"""The annotation key written on each platform manifest (and its descriptor) and on the index."""

Resolver = Callable[[str], "str | None"]
"""A fully qualified image reference → the digest it points at now (None: it does not exist or cannot be read)."""

_VERSION = "v1"


# -- .dockerignore, as moby/patternmatcher reads and matches it -------------------------------------------------
@dataclass(frozen=True)
class IgnorePattern:
    """One line of a .dockerignore: `text` cleaned as Docker cleans it, `exclusion` for a `!` line."""

    text: str
    exclusion: bool
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def match(self, path: str) -> bool:
        return self.regex.match(path) is not None


def _clean(path: str) -> str:
    """Go's filepath.Clean for slash paths: `a//b/./c/../d` → `a/b/d`; `` → `.`."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


def _compile(pattern: str) -> re.Pattern[str]:
    """patternmatcher's regexp for a pattern: `**` any number of directories (even none), `*` and `?` within one
    path element, `[...]` a class, `\\` escapes the next character."""
    out = "^"
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":  # `**/` is `**`: eat the slash
                    i += 1
                if i + 1 >= n:  # `**` at the end: everything below, as .gitignore
                    out += ".*"
                else:
                    out += "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\":
            if i + 1 < n:
                i += 1
                out += re.escape(pattern[i])
            else:
                out += "\\\\"
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += "\\["
            else:
                out += pattern[
                    i : end + 1
                ]  # a class passes through, as patternmatcher passes it to Go
                i = end
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + "$", re.DOTALL)


def parse_dockerignore(text: str) -> tuple[IgnorePattern, ...]:
    """The patterns of a .dockerignore, as moby's `ignorefile.ReadAll` reads them: `#` lines are comments, lines
    are trimmed, `!` marks an exception, each pattern is cleaned (`filepath.Clean`) and made relative to the
    context root (a leading `/` dropped). A lone `!` is ignored here (docker refuses the file; BuildKit then
    sends nothing, which the build reports)."""
    out: list[IgnorePattern] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
            if not line:
                continue
        pattern = _clean(line)
        if len(pattern) > 1 and pattern.startswith("/"):
            pattern = pattern[1:]
        out.append(IgnorePattern(pattern, exclusion, _compile(pattern)))
    return tuple(out)


def ignored(path: str, patterns: Sequence[IgnorePattern]) -> bool:
    """Whether `path` (relative to the context root, `/`-separated) is left out of the context: the last pattern
    that matches it or one of its parent directories decides (moby's `MatchesOrParentMatches`)."""
    parents = path.split("/")[:-1]
    matched = False
    for pattern in patterns:
        if pattern.exclusion != matched:
            continue  # an include already out, or an exception with nothing to take back
        found = pattern.match(path)
        if not found:
            for i in range(len(parents)):
                if pattern.match("/".join(parents[: i + 1])):
                    found = True
                    break
        if found:
            matched = not pattern.exclusion
    return matched


# -- the context's files ------------------------------------------------------------------------------------------
def is_remote(value: str) -> bool:
    """A context BuildKit fetches itself (a URL, a git repository): its content is not here to hash."""
    return (
        "://" in value
        or value.startswith(("git@", "github.com/"))
        or bool(re.search(r"\.git(#.*)?$", value))
    )


def _entries(
    root: Path, patterns: Sequence[IgnorePattern], skip: Collection[Path] = ()
) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every file, link and directory of `root` BuildKit would send, in a stable order (path, its stat); the
    folders in `skip` (bakepy's own run files) left out whatever the ignore file says."""
    has_exceptions = any(p.exclusion for p in patterns)
    for here, dirs, files in os.walk(root, followlinks=False):
        base = Path(here)
        dirs[:] = [d for d in dirs if (base / d).resolve() not in skip]
        rel = base.relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        keep_dirs = []
        for name in sorted(dirs):
            path = prefix + name
            full = base / name
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                if not ignored(path, patterns):
                    yield path, full, info
                continue
            if ignored(path, patterns):
                if (
                    has_exceptions
                ):  # an exception may take back something below: walk it, send what it keeps
                    keep_dirs.append(name)
                continue
            yield path + "/", full, info
            keep_dirs.append(name)
        dirs[:] = keep_dirs
        for name in sorted(files):
            path = prefix + name
            if not ignored(path, patterns):
                full = base / name
                yield path, full, full.lstat()


def context_digest(
    root: Path, patterns: Sequence[IgnorePattern], skip: Collection[Path] = ()
) -> str:
    """sha256 of the context BuildKit would receive from `root` with `patterns` applied: each entry's path,
    kind, executable bit, and content (a link: its target). Times and owners are left out (BuildKit's content
    cache keys leave them out too)."""
    digest = hashlib.sha256()
    for path, full, info in _entries(root, patterns, skip):
        if stat.S_ISLNK(info.st_mode):
            digest.update(f"L {path} {os.readlink(full)}\n".encode())
        elif stat.S_ISDIR(info.st_mode):
            digest.update(f"D {path}\n".encode())
        elif stat.S_ISREG(info.st_mode):
            content = hashlib.sha256()
            with open(full, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    content.update(chunk)
            mode = "x" if info.st_mode & 0o111 else "-"
            digest.update(f"F {path} {mode} {content.hexdigest()}\n".encode())
    return digest.hexdigest()


def _ignore_patterns(context: Path, dockerfile: Path | None) -> tuple[IgnorePattern, ...]:
    """The Dockerfile's own `<Dockerfile>.dockerignore` when present, else the context's `.dockerignore`."""
    candidates = []
    if dockerfile is not None:
        candidates.append(dockerfile.with_name(dockerfile.name + ".dockerignore"))
    candidates.append(context / ".dockerignore")
    for candidate in candidates:
        if candidate.is_file():
            return parse_dockerignore(candidate.read_text(encoding="utf-8", errors="replace"))
    return ()


# -- the Dockerfile's base images -------------------------------------------------------------------------------
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_VAR = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) of a Dockerfile: continuation lines joined, comments dropped, the escape directive
    honoured."""
    lines = text.splitlines()
    escape = "\\"
    for line in lines:  # parser directives: only at the very top
        found = _DIRECTIVE.match(line.strip())
        if not found:
            break
        if found.group(1).lower() == "escape" and found.group(2) in ("\\", "`"):
            escape = found.group(2)
    out: list[tuple[str, str]] = []
    pending = ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):  # a comment (or directive), also inside a continuation
            continue
        if stripped.endswith(escape):
            pending += stripped[: -len(escape)] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        if whole:
            word, _, rest = whole.partition(" ")
            out.append((word.upper(), rest.strip()))
    if pending.strip():
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _expand(value: str, env: Mapping[str, str]) -> str:
    def one(found: re.Match[str]) -> str:
        name = found.group(1) or found.group(4)
        operator, word = found.group(2), found.group(3) or ""
        have = env.get(name)
        if operator in (":-", "-"):
            empty = have is None or (operator == ":-" and have == "")
            return word if empty else str(have)
        if operator in (":+", "+"):
            present = have is not None and (operator == "+" or have != "")
            return word if present else ""
        return have or ""

    return _VAR.sub(one, value)


def _arg_pairs(rest: str) -> Iterator[tuple[str, str | None]]:
    for word in rest.split():
        name, eq, default = word.partition("=")
        yield name, (default.strip("\"'") if eq else None)


def _platform_args(platform: str | None) -> dict[str, str]:
    if platform is None:
        return {}
    os_, _, rest = platform.partition("/")
    arch, _, variant = rest.partition("/")
    return {
        "TARGETPLATFORM": platform,
        "TARGETOS": os_,
        "TARGETARCH": arch,
        "TARGETVARIANT": variant,
    }


def base_images(
    dockerfile: str,
    args: Mapping[str, str | None],
    *,
    platform: str | None = None,
    named: Sequence[str] = (),
) -> tuple[str, ...]:
    """The images the Dockerfile's `FROM` and `COPY --from` lines name, `ARG`-templated ones resolved with the
    global ARGs' defaults overridden by `args`: `scratch`, earlier stage names, stage numbers and `named`
    contexts (which replace an image of that name) left out. An image that resolves to nothing is returned as
    written (with its `$`), which the caller reports as not fingerprintable."""
    env: dict[str, str] = _platform_args(platform)
    stages: set[str] = set()
    seen_from = False
    out: dict[str, None] = {}
    skip = {n.lower() for n in named}

    def add(ref: str) -> None:
        lowered = ref.lower()
        if lowered == "scratch" or lowered in stages or lowered in skip or ref.isdigit():
            return
        out[ref] = None

    for word, rest in _instructions(dockerfile):
        if word == "ARG" and not seen_from:
            for name, default in _arg_pairs(rest):
                given = args.get(name)
                value = given if given is not None else default
                if value is not None:
                    env[name] = _expand(value, env)
        elif word == "FROM":
            seen_from = True
            parts = [p for p in rest.split() if not p.startswith("--")]
            if not parts:
                continue
            image = _expand(parts[0], env) if "$" in parts[0] else parts[0]
            add(image if image else parts[0])
            if len(parts) >= 3 and parts[1].lower() == "as":
                stages.add(parts[2].lower())
        elif word in ("COPY", "ADD"):
            for flag in rest.split():
                if flag.startswith("--from="):
                    add(flag[len("--from=") :])
    return tuple(out)


def qualified(ref: str) -> str:
    """`busybox` → `docker.io/library/busybox:latest`: the reference a registry is asked about."""
    from bakepy.publish.index import split_reference

    registry, path, tag, digest = split_reference(ref)
    if digest:
        return f"{registry}/{path}@{digest}"
    return f"{registry}/{path}:{tag or 'latest'}"


# -- the fingerprint --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fingerprint:
    """One target × platform's inputs, hashed: `parts` (input → its sha256), `value` their hash; `unknown` says
    why it could not be computed (then it always counts as changed)."""

    target: str
    platform: str | None
    parts: Mapping[str, str]
    unknown: str | None = None

    @property
    def value(self) -> str:
        if self.unknown is not None:
            return ""
        blob = json.dumps(dict(self.parts), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def annotation(self) -> str:
        """The annotation value: `v1 VALUE name:short …` (spaces, no comma: it passes through bake's CSV)."""
        short = " ".join(f"{k}:{v[:10]}" for k, v in sorted(self.parts.items()))
        return f"{_VERSION} {self.value} {short}"

    def changes_from(self, written: str | None) -> tuple[str, ...]:
        """The inputs that differ from an annotation written by an earlier publish (empty: unchanged)."""
        if self.unknown is not None:
            return (self.unknown,)
        old = read_annotation(written)
        if old is None:
            return ("no fingerprint on the published image",)
        value, parts = old
        if value == self.value:
            return ()
        mine = {k: v[:10] for k, v in self.parts.items()}
        changed = sorted(k for k in mine.keys() | parts.keys() if mine.get(k) != parts.get(k))
        return tuple(changed) or ("inputs",)


def index_annotation(values: Sequence[str]) -> str:
    """The index's annotation: every platform's annotation value, hashed (`v1 HASH`)."""
    return f"{_VERSION} " + hashlib.sha256("\n".join(sorted(values)).encode()).hexdigest()[:32]


def read_annotation(text: str | None) -> tuple[str, dict[str, str]] | None:
    """(value, input → short hash) of an annotation `Fingerprint.annotation` wrote; None for anything else."""
    if not text:
        return None
    words = text.split()
    if len(words) < 2 or words[0] != _VERSION:
        return None
    parts = dict(w.split(":", 1) for w in words[2:] if ":" in w)
    return words[1], parts


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _local_dir_digest(path: Path, skip: Collection[Path] = ()) -> str:
    return context_digest(path, _ignore_patterns(path, None), skip)


def fingerprint_targets(
    resolved: ResolvedProject,
    names: Sequence[str],
    platforms: Mapping[str, Sequence[str]],
    *,
    project_dir: Path,
    resolve: Resolver,
) -> dict[tuple[str, str | None], Fingerprint]:
    """(target, platform) → its fingerprint, for `names` on `platforms[name]` (empty: the builder's default,
    fingerprinted as platform None). A context directory hashed for one target is reused by the others."""
    cache: dict[object, str | None] = {}
    # bakepy's own folder (.bakepy: run files, records) changes on every run and is no image's input; BuildKit
    # sends it unless .dockerignore says otherwise, but a fingerprint that changes with every run is no use
    skip = {(project_dir / ".bakepy").resolve()}

    def cached(key: object, compute: Callable[[], str | None]) -> str | None:
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    stack: list[str] = []

    def one(name: str, platform: str | None) -> Fingerprint:
        target = resolved.targets[name]
        if name in stack:
            return Fingerprint(name, platform, {}, f"context cycle through target {name}")
        stack.append(name)
        try:
            return _fingerprint(name, target, platform)
        finally:
            stack.pop()

    def _fingerprint(name: str, target: Target, platform: str | None) -> Fingerprint:
        parts: dict[str, str] = {"platform": _sha(platform or "")}
        context_value = target.context or "."
        if is_remote(context_value):
            return Fingerprint(name, platform, parts, f"remote context {context_value}")
        context = (project_dir / context_value).resolve()
        if not context.is_dir():
            return Fingerprint(name, platform, parts, f"context {context_value} is not a directory")
        dockerfile_path: Path | None = None
        if target.dockerfile_inline is not None:
            dockerfile_text = target.dockerfile_inline
        else:
            written = target.dockerfile or "Dockerfile"
            if is_remote(written):
                return Fingerprint(name, platform, parts, f"remote Dockerfile {written}")
            dockerfile_path = (context / written).resolve()
            try:
                dockerfile_text = dockerfile_path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                return Fingerprint(
                    name, platform, parts, f"cannot read {dockerfile_path}: {exc.strerror}"
                )
        parts["dockerfile"] = _sha(dockerfile_text + "\0" + (target.target or ""))
        patterns = _ignore_patterns(context, dockerfile_path)
        try:
            files = cached(
                ("ctx", context, patterns), lambda: context_digest(context, patterns, skip)
            )
        except OSError as exc:
            return Fingerprint(
                name, platform, parts, f"cannot read the context {context_value}: {exc}"
            )
        parts["context"] = files or ""
        args = {k: v for k, v in target.args.items() if k != "SOURCE_DATE_EPOCH"}
        parts["args"] = _sha(json.dumps(args, sort_keys=True))
        parts["secrets"] = _sha(json.dumps(sorted(s.id or "" for s in target.secret)))
        for key, value in sorted(target.contexts.items()):
            label = f"contexts.{key}"
            if value.startswith("target:"):
                linked = value[len("target:") :]
                if linked not in resolved.targets:
                    return Fingerprint(name, platform, parts, f"{label}: no target {linked}")
                found = one(linked, platform)
                if found.unknown is not None:
                    return Fingerprint(
                        name, platform, parts, f"{label} (target {linked}): {found.unknown}"
                    )
                parts[label] = found.value
            elif value.startswith("docker-image://"):
                ref = qualified(value[len("docker-image://") :])
                digest = ref.partition("@")[2] or cached(("img", ref), partial(resolve, ref))
                if not digest:
                    return Fingerprint(name, platform, parts, f"{label}: cannot read {ref}")
                parts[label] = _sha(digest)
            elif value.startswith("oci-layout://"):
                return Fingerprint(name, platform, parts, f"{label}: an oci-layout context")
            elif is_remote(value):
                return Fingerprint(name, platform, parts, f"{label}: remote context {value}")
            else:
                path = (project_dir / value).resolve()
                if not path.is_dir():
                    return Fingerprint(
                        name, platform, parts, f"{label}: {value} is not a directory"
                    )
                try:
                    parts[label] = (
                        cached(("dir", path), partial(_local_dir_digest, path, skip)) or ""
                    )
                except OSError as exc:
                    return Fingerprint(
                        name, platform, parts, f"{label}: cannot read {value}: {exc}"
                    )
        bases: dict[str, str] = {}
        for image in base_images(
            dockerfile_text, target.args, platform=platform, named=tuple(target.contexts)
        ):
            if "$" in image:
                return Fingerprint(name, platform, parts, f"FROM {image}: an ARG with no value")
            ref = qualified(image)
            digest = ref.partition("@")[2] or cached(("img", ref), partial(resolve, ref))
            if not digest:
                return Fingerprint(name, platform, parts, f"base image {ref} cannot be read")
            bases[ref] = digest
        parts["from"] = _sha(json.dumps(bases, sort_keys=True))
        return Fingerprint(name, platform, parts)

    out: dict[tuple[str, str | None], Fingerprint] = {}
    for name in names:
        for platform in platforms.get(name) or (None,):
            out[(name, platform)] = one(name, platform)
    return out
