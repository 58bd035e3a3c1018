"""Digest records: one small JSON file per (target, platform) that a build pushed by digest.

A record is all that passes between a build and a merge (the per-platform CI flow sends them between jobs as
artifacts): which target and platform, the image manifest digest of that platform, the pushed descriptor to merge
from (`source`, an index when attestations are on), the repositories it was pushed to, and the plan fingerprint
and source revision it belongs to, so a merge refuses records from another plan or commit.

The records folder is not trusted (an artifact download, a restored cache): records are written and read only
through `bakepy.safefs`, so no link planted there is followed and only small regular files are read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bakepy.errors import ConfigError
from bakepy.safefs import ensure_folder, list_files, read_regular, write_atomic

RECORD_VERSION = 1
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class DigestRecord:
    target: str
    platform: str
    digest: str  # the platform's image manifest
    source: str  # the pushed descriptor holding it (and its attestations): what a merge names
    media_type: str
    size: int
    repositories: tuple[str, ...]
    fingerprint: str
    revision: str | None = None
    version: int = RECORD_VERSION

    @property
    def filename(self) -> str:
        return f"{self.target}--{self.platform.replace('/', '-')}.json"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["repositories"] = list(self.repositories)
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> DigestRecord:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: a digest record must be a JSON object")
        fields = {f: data.get(f) for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} in digest record")
        for key in ("target", "platform", "digest", "source", "media_type", "fingerprint"):
            if not isinstance(fields[key], str) or not fields[key]:
                raise ConfigError(f"{where}: {key}: missing or not a string")
        for key in ("digest", "source"):
            if not _DIGEST.match(str(fields[key])):
                raise ConfigError(f"{where}: {key}: {fields[key]!r} is not a sha256 digest")
        if type(fields["version"]) is not int or fields["version"] != RECORD_VERSION:
            raise ConfigError(
                f"{where}: version: record format {fields['version']!r} is not {RECORD_VERSION}",
                hint="build and merge with the same bakepy version",
            )
        repos = fields["repositories"]
        if not isinstance(repos, list) or not repos or not all(isinstance(r, str) for r in repos):
            raise ConfigError(f"{where}: repositories: must be a non-empty list of strings")
        size = fields["size"]
        if type(size) is not int or size < 0:
            raise ConfigError(f"{where}: size: must be a non-negative integer")
        revision = fields["revision"]
        if revision is not None and (not isinstance(revision, str) or not revision):
            raise ConfigError(f"{where}: revision: must be a commit (a non-empty string) or null")
        return cls(
            target=str(fields["target"]),
            platform=str(fields["platform"]),
            digest=str(fields["digest"]),
            source=str(fields["source"]),
            media_type=str(fields["media_type"]),
            size=size,
            repositories=tuple(repos),
            fingerprint=str(fields["fingerprint"]),
            revision=str(revision) if revision is not None else None,
        )


RECORD_LIMIT = 1 << 20
"""The most a digest record file may hold (one is ~600 bytes): a larger `*.json` is refused, not read."""
_CONSEQUENCE = "the images are pushed by digest only, no tag was moved"
_ELSEWHERE = "name another folder with --records DIR"


def _is_default_folder(directory: Path) -> bool:
    """`.bakepy/records` beside a project: bakepy's own folder, not one the user named."""
    return directory.name == "records" and directory.parent.name == ".bakepy"


def records_folder(
    directory: Path, *, named: bool | None = None, consequence: str = _CONSEQUENCE
) -> Path:
    """`directory` made ready for records (made if missing): `named` says the user chose it (`--records DIR`),
    so a link there is theirs and followed; by default, any folder but `.bakepy/records`, inside which no folder
    on the way may be a link. Call it before a build to refuse a bad folder before anything is pushed."""
    if named is None:
        named = not _is_default_folder(directory)
    if named:
        return ensure_folder(directory, what="digest records", consequence=consequence)
    return ensure_folder(
        directory,
        below=directory.parent.parent,
        what="digest records",
        consequence=consequence,
        elsewhere=_ELSEWHERE,
    )


