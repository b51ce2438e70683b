"""Augmented batches keep every box on its object: mosaic, zoom, shift, flip, colour jitter and mixup."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from detector.datasets import load_coco
from detector.training.augment import BLANK_NOISE, MIXUP_RATIO, AugmentConfig, ImageBank, blank_some, make_batch, mix_up
from detector.training.pack import decode_dataset

from .synthetic import BGR_CHANNEL

RGB_CHANNEL = {c: 2 - ch for c, ch in BGR_CHANNEL.items()}  # the bank holds RGB


@pytest.fixture
def bank(coco_dataset):
    path, images, _ = coco_dataset
    return ImageBank(decode_dataset(load_coco(path, images), max_side=256), "cpu")


@pytest.mark.parametrize("mosaic", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boxes_frame_their_coloured_rectangle_after_augmentation(bank, mosaic, seed):
    gen = torch.Generator().manual_seed(seed)
    batch = make_batch(bank, torch.arange(len(bank)), 224, AugmentConfig(), gen, mosaic=mosaic)
    assert batch.images.shape == (len(bank), 3, 224, 224)
    assert 0.0 <= batch.images.min() and batch.images.max() <= 1.0
    checked = 0
    for image, boxes, labels in zip(batch.images, batch.boxes, batch.labels):
        dominant = image.argmax(0)  # (H, W) channel index
        saturated = (image.max(0).values - image.min(0).values) > 0.08  # grey background and padding: 0
        inside_any = torch.zeros_like(saturated)
        for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels.tolist()):
            if label < 0:
                continue
            # shrink by 1 px: bilinear sampling blends the rectangle's edge with the background
            region = (slice(int(y1) + 1, int(y2) - 1), slice(int(x1) + 1, int(x2) - 1))
            pixels = dominant[region][saturated[region]]
            assert pixels.numel() > 0.8 * dominant[region].numel(), "box does not cover its rectangle"
            assert (pixels == RGB_CHANNEL[label]).float().mean() > 0.95, "box holds another colour"
            inside_any[int(y1) : int(y2) + 1, int(x1) : int(x2) + 1] = True
            checked += 1
        # coloured pixels outside every box are objects that lost their label; only slivers
        # (crops keeping < 20% of an object, by design) may do that
        assert saturated[~inside_any].float().mean() < 0.05
    assert checked > 0


def test_plain_letterbox_maps_back_to_the_source_boxes(bank):
    gen = torch.Generator().manual_seed(0)
    batch = make_batch(bank, torch.arange(len(bank)), 320, AugmentConfig.none(), gen, mosaic=False)
    for i in range(len(bank)):
        valid = batch.labels[i] >= 0
        restored = (batch.boxes[i][valid] - batch.offset[i].repeat(2)) / batch.scale[i]
        source = bank.boxes[i][bank.labels[i] >= 0]
        torch.testing.assert_close(restored, source, atol=0.01, rtol=0)


def test_batches_are_reproducible_from_the_seed(bank):
    a = make_batch(bank, torch.arange(4), 192, AugmentConfig(), torch.Generator().manual_seed(7), mosaic=True)
    b = make_batch(bank, torch.arange(4), 192, AugmentConfig(), torch.Generator().manual_seed(7), mosaic=True)
    c = make_batch(bank, torch.arange(4), 192, AugmentConfig(), torch.Generator().manual_seed(8), mosaic=True)
    assert torch.equal(a.images, b.images) and torch.equal(a.boxes, b.boxes)
    assert not torch.equal(a.images, c.images)


def _targets(batch, i):
    return [(tuple(round(v, 3) for v in box), label)
            for box, label in zip(batch.boxes[i].tolist(), batch.labels[i].tolist()) if label >= 0]


def test_mixup_blends_each_image_with_the_next_and_keeps_both_sets_of_boxes(bank):
    gen = torch.Generator().manual_seed(0)
    plain = make_batch(bank, torch.arange(len(bank)), 224, AugmentConfig.none(), gen, mosaic=False)
    mixed = mix_up(plain, gen)
    n = len(bank)
    for i in range(n):
        j = (i + 1) % n
        kept = _targets(mixed, i)
        assert sorted(kept) == sorted(_targets(plain, i) + _targets(plain, j))
        assert (mixed.labels[i][: len(kept)] >= 0).all(), "padding must come after every real box"
        # every pixel is the same blend of the two images, with the first image's weight near 1/2
        a, b, m = plain.images[i], plain.images[j], mixed.images[i]
        differs = (a - b).abs() > 0.1
        weight = (m - b)[differs] / (a - b)[differs]
        assert MIXUP_RATIO[0] - 1e-3 <= weight.min() and weight.max() <= MIXUP_RATIO[1] + 1e-3
        assert weight.max() - weight.min() < 1e-3


def test_blank_frames_are_plain_or_softly_lit_mostly_dark_and_hold_no_boxes(bank):
    """The shipped model took a black frame for a cat, and a dark one with a soft glow (light around a lens
    cover): --blank teaches it that such pictures hold nothing."""
    plain = make_batch(bank, torch.arange(len(bank)).repeat(8), 160, AugmentConfig.none(), torch.Generator(),
                       mosaic=False)
    assert (plain.labels >= 0).any(dim=1).all()  # every image has boxes to begin with
    blanked = blank_some(plain, 0.5, torch.Generator().manual_seed(3))
    emptied = ~(blanked.labels >= 0).any(dim=1)
    assert 0.2 < emptied.float().mean() < 0.8  # about half
    glowing = 0
    for i in range(len(emptied)):
        if emptied[i]:  # one colour, or a smooth glow, with a little noise: no edges, nothing of the picture left
            image = blanked.images[i]
            detail = image - F.avg_pool2d(image[None], 9, stride=1, padding=4, count_include_pad=False)[0]
            assert detail[:, 8:-8, 8:-8].std(dim=(1, 2)).max() <= BLANK_NOISE + 0.01
            glowing += int(image.std(dim=(1, 2)).max() > BLANK_NOISE + 0.01)
            assert not torch.allclose(image, plain.images[i], atol=0.05)
        else:  # untouched, boxes and all
            assert torch.equal(blanked.images[i], plain.images[i]) and _targets(blanked, i) == _targets(plain, i)
    levels = blanked.images[emptied].mean(dim=(1, 2, 3))
    assert (levels < 0.1).float().mean() >= 0.3 and levels.max() > 0.5  # mostly dark (a fade, a covered lens)
    assert 0 < glowing < int(emptied.sum())  # some lit unevenly, some plain
    assert torch.equal(blank_some(plain, 0.0, torch.Generator()).images, plain.images)
