"""Files bakepy writes and reads in folders someone else may have put something in first.

`.bakepy/` beside the project and a records folder (`--records DIR`, often a CI artifact download or a restored
cache) are not bakepy's alone: a symbolic link planted where a file is written would send the write elsewhere,
a FIFO named `*.json` would block a reader forever and a link to `/dev/zero` would fill its memory. This module
owns the few primitives every such file goes through:

* `ensure_folder`: make a folder; below a trusted root (the project directory), every folder on the way must be
  a real folder, not a symbolic link (a folder the user named is followed: that link is theirs);
* `write_atomic`: a file replaced whole (a temporary file created exclusively beside it, written, fsync'd,
  renamed into place, the folder fsync'd): no link is followed and a reader never sees half a file;
* `create_exclusive`: a new file that must not exist yet (or, with `exist_ok`, is left as it is);
* `Appender` / `append_synced`: lines appended to a regular file held open, fsync'd where they must survive a
  crash of the machine (a journal's marks, the history of pushed digests);
* `read_regular`: a file's bytes, only when it is a regular file no larger than a limit, opened so that a FIFO
  or a device never blocks (`O_NONBLOCK`) and a link is never followed (`O_NOFOLLOW`);
* `list_files`: the files below a folder with a suffix, links included (for `read_regular` to refuse) but never
  followed into;
* `check_free`: a folder's file system is writable and has room, before anything is built;
* `file_error`: any `OSError` as one `LocalFileError` line naming the path and the fix (a full disk, a
  read-only one, a permission), never "unexpected error".

Every failure is a `LocalFileError` (a `ConfigError`: exit 2). Pure: no process, no network, no docker. Only the
last component of a path is protected against a swap between check and use for folders below a trusted root; a
user who can replace `.bakepy` itself can also edit the Dockerfile.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from bakepy.errors import LocalFileError

__all__ = [
    "MIN_FREE_BYTES",
    "Appender",
    "append_synced",
    "check_free",
    "create_exclusive",
    "ensure_folder",
    "file_error",
    "list_files",
    "read_regular",
    "write_atomic",
]

# Flags that some platforms lack are 0 there (the protection they give is then lost, not the function).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# open(O_NOFOLLOW) of a link fails with ELOOP on Linux and macOS, EMLINK on FreeBSD
_LINK_ERRNOS = {errno.ELOOP, getattr(errno, "EMLINK", errno.ELOOP)}

MIN_FREE_BYTES = 1 << 20
"""What a run's files under `.bakepy` need at most (a bake file, buildx's metadata, records: kilobytes each)."""


# -- errors ---------------------------------------------------------------------------------------------
def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a special file"


def _link_target(path: Path) -> str:
    try:
        return repr(os.readlink(path))
    except OSError:
        return "somewhere"


def _tail(consequence: str | None) -> str:
    return f"; {consequence}" if consequence else ""


def file_error(
    exc: OSError,
    path: Path,
    what: str,
    *,
    verb: str = "write",
    consequence: str | None = None,
    elsewhere: str | None = None,
) -> LocalFileError:
    """`exc` as one line: the path, what bakepy was doing (`cannot write the digest record`), why in words, and
    the fix. `elsewhere` names the option that points bakepy at another folder (`--records DIR`)."""
    folder = path.parent
    other = f", or {elsewhere}" if elsewhere else ""
    code = exc.errno
    head = f"{path}: cannot {verb} {what}"
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        why = "no space left on the device" if code == errno.ENOSPC else "disk quota exceeded"
        return LocalFileError(
            f"{head}: {why}{_tail(consequence)}",
            hint=f"free space on the file system that holds {folder} (`df -h {folder}`){other}",
        )
    if code == errno.EROFS:
        return LocalFileError(
            f"{head}: the file system is read-only{_tail(consequence)}",
            hint=f"run bakepy where it can write (a writable checkout or mount){other}",
        )
    if code in (errno.EACCES, errno.EPERM):
        return LocalFileError(
            f"{head}: permission denied{_tail(consequence)}",
            hint=f"make {folder} writable for this user (chown/chmod), or run bakepy as its owner{other}",
        )
    if code in _LINK_ERRNOS and os.path.islink(path):
        return LocalFileError(
            f"{head}: it is a symbolic link (to {_link_target(path)}), which bakepy does not follow"
            f"{_tail(consequence)}",
            hint=f"remove the link (rm {path}); bakepy makes its own files{other}",
        )
    if code == errno.ENOTDIR:
        return LocalFileError(
            f"{head}: a part of the path is not a folder{_tail(consequence)}",
            hint=f"remove or rename the file that stands where a folder should be{other}",
        )
    if code == errno.EISDIR:
        return LocalFileError(
            f"{head}: it is a folder{_tail(consequence)}", hint=f"remove or rename it{other}"
        )
    reason = exc.strerror or type(exc).__name__
    return LocalFileError(f"{head}: {reason}{_tail(consequence)}", hint=f"check {folder}{other}")


# -- folders --------------------------------------------------------------------------------------------
def ensure_folder(
    path: Path,
    *,
    below: Path | None = None,
    what: str = "bakepy's files",
    consequence: str | None = None,
    elsewhere: str | None = None,
) -> Path:
    """`path` as an existing folder, made if missing. With `below` (a trusted root that `path` lies in, e.g. the
    project directory) every folder from there to `path` must be a real folder: a symbolic link is refused, as
    bakepy's own folders are never links. Without it (a folder the user named) links are followed."""
    if below is None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            pass  # a file where the folder should be: said below
        except OSError as exc:
            raise file_error(
                exc, path, "the folder for " + what, verb="make", consequence=consequence
            ) from None
        if not path.is_dir():
            raise LocalFileError(
                f"{path}: is not a folder, so {what} cannot be written there{_tail(consequence)}",
                hint=f"name a folder (it is made if missing){', or ' + elsewhere if elsewhere else ''}",
            )
        return path
    current = below
    for part in path.relative_to(below).parts:
        current = current / part
        try:
            os.mkdir(current)
        except FileExistsError:
            pass
        except OSError as exc:
            raise file_error(
                exc,
                current,
                "the folder for " + what,
                verb="make",
                consequence=consequence,
                elsewhere=elsewhere,
            ) from None
        try:
            mode = os.lstat(current).st_mode
        except OSError as exc:
            raise file_error(exc, current, what, verb="read", consequence=consequence) from None
        if stat.S_ISLNK(mode):
            raise LocalFileError(
                f"{current}: is a symbolic link (to {_link_target(current)}); bakepy keeps {what} only in "
                f"a real folder and follows no link there{_tail(consequence)}",
                hint=f"remove the link (rm {current}): bakepy makes the folder itself"
                + (f"; or name the folder you want: {elsewhere}" if elsewhere else ""),
            )
        if not stat.S_ISDIR(mode):
            raise LocalFileError(
                f"{current}: is {_kind(mode)}, where bakepy keeps {what} in a folder{_tail(consequence)}",
                hint=f"remove or rename it (bakepy makes the folder){', or ' + elsewhere if elsewhere else ''}",
            )
    return path


