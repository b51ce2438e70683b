"""``livedet`` / ``python -m desktop``: parse the command line, start Qt, run the window.

``--exit-after-frames N`` runs the real app and quits after N displayed frames,
printing one JSON line of counts and FPS: how tests and benchmarks drive it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import QApplication

from detector import DEFAULT_CONF, DEFAULT_IOU, LiveDetError  # quick: detector imports its modules on first use
from detector.defaults import MAX_IMGSZ, MIN_CONF, is_input_size
from detector.device import DEVICE_CHOICES
from detector.graceful_stop import EXIT_STATUS, SPOKEN, close_on_signals, write_past_python
from detector.native_stderr import quiet_native_logs

from . import __version__
from .cameras import quiet_multimedia_logs
from .options import LaunchOptions
from .resources import app_icon
from .sources import parse_source
from .widgets.splash import show_splash

if TYPE_CHECKING:
    from .controller import SessionController
    from .widgets.main_window import MainWindow

APP_ID = "io.github.livedet.LiveDet"
STALL_LIMIT_S = 120.0  # --exit-after-frames gives up when no frame arrives for this long


def _fraction(low: float, high: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value
    return parse


def _source(text: str) -> str:
    try:
        parse_source(text)  # rejects what can never be a source before any window opens
        return text
    except LiveDetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number")
    return int(text)


def _input_size(text: str) -> int:
    if not text.isdigit() or not (int(text) == 0 or is_input_size(int(text))):
        raise argparse.ArgumentTypeError(f"'{text}' is not a multiple of 32 up to {MAX_IMGSZ} (0: the model's own)")
    return int(text)


def _video_file(text: str) -> str:
    """A name the recorder writes as asked: `--record clip.gif` was recorded to clip.avi without a word."""
    from detector.video import VIDEO_SUFFIXES  # (imports OpenCV: only when --record is given)

    if Path(text).suffix.lower() not in VIDEO_SUFFIXES:
        raise argparse.ArgumentTypeError(f"must be a video file ({', '.join(sorted(VIDEO_SUFFIXES))}), "
                                         f"got '{Path(text).name or text}'")
    return text


def _class_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    return () if [n.casefold() for n in names] == ["all"] else names


def parse_args(argv: list[str] | None = None) -> LaunchOptions:
    parser = argparse.ArgumentParser(prog="livedet", allow_abbrev=False, description="LiveDet: real-time object detection on "
                                     "cameras, video files and streams.")
    parser.add_argument("file", nargs="?", type=_source, metavar="FILE",
                        help="a video or photo to open, as a file manager's Open With passes it (same as --source; "
                             "a name starting with '-' goes after --, as in: livedet -- -clip.mp4)")
    parser.add_argument("--source", type=_source, help="camera index (0), video file, photo, or rtsp:// / http:// URL "
                        "(default: the last source used, else the first camera)")
    parser.add_argument("--model", help="model name from assets/models, or a .safetensors/.pt/.onnx/.yaml path "
                                        "(default: the last one used, else yolo-mnv3-small)")
    parser.add_argument("--conf", type=_fraction(MIN_CONF, 1.0), help=f"confidence threshold (default {DEFAULT_CONF}, "
                        "or the last one used)")
    parser.add_argument("--iou", type=_fraction(0.01, 0.99), help=f"NMS IoU threshold (default {DEFAULT_IOU}, "
                        "or the last one used)")
    parser.add_argument("--classes", type=_class_list, help="show only these classes, comma-separated "
                        "(e.g. person,car; 'all' for every class; default: as last time)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, help="where detection runs: auto (a GPU when there is "
                        "one), cpu, cuda or mps (default: as last time, else auto)")
    parser.add_argument("--imgsz", type=_input_size, metavar="N", help="network input size in pixels, a multiple "
                        "of 32: larger finds smaller, more distant objects and takes longer (0: the model's own; "
                        "default: as last time)")
    parser.add_argument("--record", metavar="FILE", type=_video_file,
                        help="record the annotated video to FILE from the first frame (.mp4, H.264; or .avi, .mkv, "
                             ".webm, …)")
    parser.add_argument("--fast", action="store_true", help="play files as fast as possible instead of at their FPS")
    parser.add_argument("--exit-after-frames", type=_positive, metavar="N", help="quit after N displayed frames "
                        "and print one JSON line of counts and FPS (for tests and benchmarks)")
    parser.add_argument("--screenshot", metavar="PNG", help="with --exit-after-frames: save the window as PNG "
                        "just before quitting")
    parser.add_argument("--version", action="version", version=f"LiveDet {__version__}")
    args = parser.parse_args(argv)
    if args.screenshot and not args.exit_after_frames:
        parser.error("--screenshot needs --exit-after-frames N (the screenshot is taken at frame N)")
    if args.file is not None and args.source is not None:
        parser.error(f"two sources: {args.file} and --source {args.source}; give one")
    return LaunchOptions(source=args.source or args.file, model=args.model, conf=args.conf, iou=args.iou, classes=args.classes,
                         device=args.device, input_size=args.imgsz, record=args.record, fast=args.fast,
                         exit_after_frames=args.exit_after_frames, screenshot=args.screenshot)


def _print(line: str, *, error: bool = False) -> None:
    stream = sys.stderr if error else sys.stdout
    if stream is not None:  # a GUI script on Windows has no console
        print(line, file=stream, flush=True)


class HeadlessRun:
    """--exit-after-frames: count displayed frames, then screenshot, close, print the JSON line, quit."""

    def __init__(self, app: QApplication, window: MainWindow, options: LaunchOptions) -> None:
        self.app, self.window, self.options = app, window, options
        self.exit_code = 0
        self._done = False
        self._stopped_by: str | None = None
        self._ended = False  # the file reached its end (frames may still be on their way to the screen)
        self._last_progress = time.monotonic()
        c = window.controller
        c.frame_shown.connect(self._on_frame)
        c.source_failed.connect(lambda message: self._finish(1, message))
        c.source_ended.connect(self._on_source_ended)
        if options.model:  # asked for by name: without it the numbers would mean nothing
            c.model_failed.connect(lambda message: self._finish(1, message))
        self._recordings: list[str] = []  # the files written, in the JSON line: a camera's may be NAME-2.mp4
        c.recording_started.connect(self._recordings.append)
        self._late_failures: list[str] = []  # a recording that failed as the window closed (its last second's disk)
        if options.record:  # a script that asked for a recording must hear that there is none
            c.recording_failed.connect(self._on_recording_failed)
        self._watchdog = QTimer(window)
        self._watchdog.timeout.connect(self._check_stall)
        self._watchdog.start(1000)

    def _on_recording_failed(self, message: str) -> None:
        if self._done:  # failed while the window closed, finishing the file: the JSON line is not out yet
            self._late_failures.append(message)
        else:
            self._finish(1, message)

    def _on_frame(self, shown) -> None:
        if not shown.fresh:
            return
        self._last_progress = time.monotonic()
        if self.window.frames_shown >= self.options.exit_after_frames:
            self._finish(0)
        elif self._ended:
            self._check_end()

    def _on_source_ended(self) -> None:
        self._ended = True
        self._check_end()

    def _check_end(self) -> None:
        """The file ended: fail once its last frames are shown. The end is known before they are detected and
        drawn, and failing at once failed every photo (a file of one frame) with its frame on the way."""
        report = self.window.controller.report()
        if report["frames_displayed"] + report["frames_dropped"] >= report["frames_captured"]:
            self._finish(1, "the video ended before the requested number of frames")

    def _check_stall(self) -> None:
        if self.window.controller.model_loading_now:
            self._last_progress = time.monotonic()
        elif time.monotonic() - self._last_progress > STALL_LIMIT_S:
            self._finish(1, f"no frame displayed for {STALL_LIMIT_S:.0f} s")

    def stop(self, by: str) -> None:
        """A stop signal (Ctrl+C, ``kill``, a closed terminal) before the frames asked for: the run ends as
        ``predict``'s does, with its counts, ``"stopped_by"`` and the shell's 128 + signal exit status (it exited
        0 without its JSON line, and a script took the cut-short run for a whole one)."""
        self._stopped_by = by
        _print(f"livedet: stopped by {SPOKEN[by]} after {self.window.frames_shown} frames", error=True)
        self._finish(EXIT_STATUS[by])

    def _finish(self, code: int, error: str | None = None) -> None:
        if self._done:
            return
        self._done = True
        self._watchdog.stop()
        report = self.window.controller.report()
        if self._stopped_by:
            report["stopped_by"] = self._stopped_by
        if self.options.screenshot:
            if not self.window.grab().save(self.options.screenshot):
                error, code = error or f"could not save the screenshot to {self.options.screenshot}", 1
        self.window.close()  # finalises a recording and joins every thread
        # a live recording starts its file once the stream's rate is known, maybe only as the window closes: the
        # file's name is then still on its way to the controller (a queued signal), and so is a failure to finish
        # the file (a disk full at its last second, said to a status bar already gone: the run exited 0)
        QCoreApplication.sendPostedEvents()
        if self._late_failures and not error:
            error, code = self._late_failures[0], code or 1
        recordings = [path for path in self._recordings if Path(path).is_file()]  # not one that kept no frame
        if recordings:
            report["recordings"] = recordings
        if error:
            report["error"] = error
            _print(f"livedet: {error}", error=True)
        _print(json.dumps(report))
        self.exit_code = code
        self.app.exit(code)


def close_on_stop_signals(close: Callable[[str], None], quitting: Callable[[], bool] = lambda: False,
                          cut_quit_wait: Callable[[str], object] = lambda _by: None) -> None:
    """The first stop signal calls ``close`` with its name, from the event loop, never inside the signal's handler;
    a later one, while the app is quitting, ``cut_quit_wait`` (as a second Ctrl-C stops ``predict`` at once).

    Python runs a handler on the GUI thread in the middle of whatever that thread was doing, perhaps handing a
    frame to the recorder with the hand-over slot's lock held. Closing right there waited for the recorder,
    which waited for that lock: quitting took 30 s and the video lost the frames its log listed last. Posted
    to the event loop, the close runs once that code has returned.

    Quitting waits up to 30 s for a recording's disk that stopped answering, with the window already gone and
    not in the event loop, and Ctrl-C in the terminal did nothing meanwhile. Now the first stop asked (the one
    that closed the window, or one that comes while a quit begun otherwise finishes a recording: a log-out's
    SIGTERM) lets the recording finish, and says how to stop at once; a further one ends the wait
    (``cut_quit_wait`` must only set a field). A hangup never cuts it: a closed terminal's shell passes on the
    one the kernel sent, which would cut short every recording that a closed terminal asked to finish.
    """
    asked: list[str] = []

    def on_signal(by: str) -> None:
        first = not asked
        asked.append(by)
        if by != "hangup" and quitting():
            if not first:
                cut_quit_wait(by)
            else:
                write_past_python(f"livedet: {SPOKEN[by]}: already quitting, finishing what is being saved "
                                  "(Ctrl-C again to stop at once, leaving it unfinished)")
            return
        QTimer.singleShot(0, lambda: close(by))

    close_on_signals(on_signal)


def _end_of_cut_quit(controller: SessionController) -> int:
    """A stop signal ended the quit's waits: say which recordings are left unfinished, and whether snapshots were
    lost; the signal's exit status."""
    by = controller.quit_cut_by
    for path in controller.unfinished_recordings:
        _print(f"livedet: stopped by {SPOKEN[by]} while finishing the recording: {path} is left unfinished "
               "(what reached the disk plays: it is written in fragments)", error=True)
    if controller.unsaved_snapshots:
        count = controller.unsaved_snapshots
        _print(f"livedet: stopped by {SPOKEN[by]} while saving {count} snapshot{'s' if count > 1 else ''}: "
               f"{'they are' if count > 1 else 'it is'} not saved", error=True)
    return EXIT_STATUS[by]


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_multimedia_logs()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LiveDet")
    app.setOrganizationName("LiveDet")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    splash = show_splash(app, __version__)
    from .startup import build_window, start_session  # Qt widgets (about 1 s); the model (and torch, where it
    # is needed) loads later, on the loader's thread, while the window is up

    quiet_native_logs()  # (OpenCV is loaded by now) a missing camera or broken file: our one line, not theirs
    window = build_window(options)
    headless = HeadlessRun(app, window, options) if options.exit_after_frames else None
    window.show()
    splash.finish(window)
    start_session(window, options, source_waits_for_model=True)
    # Ctrl+C in a terminal, `kill`, a log-out or closing the terminal that started it: close as the window's X
    # does, so a recording is finished whole
    close_on_stop_signals(headless.stop if headless is not None else lambda _by: window.close(),
                          lambda: window.controller.quitting, window.controller.cut_quit_wait)
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: None)  # lets Python run its signal handlers while Qt waits
    heartbeat.start(250)
    code = app.exec()
    code = headless.exit_code if headless is not None else code
    all_stopped = window.controller.shutdown()
    if window.controller.quit_cut_by:
        code = _end_of_cut_quit(window.controller)
    if not all_stopped:
        # A thread is stuck in a camera driver, a model load or a silent disk; everything recorded is
        # finalised (or what reached the disk plays, as said) and the settings saved, so end now instead
        # of waiting for it (or crashing on it).
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
