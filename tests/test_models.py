"""Network output shapes per variant: one map per stride, 4 box numbers + one logit per class."""

from __future__ import annotations

import pytest
import torch

from detector.export import DecodedNetwork
from detector.loader import load_model

VARIANTS = ["test-small", "test-large"]
INPUT_SIZES = [(32, 32), (64, 96), (256, 320), (320, 224), (96, 480)]


@pytest.fixture(scope="module", params=VARIANTS)
def variant(request, random_models_dir):
    return load_model(request.param, models_dir=random_models_dir)


@pytest.mark.parametrize("size", INPUT_SIZES)
def test_raw_outputs_per_level(variant, size):
    h, w = size
    network = variant.network.eval()
    with torch.inference_mode():
        outputs = network(torch.rand(2, 3, h, w))
    assert network.strides == (8, 16, 32)
    assert [tuple(o.shape) for o in outputs] == [(2, 4 + len(variant.class_names), h // s, w // s) for s in (8, 16, 32)]


@pytest.mark.parametrize("size", INPUT_SIZES)
def test_decoded_outputs_cover_every_cell_once(variant, size):
    h, w = size
    decoded = DecodedNetwork(variant.network.eval())
    with torch.inference_mode():
        boxes, scores = decoded(torch.rand(1, 3, h, w))
    cells = sum((h // s) * (w // s) for s in (8, 16, 32))
    assert boxes.shape == (1, cells, 4) and scores.shape == (1, cells, len(variant.class_names))
    assert float(scores.min()) >= 0.0 and float(scores.max()) <= 1.0
    assert torch.all(boxes[..., 2] >= boxes[..., 0]) and torch.all(boxes[..., 3] >= boxes[..., 1])


def test_fusing_batchnorm_keeps_the_outputs(variant):
    import copy

    reference = variant.network.eval()
    fused = copy.deepcopy(reference).fuse()
    x = torch.rand(1, 3, 128, 160)
    with torch.inference_mode():
        for a, b in zip(reference(x), fused(x)):
            assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())


def test_variants_differ_in_backbone(random_models_dir):
    small = load_model("test-small", models_dir=random_models_dir)
    large = load_model("test-large", models_dir=random_models_dir)
    count = lambda m: sum(p.numel() for p in m.network.parameters())  # noqa: E731
    assert small.network.config.backbone == "mobilenet_v3_small"
    assert large.network.config.backbone == "mobilenet_v3_large"
    assert count(large) > count(small)
