"""A webcam opens sharper than its driver's 640x480, and the user can pick its resolution from the Source menu.

The camera is a fake behind cv2.VideoCapture (``tests/fake_webcam.py``) with the
formats of a common 1080p USB webcam; everything above it (QtMultimedia's list
aside) is the real app.
"""

from __future__ import annotations

import time

import cv2
import pytest

import detector.video as video
from desktop.cameras import CameraInfo, OfferedFormat, automatic_mode, modes_from_formats
from detector.camera_mode import CameraMode

from ..fake_webcam import OFFERED_FORMATS, FakeWebcam
from ..videos import read_back

FLOW_TIMEOUT_MS = 60_000


@pytest.fixture
def webcam(monkeypatch):
    """An 'HD Webcam' listed as camera 0 with its formats; opening it gives a fresh ``FakeWebcam`` (the last
    one is ``opened[-1]``). Files still open for real. ``options``: "obeys" (False: it keeps 640x480),
    "exclusive" (True: as V4L2, it refuses a second handle while one is held; a refused one is not in
    ``opened``) and "open_s" (how long the driver takes to open it)."""
    formats = [OfferedFormat(*f) for f in OFFERED_FORMATS]
    camera = CameraInfo("HD Webcam", 0, "/dev/video0", modes_from_formats(formats))
    monkeypatch.setattr("desktop.cameras.list_cameras", lambda: [camera])
    real = cv2.VideoCapture
    opened: list[FakeWebcam] = []
    options = {"obeys": True, "exclusive": False, "open_s": 0.0}

    def capture(*args, **kwargs):
        if isinstance(args[0], int):
            webcam = FakeWebcam(paced=True, obeys=options["obeys"])
            webcam.refused = options["exclusive"] and any(not known.released for known in opened)
            if not webcam.refused:
                opened.append(webcam)  # held from now: the driver's open takes a while yet
            time.sleep(options["open_s"])
            return webcam
        return real(*args, **kwargs)

    monkeypatch.setattr(video.cv2, "VideoCapture", capture)
    return opened, options


def _shown_size(qtbot, window, size: tuple[int, int]) -> None:
    """Wait until the window shows a frame of ``size`` (width, height)."""
    def showing() -> bool:
        shown = window.controller.last_shown
        return shown is not None and shown.image.shape[:2] == (size[1], size[0])
    qtbot.waitUntil(showing, timeout=FLOW_TIMEOUT_MS)


def _recording_the_webcam(qtbot, launch):
    """The window showing the webcam at 720p and recording it; the paths of the files started and the
    summaries of those finished are collected in the two lists returned with it."""
    window = launch(model="yolo-mnv3-small")
    _shown_size(qtbot, window, (1280, 720))
    started, finished = [], []
    window.controller.recording_started.connect(started.append)
    window.controller.recording_finished.connect(finished.append)
    window.record_action.trigger()
    qtbot.waitUntil(lambda: len(started) == 1, timeout=FLOW_TIMEOUT_MS)
    return window, started, finished


def _camera_lines(status_lines, window) -> list[str]:
    """What the status bar said of the webcam as it opened ("HD Webcam: 1280×720 at 30.0 FPS"), each time."""
    return [line for line in status_lines(window) if "HD Webcam: " in line]


def _resolution_actions(window) -> dict[str, object]:
    return {a.text(): a for a in window.resolution_menu.actions() if not a.isSeparator()}


def test_the_modes_listed_are_one_per_resolution_at_its_best_rate_largest_first():
    modes = modes_from_formats([OfferedFormat(*f) for f in OFFERED_FORMATS])
    assert modes == (CameraMode(1920, 1080, 30.0, "MJPG"), CameraMode(1280, 720, 30.0, "MJPG"),
                     CameraMode(640, 480, 30.0, ""))  # 640x480 uncompressed: same rate, nothing to decode


