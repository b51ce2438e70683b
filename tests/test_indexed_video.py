"""Variable-frame-rate files (a browser's or screen recorder's): counted and sought by their frames' own times."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detector.video import capture_info, open_capture

from .videos import box_position, write_moving_box_video, write_variable_rate_video, write_video_cut_mid_stream

# moving fast, then a still of 0.9 s and one of 2.5 s, then uneven: 29 frames (a picture tells all 30 apart)
GAPS_MS = [40] * 12 + [900, 40, 40, 2500] + [50, 100, 300] * 4


@pytest.mark.parametrize("container, codec, suffix", [
    ("matroska", "mpeg4", ".mkv"),
    ("webm", "libvpx-vp9", ".webm"),  # what browsers record
    ("matroska", "libx264", ".mkv"),  # B-frames: decoded out of the order they are shown in
], ids=["mkv-mpeg4", "webm-vp9", "mkv-h264"])
def test_a_variable_rate_file_counts_its_frames_and_every_seek_lands_on_the_frame_asked_for(
        tmp_path, container, codec, suffix):
    """OpenCV counted such a file's duration times its nominal rate (the position bar ran to 174 for its 29
    frames) and sought by that time: a seek landed on the frame before the one asked for, or found none at all
    past a still."""
    clip = write_variable_rate_video(tmp_path / f"screen{suffix}", GAPS_MS, container=container, codec=codec)
    times_ms = np.cumsum([0, *GAPS_MS])
    video = open_capture(str(clip))
    try:
        info = capture_info(video, "video", clip.name, clip)
        assert info.frame_count == len(times_ms) and info.variable_rate and info.fps == 30
        read, at_ms = [], []
        while True:
            ok, frame = video.read()
            if not ok:
                break
            read.append(box_position(frame))
            at_ms.append(video.get(cv2.CAP_PROP_POS_MSEC))
        assert read == list(range(len(times_ms)))
        assert at_ms == [pytest.approx(t, abs=1) for t in times_ms]
        for target in (len(times_ms) - 1, 13, 0, 16, 15, 5, 22, 12):  # after stills and before, back and forth
            assert video.set(cv2.CAP_PROP_POS_FRAMES, target)
            ok, frame = video.read()
            assert ok and box_position(frame) == target, target
            assert video.get(cv2.CAP_PROP_POS_MSEC) == pytest.approx(times_ms[target], abs=1)
            ok, frame = video.read()  # and plays on from there
            assert ok == (target + 1 < len(times_ms)) and (not ok or box_position(frame) == target + 1)
        video.set(cv2.CAP_PROP_POS_FRAMES, len(times_ms))  # past the end: nothing, as OpenCV says
        assert video.read()[0] is False
    finally:
        video.release()


def test_a_constant_rate_file_is_counted_and_played_as_before(tmp_path):
    """A Matroska file at its stated rate: 40 frames, every one read once, in order."""
    clip = write_moving_box_video(tmp_path / "steady.mkv", 40, container="matroska", codec="mpeg4", fps=30)
    video = open_capture(str(clip))
    try:
        info = capture_info(video, "video", clip.name, clip)
        assert info.frame_count == 40 and not info.variable_rate
        shown = []
        while (frame := video.read())[0]:
            shown.append(box_position(frame[1]))
        assert shown == [i % 30 for i in range(40)]
    finally:
        video.release()


def test_a_browsers_webm_written_without_its_duration_is_counted_and_sought_by_its_frames(tmp_path):
    """Chrome's MediaRecorder writes WebM without a duration: OpenCV knew no frame count (the bar showed "frame
    N" and could not seek)."""
    clip = write_variable_rate_video(tmp_path / "meeting.webm", GAPS_MS, container="webm", codec="libvpx",
                                     nominal_fps=1000, options={"live": "1"})
    video = open_capture(str(clip))
    try:
        info = capture_info(video, "video", clip.name, clip)
        assert info.frame_count == len(GAPS_MS) + 1 and info.fps == 30  # (1000 "FPS" is its time unit)
        for target in (20, 3, 28):
            video.set(cv2.CAP_PROP_POS_FRAMES, target)
            assert box_position(video.read()[1]) == target
    finally:
        video.release()


