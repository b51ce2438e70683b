"""The fast paths find what eager fp32 PyTorch finds: same boxes (IoU >= 0.9) and scores within 0.02.

On the CPU the fast path is ONNX Runtime (the default backend there) and the
staged frame -> top-k step that CUDA graphs capture, run eagerly. With a CUDA
GPU the real thing is checked too: fp16, channels_last and CUDA-graph replay.
"""

from __future__ import annotations

import itertools
import shutil

import cv2
import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from detector import Prediction, Predictor, load_model
from detector.fastpath import FastPath, topk_candidates
from detector.ops.postprocess import boxes_to_frame, select_candidates
from detector.preprocess import letterbox_meta

IOU_MIN = 0.9
SCORE_TOL = 0.02
CONF = 0.25
NMS_IOU = 0.45

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def street_frames(vtest_path):
    """Eight frames spread over vtest.avi: from a near-empty street to crowds."""
    capture = cv2.VideoCapture(str(vtest_path))
    frames = [frame for index, (ok, frame) in zip(itertools.count(), iter(capture.read, (False, None)))
              if index % 100 == 0][:8]
    capture.release()
    assert len(frames) == 8
    return frames


@pytest.fixture(scope="module")
def shipped_small():
    return load_model("yolo-mnv3-small")


def _partners(box, score, class_id, boxes, scores, class_ids) -> np.ndarray:
    """Indices of rows with the same class, IoU >= 0.9 with ``box`` and a score within 0.02."""
    if len(scores) == 0:
        return np.zeros(0, np.int64)
    ious = box_iou(torch.from_numpy(box[None]), torch.from_numpy(np.asarray(boxes, np.float32)))[0].numpy()
    return np.flatnonzero((ious >= IOU_MIN) & (class_ids == class_id) & (np.abs(scores - score) <= SCORE_TOL))


def assert_same_detections(reference: Prediction, fast: Prediction, conf: float = CONF, iou: float = NMS_IOU) -> None:
    """Every box one side keeps, the other side keeps too (same class, IoU >= 0.9, score within 0.02).

    Two allowances, both about thresholds rather than the network: a box scored within 0.02 of ``conf``
    may fall on either side of it, and where two overlapping boxes score within 0.02 of each other NMS
    may keep either; then the other side must hold the box among its candidates, beaten by such a twin.
    """
    for this, other in ((reference, fast), (fast, reference)):
        kept, pool = other.detections, other.candidates
        pool_boxes = boxes_to_frame(pool.boxes, pool.meta)
        for box, score, class_id, label in zip(this.detections.boxes, this.detections.scores,
                                               this.detections.class_ids, this.detections.labels):
            if abs(float(score) - conf) <= SCORE_TOL or len(_partners(box, score, class_id, kept.boxes, kept.scores,
                                                                       kept.class_ids)):
                continue
            twins = [
                (c, k) for c in _partners(box, score, class_id, pool_boxes, pool.scores, pool.class_ids)
                for k in range(len(kept))
                if kept.class_ids[k] == class_id and abs(float(kept.scores[k]) - float(score)) <= SCORE_TOL
                and float(box_iou(torch.from_numpy(pool_boxes[c:c + 1]), torch.from_numpy(kept.boxes[k:k + 1]))) > iou
            ]
            assert twins, f"{label} {box.round(1)} score {score:.3f} has no match among {len(kept)} boxes"


def test_topk_candidates_keeps_the_same_boxes_as_the_floor_then_topk():
    generator = torch.Generator().manual_seed(0)
    boxes = torch.rand(2, 500, 4, generator=generator) * 300
    scores = torch.rand(2, 500, 7, generator=generator) ** 6  # most boxes below the floor, as in real frames
    top_boxes, top_scores, top_ids = topk_candidates(boxes, scores, k=100)
    assert top_boxes.shape == (2, 100, 4) and top_scores.shape == top_ids.shape == (2, 100)
    for i in range(2):
        ref_boxes, ref_scores, ref_ids = select_candidates(boxes[i].numpy(), scores[i].numpy(), score_floor=0.3, top_k=100)
        keep = top_scores[i] > 0.3
        assert np.array_equal(top_scores[i][keep].numpy(), ref_scores)
        assert np.array_equal(top_boxes[i][keep].numpy(), ref_boxes) and np.array_equal(top_ids[i][keep].numpy(), ref_ids)
    assert topk_candidates(boxes[:, :50], scores[:, :50], k=100)[1].shape == (2, 50)  # fewer boxes than k