def check_free(
    folder: Path,
    *,
    what: str,
    need: int = MIN_FREE_BYTES,
    consequence: str | None = None,
    elsewhere: str | None = None,
) -> None:
    """LocalFileError unless `folder`'s file system is mounted writable and has `need` bytes free for this
    user: a full or read-only disk is said before a build, not found by the first write after it."""
    try:
        info = os.statvfs(folder)
    except (OSError, AttributeError):
        return  # no statvfs (Windows): the writes themselves say it
    if info.f_flag & getattr(os, "ST_RDONLY", 1):
        raise file_error(
            OSError(errno.EROFS, os.strerror(errno.EROFS)),
            folder,
            what,
            consequence=consequence,
            elsewhere=elsewhere,
        )
    free = info.f_bavail * info.f_frsize
    if free < need:
        raise LocalFileError(
            f"{folder}: cannot write {what}: only {free // 1024} KiB free on its file system, "
            f"bakepy needs {need // 1024} KiB{_tail(consequence)}",
            hint=f"free space on the file system that holds {folder} (`df -h {folder}`)"
            + (f", or {elsewhere}" if elsewhere else ""),
        )


def _open_folder(folder: Path, *, follow: bool, what: str, verb: str = "write") -> int:
    flags = os.O_RDONLY | _DIRECTORY | _CLOEXEC | (0 if follow else _NOFOLLOW)
    try:
        return os.open(folder, flags)
    except OSError as exc:
        if exc.errno in _LINK_ERRNOS | {errno.ENOTDIR} and os.path.islink(folder):
            raise LocalFileError(
                f"{folder}: is a symbolic link (to {_link_target(folder)}); bakepy writes {what} only in a "
                "real folder and follows no link there",
                hint=f"remove the link (rm {folder}): bakepy makes the folder itself",
            ) from None
        raise file_error(exc, folder, what, verb=verb) from None


