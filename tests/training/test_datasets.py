"""The three dataset formats read into the same boxes and class names; packs keep them."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import yaml

from detector.datasets import has_split, load_coco, load_dataset
from detector.errors import SourceError
from detector.training.pack import load_pack, pack_dataset

from ..photos import save_as_phone_photo, stored_box
from .synthetic import BGR_CHANNEL, NAMES, synthetic_images, write_voc_annotations, write_yolo_labels


def _as_sets(dataset):
    return [
        sorted((int(label), tuple(np.round(box, 1))) for box, label in zip(r.boxes, r.labels)) for r in dataset.records
    ]


def test_coco_drops_the_exporters_placeholder_category(coco_dataset):
    path, images, items = coco_dataset
    dataset = load_coco(path, images)
    assert dataset.class_names == NAMES  # "shapes" (id 0, no boxes, everyone's supercategory) is gone
    assert len(dataset) == len(items)
    assert _as_sets(dataset) == [sorted((c, tuple(np.round(b, 1))) for c, b in objs) for *_, objs in items]


def test_a_coco_class_that_is_its_own_supercategory_stays_without_boxes_in_a_split(coco_dataset, tmp_path):
    """COCO 2017's "person" has the supercategory "person": a split without a person box dropped the class,
    so training refused the validation set's persons as "a class the training set does not name"."""
    path, images, _ = coco_dataset
    data = json.loads(path.read_text())
    data["categories"] = [{**c, "supercategory": c["name"]} for c in data["categories"][1:]]
    gone = data["categories"][0]
    data["annotations"] = [a for a in data["annotations"] if a["category_id"] != gone["id"]]
    (tmp_path / "own.json").write_text(json.dumps(data))
    assert load_coco(tmp_path / "own.json", images).class_names == NAMES


def test_real_voc_json_has_twenty_classes(voc_root):
    dataset = load_coco(voc_root / "annotations" / "instances_val.json", voc_root / "images" / "val")
    assert len(dataset.class_names) == 20 and "objects" not in dataset.class_names
    assert dataset.class_names[14] == "person"
    assert dataset.num_boxes == 3072


def test_yolo_and_voc_folders_read_the_same_boxes_as_coco(coco_dataset, tmp_path):
    path, images, items = coco_dataset
    coco = load_coco(path, images)

    yolo = tmp_path / "yolo"
    write_yolo_labels(yolo / "labels" / "train", synthetic_images(yolo / "images" / "train"))
    (yolo / "data.yaml").write_text(yaml.safe_dump({"names": list(NAMES)}))
    voc = tmp_path / "voc"
    write_voc_annotations(voc / "Annotations", synthetic_images(voc / "JPEGImages"))
    from_yolo = load_dataset(yolo)
    from_voc = load_dataset(voc)
    assert from_yolo.class_names == NAMES
    assert _as_sets(from_yolo) == _as_sets(coco)
    # VOC class names come from the XML, sorted; compare boxes per class name
    def named(ds):
        return [sorted((ds.class_names[c], b) for c, b in s) for s in _as_sets(ds)]

    assert named(from_voc) == named(coco)


def test_unknown_layout_and_missing_paths_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(SourceError, match="not a COCO"):
        load_dataset(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SourceError, match="bad.json is not valid JSON"):
        load_coco(tmp_path / "bad.json", tmp_path)
    (tmp_path / "good.json").write_text('{"images": [], "annotations": [], "categories": []}')
    with pytest.raises(SourceError, match="images folder not found"):
        load_coco(tmp_path / "good.json", tmp_path / "no-such-folder")


