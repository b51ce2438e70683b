"""Weights files: read and write them safely, on any device.

Shipped and exported weights are safetensors (no code can hide in them) with
LiveDet metadata (architecture, class names, input size) in the header, so a
file is self-describing. PyTorch ``.pt`` files, e.g. training checkpoints, are
read with ``torch.load(weights_only=True)``, which refuses pickled code.
Everything is loaded onto the CPU first, so GPU-trained files open on CPU-only
machines and the other way round.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, load_file, save

from .atomic_write import written_whole
from .classes import normalise_class_name
from .errors import ModelError
from .models import YoloDetector
from .weights_meta import META_KEY, WeightsMeta, read_safetensors_meta, utf8_name

__all__ = ["WeightsMeta", "load_state_into", "read_weights", "save_weights"]


def save_weights(path: str | Path, model: torch.nn.Module, meta: WeightsMeta, *, half: bool = False) -> Path:
    """Write ``model``'s state dict as safetensors with ``meta`` in the header.

    ``half`` stores floating tensors as float16: half the size, and the
    accuracy loss is far below what mAP can see. A tensor past float16's range (65504) stays float32:
    cast, it became infinity, and its channel's output 0.
    """
    path = Path(path)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        if half and value.is_floating_point() and (not value.numel() or value.abs().max() <= torch.finfo(torch.float16).max):
            value = value.half()
        state[key] = value.contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_whole(path) as part:  # a run stopped mid-write keeps the best.safetensors it had
        # bytes written by Python, not ``save_file``: that makes the file readable by its owner only (0600),
        # so a model published into a shared models folder could not be loaded by anyone else
        part.write_bytes(save(state, metadata={META_KEY: meta.to_json()}))
    return path


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], WeightsMeta | None]:
    meta = read_safetensors_meta(path)
    try:
        state = load_file(str(path), device="cpu") if utf8_name(path) else load(path.read_bytes())
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path.name} is not a readable safetensors file (truncated or corrupt?): {exc}") from None
    return state, meta


def _refusal(path: Path, exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused ``path``, in words a user can act on."""
    refused = re.search(r"GLOBAL ([\w.]+)", str(exc))  # the pickled class that weights_only will not build
    if refused and refused.group(1).startswith("ultralytics."):
        return (f"{path.name} is an Ultralytics checkpoint ({refused.group(1)}): LiveDet runs its own detector and "
                "cannot load it; open LiveDet weights (.safetensors, .onnx) or train some with "
                "`python -m detector train`")
    if refused:
        return (f"{path.name} was refused: it holds objects other than tensors ({refused.group(1)}), which could "
                "run code when loaded; LiveDet loads state dicts of tensors")
    return (f"{path.name} was refused: it is truncated, corrupt, or holds objects other than tensors "
            f"({type(exc).__name__})")


