"""The publish summary in a CI log (not a terminal, 80 columns): every reference whole on one line."""

from __future__ import annotations

import pytest

from bakepy.cli.publish import print_summary
from bakepy.publish.verify import Published

LONG = "127.0.0.1:5100/ux/a-rather-long-repository-name-for-a-web-service"


def test_no_reference_is_broken_across_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    tags = tuple(f"{LONG}:{t}" for t in ("latest", "1.2.3", "1.2"))
    published = [
        Published(
            target="web",
            registry="127.0.0.1:5100",
            tags=tags,
            digest="sha256:" + "a" * 64,
            platforms=("linux/amd64", "linux/arm64"),
            attestations=2,
            moved=tags[:2],
            unchanged=tags[2:],
            emulated=("linux/arm64",),
            created=tags[1:2],
        )
    ]
    print_summary(published, seconds=12.34)
    lines = capsys.readouterr().out.splitlines()
    for tag in tags:
        assert any(tag in line for line in lines), f"{tag} is broken across lines"
    assert any(line.startswith(tags[0]) and line.endswith("moved") for line in lines)
    assert any(line.startswith(tags[1]) and line.endswith("created") for line in lines)
    assert any(line.startswith(tags[2]) and line.endswith("unchanged") for line in lines)
    assert "2 tag(s) moved in 12.3 s" in lines[-1]
    assert any("linux/arm64 (QEMU)" in line for line in lines)


def test_the_summary_shows_build_time_per_target_and_platform(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    tags = ("r:5000/web:1",)
    published = [
        Published(
            "web",
            "r:5000",
            tags,
            "sha256:" + "b" * 64,
            ("linux/amd64", "linux/arm64"),
            0,
            tags,
            (),
            emulated=("linux/arm64",),
        )
    ]
    print_summary(published, durations={("web", "linux/amd64"): 4.12, ("web", "linux/arm64"): 61.5})
    out = capsys.readouterr().out
    assert "linux/amd64 4.1s" in out and "linux/arm64 (QEMU) 61.5s" in out
