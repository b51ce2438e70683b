"""The learning-rate schedule: linear warm-up, then cosine down to ``lr * final_lr_ratio``."""

from __future__ import annotations

import pytest

from detector.training.trainer import TrainConfig, learning_rate, warmup_steps


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
    assert curve[-1] == pytest.approx(cfg.lr * cfg.final_lr_ratio)  # the last step, not one short of it


@pytest.mark.parametrize("epochs", [1, 2, 3])
def test_a_run_no_longer_than_the_warm_up_still_ends_at_the_final_rate(epochs):
    """A short fine-tune (``--epochs 2`` with the default 3 warm-up epochs) used to end at its peak rate."""
    cfg = TrainConfig(lr=1e-3, final_lr_ratio=0.02, warmup_epochs=3)
    curve = _curve(cfg, epochs=epochs)
    assert max(curve) == pytest.approx(cfg.lr)
    assert curve[-1] == pytest.approx(cfg.lr * cfg.final_lr_ratio)  # it ended at 3.2 % (1 epoch), not 2 %


@pytest.mark.parametrize("planned, replanned", [(6, 30), (12, 5), (30, 60), (30, 4)])
def test_a_budget_run_re_planned_after_its_warm_up_goes_on_from_the_rate_it_had(planned, replanned):
    """--budget-min plans its epochs from a few timed steps and re-plans once the warm-up has run (the
    trainer re-plans after the warm-up's last whole epoch): the rate jumped there, 0.00177 -> 0.00200 at lr 2e-3
    when 6 planned epochs became 30, because the warm-up's length followed the new count."""
    cfg = TrainConfig(lr=1e-3, final_lr_ratio=0.02, warmup_epochs=3)
    per_epoch = 20
    warmup = warmup_steps(cfg, per_epoch, planned)
    replan_at = max(1, warmup // per_epoch) * per_epoch
    curve = ([learning_rate(cfg, step, per_epoch, planned) for step in range(replan_at)]
             + [learning_rate(cfg, step, per_epoch, replanned, planned_epochs=planned)
                for step in range(replan_at, replanned * per_epoch)])
    assert max(curve) == pytest.approx(cfg.lr) and curve[-1] == pytest.approx(cfg.lr * cfg.final_lr_ratio)
    # no step moves the rate more than the warm-up's rise or the cosine's steepest fall
    steepest = max(cfg.lr / warmup, cfg.lr * 3.1416 / 2 / (replanned * per_epoch - warmup))
    largest = max(abs(b - a) for a, b in zip(curve, curve[1:]))
    assert largest <= 1.01 * steepest, (largest, steepest)
