"""ONNX export: decoding inside the graph, NMS outside.

The graph maps ``images`` (B, 3, H, W) RGB in [0, 1] to ``boxes`` (B, N, 4),
x1 y1 x2 y2 in input pixels, and ``scores`` (B, N, C). Thresholds and NMS stay
in ``detector.ops.postprocess`` so the same sliders work on every backend.
"""

from __future__ import annotations

import copy
import io
import threading
import warnings
from pathlib import Path

import torch
from torch import nn

from .atomic_write import written_whole
from .errors import ModelError, OutputError
from .loader import LoadedModel, onnx_metadata
from .models import YoloDetector
from .ops.boxes import anchor_points, decode_outputs
from .outputs import folder_problem

ONNX_OPSET = 17  # ONNX Runtime 1.12 (2022) and later read it; nothing in the graph needs newer ops
# PyTorch's exporter keeps process-wide state (and warnings filters are global): overlapping exports,
# as when a user clicks through the model picker and each CPU load exports in memory, fail. One at a time.
_EXPORT_LOCK = threading.Lock()


class DecodedNetwork(nn.Module):
    """Network + decoder as one module: what every torch run calls (``TorchEngine``, the GPU fast path) and
    what is exported, so the ONNX graph decodes exactly as the torch path does.

    Running (not exporting or compiling, no gradients), it keeps each input size's cell centres and strides
    instead of building them on every call: two dozen small kernels a frame on a GPU, where launches are
    what costs time. Kept for good, never evicted: a CUDA graph captured with them reads their memory on
    every replay. They are small (some kB) and input sizes are few (multiples of 32 up to ``MAX_IMGSZ``).
    """

    def __init__(self, network: YoloDetector) -> None:
        super().__init__()
        self.network = network
        self.strides = network.strides
        self._anchors: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.network(images)
        return decode_outputs(raw, self.strides, anchors=self._kept_anchors(raw))

    def _kept_anchors(self, raw: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """This input size's ``anchor_points``, or None where they must be computed in the graph: an export
        (another size must work), a compile (it fuses them into its kernels) or training (gradients)."""
        if torch.is_grad_enabled() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
            return None
        sizes = tuple((r.shape[2], r.shape[3]) for r in raw)
        key = (sizes, raw[0].device, raw[0].dtype)
        anchors = self._anchors.get(key)
        if anchors is None:
            anchors = self._anchors[key] = anchor_points(list(sizes), self.strides, device=raw[0].device,
                                                         dtype=raw[0].dtype)
        return anchors


def onnx_bytes(model: LoadedModel, *, imgsz: int | None = None) -> bytes:
    """Serialise the fused fp32 network to ONNX, with LiveDet metadata; nothing touches the disk.

    ``imgsz``: the input size the file runs at unless told otherwise (the graph has dynamic batch, height and
    width, so it accepts any multiple of 32). A model that is already an ONNX graph gets its metadata stamped
    anew for another ``imgsz``, which is right only because every graph is exported with those dynamic axes."""
    if model.network is None:
        if model.onnx_bytes is None:
            raise ModelError("this model has no network to export")
        if not imgsz or imgsz == model.spec.input_size:
            return model.onnx_bytes
        import onnx

        proto = onnx.load_from_string(model.onnx_bytes)  # an export exported again at another size: new metadata
        _write_metadata(proto, onnx_metadata(model, imgsz))
        return proto.SerializeToString()
    import onnx  # only needed for export

    net = DecodedNetwork(copy.deepcopy(model.network).float().cpu().eval().fuse())
    size = imgsz or model.spec.input_size
    dummy = torch.zeros(1, 3, size, size)
    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "boxes": {0: "batch", 1: "anchors"}, "scores": {0: "batch", 1: "anchors"}}
    buffer = io.BytesIO()
    with _EXPORT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is chatty about deprecations
        torch.onnx.export(
            net,
            (dummy,),
            buffer,
            input_names=["images"],
            output_names=["boxes", "scores"],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    _fix_last_dims(proto, {"boxes": 4, "scores": len(model.class_names)})
    _write_metadata(proto, onnx_metadata(model, size))
    return proto.SerializeToString()


def _fix_last_dims(proto, sizes: dict[str, int]) -> None:
    """State the outputs' last dimension (4 box sides, the class count), which the exporter leaves open as
    "Concatboxes_dim_2": a reader of the graph, or another runtime, then sees the contract, not a name."""
    for output in proto.graph.output:
        if output.name in sizes:
            dims = output.type.tensor_type.shape.dim
            dims[len(dims) - 1].dim_value = sizes[output.name]


def _write_metadata(proto, metadata: dict[str, str]) -> None:
    """Set ``metadata`` in an ONNX model, replacing the entries of the same keys."""
    kept = [(entry.key, entry.value) for entry in proto.metadata_props if entry.key not in metadata]
    del proto.metadata_props[:]
    for key, value in [*kept, *metadata.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def export_onnx(model: LoadedModel, output: str | Path, *, imgsz: int | None = None) -> Path:
    output = Path(output)
    data = onnx_bytes(model, imgsz=imgsz)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {folder_problem(output.parent, exc)}") from None
    try:
        with written_whole(output) as part:  # a full disk mid-write keeps the earlier export, not half a new one
            part.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from None
    return output
