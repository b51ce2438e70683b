"""Reading a written video back the way a player would (every frame decoded, not the header's count), and
writing the kinds of file that cameras and recorders make."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import cv2
import numpy as np


class VideoFacts(NamedTuple):
    frames: int  # frames OpenCV actually decodes
    fps: float  # the rate the file says it plays at
    width: int
    height: int


def read_back(path: str | Path) -> VideoFacts:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"OpenCV cannot open {path}"
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        frames = 0
        while capture.read()[0]:
            frames += 1
    finally:
        capture.release()
    return VideoFacts(frames, fps, width, height)


def write_moving_box_video(path: str | Path, frames: int, *, container: str, codec: str, fps: int = 10) -> Path:
    """``frames`` frames of a white box crossing a grey 320×240 picture, in ``container`` ("h264": a raw
    stream as a Raspberry Pi camera writes it; "mpegts": a camcorder's or TV recorder's .ts)."""
    with av.open(str(path), "w", format=container) as video:
        stream = video.add_stream(codec, rate=fps)
        stream.width, stream.height = 320, 240
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for index in range(frames):
            picture = np.full((240, 320, 3), 90, np.uint8)
            picture[80:160, 10 + 8 * index % 240:70 + 8 * index % 240] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format=stream.pix_fmt)
            video.mux(stream.encode(frame))
        video.mux(stream.encode())
    return Path(path)


def write_video_whose_sound_outlasts_it(path: str | Path, frames: int, extra_sound_s: float, fps: int = 10, *,
                                        container: str = "matroska", picture_starts_s: float = 0.0) -> Path:
    """A whole Matroska file (as OBS and phones write them; or an MPEG-TS TV recording) whose sound runs
    ``extra_sound_s`` past its picture: OpenCV estimates its frame count from the duration, so it states
    frames that never come. ``picture_starts_s``: the picture begins that long after the sound."""
    with av.open(str(path), "w", format=container) as video:
        picture_stream = video.add_stream("mpeg4", rate=fps)
        picture_stream.width, picture_stream.height, picture_stream.pix_fmt = 320, 240, "yuv420p"
        sound_stream = video.add_stream("aac", rate=48000)
        for index in range(frames):
            picture = np.full((240, 320, 3), 90, np.uint8)
            picture[80:160, 10 + 8 * index % 240:70 + 8 * index % 240] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = round(picture_starts_s * fps) + index, Fraction(1, fps)
            video.mux(picture_stream.encode(frame))
        video.mux(picture_stream.encode())
        samples, pts = int((picture_starts_s + frames / fps + extra_sound_s) * 48000), 0
        while pts < samples:
            silence = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            silence.sample_rate, silence.pts = 48000, pts
            video.mux(sound_stream.encode(silence))
            pts += 1024
        video.mux(sound_stream.encode())
    return Path(path)


def write_video_cut_mid_stream(path: str | Path, frames: int, *, keyframe_every: int, cut: int, fps: int = 30,
                               container: str = "mpegts", gaps_ms: list[int] | None = None) -> Path:
    """An MPEG-TS (or ``container``) H.264 recording of ``frames`` frames whose first ``cut`` packets are missing
    (a stream recorded from its middle, or cut without re-encoding): nothing decodes before the next keyframe.
    ``gaps_ms``: the frames that far apart (``frames - 1`` of them) instead of at ``fps``."""
    from fractions import Fraction

    time_base = Fraction(1, 1000) if gaps_ms else Fraction(1, fps)
    times = np.cumsum([0, *gaps_ms]) if gaps_ms else range(frames)
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base, encoder.framerate, encoder.gop_size = time_base, fps, keyframe_every
    encoder.options = {"bf": "0", "keyint_min": str(keyframe_every), "sc_threshold": "0"}
    packets = []
    for index in range(frames):
        picture = np.full((240, 320, 3), 90, np.uint8)
        picture[80:160, 10 + 8 * index % 240:70 + 8 * index % 240] = 255
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = int(times[index])
        packets += encoder.encode(frame)
    packets += encoder.encode()
    with av.open(str(path), "w", format=container) as video:
        stream = video.add_stream("h264", rate=fps)
        stream.width, stream.height = 320, 240
        for packet in packets[cut:]:
            packet.stream, packet.time_base = stream, time_base
            video.mux(packet)
    return Path(path)


def write_cut_without_reencoding(path: str | Path, source: str | Path, cut_s: float) -> Path:
    """``source`` cut at ``cut_s`` as ``ffmpeg -ss CUT -i SOURCE -c copy PATH`` does: the packets from the keyframe
    before the cut are copied, timed so that those before it fall before 0, which an MP4 keeps as an edit list
    (players, and FFmpeg, start at the cut); a Matroska file keeps the source's times instead (starting at the
    keyframe, not at 0)."""
    with av.open(str(source)) as original, av.open(str(path), "w") as cut:
        stream = original.streams.video[0]
        copy = cut.add_stream_from_template(stream)
        shift = int(cut_s / stream.time_base)
        keyframe_pts = None
        for packet in original.demux(stream):
            if packet.pts is None:
                continue
            if packet.is_keyframe and packet.pts <= shift:
                keyframe_pts = packet.pts
            if keyframe_pts is None or packet.pts < keyframe_pts:
                continue
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = copy
            cut.mux(packet)
    return Path(path)


def write_video_starting_at(path: str | Path, frames: int, start_s: float, fps: int = 30, *,
                            container: str = "matroska") -> Path:
    """A file whose times start at ``start_s`` (a stream recorded from its middle keeps them). FFmpeg states a
    Matroska file's duration from 0, an MP4's from its first frame."""
    from fractions import Fraction

    with av.open(str(path), "w", format=container) as video:
        stream = video.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for index in range(frames):
            picture = np.full((240, 320, 3), 90, np.uint8)
            picture[80:160, 10 + 8 * index % 240:70 + 8 * index % 240] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = round(start_s * fps) + index, Fraction(1, fps)
            video.mux(stream.encode(frame))
        video.mux(stream.encode())
    return Path(path)


def box_positions(video: str | Path) -> list[int]:
    """Which frame of ``write_moving_box_video`` or ``write_variable_rate_video`` each frame of ``video`` shows,
    told by its white box's left edge (frame 30's box is where frame 0's was)."""
    capture = cv2.VideoCapture(str(video))
    shown = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return shown
            shown.append(box_position(frame))
    finally:
        capture.release()