@pytest.mark.parametrize("offered, expected", [
    ([(640, 480, 30, False), (1280, 720, 30, True), (1920, 1080, 30, True)], (1280, 720)),
    ([(640, 480, 30, False), (1280, 720, 10, False)], (640, 480)),  # 720p only at 10 FPS: keep 30 FPS
    ([(640, 480, 60, False), (1280, 720, 30, True)], (1280, 720)),  # 60 FPS is not worth a smaller picture
    ([(960, 720, 30, False), (1280, 960, 30, False)], (960, 720)),  # a 4:3 camera
    ([(1920, 1080, 30, True), (3840, 2160, 30, True)], (1920, 1080)),  # nothing fits 1280x720: the smallest
    ([(1280, 720, 15, True)], (1280, 720)),  # a slow camera: its best
    ([(640, 480, 60, False), (1280, 720, 60, True)], (1280, 720)),  # 60 FPS offered: asked for 30
])
def test_the_automatic_choice_is_the_largest_picture_up_to_720p_at_full_rate(offered, expected):
    mode = automatic_mode(modes_from_formats([OfferedFormat(*f) for f in offered]))
    assert (mode.width, mode.height) == expected
    assert mode.fps == min(30, max(f[2] for f in offered if f[:2] == expected))  # asked for up to 30 FPS
    assert automatic_mode(()) is None  # a system that lists no formats: the driver's default


def test_a_webcam_opens_at_720p_at_30_fps_instead_of_its_drivers_640x480(qtbot, launch, webcam, status_lines):
    opened, _ = webcam
    window = launch(model="yolo-mnv3-small")  # no --source: the first camera
    _shown_size(qtbot, window, (1280, 720))
    assert opened[-1].fourcc == "MJPG" and opened[-1].fps == 30.0
    assert window.controller.source.label == "HD Webcam"
    # the model's "ready" line, coming meanwhile, may have replaced it by now
    assert _camera_lines(status_lines, window) == ["HD Webcam: 1280×720 at 30.0 FPS"], status_lines(window)
    actions = _resolution_actions(window)
    assert list(actions) == ["Automatic (1280×720 · 30 FPS)", "1920×1080 · 30 FPS", "1280×720 · 30 FPS",
                             "640×480 · 30 FPS"]
    assert window.resolution_menu.isEnabled() and actions["Automatic (1280×720 · 30 FPS)"].isChecked()
    assert not window.step_forward_action.isEnabled()  # a camera has no next frame to step to
    camera_entry = next(a for a in window.source_menu.actions() if a.text() == "Camera: HD Webcam")
    assert camera_entry.isChecked()  # the Source menu shows which camera plays


def _camera_offering(monkeypatch, name: str, offered: list[tuple[int, int, float, bool]]) -> None:
    """List camera 0 as ``name`` with the ``offered`` formats (width, height, fps, MJPEG), which its fake obeys."""
    camera = CameraInfo(name, 0, "/dev/video0", modes_from_formats([OfferedFormat(*f) for f in offered]))
    monkeypatch.setattr("desktop.cameras.list_cameras", lambda: [camera])
    monkeypatch.setattr(FakeWebcam, "OFFERS", {("MJPG" if mjpeg else "YUYV", width, height): fps
                                               for width, height, fps, mjpeg in offered})


def test_a_60_fps_webcam_is_asked_for_30_fps_by_default_and_60_when_chosen(qtbot, launch, webcam, monkeypatch):
    """Automatic means "up to 30 FPS": a webcam offering 1280x720 at 60 FPS was asked for 60, twice what the
    detector and a recording keep up with on a 2-core laptop, and the menu said "Automatic (1280×720 · 60 FPS)"."""
    _camera_offering(monkeypatch, "Game Webcam", [(640, 480, 30.0, False), (640, 480, 60.0, True),
                                                  (1280, 720, 60.0, True), (1920, 1080, 30.0, True)])
    opened, _ = webcam
    window = launch(model="yolo-mnv3-small")
    _shown_size(qtbot, window, (1280, 720))
    assert opened[-1].fourcc == "MJPG" and opened[-1].fps == 30.0
    assert list(_resolution_actions(window))[:2] == ["Automatic (1280×720 · 30 FPS)", "1920×1080 · 30 FPS"]
    assert "1280×720 · 60 FPS" in _resolution_actions(window)
    _resolution_actions(window)["1280×720 · 60 FPS"].trigger()  # the full rate, chosen: it is reopened at 60
    qtbot.waitUntil(lambda: len(opened) == 2 and window.controller.last_shown is not None, timeout=FLOW_TIMEOUT_MS)
    assert opened[-1].fps == 60.0


