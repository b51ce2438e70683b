"""--pretrained-backbone: torchvision's ImageNet weights, downloaded once into the torch hub cache.

No network here, so the test puts a file where the cache expects it and checks the backbone
loads exactly those weights (and that a missing file without network is a clear failure).
"""

from __future__ import annotations

import json
from urllib.error import URLError

import pytest
import torch
from torchvision.models import mobilenetv3

from detector.errors import ModelError
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
    with pytest.raises(ModelError, match="cannot get the ImageNet weights of mobilenet_v3_large from https://.*"
                                         r"\(network is unreachable\): without a network, copy mobilenet_v3_large-"):
        build_model(ModelConfig(backbone="mobilenet_v3_large"), pretrained_backbone=True)


def test_a_damaged_kept_file_is_named_as_damaged(tmp_path, monkeypatch):
    """A download cut short stays in the cache (its hash is checked only while it downloads): it was told to
    'copy the file into' the folder that held it, or failed as an internal ValueError."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _, weights = BACKBONES["mobilenet_v3_small"]
    kept = tmp_path / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[-1]
    kept.parent.mkdir(parents=True)
    for damage in (b"PK\x03\x04 cut short", b"not a checkpoint at all"):
        kept.write_bytes(damage)
        with pytest.raises(ModelError, match=f"in {kept} are damaged .*: delete the file"):
            build_model(ModelConfig(backbone="mobilenet_v3_small"), pretrained_backbone=True)


def test_train_without_network_says_where_to_put_the_weights_before_reading_the_data(tmp_path, monkeypatch, capsys):
    """It printed "<urlopen error [Errno -2] Name or service not known>" after decoding every image."""
    from detector.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*args, **kwargs):
        raise URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr("detector.training.cli._training_sets", lambda args: pytest.fail("the data was read first"))
    code = main(["train", "--data", str(tmp_path / "any"), "--pretrained-backbone", "--epochs", "1",
                 "--device", "cpu", "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"into {tmp_path / 'torch' / 'hub' / 'checkpoints'}" in err, err
    assert "Name or service not known" in err and "Traceback" not in err


def test_a_run_started_from_imagenet_weights_resumes_without_a_network(coco_dataset, tmp_path, monkeypatch, capsys):
    """The resumed run downloaded the ImageNet weights again, only to replace them by its checkpoint's: without a
    network it failed, telling to leave out --pretrained-backbone, which the resume command never gave."""
    from detector.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _, weights = BACKBONES["mobilenet_v3_small"]
    kept = tmp_path / "torch" / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[-1]
    kept.parent.mkdir(parents=True)
    torch.save(mobilenetv3.mobilenet_v3_small(weights=None).state_dict(), kept)
    path, images, _ = coco_dataset
    run = tmp_path / "run"
    common = ["--device", "cpu", "--workers", "2"]
    assert main(["train", "--data", str(path), "--images", str(images), "--imgsz", "96", "--batch", "3", "--epochs",
                 "2", "--eval-interval", "0", "--pretrained-backbone", "--output", str(run), "--time-limit-min",
                 "0.00001", *common]) == 0  # stops after its first epoch
    kept.unlink()

    def offline(*args, **kwargs):
        raise URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    capsys.readouterr()
    assert main(["train", "--resume", str(run / "last.pt"), *common]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["epochs"] == 2
