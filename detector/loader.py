"""Name or path -> a ready network (``LoadedModel``); all file reading for models happens here.

Accepts a manifest name (``yolo-mnv3-small``), a manifest path, a weights file
(.safetensors or .pt with LiveDet metadata) or an exported ``.onnx`` file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ModelError, first_line
from .models.config import ModelConfig
from .weights_meta import META_KEY, WeightsMeta, read_safetensors_meta
from .zoo import ModelSpec, find_model, read_manifest, verify_weights

if TYPE_CHECKING:  # torch: imported by the functions that build networks
    from .models import YoloDetector

ONNX_META_KEY = META_KEY


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for a ``Predictor``: a torch network (CPU, fp32, eval) or ONNX bytes."""

    spec: ModelSpec
    network: YoloDetector | None = None
    onnx_bytes: bytes | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names


RUN_FILE_STEMS = ("best", "last", "last_ema")  # the weights files every training run writes


def checkpoint_name(path: Path) -> str:
    """What a weights file is called in the picker and the CLI's output: its stem, with the run's
    folder in front for the files every training run writes (``runs/train/cats/best.safetensors``
    is "cats-best", so two runs' best weights are told apart)."""
    if path.stem in RUN_FILE_STEMS and path.parent.name:
        return f"{path.parent.name}-{path.stem}"
    return path.stem


def _spec_from_meta(meta: WeightsMeta, path: Path) -> ModelSpec:
    metrics = meta.extra.get("metrics")
    return ModelSpec(
        name=checkpoint_name(path),
        config=meta.config,
        input_size=meta.input_size,
        class_names=meta.class_names,
        weights_path=path,
        provenance=str(meta.extra.get("provenance", "")),
        metrics=dict(metrics) if isinstance(metrics, dict) else {},
    )


def _build(config: ModelConfig, source: str) -> YoloDetector:
    """``build_model`` for a checked config; a failure (e.g. out of memory) is still the file's problem."""
    from .models import build_model

    try:
        return build_model(config)
    except (RuntimeError, ValueError, TypeError, MemoryError) as exc:
        raise ModelError(f"{source}: cannot build its network ({str(exc).splitlines()[0][:200]})") from None


def refuse_weights_unlike_manifest(meta, spec: ModelSpec, source: str) -> None:
    """The weights file's own metadata against its manifest: another backbone, neck or head (a neck was blamed on
    the backbone, "does not match architecture mobilenet_v3_small", which it was), another class count, or
    classes in another order or under other names, which put the manifest's labels on the file's boxes without
    a word."""
    if meta.config.backbone != spec.config.backbone:
        raise ModelError(f"{source} does not match architecture {spec.config.backbone} of manifest "
                         f"'{spec.name}': the file holds a {meta.config.backbone} model")
    if len(meta.class_names) != len(spec.class_names):
        raise ModelError(f"{source} was trained for {len(meta.class_names)} classes but manifest "
                         f"'{spec.name}' lists {len(spec.class_names)}")
    ours, theirs = meta.config.to_dict(), spec.config.to_dict()
    for key in ours:
        if ours[key] != theirs.get(key):
            raise ModelError(f"{source} does not match the architecture of manifest '{spec.name}': the file has "
                             f"{key} {ours[key]}, the manifest {theirs.get(key)}")
    for index, (trained, listed) in enumerate(zip(meta.class_names, spec.class_names)):
        if trained != listed:
            raise ModelError(f"{source} was trained with class {index} named '{trained}', but manifest "
                             f"'{spec.name}' lists '{listed}' there: its boxes would carry the wrong names "
                             "(publish the weights again to write a manifest from them)")


def _network_from_spec(spec: ModelSpec, weights_path: Path) -> YoloDetector:
    from .checkpoint import load_state_into, read_weights

    state, meta = read_weights(weights_path)
    if meta is not None:
        refuse_weights_unlike_manifest(meta, spec, weights_path.name)
    network = _build(spec.config, weights_path.name)
    load_state_into(network, state, weights_path.name)
    return network.eval()


