"""Ctrl-C and SIGTERM end a ``predict`` run the way its source ending would.

Why: a camera never ends, so Ctrl-C (or a service manager's SIGTERM at shutdown) is how
a recording of one is stopped. Ctrl-C raised in the middle of a frame threw the run's
summary away, and SIGTERM killed the process before the video's last second reached the
disk. The first signal now only asks the run to stop: frames already read are finished,
the outputs are closed, and the summary is printed. A second signal stops at once
(``KeyboardInterrupt``), for a run stuck on a source or disk that does not answer.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

Item = TypeVar("Item")

SIGNAL_NAMES = {signal.SIGINT: "ctrl-c", signal.SIGTERM: "sigterm"}
EXIT_STATUS = {"ctrl-c": 130, "sigterm": 143}  # 128 + the signal's number, as shells report them
SPOKEN = {"ctrl-c": "Ctrl-C", "sigterm": "SIGTERM"}  # as the person at the terminal knows them


class StopRequest:
    """Set by the first Ctrl-C or SIGTERM; read by the thread that reads frames."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.by: str | None = None  # "ctrl-c" or "sigterm" once asked
        self._callbacks: list[Callable[[], None]] = []

    def is_set(self) -> bool:
        return self._event.is_set()

    def on_request(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when a stop is asked (to end a wait that would not see the request)."""
        self._callbacks.append(callback)

    def ask(self, by: str) -> None:
        self.by = by
        self._event.set()
        for callback in self._callbacks:
            callback()


def frames_until(items: Iterable[Item], request: StopRequest) -> Iterator[Item]:
    """``items`` until a stop is asked: the run then ends as if its source had ended."""
    for item in items:
        if request.is_set():
            return
        yield item


@contextmanager
def stop_on_signals(say: Callable[[str], None]) -> Iterator[StopRequest]:
    """Within the block, the first Ctrl-C or SIGTERM sets the yielded request; a second raises KeyboardInterrupt.

    ``say`` tells the person at the terminal what is happening. Python delivers signals to the
    main thread only, so from any other thread this yields a request nothing sets.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(number: int, _frame) -> None:
        if request.is_set():
            raise KeyboardInterrupt
        by = SIGNAL_NAMES[number]
        say(f"{SPOKEN[by]}: finishing the frames already read and closing the outputs (Ctrl-C again to stop at once)")
        request.ask(by)

    previous = {number: signal.signal(number, handle) for number in SIGNAL_NAMES}
    try:
        yield request
    finally:
        for number, handler in previous.items():  # None: a handler set outside Python, which cannot be put back
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
