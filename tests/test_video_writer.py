"""The annotated-video writer under faults: killed mid-recording, a folder it cannot write, a full disk.

Pure (no Qt). Frames are synthetic, each marked with its index, so a read-back
shows both how many frames survived and that they are the right ones in order.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from detector import h264, video_writer
from detector.errors import OutputError
from detector.video import VIDEO_SUFFIXES
from detector.video_writer import VideoWriter

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZE = (320, 240)  # (width, height)
FPS = 10.0  # 1-s segments of 10 frames


def frame(i: int) -> np.ndarray:
    """A frame that says its index in a way lossy compression keeps: 8 black or white blocks, one per bit."""
    image = np.full((SIZE[1], SIZE[0], 3), 90 + (i * 7) % 80, np.uint8)
    for bit in range(8):
        if i >> bit & 1:
            image[:40, bit * 40:(bit + 1) * 40] = 255
        else:
            image[:40, bit * 40:(bit + 1) * 40] = 0
    cv2.putText(image, str(i), (40, 180), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
    return image


def frame_index(image: np.ndarray) -> int:
    return sum(1 << bit for bit in range(8) if image[8:32, bit * 40 + 8:bit * 40 + 32].mean() > 128)


def read_back(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"OpenCV cannot open {path}"
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def assert_first_frames(path: Path, count: int) -> None:
    """``path`` plays exactly frames 0 .. count-1, full size, in order."""
    frames = read_back(path)
    assert len(frames) == count, (len(frames), count)
    assert all(f.shape == (SIZE[1], SIZE[0], 3) for f in frames)
    assert [frame_index(f) for f in frames] == list(range(count))




class FillingDisk:
    """The user's file on a disk with room for ``growths`` writes that grow it; the next is cut short, then ENOSPC.

    A short write followed by ENOSPC is what a real file system does when it fills up;
    rewriting bytes the file already has needs no new space and still works.
    """

    def __init__(self, file, growths: int) -> None:
        self._file, self._left = file, growths
        self.size_before_full: int | None = None

    def write(self, data) -> int:
        end = os.fstat(self._file.fileno()).st_size
        if self._file.tell() + len(data) <= end:
            return self._file.write(data)
        if self._left > 0:
            self._left -= 1
            return self._file.write(data)
        if self.size_before_full is None:
            self.size_before_full = end
            return self._file.write(bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._file, name)


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
def test_a_detections_log_on_a_disk_that_fills_up_ends_on_a_whole_line(tmp_path):
    """The disk filled in the middle of a line: the log's last line was half a JSON object, which readers choke on.
    A file-size limit (RLIMIT_FSIZE) fails writes past it the way a full disk does, part of a write first."""
    script = textwrap.dedent(f"""
        import resource, signal
        import numpy as np
        from detector.errors import OutputError
        from detector.outputs import JsonlWriter
        from detector.types import Detections
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        boxes = Detections(boxes=np.array([[1, 2, 30, 40]] * 50, np.float32), scores=np.full(50, 0.5, np.float32),
                           class_ids=np.zeros(50, np.int64), class_names=("person",))
        log = JsonlWriter(__import__("pathlib").Path({str(tmp_path / "log.jsonl")!r}))
        try:
            for i in range(1000):
                log.write(i, "vtest.avi", boxes)
        except OutputError as exc:
            print("stopped:", exc)
        finally:
            log.close()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "stopped: cannot write" in done.stdout, done.stdout + done.stderr
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(lines) > 3
    assert [json.loads(line)["frame"] for line in lines] == list(range(len(lines)))


@pytest.fixture(params=["avc1", "mp4v"])
def mp4_codec(request, monkeypatch) -> str:
    """Both MP4 encoders: H.264 through PyAV (the default), and OpenCV's mp4v (a machine without PyAV)."""
    if request.param == "avc1":
        if not h264.can_encode():
            pytest.skip("PyAV with libx264 is not installed (pip install av)")
    else:
        monkeypatch.setattr(h264, "av", None)
    return request.param


def without_pyav(codec: str) -> str:
    """The line a child process runs first to get ``codec``."""
    return "import detector.h264; detector.h264.av = None" if codec == "mp4v" else "pass"


