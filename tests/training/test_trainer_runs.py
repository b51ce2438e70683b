"""Whole training runs through the CLI: resumable, seeded, and the same under DDP (gloo, 2 processes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from detector.cli import main

from .synthetic import NAMES, synthetic_images, write_yolo_labels

REPO = Path(__file__).resolve().parents[2]


def _train_args(coco_dataset, output: Path, *extra: str) -> list[str]:
    path, images, _ = coco_dataset
    return ["train", "--data", str(path), "--images", str(images), "--imgsz", "96", "--batch", "3", "--epochs", "3",
            "--eval-interval", "0", "--device", "cpu", "--output", str(output), "--workers", "2", *extra]


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _refused_in_one_line(capsys, argv: list[str]) -> str:
    """Run ``argv``; it must exit 2 with exactly one line on stderr, which is returned."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("recipe", [(), ("--model", "yolo-mnv3-large", "--close-mosaic", "0", "--mixup", "0.5",
                                         "--zoom", "0.3", "1.7", "--blank", "0.3")], ids=["default", "large-mosaic-mixup"])
def test_an_interrupted_run_resumes_to_exactly_the_same_weights(coco_dataset, tmp_path, capsys, recipe):
    assert main(_train_args(coco_dataset, tmp_path / "straight", *recipe)) == 0
    straight = _last_json(capsys)
    assert straight["finished"] and straight["epochs"] == 3

    # stop after the first epoch (the time limit is checked at each epoch's end), then resume
    assert main(_train_args(coco_dataset, tmp_path / "split", *recipe, "--time-limit-min", "0.00001")) == 0
    captured = capsys.readouterr()
    first = json.loads(captured.out.strip().splitlines()[-1])
    assert not first["finished"] and first["epochs"] == 1
    assert (f"after epoch 1 of 3; no validation set, so no best.safetensors: "
            f"{tmp_path / 'split' / 'last_ema.safetensors'} holds its weights") in captured.err  # what to publish
    # the checkpoint alone defines the run: no --model, --imgsz, recipe or --output on the resuming command
    path, images, _ = coco_dataset
    resume = ["train", "--data", str(path), "--images", str(images), "--device", "cpu", "--workers", "2",
              "--resume", str(tmp_path / "split" / "last.pt")]
    assert main(resume) == 0
    resumed = _last_json(capsys)
    assert resumed["finished"] and resumed["epochs"] == 3
    assert Path(resumed["output_dir"]) == tmp_path / "split"

    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    for key in ("model", "ema"):
        for name, tensor in a[key].items():
            torch.testing.assert_close(b[key][name], tensor, rtol=1e-5, atol=1e-6, msg=f"{key}.{name} differs")
    assert resumed["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-5)


def test_the_weights_average_is_set_by_ema_decay_and_0_publishes_the_raw_weights(coco_dataset, tmp_path):
    """The moving average (decay 0.9998, warm-up over 1000 steps) is what is evaluated and published; a short
    run, or one comparing it with the raw weights, needs another: --ema-decay 0 gives the raw weights."""
    from safetensors.torch import load_file

    assert main(_train_args(coco_dataset, tmp_path / "raw", "--epochs", "1", "--ema-decay", "0")) == 0
    assert main(_train_args(coco_dataset, tmp_path / "averaged", "--epochs", "1")) == 0
    for run, same in (("raw", True), ("averaged", False)):
        model = torch.load(tmp_path / run / "last.pt", weights_only=True)["model"]
        published = load_file(tmp_path / run / "last_ema.safetensors")
        weights = [name for name in published if name.endswith(".weight") and name in model]
        assert weights and all(torch.equal(published[name], model[name]) for name in weights) == same, run


def test_a_resumed_run_trains_and_validates_on_the_images_it_started_with(coco_dataset, tmp_path, capsys,
                                                                           monkeypatch):
    """The checkpoint records the data options: resumed with --resume alone, from another folder, a run keeps its
    --max-images and its validation set. It took the resuming command's data: without --max-images and --val-data
    repeated it trained on every image, with no validation to choose best.safetensors, and said nothing."""
    path, images, items = coco_dataset
    run = tmp_path / "run"
    data = ["--max-images", "4", "--val-data", str(path), "--val-images", str(images), "--eval-interval", "1"]
    assert main(_train_args(coco_dataset, run, *data, "--time-limit-min", "0.00001")) == 0
    captured = capsys.readouterr()
    first = json.loads(captured.out.strip().splitlines()[-1])
    assert not first["finished"] and (first["train_images"], first["val_images"]) == (4, len(items)) and len(items) > 4
    assert (f"stopped at the time limit (--time-limit-min 1e-05) after epoch 1 of 3. To go on, run the same train "
            f"command with --resume {run / 'last.pt'}") in captured.err  # it said nothing but the JSON

    monkeypatch.chdir(tmp_path)  # paths given relative to the first command's folder still lead to the data
    assert main(["train", "--resume", str(run / "last.pt"), "--device", "cpu", "--workers", "2"]) == 0
    captured = capsys.readouterr()
    resumed = json.loads(captured.out.strip().splitlines()[-1])
    assert resumed["finished"] and (resumed["train_images"], resumed["val_images"]) == (4, len(items))
    assert (f"model, size, recipe and data come from {run / 'last.pt'}; from this command come only where it runs "
            "(--device, --workers, --output, --time-limit-min)\n") in captured.err
    assert (run / "best.safetensors").is_file()

    # a data option given with --resume still stands (the data moved, say), and is named
    assert main(_train_args(coco_dataset, tmp_path / "again", *data, "--time-limit-min", "0.00001")) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "again" / "last.pt"), "--max-images", "3", "--device", "cpu",
                 "--workers", "2", "--time-limit-min", "0.00001"]) == 0
    captured = capsys.readouterr()
    stopped = json.loads(captured.out.strip().splitlines()[-1])
    assert stopped["train_images"] == 3 and not stopped["finished"]
    assert "(its --max-images replaced by this command's); from this command come only where it runs " in captured.err
    assert "--time-limit-min) and the data options named" in captured.err  # it said "adds only --time-limit-min"
    # ... and is what the checkpoint records from then on: the next --resume alone goes on with 3 images, not 4
    assert main(["train", "--resume", str(tmp_path / "again" / "last.pt"), "--device", "cpu", "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["train_images"] == 3
    assert "replaced" not in captured.err


def test_a_run_resumed_with_fewer_images_keeps_its_learning_rate_where_its_epochs_are(coco_dataset, tmp_path, capsys):
    """The schedule is counted in steps: stopped after epoch 1 of 6 images (2 steps), resumed with 3 images (1 step
    an epoch), epoch 2 trained at epoch 3's learning rate (0.00091 for 0.00166 in a helper's run)."""
    def lrs(run):
        return [json.loads(line)["lr"] for line in (run / "history.jsonl").read_text().splitlines()]

    assert main(_train_args(coco_dataset, tmp_path / "three", "--max-images", "3")) == 0
    assert main(_train_args(coco_dataset, tmp_path / "six", "--max-images", "6", "--time-limit-min", "0.00001")) == 0
    assert main(["train", "--resume", str(tmp_path / "six" / "last.pt"), "--max-images", "3", "--device", "cpu",
                 "--workers", "2"]) == 0
    capsys.readouterr()
    assert lrs(tmp_path / "six")[1:] == lrs(tmp_path / "three")[1:]


def test_a_run_resumed_into_another_folder_takes_its_best_weights_and_history_along(coco_dataset, tmp_path, capsys):
    """`--resume run/last.pt --output elsewhere` left elsewhere without best.safetensors or epoch 1's history,
    while its summary pointed there."""
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    path, images, _ = coco_dataset
    assert main(_train_args(coco_dataset, run, "--val-data", str(path), "--val-images", str(images), "--eval-interval",
                            "1", "--time-limit-min", "0.00001")) == 0
    capsys.readouterr()
    resume = ["train", "--resume", str(run / "last.pt"), "--device", "cpu", "--workers", "2"]
    more = json.loads(path.read_text())  # data of 4 classes for a 3-class checkpoint: refused, and leaving nothing
    more["categories"].append({"id": 99, "name": "purple"})
    more["annotations"].append({**more["annotations"][0], "id": 999, "category_id": 99})
    (tmp_path / "more.json").write_text(json.dumps(more))
    assert main([*resume, "--output", str(tmp_path / "refused"), "--data", str(tmp_path / "more.json")]) == 2
    assert ("the training set has boxes of classes the resumed run does not name: purple (the run's classes: red, "
            "green, blue)") in capsys.readouterr().err  # it said "trained for 3 classes but the model expects 4"
    assert not (tmp_path / "refused").exists()  # it held the run's files, and the retry was "already holds a run"
    assert main([*resume, "--output", str(elsewhere)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert Path(summary["output_dir"]) == elsewhere and summary["finished"]
    assert f"resuming into {elsewhere}: last.pt, best.safetensors, history.jsonl copied from {run}" in captured.err
    assert [json.loads(line)["epoch"] for line in (elsewhere / "history.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert (elsewhere / "best.safetensors").is_file()
    assert main([*resume, "--output", str(elsewhere)]) == 2  # it holds a run now: not written over
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: {elsewhere} already holds a training run"), line


def test_a_recipe_given_with_resume_is_named_as_ignored_and_a_finished_run_says_how_to_train_on(
        coco_dataset, tmp_path, capsys, random_models_dir, monkeypatch):
    """`train --resume last.pt --epochs 5` reads as "train on to 5 epochs": it exited 0 at once, having trained
    nothing, without a word about --epochs. The options that the checkpoint overrides are named, and a run
    that had finished says what to do instead."""
    run = tmp_path / "run"
    assert main(_train_args(coco_dataset, run)) == 0
    assert _last_json(capsys)["finished"]
    assert main(["train", "--resume", str(run / "last.pt"), "--device", "cpu", "--workers", "2",
                 "--epochs", "5", "--lr", "0.01", "--imgsz", "96", "--zoom", "0.5", "1.5"]) == 0  # 96, zoom: as before
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["epochs"] == 3
    assert ("warning: ignored with --resume (the checkpoint's recipe stands): --epochs 5, --lr 0.01; to train on "
            "with another recipe, start a new run with --init-weights from this one's weights") in captured.err
    assert (f"nothing to train: the run had finished its 3 epochs; to train on from its weights, start a new run "
            f"with --init-weights {run / 'last_ema.safetensors'}") in captured.err
    assert (run / "last_ema.safetensors").is_file()

    # "run the same train command with --resume" (what a stopped run says), options and all: nothing to warn of
    again = tmp_path / "again"
    recipe = ["--init-weights", "test-small", "--warmup-epochs", "1", "--weight-decay", "0.01", "--zoom", "0.8", "1.2",
              "--mixup", "0.1", "--blank", "0.05", "--multiscale", "0.1", "--no-amp", "--ema-decay", "0.999",
              "--ema-tau", "50"]
    monkeypatch.setenv("LIVEDET_MODELS_DIR", str(random_models_dir))  # test-small: the small preset
    assert main(_train_args(coco_dataset, again, *recipe, "--epochs", "2")) == 0
    capsys.readouterr()
    assert main([*_train_args(coco_dataset, again, *recipe, "--epochs", "2"), "--resume", str(again / "last.pt")]) == 0
    assert "ignored with --resume" not in capsys.readouterr().err


def test_in_a_terminal_each_epochs_line_is_printed_above_the_progress_bar(coco_dataset, tmp_path, capsys,
                                                                           monkeypatch):
    """Watched in a terminal, each epoch's JSON line was glued onto the bar: `33%|███| 40/120 [...]{"loss": ...`."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a person watching: the bar is drawn
    assert main(_train_args(coco_dataset, tmp_path / "run")) == 0
    err = capsys.readouterr().err
    epochs = [line for line in err.replace("\r", "\n").splitlines() if '"loss"' in line]
    assert len(epochs) == 3 and all(line.startswith('{"loss"') for line in epochs), epochs
    assert "step/s" in err  # the bar itself was drawn


def test_ctrl_c_during_training_says_how_to_go_on_from_the_last_finished_epoch(coco_dataset, tmp_path, capsys,
                                                                                monkeypatch):
    """Training's only words at Ctrl-C were `error: interrupted`: after hours on a GPU, the command that goes on
    from the saved epoch was left to be guessed. It is now printed, and it works."""
    from detector.training.trainer import Trainer

    real_step = Trainer._train_step

    def interrupted_in(epoch: int):
        def step(self, *args, **kwargs):
            if self.epoch + 1 == epoch:
                raise KeyboardInterrupt
            return real_step(self, *args, **kwargs)
        return step

    monkeypatch.setattr(Trainer, "_train_step", interrupted_in(1))
    assert main(_train_args(coco_dataset, tmp_path / "early")) == 130
    assert "stopped in epoch 1 of 3: no epoch finished, so nothing was saved" in capsys.readouterr().err

    run = tmp_path / "run"
    monkeypatch.setattr(Trainer, "_train_step", interrupted_in(2))
    assert main(_train_args(coco_dataset, run)) == 130
    err = capsys.readouterr().err
    checkpoint = run / "last.pt"
    assert (f"stopped in epoch 2 of 3; epoch 1, the last finished, is in {checkpoint}. To go on from there, run the "
            f"same train command with --resume {checkpoint}; to use its weights as they are, publish {checkpoint}") in err
    assert not (run / "last_ema.safetensors").exists()  # the README said to publish it
    # Ctrl-C again after resuming with no --epochs: the plan is the checkpoint's 3 epochs, not the default
    path, images, _ = coco_dataset
    resume = ["train", "--data", str(path), "--images", str(images), "--device", "cpu", "--workers", "2",
              "--resume", str(checkpoint)]
    monkeypatch.setattr(Trainer, "_train_step", interrupted_in(3))
    assert main(resume) == 130
    assert "stopped in epoch 3 of 3; epoch 2, the last finished, is in" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(resume) == 0
    resumed = _last_json(capsys)
    assert resumed["finished"] and resumed["epochs"] == 3

    real_save = Trainer._save  # stopped while epoch 2 was being saved: it said "epoch 3 of 3" with epoch 1 saved

    def save(self, path):
        if self.epoch == 2:
            raise KeyboardInterrupt
        real_save(self, path)

    monkeypatch.setattr(Trainer, "_save", save)
    assert main(_train_args(coco_dataset, tmp_path / "saving")) == 130
    assert (f"stopped in epoch 2 of 3; epoch 1, the last finished, is in {tmp_path / 'saving' / 'last.pt'}"
            in capsys.readouterr().err)

    def timing(self, *args, **kwargs):  # Ctrl-C while --budget-min times the first steps: "epoch 1 of 0"
        if self.cfg.epochs == 0:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_step", timing)
    assert main(_train_args(coco_dataset, tmp_path / "probe", "--epochs", "0", "--budget-min", "5")) == 130
    assert ("stopped while timing the first steps for --budget-min: no epoch finished, so nothing was saved"
            in capsys.readouterr().err)


@pytest.mark.parametrize(("signal_name", "status", "spoken"), [("SIGTERM", 143, "SIGTERM"),
                                                          ("SIGHUP", 129, "SIGHUP (terminal closed)")])
def test_sigterm_or_a_closed_terminal_stops_training_like_ctrl_c(coco_dataset, tmp_path, capsys, monkeypatch,
                                                                  signal_name, status, spoken):
    """A job scheduler's or `timeout`'s SIGTERM, or a closed terminal's SIGHUP, killed training with no word on
    how to go on (in a log file, where a scheduler's run leaves its stderr). They now stop it as Ctrl-C does."""
    import signal

    from detector.training.trainer import Trainer

    number = getattr(signal, signal_name)

    def killed(*_):  # what the signal did before: the run ended there, with nothing said
        raise AssertionError(f"{signal_name} was left to kill the run")

    earlier = signal.signal(number, killed)
    real_step = Trainer._train_step

    def step(self, *args, **kwargs):
        if self.epoch + 1 == 2:
            os.kill(os.getpid(), number)
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_step", step)
    run = tmp_path / "run"
    try:
        assert main(_train_args(coco_dataset, run)) == status
    finally:
        assert signal.getsignal(number) is killed  # the handler before the run is put back
        signal.signal(number, earlier)
    err = capsys.readouterr().err
    checkpoint = run / "last.pt"
    assert f"stopped in epoch 2 of 3; epoch 1, the last finished, is in {checkpoint}." in err
    assert f"error: stopped by {spoken}" in err
    monkeypatch.undo()
    path, images, _ = coco_dataset
    assert main(["train", "--data", str(path), "--images", str(images), "--device", "cpu", "--workers", "2",
                 "--resume", str(checkpoint)]) == 0
    assert _last_json(capsys)["epochs"] == 3


def test_training_refuses_bad_arguments_with_one_line(coco_dataset, tmp_path, capsys, monkeypatch):
    from detector.training import cli as train_cli

    def decoding(*_, **__):  # minutes on a real dataset: a mistake in the command must be told before
        raise AssertionError("the images were decoded before the arguments were checked")

    monkeypatch.setattr(train_cli, "decode_dataset", decoding)
    assert "multiple of 32" in _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", "--imgsz", "100"))
    (tmp_path / "mine.yaml").write_text("name: mine\n")
    (tmp_path / "notes.txt").write_text("")
    for weights, says in ((tmp_path / "bset.safetensors", "bset.safetensors: no such file"),  # a slip of the keys
                          (tmp_path / "mine.yaml", "mine.yaml is a manifest: give the weights file it names"),
                          (tmp_path / "notes.txt", "needs a .safetensors or .pt checkpoint, got notes.txt")):
        assert says in _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", "--init-weights",
                                                                str(weights)))
    for bad in (("--mixup", "1.5"), ("--blank", "-0.1"), ("--zoom", "2", "1"), ("--zoom", "0", "1")):
        assert "--zoom MIN <= MAX" in _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", *bad))
    for bad, says in ((("--batch", "-1"), "--batch must be at least 1, or 0 for the default"),
                      (("--epochs", "-1"), "--epochs must be at least 1, or 0 with --budget-min"),
                      (("--epochs", "0"), "--epochs 0 needs --budget-min above 0"),
                      (("--lr", "-0.002"), "--lr must be above 0, got -0.002"),  # these trained on, diverging
                      (("--warmup-epochs", "-3"), "--warmup-epochs must be 0 or more, got -3"),
                      (("--multiscale", "1"), "--multiscale must be from 0 (off) to below 1, got 1"),
                      (("--ema-decay", "1"), "--ema-decay must be from 0 (no average) to below 1, got 1"),
                      (("--ema-tau", "0"), "--ema-tau must be above 0, got 0"),
                      (("--max-images", "-5"), "--max-images must be 0 (all) or more, got -5"),
                      (("--workers", "0"), "--workers must be at least 1, got 0"),
                      (("--lr", "inf"), "--lr must be a finite number, got inf"),  # trained to NaN weights
                      (("--zoom", "0.5", "inf"), "--zoom must be a finite number, got inf"),
                      # --seed $(date +%s%N): an internal error once the data was decoded
                      (("--seed", "200000000000000"), "--seed must be from 0 to 4294967295, got 200000000000000"),
                      # these were dropped without a word (the default --zoom, typed, is no conflict)
                      (("--no-augment", "--mixup", "0.2", "--zoom", "0.5", "1.5", "--close-mosaic", "3",
                        "--multiscale", "0"),  # nor what --no-augment sets anyway
                       "--no-augment trains on the images as they are, so --mixup, --close-mosaic would do nothing"),
                      # the ImageNet backbone was downloaded, then overwritten by the weights given
                      (("--pretrained-backbone", "--init-weights", "yolo-mnv3-small"),
                       "--init-weights replaces every layer but the class layers, --pretrained-backbone's")):
        assert says in _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", *bad))
    (tmp_path / "notes").write_text("")  # told before decoding: it was "File exists" once the data was ready
    assert _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "notes" / "run")) == (
        f"error: cannot write to folder {tmp_path / 'notes' / 'run'}: {tmp_path / 'notes'} is a file, not a folder")
    assert main(["train", "--data", str(tmp_path / "typo.json"), "--images", str(tmp_path), "--device", "cpu",
                 "--output", str(tmp_path / "fresh" / "run")]) == 2  # a refused run makes no folder
    assert not (tmp_path / "fresh").exists()
    capsys.readouterr()
    # a validation set of other classes, told before the images are decoded too
    path, images, _ = coco_dataset
    other = json.loads(path.read_text())
    for category in other["categories"][1:]:
        category["name"] = "other-" + category["name"]
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(_train_args(coco_dataset, tmp_path / "x", "--val-data", str(tmp_path / "other.json"),
                            "--val-images", str(images))) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: the validation set has boxes of classes the training set does not name: other-red, other-green, other-blue "
        "(training classes: red, green, blue)")
    monkeypatch.undo()
    not_a_checkpoint = tmp_path / "best.safetensors"
    not_a_checkpoint.write_bytes(b"\x00" * 64)
    line = _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", "--resume", str(not_a_checkpoint)))
    assert line == (f"error: cannot resume from {not_a_checkpoint}: not a training checkpoint (resume from the "
                    "last.pt in a run folder)"), line  # was torch's "UnpicklingError: …" or "RuntimeError: mmap …"
    pack = tmp_path / "pack.npz"  # a zip too: it was "RuntimeError: [enforce fail at inline_container.cc:180] …"
    np.savez(pack, blob=np.zeros(3))
    line = _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", "--resume", str(pack)))
    assert line.endswith(f"{pack}: not a training checkpoint (resume from the last.pt in a run folder)"), line
    (tmp_path / "folder").mkdir()  # the run folder: it was "file not found"
    line = _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", "--resume", str(tmp_path / "folder")))
    assert line.endswith(f"{tmp_path / 'folder'}: it is a folder; it holds no last.pt"), line
    newer = tmp_path / "newer" / "last.pt"
    newer.parent.mkdir()
    torch.save({"version": 99, "config": "{}"}, newer)
    line = _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", "--resume", str(newer)))
    assert line.endswith("it was written by a newer LiveDet (checkpoint version 99, this one reads up to 2); "
                         "update LiveDet to resume it"), line
    path, images, _ = coco_dataset
    unlabelled = json.loads(path.read_text()) | {"annotations": []}
    (tmp_path / "unlabelled.json").write_text(json.dumps(unlabelled))
    line = _refused_in_one_line(capsys, ["train", "--data", str(tmp_path / "unlabelled.json"), "--images", str(images),
                                         "--device", "cpu", "--output", str(tmp_path / "x")])
    assert f"its {len(unlabelled['images'])} training images hold no boxes, so there is nothing to learn" in line, line
    line = _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", "--val-data", str(path)))
    assert line == f"error: {path} is a COCO file: give its images folder with --val-images DIR", line  # "--images"
    line = _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", "--split", "val"))
    assert line == f"error: --split picks a split of a dataset folder or data.yaml; {path.name} is one split already"
    folder = tmp_path / "yolo"
    (folder / "images").mkdir(parents=True)
    line = _refused_in_one_line(capsys, ["train", "--data", str(folder), "--images", "/nonexistent", "--device", "cpu",
                                         "--output", str(tmp_path / "x")])  # trained on the folder's own, unsaid
    assert line == "error: --images goes with a COCO .json: yolo holds its own images (leave --images out)", line
    line = _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", "--val-data", str(tmp_path / "v.npz")))
    assert line == f"error: dataset pack not found: {tmp_path / 'v.npz'}", line  # "not a LiveDet pack ([Errno 2] …)"
    missing = tmp_path / "gone" / "last.pt"
    line = _refused_in_one_line(capsys, _train_args(coco_dataset, tmp_path / "x", "--resume", str(missing)))
    assert line == f"error: cannot resume from {missing}: file not found", line
    monkeypatch.chdir(tmp_path)  # without --output: a checkout holding runs/train from a real run said "writing to -2"
    assert main(["train", "--data", str(tmp_path / "missing.json"), "--images", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    assert _refused_in_one_line(capsys, ["train", "--data", ""]).startswith(  # was ".: not a COCO .json, …"
        "error: the dataset path is empty: give a COCO .json")


def test_without_batch_a_cpu_run_takes_a_batch_a_laptop_can_hold_and_a_gpu_the_recipes(coco_dataset, tmp_path,
                                                                                        capsys):
    """64 images per step would need about 20 GB on a CPU (yolo-mnv3-large@416): out of memory, no message."""
    from detector.training.cli import CPU_BATCH, default_batch

    path, images, _ = coco_dataset
    assert main(["train", "--data", str(path), "--images", str(images), "--imgsz", "96", "--epochs", "1",
                 "--eval-interval", "0", "--device", "cpu", "--output", str(tmp_path / "run"), "--workers", "2"]) == 0
    summary = _last_json(capsys)
    assert summary["finished"] and summary["batch"] == CPU_BATCH == 16
    saved = json.loads(torch.load(tmp_path / "run" / "last.pt", weights_only=True)["config"])
    assert saved["batch"] == 16  # a resumed run keeps it
    assert default_batch(torch.device("cuda")) == 64  # the shipped models' recipe


def test_a_time_budget_shorter_than_an_epoch_runs_one_and_says_so(coco_dataset, tmp_path, capsys):
    """--epochs 0 --budget-min M (the model card's command) times a few steps, then plans the epochs; a budget
    that holds none still trains one, and the log says why it ran longer than asked (it said '-> 0 epochs')."""
    assert main([*_train_args(coco_dataset, tmp_path / "run"), "--epochs", "0", "--budget-min", "0.0001"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["finished"] and summary["epochs"] == summary["epochs_planned"] == 1
    probe = [line for line in captured.err.splitlines() if line.startswith("speed probe:")]
    assert len(probe) == 1 and probe[0].endswith("-> 1 epoch (the budget is shorter than one epoch: one is run)")


@pytest.mark.parametrize("interrupted, misjudged_by", [(False, 4), (True, 4), (False, 0.25)],
                         ids=["straight", "resumed-before-the-re-plan", "probe-too-slow"])
def test_a_time_budget_is_re_planned_from_the_epochs_measured_speed(coco_dataset, tmp_path, capsys, monkeypatch,
                                                                    interrupted, misjudged_by):
    """A dozen probe steps misjudge an epoch (on an H100: 80 ms a step probed, 61-70 ms run, so a 4-minute
    budget trained 3 minutes). On a clock where every step takes 0.5 s, the probe is made to think
    epochs 4x faster than they are: the run must still fill its budget exactly, re-planned after the
    warm-up, instead of running 4x as long; also when it was stopped after its first epoch and resumed
    (GPU time comes in short windows), which used to forget the re-plan and run 4x as many epochs."""
    from detector.training import trainer as trainer_module

    clock = [1000.0]
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    real_step, real_probe = trainer_module.Trainer._train_step, trainer_module.Trainer._measure_epochs

    def step_of_half_a_second(self, *args, **kwargs):
        clock[0] += 0.5
        return real_step(self, *args, **kwargs)

    def misjudged(self, steps_per_epoch):
        epochs = real_probe(self, steps_per_epoch)
        self._probe_epoch_s = getattr(self, "_probe_epoch_s", 0.0) / misjudged_by
        return int(epochs * misjudged_by)

    monkeypatch.setattr(trainer_module.Trainer, "_train_step", step_of_half_a_second)
    monkeypatch.setattr(trainer_module.Trainer, "_measure_epochs", misjudged)
    # 6 images in batches of 3: 2 steps, 1 s an epoch; 0.25 minutes hold 15 epochs
    budget_run = [*_train_args(coco_dataset, tmp_path / "run"), "--epochs", "0", "--budget-min", "0.25",
                  "--warmup-epochs", "2", "--close-mosaic", "2"]
    if interrupted:
        assert main([*budget_run, "--time-limit-min", "0.00001"]) == 0  # stops after epoch 1
        assert _last_json(capsys)["epochs"] == 1
        path, images, _ = coco_dataset
        budget_run = ["train", "--data", str(path), "--images", str(images), "--device", "cpu", "--workers", "2",
                      "--resume", str(tmp_path / "run" / "last.pt")]
    assert main(budget_run) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    replanned = [line for line in captured.err.splitlines() if line.startswith("re-planned")]
    # after the warm-up, before the cosine starts: the 3 epochs first planned held one epoch of it (a third of the
    # run), which the 15 re-planned keep (the rate jumped when the warm-up grew to 2 epochs of the 15)
    warmed_up = "1 epoch" if misjudged_by < 1 else "2 epochs"
    assert len(replanned) == 1 and replanned[0].startswith(f"re-planned after {warmed_up}: 1.0 s/epoch measured")
    assert replanned[0].endswith(f"-> 15 epochs instead of {int(15 * misjudged_by)}")
    assert summary["finished"] and summary["epochs"] == summary["epochs_planned"] == 15
    assert summary["elapsed_min"] == 0.25  # it was 1.0: four times the budget
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == list(range(1, 16))
    # --close-mosaic counts from the new end; a probe's 3 epochs turned it off for epoch 2, before the re-plan
    assert [h["mosaic"] for h in history] == [True] * 13 + [False, False]


def test_a_disk_that_fills_up_mid_run_ends_it_with_how_to_go_on(coco_dataset, tmp_path, capsys, monkeypatch):
    """torch.save on a full disk said 'internal error RuntimeError: … unexpected pos 2010432 vs 2010320'."""
    import errno
    from contextlib import contextmanager

    from detector.training import trainer as trainer_module

    real = trainer_module.written_whole
    saves = []

    @contextmanager
    def filling_up(path):
        saves.append(path)
        with real(path) as part:
            yield part
            if len(saves) == 2:  # the second epoch's checkpoint meets a full disk
                part.write_bytes(b"half")
                raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(trainer_module, "written_whole", filling_up)
    run = tmp_path / "run"
    assert main(_train_args(coco_dataset, run)) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (f"error: cannot save the run in {run}: No space left on device; {run / 'last.pt'} holds the last "
                    f"epoch saved: make room, then go on with --resume {run / 'last.pt'}"), line
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 1


def test_a_stderr_that_cannot_be_written_does_not_stop_training(coco_dataset, tmp_path, capsys, monkeypatch):
    """`train … 2>log` with the log's disk full ended with 'No space left on device' (exit 2): the run's progress
    lines are for people, and the epochs went unsaved."""
    import errno

    class FullDisk:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def isatty(self):
            return False

    monkeypatch.setattr(sys, "stderr", FullDisk())
    assert main(_train_args(coco_dataset, tmp_path / "run")) == 0
    summary = _last_json(capsys)
    assert summary["finished"] and summary["epochs"] == 3 and (tmp_path / "run" / "last.pt").is_file()


def test_the_smallest_input_size_trains(coco_dataset, tmp_path, capsys):
    """--imgsz 32 (which every command accepts) was 'internal error IndexError: Cannot choose from an empty
    sequence': multi-scale's sizes started at 64, above 32 * 1.25."""
    assert main([*_train_args(coco_dataset, tmp_path / "run"), "--imgsz", "32", "--epochs", "1"]) == 0
    summary = _last_json(capsys)
    assert summary["finished"] and summary["epochs"] == 1
    assert (tmp_path / "run" / "last_ema.safetensors").is_file()


def _epoch_losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "history.jsonl").read_text().splitlines()]


def _shapes_coco(tmp_path: Path) -> list[str]:
    """Twelve synthetic images as a COCO file: the data arguments of a `train` command."""
    images = synthetic_images(tmp_path / "images", count=12, seed=3)
    categories = [{"id": i + 1, "name": n, "supercategory": "shapes"} for i, n in enumerate(NAMES)]
    records, annotations = [], []
    for image_id, (name, w, h, objects) in enumerate(images):
        records.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for c, (x1, y1, x2, y2) in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": c + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"images": records, "annotations": annotations, "categories": categories}))
    return ["--data", str(data), "--images", str(tmp_path / "images")]


def _torchrun(*args: str, port: int) -> subprocess.CompletedProcess:
    """``python -m detector ARGS`` in 2 gloo processes (one without ``port``)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    launcher = ["-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port)] if port else []
    done = subprocess.run([sys.executable, *launcher, "-m", "detector", *args], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.slow
def test_two_gloo_processes_follow_the_same_loss_curve_as_one(tmp_path):
    common = ["train", *_shapes_coco(tmp_path), "--imgsz", "96", "--batch", "4", "--epochs", "8", "--lr", "3e-3",
              "--warmup-epochs", "1", "--no-augment", "--eval-interval", "0", "--device", "cpu", "--workers", "1"]
    _torchrun(*common, "--output", str(tmp_path / "one"), port=0)
    ddp = _torchrun(*common, "--output", str(tmp_path / "two"), port=29533)
    assert len(ddp.stdout.strip().splitlines()) == 1  # one summary, rank 0's: each process printed its own
    summary = json.loads(ddp.stdout)
    assert summary["world_size"] == 2

    one, two = _epoch_losses(tmp_path / "one"), _epoch_losses(tmp_path / "two")
    assert len(one) == len(two) == 8
    # same shape: both fall steadily, by a similar factor, and stay close epoch by epoch
    assert one[-1] < 0.75 * one[0] and two[-1] < 0.75 * two[0]
    assert two[-1] / two[0] == pytest.approx(one[-1] / one[0], rel=0.35)
    for a, b in zip(one, two):
        assert b == pytest.approx(a, rel=0.25)


@pytest.mark.slow
def test_an_interrupted_two_process_run_resumes_to_the_same_weights(tmp_path):
    """Every process drew rank 0's augmentation after a resume (only rank 0 saves last.pt), so the resumed run
    ended 0.003 away from the uninterrupted one; a time limit now also stops every process at the same epoch."""
    data = [*_shapes_coco(tmp_path), "--device", "cpu", "--workers", "1"]
    common = ["train", *data, "--imgsz", "96", "--batch", "4", "--epochs", "2", "--mixup", "0.5", "--eval-interval", "0"]
    _torchrun(*common, "--output", str(tmp_path / "straight"), port=29534)
    first = _torchrun(*common, "--output", str(tmp_path / "split"), "--time-limit-min", "0.00001", port=29535)
    assert json.loads(first.stdout.strip().splitlines()[-1])["epochs"] == 1
    resumed = _torchrun("train", *data, "--resume", str(tmp_path / "split" / "last.pt"), port=29536)
    assert resumed.stderr.count("resumed ") == 1 and len(resumed.stdout.strip().splitlines()) == 1  # said once
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    assert (a["epoch"], b["epoch"]) == (2, 2)
    for key in ("model", "ema"):
        for name, tensor in a[key].items():
            torch.testing.assert_close(b[key][name], tensor, rtol=1e-5, atol=1e-6, msg=f"{key}.{name} differs")


def test_a_new_run_never_writes_over_an_earlier_one(coco_dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, images, _ = coco_dataset
    plain = ["train", "--data", str(path), "--images", str(images), "--imgsz", "96", "--batch", "3", "--epochs", "1",
             "--eval-interval", "0", "--device", "cpu", "--workers", "2"]

    def files(folder: str) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in (tmp_path / folder).iterdir()}

    assert main(plain) == 0
    first = _last_json(capsys)["output_dir"]
    assert Path(first) == Path("runs/train/yolo-mnv3-small")
    kept = files(first)
    assert "last.pt" in kept and "history.jsonl" in kept

    assert main([*plain, "--seed", "1"]) == 0  # the same command again: a new folder beside the first
    out = capsys.readouterr()
    assert Path(json.loads(out.out.strip().splitlines()[-1])["output_dir"]) == Path("runs/train/yolo-mnv3-small-2")
    assert "writing to runs/train/yolo-mnv3-small-2" in out.err
    assert files(first) == kept  # the first run's weights and history are untouched

    assert main([*plain, "--output", first]) == 2  # naming the earlier run's folder is refused ...
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a training run" in err[0] and f"--resume {first}/last.pt" in err[0], err
    assert files(first) == kept
    assert main([*plain, "--output", f"{first}/new/.."]) == 2  # ... however it is spelt: the folder "new" made,
    assert "already holds a training run" in capsys.readouterr().err  # ".." was the earlier run, overwritten
    assert files(first) == kept
    (Path(first) / "last.pt").unlink()  # a run whose first save failed (a full disk) left no epoch to resume:
    assert main([*plain, "--output", first]) == 2  # it said "continue it with --resume …/last.pt", not there
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("it holds no last.pt to resume from, or choose another --output"), err


def test_a_yolo_dataset_validates_on_its_own_val_split_and_a_shared_image_is_called_out(tmp_path, capsys):
    root = tmp_path / "yolo"
    for split, count, seed in (("train", 4, 0), ("val", 2, 1)):
        write_yolo_labels(root / "labels" / split, synthetic_images(root / "images" / split, count=count, seed=seed))
    (root / "data.yaml").write_text(f"names: {list(NAMES)}\n")
    common = ["train", "--data", str(root), "--imgsz", "96", "--batch", "2", "--epochs", "1", "--eval-interval", "1",
              "--device", "cpu", "--workers", "2", "--no-augment"]
    assert main([*common, "--output", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["train_images"] == 4 and summary["val_images"] == 2
    assert f"validating on the 'val' split of {root} (2 images)" in err and "warning" not in err

    assert main([*common, "--output", str(tmp_path / "b"), "--val-data", str(root), "--val-split", "train"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["val_images"] == 4
    assert "warning: 4 of the 4 validation images are training images too" in err

    for folder in ("images", "labels"):  # as Roboflow and Ultralytics name it: it trained without validation
        (root / folder / "val").rename(root / folder / "valid")
    assert main([*common, "--output", str(tmp_path / "c")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["val_images"] == 2
    assert f"validating on the 'valid' split of {root} (2 images)" in err


def test_a_validation_set_naming_the_classes_in_another_order_scores_as_the_same_set(coco_dataset, tmp_path, capsys):
    """The same data in VOC (classes alphabetical, only those its XML uses) and YOLO (as data.yaml lists them) has
    its classes in two orders: validating one on the other was refused ("validation classes differ"). They are
    matched by name, case aside, so the score is that of the same set in the training order."""
    path, images, _ = coco_dataset
    data = json.loads(path.read_text())
    placeholder, *classes = data["categories"]  # the exporter's empty "shapes" stays as it was
    new_id = {c["id"]: 100 - c["id"] for c in classes}  # reversed order, other ids, other case
    data["categories"] = [placeholder, *({**c, "id": new_id[c["id"]], "name": c["name"].upper()} for c in classes)]
    data["annotations"] = [{**a, "category_id": new_id[a["category_id"]]} for a in data["annotations"]]
    (tmp_path / "reordered.json").write_text(json.dumps(data))
    curves = []
    for val in (path, tmp_path / "reordered.json"):
        argv = _train_args(coco_dataset, tmp_path / val.stem, "--epochs", "2", "--eval-interval", "1",
                           "--val-data", str(val), "--val-images", str(images))
        assert main(argv) == 0
        captured = capsys.readouterr()
        history = (tmp_path / val.stem / "history.jsonl").read_text().splitlines()
        curves.append([(line["map50"], line["map50_95"]) for line in map(json.loads, history)])
    assert "validation classes matched to the training classes by name (the validation set names 3 of the 3)" in (
        captured.err)
    assert len(curves[0]) == 2 and curves[0][-1][0] > 0 and curves[1] == curves[0], curves


def test_fine_tuning_starts_from_a_model_of_other_classes_with_all_but_its_class_layers(coco_dataset, tmp_path, capsys,
                                                                                      random_models_dir, monkeypatch):
    """The shipped VOC weights as the start for a dataset of one's own: what carries over, and what is said."""
    from detector.checkpoint import read_weights, transfer_state
    from detector.models import build_model
    from detector.models.presets import PRESETS

    monkeypatch.setenv("LIVEDET_MODELS_DIR", str(random_models_dir))  # test-small: the small preset, 20 classes
    state, _ = read_weights(random_models_dir / "test-small.safetensors")
    model = build_model(replace(PRESETS["yolo-mnv3-small"][0], num_classes=len(NAMES)))
    fresh_class_layer = model.head.levels[0].cls_out.weight.detach().clone()
    note = transfer_state(model, state, "test-small.safetensors")
    assert "it knew 20 classes and this run has 3" in note
    own = model.state_dict()
    carried = [k for k in own if ".cls_out." not in k]
    assert all(torch.equal(own[k], state[k].to(own[k].dtype)) for k in carried)
    assert torch.equal(model.head.levels[0].cls_out.weight, fresh_class_layer)

    assert main(_train_args(coco_dataset, tmp_path / "tuned", "--init-weights", "test-small", "--epochs", "1")) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["finished"]  # by name, as the shipped ones are named
    boxes = Counter(NAMES[c] for *_, objects in coco_dataset[2] for c, _ in objects)  # said before training starts
    assert f"3 classes, with their training boxes: {', '.join(f'{n} {boxes[n]}' for n in NAMES)}" in captured.err
    assert "it knew none of this run's 3 classes by name, so the class layers start fresh" in captured.err
    dotted = tmp_path / "zoo"  # a model published as "shapes.v2" (publish allows dots) is a name, not a file
    dotted.mkdir()
    manifest = yaml.safe_load((random_models_dir / "test-small.yaml").read_text())
    shutil.copy(random_models_dir / manifest["weights"]["file"], dotted / manifest["weights"]["file"])
    (dotted / "shapes.v2.yaml").write_text(yaml.safe_dump({**manifest, "name": "shapes.v2"}))
    monkeypatch.setenv("LIVEDET_MODELS_DIR", str(dotted))
    assert main(_train_args(coco_dataset, tmp_path / "dotted", "--init-weights", "shapes.v2", "--epochs", "1")) == 0
    capsys.readouterr()
    monkeypatch.setenv("LIVEDET_MODELS_DIR", str(random_models_dir))
    for weights, says in (("test-large", "add --model yolo-mnv3-large"), ("model.onnx", "holds no trainable weights"),
                          ("no-such-model", "no such file, nor a model with weights")):
        argv = _train_args(coco_dataset, tmp_path / "x", "--init-weights", weights)
        assert says in _refused_in_one_line(capsys, argv)


def test_fine_tuning_gives_each_class_the_detector_it_was_trained_with_by_name_not_by_position():
    """The shipped VOC weights, fine-tuned on a dataset that lists the same classes in another order (or some of
    them, or new ones): "person" must start as the shipped person detector, not as whichever class held its row
    (it took a reversed VOC list's person for a bottle detector: mAP50 0.01 after an epoch instead of 0.53)."""
    from detector.checkpoint import read_weights, transfer_state
    from detector.errors import ModelError
    from detector.models import build_model
    from detector.zoo import find_model

    shipped = find_model("yolo-mnv3-small")
    state, meta = read_weights(shipped.weights_path)
    reference = build_model(meta.config).eval()
    reference.load_state_dict({k: v.float() for k, v in state.items()})
    images = torch.rand(1, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = [level[:, 4:] for level in reference(images)]  # class logits, in the shipped order

    def class_logits(classes):
        model = build_model(replace(meta.config, num_classes=len(classes)))
        note = transfer_state(model, state, "yolo-mnv3-small.safetensors", known_classes=meta.class_names,
                              classes=classes)
        with torch.no_grad():
            return [level[:, 4:] for level in model.eval()(images)], note

    reversed_names = list(reversed(meta.class_names))
    got, note = class_logits(reversed_names)
    for mine, name in enumerate(reversed_names):
        theirs = meta.class_names.index(name)
        assert all(torch.allclose(g[:, mine], e[:, theirs], atol=1e-4) for g, e in zip(got, expected)), name
    assert note.endswith("all 426 tensors, the class layers' rows matched to this run's 20 classes by name")

    with pytest.raises(ModelError, match="names 21 classes but its class layers have 20 rows"):  # an IndexError
        transfer_state(build_model(meta.config), state, "odd.safetensors", known_classes=[*meta.class_names, "x"],
                       classes=reversed_names)

    got, note = class_logits(["Person", "car", "zebra"])  # its own spelling, a known class, a new one
    person, car = meta.class_names.index("person"), meta.class_names.index("car")
    assert all(torch.allclose(g[:, 0], e[:, person], atol=1e-4) for g, e in zip(got, expected))
    assert all(torch.allclose(g[:, 1], e[:, car], atol=1e-4) for g, e in zip(got, expected))
    assert not any(torch.allclose(g[:, 2], e[:, c], atol=1e-2) for g, e in zip(got, expected) for c in range(20))
    assert note.endswith("2 of this run's 3 classes that it knew by name; new, so starting fresh: zebra")


@pytest.mark.parametrize(("imgsz", "multiscale", "sizes"), [(320, 0.25, [256, 288, 320, 352, 384]),
                                                            (320, 0.7, list(range(96, 545, 32))),
                                                            (416, 0.25, [320, 352, 384, 416, 448, 480, 512])])
def test_multi_scale_steps_stay_within_the_stated_range(imgsz, multiscale, sizes):
    """320 +- 25 % drew 224-384 (the lower bound rounded down); 320 +- 70 % then started at 128, not 96 (ceil of
    96.00000000000001)."""
    from detector.training.trainer import Trainer

    steps = Trainer._step_sizes(SimpleNamespace(cfg=SimpleNamespace(imgsz=imgsz, multiscale=multiscale)))
    assert steps == sizes


def test_a_no_augment_run_saved_before_blank_frames_existed_resumes_without_a_false_warning(coco_dataset, tmp_path,
                                                                                          capsys):
    """A checkpoint written before --blank had no 'blank' setting: --no-augment, typed again to resume it,
    was said to be "ignored with --resume", as if the run had been augmented."""
    run = tmp_path / "run"
    assert main([*_train_args(coco_dataset, run, "--no-augment", "--epochs", "2"), "--time-limit-min", "0.00001"]) == 0
    capsys.readouterr()
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    config = json.loads(checkpoint["config"])
    del config["augment"]["blank"]  # as the older version saved it
    checkpoint["config"] = json.dumps(config)
    torch.save(checkpoint, run / "last.pt")
    assert main([*_train_args(coco_dataset, run, "--no-augment", "--epochs", "2"), "--resume", str(run / "last.pt")]) == 0
    assert "ignored with --resume" not in capsys.readouterr().err


def test_a_run_resumed_on_its_classes_in_another_order_learns_them_as_it_did(coco_dataset, tmp_path, capsys):
    """Resumed with --data whose format numbers the same classes otherwise (VOC alphabetically, YOLO as its
    data.yaml lists them), the run learnt each class on another's output row: val mAP50 0.36 -> 0.14."""
    path, images, _ = coco_dataset
    data = json.loads(path.read_text())
    order = {"red": 3, "green": 2, "blue": 1}  # the same classes, numbered backwards
    old_to_new = {c["id"]: order[c["name"]] for c in data["categories"] if c["name"] in order}
    data["categories"] = [c for c in data["categories"] if c["name"] not in order] + sorted(
        ({"id": order[c["name"]], "name": c["name"], "supercategory": "shapes"} for c in data["categories"]
         if c["name"] in order), key=lambda c: c["id"])
    for ann in data["annotations"]:
        ann["category_id"] = old_to_new[ann["category_id"]]
    reordered = tmp_path / "reordered.json"
    reordered.write_text(json.dumps(data))
    for run, given in (("as-it-was", path), ("reordered", reordered)):
        assert main(_train_args(coco_dataset, tmp_path / run, "--time-limit-min", "0.00001")) == 0
        capsys.readouterr()
        assert main(["train", "--data", str(given), "--images", str(images), "--device", "cpu", "--workers", "2",
                     "--resume", str(tmp_path / run / "last.pt")]) == 0
    err = capsys.readouterr().err
    assert "the training set's classes matched to the resumed run's by name (the training set names 3 of the 3)" in err
    a = torch.load(tmp_path / "as-it-was" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "reordered" / "last.pt", weights_only=True)
    for name, tensor in a["model"].items():  # the same labels reached the same rows: the same run
        torch.testing.assert_close(b["model"][name], tensor, rtol=1e-5, atol=1e-6, msg=f"model.{name} differs")
    assert json.loads(b["meta"])["class_names"] == ["red", "green", "blue"]


def test_a_batch_larger_than_the_data_counts_the_images_it_took(coco_dataset, tmp_path, capsys, monkeypatch):
    """--batch 64 (the GPU default) on 6 images reported 64 images a step: images_per_s 10x too high."""
    from detector.training import trainer as trainer_module

    clock = [1000.0]
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    real_step = trainer_module.Trainer._train_step

    def step_of_half_a_second(self, *args, **kwargs):
        clock[0] += 0.5
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(trainer_module.Trainer, "_train_step", step_of_half_a_second)
    args = [a if a != "3" else "1" for a in _train_args(coco_dataset, tmp_path / "run")]  # --epochs 1 (and batch)
    assert main([*args, "--batch", "64"]) == 0
    assert "note: --batch 64 is more than the 6 training images: each step takes all of them" in capsys.readouterr().err
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["images_per_s"] for h in history] == [12.0]  # 6 images in one half-second step

    path, images, _ = coco_dataset  # a resumed run keeps its checkpoint's batch: no note of this command's default
    assert main([*_train_args(coco_dataset, tmp_path / "small"), "--time-limit-min", "0.00001"]) == 0
    capsys.readouterr()
    assert main(["train", "--data", str(path), "--images", str(images), "--device", "cpu", "--workers", "2",
                 "--resume", str(tmp_path / "small" / "last.pt")]) == 0
    assert "note: --batch" not in capsys.readouterr().err


def test_a_pack_smaller_than_the_training_size_is_said_to_be_enlarged(coco_dataset, tmp_path, capsys):
    """A pack's images were shrunk when it was made: a 384 px pack trained at 640 was enlarged, blurred, without
    a word, and --cache-side (which sizes a decoded dataset) silently did nothing to it."""
    from detector.datasets import load_dataset
    from detector.training.pack import pack_dataset

    path, images, _ = coco_dataset
    pack = pack_dataset(load_dataset(path, images), tmp_path / "small.npz", max_side=64, quality=90)

    def stopped_at_once(*extra: str) -> str:
        main(["train", "--data", str(pack), "--val-data", str(pack), "--batch", "3", "--epochs", "1", "--device", "cpu",
              "--output", str(tmp_path / "run"), "--workers", "1", "--time-limit-min", "0.00001", *extra])
        return capsys.readouterr().err

    err = stopped_at_once("--imgsz", "96", "--cache-side", "128")
    for which in ("training", "validation"):
        assert (f"warning: the {which} pack's images are at most 64 px, less than --imgsz 96: they are enlarged, "
                "blurred, to fit; make the pack again with --max-side 96 or more") in err, err
        assert (f"note: --cache-side 128 does not change a .npz pack: the {which} pack's images were shrunk to "
                "64 px when it was made") in err, err
    assert "pack's images" not in stopped_at_once("--imgsz", "64")  # a pack at the training size is as it should be


def test_a_run_whose_loss_turns_to_nan_stops_and_says_so(coco_dataset, tmp_path, capsys):
    """--lr 1e30 trained on to "finished": true, "final_loss": NaN (a JSON line strict readers refuse), and weights
    that every later command refused as "the training that wrote it diverged"."""
    assert main(_train_args(coco_dataset, tmp_path / "run", "--lr", "1e30", "--warmup-epochs", "0")) == 2
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-1].startswith("error: training diverged: the loss was nan in epoch 1; a new run "
                                                   "with a lower --lr than 1e+30 may keep it stable"), err
    assert json.loads(out.strip().splitlines()[-1])["exit_code"] == 2
    assert not (tmp_path / "run" / "last.pt").exists()  # no epoch of NaN weights kept as the one to resume from


@pytest.mark.parametrize("multiscale, side", [("0.25", 96), ("0.5", 128), ("0", 96)])
def test_images_are_kept_as_large_as_the_largest_multi_scale_step(coco_dataset, tmp_path, capsys, monkeypatch,
                                                                 multiscale, side):
    """The kept images were 1.25 x imgsz whatever --multiscale said: at 0.5 its steps of 1.5 x were drawn from
    images enlarged and blurred to fit."""
    from detector.training import cli as training_cli

    sides = []

    def decoded(data, max_side, *args, **kwargs):
        sides.append(max_side)
        raise RuntimeError("enough: the side is known")

    monkeypatch.setattr(training_cli, "_decoded", decoded)
    main(_train_args(coco_dataset, tmp_path / "run", "--multiscale", multiscale))
    capsys.readouterr()
    assert sides == [side]  # imgsz 96: 1.25 x is 120 -> 96, 1.5 x is 144 -> 128
