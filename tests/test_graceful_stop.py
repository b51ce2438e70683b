"""The first Ctrl-C or SIGTERM asks a run to stop; a second stops it at once; the shell's handlers come back."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from detector.graceful_stop import StopSignal, frames_until, interrupt_on_signals, stop_on_signals


def _deliver(number: int) -> None:
    """Send ``number`` to this process and give Python the chance to run its handler."""
    os.kill(os.getpid(), number)
    time.sleep(0.05)


def test_the_first_signal_ends_the_frames_and_a_second_stops_at_once():
    said: list[str] = []
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with stop_on_signals(said.append) as request:
            cancelled = threading.Event()
            request.on_request(cancelled.set)  # e.g. a wait to reconnect
            read = []
            for index in frames_until(iter(range(1000)), request):
                read.append(index)
                if index == 5:
                    _deliver(signal.SIGTERM)
            assert read == list(range(6)) and request.by == "sigterm" and cancelled.is_set()
            assert said == ["SIGTERM: finishing the frames already read and closing the outputs "
                            "(Ctrl-C again to stop at once)"]
            _deliver(signal.SIGINT)  # the person at the terminal will not wait
            pytest.fail("a second signal must stop at once")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_stop_that_interrupts_a_write_to_stderr_still_stops_the_run_and_is_said(capfd):
    """Ctrl-C pressed while stderr's write was held up (a terminal paused with Ctrl-S, a slow ssh link) runs the
    handler inside that write; Python refuses the handler's own write to stderr ("reentrant call inside
    <_io.BufferedWriter name='<stderr>'>"), and that error, raised into the run, ended it as an internal error
    (exit 1, no summary) without stopping it. The stop is asked first, and the words go to the terminal directly."""
    def say(_message: str) -> None:
        raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stderr>'>")

    with stop_on_signals(say) as request:
        read = []
        for index in frames_until(iter(range(1000)), request):
            read.append(index)
            if index == 2:
                _deliver(signal.SIGINT)
    assert read == [0, 1, 2] and request.by == "ctrl-c"
    assert "Ctrl-C: finishing the frames already read and closing the outputs" in capfd.readouterr().err


def test_off_the_main_thread_nothing_is_installed():
    """Python runs handlers on the main thread only; bench runs predict from other threads too."""
    result = {}

    def run() -> None:
        with stop_on_signals(print) as request:
            result["handler"] = signal.getsignal(signal.SIGTERM)
            result["set"] = request.is_set()

    before = signal.getsignal(signal.SIGTERM)
    worker = threading.Thread(target=run)
    worker.start()
    worker.join(5)
    assert result == {"handler": before, "set": False}


needs_sighup = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX only")


@needs_sighup
def test_a_hangup_passed_on_by_the_shell_is_not_a_second_request():
    """A closed terminal's kernel and its shell both send SIGHUP; stopping at once on the second would lose the
    video's end. Ctrl-C after it still stops at once."""
    with pytest.raises(KeyboardInterrupt):
        with stop_on_signals(lambda _: None) as request:
            _deliver(signal.SIGHUP)
            _deliver(signal.SIGHUP)
            assert request.is_set() and request.by == "hangup"
            _deliver(signal.SIGINT)
            pytest.fail("Ctrl-C after a hangup must stop at once")


@needs_sighup
def test_a_signal_the_shell_ignores_stays_ignored():
    """`nohup livedet predict …` ignores SIGHUP so that the run outlives the terminal; taking the signal over
    would have ended it when the terminal closed."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_on_signals(lambda _: None) as request:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            _deliver(signal.SIGHUP)
            assert not request.is_set()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


@needs_sighup
def test_training_stops_at_once_on_a_hangup_and_ignores_the_shells_second_one():
    """Training is saved epoch by epoch, so it stops at once; its words on how to resume are said while the
    shell's second SIGHUP arrives, which would otherwise kill it mid-sentence."""
    before = signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGINT)
    said = []
    with pytest.raises(StopSignal) as stopped:
        with interrupt_on_signals():
            try:
                _deliver(signal.SIGHUP)
                pytest.fail("a hangup must stop training at once")
            except KeyboardInterrupt:
                _deliver(signal.SIGHUP)
                said.append("resume with --resume last.pt")
                raise
    assert stopped.value.by == "hangup" and said == ["resume with --resume last.pt"]
    assert (signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGINT)) == before