ONNX_FLOAT_TYPES = ("tensor(float)", "tensor(float16)")


def _shape_text(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _check_onnx_signature(session, path: Path) -> None:
    """Inputs and outputs as ``detector.export`` writes them: ``images`` (B, 3, H, W) in, ``boxes`` (B, N, 4)
    and ``scores`` (B, N, C) out. Dimensions the graph leaves open are checked when it runs (``OnnxEngine``)."""
    inputs = session.get_inputs()
    if [i.name for i in inputs] != ["images"]:
        raise ModelError(f"{path.name}: expected one input named 'images', found {[i.name for i in inputs]}")
    shape = inputs[0].shape or []
    if shape and (len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3)):
        raise ModelError(
            f"{path.name}: input 'images' has shape {_shape_text(shape)}, expected (batch, 3, height, width)"
        )
    outputs = session.get_outputs()
    names = [o.name for o in outputs]
    if names != ["boxes", "scores"]:
        raise ModelError(f"{path.name}: expected ONNX outputs ['boxes', 'scores'], found {names}")
    for output in outputs:
        if output.type not in ONNX_FLOAT_TYPES:
            kind = output.type.removeprefix("tensor(").removesuffix(")")
            raise ModelError(f"{path.name}: output '{output.name}' is {kind}, expected float")
    boxes, scores = (o.shape or [] for o in outputs)  # [] also when ONNX Runtime does not know the rank
    if boxes and (len(boxes) != 3 or (isinstance(boxes[2], int) and boxes[2] != 4)):
        raise ModelError(f"{path.name}: output 'boxes' has shape {_shape_text(boxes)}, expected (batch, N, 4)")
    if scores and len(scores) != 3:
        raise ModelError(f"{path.name}: output 'scores' has shape {_shape_text(scores)}, expected (batch, N, classes)")
    if boxes and scores and isinstance(boxes[1], int) and isinstance(scores[1], int) and boxes[1] != scores[1]:
        raise ModelError(f"{path.name}: output 'boxes' has {boxes[1]} rows but 'scores' has {scores[1]}")


def _load_onnx(path: Path) -> LoadedModel:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError("opening .onnx files needs onnxruntime (pip install onnxruntime)") from None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: odd graphs are reported below, in one line
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"{path.name} is not a loadable ONNX model: {first_line(exc)}") from None
    _check_onnx_signature(session, path)
    raw_meta = session.get_modelmeta().custom_metadata_map.get(ONNX_META_KEY)
    if raw_meta is None:
        raise ModelError(f"{path.name} has no LiveDet metadata (export it with `python -m detector export`)")
    meta = WeightsMeta.from_json(raw_meta, path.name)
    scores_shape = session.get_outputs()[1].shape or [None]
    n_scores = scores_shape[-1]
    if isinstance(n_scores, int) and n_scores != len(meta.class_names):
        raise ModelError(f"{path.name}: graph outputs {n_scores} classes but metadata lists {len(meta.class_names)}")
    return LoadedModel(spec=_spec_from_meta(meta, path), onnx_bytes=data)


def load_model(name_or_path: str | Path, *, models_dir: str | Path | None = None) -> LoadedModel:
    """Resolve and load a model. Every failure is a ``ModelError`` with a one-line reason."""
    text = str(name_or_path)
    path = Path(text)
    suffix = path.suffix.lower()  # M.ONNX or BEST.PT too: file systems that ignore case make such names
    refuse_a_folder(path)
    if suffix == ".onnx":
        if not path.is_file():
            raise ModelError(f"ONNX file not found: {path}")
        return _load_onnx(path)
    if suffix in (".safetensors", ".pt", ".pth"):
        from .checkpoint import load_state_into, read_weights

        state, meta = read_weights(path)
        if meta is None:
            raise ModelError(f"{path.name} has no LiveDet metadata, so its architecture is unknown")
        spec = _spec_from_meta(meta, path)
        network = _build(spec.config, path.name)
        load_state_into(network, state, path.name)
        return LoadedModel(spec=spec, network=network.eval())
    spec = resolve_manifest(text, models_dir=models_dir)  # a zoo name or a .yaml manifest
    return LoadedModel(spec=spec, network=_network_from_spec(spec, spec.weights_path))


