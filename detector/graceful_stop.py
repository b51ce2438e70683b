"""Ctrl-C, SIGTERM and a closed terminal end a ``predict`` run the way its source ending would.

(They close the desktop app as its window's X does: ``close_on_signals``.)

Why: a camera never ends, so Ctrl-C (or a service manager's SIGTERM at shutdown) is how
a recording of one is stopped. Ctrl-C raised in the middle of a frame threw the run's
summary away, and SIGTERM killed the process before the video's last second reached the
disk. The first signal now only asks the run to stop: frames already read are finished (a
read stuck on a camera or stream gone silent is not waited for), the outputs are closed, and
the summary is printed. A second signal stops at once (``KeyboardInterrupt``), for a run
stuck on a disk that does not answer.

Closing the terminal (or an ssh connection dropping) sends SIGHUP, which killed the run the same
way. It is a stop request too; the dead terminal is swapped for the null device first, because
writing to it fails (EIO), which would end the run with an error instead of a finished file.

``train`` has no frames to finish: each epoch is saved as it ends, so SIGTERM and SIGHUP stop it at
once, as Ctrl-C does (``interrupt_on_signals``), and it says how to go on from the saved epoch.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

Item = TypeVar("Item")

HANGUP = getattr(signal, "SIGHUP", None)  # POSIX only: the terminal the run was started from is gone
SIGNAL_NAMES = {signal.SIGINT: "ctrl-c", signal.SIGTERM: "sigterm", **({HANGUP: "hangup"} if HANGUP else {})}
EXIT_STATUS = {"ctrl-c": 130, "sigterm": 143, "hangup": 129}  # 128 + the signal's number, as shells report them
SPOKEN = {"ctrl-c": "Ctrl-C", "sigterm": "SIGTERM", "hangup": "SIGHUP (terminal closed)"}  # as people know them


class StopRequest:
    """Set by the first Ctrl-C, SIGTERM or SIGHUP; read by the thread that reads frames."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.by: str | None = None  # "ctrl-c", "sigterm" or "hangup" once asked
        self._callbacks: list[Callable[[], None]] = []

    def is_set(self) -> bool:
        return self._event.is_set()

    def on_request(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when a stop is asked (to end a wait that would not see the request). It runs in the
        signal's handler, in the middle of the main thread's work: it must take no lock."""
        self._callbacks.append(callback)

    def ask(self, by: str) -> None:
        self.by = by
        self._event.set()
        for callback in self._callbacks:
            callback()


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C raises ``KeyboardInterrupt``; ``by`` says which."""

    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by


def frames_until(items: Iterable[Item], request: StopRequest) -> Iterator[Item]:
    """``items`` until a stop is asked: the run then ends as if its source had ended."""
    for item in items:
        if request.is_set():
            return
        yield item


def terminal_outputs() -> list[int]:
    """Standard output and error, those of them that are a terminal (asked early: a hung-up one no longer says)."""
    return [fd for fd in (1, 2) if os.isatty(fd)]


def leave_hung_up_terminal(terminal: list[int]) -> None:
    """Point those of ``terminal`` that hung up at the null device: every write to them fails with EIO.

    A terminal that still answers is kept (``kill -HUP`` sent by hand, with the terminal open).
    """
    write_nowhere([descriptor for descriptor in terminal if not os.isatty(descriptor)])


def write_nowhere(descriptors: list[int]) -> None:
    """Point ``descriptors`` at the null device: for outputs nobody is left to read (a closed terminal or pipe)."""
    if not descriptors:
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for descriptor in descriptors:
            os.dup2(null, descriptor)
    finally:
        os.close(null)


def write_past_python(message: str) -> None:
    """``message`` on stderr without Python's stream, whose lock the interrupted write holds (for a signal's
    handler: Python refuses a write to a stream from one that interrupted a write to it)."""
    try:
        os.write(2, f"\n{message}\n".encode(errors="replace"))
    except OSError:
        pass


def _take_over(handle: Callable[[int, object], None], numbers: Iterable[int] = SIGNAL_NAMES) -> dict:
    """Install ``handle`` for each of ``numbers``; returns the handlers it replaced, to be put back."""
    # an ignored signal stays ignored: `nohup` ignores SIGHUP, a shell script's background job SIGINT
    return {number: signal.signal(number, handle) for number in numbers
            if signal.getsignal(number) is not signal.SIG_IGN}


def _put_back(previous: dict) -> None:
    for number, handler in previous.items():  # None: a handler set outside Python, which cannot be put back
        signal.signal(number, signal.SIG_DFL if handler is None else handler)


def close_on_signals(close: Callable[[str], None]) -> None:
    """For a program with its own event loop (the desktop app): each stop signal calls ``close`` with its name
    ("ctrl-c", "sigterm" or "hangup", as ``StopRequest.by``), for good.

    Call it on the main thread. A closed terminal's descriptors go to the null device first, so that the
    app's last log lines do not fail while it finishes a recording.
    """
    terminal = terminal_outputs()

    def handle(number: int, _frame) -> None:
        if number == HANGUP:
            leave_hung_up_terminal(terminal)
        close(SIGNAL_NAMES.get(number, "sigterm"))

    _take_over(handle)


@contextmanager
def stop_on_signals(say: Callable[[str], None]) -> Iterator[StopRequest]:
    """Within the block, the first stop signal sets the yielded request; a second raises KeyboardInterrupt.

    ``say`` tells the person at the terminal what is happening. Python delivers signals to the
    main thread only, so from any other thread this yields a request nothing sets. A second SIGHUP
    is not a second request: a closed terminal's shell passes on the hangup the kernel already sent.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    terminal = terminal_outputs()

    def handle(number: int, _frame) -> None:
        by = SIGNAL_NAMES[number]
        if by == "hangup":
            leave_hung_up_terminal(terminal)
        if request.is_set():
            if by == "hangup":
                return
            raise KeyboardInterrupt
        request.ask(by)  # first: the message below can fail
        message = (f"{SPOKEN[by]}: finishing the frames already read and closing the outputs "
                   "(Ctrl-C again to stop at once)")
        try:
            say(message)
        except RuntimeError:  # the handler interrupted a write to stderr (a terminal held by Ctrl-S, say): Python
            # refuses a write from within it, and that error, raised into the run, ended it as an internal error
            write_past_python(message)

    previous = _take_over(handle)
    try:
        yield request
    finally:
        _put_back(previous)


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise ``StopSignal`` where they would kill the process.

    For work that is saved in whole steps (training's epochs): ``except KeyboardInterrupt`` then
    handles all three stop signals, its ``finally`` blocks run, and the exit status still names the
    signal. A hung-up terminal goes to the null device first; a second SIGHUP (the shell passing the
    hangup on) is ignored while the first one is being handled.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    terminal = terminal_outputs()
    stopping: list[str] = []

    def handle(number: int, _frame) -> None:
        by = SIGNAL_NAMES[number]
        if by == "hangup":
            leave_hung_up_terminal(terminal)
            if stopping:
                return
        stopping.append(by)
        raise StopSignal(by)

    previous = _take_over(handle, [number for number in SIGNAL_NAMES if number != signal.SIGINT])
    try:
        yield
    finally:
        _put_back(previous)