def test_a_webcam_with_720p_at_60_as_mjpeg_and_30_uncompressed_is_asked_for_the_uncompressed_30():
    """Automatic asked for 720p at 30 as MJPEG, which every frame must be decoded from, where the camera also
    sends it uncompressed at 30 (a USB 3 webcam); 60 FPS stays in the menu for those who want it."""
    offered = [(640, 480, 30.0, False), (1280, 720, 60.0, True), (1280, 720, 30.0, False)]
    modes = modes_from_formats([OfferedFormat(*f) for f in offered])
    assert modes == (CameraMode(1280, 720, 60.0, "MJPG"), CameraMode(1280, 720, 30.0, ""), CameraMode(640, 480, 30.0, ""))
    assert automatic_mode(modes) == CameraMode(1280, 720, 30.0, "")
    # uncompressed only at 10 FPS (USB 2): MJPEG is what reaches full rate, and no second 720p entry
    slow_raw = modes_from_formats([OfferedFormat(*f) for f in [(1280, 720, 60.0, True), (1280, 720, 10.0, False)]])
    assert slow_raw == (CameraMode(1280, 720, 60.0, "MJPG"),)
    assert automatic_mode(slow_raw) == CameraMode(1280, 720, 30.0, "MJPG")


def test_automatic_opens_a_usb3_webcam_uncompressed_at_720p_30(qtbot, launch, webcam, monkeypatch):
    _camera_offering(monkeypatch, "USB3 Webcam", [(640, 480, 30.0, False), (640, 480, 30.0, True),
                                                  (1280, 720, 60.0, True), (1280, 720, 30.0, False)])
    opened, _ = webcam
    window = launch(model="yolo-mnv3-small")
    _shown_size(qtbot, window, (1280, 720))
    assert (opened[-1].fourcc, opened[-1].fps) == ("YUYV", 30.0)
    assert list(_resolution_actions(window)) == ["Automatic (1280×720 · 30 FPS)", "1280×720 · 60 FPS",
                                                 "1280×720 · 30 FPS", "640×480 · 30 FPS"]
    _resolution_actions(window)["1280×720 · 60 FPS"].trigger()  # the full rate, chosen: MJPEG at 60
    qtbot.waitUntil(lambda: len(opened) == 2 and window.controller.last_shown is not None, timeout=FLOW_TIMEOUT_MS)
    assert (opened[-1].fourcc, opened[-1].fps) == ("MJPG", 60.0)


def test_a_resolution_chosen_from_the_menu_reopens_the_camera_and_is_remembered(qtbot, launch, webcam, tmp_path):
    window = launch(model="yolo-mnv3-small")
    _shown_size(qtbot, window, (1280, 720))
    _resolution_actions(window)["1920×1080 · 30 FPS"].trigger()
    _shown_size(qtbot, window, (1920, 1080))
    assert _resolution_actions(window)["1920×1080 · 30 FPS"].isChecked()
    window.close()  # saves the settings

    again = launch(model="yolo-mnv3-small")
    _shown_size(qtbot, again, (1920, 1080))
    assert _resolution_actions(again)["1920×1080 · 30 FPS"].isChecked()
    _resolution_actions(again)["Automatic (1280×720 · 30 FPS)"].trigger()
    _shown_size(qtbot, again, (1280, 720))


def test_a_resolution_picked_opens_the_camera_once_the_capture_before_has_let_it_go(qtbot, launch, webcam):
    """On Linux a second handle that sets a format while another streams is refused (EBUSY): a resolution picked
    from the menu opened the camera before the old capture let it go (after its current read), and said "camera 0
    is not available". So did one picked while the camera was still opening at another resolution."""
    opened, options = webcam
    options["exclusive"] = True
    window = launch(model="yolo-mnv3-small")
    _shown_size(qtbot, window, (1280, 720))
    failures = []
    window.controller.source_failed.connect(failures.append)
    opened[-1].fps = 4.0  # a dim room: each read takes 250 ms, and the old capture lets go after the one it is in
    _resolution_actions(window)["1920×1080 · 30 FPS"].trigger()
    _shown_size(qtbot, window, (1920, 1080))
    assert not failures and not window.status.last_error

    window.close_source_action.trigger()
    qtbot.waitUntil(lambda: all(webcam.released for webcam in opened), timeout=10_000)
    options["open_s"] = 1.0  # a camera slow to open: a resolution is picked meanwhile
    next(a for a in window.source_menu.actions() if a.text() == "Camera: HD Webcam").trigger()
    qtbot.wait(300)
    _resolution_actions(window)["640×480 · 30 FPS"].trigger()
    _shown_size(qtbot, window, (640, 480))
    assert not failures and not window.status.last_error
    assert sum(not webcam.released for webcam in opened) == 1  # one handle: the one playing