@pytest.mark.parametrize("images_at", ["images/{split}", "{split}"], ids=["exporter", "coco2017"])
def test_a_coco_folder_reads_the_split_asked_for(coco_dataset, tmp_path, images_at):
    """annotations/instances_SPLIT.json with images/SPLIT/ (an exporter's, and ../shared's, layout) or SPLIT/
    (COCO 2017's): a folder given as --data was read as a YOLO folder and refused for want of data.yaml."""
    path, images, items = coco_dataset
    data = json.loads(path.read_text())
    root = tmp_path / "coco"
    for split, keep in (("train", lambda i: i % 3), ("val", lambda i: not i % 3)):
        chosen = [img for img in data["images"] if keep(img["id"])]
        ids = {img["id"] for img in chosen}
        folder = root / images_at.format(split=split)
        folder.mkdir(parents=True)
        for img in chosen:
            (folder / img["file_name"]).write_bytes((images / img["file_name"]).read_bytes())
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(
            {**data, "images": chosen, "annotations": [a for a in data["annotations"] if a["image_id"] in ids]}))
    train, val = load_dataset(root, split="train"), load_dataset(root, split="val")
    assert (len(train), len(val)) == (4, 2) and train.class_names == val.class_names == NAMES
    whole = {r.path.name: s for r, s in zip(load_coco(path, images).records, _as_sets(load_coco(path, images)))}
    for dataset in (train, val):
        assert {r.path.name: s for r, s in zip(dataset.records, _as_sets(dataset))} == {
            r.path.name: whole[r.path.name] for r in dataset.records}
    assert has_split(root, "val") and not has_split(root, "test")
    with pytest.raises(SourceError, match=r"no annotations/instances_test.json \(its splits: train, val\)"):
        load_dataset(root, split="test")


def test_pack_round_trip_shrinks_images_and_boxes_together(coco_dataset, tmp_path):
    path, images, _ = coco_dataset
    dataset = load_coco(path, images)
    pack = pack_dataset(dataset, tmp_path / "data.npz", max_side=128, quality=90)
    loaded = load_pack(pack)
    assert loaded.class_names == NAMES and len(loaded) == len(dataset)
    for record, image, boxes, labels in zip(dataset.records, loaded.images, loaded.boxes, loaded.labels):
        assert max(image.shape[:2]) == 128
        scale = 128 / max(record.width, record.height)
        np.testing.assert_allclose(boxes, record.boxes * scale, rtol=1e-5)
        np.testing.assert_array_equal(labels, record.labels)
        # each box still frames its rectangle: the colour at the box centre is the class colour
        for (x1, y1, x2, y2), c in zip(boxes, labels):
            assert image[int((y1 + y2) / 2), int((x1 + x2) / 2)].argmax() == BGR_CHANNEL[int(c)]


def test_a_pack_cut_short_or_damaged_is_said_to_be(coco_dataset, tmp_path):
    """A copy of the 42 MB pack that stopped part way, or one flipped byte, was an internal error (BadZipFile)."""
    path, images, _ = coco_dataset
    pack = pack_dataset(load_coco(path, images), tmp_path / "data.npz", max_side=128, quality=90)
    data = pack.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:3000])
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF  # inside the stored images: the zip's checksum no longer matches
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    for name in ("cut.npz", "flipped.npz"):
        with pytest.raises(SourceError, match=rf"{name} (is truncated or damaged|is not a LiveDet dataset pack)"):
            load_pack(tmp_path / name)


def test_the_trainers_evaluation_scores_crowds_as_val_does_also_from_a_pack(coco_dataset, tmp_path, monkeypatch):
    """A crowd (or a VOC "difficult" object) is neither found nor missed in ``detector val``. The evaluation
    that picks ``best.safetensors`` during training must score it the same way, from a pack too: the pack
    used to drop it, so finding it counted as a false positive there (mAP50 0.5 where val said 1.0)."""
    path, images, _ = coco_dataset
    data = json.loads(path.read_text())
    data["annotations"][0]["iscrowd"] = 1
    crowded = tmp_path / "crowded.json"
    crowded.write_text(json.dumps(data))
    dataset = load_coco(crowded, images)
    record = next(r for r in dataset.records if len(r.ignored_boxes))
    loaded = load_pack(pack_dataset(dataset, tmp_path / "data.npz", max_side=128, quality=90))
    index = [r.path.name for r in dataset.records].index(record.path.name)
    ignored_boxes, ignored_labels = loaded.ignored(index)
    scale = 128 / max(record.width, record.height)
    np.testing.assert_allclose(ignored_boxes, record.ignored_boxes * scale, rtol=1e-5)
    np.testing.assert_array_equal(ignored_labels, record.ignored_labels)
    assert sum(len(loaded.ignored(i)[0]) for i in range(len(loaded))) == 1
    assert len(loaded.first(2).ignored_boxes) == 2  # --max-images keeps them with their images

    from detector.models import ModelConfig, build_model
    from detector.training import trainer
    from detector.training.augment import ImageBank

    scored_with = []
    monkeypatch.setattr(trainer, "compute_map", lambda *args: scored_with.append(args) or SimpleNamespace())
    model = build_model(ModelConfig(num_classes=len(NAMES)))
    trainer.evaluate_bank(model, ImageBank(loaded, "cpu"), 128)
    (_, _, _, ignored), = scored_with
    np.testing.assert_allclose(ignored[index][0], ignored_boxes)


