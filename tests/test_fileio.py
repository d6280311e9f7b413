"""Atomic writes (tumordyn._fileio.atomic_write): complete new file or the old one, never a partial file."""

import os

import pytest

from tumordyn._fileio import atomic_write


def test_bytes_text_and_writer_are_written(tmp_path):
    atomic_write(tmp_path / "a.bin", b"\x00\x01")
    atomic_write(tmp_path / "sub" / "b.txt", "héllo")  # the directory is created
    atomic_write(tmp_path / "c.txt", lambda tmp: open(tmp, "w").write("from writer"), durable=False)
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "héllo"
    assert (tmp_path / "c.txt").read_text() == "from writer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "c.txt", "sub"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.toml"
    target.write_text("old content")
    os.chmod(target, 0o600)

    def boom(tmp):
        open(tmp, "w").write("partial")
        raise ValueError("the writer failed")

    with pytest.raises(ValueError, match="writer failed"):
        atomic_write(target, boom)
    with pytest.raises(OSError, match="nothing was written"):
        atomic_write(target, lambda tmp: None)
    assert target.read_text() == "old content"
    assert [p.name for p in tmp_path.iterdir()] == ["model.toml"]
    atomic_write(target, "new")
    assert target.read_text() == "new" and (os.stat(target).st_mode & 0o777) == 0o600  # permissions kept


def test_a_directory_is_never_replaced(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="not a regular file"):
        atomic_write(tmp_path / "d", b"x")
    assert (tmp_path / "d").is_dir()
