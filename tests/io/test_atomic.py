"""The atomic writer: results appear whole or not at all, and only regular files are replaced."""

from __future__ import annotations

import os

import pytest

from retinacodec import RetinaCodecError
from retinacodec.io.atomic import atomic_destination


def test_the_file_appears_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "out" / "result.nc"
    with pytest.raises(ZeroDivisionError), atomic_destination(target) as tmp:
        tmp.write_text("half")
        1 / 0
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    with atomic_destination(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".nc"
        tmp.write_text("whole")
    assert target.read_text() == "whole" and [p.name for p in target.parent.iterdir()] == ["result.nc"]


def test_a_regular_file_is_replaced(tmp_path):
    target = tmp_path / "result.nc"
    target.write_text("old")
    with atomic_destination(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_a_folder_is_never_replaced(tmp_path):
    folder = tmp_path / "results"
    (folder / "keep").mkdir(parents=True)
    with pytest.raises(RetinaCodecError, match="is a folder; expected the path of a file"), atomic_destination(folder):
        pass
    assert (folder / "keep").is_dir()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_or_device_is_never_replaced(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(RetinaCodecError, match="not a regular file"), atomic_destination(pipe):
        pass
    assert not pipe.is_file() and pipe.exists()
    with pytest.raises(RetinaCodecError, match="not a regular file"), atomic_destination("/dev/null"):
        pass


def test_a_path_under_a_file_gives_one_clear_error(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(RetinaCodecError, match=r"cannot write .*plain/result.nc: .*plain is a file, not a folder"):
        with atomic_destination(tmp_path / "plain" / "result.nc"):
            pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_folder_you_cannot_write_gives_one_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(RetinaCodecError, match="expected a folder you can write"), atomic_destination(locked / "r.nc"):
        pass
