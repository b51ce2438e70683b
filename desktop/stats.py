"""Frame counters and FPS meters shared by the capture, inference and GUI threads.

Each thread only increments; the GUI reads a frozen ``StatsSnapshot`` for the
overlay and ``--exit-after-frames`` prints one as JSON.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from detector.live_clock import settled_rate

LATENCY_WINDOW = 1000  # frames whose capture-to-display latency the percentiles cover


class RateMeter:
    """Events per second over the last ``window_s`` seconds, and over the whole run."""

    def __init__(self, window_s: float = 2.0, max_events: int = 512) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=max_events)  # bounded: a meter never grows
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None

    def tick(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        self._times.append(now)
        self.count += 1
        if self.first is None:
            self.first = now
        self.last = now

    def recent_rate(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        recent = [t for t in self._times if now - t <= self.window_s]
        if len(recent) < 2:
            return 0.0
        span = recent[-1] - recent[0]
        if now - recent[-1] > 1.0:  # stalled (paused, end of file): show the truth, not the past
            span = now - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def typical_rate(self, now: float | None = None) -> float:
        """Events per second, past the burst a stream starts with (``settled_rate``)."""
        now = time.perf_counter() if now is None else now
        return settled_rate([t for t in self._times if now - t <= self.window_s])

    def average_rate(self) -> float:
        if self.count < 2 or self.first is None or self.last is None or self.last <= self.first:
            return 0.0
        return (self.count - 1) / (self.last - self.first)


@dataclass(frozen=True)
class StatsSnapshot:
    """Counts since the source opened, and rates: recent for the overlay, whole-run for reports."""

    frames_captured: int
    frames_inferred: int
    frames_displayed: int
    frames_dropped: int
    capture_fps: float
    inference_fps: float
    display_fps: float
    average_capture_fps: float
    average_inference_fps: float
    average_display_fps: float
    latency_ms_p50: float | None = None  # capture -> on screen, over the last LATENCY_WINDOW frames
    latency_ms_p90: float | None = None

    def report(self, model: str | None, device: str | None) -> dict:
        """The ``--exit-after-frames`` JSON line: counts and whole-run rates."""
        return {
            "frames_captured": self.frames_captured,
            "frames_inferred": self.frames_inferred,
            "frames_displayed": self.frames_displayed,
            "frames_dropped": self.frames_dropped,
            "capture_fps": round(self.average_capture_fps, 2),
            "inference_fps": round(self.average_inference_fps, 2),
            "display_fps": round(self.average_display_fps, 2),
            "latency_ms_p50": None if self.latency_ms_p50 is None else round(self.latency_ms_p50, 1),
            "latency_ms_p90": None if self.latency_ms_p90 is None else round(self.latency_ms_p90, 1),
            "model": model,
            "device": device,
        }


class PipelineStats:
    """Thread-safe counters for one opened source."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._captured = RateMeter()
        self._inferred = RateMeter()
        self._displayed = RateMeter()
        self._dropped = 0
        self._latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def capture_rate(self) -> float:
        """The rate the source really sends, robust to bursts (what a live recording is written at)."""
        with self._lock:
            return self._captured.typical_rate()

    def seconds_capturing(self, now: float | None = None) -> float:
        """Since the first frame arrived (0 before): how much history ``capture_rate`` has."""
        now = time.perf_counter() if now is None else now
        with self._lock:
            first = self._captured.first
        return now - first if first is not None else 0.0

    def count_captured(self) -> None:
        with self._lock:
            self._captured.tick()

    def count_inferred(self) -> None:
        with self._lock:
            self._inferred.tick()

    def count_displayed(self, captured_at: float | None = None) -> None:
        """A frame reached the screen; ``captured_at`` (perf_counter) gives its capture-to-display latency."""
        now = time.perf_counter()
        with self._lock:
            self._displayed.tick(now)
            if captured_at is not None:
                self._latencies_ms.append((now - captured_at) * 1000.0)

    def count_dropped(self) -> None:
        with self._lock:
            self._dropped += 1

    def snapshot(self) -> StatsSnapshot:
        now = time.perf_counter()
        with self._lock:
            latencies = sorted(self._latencies_ms)
            return StatsSnapshot(
                frames_captured=self._captured.count,
                frames_inferred=self._inferred.count,
                frames_displayed=self._displayed.count,
                frames_dropped=self._dropped,
                capture_fps=self._captured.recent_rate(now),
                inference_fps=self._inferred.recent_rate(now),
                display_fps=self._displayed.recent_rate(now),
                average_capture_fps=self._captured.average_rate(),
                average_inference_fps=self._inferred.average_rate(),
                average_display_fps=self._displayed.average_rate(),
                latency_ms_p50=_percentile(latencies, 0.5),
                latency_ms_p90=_percentile(latencies, 0.9),
            )


def _percentile(ordered: list[float], q: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None