def test_onnxruntime_default_on_cpu_matches_eager_fp32(shipped_small, street_frames):
    fast = Predictor(shipped_small, device="cpu")  # the CPU default
    eager = Predictor(shipped_small, device="cpu", backend="torch")
    assert (fast.backend, eager.backend) == ("onnxruntime", "torch")
    found = 0
    for frame in street_frames:
        reference = eager.predict(frame, conf=CONF, keep_candidates=True)
        assert_same_detections(reference, fast.predict(frame, conf=CONF, keep_candidates=True))
        found += len(reference.detections)
    assert found >= 20  # people on the street: the comparison is about real detections


def test_staged_frame_to_topk_step_matches_eager_fp32(shipped_small, street_frames):
    """The step CUDA graphs capture (device letterbox, network, decode, fixed top-k), run eagerly on the CPU
    inside the predictor's fast path, batched and one frame at a time, finds what the general eager path finds."""
    eager = Predictor(shipped_small, device="cpu", backend="torch")
    staged = _staged(shipped_small)
    batched = staged.predict_batch(street_frames[:4], conf=CONF, keep_candidates=True)
    assert len(batched) == 4
    for frame, from_batch in zip(street_frames[:4], batched):
        reference = eager.predict(frame, conf=CONF, keep_candidates=True)
        assert_same_detections(reference, from_batch)
        assert_same_detections(reference, staged.predict(frame, conf=CONF, keep_candidates=True))
    paused = staged.predict(street_frames[4], conf=0.6, keep_candidates=True)
    assert len(paused.candidates) > len(paused.detections)  # the slider path gets the rows below the threshold
    with pytest.raises(ValueError, match="CUDA"):
        FastPath(staged.engine.forward, torch.device("cpu"), use_graph=True)


def _staged(model, **fast_path_options) -> Predictor:
    """A CPU predictor whose frames go through the fast path's staged step, as on CUDA (the head's branches merged)."""
    from detector.torch_engine import TorchEngine

    staged = Predictor(model, device="cpu", backend="torch", warmup=False)
    staged.engine = TorchEngine(model, torch.device("cpu"), merge_head=True)
    staged.fast_path = FastPath(staged.engine.forward, staged.engine.torch_device, use_graph=False, **fast_path_options)
    return staged


def test_threads_predicting_at_once_each_get_their_own_frames_detections(shipped_small, street_frames):
    """A frame size's staging buffer is reused by every call: three threads at once got each other's boxes
    (43 of 300 calls wrong). The app predicts from one thread; a library user's server may not."""
    from concurrent.futures import ThreadPoolExecutor

    staged = _staged(shipped_small)
    expected = [staged.predict(frame, conf=CONF).detections for frame in street_frames]
    work = [i % len(street_frames) for i in range(96)]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda i: (i, staged.predict(street_frames[i], conf=CONF).detections), work))
    wrong = [i for i, detections in got if detections != expected[i]]
    assert not wrong, f"{len(wrong)} of {len(got)} calls got another frame's detections"


def test_frames_of_one_size_planned_for_another_input_size_run_at_that_size(shipped_small, street_frames):
    """The step (and on CUDA its graph) was kept per frame size with the first letterbox plan it saw: the same
    frames planned for 416 ran at 320, while their boxes were mapped back as if at 416."""
    from detector.torch_engine import TorchEngine

    engine = TorchEngine(shipped_small, torch.device("cpu"))
    frame = street_frames[0]
    plans = [letterbox_meta(frame.shape[:2], size) for size in (320, 416)]
    shared = FastPath(engine.forward, torch.device("cpu"), use_graph=False)
    for plan in plans:
        fresh = FastPath(engine.forward, torch.device("cpu"), use_graph=False)
        (boxes, scores, _), _ = shared([frame], plan)
        (expected_boxes, expected_scores, _), _ = fresh([frame], plan)
        np.testing.assert_allclose(boxes, expected_boxes, atol=1e-3)
        np.testing.assert_allclose(scores, expected_scores, atol=1e-4)


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_compiled_step_matches_eager_fp32(shipped_small, street_frames):
    """``--compile`` hands the step to Inductor, which rewrites its arithmetic into fused kernels: that rewrite
    must find what eager fp32 finds. (On the CPU it compiles C++ instead of GPU kernels: about a minute.)"""
    eager = Predictor(shipped_small, device="cpu", backend="torch")
    compiled = _staged(shipped_small, compile=True)
    found = 0
    for frame in street_frames[::3]:
        reference = eager.predict(frame, conf=CONF, keep_candidates=True)
        assert_same_detections(reference, compiled.predict(frame, conf=CONF, keep_candidates=True))
        found += len(reference.detections)
    assert compiled.fast_path.compile_active, compiled.fast_path.compile_error
    assert found >= 5


