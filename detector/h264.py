"""H.264 through PyAV's bundled libx264: the codec that browsers, phones and every player play.

OpenCV's pip wheels carry no H.264 encoder, only MPEG-4 Part 2 (``mp4v``), which
Chrome, Firefox and Edge do not play. So ``VideoWriter`` encodes each short segment
of an MP4 recording here, into memory, and appends it to the user's file as a
fragment; without PyAV it falls back to OpenCV's ``mp4v``.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

import numpy as np

_NOT_YET = object()
av: Any = _NOT_YET  # PyAV, imported on first use (0.2 s, before the app's splash otherwise); None if missing

# veryfast: 150-220 FPS at 768x576 on a 2-core laptop CPU (mp4v: 300-400), files 2-3x smaller than
# mp4v; crf 23: x264's default quality; no B-frames: decoding order is display order. The colours are stated:
# FFmpeg turns BGR into YUV by BT.601's matrix, and a file that says nothing is read by BT.709's where a picture
# is taller than 576 lines (Windows, by Microsoft's rule): a 720p camera's recording played greener and its box
# colours off. Primaries and transfer are BT.709's, which sRGB's are.
SETTINGS = {"preset": "veryfast", "crf": "23", "bf": "0",
            "x264-params": "colormatrix=smpte170m:colorprim=bt709:transfer=bt709"}


def _pyav() -> Any:
    global av
    if av is _NOT_YET:
        try:
            import av as module
        except ImportError:  # then MP4 recordings fall back to OpenCV's mp4v
            module = None
        av = module
    return av


def can_encode() -> bool:
    """PyAV with libx264 is installed."""
    pyav = _pyav()
    return pyav is not None and "libx264" in pyav.codecs_available


def encoded_size(size: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) H.264 stores for frames of ``size``: 4:2:0 chroma needs both even.

    An odd side gains one more copy of its last row or column, so nothing of the
    frame is cut off and nothing is resampled.
    """
    return size[0] + size[0] % 2, size[1] + size[1] % 2


def even_sized(frame: np.ndarray) -> np.ndarray:
    """``frame`` at ``encoded_size``: an odd side gets one more copy of its last row or column."""
    pad_y, pad_x = frame.shape[0] % 2, frame.shape[1] % 2
    return np.pad(frame, ((0, pad_y), (0, pad_x), (0, 0)), mode="edge") if pad_x or pad_y else frame


def frame_rate(fps: float) -> Fraction:
    """``fps`` as the fraction the MP4 stores: 30000/1001 for 29.97. A slideshow's rate under one frame a second
    is kept as one frame per so many seconds: 1/1200 was rounded to the nearest fraction over at most 1001, which
    is 1/1001 (a 3600-s video came out 3003 s long), and under 1/2002 that was 0, and the encoder failed."""
    if fps >= 1:
        return Fraction(fps).limit_denominator(1001)
    return 1 / Fraction(1 / fps).limit_denominator(1001)


class H264Segment:
    """One segment: BGR frames in, a finalised MP4 (bytes) out. Raises ``ValueError`` on an encoder error."""

    def __init__(self, fps: float, size: tuple[int, int]) -> None:
        if _pyav() is None:
            raise ValueError("PyAV is not installed")
        self._buffer = io.BytesIO()
        self._frames = 0
        self._size = (int(size[0]), int(size[1]))
        self._rate = frame_rate(fps)
        try:
            self._container = av.open(self._buffer, "w", format="mp4")
            self._stream = self._container.add_stream("libx264", rate=self._rate, options=dict(SETTINGS))
            self._stream.width, self._stream.height = encoded_size(self._size)
            self._stream.pix_fmt = "yuv420p"
            self._stream.codec_context.open()  # fail here, not at the first frame
        except av.FFmpegError as exc:
            raise ValueError(f"H.264 encoder: {exc}") from None

    def write(self, frame: np.ndarray) -> None:
        """``frame``: BGR uint8 of the segment's size."""
        picture = av.VideoFrame.from_ndarray(even_sized(frame), format="bgr24")
        picture.pts, picture.time_base = self._frames, 1 / self._rate
        self._frames += 1
        try:
            self._container.mux(self._stream.encode(picture))
        except av.FFmpegError as exc:
            raise ValueError(f"H.264 encoder: {exc}") from None

    def finish(self) -> bytes:
        """Flush the encoder and close the MP4: its bytes, ready for ``FragmentedMp4.append``."""
        try:
            self._container.mux(self._stream.encode(None))
            self._container.close()
        except av.FFmpegError as exc:
            raise ValueError(f"H.264 encoder: {exc}") from None
        return self._buffer.getvalue()

    def discard(self) -> None:
        try:
            self._container.close()
        except (av.FFmpegError, ValueError):
            pass
