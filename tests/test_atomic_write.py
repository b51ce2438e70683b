"""A file rewritten whole or not at all, with the permissions any other file gets."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from detector.atomic_write import written_whole


def test_a_failed_write_keeps_the_earlier_file_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "best.safetensors"
    target.write_bytes(b"epoch 1")
    with pytest.raises(KeyboardInterrupt):
        with written_whole(target) as part:
            part.write_bytes(b"epoch 2, half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"epoch 1" and os.listdir(tmp_path) == ["best.safetensors"]
    with written_whole(target) as part:
        part.write_bytes(b"epoch 2")
    assert target.read_bytes() == b"epoch 2" and os.listdir(tmp_path) == ["best.safetensors"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_the_file_gets_the_usual_permissions(tmp_path):
    """A snapshot on a shared folder must be readable by others as any saved file is (umask 022: 0644)."""
    old = os.umask(0o022)
    try:
        with written_whole(tmp_path / "shot.png") as part:
            part.write_bytes(b"png")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shot.png").stat().st_mode) == 0o644