def box_position(frame: np.ndarray) -> int:
    """Which frame of ``write_moving_box_video`` or ``write_variable_rate_video`` one picture shows."""
    left = int(np.argmax(np.all(frame[120] > 200, axis=1)))
    return round((left - 10) / 8)


def write_variable_rate_video(path: str | Path, gaps_ms: list[int], *, nominal_fps: int = 30,
                              container: str = "matroska", codec: str = "mpeg4", rotation: int = 0,
                              options: dict[str, str] | None = None) -> Path:
    """A whole Matroska (or WebM, FLV…) file whose frames are ``gaps_ms`` apart (a browser's or OBS's recording:
    the rate varies with what moves): OpenCV states its rate as ``nominal_fps`` and its frame count as its
    duration times that, many more frames than it holds. ``rotation``: shown turned by that many degrees (a
    phone's portrait video); ``options``: the muxer's (``{"live": "1"}`` writes no duration, as browsers do)."""
    from fractions import Fraction

    with av.open(str(path), "w", format=container, options=options or {}) as video:
        stream = video.add_stream(codec, rate=nominal_fps)
        if rotation:
            stream.set_display_rotation(rotation)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        pts = 0
        for index, gap in enumerate([*gaps_ms, 0]):
            picture = np.full((240, 320, 3), 90, np.uint8)
            picture[80:160, 10 + 8 * index % 240:70 + 8 * index % 240] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            video.mux(stream.encode(frame))
            pts += gap
        video.mux(stream.encode())
    return Path(path)