def test_the_trainers_evaluation_clips_boxes_to_the_image_as_val_does(coco_dataset, monkeypatch):
    """`detector val` clips each box to its image; the training evaluation that picks `best` did not, so a box
    running off the image scored a lower IoU there than in `val`."""
    import torch

    from detector.models import ModelConfig, build_model
    from detector.training import trainer
    from detector.training.augment import ImageBank
    from detector.training.pack import decode_dataset

    path, images, _ = coco_dataset
    bank = ImageBank(decode_dataset(load_coco(path, images), max_side=128, workers=1).first(2), "cpu")

    def off_the_image(raw, strides):  # one confident box from the letterbox's corner far past its far side
        boxes = torch.tensor([[-50.0, -50.0, 400.0, 400.0]]).expand(len(raw[0]), 1, 4)
        return boxes, torch.full((len(raw[0]), 1, len(NAMES)), 0.9)

    scored_with = []
    monkeypatch.setattr(trainer, "decode_outputs", off_the_image)
    monkeypatch.setattr(trainer, "compute_map", lambda *args: scored_with.append(args) or SimpleNamespace())
    trainer.evaluate_bank(build_model(ModelConfig(num_classes=len(NAMES))), bank, 128)
    (_, predictions, _, _), = scored_with
    for (boxes, _, _), (height, width) in zip(predictions, bank.sizes.tolist()):
        assert len(boxes)
        np.testing.assert_allclose(boxes, np.tile([0, 0, width, height], (len(boxes), 1)), rtol=1e-6)


@pytest.mark.parametrize("labelled_on", ["upright photo", "stored pixels"])
def test_phone_photos_are_trained_on_as_their_boxes_were_drawn(coco_dataset, tmp_path, labelled_on):
    """Most labelling tools show a phone photo upright, as viewers do; some label its stored pixels.
    The annotations' stated size tells which, and training must see the picture the boxes were drawn on."""
    path, images, items = coco_dataset
    data = json.loads(path.read_text())
    for image, (name, w, h, _) in zip(data["images"], items):
        upright = cv2.imread(str(images / name))
        image["file_name"] = name.replace(".png", ".jpg")
        save_as_phone_photo(images / image["file_name"], upright)
        if labelled_on == "stored pixels":
            image["width"], image["height"] = h, w
            for ann in data["annotations"]:
                if ann["image_id"] == image["id"]:
                    x, y, bw, bh = ann["bbox"]
                    x1, y1, x2, y2 = stored_box([x, y, x + bw, y + bh], w)
                    ann["bbox"] = [x1, y1, x2 - x1, y2 - y1]
    phones = tmp_path / "phones.json"
    phones.write_text(json.dumps(data))
    dataset = load_coco(phones, images)
    loaded = load_pack(pack_dataset(dataset, tmp_path / "data.npz", max_side=512, quality=95))
    for record, image, boxes, labels in zip(dataset.records, loaded.images, loaded.boxes, loaded.labels):
        assert image.shape[:2] == (record.height, record.width)
        for (x1, y1, x2, y2), c in zip(boxes, labels):  # each box frames its rectangle's colour
            assert image[int((y1 + y2) / 2), int((x1 + x2) / 2)].argmax() == BGR_CHANNEL[int(c)]


