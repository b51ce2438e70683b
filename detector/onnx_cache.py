"""Exported ONNX graphs kept on disk, so that starting on a CPU needs no torch.

On a CPU the predictor runs ONNX Runtime on a graph exported from the torch
network. Importing torch, building the network and exporting it take seconds
and about a gigabyte of memory; reading the exported graph back takes
milliseconds. So the first CPU run of a model keeps its export here, and later
runs start from it (``detector.launch.load_predictor``). So that even the
first start is quick, ``launch.warm_export`` exports ahead of time (``python -m detector cache
--warm``, which ``make`` runs at set-up), and an app bundle ships its models'
exports in ``exports/`` beside the manifests, read when the user's cache has none.

The key covers what the graph depends on: the weights' sha256, the
architecture, the number of classes and ``EXPORT_FORMAT``. A changed weights
file is exported again; each model name keeps its ``KEEP_PER_NAME`` most
recently used exports. A cache that cannot be read or written costs only
time, never a run.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic_write import written_whole
from .zoo import ModelSpec, sha256_of

if TYPE_CHECKING:
    from .loader import LoadedModel

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "LIVEDET_CACHE_DIR"
EXPORT_FORMAT = 1  # bump when ``detector.export`` changes what it writes
KEY_LENGTH = 20  # hex digits of the export's key in its file name
_KEPT_NAME = re.compile(rf".+-[0-9a-f]{{{KEY_LENGTH}}}\.onnx")  # what ``write`` names its files
_PART_NAME = re.compile(rf"\.{_KEPT_NAME.pattern}\.\d+-\d+\.part")  # and one cut short (``atomic_write``)
KEEP_PER_NAME = 3  # exports kept per model name: the weights in use, and a couple of others
SHIPPED_EXPORTS = "exports"  # folder beside the manifests holding exports made when the app was built


def cache_dir() -> Path:
    """``$LIVEDET_CACHE_DIR``, else the platform's per-user cache folder."""
    if override := os.environ.get(CACHE_DIR_ENV):
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "LiveDet" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "LiveDet"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "livedet"


def cache_path(spec: ModelSpec) -> Path | None:
    """Where ``spec``'s export is kept: for a manifest's model or a ``.safetensors`` file with LiveDet metadata
    (``loader.describe_model`` reads both without torch); None for anything else, which could not use it."""
    if spec.weights_path is None or (spec.manifest_path is None and spec.weights_path.suffix.lower() != ".safetensors"):
        return None
    try:
        weights = spec.weights_sha256 or sha256_of(spec.weights_path)
    except OSError:
        return None
    facts = {"format": EXPORT_FORMAT, "weights": weights, "config": spec.config.to_dict(),
             "classes": len(spec.class_names)}
    key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:KEY_LENGTH]
    return cache_dir() / f"{_file_stem(spec.name)}-{key}.onnx"


def _file_stem(name: str) -> str:
    """A model's name as a file name in the cache folder: "../../x" (a manifest's name is free text) was kept
    two folders above the cache; separators and a leading dot become "_"."""
    return re.sub(r"[^\w.+-]", "_", name).lstrip(".") or "model"


def shipped_path(spec: ModelSpec) -> Path | None:
    """Where an export made at build time would lie: ``exports/`` beside the manifest, under the same key."""
    if spec.manifest_path is None:
        return None
    path = cache_path(spec)
    return spec.manifest_path.parent / SHIPPED_EXPORTS / path.name if path is not None else None


def find(spec: ModelSpec) -> Path | None:
    """The export to start ``spec`` from: the user's cache first, then the one shipped with the app."""
    for path in (cache_path(spec), shipped_path(spec)):
        if path is not None and path.is_file():
            return path
    return None


def read(spec: ModelSpec) -> bytes | None:
    path = find(spec)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        log.warning("cannot read the cached export %s: %s", path, exc)
        return None
    if path.parent == cache_dir():  # not the read-only copy shipped with the app
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: the last to be evicted
    return data


def write(spec: ModelSpec, data: bytes) -> None:
    """Keep ``data`` for ``spec``, atomically: a crash mid-write leaves no half file under the real name."""
    path = cache_path(spec)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with written_whole(path) as part:
            part.write_bytes(data)
    except OSError as exc:
        from .outputs import folder_problem  # names a file in the folder's way ("File exists" said nothing)

        log.warning("cannot keep the ONNX export in %s (the next start exports again): %s", path.parent,
                    folder_problem(path.parent, exc))
        return
    _evict_least_recently_used(path, _file_stem(spec.name))


def _evict_least_recently_used(kept: Path, name: str) -> None:
    """Keep ``KEEP_PER_NAME`` exports per model name, the most recently used (``read`` touches them): older
    weights go, yet two folders holding different models of the same name do not evict each other."""
    same_name = []
    for other in kept.parent.glob(f"{glob.escape(name)}-*.onnx"):  # a file's stem may hold "[" or "*"
        if other != kept and len(other.stem) == len(kept.stem) and _KEPT_NAME.fullmatch(other.name):
            with contextlib.suppress(OSError):
                same_name.append((other.stat().st_mtime, other))
    same_name.sort(reverse=True)
    for _, stale in same_name[KEEP_PER_NAME - 1:]:
        with contextlib.suppress(OSError):
            stale.unlink()


def forget(spec: ModelSpec) -> None:
    """Drop a cached export that turned out unusable."""
    path = cache_path(spec)
    if path is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove the cached export %s: %s", path, exc)


def export_and_keep(model: LoadedModel) -> bytes:
    """Export ``model``'s network to ONNX now (torch) and keep the result for the next start."""
    from .export import onnx_bytes

    data = onnx_bytes(model)
    write(model.spec, data)
    return data


@dataclass(frozen=True)
class KeptExport:
    """One model's state in the cache, as ``python -m detector cache`` reports it."""

    model: str
    path: Path | None  # the export a CPU start would use; None when it would export first
    bytes: int
    exported_now: bool = False

    def summary(self) -> dict:
        return {"model": self.model, "path": str(self.path) if self.path else None, "bytes": self.bytes,
                "exported_now": self.exported_now}


def status(spec: ModelSpec) -> KeptExport:
    path = find(spec)
    try:
        size = path.stat().st_size if path is not None else 0
    except OSError:
        path, size = None, 0
    return KeptExport(spec.name, path, size)


def clear() -> int:
    """Remove every export kept in the user's cache (never the ones shipped with the app), and any an
    export killed mid-write left half-written; returns how many exports."""
    folder = cache_dir()
    removed = 0
    for path in folder.glob("*.onnx*"):  # (pathlib's * takes hidden names too)
        kept = _KEPT_NAME.fullmatch(path.name)
        if not kept and not _PART_NAME.fullmatch(path.name):  # $LIVEDET_CACHE_DIR may hold the user's own files
            continue
        try:
            path.unlink()
            removed += bool(kept)
        except OSError as exc:
            log.warning("cannot remove %s: %s", path, exc)
    return removed
