"""--pretrained-backbone: torchvision's ImageNet weights, downloaded once into the torch hub cache.

No network here, so the test puts a file where the cache expects it and checks the backbone
loads exactly those weights (and that a missing file without network is a clear failure).
"""

from __future__ import annotations

import pytest
import torch
from torchvision.models import mobilenetv3

from detector.models import ModelConfig, build_model
from detector.models.backbone import BACKBONES


def test_backbone_loads_imagenet_weights_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _, weights = BACKBONES["mobilenet_v3_small"]
    torch.manual_seed(123)
    reference = mobilenetv3.mobilenet_v3_small(weights=None)
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / weights.url.rsplit("/", 1)[-1])

    model = build_model(ModelConfig(backbone="mobilenet_v3_small"), pretrained_backbone=True)
    first_conv = model.backbone.stages[0][0][0].weight
    torch.testing.assert_close(first_conv, reference.features[0][0].weight)
    random_init = build_model(ModelConfig(backbone="mobilenet_v3_small"))
    assert not torch.equal(random_init.backbone.stages[0][0][0].weight, reference.features[0][0].weight)


def test_missing_cache_without_network_fails_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(OSError, match="unreachable"):
        build_model(ModelConfig(backbone="mobilenet_v3_large"), pretrained_backbone=True)