def test_a_camera_that_ignores_the_resolution_asked_says_what_it_gives(qtbot, launch, webcam, status_lines):
    _, options = webcam
    options["obeys"] = False
    window = launch(model="yolo-mnv3-small")
    _shown_size(qtbot, window, (640, 480))
    said = _camera_lines(status_lines, window)
    assert len(said) == 1 and "640×480" in said[0] and "asked for 1280×720" in said[0], status_lines(window)
    assert not window.status.last_error  # it plays: this is news, not an error


def test_the_resolution_menu_is_off_for_a_video_file(qtbot, launch, webcam, tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(20):
        writer.write(FakeWebcam().read()[1][:240, :320])
    writer.release()
    window = launch(model="yolo-mnv3-small", source=str(path))
    _shown_size(qtbot, window, (320, 240))
    assert not window.resolution_menu.isEnabled()
    assert not any(a.isChecked() for a in window.source_menu.actions())


class _Device:
    """What QtMultimedia lists for a camera, as far as LiveDet reads it."""

    def __init__(self, name: str, device_id: bytes) -> None:
        self._name, self._id = name, device_id

    def description(self) -> str:
        return self._name

    def id(self):
        return type("Id", (), {"data": lambda _self: self._id})()

    def videoFormats(self) -> list:
        return []


def test_two_cameras_of_one_model_are_told_apart_by_name(qtbot, launch, monkeypatch):
    from PySide6.QtMultimedia import QMediaDevices

    devices = [_Device("USB Camera", b"/dev/video0"), _Device("Integrated Webcam", b"/dev/video2"),
               _Device("USB Camera", b"/dev/video4")]
    monkeypatch.setattr(QMediaDevices, "videoInputs", staticmethod(lambda: devices))
    window = launch()
    entries = [a.text() for a in window.source_menu.actions() if a.text().startswith("Camera: ")]
    assert entries == ["Camera: USB Camera", "Camera: Integrated Webcam", "Camera: USB Camera (2)"]
    assert window.cameras.names() == {0: "USB Camera", 2: "Integrated Webcam", 4: "USB Camera (2)"}


def test_closing_the_camera_lets_it_go_keeps_the_recording_and_it_stays_off_at_the_next_start(qtbot, launch,
                                                                                              webcam):
    opened, _ = webcam
    window = launch(model="yolo-mnv3-small")  # the first camera opens by default
    _shown_size(qtbot, window, (1280, 720))
    window.record_action.trigger()
    qtbot.waitUntil(lambda: window.frames_shown >= 10, timeout=FLOW_TIMEOUT_MS)
    with qtbot.waitSignal(window.controller.recording_finished, timeout=FLOW_TIMEOUT_MS) as finished:
        window.close_source_action.trigger()  # Source ▸ Close (Ctrl+W)
    qtbot.waitUntil(lambda: opened[-1].released, timeout=10_000)  # the camera is let go: its light goes off
    summary = finished.args[0]
    assert summary.frames_written > 0 and read_back(summary.video_path).frames == summary.frames_written
    shown = window.frames_shown
    qtbot.wait(300)
    assert window.frames_shown == shown and not window.video_view.showing_video  # nothing more arrives
    assert "Closed HD Webcam: the camera is off" in window.video_view.welcome.message.text()
    assert window.windowTitle() == "LiveDet" and not window.close_source_action.isEnabled()
    window.close()

    cameras_opened = len(opened)
    again = launch(model="yolo-mnv3-small")  # a camera turned off stays off
    qtbot.wait(500)
    assert again.controller.source is None and len(opened) == cameras_opened
    assert not again.video_view.showing_video
    next(a for a in again.source_menu.actions() if a.text() == "Camera: HD Webcam").trigger()
    _shown_size(qtbot, again, (1280, 720))  # and opens when asked
    again.close()

    third = launch(model="yolo-mnv3-small")  # used again before quitting: opens by default again
    _shown_size(qtbot, third, (1280, 720))


def test_the_resolution_in_use_chosen_again_leaves_the_recording_alone_and_a_new_one_goes_on_in_a_new_file(
        qtbot, launch, webcam):
    """Clicking the checked resolution (or camera) reopened the camera and ended the recording; a real change
    ended it without a word."""
    opened, _ = webcam
    window, started, finished = _recording_the_webcam(qtbot, launch)
    _resolution_actions(window)["Automatic (1280×720 · 30 FPS)"].trigger()  # the one in use
    _resolution_actions(window)["1280×720 · 30 FPS"].trigger()  # what Automatic chose: the same
    next(a for a in window.source_menu.actions() if a.text() == "Camera: HD Webcam").trigger()  # the one playing
    qtbot.wait(500)
    assert len(opened) == 1 and window.controller.recording and not finished
    assert _resolution_actions(window)["1280×720 · 30 FPS"].isChecked()  # remembered, as chosen
    assert next(a for a in window.source_menu.actions() if a.text() == "Camera: HD Webcam").isChecked()

    _resolution_actions(window)["1920×1080 · 30 FPS"].trigger()
    _shown_size(qtbot, window, (1920, 1080))
    qtbot.waitUntil(lambda: bool(finished), timeout=FLOW_TIMEOUT_MS)
    assert str(finished[0].video_path) == started[0] and finished[0].frames_written > 0  # the 720p part, whole
    assert window.controller.recording and window.record_action.isChecked()  # going on, at 1080p
    qtbot.waitUntil(lambda: len(started) == 2, timeout=FLOW_TIMEOUT_MS)
    with qtbot.waitSignal(window.controller.recording_finished, timeout=FLOW_TIMEOUT_MS) as second:
        window.record_action.trigger()
    capture = cv2.VideoCapture(str(second.args[0].video_path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 1920 and capture.read()[0]
    capture.release()


def test_a_recording_named_on_the_command_line_goes_on_under_its_name_at_a_new_resolution(qtbot, launch, webcam,
                                                                                      tmp_path, caplog):
    """`livedet --record clip.mp4` on a webcam, then another resolution from the menu: the recording went on
    in a livedet-<date>.mp4 in the recordings folder, away from clip.mp4. It goes on in clip-2.mp4 beside it, and
    its own first part is not warned of as "an earlier recording"."""
    named = tmp_path / "named" / "clip.mp4"
    named.parent.mkdir()
    window = launch(model="yolo-mnv3-small", source="0", record=str(named))
    finished = []
    window.controller.recording_finished.connect(finished.append)
    _shown_size(qtbot, window, (1280, 720))
    qtbot.waitUntil(lambda: named.exists() and window.controller.recording, timeout=FLOW_TIMEOUT_MS)
    _resolution_actions(window)["1920×1080 · 30 FPS"].trigger()
    _shown_size(qtbot, window, (1920, 1080))
    qtbot.waitUntil(lambda: bool(finished) and named.with_name("clip-2.mp4").exists(), timeout=FLOW_TIMEOUT_MS)
    with qtbot.waitSignal(window.controller.recording_finished, timeout=FLOW_TIMEOUT_MS) as second:
        window.record_action.trigger()
    assert finished[0].video_path == named and second.args[0].video_path == named.with_name("clip-2.mp4")
    assert (read_back(named).width, read_back(named.with_name("clip-2.mp4")).width) == (1280, 1920)
    assert not list(tmp_path.rglob("livedet-*")) and "an earlier recording" not in caplog.text


@pytest.mark.parametrize("chosen_from", ["menu", "page"])
def test_a_camera_replugged_before_it_is_reported_lost_comes_back_by_itself_and_goes_on_recording(
        qtbot, launch, webcam, monkeypatch, status_lines, chosen_from):
    """A loose cable: the camera is listed again before the 3 s that declare it lost are over, so no list
    change came after the loss and it stayed lost. It is retried while it is listed, and a recording
    goes on in a new file; R while it waits cancels that, and R again asks for it again."""
    import desktop.capture as capture_module
    import desktop.widgets.main_window as main_window_module

    monkeypatch.setattr(capture_module, "LIVE_FAILURE_LIMIT_S", 0.5)
    monkeypatch.setattr(main_window_module, "RECONNECT_DELAYS_S", (30,))
    opened, _ = webcam
    window, started, finished = _recording_the_webcam(qtbot, launch)
    with qtbot.waitSignal(window.controller.source_failed, timeout=FLOW_TIMEOUT_MS):
        opened[-1].unplugged = True  # still listed: plugged back in already
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=FLOW_TIMEOUT_MS)  # its "Saved …" said before "Reconnected"
    assert "reconnecting in 30 s (attempt 1)" in window.status.last_error
    assert window.record_action.isChecked()
    assert window.status.recording_label.text() == "● REC · starts when HD Webcam is back"
    window.record_action.trigger()  # changed my mind: no recording when it is back
    assert not window.record_action.isChecked() and window.status.recording_label.text() == ""
    assert "before recording" not in (window.status.last_error or "")
    window.record_action.trigger()  # ... after all
    assert window.record_action.isChecked()
    before = len(status_lines(window))
    if chosen_from == "menu":  # sooner than the 30 s: Source ▸ Camera, or the camera's button on the page
        next(a for a in window.source_menu.actions() if a.text() == "Camera: HD Webcam").trigger()
    else:
        window.video_view.welcome.camera_chosen.emit(0)
    qtbot.waitUntil(lambda: len(opened) == 2 and window.controller.last_shown is not None, timeout=FLOW_TIMEOUT_MS)
    _shown_size(qtbot, window, (1280, 720))
    said = status_lines(window)[before:]  # the model's "ready" line may come after it: it is not what is in view
    reconnected = [i for i, line in enumerate(said) if line.startswith("Reconnected: HD Webcam")]
    assert reconnected and not any(line.startswith("⚠") for line in said[reconnected[0]:]), said
    assert window.controller.recording
    qtbot.waitUntil(lambda: len(started) == 2 and started[1] != started[0], timeout=FLOW_TIMEOUT_MS)


def test_of_two_cameras_of_one_model_the_other_is_never_taken_for_the_lost_one():
    """Two "USB Camera"s: unplugging the first renames the second (at index 2) "USB Camera", and it was
    "Reconnected" at once, another room on screen. A lone camera found at a new index still is."""
    from desktop.cameras import model_shared, same_camera
    from desktop.startup import _remembered_camera

    pair = [CameraInfo("USB Camera", 0, "/dev/video0"), CameraInfo("USB Camera (2)", 2, "/dev/video2")]
    left = [CameraInfo("USB Camera", 2, "/dev/video2")]
    assert model_shared("USB Camera", pair) and model_shared("USB Camera (2)", pair)
    assert same_camera("USB Camera", "0", left, model_was_shared=True) is None  # waits for its own to come back
    assert same_camera("USB Camera", "0", pair, model_was_shared=True) == pair[0]  # back at its index
    moved = [CameraInfo("HD Webcam", 2, "/dev/video2")]
    assert same_camera("HD Webcam", "0", moved, model_was_shared=False) == moved[0]  # a lone one, at a new node
    assert same_camera("HD Webcam", "0", [CameraInfo("Other", 0, "/dev/video0")], model_was_shared=False) is None

    # at start-up: the one used last, where its twin no longer is, is not "not plugged in"
    assert _remembered_camera("2", "USB Camera (2)", left) == ("2", "")
    assert _remembered_camera("2", "USB Camera (2)", pair) == ("2", "")  # at its index, not the first of the pair
    moved_pair = [CameraInfo("USB Camera", 4, "/dev/video4"), CameraInfo("USB Camera (2)", 6, "/dev/video6")]
    index, note = _remembered_camera("2", "USB Camera (2)", moved_pair)  # neither at its index: not "unplugged"
    assert index == "4" and note.startswith("USB Camera opened: 2 cameras like USB Camera (2), the camera used")
    index, note = _remembered_camera("2", "HD Webcam", [CameraInfo("Integrated Camera", 0, "/dev/video0")])
    assert index == "0" and note.startswith("HD Webcam, the camera used last time, is not plugged in")
    # settings from before names were kept, or a camera only OpenCV finds: its index is tried, as before
    assert _remembered_camera("1", "", [CameraInfo("Integrated Camera", 0, "/dev/video0")]) == ("1", "")


def _webcam_playing_quick_to_reconnect(qtbot, launch, webcam, monkeypatch):
    """The window playing the webcam at 720p, with the fakes of ``_camera_nodes``; a camera silent 0.5 s is
    lost and tried again 0.3 s later. Returns (the webcam's handles, indices opened, indices present, window)."""
    import desktop.capture as capture_module
    import desktop.widgets.main_window as main_window_module

    monkeypatch.setattr(capture_module, "LIVE_FAILURE_LIMIT_S", 0.5)
    monkeypatch.setattr(main_window_module, "RECONNECT_DELAYS_S", (0.3,))
    opened, _ = webcam
    indices, present = _camera_nodes(monkeypatch)
    window = launch(model="yolo-mnv3-small")
    _shown_size(qtbot, window, (1280, 720))
    return opened, indices, present, window


def _camera_nodes(monkeypatch) -> tuple[list[int], set[int]]:
    """The webcam fixture's camera behind the indices in the returned set (at first {0}, /dev/video0), and no
    camera at the others; the list collects every index opened."""
    fake_capture = video.cv2.VideoCapture
    indices: list[int] = []
    present = {0}

    def capture(*args, **kwargs):
        if isinstance(args[0], int):
            indices.append(args[0])
            if args[0] not in present:  # no such node
                absent = FakeWebcam()
                absent.refused = True
                return absent
        return fake_capture(*args, **kwargs)

    monkeypatch.setattr(video.cv2, "VideoCapture", capture)
    return indices, present


@pytest.mark.parametrize("replugged", ["after the loss", "before the loss is reported"])
def test_a_camera_plugged_back_in_at_another_index_is_reconnected_there_and_goes_on_recording(
        qtbot, launch, webcam, monkeypatch, status_lines, replugged):
    """Linux gives a camera plugged back in before its old /dev/video0 was let go the next node, /dev/video2:
    the lost camera was looked for at index 0 only, and never reconnected."""
    import desktop.capture as capture_module
    import desktop.widgets.main_window as main_window_module

    monkeypatch.setattr(capture_module, "LIVE_FAILURE_LIMIT_S", 0.5)
    monkeypatch.setattr(main_window_module, "RECONNECT_DELAYS_S", (0.3,))
    opened, _ = webcam
    indices, present = _camera_nodes(monkeypatch)

    def listed(cameras: list[CameraInfo]) -> None:
        window.cameras.cameras = cameras
        window.cameras.cameras_changed.emit(cameras)

    window, started, finished = _recording_the_webcam(qtbot, launch)
    replugged_list = [CameraInfo("HD Webcam", 2, "/dev/video2", window.cameras.cameras[0].modes)]
    with qtbot.waitSignal(window.controller.source_failed, timeout=FLOW_TIMEOUT_MS):
        present.clear()
        opened[-1].unplugged = True
        if replugged == "after the loss":
            listed([])
        else:  # a loose cable: listed again, at its new node, before the silence is over
            present.add(2)
            listed(replugged_list)
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=FLOW_TIMEOUT_MS)
    if replugged == "after the loss":
        assert "reconnects by itself when plugged back in" in window.status.last_error
        present.add(2)
        listed(replugged_list)
    qtbot.waitUntil(lambda: window.controller.source_info is not None, timeout=FLOW_TIMEOUT_MS)
    _shown_size(qtbot, window, (1280, 720))
    assert indices[-1] == 2 and window.controller.source.value == "2"
    # the recording's "Saved …" may come after "Reconnected …"
    assert any(text.startswith("Reconnected: HD Webcam") for text in status_lines(window)), status_lines(window)
    assert next(a for a in window.source_menu.actions() if a.text() == "Camera: HD Webcam").isChecked()
    qtbot.waitUntil(lambda: len(started) == 2 and started[1] != started[0], timeout=FLOW_TIMEOUT_MS)


def test_a_twin_plugged_in_while_the_camera_played_is_not_taken_for_it_once_it_is_lost(
        qtbot, launch, webcam, monkeypatch):
    """A second camera of the same model plugged in meanwhile is renamed "HD Webcam" when the first is pulled
    out: it was "Reconnected" as if it were the lost one, another room on screen."""
    opened, indices, present, window = _webcam_playing_quick_to_reconnect(qtbot, launch, webcam, monkeypatch)
    ours = window.cameras.cameras[0]
    twin = CameraInfo(f"{ours.name} (2)", 2, "/dev/video2", ours.modes)
    present.add(2)
    for listed in ([ours, twin], [CameraInfo(ours.name, 2, "/dev/video2", ours.modes)]):  # plugged in; ours out
        if len(listed) == 1:
            present.discard(0)
            opened[-1].unplugged = True
        window.cameras.cameras = listed
        window.cameras.cameras_changed.emit(listed)
        qtbot.wait(200)
    qtbot.waitUntil(lambda: window.controller.failed_source is not None, timeout=FLOW_TIMEOUT_MS)
    qtbot.wait(1_500)  # reconnecting would have opened it by now
    assert window.controller.source is None and 2 not in indices, indices
    assert "reconnects by itself when plugged back in" in window.status.last_error


def test_a_camera_found_at_a_new_index_keeps_its_resolution_and_automatic_can_be_chosen_again(
        qtbot, launch, webcam, monkeypatch):
    """Choices go by /dev/videoN: found at /dev/video2, a camera chosen at 1080p played at 1080p while the menu
    checked Automatic, and choosing Automatic did nothing (it was taken for the mode in use)."""
    opened, indices, present, window = _webcam_playing_quick_to_reconnect(qtbot, launch, webcam, monkeypatch)
    camera = window.cameras.cameras[0]
    full_hd = next(m for m in camera.modes if (m.width, m.height) == (1920, 1080))
    window.set_camera_mode(camera, full_hd)
    _shown_size(qtbot, window, (1920, 1080))
    moved = CameraInfo(camera.name, 2, "/dev/video2", camera.modes)
    with qtbot.waitSignal(window.controller.source_failed, timeout=FLOW_TIMEOUT_MS):
        present.clear()
        opened[-1].unplugged = True
    present.add(2)
    window.cameras.cameras = [moved]
    window.cameras.cameras_changed.emit([moved])
    qtbot.waitUntil(lambda: window.controller.source is not None and window.controller.source.value == "2",
                    timeout=FLOW_TIMEOUT_MS)
    _shown_size(qtbot, window, (1920, 1080))
    assert window.chosen_mode(moved) == full_hd  # the menu checks what plays
    window.set_camera_mode(moved, None)  # Automatic
    _shown_size(qtbot, window, (1280, 720))


@pytest.mark.parametrize("remembered", ["by name", "by index, as before names were kept", "not plugged in"])
def test_the_camera_used_last_opens_at_the_next_start_wherever_it_is_else_the_first_camera(
        qtbot, launch, webcam, monkeypatch, status_lines, remembered):
    """The camera used last was remembered by its index only: started with another set of cameras, the app said
    "camera 2 is not available" instead of opening the first camera, as README promises."""
    from desktop.settings import AppSettings

    opened, _ = webcam
    indices, present = _camera_nodes(monkeypatch)
    window = launch(model="yolo-mnv3-small")  # the first camera, at /dev/video0, opens by default
    _shown_size(qtbot, window, (1280, 720))
    modes = window.cameras.cameras[0].modes
    window.close()
    if remembered == "by index, as before names were kept":  # (or a camera only OpenCV finds: its index is tried)
        AppSettings().store.setValue("session/last_camera", "")
        AppSettings().store.setValue("session/last_source", "2")
    elif remembered == "not plugged in":
        AppSettings().store.setValue("session/last_camera", "Desk Camera")

    present.clear()
    present.add(2)
    now = [CameraInfo("HD Webcam", 2, "/dev/video2", modes)]  # a hub moved it to /dev/video2
    monkeypatch.setattr("desktop.cameras.list_cameras", lambda: now)
    errors = []
    again = launch(model="yolo-mnv3-small")
    again.controller.source_failed.connect(errors.append)
    _shown_size(qtbot, again, (1280, 720))
    assert indices[-1] == 2 and again.controller.source.value == "2" and not errors
    said = _camera_lines(status_lines, again)  # the model's "ready" line may be in view by now
    assert len(said) == 1, status_lines(again)
    said = said[0]
    if remembered == "not plugged in":
        assert said.startswith("Desk Camera, the camera used last time, is not plugged in: HD Webcam opened "
                               "instead; HD Webcam: 1280×720")
    else:
        assert said.startswith("HD Webcam: 1280×720")


def test_a_resolution_chosen_for_a_camera_found_at_another_device_at_the_next_start_is_kept(
        qtbot, launch, webcam, monkeypatch):
    """Choices go by /dev/videoN: a webcam set to 1080p that came up as /dev/video2 at the next start (a built-in
    camera took /dev/video0) opened at Automatic 1280×720, unsaid."""
    indices, present = _camera_nodes(monkeypatch)
    window = launch(model="yolo-mnv3-small")
    _shown_size(qtbot, window, (1280, 720))
    _resolution_actions(window)["1920×1080 · 30 FPS"].trigger()
    _shown_size(qtbot, window, (1920, 1080))
    modes = window.cameras.cameras[0].modes
    window.close()  # saves the settings

    present.clear()
    present.add(2)
    now = [CameraInfo("HD Webcam", 2, "/dev/video2", modes)]
    monkeypatch.setattr("desktop.cameras.list_cameras", lambda: now)
    again = launch(model="yolo-mnv3-small")
    _shown_size(qtbot, again, (1920, 1080))
    assert indices[-1] == 2 and _resolution_actions(again)["1920×1080 · 30 FPS"].isChecked()
