"""The main window: menus, toolbar, video, controls and status bar, bound to a ``SessionController``."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QFontMetrics,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from detector import OutputError
from detector import __version__ as detector_version
from detector.camera_mode import CameraMode
from detector.device import gpu_may_be_present
from detector.video import IMAGE_SUFFIXES, PLAYABLE_VIDEO_SUFFIXES, SourceInfo, is_stream_address, shown_address

from .. import __version__
from ..cameras import AUTOMATIC_LIMIT, CameraInfo, CameraWatcher, model_shared, same_camera
from ..controller import SessionController, ShownFrame
from ..file_check import DiskSilent, existing_files, silent_folder_message, within
from ..inference import ActiveModel
from ..model_loader import MODEL_FILE_SUFFIXES
from ..recording import RecordingSummary, make_record_folder
from ..resources import app_icon
from ..settings import RECENT_LIMIT, AppSettings, Preferences
from ..sources import CAMERA, IMAGE, SourceSpec, camera_source
from .controls import ModelPicker, PlaybackBar, ThresholdPanel, fit_every_text
from .elided import elide
from .status import ABOUT_CLASSES, ABOUT_MODEL, ABOUT_OUTPUT, ABOUT_SOURCE, StatusPanel
from .tick_menu import TickMenu
from .video_view import VideoView

WEIGHTS_SUFFIXES = MODEL_FILE_SUFFIXES
VIDEO_FILTER = "Videos and photos ({} {});;Videos ({});;Photos ({});;All files (*)".format(
    *(" ".join(dict.fromkeys(f"*{case}" for s in sorted(suffixes) for case in (s, s.upper())))  # MVI_1.MOV, IMG_2.HEIC
      for suffixes in (PLAYABLE_VIDEO_SUFFIXES, IMAGE_SUFFIXES, PLAYABLE_VIDEO_SUFFIXES, IMAGE_SUFFIXES)))  # (.264 once)
WEIGHTS_FILTER = "Models ({});;All files (*)".format(" ".join(f"*{s}" for s in WEIGHTS_SUFFIXES))
SOURCE_BUTTON_MAX_PX = 260  # the toolbar keeps its width whatever the source is called
SOURCE_BUTTON_HINT = "Choose a camera, a video file or a stream"
END_OF_VIDEO = "End of the video: press Space to play it again"
RECORDING_WAITS_FOR_PLAY = "● REC · starts on Play (Space)"  # Record pressed on a paused video
RECONNECT_DELAYS_S = (2, 5, 10, 30)  # a lost stream is opened again after these waits, then every 30 s
RECONNECT_STEADY_S = 10.0  # back this long, a source is steady: its next loss waits from the first delay again
INPUT_SIZES = (320, 416, 512, 640)  # Model ▸ Input size, besides the model's own
INPUT_SIZE_HINT = ("Larger finds smaller, more distant objects (people across a street) and takes longer: "
                   "on a 2-core laptop CPU, 416 px takes about 1.4 times as long as 320 px")
SHORTCUTS = (("Space", "pause / play"), (", / .", "previous / next frame"), ("R", "start / stop recording"),
             ("S", "snapshot to PNG"), ("M", "mirror the picture"), ("I", "info panel on / off"),
             ("F", "fullscreen"), ("Esc", "leave fullscreen"), ("Ctrl+O", "open a video or photo"),
             ("Ctrl+U", "open a stream URL"), ("Ctrl+M", "open a weights file"),
             ("Ctrl+W", "close the source (a camera goes off)"), ("Ctrl+Q", "quit"))


def device_choices(current: str) -> list[tuple[str, str]]:
    """Model ▸ Run on: automatic and the CPU always; a GPU where this machine may have one
    (or where it was chosen before, so the choice stays visible)."""
    choices = [("auto", "Automatic (a GPU when there is one)"), ("cpu", "CPU")]
    gpu = "mps" if sys.platform == "darwin" else "cuda"
    if gpu_may_be_present() or current == gpu:
        choices.append((gpu, "Apple GPU (Metal)" if gpu == "mps" else "NVIDIA GPU (CUDA)"))
    return choices


def _dropped_source(mime: QMimeData) -> str | None:
    """What a drop onto the window opens: the first local file it can open (several dropped at once: a notes.txt
    among them came first and was refused, the video beside it ignored), else the first file, else the first
    stream address (a link dragged from a browser, a chat or a camera's web page) or file:// location (selected
    text from a terminal), else None (refused)."""
    files = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
    if files:
        openable = PLAYABLE_VIDEO_SUFFIXES | IMAGE_SUFFIXES | set(WEIGHTS_SUFFIXES)
        return next((path for path in files if Path(path).suffix.lower() in openable), files[0])
    texts = [url.toString() for url in mime.urls()] or mime.text().split()[:1]
    sources = [text for text in texts if is_stream_address(text) or text[:7].lower() == "file://"]
    return sources[0] if sources else None


def mode_label(mode: CameraMode) -> str:
    return f"{mode.width}×{mode.height} · {mode.fps:g} FPS" if mode.fps else f"{mode.width}×{mode.height}"


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    return [path for path in (folder, *folder.parents) if not path.exists()]


_BY_NAME = "name:"  # a camera_modes key by camera name, beside the one by device id (MainWindow.chosen_mode)


class MainWindow(QMainWindow):
    def __init__(self, controller: SessionController, settings: AppSettings, prefs: Preferences,
                 cameras: CameraWatcher | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.settings = settings
        self.prefs = prefs
        self.cameras = cameras or CameraWatcher(self)
        self.frames_shown = 0  # new frames put on screen (re-drawn frames not counted)
        self.save_on_close = True
        self.remembered_realtime: bool | None = None  # the saved playback speed, when --fast overrides it
        self.setWindowTitle("LiveDet")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        # a stream or camera lost while playing is opened again by itself, with growing waits (a camera: while
        # it is plugged in), until it is back or the user opens something else or closes it
        self._reconnecting: SourceSpec | None = None
        self._reconnect_attempts = 0
        # the source that came back last, when, and the tries that took: one that drops again at once goes on from
        # there (a camera sending a frame and dropping was "Reconnected" every 2 s, a new recording file each time)
        self._back: tuple[SourceSpec, float, int] | None = None
        self._camera_model_shared = False  # the camera playing had a twin of its model plugged in (see same_camera)
        # Record asked for while no source plays but one is coming (it was being recorded when lost, or R was
        # pressed while it reconnects or while the start-up source waits for the model): the recording starts,
        # in a new file, once the source is open
        self._record_on_open = False
        self.source_awaited: str | None = None  # the start-up source, while it waits for the model (its label)
        self.opened_instead = ""  # why the start-up source is not the one used last: said once it opens
        self._reconnect_timer = QTimer(self)
        self._reconnect_timer.setSingleShot(True)
        self._reconnect_timer.timeout.connect(self.reconnect)
        self._build_actions()
        self._build_layout()
        self._build_menus()
        self._connect_controller()
        self.controller.camera_setup = self._set_up_camera
        self.cameras.cameras_changed.connect(self._on_cameras_changed)
        self._on_cameras_changed(self.cameras.cameras)
        self._restore()

    # -- construction ----------------------------------------------------------------------
    def _action(self, text: str, shortcut: str | None, tip: str, slot, *, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
        action.setStatusTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(lambda _checked=False: slot())  # slots read state themselves
        self.addAction(action)  # shortcuts work in fullscreen too, with menus hidden
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_file_action = a("Open video or photo…", "Ctrl+O", "Play a video file, or detect in a photo",
                                  self.choose_video_file)
        self.open_url_action = a("Open stream URL…", "Ctrl+U", "Watch an RTSP or HTTP stream", self.choose_url)
        self.close_source_action = a("Close", "Ctrl+W", "Stop playing; a camera is let go (its light goes off)",
                                     self.close_source)
        self.close_source_action.setEnabled(False)  # until a source opens
        self.quit_action = a("Quit", "Ctrl+Q", "Close LiveDet", self.close)
        # Not checkable: its word says what a press does, as in a player ("Play" held down read as playing)
        self.pause_action = a("Pause", "Space", "Pause or resume the video", self._on_pause_triggered)
        self.step_back_action = a("Previous frame", ",", "Pause and go back one frame (files)",
                                  lambda: self.controller.step(-1))
        self.step_forward_action = a("Next frame", ".", "Pause and go forward one frame (files)",
                                     lambda: self.controller.step(1))
        self.record_action = a("Record", "R", "Record the annotated video", self._on_record_toggled, checkable=True)
        self.snapshot_action = a("Snapshot", "S", "Save the frame on screen as PNG", self.controller.save_snapshot)
        self.fullscreen_action = a("Fullscreen", "F", "Fill the screen with the video", self.toggle_fullscreen,
                                   checkable=True)
        self.leave_fullscreen_action = a("Leave fullscreen", "Esc", "Back to the window", self._leave_fullscreen)
        self.mirror_action = a("Mirror", "M", "Flip the picture left to right, as a mirror (and webcam apps) show you",
                               self._on_mirror_toggled, checkable=True)
        self.info_panel_action = a("Info panel", "I", "The corner panel with object count, FPS, latency and model "
                                   "(recordings get it too)", self._on_info_panel_toggled, checkable=True)
        self.open_weights_action = a("Open weights…", "Ctrl+M", "Load a checkpoint or ONNX file",
                                     self.choose_weights_file)
        self.record_folder_action = a("Recording folder…", None, "Where recordings and snapshots go",
                                      self.choose_record_folder)
        self.show_recordings_action = a("Show recordings", None, "Open the recordings folder in the file manager",
                                        self.show_record_folder)
        self.about_action = a("About LiveDet", None, "Version, models and shortcuts", self.show_about)

    def _build_layout(self) -> None:
        self.video_view = VideoView()
        self.video_view.welcome.open_file_requested.connect(self.choose_video_file)
        self.video_view.welcome.open_url_requested.connect(self.choose_url)
        self.video_view.welcome.camera_chosen.connect(self._open_camera)
        self.video_view.welcome.recent_chosen.connect(self.open_source)
        self.video_view.welcome.retry_requested.connect(self.reconnect)
        self.video_view.canvas.covered_changed.connect(self.controller.keep_tags_clear_of)
        self.playback = PlaybackBar(self.pause_action, self.step_back_action, self.step_forward_action)
        self.playback.seek_requested.connect(self.controller.seek)
        self.playback.loop_toggled.connect(self.controller.set_loop)
        self.playback.realtime_toggled.connect(self.controller.set_realtime)
        self.thresholds = ThresholdPanel(self.prefs.conf, self.prefs.iou)
        self.thresholds.thresholds_changed.connect(self.controller.set_thresholds)
        self.controls = QWidget()
        controls_layout = QVBoxLayout(self.controls)
        controls_layout.setContentsMargins(8, 4, 8, 4)
        controls_layout.addWidget(self.playback)
        controls_layout.addWidget(self.thresholds)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.video_view, 1)
        layout.addWidget(self.controls)
        self.setCentralWidget(central)

        self.model_picker = ModelPicker()
        self.model_picker.model_chosen.connect(self.controller.load_model)
        self.model_picker.open_weights_requested.connect(self.choose_weights_file)
        self.source_button = QToolButton()
        self.source_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.source_button.setStyleSheet("QToolButton { padding-right: 14px; }")  # room for the menu arrow
        self._name_source_button(None)
        self.toolbar = self.addToolBar("Main")
        self.toolbar.setObjectName("main-toolbar")
        self.toolbar.addWidget(self.source_button)
        self.toolbar.addWidget(self.model_picker)
        self.toolbar.addSeparator()
        for action in (self.pause_action, self.record_action, self.snapshot_action, self.fullscreen_action):
            self.toolbar.addAction(action)
        for action, texts in ((self.pause_action, ("Play", "Pause")), (self.record_action, ("Record", "Stop recording"))):
            fit_every_text(self.toolbar.widgetForAction(action), action, texts)  # the toolbar does not shift either
        self.status = StatusPanel()
        self.setStatusBar(self.status)
        self.status.message_changed.connect(self._show_status_in_picture)
        self._maximized_before_fullscreen = False
        self._hidden_for_fullscreen: list[QWidget] = []  # what fullscreen hid (toggle_fullscreen)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.source_menu = bar.addMenu("&Source")
        self.source_button.setMenu(self.source_menu)
        self._camera_actions: dict[int, QAction] = {}  # camera index -> its Source menu entry
        self.recent_menu = QMenu("Open recent", self)
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)  # a file deleted since is left out then too
        self.resolution_menu = QMenu("Camera resolution", self)
        self.resolution_menu.setToolTipsVisible(True)
        self._resolution_group: QActionGroup | None = None
        self._input_size_group: QActionGroup | None = None
        view = bar.addMenu("&View")
        for action in (self.pause_action, self.step_back_action, self.step_forward_action, self.fullscreen_action,
                       self.mirror_action, self.info_panel_action):
            view.addAction(action)
        model = bar.addMenu("&Model")
        model.addAction(self.open_weights_action)
        self.device_menu = model.addMenu("Run on")
        self.device_actions: dict[str, QAction] = {}
        self._device_before: str | None = None  # while a model moves to another device: where it runs now
        self._input_size_before: int | None = None  # ... or is prepared at another input size: the size it runs at
        group = QActionGroup(self)
        for device, label in device_choices(self.prefs.device):
            action = self.device_menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(device == self.prefs.device)
            action.triggered.connect(lambda _=False, d=device: self.set_device(d))
            group.addAction(action)
            self.device_actions[device] = action
        self.input_size_menu = model.addMenu("Input size")
        self.input_size_menu.setToolTipsVisible(True)
        self.input_size_actions: dict[int, QAction] = {}  # size in pixels (0: the model's own) -> its entry
        self._rebuild_input_size_menu(None)
        self.classes_menu = TickMenu("Show classes", self)  # stays open while classes are ticked
        model.addMenu(self.classes_menu)
        self.classes_menu.setToolTipsVisible(True)
        self._class_actions: list[QAction] = []  # one per class of the model in use, in its order
        self._rebuild_classes_menu(())
        record = bar.addMenu("&Record")
        for action in (self.record_action, self.snapshot_action, self.show_recordings_action,
                       self.record_folder_action):
            record.addAction(action)
        formats = record.addMenu("Save detections beside the video")
        self.detection_format_actions: dict[str, QAction] = {}
        for fmt, label in (("", "No"), ("jsonl", "As JSON lines (.jsonl)"), ("csv", "As CSV (.csv)")):
            action = formats.addAction(label)
            action.setCheckable(True)
            action.triggered.connect(lambda _=False, f=fmt: self.set_detections_format(f))
            self.detection_format_actions[fmt] = action
        bar.addMenu("&Help").addAction(self.about_action)

    def _rebuild_source_menu(self, cameras: list[CameraInfo]) -> None:
        menu = self.source_menu
        menu.clear()
        self._camera_actions = {}
        for camera in cameras:
            action = menu.addAction(f"Camera: {camera.name}")
            action.setToolTip(camera.device_id)
            action.setCheckable(True)  # the one playing is checked
            action.triggered.connect(lambda _=False, c=camera: self._open_camera(c.index))
            self._camera_actions[camera.index] = action
        if not cameras:
            menu.addAction("No camera found").setEnabled(False)
        else:
            menu.addMenu(self.resolution_menu)
            self._refresh_camera_menus()
        menu.addSeparator()
        menu.addAction(self.open_file_action)
        menu.addAction(self.open_url_action)
        menu.addMenu(self.recent_menu)
        menu.addAction(self.close_source_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)

    def _fill_recent_menu(self) -> None:
        """Source ▸ Open recent: the files (still there) and streams opened lately, newest first."""
        menu = self.recent_menu
        menu.clear()
        files = [value for value in self.prefs.recent if not is_stream_address(value)]
        present = existing_files(files) if files else set()  # None: the disk did not answer (an offline share)
        listed = []
        for value in self.prefs.recent:
            is_url = is_stream_address(value)
            if not is_url and present is not None and value not in present:
                continue  # moved or deleted since
            listed.append((shown_address(value) if is_url else Path(value).name,
                           shown_address(value) if is_url else value, value))
        for name, tooltip, value in listed:
            action = menu.addAction(name)
            action.setToolTip(tooltip)
            action.triggered.connect(lambda _=False, v=value: self.open_source(v))
        self.video_view.welcome.set_recent(listed)
        if menu.isEmpty():
            menu.addAction("Nothing opened yet").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list").triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        self.prefs.recent = []
        self._fill_recent_menu()

    def _connect_controller(self) -> None:
        """Only this window's own methods (or its widgets'): Qt drops those connections when the window
        is destroyed, so a model load that ends later (it cannot be interrupted) touches no deleted widget."""
        c = self.controller
        c.frame_shown.connect(self._on_frame_shown)
        c.source_opening.connect(self._on_source_opening)
        c.source_opened.connect(self._on_source_opened)
        c.source_failed.connect(self._on_source_failed)
        c.source_closed.connect(self._on_source_closed)
        c.source_ended.connect(self._on_source_ended)
        c.source_damaged.connect(self._on_source_problem)
        c.true_length.connect(self.playback.set_true_length)
        c.pause_changed.connect(self._on_pause_changed)
        c.model_loading.connect(self._on_model_loading)
        c.model_idle.connect(self._on_model_idle)
        c.model_ready.connect(self._on_model_ready)
        c.model_failed.connect(self._on_model_failed)
        c.recording_changed.connect(self._on_recording_changed)
        c.recording_started.connect(self._on_recording_started)
        c.recording_finished.connect(self._on_recording_finished)
        c.recording_failed.connect(self._on_output_problem)
        c.needs_source.connect(self._on_source_problem)
        c.snapshot_saved.connect(self._on_snapshot_saved)
        c.message.connect(self.status.show_info)

    def _on_source_problem(self, message: str) -> None:  # a damaged file, or an action that needs a source
        self.status.show_error(message, ABOUT_SOURCE)

    def _on_output_problem(self, message: str) -> None:  # a recording or snapshot that failed
        self.status.show_error(message, ABOUT_OUTPUT)

    def _on_snapshot_saved(self, _path: str) -> None:  # (the controller's message says where)
        self.status.resolved(ABOUT_OUTPUT)

    def _on_source_ended(self) -> None:
        source = self.controller.source
        if source is not None and source.kind != IMAGE:  # a photo has no end to speak of
            self.status.show_info(END_OF_VIDEO)

    def _on_model_loading(self, label: str) -> None:
        self.status.set_busy("model", f"Loading {label}…")

    def _on_model_idle(self) -> None:
        self.status.clear_busy("model")

    def _on_recording_started(self, path: str) -> None:
        self.status.resolved(ABOUT_OUTPUT)
        self.status.start_recording_clock(Path(path).name, video_time=lambda: self.controller.recorded_seconds)
        self._show_recording_badge()

    def _first_size(self) -> QSize:
        """1100 x 820, or less on a smaller screen: on a 1366 x 768 laptop the status bar (every message and
        the REC light) and the IoU slider were below the screen's edge."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        room = screen.availableGeometry().size() if screen is not None else QSize(1100, 820)
        frame = self.frameGeometry().size() - self.geometry().size()  # the title bar and borders, once shown
        return QSize(1100, 820).boundedTo(QSize(room.width() - max(frame.width(), 16),
                                                room.height() - max(frame.height(), 48)))

    def _restore(self) -> None:
        geometry, state = self.settings.geometry(), self.settings.window_state()
        if geometry is None or not self.restoreGeometry(geometry):  # damaged: a 533×533 window, its toolbar cut
            self.resize(self._first_size())
        if state is not None:
            self.restoreState(state)
        self.controller.record_folder = self.prefs.record_dir
        self.controller.set_thresholds(self.thresholds.conf, self.thresholds.iou)
        self.set_class_filter(self.prefs.classes)
        self.controller.set_loop(self.prefs.loop)
        self.controller.set_realtime(self.prefs.realtime)
        self._fill_recent_menu()
        self.mirror_action.setChecked(self.prefs.mirror)
        self.controller.set_mirror(self.prefs.mirror)
        self.info_panel_action.setChecked(self.prefs.info_panel)
        self.controller.set_info_panel(self.prefs.info_panel)
        self.playback.set_options(self.prefs.loop, self.prefs.realtime)
        self.set_detections_format(self.prefs.detections_format)
        if self.model_picker.has_models:
            self.video_view.show_welcome()
        else:
            self.video_view.show_welcome("No detection models found in the models folder: the video plays without "
                                         "boxes. Use Model ▸ Open weights… to load a checkpoint or ONNX file.")

    # -- user actions ----------------------------------------------------------------------
    def open_source(self, source: SourceSpec | str) -> None:
        self._stop_reconnecting()  # the user chose what to watch now
        self.controller.open_source(source)

    def close_source(self) -> None:
        """Source ▸ Close: stop playing, or stop trying to get a lost stream back."""
        if self._reconnecting is not None and self.controller.source is None:
            label = self._reconnecting.label
            self._stop_reconnecting()
            self.controller.close_source()  # forgets the lost source: a camera plugged back in stays off
            self.prefs.source_closed = True  # ... and the next start does not turn it back on
            self.status.resolved(ABOUT_SOURCE)  # "reconnecting in 4 s" is no longer true
            self.close_source_action.setEnabled(False)
            self.status.show_info(f"Stopped reconnecting to {label}")
            self.video_view.show_welcome(f"Stopped reconnecting to {label}")
            return
        self._stop_reconnecting()
        self.controller.close_source()  # (lost: it forgets the source, so plugging a camera in reopens nothing)

    def _stop_reconnecting(self) -> None:
        self._reconnect_timer.stop()
        self._reconnecting = None
        self._reconnect_attempts = 0
        self.source_awaited = None
        self._set_record_on_open(False)

    def _set_record_on_open(self, on: bool) -> None:
        """Record stays pressed while a recording waits for its source to open, and the light says for what."""
        self._record_on_open = on
        if not self.controller.recording:
            self.status.set_recording(self._waiting_light())
            self._show_record_button(on)

    def _waiting_light(self) -> str | None:
        """"● REC · starts when Camera 0 is back" while a recording waits for its source; else None."""
        if not self._record_on_open:
            return None
        coming = (f"{self._reconnecting.label} is back" if self._reconnecting is not None
                  else f"{self.source_awaited} opens" if self.source_awaited is not None else None)
        return f"● REC · starts when {coming}" if coming else None

    def _show_record_button(self, on: bool) -> None:
        self.record_action.setChecked(on)
        self.record_action.setText("Stop recording" if on else "Record")

    def choose_video_file(self) -> None:
        last = self.prefs.last_source
        start = str(Path(last).parent) if last and not is_stream_address(last) and existing_files([last]) else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a video or photo", start, VIDEO_FILTER)
        if path:
            self.open_source(path)

    def choose_url(self) -> None:
        url, ok = QInputDialog.getText(self, "Open stream URL", "RTSP or HTTP address (e.g. rtsp://host:554/stream):")
        if ok and url.strip():
            self.open_source(url.strip())

    def choose_weights_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model weights", "", WEIGHTS_FILTER)
        if path:
            self.model_picker.choose(path)

    def choose_record_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Recording folder", str(self.controller.record_folder))
        if folder:
            self.controller.record_folder = Path(folder)
            self.prefs.record_folder = folder
            self.status.resolved(ABOUT_OUTPUT)
            self.status.show_info(f"Recordings and snapshots go to {folder}")

    def show_record_folder(self) -> None:
        """Open the recordings folder in the system's file manager: where a user goes next with a recording."""
        folder = self.controller.record_folder
        try:  # before the first recording it may not exist yet; on a silent share, asking would freeze the window
            made = within(lambda: _missing_folders(folder))
            within(lambda: make_record_folder(folder))
        except DiskSilent:
            self.status.show_error(silent_folder_message(folder), ABOUT_OUTPUT)
            return
        except OutputError as exc:
            self.status.show_error(str(exc), ABOUT_OUTPUT)
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            for path in made:  # made for the file manager, which did not come: left as they were (~/Videos too)
                try:
                    path.rmdir()  # only while empty
                except OSError:
                    break
            self.status.show_error(f"No file manager could open {folder}", ABOUT_OUTPUT)

    def _on_mirror_toggled(self) -> None:
        self.prefs.mirror = self.mirror_action.isChecked()
        self.controller.set_mirror(self.prefs.mirror)

    def _on_info_panel_toggled(self) -> None:
        self.prefs.info_panel = self.info_panel_action.isChecked()
        self.controller.set_info_panel(self.prefs.info_panel)

    def set_detections_format(self, fmt: str) -> None:
        self.controller.set_detections_format(fmt)
        self.prefs.detections_format = self.controller.detections_format
        for key, action in self.detection_format_actions.items():
            action.setChecked(key == self.controller.detections_format)

    def _on_pause_triggered(self) -> None:
        self.controller.toggle_pause()

    def _on_record_toggled(self) -> None:
        self.controller.forget_recording_name()  # R's recordings are named by the app
        if self.controller.source is None and (self._reconnecting is not None or self.source_awaited is not None):
            self._set_record_on_open(self.record_action.isChecked())  # it said "Open a camera … before recording"
            return
        wanted = self.record_action.isChecked()
        self._set_record_on_open(False)  # R decides now: a stop while a lost source reopens is not undone once open
        if wanted:
            self.controller.start_recording()
        else:
            self.controller.stop_recording()
        self.record_action.setChecked(self.controller.recording)

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self._leave_fullscreen()
            return
        # what fullscreen hides, to be shown again on the way out: only what was shown (a toolbar the user had
        # hidden came back with Esc, or with F pressed twice)
        self._hidden_for_fullscreen = [widget for widget in (self.menuBar(), self.toolbar, self.controls, self.status)
                                       if widget.isVisible()]
        for widget in self._hidden_for_fullscreen:
            widget.hide()
        self._maximized_before_fullscreen = self.isMaximized()
        self.showFullScreen()
        self.fullscreen_action.setChecked(True)
        self._show_recording_badge()
        self._show_status_in_picture(*self.status.message)

    def _leave_fullscreen(self) -> None:
        if self.isFullScreen():  # back as it was: a maximized window came back un-maximized and smaller
            self.showMaximized() if self._maximized_before_fullscreen else self.showNormal()
        hidden, self._hidden_for_fullscreen = self._hidden_for_fullscreen, []  # Esc in a window: nothing to show
        for widget in hidden:
            widget.show()
        self.fullscreen_action.setChecked(False)
        self._show_recording_badge()
        self._show_status_in_picture("", False)

    def _show_status_in_picture(self, text: str, error: bool) -> None:
        """In fullscreen the status bar is hidden: its message (a recording stopped by a full disk, the end of
        the video) is drawn along the picture's bottom instead, as long as the bar would show it."""
        self.video_view.canvas.set_notice(text if self.fullscreen_action.isChecked() else "", error)

    def _show_recording_badge(self) -> None:
        """In fullscreen the status bar's recording light is hidden: the picture's corner says it instead, and
        that it starts on Play while it waits for a frame (a bare "● REC" said a paused video was recording)."""
        shown = self.controller.recording and self.fullscreen_action.isChecked()
        waiting = not self.status.recording_clock_running
        self.video_view.canvas.set_recording_badge((self._recording_light() if waiting else "● REC") if shown else "")

    def about_text(self) -> str:
        """Help ▸ About: version, model, recording folder and every keyboard shortcut."""
        model = self.controller.model
        keys = "".join(f"<tr><td><b>{k}</b></td><td>{what}</td></tr>" for k, what in SHORTCUTS)
        return (f"<h3>LiveDet {__version__}</h3><p>Real-time object detection on cameras, video files and streams, "
                f"with a YOLO-style detector on a MobileNetV3 backbone (detector {detector_version}).</p>"
                f"<p>Model: {model.name + ' on ' + model.device if model else 'none loaded'}</p>"
                f"<p>Recordings and snapshots: {self.controller.record_folder}</p>"
                f"<table cellspacing='0' cellpadding='3'>{keys}</table>")  # padding: 'Ctrl+W' and its words apart

    def show_about(self) -> None:
        QMessageBox.about(self, "About LiveDet", self.about_text())

    # -- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_source(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        dropped = _dropped_source(event.mimeData())
        if dropped is None:
            return
        event.acceptProposedAction()
        self.open_dropped(dropped)

    def open_dropped(self, path: str) -> None:
        """A dropped weights file becomes the model; anything else is opened as the source (a video or a stream)."""
        if Path(path).suffix.lower() in WEIGHTS_SUFFIXES:
            self.model_picker.choose(path)
        else:
            self.open_source(path)

    # -- controller news -------------------------------------------------------------------
    def _on_frame_shown(self, shown: ShownFrame) -> None:
        self.video_view.show_frame(shown.image)
        if shown.fresh:
            self.frames_shown += 1
            self.playback.show_position(shown.result.index)

    def _on_source_opening(self, source: SourceSpec) -> None:
        self.close_source_action.setEnabled(True)
        self._refresh_camera_menus()
        self.status.set_busy("source", f"Opening {source.label}…")
        self._name_source_button(source.label)
        self.setWindowTitle(f"LiveDet — {source.label}")
        # the source before is gone: its last picture, seek bar and Pause stayed up meanwhile, doing nothing
        # (S said "No frame to save yet" under it), for the seconds a camera or a stream takes to open
        self.playback.show_no_source()
        self.video_view.show_welcome(f"Opening {source.label}…", opening=True)

    def _name_source_button(self, label: str | None) -> None:
        """The source button names what plays, shortened in the middle to fit; its tooltip has the whole name."""
        if label is None:
            self.source_button.setText("Source")
            self.source_button.setToolTip(SOURCE_BUTTON_HINT)
            return
        self.source_button.setText(elide(label, QFontMetrics(self.source_button.font()), SOURCE_BUTTON_MAX_PX))
        self.source_button.setToolTip(f"{label}\n{SOURCE_BUTTON_HINT}")

    def _on_source_opened(self, info: SourceInfo) -> None:
        self.status.clear_busy("source")
        self.playback.set_frame_count(info.frame_count, live=info.is_live, still=info.kind == IMAGE)
        source = self.controller.source
        if source is not None:
            self.prefs.last_source = source.settings_value
            listed = self.cameras.by_index(int(source.value)) if source.kind == CAMERA else None
            self.prefs.last_camera = listed.name if listed is not None else ""
            self._camera_model_shared = listed is not None and model_shared(listed.name, self.cameras.cameras)
            self.prefs.source_closed = False
            if source.kind != CAMERA:  # cameras have their own entries
                self.prefs.recent = [source.settings_value, *(v for v in self.prefs.recent
                                                              if v != source.settings_value)][:RECENT_LIMIT]
                self._fill_recent_menu()
        if info.kind == IMAGE:
            about = " photo"
        elif info.variable_rate:  # its FPS is only stated (a browser's WebM states 1000)
            about = " at a variable frame rate"
        elif info.is_live and (source is None or source.kind != CAMERA):
            about = ", live"  # a stream's stated rate is a guess (25 for MJPEG over HTTP); the panel shows its own
        else:
            about = f" at {info.fps:.1f} FPS"  # a camera's: the rate of the mode it was set to
        text = f"{info.name}: {info.width}×{info.height}{about}"
        if self._reconnecting is not None and source == self._reconnecting:
            text = f"Reconnected: {text}"
            self._back = (source, time.monotonic(), self._reconnect_attempts)
        if self.opened_instead:  # the camera used last time is not plugged in: said with the one that opened
            text, self.opened_instead = f"{self.opened_instead}; {text}", ""
        record = self._record_on_open
        self._stop_reconnecting()
        if record:
            self.controller.continue_recording()  # a new file: the first one is finished
        asked = source.camera_mode if source is not None else None
        if asked is not None and (info.width, info.height) != (asked.width, asked.height):
            text += f" (asked for {asked.width}×{asked.height}: the camera chose otherwise)"
        self.status.resolved(ABOUT_SOURCE)
        self.status.show_info(text)

    def _on_source_failed(self, message: str) -> None:
        self.status.clear_busy("source")
        failed = self.controller.failed_source
        live = failed is not None and failed.is_live
        lost = live and (self.controller.lost_while_playing or failed == self._reconnecting)
        hint = " — use Reconnect to try again" if live else ""  # for the status bar; the page has the button
        self.source_awaited = None  # the start-up source was tried
        if lost:  # a camera on the network rebooting, Wi-Fi dropping, a loose USB cable: try again by itself
            message += self._schedule_reconnect(failed)
            hint = ""
        else:  # R while the start-up source waited: it did not open, so say the recording did not start
            if self._record_on_open:
                message += "; nothing was recorded"
            self._set_record_on_open(False)
        self.status.show_error(message + hint, ABOUT_SOURCE)
        if failed is not None and not live:  # a recent file deleted since stayed listed, on the page and the menu
            self._fill_recent_menu()
        self.close_source_action.setEnabled(self._reconnecting is not None)  # Close stops the reconnecting
        self._show_nothing_playing()
        self._refresh_camera_menus()  # the lost camera is no longer checked as the one playing
        self.video_view.show_welcome(message, error=True, retry_label=failed.label if live else None)

    def _schedule_reconnect(self, lost: SourceSpec) -> str:
        """Open ``lost`` again after the next wait of RECONNECT_DELAYS_S (a camera: while it is plugged in,
        else when it is plugged back in); returns what to tell the user."""
        if lost != self._reconnecting:  # lost just now, not a try that failed
            back = self._back
            flapping = back is not None and back[0] == lost and time.monotonic() - back[1] < RECONNECT_STEADY_S
            self._reconnecting, self._reconnect_attempts = lost, back[2] if flapping else 0
            self._set_record_on_open(self.controller.lost_while_recording)
        elif self.controller.lost_while_recording:  # R while the try was opening: kept for the next one
            self._set_record_on_open(True)
        going_on = "; the recording goes on in a new file once it is back" if self._record_on_open else ""
        if lost.kind == CAMERA and self._lost_camera_listed(lost, self.cameras.cameras) is None:  # unplugged: wait
            return f" — it reconnects by itself when plugged back in; Reconnect tries now, Close stops{going_on}"
        delay = RECONNECT_DELAYS_S[min(self._reconnect_attempts, len(RECONNECT_DELAYS_S) - 1)]
        self._reconnect_attempts += 1
        self._reconnect_timer.start(int(delay * 1000))
        note = f" — reconnecting in {delay:g} s (attempt {self._reconnect_attempts}); Reconnect tries now, Close stops"
        return note + going_on

    def _on_source_closed(self, source: SourceSpec) -> None:
        self.status.clear_busy("source")  # closed while it was still opening
        self.close_source_action.setEnabled(False)
        self.prefs.source_closed = True  # the next start does not turn a camera back on
        self._show_nothing_playing()
        message = f"Closed {source.label}" + (": the camera is off" if source.kind == CAMERA else "")
        self.status.resolved(ABOUT_SOURCE)
        self.status.show_info(message)
        self.video_view.show_welcome(message)
        self._refresh_camera_menus()

    def _show_nothing_playing(self) -> None:
        self.playback.show_no_source()
        self._name_source_button(None)
        self.setWindowTitle("LiveDet")

    def reconnect(self) -> None:
        """Open the camera or stream that was lost, again (now, or when the reconnect timer says so)."""
        self._reconnect_timer.stop()
        lost = self.controller.failed_source
        if lost is None:
            return
        camera = self._lost_camera_listed(lost, self.cameras.cameras) if lost.kind == CAMERA else None
        if camera is not None and str(camera.index) != lost.value:  # replugged at another index: opened there
            if lost.camera_mode is not None and lost.camera_mode != camera.automatic_mode:
                # ... keeps the resolution chosen for it (choices go by the system's device id, /dev/videoN)
                self.prefs.camera_modes[camera.device_id] = lost.camera_mode.to_text()
            moved = replace(lost, value=str(camera.index))
            if self._reconnecting == lost:
                self._reconnecting = moved
            lost = moved
        self.controller.open_source(lost)  # keeps the reconnecting going on failure

    def _on_pause_changed(self, paused: bool) -> None:
        still = self.playback.still  # a photo's end: nothing to play, so no greyed-out "Play"
        self.pause_action.setText("Play" if paused and not still else "Pause")
        if not paused:
            self.status.withdraw_info(END_OF_VIDEO)  # it stayed up for 8 s while the video played again
        if self.controller.recording and not self.status.recording_clock_running:  # asked for, no frame yet
            self.status.set_recording(self._recording_light())
        self._show_recording_badge()

    def _on_model_ready(self, model: ActiveModel) -> None:
        self.status.resolved(ABOUT_MODEL)
        self.status.set_model(model.name, model.device, model.predictor.imgsz)
        self.model_picker.set_current(model.source)
        # a file by its full path: the next start may be in another folder (a launcher starts in the home folder)
        self.prefs.model = str(Path(model.source).absolute()) if Path(model.source).is_file() else model.source
        self._device_before = self._input_size_before = None
        self._rebuild_input_size_menu(model.predictor.model.spec.input_size)
        self._rebuild_classes_menu(model.predictor.class_names)
        self._say_if_no_class_is_shown(model.name, model.predictor.class_names)
        if self.controller.device in ("cuda", "mps") and model.predictor.model.network is None:
            self.status.show_info(f"{model.name} is an ONNX graph, which runs on the CPU: open its weights "
                                  "(.safetensors) to run it on the GPU")  # it said "cpu" in a corner, nothing more

    def set_device(self, device: str) -> None:
        """Run detection on ``device``; the model in use reloads there in the background (if it cannot,
        the choice goes back to where it still runs)."""
        if device == self.controller.device:
            return
        self._device_before = self.controller.device if self.controller.model is not None else None
        self.controller.set_device(device)
        self._choose_device(device)

    def _choose_device(self, device: str) -> None:
        self.controller.device = self.prefs.device = device
        for key, action in self.device_actions.items():
            action.setChecked(key == device)

    # -- input size ------------------------------------------------------------------------
    def _rebuild_input_size_menu(self, own: int | None) -> None:
        """Model ▸ Input size: the model's own size (``own`` px; None before a model is loaded), then the
        common larger and smaller ones, the chosen one ticked."""
        menu = self.input_size_menu
        menu.clear()
        chosen = self.controller.input_size
        sizes = [0, *(size for size in INPUT_SIZES if size != own)]
        if chosen and chosen != own and chosen not in sizes:
            sizes.append(chosen)  # from --imgsz
        if self._input_size_group is not None:  # menu.clear() leaves the group: one more per model or size change
            self._input_size_group.deleteLater()
        self._input_size_group = group = QActionGroup(menu)
        self.input_size_actions = {}
        for size in sizes:
            label = (f"The model's own ({own} px)" if own else "The model's own") if size == 0 else f"{size} px"
            action = menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(size == chosen or (size == 0 and chosen in (0, own)))
            action.setToolTip(INPUT_SIZE_HINT)
            action.triggered.connect(lambda _=False, s=size: self.set_input_size(s))
            group.addAction(action)
            self.input_size_actions[size] = action

    def set_input_size(self, size: int) -> None:
        """Run the network at ``size`` pixels (0: the model's own); the model in use is prepared again at that
        size in the background while the video keeps playing. Remembered."""
        if size == self.controller.input_size:
            return
        if self.controller.model is not None and self._input_size_before is None:
            self._input_size_before = self.controller.input_size
        self.prefs.input_size = size
        self.controller.set_input_size(size)

    # -- class filter ----------------------------------------------------------------------
    def _rebuild_classes_menu(self, class_names) -> None:
        """Model ▸ Show classes: "All classes", then one tick per class of the model in use."""
        menu = self.classes_menu
        menu.clear()
        self._all_classes_action = menu.addAction("All classes")
        self._all_classes_action.setCheckable(True)
        self._all_classes_action.triggered.connect(lambda _=False: self.set_class_filter(None))
        menu.addSeparator()
        self._class_actions = []
        for name in class_names:
            action = menu.addAction(name.replace("&", "&&"))  # "salt & pepper": a lone & marks a shortcut key
            action.setData(name)
            action.setCheckable(True)
            action.setToolTip(f"Tick to show {name}; with any class ticked, only the ticked ones are shown")
            action.triggered.connect(lambda checked=False, n=name: self._on_class_toggled(n, checked))
            self._class_actions.append(action)
        if not self._class_actions:
            menu.addAction("(no model loaded)").setEnabled(False)
        self._sync_classes_menu()

    def _on_class_toggled(self, name: str, checked: bool) -> None:
        chosen = set(self.controller.thresholds.classes or ())
        if checked:
            chosen.add(name)
        else:
            chosen.discard(name)
        self.set_class_filter(chosen)

    def set_class_filter(self, names) -> None:
        """Show only ``names`` (None or empty: every class); the frame on screen changes at once."""
        self.controller.set_class_filter(names)
        self.prefs.classes = sorted(self.controller.thresholds.classes or ())
        self._sync_classes_menu()
        model = self.controller.model
        if model is not None:
            self._say_if_no_class_is_shown(model.name, model.predictor.class_names)

    def _say_if_no_class_is_shown(self, model_name: str, class_names) -> None:
        """A filter naming none of the model's classes is off: that stands in the status bar until the filter
        or the model changes (as news it was gone 20 ms later, under the source's line, and a typo such as
        --classes persn silently showed every class)."""
        self.status.resolved(ABOUT_CLASSES)
        chosen = self.controller.thresholds.classes
        if chosen and self.controller.thresholds.class_ids(class_names) is None:
            self.status.show_error(f"{model_name} has none of the classes to show ({', '.join(sorted(chosen))}): "
                                   "showing every class (Model ▸ Show classes)", ABOUT_CLASSES)
            self.status.set_class_filter(None, unmatched=sorted(chosen))  # stands beside any news

    def _sync_classes_menu(self) -> None:
        names = [action.data() for action in self._class_actions]
        shown = self.controller.thresholds.class_ids(names)
        self._all_classes_action.setChecked(shown is None)
        for index, action in enumerate(self._class_actions):
            action.setChecked(shown is not None and index in shown)
        self.status.set_class_filter(None if shown is None else [names[i] for i in sorted(shown)])

    def _on_model_failed(self, message: str) -> None:
        self.status.show_error(message, ABOUT_MODEL)
        if self._device_before is not None:  # the model could not move: it runs where it was, and so do the next
            self._choose_device(self._device_before)
        if self._input_size_before is not None:  # nor be prepared at the new size: the menu ticked it, and the next
            size, self._input_size_before = self._input_size_before, None  # start would have opened at it
            self.controller.input_size = self.prefs.input_size = size
            if size in self.input_size_actions:
                self.input_size_actions[size].setChecked(True)
        model = self.controller.model
        failed = self.model_picker.choice
        if failed is not None and (model is None or failed != model.source):
            self.model_picker.forget_file(failed)
        self.model_picker.set_current(model.source if model else None)
        self.status.set_model(model.name if model else None, model.device if model else None,
                              model.predictor.imgsz if model else None)

    def _on_recording_changed(self, recording: bool) -> None:
        self._show_record_button(recording or self._record_on_open)  # a lost source's recording waits, pressed
        self.status.set_recording(self._recording_light() if recording else self._waiting_light())
        self._show_recording_badge()

    def _recording_light(self) -> str:
        """The light before the file opens with the next frame shown: on a paused video, no frame comes until Play."""
        return RECORDING_WAITS_FOR_PLAY if self.controller.paused else "● REC"

    def _on_recording_finished(self, summary: RecordingSummary) -> None:
        if not self.controller.recording:  # (finished in the background: it may end after its source was lost)
            self.status.set_recording(self._waiting_light())

    def _on_cameras_changed(self, cameras: list[CameraInfo]) -> None:
        self._rebuild_source_menu(cameras)
        self.video_view.welcome.set_cameras(cameras)
        playing = self.controller.source
        if playing is not None and playing.kind == CAMERA:  # a twin plugged in meanwhile counts too
            self._camera_model_shared = self._camera_model_shared or model_shared(playing.label, cameras)
        lost = self.controller.failed_source
        if (self.controller.source is None and lost is not None and lost.kind == CAMERA
                and self._lost_camera_listed(lost, cameras) is not None):
            self.status.show_info(f"{lost.label} is back: reconnecting")
            self.reconnect()  # the camera that was unplugged is plugged in again

    def _lost_camera_listed(self, lost: SourceSpec, cameras: list[CameraInfo]) -> CameraInfo | None:
        """The lost camera as listed now (``cameras.same_camera``): at its index, else by its name where no other
        camera of its model was plugged in as it played. Why the name: one plugged back in before its old
        /dev/video0 was let go comes back as /dev/video2, and was never reconnected."""
        return same_camera(lost.label, lost.value, cameras, model_was_shared=self._camera_model_shared)

    # -- camera resolution -----------------------------------------------------------------
    def _set_up_camera(self, spec: SourceSpec) -> SourceSpec:
        """A camera's name and the mode to ask it for: the user's choice for it, else the automatic one.
        (The controller calls it for every camera it opens, from the menus, the welcome page or --source.)"""
        camera = self.cameras.by_index(int(spec.value))
        if camera is None:
            return spec
        return replace(spec, label=camera.name, camera_mode=self.chosen_mode(camera) or camera.automatic_mode)

    def chosen_mode(self, camera: CameraInfo) -> CameraMode | None:
        """The mode the user picked for ``camera``; None for automatic, or for a mode it no longer offers.

        Choices go by the system's device id (/dev/videoN), which tells two cameras of one model apart; a camera
        the only one of its name, found at another id at a later start (a built-in camera took /dev/video0),
        keeps the choice made for it by name (it opened at Automatic, unsaid)."""
        modes = self.prefs.camera_modes
        text = modes.get(camera.device_id)
        if text is None and sum(c.name == camera.name for c in self.cameras.cameras) == 1:
            text = modes.get(_BY_NAME + camera.name)
        mode = CameraMode.from_text(text or "")
        return mode if mode in camera.modes else None

    def _current_camera(self) -> CameraInfo | None:
        source = self.controller.source
        if source is None or source.kind != CAMERA:
            return None
        return self.cameras.by_index(int(source.value))

    def _refresh_camera_menus(self) -> None:
        """The camera on screen checked in the Source menu, and its modes (the one in use checked) in Camera
        resolution, which is disabled for files, streams and cameras whose modes the system does not report."""
        camera = self._current_camera()
        for index, action in self._camera_actions.items():
            action.setChecked(camera is not None and camera.index == index)
        menu = self.resolution_menu
        menu.clear()
        if self._resolution_group is not None:
            self._resolution_group.deleteLater()
            self._resolution_group = None
        menu.setEnabled(camera is not None and bool(camera.modes))
        if camera is None or not camera.modes:
            menu.setToolTip("Open a camera to choose its resolution")
            return
        menu.setToolTip(f"The resolution and frame rate {camera.name} captures at")
        self._resolution_group = group = QActionGroup(menu)
        chosen = self.chosen_mode(camera)
        automatic = camera.automatic_mode
        entries = [(None, f"Automatic ({mode_label(automatic)})" if automatic else "Automatic")]
        entries += [(mode, mode_label(mode)) for mode in camera.modes]
        for mode, text in entries:
            action = menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(mode == chosen)
            group.addAction(action)
            action.triggered.connect(lambda _=False, c=camera, m=mode: self.set_camera_mode(c, m))
            if mode is None:
                action.setToolTip("The largest picture up to {}×{} at the camera's full frame rate".format(*AUTOMATIC_LIMIT))
                menu.addSeparator()

    def _open_camera(self, index: int) -> None:
        """Source ▸ Camera (or a camera button on the page): open it, unless it is the one playing (reopening it
        ended the recording); the lost camera being waited for is reconnected, its recording going on."""
        playing = self._current_camera()
        if playing is not None and playing.index == index:
            self._refresh_camera_menus()  # it stays checked
            return
        waited = self._reconnecting
        listed = (self._lost_camera_listed(waited, self.cameras.cameras)
                  if waited is not None and waited.kind == CAMERA else None)
        if listed is not None and listed.index == index:
            self.reconnect()
            return
        self.open_source(camera_source(index))

    def set_camera_mode(self, camera: CameraInfo, mode: CameraMode | None) -> None:
        """Remember ``mode`` for ``camera`` (None: automatic) and reopen the camera with it; a recording goes
        on in a new file (a file keeps one picture size). The mode in use, chosen again, changes nothing."""
        source = self.controller.source  # what plays, not what the settings say: a camera found at a new
        in_use = source.camera_mode if source is not None and self._current_camera() == camera else None  # node...
        for key in (camera.device_id, _BY_NAME + camera.name):  # by name too: see chosen_mode
            if mode is None:
                self.prefs.camera_modes.pop(key, None)
            else:
                self.prefs.camera_modes[key] = mode.to_text()
        if in_use is not None and (mode or camera.automatic_mode) == in_use:  # "1280×720" = Automatic's choice
            self._refresh_camera_menus()  # the check moves to the entry chosen; the camera is not reopened
            return
        recording = self.controller.recording
        self.open_source(camera_source(camera.index))
        if recording:
            self.controller.continue_recording()

    # -- closing ---------------------------------------------------------------------------
    def save_settings(self) -> None:
        self.prefs.conf, self.prefs.iou = self.thresholds.conf, self.thresholds.iou
        self.prefs.loop, self.prefs.realtime = self.controller.loop, self.controller.realtime
        if self.remembered_realtime is not None and not self.controller.realtime:
            self.prefs.realtime = self.remembered_realtime  # started with --fast: keep the saved choice
        self.settings.save(self.prefs)
        self.settings.save_window(self.saveGeometry(), self.saveState())

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save settings, finalise any recording and stop every thread before the window goes."""
        if self.isFullScreen():
            self._leave_fullscreen()
        if self.save_on_close:
            self.save_settings()  # the geometry, while the window is still where the user left it
        self.hide()  # off the screen at once: finishing a recording takes a moment (a silent network folder, 30 s)
        self.controller.shutdown()
        event.accept()
