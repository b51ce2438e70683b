"""ONNX export: the file ONNX Runtime runs gives the numbers eager PyTorch gives, on real video frames."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
import torch

from detector.export import DecodedNetwork, export_onnx
from detector.loader import load_model
from detector.ops.boxes import decode_outputs
from detector.preprocess import letterbox, letterbox_meta, to_input_array

SCORE_TOL = 1e-4  # max |score difference|, scores in [0, 1] (measured: 1e-5 small, 2.4e-5 large)
BOX_TOL_PX = 1e-2  # max |coordinate difference| in input pixels (measured: 0.002 small, 0.004 large)


@pytest.fixture(scope="module")
def vtest_frames(vtest_path):
    capture = cv2.VideoCapture(str(vtest_path))
    frames = []
    for index in itertools.count():
        ok, frame = capture.read()
        if not ok or len(frames) == 4:
            break
        if index % 150 == 0:  # spread over the video: empty street, crowds
            frames.append(frame)
    capture.release()
    assert len(frames) == 4
    return frames


def lively(model, images: np.ndarray):
    """An untrained network barely reacts to its input (default BatchNorm statistics, a head with
    std-0.01 weights), which would hide export errors. Calibrate BatchNorm on ``images`` and give
    the head output convs weights that let scores span 0-1 and boxes the whole input."""
    network = model.network
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for level in network.head.levels:
            for conv in (level.cls_out, level.box_out):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.1)
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # plain average: one pass sets the statistics of these images
        network.train()
        network(torch.from_numpy(images))
    network.eval()
    return model


def ort_session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("variant,imgsz", [("test-small", 320), ("test-large", 416)])
def test_onnx_matches_eager_torch_on_video_frames(variant, imgsz, random_models_dir, vtest_frames, tmp_path):
    meta = letterbox_meta(vtest_frames[0].shape[:2], imgsz)
    images = to_input_array([letterbox(f, meta) for f in vtest_frames])  # a batch of 4, 256x320 or 320x416
    model = lively(load_model(variant, models_dir=random_models_dir), images)
    session = ort_session(export_onnx(model, tmp_path / f"{variant}.onnx"))
    ort_boxes, ort_scores = session.run(["boxes", "scores"], {"images": images})
    with torch.inference_mode():  # the unfused training-form network: checks fusion and export together
        eager_boxes, eager_scores = decode_outputs(model.network(torch.from_numpy(images)), model.network.strides)
    assert ort_boxes.shape == tuple(eager_boxes.shape) and ort_scores.shape == tuple(eager_scores.shape)
    assert ort_scores.max() > 0.5 and ort_scores.std() > 0.01  # outputs that vary, so agreement means something
    assert np.abs(ort_scores - eager_scores.numpy()).max() < SCORE_TOL
    assert np.abs(ort_boxes - eager_boxes.numpy()).max() < BOX_TOL_PX


def test_exported_file_describes_itself(random_models_dir, tmp_path):
    model = load_model("test-small", models_dir=random_models_dir)
    path = export_onnx(model, tmp_path / "sub" / "small.onnx")
    loaded = load_model(path)
    assert loaded.network is None and loaded.onnx_bytes is not None
    assert loaded.class_names == model.class_names
    assert loaded.spec.input_size == model.spec.input_size
    assert loaded.spec.config == model.spec.config


def test_an_export_at_another_size_runs_at_that_size(random_models_dir, tmp_path):
    """``export --imgsz 640`` wrote a file byte for byte the same as at 320, which ran at 320."""
    from detector import Predictor

    model = load_model("test-small", models_dir=random_models_dir)
    loaded = load_model(export_onnx(model, tmp_path / "small-640.onnx", imgsz=640))
    assert loaded.spec.input_size == 640
    assert Predictor(loaded, warmup=False).imgsz == 640
    assert load_model(export_onnx(model, tmp_path / "small.onnx")).spec.input_size == model.spec.input_size
    again = load_model(export_onnx(load_model(tmp_path / "small.onnx"), tmp_path / "again-416.onnx", imgsz=416))
    assert again.spec.input_size == 416 and again.class_names == model.class_names  # an export, exported again


def test_graph_accepts_any_batch_and_multiple_of_32(random_models_dir, tmp_path):
    model = load_model("test-small", models_dir=random_models_dir)
    session = ort_session(export_onnx(model, tmp_path / "small.onnx"))
    declared = {o.name: o.shape for o in session.get_outputs()}  # what another runtime reads before running it
    assert declared == {"boxes": ["batch", "anchors", 4], "scores": ["batch", "anchors", len(model.class_names)]}
    for batch, h, w in [(1, 320, 320), (3, 256, 320), (2, 96, 480)]:
        boxes, scores = session.run(None, {"images": np.random.rand(batch, 3, h, w).astype(np.float32)})
        cells = sum((h // s) * (w // s) for s in (8, 16, 32))
        assert boxes.shape == (batch, cells, 4) and scores.shape == (batch, cells, len(model.class_names))


def test_onnx_model_runs_in_the_predictor(random_models_dir, tmp_path, vtest_frames):
    from detector import Predictor

    meta = letterbox_meta(vtest_frames[1].shape[:2], 320)
    images = torch.from_numpy(to_input_array(letterbox(vtest_frames[1], meta)))
    model = lively(load_model("test-small", models_dir=random_models_dir), to_input_array(
        [letterbox(f, meta) for f in vtest_frames]))
    onnx_model = load_model(export_onnx(model, tmp_path / "small.onnx"))
    from_file = Predictor(onnx_model, device="cpu")
    eager = DecodedNetwork(model.network.eval())
    assert from_file.backend == "onnxruntime" and from_file.imgsz == 320
    boxes, scores = (torch.from_numpy(a) for a in from_file.engine(images.numpy()))
    with torch.inference_mode():
        ref_boxes, ref_scores = eager(images)
    assert float((scores - ref_scores).abs().max()) < SCORE_TOL
    assert float((boxes - ref_boxes).abs().max()) < BOX_TOL_PX
    detections = from_file.predict(vtest_frames[1], conf=0.3).detections
    assert len(detections) > 0 and detections.boxes[:, 2].max() <= 768 and detections.boxes[:, 3].max() <= 576


def test_export_to_an_unwritable_place_is_an_output_error(random_models_dir, tmp_path):
    from detector.errors import OutputError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match=f"{blocker} is a file, not a folder$"):  # said "File exists"
        export_onnx(load_model("test-small", models_dir=random_models_dir), blocker / "x.onnx")


def test_an_export_that_runs_out_of_disk_keeps_the_earlier_file(random_models_dir, tmp_path, monkeypatch):
    """It wrote in place: a full disk left half a protobuf (INVALID_PROTOBUF on load) and the earlier export gone."""
    import errno
    import io

    from detector.errors import OutputError

    earlier = tmp_path / "model.onnx"
    earlier.write_bytes(b"the earlier export")
    real_open = io.open

    class DiskFillsUp:
        """A file opened for writing on a disk with room for half of what is written."""

        def __init__(self, file):
            self.file = file

        def write(self, data):
            self.file.write(bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    def nearly_full(file, mode="r", *args, **kwargs):
        opened = real_open(file, mode, *args, **kwargs)
        return DiskFillsUp(opened) if "w" in mode else opened

    model = load_model("test-small", models_dir=random_models_dir)
    monkeypatch.setattr(io, "open", nearly_full)  # what pathlib writes through
    with pytest.raises(OutputError, match="No space left on device"):
        export_onnx(model, earlier)
    monkeypatch.undo()
    assert earlier.read_bytes() == b"the earlier export" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_models_loading_at_the_same_time_both_load(random_models_dir, vtest_frames):
    """A user clicking through the model picker starts loads on several threads; each CPU load exports
    ONNX in memory, and PyTorch's exporter keeps process-wide state, so overlapping exports used to fail."""
    import threading

    from detector import Predictor

    names = ["test-small", "test-large", "test-small", "test-large"]
    start_together = threading.Barrier(len(names))
    outcomes: dict[int, object] = {}

    def load(slot: int, name: str) -> None:
        model = load_model(name, models_dir=random_models_dir)
        start_together.wait()
        try:
            outcomes[slot] = Predictor(model, device="cpu")
        except Exception as exc:  # noqa: BLE001 - the test reports what each thread got
            outcomes[slot] = exc

    threads = [threading.Thread(target=load, args=(slot, name)) for slot, name in enumerate(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    failures = {slot: repr(result) for slot, result in outcomes.items() if isinstance(result, Exception)}
    assert not failures
    assert len(outcomes) == len(names)
    for slot, name in enumerate(names):
        predictor = outcomes[slot]
        assert predictor.backend == "onnxruntime" and predictor.model.name == name
        assert predictor.predict(vtest_frames[0]).timings.infer_ms > 0
