"""The BakepyError hierarchy: every expected failure, each with its exit code.

Raise one of these for anything a user can fix; the top-level handler in `bakepy.cli` prints its message
(one line, plus an optional hint) and exits with `exit_code`. Anything else is a bug.
"""

from __future__ import annotations


class BakepyError(Exception):
    """An expected failure: one clear line for the user, and an exit code."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail  # e.g. a failed command and its stderr tail: shown with --debug only

    def __str__(self) -> str:
        return self.message


class ConfigError(BakepyError):
    """Bad input: a config file, a bake file, a command-line value. Names the file, the path and the fix."""

    exit_code = 2


class LocalFileError(ConfigError):
    """A file or folder on this machine that bakepy must read or write cannot be used: a symbolic link where
    bakepy follows none, not a regular file, too large, or a disk that is full, read-only or not writable for
    this user (`bakepy.safefs`). Exit 2: the fix is on this machine, and nothing was moved."""


class NothingToDoError(BakepyError):
    """The selection is empty: no target, no platform, no record to merge."""

    exit_code = 3


class BuildError(BakepyError):
    """`docker buildx bake` (or a build step) failed; no tag was moved."""

    exit_code = 4


class RegistryError(BakepyError):
    """A registry operation failed: a push, a merge (`imagetools create`), an inspect, or verification."""

    exit_code = 5


class ToolMissingError(BakepyError):
    """A required external tool (the docker CLI, the buildx plugin) is missing or too old."""

    exit_code = 6


class CheckFailedError(BakepyError):
    """`bakepy doctor` found a required check failing."""

    exit_code = 7


class SigningError(BakepyError):
    """Signing a staged index, or verifying its signature, failed: no tag was moved."""

    exit_code = 8


class InterruptedRunError(BakepyError):
    """SIGINT or SIGTERM stopped a run; the message says what was put back and what could not be."""

    exit_code = 130