@pytest.mark.parametrize("suffix", sorted(VIDEO_SUFFIXES))
def test_every_video_suffix_offered_gets_a_file_of_that_kind_with_every_frame(tmp_path, suffix, capfd):
    target = tmp_path / f"annotated{suffix}"
    with VideoWriter(target, FPS, SIZE) as writer:
        for i in range(25):
            writer.write(frame(i))
    assert writer.path == target, f"asked for {target.name}, got {writer.path.name}"
    assert [frame_index(image) for image in read_back(target)] == list(range(25))
    # and without OpenCV's "tag … is not supported" notice (WebM, MPEG, TS, FLV), read as a failed recording
    assert capfd.readouterr().err == ""


def test_other_lines_written_to_stderr_while_a_notice_is_dropped_are_kept(capfd):
    import re

    from detector.native_stderr import dropping_lines

    with dropping_lines(re.compile(rb"^OpenCV: FFMPEG: tag")):
        os.write(2, b"OpenCV: FFMPEG: tag 0x30385056/'VP80' is not supported\nanother thread's log line\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "another thread's log line\nafter\n"


def test_an_mp4_recording_is_h264_which_browsers_and_phones_play(tmp_path):
    if not h264.can_encode():
        pytest.skip("PyAV with libx264 is not installed (pip install av)")
    target = tmp_path / "clip.mp4"
    with VideoWriter(target, FPS, SIZE) as writer:
        for i in range(15):
            writer.write(frame(i))
    capture = cv2.VideoCapture(str(target))
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().lower()
    capture.release()
    assert writer.codec == "avc1" and fourcc in ("avc1", "h264")
    assert_first_frames(target, 15)


def test_an_hd_recording_says_which_colour_matrix_its_pixels_are_in(tmp_path):
    """The encoder converts by BT.601's matrix and the file said nothing: Windows reads an unmarked picture
    over 576 lines by BT.709's, and a 720p camera's pure green came out (0, 215, 0), its red with some green."""
    if not h264.can_encode():
        pytest.skip("PyAV with libx264 is not installed (pip install av)")
    import av

    picture = np.zeros((720, 1280, 3), np.uint8)
    picture[:, :640] = (0, 255, 0)
    picture[:, 640:] = (0, 0, 255)
    target = tmp_path / "hd.mp4"
    with VideoWriter(target, 30, (1280, 720)) as writer:
        for _ in range(3):
            writer.write(picture)
    with av.open(str(target)) as container:
        context = container.streams.video[0].codec_context
        first = next(container.decode(video=0))
        assert (context.colorspace, context.color_primaries, context.color_trc) == (6, 1, 1)  # SMPTE 170M = BT.601
        assert first.colorspace == 6  # what a decoder reads from the picture's own header
        played = first.to_ndarray(format="bgr24")  # FFmpeg honours the tag: the colours come back
    assert np.abs(played[360, 320].astype(int) - (0, 255, 0)).max() <= 4
    assert np.abs(played[360, 960].astype(int) - (0, 0, 255)).max() <= 4


@pytest.mark.parametrize("seconds_per_frame", [1200, 3000])
def test_a_slideshow_of_a_frame_every_few_minutes_is_recorded_at_its_own_pace(tmp_path, seconds_per_frame):
    """A slideshow's rate, 1/1200 FPS, came out 1/1001 (its hour of video 50 minutes long), and at 1/3000 FPS
    the encoder failed with ZeroDivisionError and no file."""
    if not h264.can_encode():
        pytest.skip("PyAV with libx264 is not installed (pip install av)")
    import av

    target = tmp_path / "slides.mp4"
    with VideoWriter(target, 1 / seconds_per_frame, SIZE) as writer:
        for i in range(3):
            writer.write(frame(i))
    assert writer.codec == "avc1"
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        decoded = [(f.time, frame_index(f.to_ndarray(format="bgr24"))) for f in container.decode(stream)]
    assert decoded == [(0.0, 0), (float(seconds_per_frame), 1), (2.0 * seconds_per_frame, 2)]


def test_a_recording_of_an_odd_sized_video_is_still_h264_and_keeps_every_pixel(tmp_path):
    """A screen capture or a cropped clip can be 319x239; H.264's 4:2:0 needs even sides."""
    if not h264.can_encode():
        pytest.skip("PyAV with libx264 is not installed (pip install av)")
    odd = (SIZE[0] - 1, SIZE[1] - 1)
    target = tmp_path / "odd.mp4"
    originals = [frame(i)[:odd[1], :odd[0]] for i in range(15)]
    with VideoWriter(target, FPS, odd) as writer:
        for image in originals:
            writer.write(image)
    frames = read_back(target)
    assert writer.codec == "avc1"
    assert [f.shape for f in frames] == [(SIZE[1], SIZE[0], 3)] * 15  # one repeated edge row and column
    assert [frame_index(f) for f in frames] == list(range(15))
    for original, played in zip(originals, frames):
        difference = np.abs(played[:odd[1], :odd[0]].astype(int) - original).mean()
        assert difference < 6, difference  # the picture itself, not a resampled one


@pytest.mark.parametrize("suffix", sorted(VIDEO_SUFFIXES))
def test_an_odd_sized_video_comes_out_the_same_size_in_every_container(tmp_path, suffix):
    """641x479 came out 642x480 as H.264 MP4 but 640x478 as AVI, MKV or WebM (OpenCV's encoders cut the last
    row and column off): every kind now keeps every pixel, one edge row and column repeated."""
    odd = (SIZE[0] - 1, SIZE[1] - 1)
    target = tmp_path / f"odd{suffix}"
    with VideoWriter(target, FPS, odd) as writer:
        for i in range(12):
            writer.write(frame(i)[:odd[1], :odd[0]])
    frames = read_back(target)
    assert [f.shape for f in frames] == [(SIZE[1], SIZE[0], 3)] * 12
    assert [frame_index(f) for f in frames] == list(range(12))


def test_a_finished_recording_has_every_frame_and_leaves_nothing_beside_it(tmp_path, mp4_codec):
    target = tmp_path / "clip.mp4"
    with VideoWriter(target, FPS, SIZE) as writer:
        for i in range(25):
            writer.write(frame(i))
    assert writer.path == target and writer.codec == mp4_codec and writer.frames_written == 25
    assert_first_frames(target, 25)
    capture = cv2.VideoCapture(str(target))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 25  # the duration is in the header
    capture.set(cv2.CAP_PROP_POS_FRAMES, 17)
    ok, image = capture.read()
    capture.release()
    assert ok and frame_index(image) == 17  # seeking lands on the right frame
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # the hidden segment file is gone


# The child imports detector.video, quick: the package's __init__ imports torch only when asked to.
CHILD_IMPORTS = """
    import sys
    sys.path[:0] = [{root!r}, {tests!r}]
    {setup}
    from test_video_writer import FPS, SIZE, frame
"""

KILLED_WRITER = textwrap.dedent(CHILD_IMPORTS + """
    import os, signal
    from detector.video import VIDEO_SUFFIXES
    from detector.video_writer import VideoWriter
    writer = VideoWriter({target!r}, FPS, SIZE)
    for i in range({frames}):
        writer.write(frame(i))
    print("wrote", writer.frames_written, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit, no finally: like a crash or kill -9
""")


def test_a_finished_recording_states_its_length_before_its_fragments(tmp_path, mp4_codec):
    """A player that shows the length before reading the whole file (a browser, a phone streaming it) reads it
    from the header's ``mehd`` box: two seconds recorded must say two seconds there, not zero."""
    import struct

    target = tmp_path / "clip.mp4"
    with VideoWriter(target, FPS, SIZE) as writer:
        for i in range(round(2 * FPS)):
            writer.write(frame(i))
    data = target.read_bytes()
    mvhd = data.index(b"mvhd") + 4
    timescale = struct.unpack(">I", data[mvhd + (20 if data[mvhd] == 1 else 12):][:4])[0]
    mehd = data.index(b"mehd") + 4
    duration = struct.unpack(">Q" if data[mehd] == 1 else ">I", data[mehd + 4:][:8 if data[mehd] == 1 else 4])[0]
    assert duration / timescale == pytest.approx(2.0, abs=1 / FPS)


def test_a_killed_recording_plays_up_to_the_last_second(tmp_path, mp4_codec):
    target = tmp_path / "killed.mp4"
    code = KILLED_WRITER.format(root=str(REPO_ROOT), tests=str(REPO_ROOT / "tests"), setup=without_pyav(mp4_codec),
                                target=str(target), frames=65)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "wrote 65" in result.stdout
    # 65 frames = 6 whole 1-s segments in the file + 5 frames still in the encoder when killed
    assert_first_frames(target, 60)


def test_the_next_recording_removes_what_a_killed_one_left_hidden_but_not_a_live_ones(tmp_path, mp4_codec):
    """mp4v encodes each segment in a hidden file; a kill leaves it behind, unplayable and unseen."""
    code = KILLED_WRITER.format(root=str(REPO_ROOT), tests=str(REPO_ROOT / "tests"), setup=without_pyav("mp4v"),
                                target=str(tmp_path / "killed.mp4"), frames=15)
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).returncode == -signal.SIGKILL
    orphaned = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(orphaned) == 1 and orphaned[0].stat().st_size > 0  # the half-encoded second segment
    live_writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # a segment another running LiveDet is still encoding
        in_use = tmp_path / f".other.mp4.{live_writer.pid}.segment.mp4"
        in_use.write_bytes(b"still being written")
        with VideoWriter(tmp_path / "next.mp4", FPS, SIZE) as writer:
            for i in range(12):
                writer.write(frame(i))
        assert not orphaned[0].exists()
        assert in_use.read_bytes() == b"still being written"
    finally:
        live_writer.kill()
        live_writer.wait()
    assert_first_frames(tmp_path / "next.mp4", 12)
    assert_first_frames(tmp_path / "killed.mp4", 10)  # what was recorded before the kill is kept