def refuse_a_folder(path: Path) -> None:
    """A folder given as the model ("best.safetensors" that is a folder, a run folder) was "weights file not
    found" or "unknown model": say what it is. A bare name stays a model's name, even where a folder has it."""
    model_file = path.suffix.lower() in (".onnx", ".safetensors", ".pt", ".pth", ".yaml", ".yml")
    if (model_file or len(path.parts) > 1) and path.is_dir():
        raise ModelError(f"{path} is a folder: give the model's weights file in it (.safetensors, .pt or .onnx), "
                         "its .yaml manifest, or a model's name")


def resolve_manifest(name_or_path: str | Path, *, models_dir: str | Path | None = None) -> ModelSpec | None:
    """The checked spec of a manifest name or ``.yaml`` path, its weights verified, without building anything
    (no torch); None for other files (checkpoints, ONNX), whose description lives inside them."""
    path = Path(str(name_or_path))
    suffix = path.suffix.lower()
    if suffix in (".onnx", ".safetensors", ".pt", ".pth"):
        return None
    if suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ModelError(f"manifest not found: {path}")
        spec = read_manifest(path)
    else:
        spec = find_model(str(name_or_path), models_dir)
    weights = verify_weights(spec)
    # checked here, not only when torch builds the network: a CPU start runs a kept ONNX export, which has the
    # weights' numbers but not the manifest's labels, so an edited manifest put its names on the wrong boxes
    meta = read_safetensors_meta(weights) if weights.suffix.lower() == ".safetensors" else None
    if meta is not None:
        refuse_weights_unlike_manifest(meta, spec, weights.name)
    return spec


def describe_model(name_or_path: str | Path, *, models_dir: str | Path | None = None) -> ModelSpec | None:
    """The checked spec of a manifest (name or ``.yaml``) or of a ``.safetensors`` file with LiveDet metadata,
    read without torch, so that a CPU start can look for a kept export first; None for ``.pt`` files (only
    torch reads them) and ONNX files (they are the graph)."""
    path = Path(str(name_or_path))
    refuse_a_folder(path)
    if path.suffix.lower() == ".safetensors":
        if not path.is_file():
            raise ModelError(f"weights file not found: {path}")
        meta = read_safetensors_meta(path)
        return _spec_from_meta(meta, path) if meta is not None else None
    return resolve_manifest(name_or_path, models_dir=models_dir)


def random_model(config: ModelConfig | None = None, *, input_size: int = 320, class_names=None, name="untrained") -> LoadedModel:
    """An untrained network (for tests, benchmarks of speed, and training starts)."""
    from .models import build_model

    config = config or ModelConfig()
    names = tuple(class_names) if class_names else tuple(f"class{i}" for i in range(config.num_classes))
    spec = ModelSpec(name=name, config=config, input_size=input_size, class_names=names, weights_path=None)
    return LoadedModel(spec=spec, network=build_model(config).eval())


def onnx_metadata(model: LoadedModel, input_size: int | None = None) -> dict[str, str]:
    """Metadata stored in exported ONNX files so they load without a manifest. ``input_size``: the size
    the file runs at by default (``export --imgsz``); the model's metrics hold at its own size only."""
    size = input_size or model.spec.input_size
    metrics = model.spec.metrics if size == model.spec.input_size else {}
    meta = WeightsMeta(
        config=model.spec.config,
        class_names=model.spec.class_names,
        input_size=size,
        extra={"source": model.spec.name, "metrics": metrics},
    )
    return {ONNX_META_KEY: meta.to_json()}


__all__ = ["LoadedModel", "checkpoint_name", "describe_model", "load_model", "random_model", "resolve_manifest", "onnx_metadata"]
