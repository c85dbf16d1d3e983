"""Atomic writes: flushed to disk, never half a file, stale temporary files cleared, unwritable paths told early."""

import errno
import os

import pytest

from deltaprop import files


def test_atomic_write_flushes_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd))[1])
    files.write_text(tmp_path / "a.txt", "hello")
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert len(synced) == 2 and synced[0].endswith(".tmp") and synced[1] == str(tmp_path)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(files.WriteError) as caught:
        files.write_text(tmp_path / "a.txt", "new")
    assert str(caught.value) == f"could not write {tmp_path / 'a.txt'}: No space left on device; it was left as it was"
    assert (tmp_path / "a.txt").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_temporary_files_of_a_killed_write_are_cleared_by_the_next_write(tmp_path):
    for stale in ("a.txt.k3j2h1.tmp", "a.txt.zz9.tmp"):
        (tmp_path / stale).write_text("half")
    (tmp_path / "b.txt.q1.tmp").write_text("another file's")
    files.write_text(tmp_path / "a.txt", "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt.q1.tmp"]


def test_writable_tells_a_directory_a_file_in_the_way_and_a_folder_that_refuses(tmp_path):
    deeper = tmp_path / "new" / "deeper" / "m.safetensors"
    with pytest.raises(files.WriteError, match="there is no folder .*deeper; create it"):
        files.writable(deeper)  # a missing folder is a mistyped path, not a request to create it
    assert files.writable(deeper, new_folder=True) == deeper  # the caller creates the folder
    assert not (tmp_path / "new").exists()  # it creates nothing
    with pytest.raises(files.WriteError, match="it is a directory; name a file"):
        files.writable(tmp_path)
    (tmp_path / "plain").write_text("")
    with pytest.raises(files.WriteError, match="plain is a file, not a folder"):
        files.writable(tmp_path / "plain" / "m.safetensors", new_folder=True)
    with pytest.raises(files.WriteError, match="cannot write /sys/m.safetensors: Permission denied in /sys"):
        files.writable("/sys/m.safetensors")  # sysfs takes no new file, even from root
    assert os.listdir(tmp_path) == ["plain"]
