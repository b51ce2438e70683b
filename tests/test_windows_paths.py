"""Windows paths: video files whose path is not plain ASCII, as OpenCV on Windows meets them
(opencv/opencv#4242), and ``file://`` addresses as Windows paths.

OpenCV's Python bindings give Windows file names in the wrong encoding, so
``C:\\Users\\José\\Videos\\clip.avi`` is not found, or written under a garbled name.
LiveDet hands OpenCV the file's short (8.3) name instead. These tests play Windows on
any machine: ``detector.video`` is told it runs on win32, and its short-name lookup
is replaced by one that makes an ASCII link to the file, as a volume with short names
would have.
"""

from __future__ import annotations

import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector import OutputError, SourceError, h264, video
from detector.video import FrameSource
from detector.video_writer import VideoWriter

from .videos import read_back

SIZE = (160, 120)


@pytest.fixture
def windows(monkeypatch):
    """``detector.video`` believes it runs on Windows; returns the names it asked short names for."""
    monkeypatch.setattr(video, "sys", types.SimpleNamespace(platform="win32"))
    asked: list[str] = []

    def short_names_kept(text: str) -> str:
        asked.append(text)
        short = Path(text).with_name(f"SHORT{len(asked)}~1{Path(text).suffix.upper()}")
        short.symlink_to(Path(text).name)
        return str(short)

    monkeypatch.setattr(video, "_windows_short_path", short_names_kept)
    return asked


@pytest.fixture
def windows_without_short_names(monkeypatch):
    monkeypatch.setattr(video, "sys", types.SimpleNamespace(platform="win32"))
    monkeypatch.setattr(video, "_windows_short_path", lambda text: None)


def _write_clip(path: Path, frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, SIZE)
    for i in range(frames):
        writer.write(np.full((SIZE[1], SIZE[0], 3), 20 * i, np.uint8))
    writer.release()


def _record(path: Path, frames: int) -> Path:
    writer = VideoWriter(path, 10.0, SIZE)
    for i in range(frames):
        writer.write(np.full((SIZE[1], SIZE[0], 3), 20 * i, np.uint8))
    writer.close()
    return writer.path


def test_a_video_in_a_folder_named_outside_ascii_is_read_through_its_short_name(windows, tmp_path):
    clip = tmp_path / "José" / "Straße 東京.avi"
    clip.parent.mkdir()
    _write_clip(clip, 7)
    with FrameSource(str(clip)) as source:
        assert source.info.frame_count == 7 and len(list(source)) == 7
    assert windows == [str(clip)]


@pytest.mark.parametrize("name, opencv_encodes_mp4", [("Straße.avi", False), ("Straße.mp4", True)],
                         ids=["avi", "mp4-without-h264"])
def test_a_recording_named_outside_ascii_lands_under_its_own_name(windows, tmp_path, monkeypatch, name,
                                                                   opencv_encodes_mp4):
    if opencv_encodes_mp4:  # MP4 segments then come from OpenCV, into hidden files beside the target
        monkeypatch.setattr(h264, "can_encode", lambda: False)
    written = _record(tmp_path / name, 12)
    assert written == tmp_path / name and read_back(written).frames == 12
    assert windows, "OpenCV was handed the name outside ASCII"
    assert {p.name for p in tmp_path.iterdir() if not p.is_symlink()} == {name}  # no segment or stray file left


def test_without_short_names_a_video_named_outside_ascii_gets_the_reason_not_corrupt(windows_without_short_names,
                                                                                    tmp_path):
    clip = tmp_path / "Straße.avi"
    clip.write_bytes(b"what OpenCV sees when the name reaches it garbled")
    with pytest.raises(SourceError, match="characters outside ASCII .*plain ASCII"):
        FrameSource(str(clip))


def test_without_short_names_recording_refuses_clearly_and_mp4_still_records(windows_without_short_names,
                                                                             tmp_path):
    with pytest.raises(OutputError, match="outside ASCII .*plain ASCII"):
        VideoWriter(tmp_path / "Straße.avi", 10.0, SIZE)
    assert list(tmp_path.iterdir()) == []  # nothing written under any name
    if not h264.can_encode():
        pytest.skip("H.264 through PyAV is not available here")
    assert read_back(_record(tmp_path / "Straße.mp4", 12)).frames == 12  # PyAV writes the file, not OpenCV


def test_file_addresses_become_windows_paths(monkeypatch):
    """file:///C:/… is a drive path and file://server/share/… a network (UNC) path, as Windows' own
    address conversion gives them; a drive part it cannot read is a clear error, not a crash."""
    import nturl2path

    monkeypatch.setattr(video, "sys", types.SimpleNamespace(platform="win32"))
    monkeypatch.setattr(video, "url2pathname", nturl2path.url2pathname)
    assert video.local_path_of("file:///C:/Users/Jos%C3%A9/My%20Clip.mp4") == "C:\\Users\\José\\My Clip.mp4"
    assert video.local_path_of("file://nas/videos/clip.mp4") == "\\\\nas\\videos\\clip.mp4"
    with pytest.raises(SourceError, match="not a file address"):
        video.local_path_of("file:///1:/clip.mp4")