def test_a_portrait_video_is_played_upright(tmp_path):
    """A phone's portrait video stores landscape pixels and a rotation; OpenCV turns it upright, and so must
    every reader (people lying on their side are missed)."""
    clip = write_variable_rate_video(tmp_path / "portrait.mkv", GAPS_MS, container="matroska", codec="libx264",
                                     rotation=90)
    video = open_capture(str(clip))
    try:
        assert video.read()[1].shape == (320, 240, 3)
    finally:
        video.release()



def test_stills_late_in_a_screen_recording_are_found_and_sought_exactly(tmp_path):
    """A recording that starts with 4 s of motion at its nominal rate and stands still later: only its first
    120 frames were looked at, taken for a constant rate, and OpenCV counted it as 1,030 for its 141 frames."""
    gaps_ms = [33] * 125 + [3000] * 10 + [33] * 5
    clip = write_variable_rate_video(tmp_path / "demo.mkv", gaps_ms)
    video = open_capture(str(clip))
    try:
        assert capture_info(video, "video", clip.name, clip).frame_count == 141
        video.set(cv2.CAP_PROP_POS_FRAMES, 134)
        assert box_position(video.read()[1]) == 134 % 30
    finally:
        video.release()


def test_a_screen_recording_cut_from_its_middle_plays_from_its_first_keyframe(tmp_path):
    """Its first packets gone, nothing decodes before the next keyframe: OpenCV said it "holds no decodable
    frames". Indexed from that keyframe on, it is whole: 37 frames counted, 37 read, every one sought exactly."""
    gaps_ms = ([40] * 12 + [900, 40, 40, 2500] + [50, 100, 300] * 4) * 2
    clip = write_video_cut_mid_stream(tmp_path / "from-the-middle.mkv", len(gaps_ms) + 1, keyframe_every=20, cut=3,
                                      container="matroska", gaps_ms=gaps_ms)
    video = open_capture(str(clip))
    try:
        assert capture_info(video, "video", clip.name, clip).frame_count == 37
        shown = []
        while (frame := video.read())[0]:
            shown.append(box_position(frame[1]))
        assert shown == [index % 30 for index in range(20, 57)]
        video.set(cv2.CAP_PROP_POS_FRAMES, 30)
        assert box_position(video.read()[1]) == 50 % 30
    finally:
        video.release()


def test_without_pyav_a_variable_rate_file_still_plays_through_opencv(tmp_path, monkeypatch):
    """A bundle without PyAV (its recordings fall back to mp4v) failed every MKV and WebM: "No module named 'av'"."""
    import sys

    from detector import indexed_video

    clip = write_variable_rate_video(tmp_path / "screen.mkv", GAPS_MS)
    indexed_video._index_of.cache_clear()
    monkeypatch.setitem(sys.modules, "av", None)  # import av: ImportError
    video = open_capture(str(clip))
    try:
        frames = 0
        while video.read()[0]:
            frames += 1
    finally:
        video.release()
        indexed_video._index_of.cache_clear()
    assert frames == len(GAPS_MS) + 1


def test_a_signed_web_link_to_a_webm_is_known_by_its_path_not_its_query():
    """``…/meeting.webm?X-Amz-Signature=…``: its suffix read as ".webm?X-Amz-Signature=…", so the 1000 a WebM
    states (its clock) was taken for its frame rate, and 100 frames became 0.1 s of video."""
    from detector.video import _rate_is_a_time_unit

    assert _rate_is_a_time_unit(1000.0, "https://cdn.example.com/meeting.webm?X-Amz-Signature=abc123&x=1.avi")
    assert not _rate_is_a_time_unit(1000.0, "https://cdn.example.com/slow-motion.avi?token=a.webm")
    assert _rate_is_a_time_unit(1000.0, "screen.MKV") and not _rate_is_a_time_unit(1000.0, "camera.avi")