def test_a_step_that_will_not_compile_runs_uncompiled_and_says_why(shipped_small, street_frames, monkeypatch):
    def no_triton(step, **options):
        def broken(frames):
            raise RuntimeError("Cannot find a working triton installation\nmore detail")
        return broken

    monkeypatch.setattr(torch, "compile", no_triton)
    eager = Predictor(shipped_small, device="cpu", backend="torch")
    staged = _staged(shipped_small, compile=True)
    assert_same_detections(eager.predict(street_frames[1], conf=CONF, keep_candidates=True),
                           staged.predict(street_frames[1], conf=CONF, keep_candidates=True))
    assert staged.fast_path.compile_error == "Cannot find a working triton installation"
    assert not staged.fast_path.compile_active and "compiled" not in staged.device_label


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_frame_sizes_past_the_compile_limit_run_uncompiled_and_say_so(monkeypatch):
    """torch.compile keeps a bounded number of compiled versions of the step (8 by default) and past it
    would quietly run the rest uncompiled while the label still said "compiled". (A tiny stand-in network
    and a limit of 2 keep the compiles to seconds.)"""
    def network(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = images.shape[0]
        boxes = images.new_tensor([[4.0, 4.0, 20.0, 20.0]]).expand(batch, 1, 4)
        return boxes, images.mean(dim=(2, 3)).reshape(batch, 1, 3)

    torch._dynamo.reset()  # compiles of earlier tests count against the limit
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 2)
    path = FastPath(network, torch.device("cpu"), use_graph=False, compile=True)
    eager = FastPath(network, torch.device("cpu"), use_graph=False)
    for height, width in [(48, 64), (64, 48), (40, 80)]:
        frame = np.random.default_rng(height).integers(0, 255, (height, width, 3), np.uint8)
        meta = letterbox_meta((height, width), 32)
        (_, scores, _), _ = path([frame], meta)
        (_, expected, _), _ = eager([frame], meta)
        np.testing.assert_allclose(scores, expected, atol=1e-5)  # every size is still detected
    assert path.compile_error == ("torch.compile keeps at most 2 frame sizes in one process; the sizes compiled "
                                  "so far stay compiled, new ones run uncompiled")
    assert not path.compile_active
    torch._dynamo.reset()


@needs_cuda
def test_cuda_graph_fp16_path_matches_eager_fp32(shipped_small, street_frames):
    fast = Predictor(shipped_small, device="cuda")
    assert fast.fast_path is not None and fast.fast_path.graphs_active, fast.fast_path and fast.fast_path.graph_error
    assert "CUDA graphs" in fast.device_label and "fp16" in fast.device_label
    eager = Predictor(shipped_small, device="cpu", backend="torch")
    found = 0
    for frame in street_frames:
        reference = eager.predict(frame, conf=CONF, keep_candidates=True)
        assert_same_detections(reference, fast.predict(frame, conf=CONF, keep_candidates=True))
        found += len(reference.detections)
    assert found >= 20


@needs_cuda
def test_compiled_cuda_graph_path_matches_eager_fp32(shipped_small, street_frames):
    fast = Predictor(shipped_small, device="cuda", compile=True)
    path = fast.fast_path
    assert path.compile_active and path.graphs_active, (path.compile_error, path.graph_error)
    assert "CUDA graphs, compiled" in fast.device_label
    eager = Predictor(shipped_small, device="cpu", backend="torch")
    for frame in street_frames:
        assert_same_detections(eager.predict(frame, conf=CONF, keep_candidates=True),
                               fast.predict(frame, conf=CONF, keep_candidates=True))


@needs_cuda
def test_cuda_graphs_replay_right_for_alternating_sizes_and_batches(shipped_small, street_frames):
    """Each (batch, size) has its own graph; switching between them must not mix up their buffers."""
    fast = Predictor(shipped_small, device="cuda")
    eager = Predictor(shipped_small, device="cpu", backend="torch")
    small = [cv2.resize(f, (400, 300)) for f in street_frames[:3]]
    for _ in range(2):  # the second round replays graphs captured in the first
        for frames in (street_frames[:3], small, street_frames[3:4]):
            batched = fast.predict_batch(frames, conf=CONF, keep_candidates=True)
            for frame, prediction in zip(frames, batched):
                assert_same_detections(eager.predict(frame, conf=CONF, keep_candidates=True), prediction)
    assert fast.fast_path.graphs_active
