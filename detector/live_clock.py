"""Recording a live source by the clock, so the file lasts as long as it was filmed.

A camera or stream does not send frames at the rate it states: a webcam in dim
light says 30 FPS and sends 12, FFmpeg guesses 25 FPS for MJPEG cameras, and the
pipeline drops stale frames when it falls behind. Writing one file frame per
displayed frame at the stated rate made such recordings play too fast or too slow.
"""

from __future__ import annotations

LIVE_FPS_TOLERANCE = 0.15  # a stated FPS within 15 % of what the source sends is kept
MAX_COPIES = 120  # a source that stalled is not padded with more than this many copies of one frame


def recording_fps(stated: float, sends: float, tolerance: float = LIVE_FPS_TOLERANCE) -> float:
    """The rate to record a live source at: the stated one, unless the measured rate ``sends`` is far from it."""
    if sends >= 1 and abs(sends - stated) > tolerance * stated:
        return float(round(sends))
    return stated


def sending_rate(captured_s: list[float]) -> float:
    """Frames per second from capture times, by the median interval (0 when unknown).

    The median, not the count over the span: a network stream hands over the frames FFmpeg
    buffered while connecting all at once, which would count as a much higher rate.
    """
    intervals = sorted(b - a for a, b in zip(captured_s, captured_s[1:]))
    if not intervals:
        return 0.0
    middle = intervals[len(intervals) // 2]
    return 1.0 / middle if middle > 0 else 0.0


def settled_rate(captured_s: list[float]) -> float:
    """``sending_rate`` over the second half of the span: a stream that has just connected hands over
    what FFmpeg buffered, all at once, and a burst longer than half the samples would move the median."""
    if not captured_s:
        return 0.0
    middle = (captured_s[0] + captured_s[-1]) / 2
    return sending_rate([t for t in captured_s if t >= middle])


class LiveClock:
    """How many times to write each live frame: copies fill dropped frames, 0 skips one that came early.

    Times are the frames' capture times in seconds; callers write at most ``MAX_COPIES``. While paused the clock stops, so a
    paused minute is not a minute of one frame in the file.
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._start: float | None = None  # capture time of the first frame written
        self._frames = 0  # frames the file holds so far, copies included
        self._paused_at: float | None = None

    def copies(self, captured_s: float) -> int:
        if self._start is None:
            self._start = captured_s
        due = round((captured_s - self._start) * self.fps) + 1  # frames the file should hold with this one
        copies = due - self._frames
        self._frames = max(self._frames, due)
        return copies

    def pause(self, now_s: float) -> None:
        self._paused_at = now_s

    def resume(self, now_s: float) -> None:
        if self._paused_at is not None and self._start is not None:
            self._start += now_s - self._paused_at
        self._paused_at = None
