"""Box decoding, thresholds and NMS on hand-built numbers whose right answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms as torchvision_batched_nms

from detector.ops.boxes import anchor_points, decode_outputs, distances_to_boxes, pairwise_iou
from detector.ops.postprocess import apply_thresholds, batched_nms, boxes_to_frame, select_candidates
from detector.types import LetterboxMeta


def inverse_softplus(d: float) -> float:
    """The raw value the head must output for softplus to give ``d``."""
    return math.log(math.expm1(d))


def test_anchor_points_are_cell_centres_level_by_level():
    points, strides = anchor_points([(2, 3), (1, 1)], (8, 16))
    expected = [(4, 4), (12, 4), (20, 4), (4, 12), (12, 12), (20, 12), (8, 8)]
    assert points.tolist() == [list(map(float, p)) for p in expected]
    assert strides.squeeze(1).tolist() == [8.0] * 6 + [16.0]


def test_distances_become_box_sides_in_strides():
    point = torch.tensor([[4.0, 4.0]])
    stride = torch.tensor([[8.0]])
    raw = torch.tensor([[inverse_softplus(d) for d in (1.0, 2.0, 3.0, 4.0)]])  # left, top, right, bottom
    box = distances_to_boxes(raw, point, stride)
    assert box[0].tolist() == pytest.approx([4 - 8, 4 - 16, 4 + 24, 4 + 32], abs=1e-4)


def test_decode_outputs_places_a_confident_cell_where_it_is():
    num_classes = 3
    raw = torch.full((1, 4 + num_classes, 2, 4), -10.0)  # every class logit very negative
    raw[:, :4] = inverse_softplus(0.5)  # half a stride to every side
    raw[0, 4 + 2, 1, 3] = 10.0  # class 2 at row 1, column 3
    boxes, scores = decode_outputs([raw], (16,))
    assert boxes.shape == (1, 8, 4) and scores.shape == (1, 8, 3)
    best = int(scores[0, :, 2].argmax())
    assert best == 1 * 4 + 3
    cx, cy = (3 + 0.5) * 16, (1 + 0.5) * 16
    assert boxes[0, best].tolist() == pytest.approx([cx - 8, cy - 8, cx + 8, cy + 8], abs=1e-3)
    assert float(scores[0, best, 2]) > 0.99 and float(scores[0, best, :2].max()) < 1e-4


def test_select_candidates_single_and_multi_label():
    boxes = np.array([[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]], dtype=np.float32)
    scores = np.array([[0.9, 0.3], [0.005, 0.002], [0.2, 0.6]], dtype=np.float32)
    b, s, c = select_candidates(boxes, scores, score_floor=0.01)
    assert s.tolist() == pytest.approx([0.9, 0.6]) and c.tolist() == [0, 1]
    assert b.tolist() == [[0, 0, 1, 1], [2, 2, 3, 3]]
    b, s, c = select_candidates(boxes, scores, score_floor=0.01, multi_label=True)
    found = sorted((round(score, 4), cid) for score, cid in zip(s.tolist(), c.tolist()))
    assert found == [(0.2, 0), (0.3, 1), (0.6, 1), (0.9, 0)]
    b, s, c = select_candidates(boxes, scores, score_floor=0.01, multi_label=True, top_k=2)
    assert s.tolist() == pytest.approx([0.9, 0.6])
    for multi_label in (False, True):  # a score at the floor is kept, as apply_thresholds keeps one at --conf
        _, s, _ = select_candidates(boxes, scores, score_floor=0.6, multi_label=multi_label)
        assert s.tolist() == pytest.approx([0.9, 0.6])


@pytest.fixture
def overlapping_boxes():
    boxes = np.array([
        [0, 0, 10, 10],  # A: best of class 0
        [1, 1, 11, 11],  # B: class 0, IoU with A = 81 / 119 = 0.68
        [1, 1, 11, 11],  # C: same place as B, but class 1
        [50, 50, 60, 60],  # D: alone, low score
    ], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.2], dtype=np.float32)
    class_ids = np.array([0, 0, 1, 0])
    return boxes, scores, class_ids


def test_nms_is_per_class_and_drops_low_scores(overlapping_boxes):
    boxes, scores, class_ids = overlapping_boxes
    assert float(pairwise_iou(torch.from_numpy(boxes[:1]), torch.from_numpy(boxes[1:2]))) == pytest.approx(81 / 119, abs=1e-4)
    b, s, c = apply_thresholds(boxes, scores, class_ids, conf=0.25, iou=0.45)
    assert s.tolist() == pytest.approx([0.9, 0.7]) and c.tolist() == [0, 1]  # B suppressed by A, D under conf
    b, s, c = apply_thresholds(boxes, scores, class_ids, conf=0.25, iou=0.7)
    assert s.tolist() == pytest.approx([0.9, 0.8, 0.7])  # 0.68 overlap is allowed at 0.7
    b, s, c = apply_thresholds(boxes, scores, class_ids, conf=0.1, iou=0.45, class_agnostic=True)
    assert s.tolist() == pytest.approx([0.9, 0.2])  # C suppressed across classes; D now above conf
    b, s, c = apply_thresholds(boxes, scores, class_ids, conf=0.1, iou=0.45, max_det=1)
    assert s.tolist() == pytest.approx([0.9]) and b.tolist() == [[0, 0, 10, 10]]


def test_a_class_filter_keeps_those_classes_and_their_own_suppression(overlapping_boxes):
    boxes, scores, class_ids = overlapping_boxes
    b, s, c = apply_thresholds(boxes, scores, class_ids, conf=0.1, iou=0.45, classes={1})
    assert s.tolist() == pytest.approx([0.7]) and c.tolist() == [1]  # C alone: A and B are class 0
    b, s, c = apply_thresholds(boxes, scores, class_ids, conf=0.1, iou=0.45, classes=frozenset({0}))
    assert s.tolist() == pytest.approx([0.9, 0.2]) and c.tolist() == [0, 0]  # B still suppressed by A
    b, s, c = apply_thresholds(boxes, scores, class_ids, conf=0.1, iou=0.45, classes=set())
    assert b.shape == (0, 4)  # an empty filter keeps nothing; no filter is None


def test_nms_with_nothing_above_conf_returns_empty(overlapping_boxes):
    b, s, c = apply_thresholds(*overlapping_boxes, conf=0.95)
    assert b.shape == (0, 4) and s.shape == (0,) and c.shape == (0,)


def test_boxes_to_frame_undoes_scale_and_padding_and_clips():
    meta = LetterboxMeta(scale_x=0.5, scale_y=0.5, pad_x=10.0, pad_y=4.0, input_size=(64, 64), frame_size=(100, 100))
    boxes = np.array([[10.0, 4.0, 60.0, 54.0], [0.0, 0.0, 70.0, 70.0]], dtype=np.float32)
    out = boxes_to_frame(boxes, meta)
    assert out[0].tolist() == pytest.approx([0, 0, 100, 100])
    assert out[1].tolist() == pytest.approx([0, 0, 100, 100])  # (-20, -8, 120, 132) clipped to the frame
    assert boxes[0].tolist() == [10.0, 4.0, 60.0, 54.0]  # input untouched


def _torch_select(boxes: torch.Tensor, scores: torch.Tensor, score_floor: float, top_k: int, multi_label: bool):
    """The selection written in torch, as the network's own tensor library would do it: the reference."""
    if multi_label:
        box_idx, class_ids = (scores >= score_floor).nonzero(as_tuple=True)
        kept = scores[box_idx, class_ids]
    else:
        kept, class_ids = scores.max(dim=1)
        box_idx = (kept >= score_floor).nonzero(as_tuple=True)[0]
        kept, class_ids = kept[box_idx], class_ids[box_idx]
    kept, order = kept.topk(min(top_k, kept.numel()))
    return boxes[box_idx[order]], kept, class_ids[order]


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("top_k", [50, 10_000])
def test_candidate_selection_matches_torch(multi_label, top_k):
    gen = torch.Generator().manual_seed(0)
    boxes = torch.rand(2000, 4, generator=gen) * 300
    scores = torch.rand(2000, 20, generator=gen) ** 4  # mostly small, like a real head
    ref = _torch_select(boxes, scores, 0.3, top_k, multi_label)
    got = select_candidates(boxes.numpy(), scores.numpy(), score_floor=0.3, top_k=top_k, multi_label=multi_label)
    assert len(got[0]) == len(ref[0]) > 0
    assert np.array_equal(got[1], ref[1].numpy())  # best first, like torch.topk

    def rows(boxes, scores, class_ids):  # torch.topk orders tied scores (a few dozen here) arbitrarily
        return sorted(zip(scores.tolist(), class_ids.tolist(), map(tuple, boxes.tolist())))

    assert rows(*got) == rows(*ref)
    assert got[0].dtype == got[1].dtype == np.float32 and got[2].dtype == np.int64