def test_a_damaged_image_is_left_out_with_its_boxes_and_a_warning_and_all_damaged_is_an_error(coco_dataset, tmp_path):
    path, images, _ = coco_dataset
    dataset = load_coco(path, images)
    damaged = dataset.records[1]
    damaged.path.write_bytes(damaged.path.read_bytes()[:60])  # cut short, as an interrupted copy leaves it
    warnings: list[str] = []

    loaded = load_pack(pack_dataset(dataset, tmp_path / "data.npz", max_side=128, on_skip=warnings.append))

    assert len(warnings) == 1 and damaged.path.name in warnings[0]
    kept = [r for r in dataset.records if r is not damaged]
    assert loaded.names == [r.path.name for r in kept]
    assert [list(labels) for labels in loaded.labels] == [list(r.labels) for r in kept]  # its boxes went with it
    for record in dataset.records:
        record.path.write_bytes(b"")
    with pytest.raises(SourceError, match=f"no image of the dataset could be read \\({len(dataset)} tried"):
        pack_dataset(dataset, tmp_path / "none.npz")


def test_the_pack_command_refuses_a_wrong_option_at_once_and_never_leaves_half_a_pack(coco_dataset, tmp_path,
                                                                                        capsys, monkeypatch):
    """`--output voc.txt` decoded every image and then failed with a FileNotFoundError traceback; `--quality 200`
    and `--max-side 0` wrote a pack of nonsense. A pack cut short (Ctrl-C, a full disk) replaced the good one."""
    from detector.training import pack

    path, images, _ = coco_dataset
    command = ["--data", str(path), "--images", str(images)]
    for bad, says in ((["--output", str(tmp_path / "voc.txt")], "--output must end in .npz, got 'voc.txt'"),
                      (["--output", str(tmp_path / "p.npz"), "--quality", "200"], "--quality must be 1-100, got 200"),
                      (["--output", str(tmp_path / "p.npz"), "--max-side", "0"], "--max-side must be at least 32")):
        assert pack.main(command + bad) == 2
        assert says in capsys.readouterr().err
    assert list(tmp_path.glob("*.npz")) == [] and not (tmp_path / "voc.txt").exists()

    good = tmp_path / "voc.npz"
    assert pack.main(command + ["--output", str(good), "--max-side", "64"]) == 0
    before = good.read_bytes()

    def disk_full(file, **arrays):
        file.write(b"PK" + b"\0" * 100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pack.np, "savez", disk_full)
    assert pack.main(command + ["--output", str(good), "--max-side", "96"]) == 1
    assert f"error: cannot write {good}: No space left on device" in capsys.readouterr().err
    assert good.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.fixture