def _plain_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name or os.sep in name:
        raise ValueError(f"not a plain file name: {name!r}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_folder(dir_fd: int) -> None:
    # some file systems (and macOS) refuse fsync on a folder; the rename itself is then what we have
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)


# -- writing --------------------------------------------------------------------------------------------
def write_atomic(
    folder: Path,
    name: str,
    data: bytes,
    *,
    what: str,
    follow_folder: bool = False,
    mode: int = 0o666,
    consequence: str | None = None,
    elsewhere: str | None = None,
) -> Path:
    """Write `data` to `folder/name`, replacing it whole: a temporary file beside it is created exclusively
    (never through a link), written and fsync'd, then renamed over `name` (which replaces a link planted there
    rather than writing where it points), and the folder is fsync'd. `folder` itself is not followed if it is a
    link unless `follow_folder` (a folder the user named). Returns the path written."""
    _plain_name(name)
    path = folder / name
    dir_fd = _open_folder(folder, follow=follow_folder, what=what)
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"
    created = False
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode, dir_fd=dir_fd
        )
        created = True
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        created = False
        _fsync_folder(dir_fd)
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
        raise file_error(exc, path, what, consequence=consequence, elsewhere=elsewhere) from None
    finally:
        os.close(dir_fd)
    return path


def create_exclusive(
    folder: Path,
    name: str,
    data: bytes,
    *,
    what: str,
    exist_ok: bool = False,
    follow_folder: bool = False,
    mode: int = 0o666,
    consequence: str | None = None,
) -> bool:
    """Create `folder/name` holding `data` (fsync'd, with its folder), failing if anything (a file, a link, a
    FIFO) already has that name; with `exist_ok` that is no failure and nothing is written. Returns whether the
    file was created."""
    _plain_name(name)
    path = folder / name
    dir_fd = _open_folder(folder, follow=follow_folder, what=what)
    try:
        try:
            fd = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                mode,
                dir_fd=dir_fd,
            )
        except FileExistsError:
            if exist_ok:
                return False
            raise LocalFileError(
                f"{path}: cannot create {what}: something already has that name{_tail(consequence)}",
                hint=f"remove it (rm {path}) if no bakepy run is using it",
            ) from None
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(
                    name, dir_fd=dir_fd
                )  # no half-written file left to be taken for a whole one
            raise
        os.close(fd)
        _fsync_folder(dir_fd)
        return True
    except OSError as exc:
        raise file_error(exc, path, what, consequence=consequence) from None
    finally:
        os.close(dir_fd)


class Appender:
    """A regular file `folder/name` (made if missing) held open for appending: a journal's marks.

    Opened once with the same refusals as every write here (a link, a FIFO or a device with that name is
    refused, never written to nor waited on); the folder is fsync'd once, when the file is made. Each `append`
    writes whole lines with one `write` (O_APPEND: lines from several threads never interleave) and, when
    `durable`, fsyncs the file before returning: what a crash of the machine must not lose. An append that is
    not durable survives the process being killed (it is in the kernel's cache), not a crash of the machine."""

    def __init__(
        self,
        folder: Path,
        name: str,
        *,
        what: str,
        follow_folder: bool = False,
        consequence: str | None = None,
    ) -> None:
        _plain_name(name)
        self.path = folder / name
        self._what = what
        self._consequence = consequence
        dir_fd = _open_folder(folder, follow=follow_folder, what=what)
        try:
            flags = os.O_WRONLY | os.O_APPEND | _NOFOLLOW | _NONBLOCK | _CLOEXEC
            try:
                fd = os.open(name, flags, dir_fd=dir_fd)
                made = False
            except FileNotFoundError:
                fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o666, dir_fd=dir_fd)
                made = True
            try:
                mode = os.fstat(fd).st_mode
                if not stat.S_ISREG(mode):
                    raise LocalFileError(
                        f"{self.path}: is {_kind(mode)}, not a regular file: bakepy does not write {what} to "
                        f"it{_tail(consequence)}",
                        hint=f"remove it (rm {self.path})",
                    )
                if made:
                    os.fsync(fd)
                    _fsync_folder(dir_fd)
            except BaseException:
                os.close(fd)
                raise
        except OSError as exc:
            raise file_error(exc, self.path, what, consequence=consequence) from None
        finally:
            os.close(dir_fd)
        self._fd = fd

    def append(self, data: bytes, *, durable: bool = True) -> None:
        try:
            _write_all(self._fd, data)
            if durable:
                os.fsync(self._fd)
        except OSError as exc:
            raise file_error(exc, self.path, self._what, consequence=self._consequence) from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def append_synced(
    folder: Path,
    name: str,
    data: bytes,
    *,
    what: str,
    follow_folder: bool = False,
    consequence: str | None = None,
) -> None:
    """Append `data` to the regular file `folder/name` (made if missing) and fsync it (`Appender`, once)."""
    out = Appender(folder, name, what=what, follow_folder=follow_folder, consequence=consequence)
    try:
        out.append(data)
    finally:
        out.close()