class WriteLog:
    """The user's file, with every write logged as (offset, bytes), to rebuild it as it was at any moment."""

    def __init__(self, file) -> None:
        self._file, self.writes = file, []

    def write(self, data) -> int:
        self.writes.append((self._file.tell(), bytes(data)))
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)


def test_a_kill_in_the_middle_of_appending_a_fragment_loses_only_that_fragment(tmp_path, monkeypatch, mp4_codec):
    """A kill can cut a write short anywhere, even inside the fragment's header: the file must still open."""
    logs: list[WriteLog] = []

    def logged(self, target):
        logs.append(WriteLog(open(target, "wb", buffering=0)))
        return logs[-1]

    monkeypatch.setattr(VideoWriter, "_open_output", logged)
    with VideoWriter(tmp_path / "whole.mp4", FPS, SIZE) as writer:
        for i in range(40):
            writer.write(frame(i))
    writes = logs[0].writes
    last = max(i for i, (_, data) in enumerate(writes) if len(data) > 1000)  # the fourth fragment

    def file_as_it_was(upto: int, cut: int) -> bytes:
        """The file after writes[:upto] and the first ``cut`` bytes of writes[upto]."""
        content = bytearray()
        for offset, data in writes[:upto] + [(writes[upto][0], writes[upto][1][:cut])]:
            content[offset:offset + len(data)] = data
        return bytes(content)

    size = len(writes[last][1])
    moments = [(last, cut) for cut in (4, 8, 20, 40, 44, 60, 100, 150, 250, size // 2, size - 1, size)]
    moments.append((last + 1, 0))  # the whole fragment written, not yet marked as one
    for upto, cut in moments:
        cut_file = tmp_path / f"cut-{upto}-{cut}.mp4"
        cut_file.write_bytes(file_as_it_was(upto, cut))
        frames = read_back(cut_file)
        assert [frame_index(f) for f in frames] == list(range(30)), (upto, cut)
    assert_first_frames(tmp_path / "whole.mp4", 40)


def test_a_folder_that_cannot_be_written_is_refused_before_any_frame(tmp_path, unwritable_folder):
    with pytest.raises(OutputError, match="cannot write|not writable"):
        VideoWriter(unwritable_folder / "clip.mp4", FPS, SIZE)
    with pytest.raises(OutputError, match="folder does not exist"):
        VideoWriter(tmp_path / "missing" / "clip.mp4", FPS, SIZE)
    assert not (tmp_path / "missing").exists()


def test_a_disk_that_fills_up_stops_the_writer_with_a_clear_error_and_keeps_what_was_written(tmp_path, monkeypatch,
                                                                                            mp4_codec):
    disks: list[FillingDisk] = []

    def filling(self, target):
        disks.append(FillingDisk(open(target, "wb", buffering=0), growths=3))  # 3 fragments
        return disks[-1]

    monkeypatch.setattr(VideoWriter, "_open_output", filling)
    target = tmp_path / "full.mp4"
    writer = VideoWriter(target, FPS, SIZE)
    with pytest.raises(OutputError, match="disk full") as failure:
        for i in range(60):
            writer.write(frame(i))
    assert i == 39  # the fourth segment was the one that did not fit
    assert "first 3.0 s are saved" in str(failure.value)
    with pytest.raises(OutputError, match="disk full"):
        writer.write(frame(40))  # and it stays stopped
    writer.close()
    writer.close()
    assert writer.frames_written == 30
    assert target.stat().st_size == disks[0].size_before_full  # the half-written fragment was cut off
    assert_first_frames(target, 30)
    assert [p.name for p in tmp_path.iterdir()] == ["full.mp4"]


def test_a_disk_full_before_the_first_second_leaves_no_empty_file(tmp_path, monkeypatch, mp4_codec):
    monkeypatch.setattr(VideoWriter, "_open_output",
                        lambda self, target: FillingDisk(open(target, "wb", buffering=0), growths=0))
    writer = VideoWriter(tmp_path / "none.mp4", FPS, SIZE)
    for i in range(5):
        writer.write(frame(i))
    with pytest.raises(OutputError, match="disk full.*nothing was saved"):
        writer.close()  # the first segment is appended at close, and does not fit
    assert writer.frames_written == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".avi", ".mkv"])