def _read_torch(path: Path) -> tuple[dict[str, torch.Tensor], WeightsMeta | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "looks like a TorchScript archive": refused just below
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for hostile payloads, EOFError/RuntimeError for truncation
        raise ModelError(_refusal(path, exc)) from None
    if not isinstance(obj, dict):
        raise ModelError(f"{path.name} does not hold a state dict")
    meta = None
    if isinstance(obj.get("meta"), str):
        meta = WeightsMeta.from_json(obj["meta"], path.name)
    # training checkpoints hold several state dicts: prefer the EMA weights
    for key in ("ema", "model", "state_dict"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise ModelError(f"{path.name} does not hold a state dict of tensors")
    return obj, meta


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], WeightsMeta | None]:
    """Load a state dict (on the CPU) and its metadata, if the file has any."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return _read_safetensors(path)
    if suffix in (".pt", ".pth"):
        return _read_torch(path)
    raise ModelError(f"{path.name}: unsupported weights format (use .safetensors, .pt or .onnx)")


def transfer_state(model: YoloDetector, state: dict[str, torch.Tensor], source: str, *,
                   known_classes: Sequence[str] | None = None, classes: Sequence[str] = ()) -> str:
    """Start ``model`` from ``state`` for fine-tuning; returns a line for the training log.

    Everything but the class output layers carries over (the backbone, neck and box branches are
    what transfer). A class output row is a class's own detector, so rows go by class *name*: a
    dataset that lists the same classes in another order, or only some of them, gets the row each
    class was trained with, and a class the weights never knew starts fresh. Without the weights'
    class names (a bare ``.pt``) rows go by position when the counts agree. Any other mismatch is
    ``load_state_into``'s error.
    """
    own = model.state_dict()
    class_layers = {k for k in own if ".cls_out." in k}
    differ = {k for k in own if k in state and state[k].shape != own[k].shape}
    same_layout = set(own) == set(state) and differ <= class_layers
    if not same_layout or (not differ and (known_classes is None or list(known_classes) == list(classes))):
        load_state_into(model, state, source)  # the same classes in the same order, or another architecture's error
        return f"starting from {source}: all {len(own)} tensors"
    trained_rows = min((state[k].shape[0] for k in class_layers if state[k].dim()), default=0)
    if known_classes is not None and len(known_classes) != trained_rows:  # metadata that does not fit its tensors
        raise ModelError(f"{source} names {len(known_classes)} classes but its class layers have {trained_rows} rows")
    rows = _class_rows_by_name(known_classes or (), classes)
    kept = {k: v.to(own[k].dtype) for k, v in state.items() if k not in class_layers}
    with torch.no_grad():
        for key in class_layers:  # (C, width, 1, 1) weights and (C,) biases: one row per class
            for mine, theirs in rows.items():
                own[key][mine] = state[key][theirs].to(own[key].dtype)
            kept[key] = own[key]
    model.load_state_dict(kept)
    fresh = [name for i, name in enumerate(classes) if i not in rows]
    note = f"starting from {source}: {len(own) - len(class_layers)} of {len(own)} tensors"
    if known_classes is None:
        key = sorted(differ)[0]
        return (f"{note}; it knew {state[key].shape[0]} classes and this run has {own[key].shape[0]}, so the class "
                "layers start fresh")
    if not rows:
        return f"{note}; it knew none of this run's {len(classes)} classes by name, so the class layers start fresh"
    if not fresh:
        return (f"starting from {source}: all {len(own)} tensors, the class layers' rows matched to this run's "
                f"{len(classes)} classes by name")
    note += f", and the class layers' rows of the {len(rows)} of this run's {len(classes)} classes that it knew by name"
    return f"{note}; new, so starting fresh: {_some(fresh)}"


def _class_rows_by_name(known: Sequence[str], classes: Sequence[str]) -> dict[int, int]:
    """This run's class index -> the weights' row for the class of that name (case and spacing aside)."""
    rows_by_name: dict[str, int] = {}
    for row, name in enumerate(known):
        rows_by_name.setdefault(normalise_class_name(name), row)
    found = {i: rows_by_name.get(normalise_class_name(name)) for i, name in enumerate(classes)}
    return {i: row for i, row in found.items() if row is not None}


def _some(names: Sequence[str], shown: int = 6) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def load_state_into(model: YoloDetector, state: dict[str, torch.Tensor], source: str) -> YoloDetector:
    """Strict load with a readable message when the file belongs to another architecture."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong_shape = [k for k in own if k in state and state[k].shape != own[k].shape]
    cls_keys = [k for k in wrong_shape if ".cls_out." in k]
    if cls_keys and cls_keys == wrong_shape and not missing and not unexpected:
        k = cls_keys[0]
        found = state[k].shape[0] if state[k].dim() else "?"
        raise ModelError(f"{source} was trained for {found} classes but the model expects {own[k].shape[0]}")
    if missing or unexpected or wrong_shape:
        detail = []
        if wrong_shape:
            k = wrong_shape[0]
            detail.append(f"{len(wrong_shape)} tensors differ in shape (e.g. {k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)})")
        if missing:
            detail.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise ModelError(f"{source} does not match architecture {model.config.backbone}: " + "; ".join(detail))
    broken = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if broken is not None:  # loaded, it drew no box, or NaN boxes, without a word
        raise ModelError(f"{source} holds numbers that are not finite (NaN or infinity) in {broken}: the training "
                         "that wrote it diverged, or the file is damaged")
    try:
        model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ModelError(f"{source}: its tensors cannot be loaded ({str(exc).splitlines()[0][:200]})") from None
    return model
