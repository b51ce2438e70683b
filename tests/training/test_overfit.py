"""The training loop really learns: a few VOC images, memorised on the CPU in well under two minutes."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from detector.datasets import DetectionDataset, load_coco
from detector.models.presets import PRESETS
from detector.training.augment import AugmentConfig, ImageBank
from detector.training.pack import decode_dataset
from detector.training.trainer import TrainConfig, Trainer, evaluate_bank

IMAGES = 6
SIDE = 160


@pytest.mark.slow
def test_training_memorises_a_handful_of_voc_images(voc_root, tmp_path):
    dataset = load_coco(voc_root / "annotations" / "instances_train.json", voc_root / "images" / "train")
    few = DetectionDataset(dataset.records[:IMAGES], dataset.class_names)
    bank = ImageBank(decode_dataset(few, max_side=SIDE), "cpu")
    arch, _ = PRESETS["yolo-mnv3-small"]

    untrained = Trainer(TrainConfig(architecture=arch.to_dict(), imgsz=SIDE), bank, None, tmp_path / "untrained",
                        device=torch.device("cpu"), log=lambda _: None)
    before = evaluate_bank(untrained.ema.module, bank, SIDE).map50

    cfg = TrainConfig(
        architecture=arch.to_dict(), imgsz=SIDE, epochs=150, batch=IMAGES, lr=5e-3, warmup_epochs=8,
        close_mosaic=0, multiscale=0.0, eval_interval=0, augment=asdict(AugmentConfig.none()),
        ema_decay=0.99, ema_tau=50, seed=0,
    )
    # 150 steps of 6 images at 160 px: about a minute on two CPU cores (the issue allows two)
    summary = Trainer(cfg, bank, bank, tmp_path / "run", device=torch.device("cpu"), log=lambda _: None).fit()

    assert before < 0.05, "an untrained model should find nothing"
    assert summary["best_map50"] >= 0.9, f"mAP50 on the training images only reached {summary['best_map50']}"
    assert (tmp_path / "run" / "best.safetensors").is_file()