def split_folders(tmp_path):
    """The same train (6 images) and val (3 images) splits in YOLO's and VOC's layouts.

    Val holds no "blue" box, as a small split can lack a class: VOC must still name all three.
    """
    train_items = synthetic_images(tmp_path / "train-src", count=6, seed=0)
    val_items = [(f"val_{name}", w, h, [(c, b) for c, b in objects if c != 2] or [(0, [1.0, 1.0, 30.0, 30.0])])
                 for name, w, h, objects in synthetic_images(tmp_path / "val-src", count=3, seed=1)]
    yolo, voc = tmp_path / "yolo", tmp_path / "voc"
    for split, items, src in (("train", train_items, "train-src"), ("val", val_items, "val-src")):
        for name, *_ in items:
            image = (tmp_path / src / name.removeprefix("val_")).read_bytes()
            for folder in (yolo / "images" / split, voc / "JPEGImages"):
                folder.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(image)
        write_yolo_labels(yolo / "labels" / split, items)
        write_voc_annotations(voc / "Annotations", items)
        (voc / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (voc / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{n[:-4]}\n" for n, *_ in items))
    (voc / "ImageSets" / "Main" / "red_train.txt").write_text("img_000  1\n")  # a per-class list, not a split
    (yolo / "data.yaml").write_text(yaml.safe_dump({"names": list(NAMES)}))
    return yolo, voc, train_items, val_items


def _boxes_by_file(dataset):
    """File name -> sorted (class name, box): VOC numbers its classes alphabetically, YOLO as listed."""
    return {r.path.name: sorted((dataset.class_names[int(c)], tuple(np.round(b, 1))) for b, c in zip(r.boxes, r.labels))
            for r in dataset.records}


def _expected(items):
    return {name: sorted((NAMES[c], tuple(np.round(b, 1))) for c, b in objects) for name, _, _, objects in items}


def test_yolo_and_voc_folders_read_the_split_asked_for_not_the_whole_folder(split_folders):
    """Validating on a whole folder would score the model on the images it trained on."""
    yolo, voc, train_items, val_items = split_folders
    for root in (yolo, voc):
        train, val = load_dataset(root, split="train"), load_dataset(root, split="val")
        assert (train.split, val.split) == ("train", "val")
        assert _boxes_by_file(val) == _expected(val_items), root.name
        assert _boxes_by_file(train) == _expected(train_items), root.name
        assert train.class_names == val.class_names and set(val.class_names) == set(NAMES)  # val has no "blue" box
        assert has_split(root, "val") and not has_split(root, "test")
        with pytest.raises(SourceError, match=r"its splits: train, val"):
            load_dataset(root, split="test")


def test_an_ultralytics_data_yaml_reads_its_splits(split_folders, tmp_path):
    yolo, _, train_items, val_items = split_folders
    spec = tmp_path / "configs" / "shapes.yaml"  # beside the data, not in it: `path` is relative to this file
    spec.parent.mkdir()
    (yolo / "val-list.txt").write_text("".join(f"./images/val/{name}\n" for name, *_ in val_items))
    spec.write_text(yaml.safe_dump({"path": "../yolo", "train": "images/train", "val": "val-list.txt",
                                    "names": {0: "red", 1: "green", 2: "blue"}}))
    assert _boxes_by_file(load_dataset(spec)) == _expected(train_items)
    val = load_dataset(spec, split="val")
    assert val.class_names == NAMES and _boxes_by_file(val) == _expected(val_items)
    assert has_split(spec, "val") and not has_split(spec, "test")
    with pytest.raises(SourceError, match=r"shapes.yaml has no 'test' split \(it has: train, val\)"):
        load_dataset(spec, split="test")
    spec.write_text(yaml.safe_dump({"train": "images/train"}))
    with pytest.raises(SourceError, match="no class names"):
        load_dataset(spec)
    spec.write_text(yaml.safe_dump({"path": "../yolo", "train": "images/train", "names": {1: "red", 2: "green"}}))
    with pytest.raises(SourceError, match="the keys of 'names' must be the class indices 0 to 1"):
        load_dataset(spec)  # read as 0 and 1, every label would name the wrong class
    spec.write_text(yaml.safe_dump({"path": "../yolo", "train": "images/train",
                                    "names": {str(i): name for i, name in enumerate(NAMES)}}))
    assert load_dataset(spec).class_names == NAMES


def test_a_roboflow_export_reads_its_splits_as_ultralytics_does(split_folders, tmp_path):
    """Roboflow writes ``train: ../train/images`` into a data.yaml that sits beside ``train/``."""
    yolo, _, train_items, val_items = split_folders
    export = tmp_path / "export"
    for split, theirs in (("train", "train"), ("val", "valid")):
        (export / theirs).mkdir(parents=True)
        for kind in ("images", "labels"):
            (yolo / kind / split).rename(export / theirs / kind)
    (export / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 3\n"
                                      "names: ['red', 'green', 'blue']\n")
    assert _boxes_by_file(load_dataset(export / "data.yaml")) == _expected(train_items)
    assert _boxes_by_file(load_dataset(export / "data.yaml", split="val")) == _expected(val_items)
    # the folder itself reads as its data.yaml: it was "not a … YOLO folder (images/, labels/)"
    assert _boxes_by_file(load_dataset(export, split="val")) == _expected(val_items) and has_split(export, "val")
    # ... but a folder with images/ of its own reads them, whatever its data.yaml's path: names (an older copy)
    (export / "images" / "train").mkdir(parents=True)
    for name, *_ in train_items:
        (export / "train" / "images" / name).rename(export / "images" / "train" / name)
    (export / "data.yaml").write_text("path: /content/datasets/elsewhere\ntrain: images/train\nval: images/val\n"
                                      "names: ['red', 'green', 'blue']\n")
    assert sorted(_boxes_by_file(load_dataset(export))) == sorted(name for name, *_ in train_items)
    (export / "train" / "images").mkdir(exist_ok=True)
    for name, *_ in train_items:
        (export / "images" / "train" / name).rename(export / "train" / "images" / name)
    (export / "images" / "train").rmdir()
    (export / "images").rmdir()
    (export / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnames: ['red', 'green', 'blue']\n")
    (export / "valid" / "labels" / f"{val_items[0][0][:-4]}.txt").write_bytes(b"\xff\xfe0 0.5")
    with pytest.raises(SourceError, match="cannot read val_img_000.txt as text"):
        load_dataset(export / "data.yaml", split="val")


def test_yolo_labels_polygons_are_boxed_and_bad_lines_are_named(split_folders):
    yolo, *_ = split_folders
    label = yolo / "labels" / "train" / "img_000.txt"
    image = load_dataset(yolo).records[0]
    w, h = image.width, image.height
    label.write_text("1 0.1 0.2 0.5 0.2 0.3 0.6\n\n2 0.5 0.5 1.0004 0.2\n")  # a polygon: its extent; a rounding
    first = load_dataset(yolo).records[0]
    np.testing.assert_allclose(first.boxes[0], [0.1 * w, 0.2 * h, 0.5 * w, 0.6 * h], rtol=1e-5)
    assert list(first.labels) == [1, 2]
    for text, says in (("0 0.5 0.5 0.2\n", "labels/train/img_000.txt, line 1: expected 'class x_center"),  # which
                       ("0 0.5 0.5 0.2 0.2\nred 0.5 0.5 0.2 0.2\n", "img_000.txt, line 2: expected"),
                       ("3 0.5 0.5 0.2 0.2\n", "img_000.txt, line 1: class 3, but the dataset names 3 classes"),
                       # pixels: clipped into a whole-image box, or a sliver dropped without a word
                       ("0 0.5 0.5 0.2 0.2\n1 20 30 40 60\n", "img_000.txt, line 2: coordinates outside 0-1")):
        label.write_text(text)
        with pytest.raises(SourceError, match=re.escape(says)):
            load_dataset(yolo)


def test_a_damaged_yolo_image_is_reported_and_a_broken_voc_file_named(split_folders):
    yolo, voc, train_items, _ = split_folders
    (yolo / "images" / "train" / "img_002.png").write_bytes(b"not a picture")
    problems: list[str] = []
    dataset = load_dataset(yolo, on_skip=problems.append)
    assert len(dataset) == len(train_items) - 1 and problems == ["img_002.png is not a readable image"]
    (voc / "Annotations" / "img_001.xml").write_text("<annotation><object>")
    with pytest.raises(SourceError, match="img_001.xml is not readable XML"):
        load_dataset(voc)
    (voc / "Annotations" / "img_001.xml").write_text("<annotation><object><name>red</name></object></annotation>")
    with pytest.raises(SourceError, match="img_001.xml: an <object> lacks a <name> or a numeric <bndbox>"):
        load_dataset(voc)
    (yolo / "data.yaml").unlink()
    (yolo / "classes.txt").write_bytes(b"\xff\xfe not UTF-8")  # a class list saved in another encoding
    with pytest.raises(SourceError, match="cannot read classes.txt as text"):
        load_dataset(yolo)


def test_coco_file_names_with_a_folder_prefix_are_found_beside_the_images_too(coco_dataset, tmp_path):
    """Exporters write ``train/0001.jpg`` or ``0001.jpg`` for the same layout; val already took both."""
    path, images, items = coco_dataset
    data = json.loads(path.read_text())
    for image in data["images"]:
        image["file_name"] = f"train2017/{image['file_name']}"
    prefixed = tmp_path / "prefixed.json"
    prefixed.write_text(json.dumps(data))
    dataset = load_coco(prefixed, images)
    assert all(record.path.is_file() for record in dataset.records)
    assert _as_sets(dataset) == _as_sets(load_coco(path, images))


def test_a_yolo_folder_sorted_into_category_folders_is_read_whole_not_as_splits(split_folders):
    """images/cats and images/dogs are how people sort photos: it stopped at "no images/train folder (its
    splits: cats, dogs)", though a folder without splits is read whole."""
    yolo, _, train_items, val_items = split_folders
    for split, folder in (("train", "cats"), ("val", "dogs")):
        for kind in ("images", "labels"):
            (yolo / kind / split).rename(yolo / kind / folder)
    dataset = load_dataset(yolo)
    assert dataset.split == "" and _boxes_by_file(dataset) == _expected(train_items + val_items)
    assert _boxes_by_file(load_dataset(yolo, split="dogs")) == _expected(val_items)  # named: that folder alone
    for kind in ("images", "labels"):  # a name that starts as a split's does, but is a category's
        (yolo / kind / "dogs").rename(yolo / kind / "valuables")
    assert load_dataset(yolo).split == ""  # was "no images/train folder (its splits: cats, valuables)"
    for kind in ("images", "labels"):  # KITTI's names are splits: read whole, its test images were trained on
        (yolo / kind / "cats").rename(yolo / kind / "training")
        (yolo / kind / "valuables").rename(yolo / kind / "testing")
    with pytest.raises(SourceError, match=r"no images/train folder \(its splits: testing, training\)"):
        load_dataset(yolo)
    for kind in ("images", "labels"):
        (yolo / kind / "training").rename(yolo / kind / "cats")
        (yolo / kind / "testing").rename(yolo / kind / "valuables")
    (yolo / "images" / "train2017").mkdir()
    (yolo / "images" / "cats").rename(yolo / "images" / "train2017" / "cats")
    with pytest.raises(SourceError, match="no images/train folder"):  # a split's name: splits, as before
        load_dataset(yolo)


def test_a_voc_file_naming_its_image_without_the_extension_still_finds_it(split_folders):
    """Some labelling tools write <filename>000005</filename>: reading stopped at 'cannot read JPEGImages/000005'."""
    _, voc, train_items, _ = split_folders
    for name, *_ in train_items[:2]:
        xml = voc / "Annotations" / f"{name[:-4]}.xml"
        xml.write_text(re.sub(r"<filename>[^<]*</filename>", f"<filename>{name[:-4]}</filename>", xml.read_text()))
    dataset = load_dataset(voc, split="train")
    assert all(record.path.is_file() for record in dataset.records)
    assert _boxes_by_file(dataset) == _expected(train_items)


def test_a_box_hanging_over_an_edge_is_cut_at_that_edge_on_both_axes(split_folders):
    """A label reaching past the image's right or bottom edge is kept, cut at the edge: a box below the picture
    would teach the model (and score it against) pixels that do not exist."""
    yolo, voc, train_items, _ = split_folders
    name, w, h, _ = train_items[0]
    with open(yolo / "labels" / "train" / f"{name[:-4]}.txt", "a") as labels:
        labels.write("\n1 0.5 0.9 0.2 0.4\n1 0.9 0.5 0.4 0.2\n")  # past the bottom edge; past the right edge
    record = next(r for r in load_dataset(yolo).records if r.path.name == name)
    added = record.boxes[-2:]
    np.testing.assert_allclose(added, [[0.4 * w, 0.7 * h, 0.6 * w, h], [0.7 * w, 0.4 * h, w, 0.6 * h]], atol=1e-3)
    assert (record.boxes[:, [0, 2]] <= w).all() and (record.boxes[:, [1, 3]] <= h).all()


def test_voc_names_typed_in_another_case_or_spacing_are_one_class_under_the_most_used_spelling(split_folders):
    """LabelImg and CVAT let people type names: one "Person" among "person" boxes became a class of its own,
    trained apart and left unscored by val ("no model class of that name")."""
    _, voc, train_items, _ = split_folders
    boxes = Counter(NAMES[c] for *_, objects in train_items for c, _ in objects)
    spelled = {usual: odd for usual, odd in (("red", "Red"), ("green", "green "), ("blue", "BL ue")) if boxes[usual] > 2}
    assert len(spelled) >= 2  # each such class spelt otherwise once, somewhere
    for name, *_ in train_items:
        xml = voc / "Annotations" / f"{name[:-4]}.xml"
        text = xml.read_text()
        for usual in list(spelled):
            if f"<name>{usual}</name>" in text:
                text = text.replace(f"<name>{usual}</name>", f"<name>{spelled.pop(usual)}</name>", 1)
        xml.write_text(text)
    assert not spelled  # each had a box to misspell
    dataset = load_dataset(voc, split="train")
    assert dataset.class_names == tuple(sorted(NAMES))
    assert _boxes_by_file(dataset) == _expected(train_items)


def test_a_yolo_image_list_of_linked_images_finds_the_labels_beside_the_links(split_folders, tmp_path):
    """A data.yaml split given as a .txt list: the links were followed to their targets, where no labels/ is,
    so the set read as all backgrounds ("none of the model's classes match the dataset's classes ()")."""
    yolo, _, train_items, _ = split_folders
    linked, store = tmp_path / "linked", tmp_path / "photo-store" / "images"  # the links' targets: no labels/ there
    shutil.copytree(yolo / "images" / "train", store)
    (linked / "images").mkdir(parents=True)
    for name, *_ in train_items:
        (linked / "images" / name).symlink_to(store / name)
    shutil.copytree(yolo / "labels" / "train", linked / "labels")
    (linked / "train.txt").write_text("".join(f"./images/{name}\n" for name, *_ in train_items))
    (linked / "data.yaml").write_text(yaml.safe_dump({"names": list(NAMES), "train": "train.txt"}))
    dataset = load_dataset(linked / "data.yaml", split="train")
    assert _boxes_by_file(dataset) == _expected(train_items)

    project = tmp_path / "project"  # the list's own folder a link: "../images" is beside the real list
    (project / "lists").parent.mkdir()
    shutil.copytree(yolo / "labels" / "train", tmp_path / "photo-store" / "labels")
    (tmp_path / "photo-store" / "lists").mkdir()
    (tmp_path / "photo-store" / "lists" / "train.txt").write_text("".join(f"../images/{n}\n" for n, *_ in train_items))
    (project / "lists").symlink_to(tmp_path / "photo-store" / "lists")
    (project / "data.yaml").write_text(yaml.safe_dump({"names": list(NAMES), "train": "lists/train.txt"}))
    assert _boxes_by_file(load_dataset(project / "data.yaml", split="train")) == _expected(train_items)


def test_boxes_with_no_area_in_their_image_are_counted_and_warned_of(split_folders):
    """A VOC box with xmax < xmin and a YOLO box without width were dropped without a word (val's mAP moved)."""
    from detector.datasets import dropped_boxes_warning

    yolo, voc, train_items, _ = split_folders
    assert load_dataset(yolo).dropped_boxes == 0 and dropped_boxes_warning(load_dataset(yolo)) is None
    name = train_items[0][0][:-4]
    with open(yolo / "labels" / "train" / f"{name}.txt", "a") as labels:
        labels.write("\n1 0.5 0.5 0.0 0.4\n")  # no width (one off the image is refused: pixels, as a rule)
    xml = voc / "Annotations" / f"{name}.xml"
    xml.write_text(re.sub(r"<xmax>[\d.]+</xmax>", "<xmax>0</xmax>", xml.read_text(), count=1))
    for dataset in (load_dataset(yolo), load_dataset(voc)):
        assert dataset.dropped_boxes == 1
        assert dropped_boxes_warning(dataset) == ("warning: 1 box at most a pixel wide or tall inside its image was "
                                                  "left out (x2 - x1 or y2 - y1 at most 1 px once clipped to the image)")
