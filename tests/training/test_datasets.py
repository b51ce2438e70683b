"""The three dataset formats read into the same boxes and class names; packs keep them."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from detector.errors import SourceError
from detector.datasets import load_coco, load_dataset
from detector.training.pack import load_pack, pack_dataset

from .synthetic import BGR_CHANNEL, NAMES, synthetic_images


def _as_sets(dataset):
    return [
        sorted((int(l), tuple(np.round(b, 1))) for b, l in zip(r.boxes, r.labels)) for r in dataset.records
    ]


def test_coco_drops_the_exporters_placeholder_category(coco_dataset):
    path, images, items = coco_dataset
    dataset = load_coco(path, images)
    assert dataset.class_names == NAMES  # "shapes" (id 0, no boxes, everyone's supercategory) is gone
    assert len(dataset) == len(items)
    assert _as_sets(dataset) == [sorted((c, tuple(np.round(b, 1))) for c, b in objs) for *_, objs in items]


def test_real_voc_json_has_twenty_classes(voc_root):
    dataset = load_coco(voc_root / "annotations" / "instances_val.json", voc_root / "images" / "val")
    assert len(dataset.class_names) == 20 and "objects" not in dataset.class_names
    assert dataset.class_names[14] == "person"
    assert dataset.num_boxes == 3072


def test_yolo_and_voc_folders_read_the_same_boxes_as_coco(coco_dataset, tmp_path):
    path, images, items = coco_dataset
    coco = load_coco(path, images)

    yolo = tmp_path / "yolo"
    synthetic_images(yolo / "images" / "train")
    (yolo / "labels" / "train").mkdir(parents=True)
    (yolo / "data.yaml").write_text(yaml.safe_dump({"names": list(NAMES)}))
    voc = tmp_path / "voc"
    synthetic_images(voc / "JPEGImages")
    (voc / "Annotations").mkdir(parents=True)
    for name, w, h, objects in items:
        lines = [f"{c} {(b[0] + b[2]) / 2 / w} {(b[1] + b[3]) / 2 / h} {(b[2] - b[0]) / w} {(b[3] - b[1]) / h}" for c, b in objects]
        (yolo / "labels" / "train" / name.replace(".png", ".txt")).write_text("\n".join(lines))
        xml_objects = "".join(
            f"<object><name>{NAMES[c]}</name><difficult>0</difficult><bndbox><xmin>{b[0] + 1:.0f}</xmin>"
            f"<ymin>{b[1] + 1:.0f}</ymin><xmax>{b[2]:.0f}</xmax><ymax>{b[3]:.0f}</ymax></bndbox></object>"
            for c, b in objects
        )
        (voc / "Annotations" / name.replace(".png", ".xml")).write_text(
            f"<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}</height></size>{xml_objects}</annotation>"
        )
    from_yolo = load_dataset(yolo)
    from_voc = load_dataset(voc)
    assert from_yolo.class_names == NAMES
    assert _as_sets(from_yolo) == _as_sets(coco)
    # VOC class names come from the XML, sorted; compare boxes per class name
    named = lambda ds: [sorted((ds.class_names[c], b) for c, b in s) for s in _as_sets(ds)]
    assert named(from_voc) == named(coco)


def test_unknown_layout_and_missing_paths_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(SourceError, match="not a COCO"):
        load_dataset(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SourceError, match="not a readable COCO"):
        load_coco(tmp_path / "bad.json", tmp_path)
    (tmp_path / "good.json").write_text('{"images": [], "annotations": [], "categories": []}')
    with pytest.raises(SourceError, match="images folder not found"):
        load_coco(tmp_path / "good.json", tmp_path / "no-such-folder")


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
