"""The capture thread: reads frames from a camera, file or stream into a one-slot mailbox.

Opening happens here too, because a camera or a network stream can take
seconds to answer and the GUI must not wait for it. Files are paced to their
own FPS (or not at all with "max speed"), can pause, seek and loop; live
sources never pause the device, they just stop delivering.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QThread, Signal

from detector import SourceError, as_bgr_uint8
from detector.live_clock import frame_interval_s
from detector.video import SourceInfo, StillImage, capture_info, open_capture

from .mailbox import Mailbox
from .sources import CAMERA, IMAGE, VIDEO, SourceSpec
from .stats import PipelineStats

log = logging.getLogger(__name__)

LIVE_FAILURE_LIMIT_S = 3.0  # a live source silent this long is reported as lost
PUT_POLL_S = 0.1  # how often a waiting hand-over checks for stop requests
OPEN_POLL_S = 0.05  # how often a worker waiting for a slow open checks for stop requests
CAMERA_RELEASE_WAIT_S = 2.0  # how long a camera's new capture waits for the one before it to let the device go
FINISHED_WAITS_KEPT = 8  # more than the frames between the capture and the screen (two one-slot mailboxes, two stages)
SEEK_BY_READING_LIMIT = 3000  # frames a seek may read from the start when OpenCV's own seek finds none
# MPEG transport and program streams, where OpenCV's seek finds no frame before a keyframe it does not reach;
# elsewhere finding none means past the end of a damaged file
SEEKS_BADLY = {".ts", ".mts", ".m2ts", ".tp", ".trp", ".mpg", ".mpeg", ".vob", ".m2v"}


_OPENERS: set[threading.Thread] = set()  # openers still running, those stopped sources abandoned included
_OPENERS_LOCK = threading.Lock()
# camera index -> capture threads and openers that may hold it open (a stopped one lets go after its current read,
# an abandoned opener when its driver call returns)
_CAMERA_HOLDERS: dict[str, int] = {}
_CAMERAS_FREED = threading.Condition()


def _hold_camera(index: str) -> None:
    with _CAMERAS_FREED:
        _CAMERA_HOLDERS[index] = _CAMERA_HOLDERS.get(index, 0) + 1


def _let_camera_go(index: str) -> None:
    with _CAMERAS_FREED:
        left = _CAMERA_HOLDERS.get(index, 0) - 1
        if left > 0:
            _CAMERA_HOLDERS[index] = left
        else:
            _CAMERA_HOLDERS.pop(index, None)
        _CAMERAS_FREED.notify_all()


def _hold_camera_once_free(index: str, timeout_s: float) -> bool:
    """Hold camera ``index`` once nothing else does, waiting up to ``timeout_s``; False (nothing held) if it
    is still held then. Waiting and holding are one step: two captures never both find it free."""
    with _CAMERAS_FREED:
        if not _CAMERAS_FREED.wait_for(lambda: index not in _CAMERA_HOLDERS, timeout_s):
            return False
        _CAMERA_HOLDERS[index] = 1
        return True


def openers_finish(timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for every opener thread; False if one is still inside OpenCV (a camera driver or
    stream that does not answer). Why: the interpreter's exit stops a daemon thread where it stands, and one
    stopped inside OpenCV's C++ aborts the process ("terminate called without an active exception"), which
    turned a quit while a file was opening into exit code -6."""
    deadline = time.monotonic() + timeout_s
    with _OPENERS_LOCK:
        running = list(_OPENERS)
    for thread in running:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in running)


