"""Loading models off the GUI thread, and keeping the last two loaded for instant switching back.

Loading means reading weights and preparing the runtime (seconds). A
``ModelLoader`` thread does it while the video keeps playing on the old model;
``ModelSwitcher`` makes sure only the newest request is applied when a user
clicks through several models quickly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from detector import LiveDetError, list_models
from detector.frame_text import find_label_fonts

from .inference import ActiveModel

log = logging.getLogger(__name__)

MODEL_FILE_SUFFIXES = (".safetensors", ".pt", ".pth", ".onnx", ".yaml", ".yml")


def names_a_file(name_or_path: str) -> bool:
    """Whether a model choice is a file rather than a manifest's name: by a model file's suffix, as ``detector``
    tells them apart (any dot made "small-v1.5" a file: listed twice, and an edited manifest not reloaded)."""
    return Path(name_or_path).suffix.lower() in MODEL_FILE_SUFFIXES


@dataclass(frozen=True)
class ModelRequest:
    name_or_path: str  # a manifest name from the zoo, or a checkpoint / ONNX / manifest path
    device: str = "auto"
    input_size: int = 0  # the network's input side in pixels; 0: the model's own

    @property
    def label(self) -> str:
        return Path(self.name_or_path).name if names_a_file(self.name_or_path) else self.name_or_path


def _mtime(path: Path | None) -> int | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def _cache_key(request: ModelRequest) -> tuple:
    """Same name, same files on disk, same device and input size: the same model (a rewritten file is loaded again)."""
    path = Path(request.name_or_path)
    if names_a_file(request.name_or_path):
        return (str(path.resolve()), _mtime(path), request.device, request.input_size)
    for spec in list_models():
        if spec.name == request.name_or_path:
            return (str(spec.manifest_path), _mtime(spec.manifest_path), _mtime(spec.weights_path), request.device,
                    request.input_size)
    return (request.name_or_path, request.device, request.input_size)


class ModelCache:
    """The most recently loaded models (bounded), shared by every window of the process."""

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, ActiveModel] = OrderedDict()

    def get(self, key: tuple) -> ActiveModel | None:
        with self._lock:
            model = self._items.get(key)
            if model is not None:
                self._items.move_to_end(key)
            return model

    def put(self, key: tuple, model: ActiveModel) -> None:
        with self._lock:
            self._items[key] = model
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


SHARED_CACHE = ModelCache()


def load_active_model(request: ModelRequest, cache: ModelCache | None = None) -> ActiveModel:
    """Resolve, load and warm up a model (slow: call it off the GUI thread)."""
    key = _cache_key(request)
    if cache is not None and (cached := cache.get(key)) is not None:
        return cached
    from detector import load_predictor  # imported here, on the loader's thread: when it has to import torch
    # (a GPU, or a model's first CPU run) the window is up and answering meanwhile (5-7 s on a laptop CPU)

    size = {"imgsz": request.input_size} if request.input_size else {}
    # new weights on a CPU are exported in a child process: importing onnx here held the window still for 0.5 s
    predictor = load_predictor(request.name_or_path, device=request.device, export_in_child=True, **size)
    # a font for names in Chinese, Greek... (the classes', and the model's in the info panel): found here, not
    find_label_fonts((*predictor.class_names, predictor.model.name))  # on the GUI thread at a frame
    model = ActiveModel(predictor, predictor.model.name, predictor.device_label, request.name_or_path)
    if cache is not None:
        cache.put(key, model)
    return model


LOADER_THREAD_PREFIX = "load "  # names each loader's thread: "load yolo-mnv3-small"


class ModelLoader(QObject):
    """Loads one model on a daemon thread; emits ``loaded`` or ``failed``, then ``finished``, whatever happens.

    A daemon thread rather than a QThread because a load cannot be interrupted
    (reading weights, building the ONNX Runtime session): quitting mid-load must
    not wait for it, and an abandoned load must not keep the process alive.
    """

    loaded = Signal(int, object, float)  # ticket, ActiveModel, seconds taken
    failed = Signal(int, str)  # ticket, message for the user
    finished = Signal(int)  # ticket

    def __init__(self, request: ModelRequest, ticket: int, cache: ModelCache | None) -> None:
        super().__init__()
        self.request = request
        self.ticket = ticket
        self._cache = cache
        self._thread = threading.Thread(target=self._run, name=f"{LOADER_THREAD_PREFIX}{request.label}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """True when the load has ended (within ``timeout_s``)."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            model = load_active_model(self.request, self._cache)
        except LiveDetError as exc:
            self.failed.emit(self.ticket, str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure is a message, never a crash
            log.exception("loading %s failed", self.request.name_or_path)
            self.failed.emit(self.ticket, f"could not load {self.request.label}: {exc}")
        else:
            self.loaded.emit(self.ticket, model, time.perf_counter() - start)
        finally:
            self.finished.emit(self.ticket)


class ModelSwitcher(QObject):
    """Loads one model at a time and reports only the newest request's outcome.

    A load cannot be interrupted, so requests that arrive while one runs wait in a
    one-slot "newest wins" queue: eight quick clicks through the input sizes load
    the first and the last, not eight models at once on a laptop's CPU.
    """

    loading = Signal(str)  # label of the model being loaded
    ready = Signal(object, float)  # ActiveModel, seconds
    failed = Signal(str)
    idle = Signal()  # nothing is loading any more (the busy indicator goes off)

    def __init__(self, cache: ModelCache | None = SHARED_CACHE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cache = cache
        self._ticket = 0
        self._loaders: dict[int, ModelLoader] = {}  # by ticket: the one running (a shutdown may leave more)
        self._waiting: ModelRequest | None = None  # the newest request, while an older one loads

    @property
    def busy(self) -> bool:
        return self._ticket in self._loaders or self._waiting is not None

    def request(self, request: ModelRequest) -> None:
        self._ticket += 1
        self.loading.emit(request.label)
        if self._loaders:
            self._waiting = request  # replaces any request that was waiting: only the newest is wanted
            return
        self._start(request)

    def _start(self, request: ModelRequest) -> None:
        loader = ModelLoader(request, self._ticket, self._cache)
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)
        loader.finished.connect(self._forget)  # a method, not a lambda: Qt drops it if this switcher is gone first
        self._loaders[self._ticket] = loader
        loader.start()

    def _on_loaded(self, ticket: int, model: ActiveModel, seconds: float) -> None:
        if ticket == self._ticket:
            self.ready.emit(model, seconds)

    def _on_failed(self, ticket: int, message: str) -> None:
        if ticket == self._ticket:
            self.failed.emit(message)

    def _forget(self, ticket: int) -> None:
        loader = self._loaders.pop(ticket, None)
        if loader is not None:
            loader.deleteLater()
        if self._waiting is not None and not self._loaders:
            request, self._waiting = self._waiting, None
            self._start(request)
        if not self.busy:
            self.idle.emit()

    def shutdown(self, timeout_s: float = 0.0) -> bool:
        """Stop applying loads; wait up to ``timeout_s`` for those in progress. True when none is left running."""
        self._ticket += 1  # whatever finishes now is not applied
        self._waiting = None
        deadline = time.monotonic() + timeout_s
        return all(loader.wait(max(0.0, deadline - time.monotonic())) for loader in list(self._loaders.values()))
