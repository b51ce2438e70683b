"""Recording by the clock, so the file lasts as long as what was filmed.

A camera or stream does not send frames at the rate it states: a webcam in dim
light says 30 FPS and sends 12, FFmpeg guesses 25 FPS for MJPEG cameras, and the
pipeline drops stale frames when it falls behind. Writing one file frame per
displayed frame at the stated rate made such recordings play too fast or too slow.
A file can have a variable rate too (a browser's or OBS's MKV or WebM): its frames
carry their own times, and ``FileClock`` writes them by those.
"""

from __future__ import annotations

LIVE_FPS_TOLERANCE = 0.15  # a stated FPS within 15 % of what the source sends is kept
MAX_COPIES = 120  # a source that stalled is not padded with more than this many copies of one frame
STALL_CUT_S = 2.0  # a live source silent this long lost its picture: the silence is a cut in the file, not a still
STALL_CUT_PACES = 4  # ... if that is also this many times its usual pace (a timelapse camera's 3 s is its pace)
HOLD_BYTES = 512 * 2**20  # most frame memory held while the rate is measured: 2 s of 1080p30 fits, 4K decides sooner


def recording_fps(stated: float, sends: float, tolerance: float = LIVE_FPS_TOLERANCE) -> float:
    """The rate to record a live source at: the stated one, unless the measured rate ``sends`` is far from it."""
    if sends >= 1 and abs(sends - stated) > tolerance * stated:
        return float(round(sends))
    return stated


def settled_rate(captured_s: list[float]) -> float:
    """Frames per second from capture times, over the second half of their span (0 when unknown).

    The first half is left out: a stream that has just connected hands over what FFmpeg
    buffered, all at once. Over the rest, the rate is the least-squares slope of frame
    number against time, so every frame counts: a median interval said 32 FPS for an
    MJPEG stream whose frames came 31, 31, 41 ms apart (it sends 30), and the first and
    last frame alone said 19 FPS for a 20 FPS stream when a busy machine read the last
    one 12 ms late.
    """
    if len(captured_s) < 2:
        return 0.0
    middle = (captured_s[0] + captured_s[-1]) / 2
    settled = [t for t in captured_s if t >= middle]
    if len(settled) < 2 or settled[-1] <= settled[0]:
        return 0.0
    mean_t = sum(settled) / len(settled)
    mean_i = (len(settled) - 1) / 2
    spread = sum((t - mean_t) ** 2 for t in settled)  # > 0: the last time is after the first
    return sum((t - mean_t) * (i - mean_i) for i, t in enumerate(settled)) / spread


