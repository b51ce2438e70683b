"""Bad model files, through the public API: each gives a one-line ``ModelError`` a user can act on,
never a traceback, and nothing hidden in a file ever runs.

Covers truncated checkpoints, weights of another architecture or class count, checksum mismatches,
ONNX graphs with unexpected inputs/outputs, malformed and hostile YAML manifests, and pickle payloads
in ``.pt`` files. ``tests/test_checkpoint.py`` covers the happy paths of the weights formats.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from onnx import TensorProto, helper
from safetensors.torch import save_file

from detector import ModelError, Predictor, list_models, load_model
from detector.checkpoint import WeightsMeta, save_weights
from detector.models import ModelConfig, build_model
from detector.zoo import manifest_problems, write_manifest

from .conftest import VOC_CLASSES

SMALL = ModelConfig(backbone="mobilenet_v3_small", neck_width=64, head_depth=1)  # conftest's test-small
GOOD = ["test-large", "test-small"]


@pytest.fixture
def zoo(random_models_dir, tmp_path) -> Path:
    """A private copy of the random models folder, free to damage."""
    return Path(shutil.copytree(random_models_dir, tmp_path / "models"))


def refused(call, match: str) -> str:
    """``call()`` must raise a one-line ModelError matching ``match``; returns the message."""
    with pytest.raises(ModelError, match=match) as info:
        call()
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message, message
    return message


def manifest(folder: Path, name: str, weights_file: str, *, config: ModelConfig = SMALL,
             class_names=VOC_CLASSES, input_size: int = 320) -> Path:
    return write_manifest(folder / f"{name}.yaml", name=name, config=config, input_size=input_size,
                          class_names=class_names, weights_file=weights_file)


@functools.lru_cache(maxsize=None)
def network_of(config: ModelConfig):
    """One untrained network per architecture for the whole module (building one takes a while)."""
    torch.manual_seed(0)
    return build_model(config).eval()


def state_of(config: ModelConfig = SMALL) -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in network_of(config).state_dict().items()}


def small_state_pt(path: Path, *, meta: str | None = None, config: ModelConfig = SMALL) -> Path:
    payload = {"model": state_of(config)}
    if meta is not None:
        payload["meta"] = meta
    torch.save(payload, path)
    return path


# -- 1. truncated checkpoints -------------------------------------------------------------------------------------
CUTS = {"empty": 0, "length-prefix-only": 8, "inside-header": 200, "half": 0.5, "last-byte-missing": -1}


def cut_copy(source: Path, target: Path, keep) -> Path:
    data = source.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (len(data) + keep if keep < 0 else keep)
    target.write_bytes(data[:n])
    return target


@pytest.mark.parametrize("keep", CUTS.values(), ids=CUTS.keys())
def test_truncated_safetensors_is_a_model_error(zoo, keep):
    cut = cut_copy(zoo / "test-small.safetensors", zoo / "cut.safetensors", keep)
    refused(lambda: load_model(cut), r"cut\.safetensors is not a readable safetensors file \(truncated or corrupt")
    # the same file behind a manifest whose checksum matches it: the read, not the checksum, refuses it
    spec = manifest(zoo, "cut", "cut.safetensors")
    refused(lambda: load_model(spec), r"cut\.safetensors .*truncated or corrupt")
    refused(lambda: load_model("cut", models_dir=zoo), r"cut\.safetensors .*truncated or corrupt")


@pytest.mark.parametrize("keep", CUTS.values(), ids=CUTS.keys())
def test_truncated_pt_is_a_model_error(zoo, keep):
    meta = WeightsMeta(SMALL, VOC_CLASSES, 320, {}).to_json()
    whole = small_state_pt(zoo / "whole.pt", meta=meta)
    assert load_model(whole).class_names == VOC_CLASSES  # control: uncut, it loads
    cut = cut_copy(whole, zoo / "cut.pt", keep)
    refused(lambda: load_model(cut), r"cut\.pt was refused: it is truncated, corrupt")
    spec = manifest(zoo, "cut", "cut.pt")
    refused(lambda: load_model(spec), r"cut\.pt was refused: it is truncated, corrupt")


# -- 2. weights of another architecture ---------------------------------------------------------------------------
def test_large_weights_behind_a_small_manifest(zoo):
    spec = manifest(zoo, "wrong-arch", "test-large.safetensors")  # checksum is right, the architecture is not
    pattern = r"test-large\.safetensors does not match architecture mobilenet_v3_small"
    message = refused(lambda: load_model(spec), pattern)
    assert "mobilenet_v3_large" in message
    refused(lambda: load_model("wrong-arch", models_dir=zoo), "does not match architecture mobilenet_v3_small")


def test_a_manifest_with_another_neck_is_said_to_differ_in_its_neck_not_its_backbone(zoo):
    """It said "does not match architecture mobilenet_v3_small" of a file that is mobilenet_v3_small."""
    spec = manifest(zoo, "wider", "test-small.safetensors", config=ModelConfig(neck_width=96))
    refused(lambda: load_model(spec), r"test-small\.safetensors does not match the architecture of manifest 'wider': "
                                      r"the file has neck_width 64, the manifest 96")


def test_a_manifest_naming_the_classes_otherwise_than_its_weights_is_refused(zoo):
    """Classes in another order put the manifest's labels on the file's boxes: every person a tvmonitor."""
    spec = manifest(zoo, "reversed", "test-small.safetensors", class_names=VOC_CLASSES[::-1])
    refused(lambda: load_model(spec), r"test-small\.safetensors was trained with class 0 named 'aeroplane', but "
                                      r"manifest 'reversed' lists 'tvmonitor' there")


def test_large_state_dict_without_metadata_behind_a_small_manifest(zoo):
    small_state_pt(zoo / "large.pt", config=ModelConfig(backbone="mobilenet_v3_large", neck_width=96, head_depth=2))
    spec = manifest(zoo, "wrong-arch", "large.pt")
    refused(lambda: load_model(spec), r"large\.pt does not match architecture mobilenet_v3_small: .*differ in shape")
    # and on its own, without a manifest, nothing says what it is
    refused(lambda: load_model(zoo / "large.pt"), r"large\.pt has no LiveDet metadata")


# -- 3. class count: manifest vs weights --------------------------------------------------------------------------
THREE = ("cat", "dog", "person")


def test_manifest_with_three_classes_over_twenty_class_weights(zoo):
    spec = manifest(zoo, "three", "test-small.safetensors", config=ModelConfig(num_classes=3), class_names=THREE)
    pattern = r"test-small\.safetensors was trained for 20 classes but manifest 'three' lists 3"
    refused(lambda: load_model(spec), pattern)
    assert "three" in [s.name for s in list_models(zoo)]  # the manifest itself is fine; its weights are not


def test_manifest_with_three_classes_over_twenty_class_state_dict(zoo):
    small_state_pt(zoo / "twenty.pt")  # no metadata: only the tensor shapes tell
    spec = manifest(zoo, "three", "twenty.pt", config=ModelConfig(num_classes=3), class_names=THREE)
    refused(lambda: load_model(spec), r"twenty\.pt was trained for 20 classes but the model expects 3")


def test_manifest_whose_class_names_disagree_with_its_architecture(zoo):
    path = manifest(zoo, "three", "test-small.safetensors", class_names=THREE)  # architecture: 20 classes
    refused(lambda: load_model(path), r"three\.yaml: 3 class names but the architecture has 20 classes")
    assert [s.name for s in list_models(zoo)] == GOOD
    assert any("three.yaml" in p for p in manifest_problems(zoo))


def test_weights_whose_own_metadata_disagrees_on_class_count(tmp_path):
    network = network_of(SMALL)  # 20 classes, metadata names 3
    path = save_weights(tmp_path / "liar.safetensors", network, WeightsMeta(SMALL, THREE, 320, {}))
    refused(lambda: load_model(path), r"liar\.safetensors: .*3 class names but the architecture has 20 classes")


# -- 4. checksum ---------------------------------------------------------------------------------------------------
def edit_manifest(path: Path, change) -> Path:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_wrong_sha256_in_manifest_is_refused(zoo):
    path = edit_manifest(zoo / "test-small.yaml", lambda d: d["weights"].update(sha256="0" * 64))
    pattern = r"test-small\.safetensors: sha256 checksum does not match"
    message = refused(lambda: load_model(path), pattern)
    assert "test-small.yaml" in message  # names the manifest too
    refused(lambda: load_model("test-small", models_dir=zoo), pattern)


def test_weights_replaced_after_the_manifest_was_written(zoo):
    assert load_model("test-small", models_dir=zoo).network is not None  # control: untouched, it loads
    weights = zoo / "test-small.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one weight changes; the file is still a perfectly readable safetensors file
    weights.write_bytes(bytes(data))
    assert load_model(weights).network is not None
    pattern = r"test-small\.safetensors: sha256 checksum does not match"
    refused(lambda: load_model("test-small", models_dir=zoo), pattern)


def test_malformed_sha256_is_a_manifest_problem(zoo):
    path = edit_manifest(zoo / "test-small.yaml", lambda d: d["weights"].update(sha256="abc123"))
    refused(lambda: load_model(path), r"test-small\.yaml: weights\.sha256 should be 64 hex digits")
    assert [s.name for s in list_models(zoo)] == ["test-large"]


# -- 5. ONNX files with unexpected inputs or outputs --------------------------------------------------------------

F = TensorProto.FLOAT


def value(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


IMAGES = value("images", ["b", 3, "h", "w"])
BOXES = value("boxes", ["b", "n", 4])
SCORES = value("scores", ["b", "n", 3])


def tiny_onnx(path: Path, nodes, outputs, *, inputs=(IMAGES,), meta=True, classes=THREE, input_size=320,
              opsets=(("", 17),), initializers=()) -> Path:
    """A graph built by hand: ``boxes_ok`` reshapes the image into (B, N, 4) and ``scores_ok`` squashes
    three of those columns into (B, N, 3), which is the shape contract of ``detector.export``."""
    shape4 = helper.make_tensor("shape4", TensorProto.INT64, [3], [0, -1, 4])
    shape3 = helper.make_tensor("shape3", TensorProto.INT64, [3], [0, -1, 3])
    slicing = [helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in
               (("s0", 0), ("s3", 3), ("ax2", 2))]
    graph = helper.make_graph(list(nodes), "tiny", list(inputs), list(outputs),
                              initializer=[shape4, shape3, *slicing, *initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    model.ir_version = 8
    if meta is not None and meta is not False:
        text = meta if isinstance(meta, str) else WeightsMeta(ModelConfig(num_classes=len(classes)), classes,
                                                              input_size, {}).to_json()
        entry = model.metadata_props.add()
        entry.key, entry.value = "livedet", text
    path.write_bytes(model.SerializeToString())
    return path


RESHAPE = helper.make_node("Reshape", ["images", "shape4"], ["boxes"])
SLICE = helper.make_node("Slice", ["boxes", "s0", "s3", "ax2"], ["cols"])
SIGMOID = helper.make_node("Sigmoid", ["cols"], ["scores"])
GOOD_NODES = [RESHAPE, SLICE, SIGMOID]


def predictor_for(path: Path) -> Predictor:
    return Predictor(load_model(path), device="cpu")


def test_hand_built_onnx_with_the_right_outputs_runs(tmp_path):
    """Control for the cases below: the tiny graph is a valid LiveDet model."""
    predictor = predictor_for(tiny_onnx(tmp_path / "ok.onnx", GOOD_NODES, [BOXES, SCORES]))
    assert predictor.class_names == THREE and predictor.backend == "onnxruntime"
    picture = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)  # (a black one gets no boxes)
    detections = predictor.predict(picture).detections
    assert len(detections.boxes) > 0 and detections.boxes.shape[1] == 4
    assert set(detections.class_ids.tolist()) <= {0, 1, 2}


def int64s(name: str, values) -> TensorProto:
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], list(values))


ONNX_LOAD_CASES = {
    "one-output": ([helper.make_node("Identity", ["images"], ["out"])], [value("out", ["b", 3, "h", "w"])],
                   {}, r"expected ONNX outputs \['boxes', 'scores'\], found \['out'\]"),
    "swapped-outputs": (GOOD_NODES, [SCORES, BOXES], {}, r"found \['scores', 'boxes'\]"),
    "boxes-rank-4": ([helper.make_node("Identity", ["images"], ["boxes"]), SLICE, SIGMOID],
                     [value("boxes", ["b", 3, "h", "w"]), SCORES], {},
                     r"output 'boxes' has shape \(b, 3, h, w\), expected \(batch, N, 4\)"),
    "boxes-5-wide": ([helper.make_node("Reshape", ["images", "shape5"], ["boxes"]), SLICE, SIGMOID],
                     [value("boxes", ["b", "n", 5]), SCORES], {"initializers": [int64s("shape5", [0, -1, 5])]},
                     r"output 'boxes' has shape \(b, \S+, 5\), expected \(batch, N, 4\)"),
    "scores-4-classes": ([RESHAPE, helper.make_node("Sigmoid", ["boxes"], ["scores"])],
                         [BOXES, value("scores", ["b", "n", 4])], {}, r"graph outputs 4 classes but metadata lists 3"),
    "integer-boxes": ([helper.make_node("Reshape", ["images", "shape4"], ["fb"]),
                       helper.make_node("Slice", ["fb", "s0", "s3", "ax2"], ["cols"]), SIGMOID,
                       helper.make_node("Cast", ["fb"], ["boxes"], to=TensorProto.INT64)],
                      [value("boxes", ["b", "n", 4], TensorProto.INT64), SCORES], {},
                      r"output 'boxes' is int64, expected float"),
    "input-not-images": ([helper.make_node("Reshape", ["data", "shape4"], ["boxes"]), SLICE, SIGMOID],
                         [BOXES, SCORES], {"inputs": (value("data", ["b", 3, "h", "w"]),)},
                         r"expected one input named 'images', found \['data'\]"),
    "two-inputs": (GOOD_NODES, [BOXES, SCORES], {"inputs": (IMAGES, value("extra", [1]))},
                   r"expected one input named 'images'.*found \['images', 'extra'\]"),
    "grey-input": (GOOD_NODES, [BOXES, SCORES], {"inputs": (value("images", ["b", 1, "h", "w"]),)},
                   r"input 'images' has shape .* expected \(batch, 3, height, width\)"),
    "no-metadata": (GOOD_NODES, [BOXES, SCORES], {"meta": False}, r"has no LiveDet metadata"),
    "junk-metadata": (GOOD_NODES, [BOXES, SCORES], {"meta": "{not json"}, r"unreadable LiveDet metadata"),
    "list-metadata": (GOOD_NODES, [BOXES, SCORES], {"meta": "[1, 2]"}, r"unreadable LiveDet metadata"),
    "bad-input-size": (GOOD_NODES, [BOXES, SCORES], {"input_size": 100},
                       r"input_size must be a positive multiple of 32"),
    "custom-op": ([RESHAPE, SLICE, helper.make_node("Evil", ["cols"], ["scores"], domain="com.example.evil")],
                  [BOXES, SCORES], {"opsets": (("", 17), ("com.example.evil", 1))}, r"is not a loadable ONNX model"),
}


@pytest.mark.parametrize("case", ONNX_LOAD_CASES.values(), ids=ONNX_LOAD_CASES.keys())
def test_onnx_with_unexpected_graph_is_refused_on_load(tmp_path, case):
    nodes, outputs, options, match = case
    path = tiny_onnx(tmp_path / "odd.onnx", nodes, outputs, **options)
    message = refused(lambda: load_model(path), match)
    assert message.startswith("odd.onnx")


def runtime_int(name: str, number: int) -> tuple[list, list]:
    """Nodes computing the int64 tensor ``[number]`` from the image (0 * max + number), so that no shape
    inference can know it before the graph runs. Returns (nodes, initializers)."""
    const = helper.make_tensor(f"{name}_c", F, [1], [float(number)])
    zero = helper.make_tensor(f"{name}_0", F, [], [0.0])
    nodes = [helper.make_node("Mul", ["images", f"{name}_0"], [f"{name}_z"]),
             helper.make_node("ReduceMax", [f"{name}_z"], [f"{name}_m"], keepdims=0),
             helper.make_node("Add", [f"{name}_m", f"{name}_c"], [f"{name}_f"]),
             helper.make_node("Cast", [f"{name}_f"], [name], to=TensorProto.INT64)]
    return nodes, [const, zero]


def run_case(extra_nodes, extra_inits, nodes, match):
    return extra_nodes + nodes, extra_inits, match


_four, _four_init = runtime_int("four", 4)
_three, _three_init = runtime_int("three", 3)
ONNX_RUN_CASES = {  # output shapes that only running the graph reveals (ONNX Runtime cannot infer them)
    "boxes-rank-4": run_case(_four, [*_four_init, int64s("shape1334", [0, 3, -1, 4])], [
        helper.make_node("Slice", ["shape1334", "s0", "four"], ["dyn_shape"]),  # length known only at run time
        helper.make_node("Reshape", ["images", "dyn_shape"], ["boxes"]), SLICE, SIGMOID],
        r"output 'boxes' has shape \(1, 3, 25600, 4\), expected \(batch, N, 4\)"),
    "scores-4-classes": run_case(_four, _four_init, [
        RESHAPE, helper.make_node("Slice", ["boxes", "s0", "four", "ax2"], ["cols"]), SIGMOID],
        r"output 'scores' has 4 classes but the model lists 3"),
    "counts-differ": run_case(_three, [*_three_init, int64s("head", [0, -1])], [
        RESHAPE, helper.make_node("Concat", ["head", "three"], ["dyn_shape"], axis=0),
        helper.make_node("Reshape", ["images", "dyn_shape"], ["scores"])],
        r"output 'boxes' has 76800 rows but 'scores' has 102400"),
    "fails-to-run": run_case([], [int64s("fixed", [1, 100, 4])], [  # fits no image size
        helper.make_node("Reshape", ["images", "fixed"], ["boxes"]), SLICE, SIGMOID], r"failed to run"),
}


@pytest.mark.parametrize("case", ONNX_RUN_CASES.values(), ids=ONNX_RUN_CASES.keys())
def test_onnx_with_wrong_output_shapes_fails_on_predict(tmp_path, case):
    nodes, initializers, match = case
    path = tiny_onnx(tmp_path / "odd.onnx", nodes, [value("boxes", None), value("scores", None)],
                     initializers=initializers)
    model = load_model(path)  # nothing to see before it runs
    refused(lambda: Predictor(model, device="cpu"), r"^odd\.onnx: " + match)  # warm-up runs it
    predictor = Predictor(model, device="cpu", warmup=False)
    refused(lambda: predictor.predict(np.zeros((320, 320, 3), np.uint8)), match)


@pytest.mark.parametrize("keep", [0, 16, 0.5], ids=["empty", "16-bytes", "half"])
def test_truncated_or_foreign_onnx_is_refused(tmp_path, keep):
    whole = tiny_onnx(tmp_path / "whole.onnx", GOOD_NODES, [BOXES, SCORES])
    cut = cut_copy(whole, tmp_path / "cut.onnx", keep)
    refused(lambda: load_model(cut), r"cut\.onnx is not a loadable ONNX model")
    text = tmp_path / "notes.onnx"
    text.write_text("these are my notes, not a network\n")
    refused(lambda: load_model(text), r"notes\.onnx is not a loadable ONNX model")


# -- 6. YAML manifests: malformed, wrong types, hostile -----------------------------------------------------------
def good_manifest_data(zoo: Path) -> dict:
    return yaml.safe_load((zoo / "test-small.yaml").read_text(encoding="utf-8"))


def replaced(**changes):
    def change(data):
        for key, new in changes.items():
            if new is DROP:
                data.pop(key)
            else:
                data[key] = new(data[key]) if callable(new) else new
    return change


def arch(**changes):
    return replaced(architecture={**SMALL.to_dict(), **changes})


DROP = object()

BAD_DATA = {  # id -> (change to a valid manifest's data, what the message must say)
    "missing-name": (replaced(name=DROP), r"manifest is missing 'name'"),
    "missing-architecture": (replaced(architecture=DROP), r"manifest is missing 'architecture'"),
    "missing-input_size": (replaced(input_size=DROP), r"manifest is missing 'input_size'"),
    "missing-class_names": (replaced(class_names=DROP), r"manifest is missing 'class_names'"),
    "name-number": (replaced(name=42), r"'name' should be text, got int"),
    "name-empty": (replaced(name="  "), r"'name' is empty"),
    "input_size-big": (replaced(input_size="big"), r"'input_size' should be a whole number, got str"),
    "input_size-true": (replaced(input_size=True), r"'input_size' should be a whole number, got bool"),
    "input_size-float": (replaced(input_size=320.0), r"'input_size' should be a whole number, got float"),
    "input_size-100": (replaced(input_size=100), r"input_size must be a positive multiple of 32, got 100"),
    "input_size-negative": (replaced(input_size=-320), r"input_size must be a positive multiple of 32"),
    "input_size-huge": (replaced(input_size=102400), r"input_size must be at most 4096, got 102400"),
    "class_names-text": (replaced(class_names="cat, dog"), r"'class_names' should be a list, got str"),
    "class_names-nested": (replaced(class_names=lambda n: [[c] for c in n]), r"class_names must be a list of names"),
    "class_names-count": (replaced(class_names=list(THREE)), r"3 class names but the architecture has 20 classes"),
    "architecture-text": (replaced(architecture="small"), r"'architecture' should be a mapping, got str"),
    "architecture-unknown-key": (arch(colour="red"), r"unknown architecture keys: \['colour'\]"),
    "architecture-backbone": (arch(backbone="resnet50"), r"unknown backbone 'resnet50'"),
    "architecture-backbone-list": (arch(backbone=["a"]), r"backbone should be text"),
    "architecture-classes-text": (arch(num_classes="20"), r"num_classes should be a whole number"),
    "architecture-classes-huge": (arch(num_classes=10**9), r"num_classes must be at most 10000"),  # 256 GB of weights
    "architecture-width-zero": (arch(neck_width=0), r"neck_width must be at least 1"),
    "architecture-depth-negative": (arch(head_depth=-1), r"head_depth must be at least 0"),
    "weights-text": (replaced(weights="test-small.safetensors"), r"'weights' should be a mapping"),
    "weights-file-list": (replaced(weights={"file": ["a", "b"]}), r"weights\.file should be text"),
    "sha256-short": (replaced(weights=lambda w: {**w, "sha256": "deadbeef"}),
                     r"weights\.sha256 should be 64 hex digits"),
    "metrics-text": (replaced(metrics="excellent"), r"'metrics' should be a mapping, got str"),
    "description-mapping": (replaced(description={"a": 1}), r"'description' should be text"),
}

BAD_TEXT = {  # id -> (raw file content, what the message must say)
    "syntax-error": ("name: [unclosed\narchitecture: {\n", r"is not valid YAML"),
    "tab-indent": ("name: x\narchitecture:\n\tbackbone: y\n", r"is not valid YAML"),
    "empty": ("", r"a manifest must be a mapping"),
    "comment-only": ("# nothing here\n", r"a manifest must be a mapping"),
    "list": ("- name\n- input_size\n", r"a manifest must be a mapping"),
    "scalar": ("just some words\n", r"a manifest must be a mapping"),
    "not-utf8": (b"name: \xff\xfe\x00\x81\n", r"cannot read manifest"),
    "deeply-nested": ("name: " + "[" * 800 + "]" * 800 + "\n", r"nested too deeply"),
    "too-large": ("name: x\ndescription: '" + "x" * (2 << 20) + "'\n", r"too large to be a manifest"),
    "dataset-yaml": ("path: ../coco8\ntrain: images/train\nval: images/val\nnames: {0: person}\n",
                     r"bad\.yaml describes a dataset \(a YOLO data\.yaml\), not a model: use it with "
                     r"`train --data` or `val --data`"),
}


def write_bad(folder: Path, name: str, content) -> Path:
    path = folder / f"{name}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", BAD_DATA.values(), ids=BAD_DATA.keys())
def test_manifest_with_bad_content(zoo, case):
    change, match = case
    data = good_manifest_data(zoo)
    change(data)
    path = write_bad(zoo, "bad", yaml.safe_dump(data, sort_keys=False))
    refused(lambda: load_model(path), r"^bad\.yaml: .*" + match)
    refused(lambda: load_model("bad", models_dir=zoo), r"^bad\.yaml: .*" + match)  # not "unknown model 'bad'"
    assert [s.name for s in list_models(zoo)] == GOOD
    problems = manifest_problems(zoo)
    assert len(problems) == 1 and problems[0].startswith("bad.yaml")


@pytest.mark.parametrize("case", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_manifest_that_is_not_a_manifest(zoo, case):
    content, match = case
    path = write_bad(zoo, "bad", content)
    message = refused(lambda: load_model(path), match)
    assert "bad.yaml" in message and len(message) < 400
    assert [s.name for s in list_models(zoo)] == GOOD
    assert len(manifest_problems(zoo)) == 1


def test_listing_a_folder_of_broken_manifests_keeps_the_good_ones(zoo):
    for i, (change, _) in enumerate(BAD_DATA.values()):
        data = good_manifest_data(zoo)
        change(data)
        write_bad(zoo, f"data{i:02d}", yaml.safe_dump(data))
    for i, (content, _) in enumerate(BAD_TEXT.values()):
        write_bad(zoo, f"text{i:02d}", content)
    assert [s.name for s in list_models(zoo)] == GOOD
    problems = manifest_problems(zoo)
    assert len(problems) == len(BAD_DATA) + len(BAD_TEXT)
    assert all("\n" not in p and (".yaml" in p) for p in problems), problems


HOSTILE = {  # each would run a command (or import a module) under yaml.load/unsafe_load
    "apply-os-system-document": "!!python/object/apply:os.system [{cmd}]\n",
    "apply-os-system-value": "name: !!python/object/apply:os.system [{cmd}]\ninput_size: 320\n",
    "apply-in-class-names": "name: x\nclass_names:\n- !!python/object/apply:os.system [{cmd}]\n",
    "new-subprocess": "name: !!python/object/new:subprocess.check_call [[sh, -c, {cmd}]]\n",
    "apply-subprocess-kwargs": ("name: !!python/object/apply:subprocess.run\n  kwds: {{args: [sh, -c, {cmd}]}}\n"),
}


@pytest.mark.parametrize("template", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_yaml_tags_never_execute(zoo, tmp_path, template):
    control = tmp_path / "control-marker"
    yaml.unsafe_load(template.format(cmd=shlex.quote(f"touch {control}")))  # control: the payload is real
    assert control.exists()

    marker = tmp_path / "pwned-marker"
    path = write_bad(zoo, "hostile", template.format(cmd=shlex.quote(f"touch {marker}")))
    refused(lambda: load_model(path), r"hostile\.yaml is not valid YAML: could not determine a constructor")
    assert [s.name for s in list_models(zoo)] == GOOD
    assert len(manifest_problems(zoo)) == 1
    refused(lambda: load_model("hostile", models_dir=zoo), r"hostile\.yaml is not valid YAML")  # by name too
    assert not marker.exists()


BOMB = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
)  # 9**9 strings if anything walks or prints it in full


@pytest.mark.parametrize("key, ref", [("class_names", "*i"), ("description", "*i"), ("metrics", "{x: *i}"),
                                      ("name", "*i"), ("license", "[*i, *i]")])
def test_billion_laughs_manifest_is_refused_quickly(zoo, key, ref):
    data = good_manifest_data(zoo)
    del data[key]
    path = write_bad(zoo, "bomb", yaml.safe_dump(data) + BOMB + f"\n{key}: {ref}\n")
    start = time.perf_counter()
    refused(lambda: load_model(path), rf"^bomb\.yaml: .*'?{key}'? ")
    assert [s.name for s in list_models(zoo)] == GOOD
    assert time.perf_counter() - start < 2.0


def test_the_zoo_never_uses_an_unsafe_yaml_loader(zoo, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("zoo used an unsafe YAML loader")

    for name in ("unsafe_load", "full_load", "load_all", "unsafe_load_all", "full_load_all"):
        monkeypatch.setattr(yaml, name, forbidden)
    real_load = yaml.load
    monkeypatch.setattr(yaml, "load", lambda stream, Loader: (
        real_load(stream, Loader) if Loader in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", None)) else forbidden()))
    assert [s.name for s in list_models(zoo)] == GOOD
    assert load_model("test-small", models_dir=zoo).network is not None


# -- 7. pickle payloads in .pt files -------------------------------------------------------------------------------
class Payload:
    """Code hidden in a pickle: unpickling it runs ``call(*args)``, which creates a marker file."""

    def __init__(self, call, args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


PAYLOADS = {
    "os-system": lambda marker: Payload(os.system, (f"touch {shlex.quote(str(marker))}",)),
    "builtin-open": lambda marker: Payload(open, (str(marker), "w")),
}
LAYOUTS = {  # where the payload sits in the file
    "as-metadata": lambda evil, state: {"model": state, "meta": evil},
    "inside-state-dict": lambda evil, state: {"model": {**state, "evil": evil}},
    "whole-file": lambda evil, state: evil,
}


def close_all(obj) -> None:
    """The ``open`` payload leaves file objects in what the control load returns."""
    if isinstance(obj, dict):
        for item in obj.values():
            close_all(item)
    elif hasattr(obj, "close"):
        obj.close()


def write_evil_pt(path: Path, payload, layout, *, legacy=False) -> Path:
    state = {"w": torch.zeros(2)}
    with open(path, "wb") as f:
        torch.save(layout(payload, state), f, pickle_module=pickle, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("make_payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_pickle_payload_in_pt_never_runs(zoo, tmp_path, make_payload, layout, legacy):
    control = tmp_path / "control-marker"
    control_file = write_evil_pt(tmp_path / "control.pt", make_payload(control), layout, legacy=legacy)
    close_all(torch.load(control_file, weights_only=False))  # control: an unsafe load does run it
    assert control.exists()

    marker = tmp_path / "pwned-marker"
    evil = write_evil_pt(zoo / "evil.pt", make_payload(marker), layout, legacy=legacy)
    refused(lambda: load_model(evil), r"evil\.pt was refused: .*holds objects other than tensors")
    spec = manifest(zoo, "evil", "evil.pt")  # the checksum matches: the manifest vouches for the file
    refused(lambda: load_model(spec), r"evil\.pt was refused")
    refused(lambda: load_model("evil", models_dir=zoo), r"evil\.pt was refused")
    assert "evil" in [s.name for s in list_models(zoo)]  # listing never opens weights
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_raw_pickle_and_torchscript_pt_files_are_refused(zoo, tmp_path):
    marker = tmp_path / "pwned-marker"
    raw = zoo / "raw.pt"
    raw.write_bytes(pickle.dumps(PAYLOADS["os-system"](marker)))
    refused(lambda: load_model(raw), r"raw\.pt was refused")
    scripted = zoo / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(scripted))
    refused(lambda: load_model(scripted), r"scripted\.pt was refused")
    refused(lambda: load_model(manifest(zoo, "scripted", "scripted.pt")), r"scripted\.pt was refused")
    assert not marker.exists()


def test_an_ultralytics_checkpoint_is_named_as_such(zoo, monkeypatch):
    """yolov8n.pt / yolo11n.pt, the best-known YOLO weights, are pickled Ultralytics model objects (their
    classes, here stood in for by a module made on the fly): the user is told what the file is, not "corrupt"."""
    import sys
    import types

    class DetectionModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

    DetectionModel.__module__, DetectionModel.__qualname__ = "ultralytics.nn.tasks", "DetectionModel"
    tasks = types.ModuleType("ultralytics.nn.tasks")
    tasks.DetectionModel = DetectionModel
    with monkeypatch.context() as patch:
        for name, module in (("ultralytics", types.ModuleType("ultralytics")),
                             ("ultralytics.nn", types.ModuleType("ultralytics.nn")), ("ultralytics.nn.tasks", tasks)):
            patch.setitem(sys.modules, name, module)
        torch.save({"model": DetectionModel(), "train_args": {"imgsz": 640}}, zoo / "yolov8n.pt")
    refused(lambda: load_model(zoo / "yolov8n.pt"),
            r"yolov8n\.pt is an Ultralytics checkpoint \(ultralytics\.nn\.tasks\.DetectionModel\): LiveDet runs its "
            r"own detector and cannot load it")


@pytest.mark.parametrize("meta", ["[1, 2]", '"text"', "{not json", '{"format": "livedet-weights"}'],
                         ids=["list", "string", "junk", "no-fields"])
def test_pt_and_safetensors_with_junk_metadata(zoo, meta):
    path = small_state_pt(zoo / "junk.pt", meta=meta)
    refused(lambda: load_model(path), r"junk\.pt: unreadable LiveDet metadata")
    st = zoo / "junk.safetensors"
    save_file(state_of(), str(st),
              metadata={"livedet": meta})
    refused(lambda: load_model(st), r"junk\.safetensors: unreadable LiveDet metadata")


@pytest.mark.parametrize("key, wrong, match", [
    ("backbone", "resnet50", r"unknown backbone 'resnet50'"),
    ("num_classes", 0, r"num_classes must be at least 1"),
    ("input_size", 100, r"input_size must be a positive multiple of 32, got 100"),
])
def test_weights_metadata_with_impossible_values(tmp_path, key, wrong, match):
    data = json.loads(WeightsMeta(SMALL, VOC_CLASSES, 320, {}).to_json())
    (data if key == "input_size" else data["architecture"])[key] = wrong
    path = tmp_path / "odd.safetensors"
    save_file(state_of(), str(path),
              metadata={"livedet": json.dumps(data)})
    refused(lambda: load_model(path), r"^odd\.safetensors: .*" + match)


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux keeps file names that are not UTF-8")
def test_weights_whose_file_name_is_not_utf8_load(zoo):
    """The safetensors library opens only UTF-8 names: a file from an old Latin-1 archive was "not a readable
    safetensors file (truncated or corrupt?)", though it was whole."""
    odd = Path(os.fsdecode(bytes(zoo) + b"/stra\xdfe.safetensors"))  # "straße" in Latin-1
    shutil.copy(zoo / "test-small.safetensors", odd)
    model = load_model(odd)
    assert model.class_names == VOC_CLASSES and model.spec.input_size == 320