# -- reading --------------------------------------------------------------------------------------------
def _refuse_kind(path: Path, mode: int, what: str, hint: str | None) -> LocalFileError:
    if stat.S_ISLNK(mode):
        return LocalFileError(
            f"{path}: is a symbolic link (to {_link_target(path)}); bakepy reads {what} only from a regular "
            "file and follows no link",
            hint=hint
            or f'put the file itself there (cp --remove-destination "$(realpath {path})" {path})',
        )
    return LocalFileError(
        f"{path}: is {_kind(mode)}, not a regular file; bakepy reads {what} only from a regular file",
        hint=hint or f"remove it (rm {path})",
    )


def read_regular(
    path: Path, *, what: str, limit: int, follow: bool = False, hint: str | None = None
) -> bytes:
    """The bytes of `path` when it is a regular file of at most `limit` bytes; else one LocalFileError naming
    it. A link is not followed unless `follow` (a file the user named); a FIFO, socket or device is refused
    without a blocking open or a read; a file that grows past `limit` while read is refused too."""
    try:
        mode = (os.stat if follow else os.lstat)(path).st_mode
    except OSError as exc:
        raise file_error(exc, path, what, verb="read") from None
    if not stat.S_ISREG(mode):  # before open: opening some devices has effects of its own
        raise _refuse_kind(path, mode, what, hint)
    flags = os.O_RDONLY | _NONBLOCK | _CLOEXEC | (0 if follow else _NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno in _LINK_ERRNOS and os.path.islink(path):  # swapped for a link since the lstat
            raise _refuse_kind(path, stat.S_IFLNK, what, hint) from None
        raise file_error(exc, path, what, verb="read") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse_kind(path, info.st_mode, what, hint)
        too_big = LocalFileError(
            f"{path}: is larger than {limit} bytes, more than {what} can hold; bakepy does not read it",
            hint=hint or "check that the file is what it should be; remove it if not",
        )
        if info.st_size > limit:
            raise too_big
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(65536, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise too_big
        return b"".join(chunks)
    except OSError as exc:
        raise file_error(exc, path, what, verb="read") from None
    finally:
        os.close(fd)


def list_files(folder: Path, suffix: str, *, what: str) -> list[Path]:
    """Every entry named `*suffix` below `folder` (which, named by the user, may itself be a link), sorted.
    Entries that are not regular files (links, FIFOs, devices) are listed too, for `read_regular` to refuse
    by name; a link to a folder is refused here, as bakepy follows no link inside the folder."""
    return sorted(_walk(folder, suffix, what))


def _walk(folder: Path, suffix: str, what: str) -> Iterator[Path]:
    try:
        with os.scandir(folder) as entries:
            listed = list(entries)
    except OSError as exc:
        raise file_error(exc, folder, what, verb="read") from None
    for entry in listed:
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(path, suffix, what)
            elif entry.is_symlink() and path.is_dir():
                raise LocalFileError(
                    f"{path}: is a symbolic link to a folder ({_link_target(path)}); bakepy follows no link "
                    f"inside the folder of {what}",
                    hint=f"copy that folder's files into {folder} itself, or remove the link (rm {path})",
                )
            elif entry.name.endswith(suffix):
                yield path
        except OSError as exc:
            raise file_error(exc, path, what, verb="read") from None
