"""Network output shapes per variant: one map per stride, 4 box numbers + one logit per class."""

from __future__ import annotations

import copy

import pytest
import torch

from detector.export import DecodedNetwork
from detector.loader import load_model
from detector.ops.boxes import decode_outputs

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


def _with_varied_weights(network: torch.nn.Module) -> torch.nn.Module:
    """A copy whose BatchNorm statistics and head output weights are far from their defaults (an untrained
    network's near-zero head and unit statistics would hide a fold or a merge that mixes channels up)."""
    network = copy.deepcopy(network).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
        for level in network.head.levels:
            for conv in (level.box_out, level.cls_out):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.1)
    return network


@pytest.mark.parametrize("merge_head", [False, True], ids=["folded", "head-merged"])
@pytest.mark.parametrize("size", [(128, 160), (256, 320)])
def test_fusing_for_inference_keeps_the_outputs(variant, size, merge_head):
    """``fuse`` folds BatchNorm (what the CPU's ONNX export runs) and, for a GPU, merges each head level's box
    and class branches into one (what its CUDA graph runs): both must give the trained network's numbers."""
    reference = _with_varied_weights(variant.network)
    fused = copy.deepcopy(reference).fuse(merge_head=merge_head)
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        for a, b in zip(reference(x), fused(x)):
            assert a.abs().max() > 1.0  # the varied weights make every output channel count
            torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    head_convs = [m for m in fused.head.modules() if isinstance(m, torch.nn.Conv2d)]
    depth = variant.network.config.head_depth
    if merge_head:  # per level: stem, one depthwise and one pointwise conv a block, one output conv
        assert len(head_convs) == 3 * (2 + 2 * depth)
    else:  # the same, once per branch, and an output conv each
        assert len(head_convs) == 3 * (1 + 4 * depth + 2)


def test_variants_differ_in_backbone(random_models_dir):
    small = load_model("test-small", models_dir=random_models_dir)
    large = load_model("test-large", models_dir=random_models_dir)
    count = lambda m: sum(p.numel() for p in m.network.parameters())  # noqa: E731
    assert small.network.config.backbone == "mobilenet_v3_small"
    assert large.network.config.backbone == "mobilenet_v3_large"
    assert count(large) > count(small)


def test_inputs_of_sizes_that_alternate_each_get_their_own_cell_centres(variant):
    """Running, ``DecodedNetwork`` keeps each input size's cell centres (fewer GPU kernels a frame): a size
    seen before must not lend its centres to another, or every box of the other size would be misplaced."""
    network = _with_varied_weights(variant.network).fuse(merge_head=True)
    decoded = DecodedNetwork(network)
    generator = torch.Generator().manual_seed(2)
    images = {size: torch.rand(1, 3, *size, generator=generator) for size in [(256, 320), (320, 256), (64, 96)]}
    with torch.no_grad():  # decode_outputs alone keeps nothing: the centres come from the shapes each time
        expected = {size: decode_outputs(network(x), network.strides) for size, x in images.items()}
    with torch.inference_mode():
        for size in [(256, 320), (320, 256), (256, 320), (64, 96), (320, 256)]:
            boxes, scores = decoded(images[size])
            torch.testing.assert_close(boxes, expected[size][0])
            torch.testing.assert_close(scores, expected[size][1])
