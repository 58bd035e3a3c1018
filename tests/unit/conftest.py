"""Unit tests test the pure core: any attempt to start a process fails the test loudly."""

from __future__ import annotations

import os
import subprocess
from typing import Any, NoReturn

import pytest


def _forbidden(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError(f"unit tests must not start processes; tried: {args[:1]!r}")


@pytest.fixture(autouse=True)
def _no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess.Popen, "__init__", _forbidden)
    monkeypatch.setattr(os, "system", _forbidden)
    monkeypatch.setattr(os, "execv", _forbidden)
    monkeypatch.setattr(os, "execvp", _forbidden)
    monkeypatch.setattr(os, "posix_spawn", _forbidden)
