"""Frames with no picture in them (a camera starting, a covered lens, a fade to black) get no boxes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detector import Predictor, load_model, load_predictor
from detector.fastpath import FastPath


@pytest.fixture(scope="module", params=["onnxruntime", "fast path"])
def shipped(request):
    """The shipped small model on the CPU's default engine, and on the step CUDA graphs capture (run eagerly)."""
    if request.param == "onnxruntime":
        return load_predictor("yolo-mnv3-small", device="cpu")
    staged = Predictor(load_model("yolo-mnv3-small"), device="cpu", backend="torch", warmup=False)
    staged.fast_path = FastPath(staged.engine.forward, staged.engine.torch_device, use_graph=False)
    return staged


def _no_picture() -> dict[str, np.ndarray]:
    noise = np.random.default_rng(0).normal(3, 3, (480, 640, 3))
    return {
        "black": np.zeros((480, 640, 3), np.uint8),
        "covered lens (dark sensor noise)": np.clip(noise, 0, 255).astype(np.uint8),
        "dark grey": np.full((720, 1280, 3), 20, np.uint8),
        "plain red": np.full((480, 640, 3), (0, 0, 200), np.uint8),
        "one pixel": np.zeros((1, 1, 3), np.uint8),
    }


@pytest.mark.parametrize("name", list(_no_picture()))
def test_a_frame_with_no_picture_in_it_gets_no_boxes(shipped, name):
    """The shipped small model found a cat filling a black frame (0.47; 0.52 in a covered webcam's noise): what
    a camera sends while it starts or while its lens is covered, and what a video fades to."""
    detections = shipped.predict(_no_picture()[name], conf=0.1).detections
    assert len(detections) == 0, [f"{label} {score:.2f}" for label, score in zip(detections.labels,
                                                                                  detections.scores)]


def test_a_picture_batched_with_black_frames_keeps_its_own_boxes(shipped, vtest_path):
    """Black frames in the same batch as a real one change nothing for it: its boxes are the ones it gets alone,
    and the black frames beside it get none."""
    capture = cv2.VideoCapture(str(vtest_path))
    for _ in range(150):  # people walking, a car
        ok, street = capture.read()
    capture.release()
    assert ok
    black = np.zeros_like(street)
    alone = shipped.predict(street).detections
    batched = [p.detections for p in shipped.predict_batch([black, street, black])]
    assert len(alone) > 0 and "person" in alone.labels
    assert np.array_equal(batched[1].class_ids, alone.class_ids)  # (a batch may round a little differently)
    assert np.allclose(batched[1].boxes, alone.boxes, atol=1e-2) and np.allclose(batched[1].scores, alone.scores,
                                                                                  atol=1e-4)
    assert len(batched[0]) == len(batched[2]) == 0