def test_a_file_opencv_writes_whole_stops_before_the_disk_is_full_and_keeps_its_index(tmp_path, monkeypatch,
                                                                                       suffix):
    """OpenCV reports no write error: on a full disk an AVI or MKV recording said "saved", and the file had no
    index (no frame count, no duration). It now stops while there is room to finish the file."""
    target = tmp_path / f"full{suffix}"
    disk = SimpleNamespace(writer=None, frames_room=None)  # the disk fills as frames are handed over

    def usage(_folder):
        written = disk.writer.frames_written if disk.writer is not None else 0
        free = (10**9 if disk.frames_room is None else
                video_writer.DISK_RESERVE_BYTES + (disk.frames_room - written) * 1000 - 1)
        return SimpleNamespace(total=10**9, used=0, free=max(0, free))

    monkeypatch.setattr(video_writer.shutil, "disk_usage", usage)
    writer = disk.writer = VideoWriter(target, FPS, SIZE)
    disk.frames_room = 25  # past 25 frames, less than the reserve is left
    with pytest.raises(OutputError, match=r"disk nearly full: 8 MB left on the device for full.*, kept for its index "
                                          r"\(the first 3\.0 s are saved\)"):
        for i in range(100):
            writer.write(frame(i))
    assert writer.frames_written == 30  # checked once a second (10 frames)
    with pytest.raises(OutputError, match="disk nearly full"):
        writer.write(frame(100))  # and it stays stopped
    writer.close()
    assert_first_frames(target, writer.frames_written)
    capture = cv2.VideoCapture(str(target))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) > 0  # its index was written: players know its length
    capture.release()

    disk.writer, disk.frames_room = None, -10**6  # full from the start: refused, and no empty file left behind
    with pytest.raises(OutputError, match="nothing was saved"):
        VideoWriter(tmp_path / f"none{suffix}", FPS, SIZE)
    assert not (tmp_path / f"none{suffix}").exists()


