"""bakepy.safefs: files written with no link followed, read only when regular and small, OS errors as one line.

Also the digest records and `.bakepy` run folders built on it (publish/records.py, publish/run.py): a link
planted where a record is written, a FIFO or a /dev/zero link among the records, a link for `.bakepy`.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from pathlib import Path

import pytest

from bakepy.errors import ConfigError, LocalFileError
from bakepy.publish.records import DigestRecord, read_record_files, write_records
from bakepy.publish.run import run_directory, workdir
from bakepy.safefs import (
    Appender,
    append_synced,
    check_free,
    create_exclusive,
    ensure_folder,
    file_error,
    list_files,
    read_regular,
    write_atomic,
)

DIGEST = "sha256:" + "a" * 64


def _record(target: str = "app", platform: str = "linux/amd64") -> DigestRecord:
    return DigestRecord(
        target=target,
        platform=platform,
        digest=DIGEST,
        source=DIGEST,
        media_type="application/vnd.oci.image.index.v1+json",
        size=100,
        repositories=("127.0.0.1:5000/x/app",),
        fingerprint="f" * 12,
    )


def _one_line(exc: LocalFileError) -> str:
    assert exc.exit_code == 2
    assert "\n" not in exc.message
    assert exc.hint
    return exc.message


# -- writing ------------------------------------------------------------------------------------------------
def test_write_atomic_writes_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = write_atomic(tmp_path, "a.json", b"{}\n", what="a record")
    assert path == tmp_path / "a.json"
    assert path.read_bytes() == b"{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    write_atomic(tmp_path, "a.json", b"[]\n", what="a record")  # replaced whole
    assert path.read_bytes() == b"[]\n"


def test_write_atomic_replaces_a_planted_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "app--linux-amd64.json").symlink_to(outside)
    write_atomic(folder, "app--linux-amd64.json", b"{}\n", what="a record")
    assert outside.read_text() == "precious\n"
    written = folder / "app--linux-amd64.json"
    assert not written.is_symlink()
    assert written.read_bytes() == b"{}\n"


def test_write_atomic_refuses_a_folder_that_is_a_link_unless_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(LocalFileError) as caught:
        write_atomic(link, "a.json", b"{}", what="a record")
    message = _one_line(caught.value)
    assert str(link) in message and "symbolic link" in message
    assert list(real.iterdir()) == []
    write_atomic(link, "a.json", b"{}", what="a record", follow_folder=True)
    assert (real / "a.json").read_bytes() == b"{}"


def test_write_atomic_refuses_a_name_with_a_folder_in_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        write_atomic(tmp_path, "../x", b"", what="a record")


def test_write_atomic_onto_a_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.json").mkdir()
    with pytest.raises(LocalFileError) as caught:
        write_atomic(tmp_path, "a.json", b"{}", what="a record")
    assert "a.json" in _one_line(caught.value)
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # the temporary file is gone


def test_create_exclusive_never_writes_through_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    # dangling: O_CREAT alone would create `outside`
    (tmp_path / "journal.json").symlink_to(outside)
    with pytest.raises(LocalFileError) as caught:
        create_exclusive(tmp_path, "journal.json", b"{}", what="the journal")
    assert "already has that name" in _one_line(caught.value)
    assert not outside.exists()
    assert (
        create_exclusive(tmp_path, "journal.json", b"{}", what="the journal", exist_ok=True)
        is False
    )
    assert create_exclusive(tmp_path, "new.json", b"{}", what="the journal") is True
    assert (tmp_path / "new.json").read_bytes() == b"{}"


def test_append_synced_appends_and_refuses_links_and_fifos(tmp_path: Path) -> None:
    append_synced(tmp_path, "marks", b"one\n", what="the journal")
    append_synced(tmp_path, "marks", b"two\n", what="the journal")
    assert (tmp_path / "marks").read_bytes() == b"one\ntwo\n"
    outside = tmp_path / "outside"
    outside.write_text("")
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(LocalFileError) as caught:
        append_synced(tmp_path, "link", b"x", what="the journal")
    assert "symbolic link" in _one_line(caught.value)
    assert outside.read_text() == ""
    os.mkfifo(tmp_path / "fifo")
    started = time.monotonic()
    with pytest.raises(LocalFileError) as caught:
        append_synced(tmp_path, "fifo", b"x", what="the journal")
    assert time.monotonic() - started < 2
    assert "fifo" in _one_line(caught.value)


# -- folders ------------------------------------------------------------------------------------------------
def test_ensure_folder_below_a_root_refuses_links_on_the_way(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    (project / ".bakepy").symlink_to(elsewhere)
    with pytest.raises(LocalFileError) as caught:
        ensure_folder(project / ".bakepy" / "records", below=project, what="digest records")
    message = _one_line(caught.value)
    assert f"{project / '.bakepy'}: is a symbolic link" in message
    assert list(elsewhere.iterdir()) == []


def test_ensure_folder_below_a_root_makes_each_folder(tmp_path: Path) -> None:
    made = ensure_folder(tmp_path / "a" / "b", below=tmp_path)
    assert made.is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(LocalFileError) as caught:
        ensure_folder(tmp_path / "file", below=tmp_path)
    assert _one_line(caught.value).startswith(f"{tmp_path / 'file'}: is a file, where bakepy keeps")


def test_ensure_folder_named_by_the_user_follows_its_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert ensure_folder(tmp_path / "link") == tmp_path / "link"
    (tmp_path / "file").write_text("")
    with pytest.raises(LocalFileError) as caught:
        ensure_folder(tmp_path / "file")
    assert "is not a folder" in _one_line(caught.value)


def test_check_free_asks_for_room(tmp_path: Path) -> None:
    check_free(tmp_path, what="run files", need=1)
    with pytest.raises(LocalFileError) as caught:
        check_free(tmp_path, what="run files", need=1 << 62, consequence="nothing was built")
    message = _one_line(caught.value)
    assert message.startswith(f"{tmp_path}: cannot write run files: only ")
    assert message.endswith("; nothing was built")


# -- reading ------------------------------------------------------------------------------------------------
def test_read_regular_reads_a_small_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"abc")
    assert read_regular(tmp_path / "a", what="a record", limit=3) == b"abc"


def test_read_regular_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.json")
    started = time.monotonic()
    with pytest.raises(LocalFileError) as caught:
        read_regular(tmp_path / "x.json", what="a record", limit=100)
    assert time.monotonic() - started < 2
    assert _one_line(caught.value).startswith(f"{tmp_path / 'x.json'}: is a named pipe (FIFO)")


def test_read_regular_refuses_a_link_to_dev_zero(tmp_path: Path) -> None:
    (tmp_path / "x.json").symlink_to("/dev/zero")
    with pytest.raises(LocalFileError) as caught:
        read_regular(tmp_path / "x.json", what="a record", limit=100)
    message = _one_line(caught.value)
    assert "is a symbolic link (to '/dev/zero')" in message
    with pytest.raises(LocalFileError) as followed:  # even followed: a device is no regular file
        read_regular(tmp_path / "x.json", what="a record", limit=100, follow=True)
    assert "a character device" in _one_line(followed.value)


def test_read_regular_refuses_a_large_file(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(LocalFileError) as caught:
        read_regular(tmp_path / "big", what="a record", limit=100)
    assert "larger than 100 bytes" in _one_line(caught.value)


def test_list_files_lists_links_and_fifos_but_does_not_follow_folders(tmp_path: Path) -> None:
    (tmp_path / "job1").mkdir()
    (tmp_path / "job1" / "a.json").write_text("{}")
    (tmp_path / "b.json").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "c.json")
    (tmp_path / "other.txt").write_text("")
    assert list_files(tmp_path, ".json", what="records") == [
        tmp_path / "b.json",
        tmp_path / "c.json",
        tmp_path / "job1" / "a.json",
    ]
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "job2").symlink_to(outside)
    with pytest.raises(LocalFileError) as caught:
        list_files(tmp_path, ".json", what="records")
    assert "symbolic link to a folder" in _one_line(caught.value)


# -- OS errors as one line ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "no space left on the device"),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EROFS, "the file system is read-only"),
        (errno.EACCES, "permission denied"),
        (errno.EPERM, "permission denied"),
        (errno.ENOTDIR, "a part of the path is not a folder"),
        (errno.EIO, os.strerror(errno.EIO)),
    ],
)
def test_file_error_says_why_and_the_fix(code: int, words: str) -> None:
    exc = file_error(
        OSError(code, os.strerror(code)),
        Path("/x/.bakepy/records/a.json"),
        "a digest record",
        consequence="no tag was moved",
        elsewhere="name another folder with --records DIR",
    )
    assert isinstance(exc, ConfigError)
    assert _one_line(exc) == (
        f"/x/.bakepy/records/a.json: cannot write a digest record: {words}; no tag was moved"
    )
    assert exc.hint is not None and exc.hint.endswith("--records DIR")


# -- digest records -----------------------------------------------------------------------------------------
def test_records_written_with_a_planted_link_touch_nothing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "bashrc"
    outside.write_text("precious\n")
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "app--linux-amd64.json").symlink_to(outside)
    [path] = write_records(folder, [_record()])
    assert outside.read_text() == "precious\n"
    assert not path.is_symlink()
    assert read_record_files(folder) == [(path, _record())]


def test_the_default_records_folder_may_not_be_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".bakepy").mkdir()
    (tmp_path / ".bakepy" / "records").symlink_to(elsewhere)
    with pytest.raises(LocalFileError) as caught:
        write_records(tmp_path / ".bakepy" / "records", [_record()])
    message = _one_line(caught.value)
    assert "records: is a symbolic link" in message
    assert message.endswith("no tag was moved")
    assert "--records DIR" in str(caught.value.hint)
    assert list(elsewhere.iterdir()) == []


def test_a_records_folder_the_user_named_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "named").symlink_to(real)
    write_records(tmp_path / "named", [_record()])
    assert [p.name for p in real.iterdir()] == ["app--linux-amd64.json"]
    assert len(read_record_files(tmp_path / "named")) == 1


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "big", "link-to-record"])
def test_merge_refuses_hostile_record_files_by_name(tmp_path: Path, kind: str) -> None:
    write_records(tmp_path, [_record()])
    bad = tmp_path / "job" / "evil.json"
    bad.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(bad)
    elif kind == "dev-zero":
        bad.symlink_to("/dev/zero")
    elif kind == "big":
        bad.write_text(json.dumps({"pad": "x" * (2 << 20)}))
    else:
        bad.symlink_to(tmp_path / "app--linux-amd64.json")
    started = time.monotonic()
    with pytest.raises(LocalFileError) as caught:
        read_record_files(tmp_path)
    assert time.monotonic() - started < 2
    assert _one_line(caught.value).startswith(f"{bad}: ")


# -- .bakepy and its run folders ----------------------------------------------------------------------------
def test_workdir_refuses_a_link_and_writes_its_gitignore_once(tmp_path: Path) -> None:
    work = workdir(tmp_path)
    assert (work / ".gitignore").read_text().endswith("*\n")
    (work / ".gitignore").write_text("mine\n")
    workdir(tmp_path)
    assert (work / ".gitignore").read_text() == "mine\n"
    other = tmp_path / "other"
    other.mkdir()
    (other / ".bakepy").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LocalFileError) as caught:
        workdir(other)
    assert _one_line(caught.value).endswith("nothing was built and no tag was moved")
    assert not (tmp_path / "elsewhere").exists()


def test_workdir_does_not_write_a_gitignore_through_a_link(tmp_path: Path) -> None:
    (tmp_path / ".bakepy").mkdir()
    target = tmp_path / "target"
    (tmp_path / ".bakepy" / ".gitignore").symlink_to(target)
    workdir(tmp_path)
    assert not target.exists()


def test_run_directory_is_fresh_private_and_prunes_only_old_folders(tmp_path: Path) -> None:
    work = workdir(tmp_path)
    runs = work / "runs"
    runs.mkdir()
    old = runs / "old"
    old.mkdir()
    journal = runs / "old-with-journal"
    journal.mkdir()
    (journal / "journal.json").write_text("{}")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("")
    (runs / "link").symlink_to(outside)
    for path in (old, journal):
        os.utime(path, (0, 0))
    os.utime(runs / "link", (0, 0), follow_symlinks=False)
    run = run_directory(work)
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert not old.exists()
    assert journal.exists()
    assert (outside / "keep").exists()
    assert run != run_directory(work)


def test_run_directory_refuses_a_runs_link(tmp_path: Path) -> None:
    work = workdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (work / "runs").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LocalFileError):
        run_directory(work)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_an_appender_syncs_only_what_must_survive_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    out = Appender(tmp_path, "marks", what="the journal")
    made = len(synced)
    assert made == 2  # the new file and its folder, once
    out.append(b"sending\n")
    out.append(b"landed\n", durable=False)
    out.append(b"landed\n", durable=False)
    assert len(synced) == made + 1
    out.close()
    out.close()  # twice is harmless
    assert (tmp_path / "marks").read_bytes() == b"sending\nlanded\nlanded\n"
    synced.clear()
    again = Appender(tmp_path, "marks", what="the journal")  # the file exists: no folder sync
    again.append(b"x\n", durable=False)
    again.close()
    assert synced == []