class LiveClock:
    """How many times to write each live frame: copies fill dropped frames, 0 skips one that came early.

    Times are the frames' capture times in seconds; callers write at most ``MAX_COPIES``. While paused the clock stops, so a
    paused minute is not a minute of one frame in the file. A frame after a silence of over ``STALL_CUT_S``, and
    over ``STALL_CUT_PACES`` times the source's usual interval, is written once, the silence cut out: FFmpeg
    hands a dropped stream's last buffered frames over only when its read times out, seconds later, and those
    seconds became 4.8 s of one frozen picture. A source that always sends a frame every few seconds (a
    snapshot camera, a model slower than that in the app) keeps its time: its pace is no silence.
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._start: float | None = None  # capture time of the first frame written
        self._frames = 0  # frames the file holds so far, copies included
        self._paused_at: float | None = None
        self._last_s: float | None = None  # capture time of the frame before
        self._pace_s: float | None = None  # the usual interval between frames (a running average)

    def copies(self, captured_s: float) -> int:
        if self._start is None:
            self._start = captured_s
        elif self._last_s is not None:
            gap = captured_s - self._last_s
            if self._pace_s is not None and gap > max(STALL_CUT_S, STALL_CUT_PACES * self._pace_s):
                self._start += gap - 1 / self.fps  # due one frame after the one before
            else:
                self._pace_s = gap if self._pace_s is None else 0.8 * self._pace_s + 0.2 * gap
        self._last_s = captured_s
        due = round((captured_s - self._start) * self.fps) + 1  # frames the file should hold with this one
        copies = due - self._frames
        self._frames = max(self._frames, due)
        return copies

    def pause(self, now_s: float) -> None:
        self._paused_at = now_s

    def resume(self, now_s: float) -> None:
        if self._paused_at is not None and self._start is not None:
            self._start += now_s - self._paused_at
            if self._last_s is not None:  # the pause is no silence
                self._last_s += now_s - self._paused_at
        self._paused_at = None


FILE_STILL_LIMIT_S = 60.0  # frames of a file further apart are a jump in its times (damage, a restart), not a still


def frame_interval_s(previous_ms: float | None, ms: float, fps: float) -> float:
    """Seconds from a file's frame at ``previous_ms`` to its next at ``ms``, by their times: a variable-rate
    file plays at its own pace. The nominal interval where the times say nothing (none before, equal or
    backwards), or where they jump further than ``FILE_STILL_LIMIT_S``; ``FileClock`` writes the same."""
    interval_s = (ms - previous_ms) / 1000 if previous_ms is not None else 0.0
    return interval_s if 0 < interval_s <= FILE_STILL_LIMIT_S else 1 / fps


FILE_CLOCK_SLACK = 0.75  # a file's frame up to 3/4 of a frame early or late is on time: no repeat-then-skip judder


class FileClock:
    """How many times to write each frame of a video file at ``fps`` so it keeps the times its frames carry.

    A player shows each frame until the next one's time, so a frame's copies are known only when the
    next frame comes: ``copies_before`` gives them for the frame before, and the caller holds one frame
    back (the last is written once). A constant-rate file gets one copy a frame. A variable-rate one
    (frames 50, 100 and 300 ms apart, stated as 30 FPS) gets copies where its frames are far apart and
    0 where they crowd; a phone's slightly uneven times stay one copy each (``FILE_CLOCK_SLACK``).
    A frame that does not follow the one before (a seek, a loop), whose time did not move on (a file
    without times) or jumped past ``FILE_STILL_LIMIT_S`` starts the clock again: the frame before it
    is written once, as ``frame_interval_s`` plays it.
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._origin_s = 0.0  # the file time at which the output's first frame would be
        self._frames = 0  # frames owed so far, copies included
        self._last: tuple[int, float] | None = None  # (index, time) of the frame held back
        self._settled: int | None = None  # its copies, decided before the next frame came (``settle``)

    def copies_before(self, index: int, time_s: float) -> int:
        """Copies owed to the frame before this one (0 for the first frame: there is none)."""
        last, self._last = self._last, (index, time_s)
        if last is None:
            self._origin_s = time_s
            return 0
        if self._settled is not None:  # the clock starts again from this frame
            copies, self._settled = self._settled, None
            self._frames += copies
            self._origin_s = time_s - self._frames / self.fps
            return copies
        if index != last[0] + 1 or not 0 < time_s - last[1] <= FILE_STILL_LIMIT_S:  # the one before lasts a frame
            self._frames += 1
            self._origin_s = time_s - self._frames / self.fps
            return 1
        owed = (time_s - self._origin_s) * self.fps - self._frames  # ~1 when this frame is on time
        copies = 1 if 1 - FILE_CLOCK_SLACK <= owed < 1 + FILE_CLOCK_SLACK else max(0, round(owed))
        self._frames += copies
        return copies

    def copies_shown_for(self, shown_s: float) -> int:
        """Copies owed to the frame held back, had the next one come after it was on screen ``shown_s`` seconds:
        a recording stopped during a long still keeps as much of it as was played, at least one copy."""
        if self._settled is not None:
            return self._settled
        if self._last is None:
            return 1
        owed = (self._last[1] + min(shown_s, FILE_STILL_LIMIT_S) - self._origin_s) * self.fps - self._frames
        return 1 if owed < 1 + FILE_CLOCK_SLACK else round(owed)  # on time, as ``copies_before`` has it

    def settle(self, copies: int) -> None:
        """The frame held back lasts ``copies`` whatever comes next (a seek or step during a still: as long as it
        had played, not the still's whole time nor one frame); a second call before the next frame changes nothing."""
        if self._last is not None and self._settled is None:
            self._settled = copies

    @property
    def settled_copies(self) -> int | None:
        return self._settled
