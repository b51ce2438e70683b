"""The learning-rate schedule: linear warm-up, then cosine down to ``lr * final_lr_ratio``."""

from __future__ import annotations

import pytest

from detector.training.trainer import TrainConfig, learning_rate


def _curve(cfg: TrainConfig, epochs: int, steps_per_epoch: int = 20) -> list[float]:
    return [learning_rate(cfg, step, steps_per_epoch, epochs) for step in range(epochs * steps_per_epoch)]


def test_a_long_run_warms_up_reaches_the_peak_and_ends_at_the_final_rate():
    cfg = TrainConfig(lr=1e-3, final_lr_ratio=0.02, warmup_epochs=3)
    curve = _curve(cfg, epochs=30)
    warm = curve[:60]
    assert warm == sorted(warm) and warm[0] < 0.05 * cfg.lr
    assert max(curve) == pytest.approx(cfg.lr)
    decay = curve[60:]
    assert decay == sorted(decay, reverse=True)
    assert curve[-1] == pytest.approx(cfg.lr * cfg.final_lr_ratio, rel=0.05)


@pytest.mark.parametrize("epochs", [1, 2, 3])
def test_a_run_no_longer_than_the_warm_up_still_ends_at_the_final_rate(epochs):
    """A short fine-tune (``--epochs 2`` with the default 3 warm-up epochs) used to end at its peak rate."""
    cfg = TrainConfig(lr=1e-3, final_lr_ratio=0.02, warmup_epochs=3)
    curve = _curve(cfg, epochs=epochs)
    assert max(curve) == pytest.approx(cfg.lr)
    assert curve[-1] < 0.05 * cfg.lr  # the last of 20-60 steps: within a step of the final 2 %