REAL_LIMIT_WRITER = textwrap.dedent(CHILD_IMPORTS + """
    import json, resource, signal
    from detector.errors import OutputError
    from detector.video import VIDEO_SUFFIXES
    from detector.video_writer import VideoWriter
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    writer = VideoWriter({target!r}, FPS, SIZE)
    error = None
    try:
        for i in range(200):
            writer.write(frame(i))
    except OutputError as exc:
        error = str(exc)
    writer.close()
    print(json.dumps({{"error": error, "frames": writer.frames_written}}))
""")


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file size limits")
def test_a_real_write_failure_from_the_os_keeps_the_file_playable(tmp_path, mp4_codec):
    """No monkeypatching: the kernel refuses to grow the file past RLIMIT_FSIZE, mid-fragment."""
    target = tmp_path / "limited.mp4"
    limit = {"avc1": 20_000, "mp4v": 60_000}[mp4_codec]  # a few seconds of each (H.264 is ~4x smaller)
    code = REAL_LIMIT_WRITER.format(root=str(REPO_ROOT), tests=str(REPO_ROOT / "tests"), setup=without_pyav(mp4_codec),
                                    target=str(target), limit=limit)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["error"] and "largest file" in outcome["error"], outcome
    assert 10 <= outcome["frames"] < 200 and outcome["frames"] % 10 == 0, outcome
    assert target.stat().st_size <= limit
    assert_first_frames(target, outcome["frames"])