def header_slack(stated: int) -> int:
    """How many frames short of the count its header states a whole file may end: some containers state a
    count estimated from duration x FPS, a little off the real one (10 %, at least 10 frames)."""
    return max(10, stated // 10)


class _Stopped(Exception):
    """Raised inside the worker when stop() came while the source was still opening."""
DELIVERED, SKIPPED, STOP = "delivered", "skipped", "stop"


@dataclass(frozen=True)
class FramePacket:
    """One captured frame on its way to inference."""

    generation: int  # which opened source it came from (older ones are ignored)
    index: int  # frame number in the file, or a running count for live sources
    frame: np.ndarray  # BGR uint8
    captured_at: float  # time.perf_counter() when read
    frame_count: int | None  # frames in the file; None for live sources
    file_ms: float | None = None  # the frame's time in a file (a variable-rate file's frames are unevenly apart)
    stepped: bool = False  # a file's frame shown while paused (a seek or step): looked at, not played


@dataclass(frozen=True)
class NextFrameWait:
    """A file's frame ``shown_index`` is on, and the capture waits for the next one's time, ``interval_s`` after
    it: how long it has played so far is known only here (a screen recording's still lasts seconds)."""

    shown_index: int
    interval_s: float
    due: float | None  # time.perf_counter() when the next frame is due; None while paused
    left_s: float = 0.0  # while paused: what is left of the wait

    def played_s(self, now: float) -> float:
        left = self.left_s if self.due is None else self.due - now
        return min(self.interval_s, max(0.0, self.interval_s - left))


@dataclass
class PlaybackOptions:
    """How a file plays; ignored by live sources except ``paused``."""

    paused: bool = False
    loop: bool = True
    realtime: bool = True  # False: as fast as the pipeline goes ("max speed")
    lossless: bool = False  # True: wait for the consumer instead of dropping frames


class CaptureWorker(QThread):
    """Opens one source and feeds ``outbox`` until stopped; one worker per opened source."""

    # every signal carries the worker's generation, so news from a source already replaced is ignored
    opened = Signal(int, object)  # SourceInfo
    failed = Signal(int, str)
    reached_end = Signal(int)  # a file ended with looping off; the worker waits, paused, at its end
    paused_at = Signal(int, int)  # the last frame delivered before a pause (or a step while paused)
    ended_early = Signal(int, int, int)  # a file ran out at frame N of the M its header states (once per source)
    # frame index asked for could not be read; playing on from this index; whether the file has a variable frame
    # rate (whole: its header's count is its duration at its nominal rate, more frames than it holds)
    sought_past_end = Signal(int, int, int, bool)
    length_found = Signal(int, int)  # a variable-rate file ended, whole, at frame N: fewer than its header counts
    done = Signal(int)  # the thread is about to end, whatever happened

    def __init__(self, source: SourceSpec, outbox: Mailbox[FramePacket], stats: PipelineStats, *,
                 generation: int, options: PlaybackOptions | None = None) -> None:
        super().__init__()
        self.source = source
        self.generation = generation
        self._camera = source.value if source.kind == CAMERA else None  # the index it opens, when a camera
        self._outbox = outbox
        self._stats = stats
        self._cap: cv2.VideoCapture | None = None  # the open source; only the capture thread touches it
        self._cond = threading.Condition()  # the mutex for every field below; also wakes sleeps early
        self._options = options or PlaybackOptions()
        self._abort = False
        self._seek_to: int | None = None
        self._at_end = False
        self._said_ended_early = False
        self._first_ms = 0.0  # a file's first decoded frame's time in it
        self.info: SourceInfo | None = None
        # set by the capture thread, read by the GUI's (each replaced whole: no lock needed)
        self.next_frame_wait: NextFrameWait | None = None
        self.finished_waits: tuple[NextFrameWait, ...] = ()  # the last few: their frames may still be on screen

    # -- control, from any thread ----------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to end soon; the caller ``wait()``s only when it can afford to (at quit)."""
        with self._cond:
            self._abort = True
            self._cond.notify_all()
        self._outbox.close()

    def set_paused(self, paused: bool) -> None:
        with self._cond:
            if not paused and self._at_end:  # play after the end: start over
                self._seek_to, self._at_end = 0, False
            self._options.paused = paused
            self._cond.notify_all()

    def request_seek(self, index: int) -> None:
        """Jump to a frame of a file; only the latest request counts while one is pending."""
        with self._cond:
            self._seek_to = max(0, int(index))
            self._at_end = False
            self._cond.notify_all()

    def set_loop(self, loop: bool) -> None:
        with self._cond:
            self._options.loop = loop

    def set_realtime(self, realtime: bool) -> None:
        with self._cond:
            self._options.realtime = realtime
            self._cond.notify_all()

    def set_lossless(self, lossless: bool) -> None:
        with self._cond:
            self._options.lossless = lossless
            self._cond.notify_all()

    # -- the thread --------------------------------------------------------------------------
    def run(self) -> None:
        self._cap = None
        camera = self._camera
        holding = False
        try:
            if camera is not None:
                self._hold_camera_when_let_go(camera)
                holding = True
            self._cap, first = self._open()
            self._stream(first)
        except _Stopped:
            pass
        except SourceError as exc:
            self.failed.emit(self.generation, str(exc))
        except Exception as exc:  # noqa: BLE001 - a worker reports, it never takes the app down
            log.exception("capture of %s failed", self.source.label)
            self.failed.emit(self.generation, f"reading {self.source.label} failed unexpectedly: {exc}")
        finally:
            if self._cap is not None:
                self._cap.release()
            if holding:
                _let_camera_go(camera)
            self._outbox.close()
            self.done.emit(self.generation)

    def _hold_camera_when_let_go(self, camera: str) -> None:
        """Wait (up to CAMERA_RELEASE_WAIT_S, stop() ending it) for the capture this one replaces to let camera
        ``camera`` go. Why: it lets go after its current read, and on Linux a second handle that sets a format
        while another streams is refused (EBUSY): a resolution picked from the menu said the camera was "not
        available". After the wait it is opened anyway: a driver stuck in an abandoned open may never return."""
        deadline = time.monotonic() + CAMERA_RELEASE_WAIT_S
        while not _hold_camera_once_free(camera, min(OPEN_POLL_S, max(0.0, deadline - time.monotonic()))):
            with self._cond:
                if self._abort:
                    raise _Stopped
            if time.monotonic() >= deadline:
                log.warning("%s is still held by the capture before it: opening it anyway", self.source.label)
                _hold_camera(camera)
                return

    def _open_in_background(self, *, described: bool = False
                            ) -> tuple[cv2.VideoCapture, bool, np.ndarray | None, SourceInfo | None]:
        """Open the source and read its first frame on a daemon thread, returning early on stop().

        A camera driver or a stream that never answers can block inside OpenCV for many
        seconds; waiting here instead would make quitting (or switching source) wait too.
        An abandoned opener releases what it opened when it finally returns. ``described``:
        what is known of it is read there too (a file's container is read again, by PyAV).
        """
        outcome: dict = {}
        finished = threading.Event()

        def opener() -> None:
            try:
                with self._cond:
                    if self._abort:  # stopped while it waited for the camera: not opened for nothing
                        return
                cap = open_capture(self.source.value, camera_mode=self.source.camera_mode)
                ok, first = cap.read()
                info = None
                if described and ok and first is not None:
                    # a photo saved without a suffix is known only once opened, by its first bytes: a photo, not a video
                    kind = IMAGE if isinstance(cap, StillImage) else self.source.kind
                    info = capture_info(cap, kind, self.source.label, self.source.value if kind == VIDEO else None)
                outcome["result"] = (cap, ok, first, info)
            except BaseException as exc:  # noqa: BLE001 - handed to the worker, which reports it
                outcome["error"] = exc
            finally:
                with self._cond:  # who releases the capture is decided once, under the lock the worker reads it by
                    abandoned = outcome["abandoned"] = self._abort
                    finished.set()
                if abandoned and "result" in outcome:
                    outcome["result"][0].release()
                if self._camera is not None:  # released, or handed to the worker, which holds the camera too
                    _let_camera_go(self._camera)
                with _OPENERS_LOCK:
                    _OPENERS.discard(threading.current_thread())

        thread = threading.Thread(target=opener, name=f"open {self.source.label}", daemon=True)
        with _OPENERS_LOCK:
            _OPENERS.add(thread)
        if self._camera is not None:
            _hold_camera(self._camera)
        thread.start()
        while not finished.wait(OPEN_POLL_S):
            with self._cond:
                if self._abort:
                    raise _Stopped
        with self._cond:
            if self._abort:  # stopped after the opener finished: the capture is this thread's to release, not used
                if not outcome["abandoned"] and "result" in outcome:
                    outcome["result"][0].release()
                raise _Stopped
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def _open(self) -> tuple[cv2.VideoCapture, np.ndarray]:
        cap, ok, first, info = self._open_in_background(described=True)
        if not ok or first is None or info is None:
            cap.release()
            if self.source.is_file:
                raise SourceError(f"{self.source.label} holds no decodable frames (corrupt, or an unsupported codec)")
            raise SourceError(f"{self.source.label} opened but sent no picture (busy, or no permission)")
        first = as_bgr_uint8(first)
        if (info.width, info.height) != (first.shape[1], first.shape[0]):  # the frames are the truth
            info = replace(info, width=first.shape[1], height=first.shape[0])
        self.info = info
        self.opened.emit(self.generation, info)
        return cap, first

    def _stream(self, first: np.ndarray) -> None:
        assert self.info is not None and self._cap is not None
        cap = self._cap
        is_file = not self.info.is_live  # a video file, on disk or on a web server
        period = 1.0 / self.info.fps
        pending: np.ndarray | None = first  # a frame read but not yet delivered
        pending_ms = cap.get(cv2.CAP_PROP_POS_MSEC) if is_file else None  # its time in the file
        self._first_ms = pending_ms or 0.0  # the first decoded frame's (a file cut mid-stream starts later)
        paced_ms: float | None = None  # the time in the file of the frame paced last, if the next one follows it
        index = 0  # number of the next frame to deliver
        last_delivered = -1
        furthest_read = -1  # the furthest frame known to exist: where a seek past a damaged file's end goes back to
        furthest_ms = 0.0  # its time in the file
        last_frame_ms = 0.0  # the time in the file of the last frame read: where a file that ends early ended
        sought = False  # a seek happened and no frame has been read since
        announced_pause = None
        next_due = time.perf_counter()
        left_s = 0.0  # what was left of a frame's wait when a pause cut it short: a still goes on after Play
        interval_s = period  # from the frame before the one read last to it, by their times
        silent_since: float | None = None
        while True:
            with self._cond:
                announce = self._options.paused and self._seek_to is None and announced_pause != last_delivered
            if announce:
                announced_pause = last_delivered
                self.paused_at.emit(self.generation, last_delivered)
            with self._cond:
                held = False
                while is_file and self._options.paused and self._seek_to is None and not self._abort:
                    self._cond.wait(0.25)
                    held = True
                if self._abort:
                    return
                seek, self._seek_to = self._seek_to, None
                paused, loop, realtime, lossless = (self._options.paused, self._options.loop,
                                                    self._options.realtime, self._options.lossless)
            if not paused:
                announced_pause = None
            if held:  # the pace starts again from now: a due time from before the pause sent two frames at once
                next_due, left_s = time.perf_counter() + left_s, 0.0
            if is_file and seek is not None:
                self.next_frame_wait, self.finished_waits = None, ()  # frame numbers start again from here
                if seek == 0:
                    cap, pending = self._rewind()
                    pending_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                else:
                    variable_rate = self.info.sparser_than_stated(furthest_read + 1, furthest_ms, self._first_ms)
                    cap, pending, pending_ms = self._seek_exactly(cap, seek, trust_opencv=variable_rate)
                    last_frame_ms = pending_ms if pending_ms is not None else last_frame_ms
                index, sought, paced_ms, left_s = seek, seek > 0, None, 0.0
                if self._outbox.clear():  # a frame from before the jump is stale: counted, so the end can
                    self._stats.count_dropped()  # tell that every frame captured was shown or dropped
                next_due = time.perf_counter()
            if not is_file and paused:  # keep the device's buffer fresh; deliver nothing
                silent_since = None if cap.grab() else self._silent_since(silent_since)  # unplugged while paused too
                continue
            if pending is not None:
                ok, frame, frame_ms, pending = True, pending, pending_ms, None
            else:
                ok, frame = cap.read()
                frame_ms = None
                if ok and is_file:
                    last_frame_ms = frame_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            if not ok or frame is None:
                if is_file and sought and index > furthest_read and not self._reads_near_end(cap, furthest_read):
                    sought, back_to = False, max(0, furthest_read)  # past the real end of a damaged file
                    sparse = self.info.sparser_than_stated(furthest_read + 1, furthest_ms, self._first_ms)  # or VFR
                    self.sought_past_end.emit(self.generation, index, back_to, sparse)
                    with self._cond:  # a seek there: shown at once when paused too (a step), unless one came meanwhile
                        if self._seek_to is None:
                            self._seek_to = back_to
                    continue
                sought = False
                if is_file:
                    self._note_early_end(index, last_frame_ms)
                    if loop and index > 1:  # a photo (one frame) is shown once, not detected again 30 times a second
                        cap, pending = self._rewind()
                        pending_ms, paced_ms, index = cap.get(cv2.CAP_PROP_POS_MSEC), None, 0
                        # (finished waits are kept: a still just before the end may be on screen a while yet)
                        continue
                    with self._cond:
                        self._options.paused, self._at_end = True, True
                    self.reached_end.emit(self.generation)
                    continue
                silent_since = self._silent_since(silent_since)
                continue
            silent_since = None
            if index > furthest_read:
                furthest_read, furthest_ms = index, frame_ms or 0.0
            sought = False
            frame = as_bgr_uint8(frame)  # grey, BGRA or 16-bit cameras: the rest of the app sees BGR uint8
            stepping = paused and seek is not None
            if is_file and realtime and not stepping:
                if frame_ms is not None and paced_ms != frame_ms:  # (once: a frame kept over a pause comes again)
                    interval_s = frame_interval_s(paced_ms, frame_ms, self.info.fps)
                    next_due += interval_s - period  # due by its own time
                paced_ms = frame_ms
                self.next_frame_wait = NextFrameWait(index - 1, interval_s, next_due)
                interrupted = self._sleep_until(next_due)
                if interrupted:
                    pending, pending_ms = frame, frame_ms  # keep it for after the pause; a seek drops it above
                    left_s = max(0.0, next_due - time.perf_counter())
                    with self._cond:
                        paused_now = self._options.paused and self._seek_to is None
                        seeking = self._seek_to is not None
                    if paused_now:
                        self.next_frame_wait = NextFrameWait(index - 1, interval_s, None, left_s)
                    elif not seeking:  # Max speed: the frame played this long, and the next one comes at once
                        self._finish_wait(NextFrameWait(index - 1, interval_s - left_s, time.perf_counter()))
                    continue
                self._finish_wait(self.next_frame_wait)
                now = time.perf_counter()
                next_due = max(next_due + period, now - period)  # fell behind: do not burst to catch up
            else:
                paced_ms, left_s = frame_ms, 0.0  # the next frame played in real time is due after this one
            packet = FramePacket(self.generation, index, frame, time.perf_counter(), self.info.frame_count,
                                 frame_ms if is_file else None, stepping)
            outcome = self._deliver(packet, lossless and is_file)
            if outcome == STOP:
                return
            if outcome == SKIPPED:  # a seek came in while waiting: the frame is stale
                continue
            self._stats.count_captured()
            last_delivered = index
            index += 1

    def _silent_since(self, silent_since: float | None) -> float:
        """A live source sent nothing: when it fell silent, after a short wait before the next try; a SourceError
        once that is LIVE_FAILURE_LIMIT_S ago (read or grabbed while paused: a camera unplugged while paused was
        never reported, and its thread spun on the failing grab)."""
        silent_since = silent_since or time.perf_counter()
        if time.perf_counter() - silent_since > LIVE_FAILURE_LIMIT_S:
            raise SourceError(f"{self.source.label} stopped sending frames (unplugged, or the connection dropped)")
        time.sleep(0.02)
        return silent_since

    def _finish_wait(self, wait: NextFrameWait | None) -> None:
        """The wait for the next frame ended: its frame has played all it will until that frame is shown (a slow
        model shows it a while later; meanwhile the capture waits for the ones after)."""
        if wait is not None:  # kept first: a frame asked about in between is found in one or the other
            self.finished_waits = (*self.finished_waits[-(FINISHED_WAITS_KEPT - 1):], wait)
        self.next_frame_wait = None

    def played_s(self, index: int) -> float | None:
        """How long frame ``index`` of a file has played in real time so far (None: not known here)."""
        wait = self.next_frame_wait
        if wait is not None and wait.shown_index == index:
            return wait.played_s(time.perf_counter())
        # the newest first: after a loop, an older wait of the same frame number is the same frame's last time round
        return next((w.played_s(time.perf_counter()) for w in reversed(self.finished_waits) if w.shown_index == index),
                    None)

    def _seek_exactly(self, cap: cv2.VideoCapture, target: int, *, trust_opencv: bool
                      ) -> tuple[cv2.VideoCapture, np.ndarray | None, float | None]:
        """Frame ``target`` of a file and its time, or (cap, None, None) positioned as OpenCV's seek left it.

        OpenCV's seek lands on the keyframe after the frame asked for in an MPEG-TS recording (a camcorder's
        .MTS, a TV recording: frame 51 for frames 1 to 44, labelled as the one asked for), and finds nothing
        in one with a single keyframe. The frame's time says where it landed: past the target, it seeks
        further back and reads up to the target. Elsewhere OpenCV's seek lands right, and a frame's time says
        nothing of its number where the rate varies (``trust_opencv``): a phone's MP4 that drops to 15 FPS in the
        dark showed frame 29 for 28, by the time 28 has at its average rate.
        """
        seeks_badly = Path(self.source.value).suffix.lower() in SEEKS_BADLY
        cap.set(cv2.CAP_PROP_POS_FRAMES, target)
        ok, frame = cap.read()
        if ok and frame is not None:
            ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            if trust_opencv or not seeks_badly or self._frame_at(ms) <= target:
                return cap, frame, ms
        elif target > SEEK_BY_READING_LIMIT or not seeks_badly:
            return cap, None, None  # past the end of a damaged file, most likely: not read from the start to find out
        for back in (25, 100, 400, 1600):  # a keyframe at or before the target, nearest first
            if target - back <= 0:
                break
            cap.set(cv2.CAP_PROP_POS_FRAMES, target - back)
            ok, frame = cap.read()
            if ok and frame is not None and (landed := self._frame_at(cap.get(cv2.CAP_PROP_POS_MSEC))) <= target:
                return self._read_up_to(cap, frame, landed, target)
        if target <= SEEK_BY_READING_LIMIT:
            cap, frame = self._rewind()
            if frame is not None:
                return self._read_up_to(cap, frame, 0, target)
        cap.set(cv2.CAP_PROP_POS_FRAMES, target)  # as OpenCV's seek has it: the loop finds no frame, or the end
        return cap, None, None

    def _frame_at(self, ms: float) -> int:
        """The number of a constant-rate file's frame at ``ms`` in it."""
        assert self.info is not None
        return round((ms - self._first_ms) * self.info.fps / 1000)

    @staticmethod
    def _read_up_to(cap: cv2.VideoCapture, frame: np.ndarray, landed: int, target: int
                    ) -> tuple[cv2.VideoCapture, np.ndarray | None, float | None]:
        """Read on from frame ``landed`` (``frame``) to frame ``target``."""
        while landed < target:
            ok, frame = cap.read()
            if not ok or frame is None:
                cap.set(cv2.CAP_PROP_POS_FRAMES, target)
                return cap, None, None
            landed += 1
        return cap, frame, cap.get(cv2.CAP_PROP_POS_MSEC)

    def _reads_near_end(self, cap: cv2.VideoCapture, furthest_read: int) -> bool:
        """After a seek found no frame: does the file hold frames up to ``header_slack`` of the count its
        header states? Then it is whole, and that count an estimate (an MKV whose sound outlasts its
        picture states a few frames too many): the seek reached its end, not damage."""
        stated = (self.info.frame_count if self.info is not None else None) or 0
        probe = stated - 1 - header_slack(stated)
        if probe <= furthest_read:
            return probe >= 0
        cap.set(cv2.CAP_PROP_POS_FRAMES, probe)
        ok, frame = cap.read()
        return bool(ok) and frame is not None

    def _note_early_end(self, index: int, last_frame_ms: float) -> None:
        """A file that runs out well before the frame count its header states is damaged or cut short (a copy or
        download that stopped): say so once. Without it such a file looped its first seconds without a word
        while the position bar read "6 / 795". (A seek past its real end is ``sought_past_end``, not this.)"""
        stated = (self.info.frame_count if self.info is not None else None) or 0
        if self.info is not None and self.info.has_variable_rate(index, last_frame_ms, self._first_ms):
            if not self._said_ended_early:  # a variable frame rate (a browser's or OBS's recording): whole, with
                self._said_ended_early = True  # fewer frames than stated; the position bar ends where they do
                self.length_found.emit(self.generation, index)
            return
        if not self._said_ended_early and stated - index > header_slack(stated):
            self._said_ended_early = True
            self.ended_early.emit(self.generation, index, stated)

    def _rewind(self) -> tuple[cv2.VideoCapture, np.ndarray | None]:
        """Back to the first frame by opening the file again; returns the capture and that frame (None if unread).

        Why not a seek to 0: in a file without an index (raw H.264 or MJPEG, as a Raspberry Pi camera
        writes them) nothing reads after it, so Loop and Play-again stopped; an MPEG-TS file lost frames.
        """
        assert self._cap is not None
        self._cap.release()
        self._cap = None
        self._cap, ok, first, _ = self._open_in_background()
        return self._cap, first if ok else None

    def _sleep_until(self, due: float) -> bool:
        """Wait for a frame's due time; True when a pause, seek, stop or Max speed cut the wait short (a variable-rate
        file's still can last many seconds)."""
        with self._cond:
            while True:
                if self._abort or self._seek_to is not None or self._options.paused or not self._options.realtime:
                    return True
                delay = due - time.perf_counter()
                if delay <= 0:
                    return False
                self._cond.wait(delay)

    def _deliver(self, packet: FramePacket, wait: bool) -> str:
        """Hand a frame over: DELIVERED, SKIPPED (a seek made it stale while waiting) or STOP."""
        if not wait:
            if self._outbox.offer(packet):
                self._stats.count_dropped()
            return STOP if self._outbox.closed else DELIVERED
        while not self._outbox.put(packet, timeout=PUT_POLL_S):
            if self._outbox.closed:
                return STOP
            with self._cond:
                if self._abort:
                    return STOP
                if self._seek_to is not None:
                    return SKIPPED
        return DELIVERED