def write_records(
    directory: Path, records: Iterable[DigestRecord], *, named: bool | None = None
) -> list[Path]:
    """Write one file per record into `directory`, each replaced whole (`safefs.write_atomic`: no link planted
    there is followed, a reader never sees half a record); the folder as `records_folder` takes it. A full,
    read-only or foreign disk is one `LocalFileError` (exit 2) saying no tag moved."""
    if named is None:
        named = not _is_default_folder(directory)
    records_folder(directory, named=named)
    what = "a digest record"
    written = []
    for record in records:
        text = json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n"
        written.append(
            write_atomic(
                directory,
                record.filename,
                text.encode(),
                what=what,
                follow_folder=named,
                consequence=_CONSEQUENCE,
                elsewhere=_ELSEWHERE,
            )
        )
    return written


def prefetch_sources(directory: Path) -> None:
    """Start reading, in the background, the sources the records below `directory` name, in every repository
    they were pushed to, and those repositories' tag lists (`bakepy.engine.registry.prefetch`), and return at
    once: `bakepy merge` loads and plans
    its project meanwhile, which takes about as long as those round trips. Nothing is decided here: the merge
    reads and checks the records again and reads every source itself (taking the answers already in), so a
    folder that is missing, unreadable or not this plan's only means nothing was read early."""
    # imported here, not in the thread: every import stays on the main thread
    import threading

    from bakepy.engine import registry
    from bakepy.publish.index import split_reference

    def work() -> None:
        try:
            found = [record for _, record in read_record_files(directory)]
        except (ConfigError, OSError):
            return
        refs = [f"{repo}@{r.source}" for r in found for repo in r.repositories]
        writes = {split_reference(repo)[:2] for r in found for repo in r.repositories}
        lists = [repo for r in found for repo in r.repositories]
        registry.prefetch(refs, writes=writes, lists=lists)

    threading.Thread(target=work, name="bakepy-prefetch", daemon=True).start()


def read_record_files(directory: Path) -> list[tuple[Path, DigestRecord]]:
    """Every *.json record below `directory` with its path (CI artifacts often arrive one folder per job).

    The folder is the user's (a link to it is followed), but nothing inside it is trusted: a `*.json` that is a
    link, a FIFO, a device or larger than `RECORD_LIMIT` is refused by name before anything is read from it, so
    a planted FIFO cannot hang a merge nor a link to /dev/zero fill its memory."""
    if not directory.is_dir():
        what = "is not a directory" if os.path.lexists(directory) else "no such records directory"
        raise ConfigError(
            f"{directory}: {what}",
            hint="pass the folder the builds wrote (bakepy build --records DIR)",
        )
    hint = "a digest record is a small JSON file written by `bakepy build`; remove anything else from the folder"
    out = []
    for path in list_files(directory, ".json", what="digest records"):
        raw = read_regular(path, what="a digest record", limit=RECORD_LIMIT, hint=hint)
        try:
            data = json.loads(raw.decode("utf-8"))
        except RecursionError:
            raise ConfigError(f"{path}: not a digest record (JSON nested too deeply)") from None
        except ValueError as exc:
            raise ConfigError(f"{path}: not a readable JSON digest record ({exc})") from exc
        out.append((path, DigestRecord.from_json(data, str(path))))
    return out


def source_revision(cwd: Path) -> str | None:
    """The commit being built: CI's variables first, else .git's HEAD (read as files: no process)."""
    for var in ("BAKEPY_REVISION", "GITHUB_SHA", "CI_COMMIT_SHA"):
        if os.environ.get(var):
            return os.environ[var]
    for folder in (cwd, *cwd.parents):
        git = folder / ".git"
        if git.is_dir():
            head = (git / "HEAD").read_text().strip()
            if head.startswith("ref: "):
                ref = head[5:]
                ref_file = git / ref
                if ref_file.is_file():
                    return ref_file.read_text().strip()
                packed = git / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return line.split()[0]
                return None
            return head
    return None
