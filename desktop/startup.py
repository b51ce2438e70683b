"""What the app opens with: the source and model to start on, and the window built around them.

Shared by ``python -m desktop`` and the tests, so tests start the app the way users do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from detector import SourceError, list_models, manifest_problems, missing_models_dir
from detector.device import gpu_may_be_present
from detector.video import classify_source, is_stream_address

from .cameras import CameraInfo, CameraWatcher, model_name, same_camera
from .controller import SessionController
from .file_check import existing_files
from .model_loader import SHARED_CACHE, ModelCache, names_a_file
from .options import LaunchOptions
from .settings import AppSettings, Preferences
from .sources import camera_source, parse_source
from .widgets.main_window import MainWindow
from .widgets.status import ABOUT_MODEL

PREFERRED_MODELS = ("yolo-mnv3-small",)  # the fastest trained variant, when installed; else the first listed


def _still_there(name: str, specs) -> bool:
    """Whether a model's manifest is still in the folder, though it cannot run (its weights missing, the manifest
    itself damaged): "is no longer there" said nothing of what to mend."""
    manifest = re.compile(rf"(^|[\s/'\"]){re.escape(name)}\.yaml\b")  # "dogs.yaml is not valid YAML: …" too
    return any(spec.name == name for spec in specs) or any(manifest.search(p) for p in manifest_problems())


def initial_model(options: LaunchOptions, prefs: Preferences) -> str | None:
    """--model, else the model used last time (if still there), else the preferred or first installed one."""
    if options.model:
        return options.model
    specs = list_models()
    usable = [spec.name for spec in specs if spec.weights_available]
    if prefs.model and (prefs.model in usable or (names_a_file(prefs.model) and existing_files([prefs.model]))):
        return prefs.model
    if prefs.model and not names_a_file(prefs.model) and _still_there(prefs.model, specs):
        return prefs.model  # its weights are gone, or its manifest broke: its load says why, and the next one runs
    for name in PREFERRED_MODELS:
        if name in usable:
            return name
    return usable[0] if usable else None


def initial_source(options: LaunchOptions, prefs: Preferences, cameras: CameraWatcher) -> tuple[str | None, str]:
    """--source, else the last source (a file only if it still exists), else the first camera, else none; and
    why it is not the last source, when that was a camera no longer plugged in ("" otherwise).

    None too when the user closed the source before quitting: a camera turned off stays off.
    """
    if options.source:
        return options.source, ""
    if prefs.source_closed:
        return None, ""
    last = prefs.last_source
    if last and cameras.cameras and classify_source(last, look_at_disk=False) == "camera":
        return _remembered_camera(last, prefs.last_camera, cameras.cameras)
    if last and (is_stream_address(last) or not Path(last).suffix or existing_files([last])):
        return last, ""  # a file that does not answer at once (its network share offline) is passed over like a missing one
    if cameras.cameras:
        return camera_source(cameras.cameras[0].index).value, ""
    return None, ""


def _remembered_camera(index: str, name: str, listed: list[CameraInfo]) -> tuple[str, str]:
    """The camera used last, by its name (settings from before names were kept: by its index), wherever it is
    now; else the first camera, and a note. Why: a camera's index changes with what else is plugged in, and
    "camera 2 is not available" greeted a start with another set of cameras."""
    found = same_camera(name, index, listed, model_was_shared=False)  # one of two alike: at its index, or not found
    if found is not None:
        return str(found.index), ""
    if not name:  # settings from before names were kept, or a camera only OpenCV finds: its index, as before
        return index, ""
    alike = [c for c in listed if model_name(c.name) == model_name(name)]
    if alike:  # several of its model, none at its index: which is which, their names do not say
        return str(alike[0].index), f"{alike[0].name} opened: {len(alike)} cameras like {name}, the camera " \
                                    "used last time, are plugged in, and their names do not tell which it is"
    first = listed[0]
    return str(first.index), f"{name or f'Camera {index}'}, the camera used last time, is not plugged in: " \
                             f"{first.name} opened instead"


def _label(source: str, window: MainWindow) -> str:
    try:
        return parse_source(source, window.cameras.names()).label
    except SourceError:
        return source  # opening it will say what is wrong


def build_window(options: LaunchOptions, *, settings: AppSettings | None = None,
                 model_cache: ModelCache | None = SHARED_CACHE) -> MainWindow:
    settings = settings or AppSettings()
    prefs = settings.load()
    if options.conf is not None:
        prefs.conf = options.conf
    if options.iou is not None:
        prefs.iou = options.iou
    if options.classes is not None:
        prefs.classes = list(options.classes)
    if options.device is not None:
        prefs.device = options.device
    if options.input_size is not None:
        prefs.input_size = options.input_size
    gpu_gone = prefs.device in ("cuda", "mps") and options.device is None and not gpu_may_be_present()
    if gpu_gone:  # chosen last time, absent now (an external GPU unplugged, a driver removed)
        prefs.device = "auto"
    saved_realtime = prefs.realtime
    if options.fast:
        prefs.realtime = False
    controller = SessionController(device=prefs.device, model_cache=model_cache)
    controller.input_size = prefs.input_size
    window = MainWindow(controller, settings, prefs)
    if gpu_gone:
        window.status.show_info("The GPU chosen last time is not available: detection runs on the CPU")
    if options.fast:
        window.remembered_realtime = saved_realtime  # --fast is for this run only
    if options.exit_after_frames:
        window.save_on_close = False  # a scripted run (test, benchmark) leaves the user's settings alone
    return window


def _connect_until_stopped(connections: list) -> Callable[[], None]:
    """Connect each (signal, slot); the function returned disconnects them all, the first time it is called."""
    for signal, slot in connections:
        signal.connect(slot)

    def stop() -> None:
        for signal, slot in connections:
            signal.disconnect(slot)
        connections.clear()

    return stop


def _say_when_ready(window: MainWindow, model: str, text: str) -> None:
    """``text`` in the status bar once ``model`` runs (its "ready" would resolve an error said before)."""
    controller, picker = window.controller, window.model_picker

    def done(say: bool) -> None:
        stop()
        if say:
            window.status.show_error(text, ABOUT_MODEL)

    stop = _connect_until_stopped([(controller.model_ready, lambda ready: done(ready.source == model)),
                                   (controller.model_failed, lambda _: done(False)),
                                   (picker.model_chosen, lambda _: done(False))])


def _fall_back_if_it_fails(window: MainWindow, options: LaunchOptions, remembered: str) -> None:
    """The model used last time, if it no longer loads (a weights file overwritten or damaged), is forgotten
    and the preferred one is loaded instead: every later start ran without detection."""
    controller, picker = window.controller, window.model_picker

    def on_failure(message: str) -> None:
        stop_watching()
        window.prefs.model = None
        fallback = initial_model(options, window.prefs)
        if controller.model is not None or fallback is None or fallback == remembered:
            return
        _say_when_ready(window, fallback, f"{message} (the model used last time): {fallback} runs instead")
        picker.set_current(fallback)
        controller.load_model(fallback)

    stop_watching = _connect_until_stopped([
        (controller.model_ready, lambda _model: stop_watching()),
        (picker.model_chosen, lambda _choice: stop_watching()),  # the user's own pick: its failure is its own
        (controller.model_failed, on_failure)])


def start_session(window: MainWindow, options: LaunchOptions, *, source_waits_for_model: bool = False) -> None:
    """Load the first model and open the first source (both in the background).

    ``source_waits_for_model`` (what ``python -m desktop`` does) opens the source only once the model
    is ready or has failed: the first model takes 0.3 s on a CPU that ran it before (``detector.onnx_cache``)
    but 5-7 s where torch must load (a GPU, or the model's first run on a laptop CPU), and a video
    playing meanwhile would show its first seconds without boxes, slow the load down by a second
    on two cores, and make --exit-after-frames count frames that never went through the model.
    """
    controller = window.controller
    remembered = window.prefs.model
    model = initial_model(options, window.prefs)
    source, window.opened_instead = initial_source(options, window.prefs, window.cameras)
    if model:
        window.model_picker.set_current(model)
        controller.load_model(model)
        if not options.model and model == remembered:
            _fall_back_if_it_fails(window, options, model)
        elif not options.model and remembered:  # its manifest or weights were deleted: it was replaced unsaid
            _say_when_ready(window, model, f"{Path(remembered).name}, the model used last time, is no longer there: "
                                           f"{model} runs instead")
    else:
        missing = missing_models_dir()  # a stale $LIVEDET_MODELS_DIR: say so rather than "none installed"
        # manifests there, none usable: it said nothing, or "No models installed", of a folder of broken ones
        unusable = [f"{spec.name}: weights not found ({spec.weights_path})"
                    for spec in window.model_picker.specs if not spec.weights_available] + manifest_problems()
        if missing:
            window.status.show_error(f"No models: {missing}; detection is off", ABOUT_MODEL)
        elif unusable:
            more = f" (and {len(unusable) - 1} more)" if len(unusable) > 1 else ""
            window.status.show_error(f"No model can run: {unusable[0]}{more}; the video plays without detection",
                                     ABOUT_MODEL)
        else:
            window.status.show_error("No models installed: the video plays without detection "
                                     "(Model ▸ Open weights… loads a checkpoint or ONNX file)", ABOUT_MODEL)

    def open_source() -> None:
        if source is None:
            window.video_view.show_welcome(window.video_view.welcome.message.text())
            return
        if controller.open_source(source) and options.record:
            controller.start_recording(options.record)

    if model and source_waits_for_model:
        if source is not None:
            window.source_awaited = _label(source, window)  # R meanwhile records it once it opens
            window.video_view.show_welcome(f"Loading the detector ({model})… then opening {window.source_awaited}",
                                           opening=True)

        def once() -> None:
            controller.model_idle.disconnect(once)
            if controller.source is None and controller.failed_source is None:  # the user chose nothing meanwhile
                open_source()
        controller.model_idle.connect(once)
    else:
        open_source()