def test_an_encoder_that_cannot_finish_its_segment_on_a_full_disk_says_disk_full(tmp_path, monkeypatch, mp4_codec):
    """OpenCV reports no write errors: a full disk shows up as a segment it could not finalise."""
    from detector import fmp4

    real_read_track, calls = fmp4._read_track, []

    def read_track(data):
        calls.append(len(data))
        if len(calls) == 3:
            raise ValueError("the segment has no index (moov)")  # what a segment cut short by a full disk gives
        return real_read_track(data)

    monkeypatch.setattr(fmp4, "_read_track", read_track)
    nearly_full = SimpleNamespace(total=10**9, used=10**9 - 4096, free=4096)
    monkeypatch.setattr(video_writer.shutil, "disk_usage", lambda _path: nearly_full)
    target = tmp_path / "encoder.mp4"
    writer = VideoWriter(target, FPS, SIZE)
    with pytest.raises(OutputError, match=r"disk full.*first 2\.0 s are saved"):
        for i in range(40):
            writer.write(frame(i))
    writer.close()
    assert writer.frames_written == 20
    assert_first_frames(target, 20)


def test_a_live_recording_of_big_frames_starts_its_file_once_the_held_frames_reach_the_memory_limit(tmp_path):
    """`predict` holds a live source's first frames while it measures the rate: never more than ``hold_bytes``."""
    from detector.outputs import LiveVideo

    from .videos import read_back as video_facts  # not at the top: a subprocess in this file loads it bare

    path = tmp_path / "camera.mp4"
    live = LiveVideo(path, stated_fps=30.0, size=SIZE, hold_bytes=10 * frame(0).nbytes)
    for i in range(9):
        live.write_at(frame(i), i / 15)  # a camera that says 30 FPS but sends 15
    assert not path.exists()  # still measuring, within the limit
    live.write_at(frame(9), 9 / 15)
    assert path.exists()  # the limit reached: opened with what was held, long before the 2-s probe ends
    for i in range(10, 45):
        live.write_at(frame(i), i / 15)
    live.close()
    assert video_facts(path).fps == pytest.approx(15.0, abs=0.01)  # the rate it really sent, from the held frames
    assert_first_frames(path, 45)  # 3 s filmed, 3 s played: every frame once, in order


@pytest.mark.parametrize("protect", [True, False], ids=["the-source", "any-file"])
def test_the_writer_never_replaces_the_source_video_nor_any_file_with_its_fallback(tmp_path, monkeypatch, protect):
    """Without an MP4 codec the writer falls back to NAME.avi, which it wrote over whatever was there: a video of
    the user's beside the asked-for NAME.mp4 (only the source video was kept, by refusing to write at all)."""
    source = tmp_path / "street.avi"
    source.write_bytes(b"the user's only copy")
    with pytest.raises(OutputError, match="source video itself"):
        VideoWriter(source, 10, (64, 48), protect=tmp_path / "." / "street.avi")
    monkeypatch.setitem(video_writer._CODECS, ".mp4", [])  # no MP4 codec: the AVI fallback would be street.avi
    writer = VideoWriter(tmp_path / "street.mp4", 10, (64, 48), protect=source if protect else None)
    writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.close()
    assert writer.path == tmp_path / "street-2.avi" and writer.codec == "MJPG"
    assert source.read_bytes() == b"the user's only copy"


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_a_video_closed_before_its_first_frame_leaves_no_empty_file(tmp_path, suffix):
    """A run stopped, or refused, before its first frame left a 0-frame AVI or MKV that no player opens
    (an MP4 was already removed)."""
    writer = VideoWriter(tmp_path / f"clip{suffix}", 10, (64, 48))
    writer.close()
    assert list(tmp_path.iterdir()) == []


def test_an_annotated_photo_the_disk_has_no_room_for_is_not_left_cut_under_its_name(tmp_path, monkeypatch):
    """A full disk left a cut JPEG under the photo's own name, which still opened, its bottom missing, and the
    message said "80498 requested and 12288 written" rather than that the disk was full."""
    from detector import outputs

    folder = tmp_path / "annotated"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"the earlier run's annotated a.jpg")

    class FullDisk:
        def __init__(self, path, mode):
            self._file = open(path, mode)  # noqa: SIM115 - closed by __exit__

        def write(self, data):
            self._file.write(bytes(data)[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._file.close()

    monkeypatch.setattr(outputs, "open", FullDisk, raising=False)
    writer = outputs.AnnotatedImages(folder)
    with pytest.raises(OutputError, match=r"cannot write .*a\.jpg: disk full: no space left on the device"):
        writer.write(frame(0), "photos/a.jpg")
    assert [p.name for p in folder.iterdir()] == ["a.jpg"]  # nothing half-written beside it
    assert (folder / "a.jpg").read_bytes() == b"the earlier run's annotated a.jpg"
