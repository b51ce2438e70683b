"""Name or path -> a running ``Predictor``, by the quickest way this machine allows.

Importing torch, building the network and exporting it to ONNX take seconds and
about a gigabyte. Where the CPU will run the model anyway, a kept export
(``detector.onnx_cache``) starts it in ONNX Runtime without any of that; this
module decides when that is safe, keeps new exports, and drops broken ones.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import onnx_cache
from .device import check_device_name, runs_on_cpu, select_device
from .engines import onnxruntime_available, uses_onnxruntime
from .errors import LiveDetError, ModelError
from .loader import LoadedModel, checkpoint_name, describe_model, load_model
from .predictor import Predictor, check_gpu_only_options
from .zoo import verify_weights

if TYPE_CHECKING:
    from .zoo import ModelSpec

log = logging.getLogger(__name__)


def load_predictor(
    name_or_path: str | Path,
    *,
    device: str = "auto",
    backend: str = "auto",
    models_dir: str | Path | None = None,
    export_in_child: bool = False,
    **options,
) -> Predictor:
    """``Predictor(load_model(name_or_path), device=..., backend=...)``, started without torch where it can be.

    On a machine where the CPU will run the model anyway (no GPU driver, or
    ``device="cpu"``), a manifest model or ``.safetensors`` file whose ONNX
    export is kept (``detector.onnx_cache``) goes straight to ONNX Runtime: no
    torch import, no network build, no export. A kept graph that fails to load
    or to run is dropped and exported again. Such a model that ONNX Runtime will
    run but that has no kept export yet is exported now and kept for the next start.
    Where torch had to be asked (a GPU driver is installed) and the CPU runs the
    model after all, the kept export still spares the export.
    ``export_in_child``: make that export in a child process, so that this one
    imports neither torch nor onnx (the desktop app: importing onnx holds Python's
    lock for half a second, and the window's video stood still that long); a
    ``.pt`` checkpoint, whose export is not kept, is exported by a child too.
    ``options`` go to ``Predictor``. An ``.onnx`` file runs on the CPU (ONNX Runtime) whatever ``device`` or
    ``backend`` asks (``predictor.device_label`` says where it runs; the CLI refuses the combination instead).
    """
    check_device_name(device, cuda_needed=Path(str(name_or_path)).suffix.lower() != ".onnx")
    surely_cpu = runs_on_cpu(device)
    if surely_cpu:  # refuse GPU-only options before a slow load or export, not after
        check_gpu_only_options("cpu", half=options.get("half"), cuda_graph=options.get("cuda_graph"),
                               compile=options.get("compile"))
    tried_kept_export = False
    if backend in ("auto", "onnxruntime") and surely_cpu and onnxruntime_available():
        spec = describe_model(name_or_path, models_dir=models_dir)
        predictor = _from_kept_export(spec, options) if spec is not None else None
        if predictor is None and export_in_child and (spec is not None or _is_checkpoint(name_or_path)):
            predictor = _exported_elsewhere(spec, name_or_path, models_dir, options)
        if predictor is not None:
            return predictor
        tried_kept_export = spec is not None
    model = load_model(name_or_path, models_dir=models_dir)
    if model.network is not None and onnx_cache.cache_path(model.spec) is not None:
        torch_device = select_device(device)
        if uses_onnxruntime(model, torch_device, backend):
            # The CPU runs it after all, e.g. a GPU driver without a usable GPU: torch is imported by now,
            # but a kept export still saves exporting again at every start.
            check_gpu_only_options(torch_device.type, half=options.get("half"), cuda_graph=options.get("cuda_graph"),
                                   compile=options.get("compile"))
            predictor = None if tried_kept_export else _from_kept_export(model.spec, options)
            if predictor is not None:
                return predictor
            model = replace(model, onnx_bytes=onnx_cache.export_and_keep(model))
    return Predictor(model, device=device, backend=backend, **options)


def _from_kept_export(spec: ModelSpec, options: dict) -> Predictor | None:
    """A predictor on ``spec``'s kept ONNX export; None when none is kept or it is unusable (then dropped)."""
    data = onnx_cache.read(spec)
    if data is None:
        return None
    try:
        return Predictor(LoadedModel(spec=spec, onnx_bytes=data), device="cpu", backend="onnxruntime", **options)
    except ModelError as exc:
        log.warning("the cached export of %s is unusable (%s); exporting it again", spec.name, exc)
        onnx_cache.forget(spec)
        return None


def _exported_elsewhere(spec: ModelSpec | None, name_or_path: str | Path, models_dir: str | Path | None,
                        options: dict) -> Predictor | None:
    """The model exported by a child process and started here without torch: kept in the cache where it can
    be (a manifest's weights, a ``.safetensors`` file), else handed over in a file of its own (a ``.pt``
    checkpoint, a cache that cannot be written). None where the child could not: weights it refused are
    loaded here again, which says why, and anything else is exported here."""
    if spec is not None and onnx_cache.cache_path(spec) is not None:
        ended = _in_child(_export_and_keep, (str(name_or_path), models_dir and str(models_dir)), name_or_path)
        if ended == 0:
            return _from_kept_export(spec, options)
        if ended != _NOT_KEPT:
            return None
    with tempfile.TemporaryDirectory(prefix="livedet-export-") as folder:
        graph = Path(folder) / "graph.onnx"
        if _in_child(_export_to, (str(name_or_path), models_dir and str(models_dir), str(graph)), name_or_path) != 0:
            return None
        try:
            model = load_model(graph)  # read whole: the folder goes
        except ModelError as exc:
            log.warning("the export of %s made in a process of its own is unusable (%s); exporting it here",
                        name_or_path, exc)
            return None
    name = spec.name if spec is not None else checkpoint_name(Path(str(name_or_path)))
    weights = spec.weights_path if spec is not None else Path(str(name_or_path))
    model = replace(model, spec=replace(model.spec, name=name, weights_path=weights))
    return Predictor(model, device="cpu", backend="onnxruntime", **options)


def _is_checkpoint(name_or_path: str | Path) -> bool:
    path = Path(str(name_or_path))
    return path.suffix.lower() in (".pt", ".pth") and path.is_file()


_REFUSED = 3  # a child's exit code for weights it refused: this process loads them again and says why
_NOT_KEPT = 4  # ... for an export the cache could not keep (its folder cannot be written)


def _in_child(work, args: tuple, name_or_path: str | Path) -> int | None:
    """Run ``work(*args)`` in a child process and wait: its exit code (0: done), None if it could not start."""
    context = multiprocessing.get_context("spawn")  # not fork: this process may run Qt and other threads
    child = context.Process(target=work, args=args, name=f"export {Path(str(name_or_path)).name}", daemon=True)
    try:
        child.start()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a main script that starts its work when imported
        log.warning("cannot start a process to export %s (%s); exporting here", name_or_path, exc)
        return None
    child.join()
    if child.exitcode not in (0, _REFUSED, _NOT_KEPT):  # it crashed, or could not start its work (a frozen app)
        log.warning("could not export %s in a process of its own (exit code %s); exporting it in this one",
                    name_or_path, child.exitcode)
    return child.exitcode


def _end_with_parent() -> None:
    """In a child: stop when the process it exports for is gone (an app that ended with ``os._exit``, or was
    killed), rather than finish an export of a gigabyte's memory for nobody."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="parent watch", daemon=True).start()


def _export_and_keep(name_or_path: str, models_dir: str | None) -> None:
    """A child's work: load with torch, export, keep. Weights it refuses end it with ``_REFUSED``, an export
    the cache could not keep with ``_NOT_KEPT``; anything else ends it with its traceback."""
    _end_with_parent()
    try:
        model = load_model(name_or_path, models_dir=models_dir)
        onnx_cache.export_and_keep(model)
    except LiveDetError:
        raise SystemExit(_REFUSED) from None
    kept = onnx_cache.cache_path(model.spec)
    if kept is None or not kept.is_file():
        raise SystemExit(_NOT_KEPT)


def _export_to(name_or_path: str, models_dir: str | None, output: str) -> None:
    """A child's work where nothing is kept: load with torch, export into ``output``; it ends as ``_export_and_keep``."""
    from .export import onnx_bytes

    _end_with_parent()
    try:
        Path(output).write_bytes(onnx_bytes(load_model(name_or_path, models_dir=models_dir)))
    except LiveDetError:
        raise SystemExit(_REFUSED) from None


def warm_export(spec: ModelSpec) -> onnx_cache.KeptExport:
    """Export ``spec`` into the cache unless a working export of these exact weights is already kept or
    shipped (``python -m detector cache --warm``). The kept one is started once, as a CPU start would, so
    a damaged one is replaced here, at set-up, rather than costing the first start its export. Weights that
    do not match their manifest are refused first, as every start refuses them: a kept export of the
    weights as they were is no sign the model is ready."""
    verify_weights(spec)
    kept = onnx_cache.status(spec)
    if kept.path is not None and (not onnxruntime_available() or _from_kept_export(spec, {}) is not None):
        return kept
    data = onnx_cache.export_and_keep(load_model(spec.manifest_path))
    path = onnx_cache.cache_path(spec)
    if path is None or not path.is_file():  # the cache could not be written; the warning said why
        return onnx_cache.KeptExport(spec.name, None, 0)
    return onnx_cache.KeptExport(spec.name, path, len(data), exported_now=True)
