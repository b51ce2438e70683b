"""Task-aligned assignment and the loss, on hand-built boxes."""

from __future__ import annotations

import torch

from detector.ops.boxes import anchor_points, complete_iou
from detector.training.assign import TaskAlignedAssigner
from detector.training.loss import DetectionLoss

STRIDES = (8, 16, 32)
SIZES = [(8, 8), (4, 4), (2, 2)]  # a 64 x 64 input


def _predictions(points, boxes_for_all, scores_for_all, classes=3):
    n = points.shape[0]
    pred_boxes = boxes_for_all.expand(1, n, 4).clone()
    pred_scores = torch.full((1, n, classes), 0.0)
    pred_scores[..., :] = scores_for_all
    return pred_scores, pred_boxes


def test_positives_sit_inside_their_box_and_carry_its_class():
    points, _ = anchor_points(SIZES, STRIDES)
    gt = torch.tensor([[[0.0, 0.0, 32.0, 32.0], [0.0, 0.0, 0.0, 0.0]]])  # second row is padding
    labels = torch.tensor([[2, -1]])
    # every anchor predicts exactly the ground-truth box with a middling score
    pred_scores, pred_boxes = _predictions(points, gt[0, :1], torch.tensor([0.3, 0.3, 0.3]))
    result = TaskAlignedAssigner(top_k=5)(pred_scores, pred_boxes, points, gt, labels)
    fg = result.foreground[0]
    assert 0 < int(fg.sum()) <= 5
    inside = (points[:, 0] < 32) & (points[:, 1] < 32)
    assert bool((fg <= inside).all()), "a positive anchor lies outside its box"
    assert torch.equal(result.target_boxes[0, fg], gt[0, :1].expand(int(fg.sum()), 4))
    assert bool((result.target_scores[0, fg].argmax(-1) == 2).all())
    assert float(result.target_scores[0, ~fg].sum()) == 0.0
    # the best-aligned anchor's target equals the best IoU (1.0 here)
    assert abs(float(result.target_scores[0, fg, 2].max()) - 1.0) < 1e-5


def test_an_anchor_claimed_by_two_boxes_goes_to_the_one_it_overlaps_most():
    points, _ = anchor_points(SIZES, STRIDES)
    big = [0.0, 0.0, 64.0, 64.0]
    small = [16.0, 16.0, 48.0, 48.0]
    gt = torch.tensor([[big, small]])
    labels = torch.tensor([[0, 1]])
    pred_scores, pred_boxes = _predictions(points, torch.tensor([small]), torch.tensor([0.5, 0.5, 0.5]))
    result = TaskAlignedAssigner(top_k=13)(pred_scores, pred_boxes, points, gt, labels)
    fg = result.foreground[0]
    inside_small = (points[:, 0] > 16) & (points[:, 0] < 48) & (points[:, 1] > 16) & (points[:, 1] < 48)
    # anchors inside the small box predict it perfectly: they must target it, not the big one
    contested = fg & inside_small
    assert bool(contested.any())
    assert torch.equal(result.target_boxes[0, contested], torch.tensor([small]).expand(int(contested.sum()), 4))


def test_an_anchor_two_boxes_chose_stays_a_positive_when_a_third_box_it_overlaps_more_did_not_choose_it():
    """It became background: the anchor went to the box it overlapped most of all, which had not chosen it."""
    points = torch.tensor([[50.0, 50.0], [60.0, 50.0]])
    pred_boxes = torch.tensor([[[30.0, 30.0, 70.0, 70.0], [30.0, 30.0, 72.0, 72.0]]])
    gt = torch.tensor([[[20.0, 20.0, 90.0, 90.0], [25.0, 25.0, 85.0, 85.0], [30.0, 30.0, 72.0, 72.0]]])
    labels = torch.tensor([[0, 1, 2]])
    scores = torch.tensor([[[0.9, 0.9, 0.01], [0.1, 0.1, 0.9]]])  # anchor 0 is sure of A's and B's class, not C's
    result = TaskAlignedAssigner(top_k=1)(scores, pred_boxes, points, gt, labels)
    assert result.foreground[0].tolist() == [True, True]
    # of A and B, which both chose it, anchor 0's box overlaps B (the smaller) more
    assert result.target_boxes[0, 0].tolist() == gt[0, 1].tolist() and int(result.target_scores[0, 0].argmax()) == 1
    assert result.target_boxes[0, 1].tolist() == gt[0, 2].tolist()


def test_a_box_far_larger_than_every_prediction_still_gets_its_top_k_anchors():
    """At the start of training the predicted boxes are small, so a big object's alignment
    (score^0.5 * IoU^6) is tiny at every anchor; it must still teach its best k anchors, inside it,
    with a box-loss weight above zero, not be trained as background until predictions grow."""
    points, _ = anchor_points(SIZES, STRIDES)
    gt = torch.tensor([[[1.0, 1.0, 63.0, 63.0]]])  # the whole input
    tiny = torch.tensor([[30.0, 30.0, 34.0, 34.0]])  # every anchor predicts a 4-px box: IoU 0.004
    pred_scores, pred_boxes = _predictions(points, tiny, torch.tensor([0.01, 0.01, 0.01]))
    pred_boxes = pred_boxes - tiny[0].view(1, 1, 4).mean() + points.repeat(1, 2).view(1, -1, 4)  # centred on each anchor
    result = TaskAlignedAssigner(top_k=10)(pred_scores, pred_boxes, points, gt, torch.tensor([[1]]))
    fg = result.foreground[0]
    assert int(fg.sum()) == 10
    inside = (points[:, 0] > 1) & (points[:, 0] < 63) & (points[:, 1] > 1) & (points[:, 1] < 63)
    assert bool((fg <= inside).all())
    assert float(result.target_scores[0, fg, 1].max()) > 0


def test_no_ground_truth_means_no_positives():
    points, _ = anchor_points(SIZES, STRIDES)
    pred_scores, pred_boxes = _predictions(points, torch.tensor([[0.0, 0.0, 8.0, 8.0]]), torch.tensor([0.9, 0.1, 0.1]))
    result = TaskAlignedAssigner()(pred_scores, pred_boxes, points, torch.zeros(1, 1, 4), torch.tensor([[-1]]))
    assert not bool(result.foreground.any()) and float(result.target_scores.sum()) == 0.0


def test_ciou_is_one_for_identical_boxes_and_penalises_distance():
    a = torch.tensor([[10.0, 10.0, 50.0, 40.0]])
    assert abs(float(complete_iou(a, a)) - 1.0) < 1e-5
    near = a + torch.tensor([[5.0, 0.0, 5.0, 0.0]])
    far = a + torch.tensor([[60.0, 0.0, 60.0, 0.0]])  # no overlap: IoU 0, CIoU still orders them
    assert float(complete_iou(near, a)) > 0 > float(complete_iou(far, a))


def test_loss_falls_as_the_network_output_approaches_the_target():
    torch.manual_seed(0)
    raw = [torch.zeros(1, 4 + 3, h, w, requires_grad=True) for h, w in SIZES]
    gt = torch.tensor([[[8.0, 8.0, 40.0, 40.0]]])
    labels = torch.tensor([[1]])
    loss_fn = DetectionLoss(STRIDES)
    optimizer = torch.optim.Adam(raw, lr=0.1)
    losses = []
    for _ in range(60):
        loss, parts = loss_fn(raw, gt, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        assert int(parts["positives"]) > 0
    assert losses[-1] < 0.3 * losses[0]