def test_nms_keeps_exactly_what_torchvision_keeps():
    """OpenCV's batched NMS against torchvision's, on random scenes: the same boxes, in the same order,
    with crowded clusters, tied scores, several classes and every IoU threshold a slider can give."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(1, 400))
        corner = rng.uniform(0, 300, (n, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(1, 80, (n, 2))], axis=1).astype(np.float32)
        scores = rng.uniform(0, 1, n).astype(np.float32)
        if trial % 3 == 0:
            scores = scores.round(2)  # many ties
        groups = rng.integers(0, 5, n)
        iou = float(rng.uniform(0.05, 0.95))
        expected = torchvision_batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                           torch.from_numpy(groups), iou).numpy()
        assert np.array_equal(batched_nms(boxes, scores, groups, iou), expected), f"trial {trial}"
    assert batched_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), 0.5).shape == (0,)


def test_boxes_left_of_or_above_the_picture_are_kept_apart_by_class():
    """Two classes' boxes over the top-left corner (a box may start left of the input) merged into one."""
    boxes = np.array([[-300, -300, 20, 20], [-300, -300, 20, 20]], np.float32)
    kept = batched_nms(boxes, np.array([0.9, 0.8], np.float32), np.array([0, 1]), 0.5)
    assert sorted(kept.tolist()) == [0, 1]
    assert batched_nms(boxes, np.array([0.9, 0.8], np.float32), np.array([1, 1]), 0.5).tolist() == [0]
    overflowed = np.array([[-np.inf, 0, 20, 20], [0, 0, 20, 20], [100, 100, 120, 120]], np.float32)
    kept = batched_nms(overflowed, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 1, 1]), 0.5)
    assert {1, 2} <= set(kept.tolist())  # one overflowed box took every other one with it


def test_a_box_scoring_exactly_the_confidence_threshold_is_kept(overlapping_boxes):
    """The slider says "boxes scoring below this are hidden": at 0.70 a 0.70 box still shows."""
    b, s, c = apply_thresholds(*overlapping_boxes, conf=0.7, iou=0.45)
    assert s.tolist() == pytest.approx([0.9, 0.7]) and c.tolist() == [0, 1]
