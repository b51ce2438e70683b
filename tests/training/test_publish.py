"""Installing trained weights as a model: the manifest's mAP is what `val` prints, under a name that works."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from detector.checkpoint import WeightsMeta, save_weights
from detector.cli import main as cli
from detector.models import ModelConfig, build_model
from detector.training.publish import main as publish

from .synthetic import NAMES, synthetic_images, write_yolo_labels


def _trained_weights(path):
    """Weights as a training run leaves them (untrained here: the numbers only have to agree)."""
    torch.manual_seed(0)
    config = ModelConfig(backbone="mobilenet_v3_small", num_classes=len(NAMES), neck_width=32, head_depth=1)
    save_weights(path, build_model(config), WeightsMeta(config, NAMES, 96, {}))
    return path


def test_a_published_model_states_the_map_that_val_prints_and_on_which_data(coco_dataset, tmp_path, capsys):
    annotations, images, _ = coco_dataset
    weights = _trained_weights(tmp_path / "best.safetensors")
    models = tmp_path / "models"
    assert publish(["--weights", str(weights), "--name", "shapes-v1", "--models-dir", str(models),
                    "--annotations", str(annotations), "--images", str(images)]) == 0
    published = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # the data it was measured on is named from the command, not a fixed "VOC2007 val split (1,004 images)",
    # and the terms are the publisher's to state, not "trained on PASCAL VOC 2007" for any model
    assert published["dataset"] == "instances.json (6 images)"
    manifest = yaml.safe_load((models / "shapes-v1.yaml").read_text())
    assert manifest["metrics"]["dataset"] == "instances.json (6 images)" and "VOC" not in manifest["license"]
    assert cli(["val", "--model", "shapes-v1", "--models-dir", str(models), "--annotations", str(annotations),
                "--images", str(images), "--imgsz", "96"]) == 0
    measured = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (measured["map50"], measured["map50_95"]) == (published["map50"], published["map50_95"])
    # a models folder others use: the weights are readable like the manifest (safetensors wrote them 0600)
    weights_mode, manifest_mode = ((models / f"shapes-v1.{suffix}").stat().st_mode & 0o777 for suffix in ("safetensors",
                                                                                                           "yaml"))
    assert weights_mode == manifest_mode, (oct(weights_mode), oct(manifest_mode))

    # the name of an installed model (the shipped yolo-mnv3-small was replaced without a word): only with --replace
    before = (models / "shapes-v1.yaml").read_bytes()
    assert publish(["--weights", str(weights), "--name", "shapes-v1", "--models-dir", str(models)]) == 2
    assert "a model named shapes-v1 is installed already" in capsys.readouterr().err
    assert (models / "shapes-v1.yaml").read_bytes() == before
    assert publish(["--weights", str(weights), "--name", "shapes-v1", "--models-dir", str(models), "--replace"]) == 0
    assert yaml.safe_load((models / "shapes-v1.yaml").read_text())["metrics"] == {}  # installed over, unmeasured


def test_a_model_trained_on_a_yolo_folder_is_published_with_the_map_val_prints_on_its_val_split(tmp_path, capsys):
    """Only a COCO file could be measured while publishing: weights trained on a YOLO or VOC folder went into
    the models folder without their mAP."""
    root = tmp_path / "shapes"
    write_yolo_labels(root / "labels" / "val", synthetic_images(root / "images" / "val", count=4, seed=3))
    (root / "data.yaml").write_text(yaml.safe_dump({"names": list(NAMES)}))
    weights = _trained_weights(tmp_path / "best.safetensors")
    models = tmp_path / "models"
    assert publish(["--weights", str(weights), "--name", "shapes-v2", "--models-dir", str(models),
                    "--data", str(root)]) == 0
    published = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert published["dataset"] == "shapes, val (4 images)"
    assert cli(["val", "--model", "shapes-v2", "--models-dir", str(models), "--data", str(root)]) == 0
    measured = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (measured["map50"], measured["map50_95"]) == (published["map50"], published["map50_95"])
    assert publish(["--weights", str(weights), "--name", "shapes-v3", "--models-dir", str(models), "--data", str(root),
                    "--annotations", "x.json", "--images", "x"]) == 2
    assert "measure on --annotations with --images, or on --data, not both" in capsys.readouterr().err
    # a measurement that fails installs nothing: the corrected command was refused as "installed already"
    assert publish(["--weights", str(weights), "--name", "shapes-v4", "--models-dir", str(models),
                    "--data", str(tmp_path / "typo")]) == 2
    assert "not found" in capsys.readouterr().err and not list(models.glob("shapes-v4.*"))
    assert publish(["--weights", str(weights), "--name", "shapes-v4", "--models-dir", str(models), "--data", str(root),
                    "--split", "val"]) == 0
    damaged = root / "images" / "val" / "damaged.jpg"  # val refuses the split; publish scored the other images
    damaged.write_bytes(b"not a picture")
    assert publish(["--weights", str(weights), "--name", "shapes-v5", "--models-dir", str(models),
                    "--data", str(root)]) == 2
    assert "damaged.jpg" in capsys.readouterr().err and not list(models.glob("shapes-v5.*"))


def test_publishing_refuses_a_name_that_is_not_a_file_name_and_half_an_evaluation(coco_dataset, tmp_path, capsys):
    annotations, _, _ = coco_dataset
    weights = _trained_weights(tmp_path / "best.safetensors")
    models = tmp_path / "models"
    for name in ("my model/", "../elsewhere", ""):  # "my model/" wrote models/my model/.safetensors and .yaml
        assert publish(["--weights", str(weights), "--name", name, "--models-dir", str(models)]) == 2
        assert "the model name must be letters, digits" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # "--model DIR" was taken for --models-dir: installed into DIR
        publish(["--weights", str(weights), "--name", "shapes-v1", "--model", str(tmp_path / "elsewhere")])
    assert "unrecognized arguments: --model" in capsys.readouterr().err
    assert publish(["--weights", str(weights), "--name", "shapes-v1", "--models-dir", str(models),
                    "--annotations", str(annotations)]) == 2  # no --images: it installed without measuring
    assert f"--annotations {annotations.name} (a COCO file) needs --images DIR" in capsys.readouterr().err
    # it said "a COCO dataset needs --images DIR as well", and with --images "--annotations and --images go together"
    assert publish(["--weights", str(weights), "--name", "shapes-v1", "--models-dir", str(models),
                    "--data", str(annotations)]) == 2
    assert f"--data {annotations.name} (a COCO file) needs --images DIR" in capsys.readouterr().err
    assert not models.exists() and not (tmp_path / "elsewhere.yaml").exists()  # nothing refused was installed
    assert publish(["--weights", str(weights), "--name", "shapes-v1", "--models-dir", str(tmp_path / "installed"),
                    "--data", str(annotations), "--images", str(annotations.parent / "images")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dataset"].startswith(annotations.name)


def test_a_models_folder_that_cannot_be_written_is_one_line_said_before_measuring(coco_dataset, tmp_path, capsys,
                                                                                 monkeypatch):
    """--models-dir naming a file ended in a traceback ("FileExistsError: … '/dev/full'"), after the measurement;
    a disk filling up while installing, in "OSError: [Errno 27] File too large"."""
    import detector.training.publish as publish_module

    annotations, images, _ = coco_dataset
    weights = _trained_weights(tmp_path / "best.safetensors")
    (tmp_path / "a file").write_text("")
    measured = []
    real = publish_module._measured
    monkeypatch.setattr(publish_module, "_measured", lambda *a: (measured.append(1), real(*a))[1])
    assert publish(["--weights", str(weights), "--name", "shapes-v1", "--models-dir", str(tmp_path / "a file"),
                    "--annotations", str(annotations), "--images", str(images)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: cannot write to folder {tmp_path / 'a file'}: {tmp_path / 'a file'} is a file, not a "
                   "folder"] and not measured

    def full_disk(*args, **kwargs):
        raise OSError(27, "File too large")

    monkeypatch.setattr(publish_module, "save_weights", full_disk)
    assert publish(["--weights", str(weights), "--name", "shapes-v1", "--models-dir", str(tmp_path / "models")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: cannot install shapes-v1 in {tmp_path / 'models'}: File too large"]
