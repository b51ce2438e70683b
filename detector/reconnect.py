"""Riding out a camera or stream that drops: open it again and go on with the same run.

Why: an unattended recording of a Wi-Fi or RTSP camera loses its source for seconds at a
time (a router restarting, a camera rebooting). Ending the run there, even for a service
manager to start again, splits the footage over many files and loses what the camera
sends while the model loads again. ``predict --reconnect`` keeps one run, one file.
"""

from __future__ import annotations

import itertools
import time
from typing import Callable, Iterator

import numpy as np

from .errors import SourceError
from .video import FrameSource

RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # between tries to open the source again; then every 30 s
CANCEL_CHECK_S = 0.05  # how soon a wait between tries sees a cancel
STEADY_S = 10.0  # a source back this long is steady: its next loss waits from the first delay again


class ReconnectingFrames:
    """``(index, frame, name)`` from a live source, opened again each time it stops sending.

    Indices go on across outages, so frame numbers stay unique in the run's outputs.
    ``offline_s`` is the time spent without the source: a clock that writes live frames
    by their capture time subtracts it, so an outage is a cut in the file, not minutes
    of one frozen picture.
    """

    def __init__(self, source: FrameSource, open_again: Callable[[], FrameSource], *,
                 on_lost: Callable[[int], None], on_retry: Callable[[str, float], None],
                 on_back: Callable[[float], None]) -> None:
        """``on_lost(frames so far)``; ``on_retry(why the last try failed, seconds until the next)``;
        ``on_back(seconds offline)``. The callbacks run on the thread that iterates."""
        self.source = source
        self._open_again = open_again
        self._on_lost, self._on_retry, self._on_back = on_lost, on_retry, on_back
        self._cancelled = False  # a plain flag: cancel() runs in a signal's handler, where taking a lock the
        # interrupted thread holds (threading.Event.set's) would hang the run
        self._opening: FrameSource | None = None  # opened again, its first frame not read yet
        self.reconnects = 0
        self.offline_s = 0.0
        self._back_at = -STEADY_S  # when the source last came back, and the tries that took: a source that drops
        self._tries_when_back = 0  # again at once goes on from there, not from the first, shortest wait

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, str]]:
        index = 0
        frames: Iterator | None = iter(self.source)
        while frames is not None:
            for _, frame, _ in frames:
                yield index, frame, f"{self.source.info.name}:{index}"
                index += 1
            self.source.close()
            if self._cancelled:
                return
            self._on_lost(index)
            frames = self._reopen()

    def _reopen(self) -> Iterator | None:
        """Open the source again, waiting longer after each failed try: its frames, the first already read
        (None when cancelled meanwhile). A source that opens but sends no frame is not back: a camera busy
        elsewhere or not ready was "back after 1.0 s" every second, for ever, and the waits never grew."""
        lost_at = time.monotonic()
        # one frame, then gone again: it was "lost", then "back after 1.0 s", every second, for ever
        tries = self._tries_when_back if lost_at - self._back_at < STEADY_S else 0
        while not self._cancelled_within(_delay_before(tries)):
            try:
                source = self._open_again()
            except SourceError as exc:
                if self._cancelled:
                    return None
                tries += 1
                self._on_retry(str(exc), _delay_before(tries))
                continue
            self._opening = source  # for close(), from the main thread, while its first read may never return
            frames = iter(source)
            first = next(frames, None) if not self._cancelled else None
            self.source = source  # before _opening is emptied: close() looks there first, then here
            self._opening = None
            if first is None or self._cancelled:  # a stop asked during the open or the read: the run has ended
                source.close()
                if self._cancelled:
                    return None
                tries += 1
                self._on_retry(f"{source.info.name} opened but sent no frame", _delay_before(tries))
                continue
            offline = time.monotonic() - lost_at
            self.offline_s += offline
            self.reconnects += 1
            self._back_at, self._tries_when_back = time.monotonic(), tries + 1
            self._on_back(offline)
            return itertools.chain([first], frames)
        return None

    def _cancelled_within(self, seconds: float) -> bool:
        """Wait up to ``seconds``, in short steps; True as soon as the run is cancelled."""
        end = time.monotonic() + seconds
        while not self._cancelled and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, CANCEL_CHECK_S))
        return self._cancelled

    def cancel(self) -> None:
        """Stop waiting for the source (from any thread, and from a signal's handler): the frames end at the
        next wait."""
        self._cancelled = True

    def close(self, wait_s: float | None = None) -> None:
        """Cancel, and let the source go: the one being opened again too, whose read (on the thread that
        iterates) may be stuck on a stream that accepts the connection and sends nothing; it lets the source go
        when it returns. ``wait_s``: as for ``FrameSource.close``."""
        self.cancel()
        opening = self._opening
        if opening is not None:
            opening.close(wait_s)
        self.source.close(wait_s)


def _delay_before(tries: int) -> float:
    """Seconds to wait before the next try, after ``tries`` failed ones."""
    return RETRY_DELAYS_S[min(tries, len(RETRY_DELAYS_S) - 1)]
