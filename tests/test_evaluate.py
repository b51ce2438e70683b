"""COCO evaluation: perfect answers score 1.0, worse answers score less, classes are matched by name."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from detector.datasets import load_dataset
from detector.errors import ModelError, SourceError
from detector.evaluate import EvalSettings, evaluate_coco, evaluate_dataset, format_table
from detector.types import Detections, Prediction, StageTimings

from .photos import save_as_phone_photo, stored_box
from .training.synthetic import COLORS, NAMES, synthetic_images

MODEL_CLASSES = ("cat", "bird", "dog")  # model class index: cat 0, bird 1, dog 2
IMAGE_SIZE = (120, 160)  # (height, width)


@pytest.fixture
def synthetic_coco(tmp_path):
    """Four images whose first pixel holds their id, with cats, dogs and a zebra the model cannot know.

    Category ids differ from model indices on purpose, id 0 is a box-less placeholder (as in the VOC
    export), and annotation ids start at 0 (pycocotools-style matching mistakes id 0 for "unmatched").
    """
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    categories = [{"id": 0, "name": "objects"}, {"id": 7, "name": "Dog"}, {"id": 3, "name": "cat"},
                  {"id": 9, "name": "zebra"}]
    boxes = {  # image id -> [(x, y, w, h, category id)]
        10: [(10, 10, 40, 30, 3), (70, 20, 50, 60, 7)],
        11: [(5, 50, 60, 40, 7)],
        12: [(20, 15, 30, 30, 3), (90, 60, 40, 40, 3), (100, 5, 20, 20, 9)],
        13: [(30, 30, 80, 70, 7), (2, 2, 20, 25, 3)],
    }
    images, annotations = [], []
    for image_id, rows in boxes.items():
        name = f"img_{image_id}.png"
        frame = np.zeros((*IMAGE_SIZE, 3), np.uint8)
        frame[0, 0] = image_id
        cv2.imwrite(str(images_dir / name), frame)
        images.append({"id": image_id, "file_name": name, "height": IMAGE_SIZE[0], "width": IMAGE_SIZE[1]})
        for x, y, w, h, cat in rows:
            annotations.append({"id": len(annotations), "image_id": image_id, "category_id": cat,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path, images_dir, boxes


class AnswerKeyPredictor:
    """Returns the ground truth of whichever image it is shown (read from its first pixel),
    optionally shifted sideways by a fraction of each box's width, or missing one class."""

    def __init__(self, boxes: dict, *, shift: float = 0.0, drop_class: str | None = None) -> None:
        self.boxes = boxes
        self.shift = shift
        self.drop_class = drop_class
        self.calls: list[dict] = []
        category_to_class = {3: 0, 7: 2}
        self.answers = {
            image_id: [((x, y, w, h), category_to_class[c]) for x, y, w, h, c in rows if c in category_to_class]
            for image_id, rows in boxes.items()
        }

    @property
    def class_names(self) -> tuple[str, ...]:
        return MODEL_CLASSES

    def predict_batch(self, frames, *, conf, iou, max_det, multi_label):
        self.calls.append({"frames": len(frames), "conf": conf, "iou": iou, "max_det": max_det, "multi_label": multi_label})
        results = []
        for frame in frames:
            rows = [(b, c) for b, c in self.answers[int(frame[0, 0, 0])] if MODEL_CLASSES[c] != self.drop_class]
            xyxy = np.array([[x + self.shift * w, y, x + w + self.shift * w, y + h] for (x, y, w, h), _ in rows],
                            np.float32).reshape(-1, 4)
            detections = Detections(
                boxes=xyxy,
                scores=np.linspace(0.9, 0.5, len(rows)).astype(np.float32),
                class_ids=np.array([c for _, c in rows], np.int64),
                class_names=MODEL_CLASSES,
            )
            results.append(Prediction(detections=detections, timings=StageTimings()))
        return results


def test_ground_truth_scores_one(synthetic_coco):
    annotations, images_dir, boxes = synthetic_coco
    predictor = AnswerKeyPredictor(boxes)
    result = evaluate_coco(predictor, annotations, images_dir, EvalSettings(batch=2))
    assert result.map50 == pytest.approx(1.0) and result.map50_95 == pytest.approx(1.0)
    assert result.images == 4
    assert {row.name: row.num_gt for row in result.per_class} == {"cat": 4, "dog": 3}  # the model's names
    assert all(row.ap50 == pytest.approx(1.0) for row in result.per_class)
    assert result.unmatched_classes == ("zebra",)  # has boxes, no model class; the placeholder is ignored
    assert [c["frames"] for c in predictor.calls] == [2, 2]
    assert all(c["multi_label"] and c["conf"] == 0.001 and c["iou"] == 0.6 for c in predictor.calls)
    summary = result.to_dict()
    assert summary["map50"] == 1.0 and summary["per_class"]["dog"] == {"ap50": 1.0, "ap50_95": 1.0, "gt": 3}
    assert summary["unmatched_classes"] == ["zebra"]
    assert "cat" in format_table(result)


def test_boxes_a_little_off_lose_strict_iou_points_only(synthetic_coco):
    annotations, images_dir, boxes = synthetic_coco
    result = evaluate_coco(AnswerKeyPredictor(boxes, shift=0.2), annotations, images_dir)
    # sideways by 20% of the width: IoU = 0.8 / 1.2 = 0.67, a hit at 0.5 but not at 0.7 and above
    assert result.map50 == pytest.approx(1.0)
    assert 0.2 < result.map50_95 < 0.5


def test_boxes_far_off_score_zero(synthetic_coco):
    annotations, images_dir, boxes = synthetic_coco
    result = evaluate_coco(AnswerKeyPredictor(boxes, shift=0.7), annotations, images_dir)
    assert result.map50 == pytest.approx(0.0) and result.map50_95 == pytest.approx(0.0)


def test_a_missed_class_pulls_the_mean_down(synthetic_coco):
    annotations, images_dir, boxes = synthetic_coco
    result = evaluate_coco(AnswerKeyPredictor(boxes, drop_class="dog"), annotations, images_dir)
    per_class = {row.name: row.ap50 for row in result.per_class}
    assert per_class == pytest.approx({"cat": 1.0, "dog": 0.0})
    assert result.map50 == pytest.approx(0.5)


def test_max_images_evaluates_a_prefix(synthetic_coco):
    annotations, images_dir, boxes = synthetic_coco
    predictor = AnswerKeyPredictor(boxes)
    result = evaluate_coco(predictor, annotations, images_dir, EvalSettings(max_images=2))
    assert result.images == 2 and sum(c["frames"] for c in predictor.calls) == 2
    assert {row.name: row.num_gt for row in result.per_class} == {"cat": 1, "dog": 2}
    assert result.map50 == pytest.approx(1.0)


def test_model_without_any_dataset_class_is_refused(synthetic_coco):
    annotations, images_dir, boxes = synthetic_coco

    class Strangers(AnswerKeyPredictor):
        class_names = ("car", "bus")

    with pytest.raises(ModelError, match="match"):
        evaluate_coco(Strangers(boxes), annotations, images_dir)


def test_missing_and_broken_inputs_are_source_errors(synthetic_coco, tmp_path):
    annotations, images_dir, boxes = synthetic_coco
    predictor = AnswerKeyPredictor(boxes)
    with pytest.raises(SourceError, match="not found"):
        evaluate_coco(predictor, tmp_path / "nope.json", images_dir)
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    with pytest.raises(SourceError, match="JSON"):
        evaluate_coco(predictor, broken, images_dir)
    (images_dir / "img_12.png").unlink()
    with pytest.raises(SourceError, match="img_12.png"):
        evaluate_coco(predictor, annotations, images_dir)


def test_voc_validation_with_an_untrained_model(voc_root, random_models_dir):
    from detector import Predictor, load_model

    predictor = Predictor(load_model("test-small", models_dir=random_models_dir), device="cpu", imgsz=224)
    result = evaluate_coco(predictor, voc_root / "annotations" / "instances_val.json", voc_root / "images" / "val",
                           EvalSettings(max_images=3))
    assert result.images == 3
    assert result.unmatched_classes == ()  # every VOC class is one of the model's; "objects" has no boxes
    assert 0.0 <= result.map50_95 <= result.map50 <= 1.0
    assert all(row.num_gt > 0 for row in result.per_class)


def test_a_yolo_split_scores_as_its_coco_file_does(synthetic_coco, tmp_path):
    """``val --data`` on a YOLO folder: its val split only, classes matched by name, the same mAP as COCO."""
    annotations, images_dir, boxes = synthetic_coco
    root = tmp_path / "yolo"
    names = ["zebra", "cat", "Dog"]  # YOLO numbers classes its own way
    class_of = {9: 0, 3: 1, 7: 2}
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "images" / "train").mkdir(parents=True)
    (root / "data.yaml").write_text(f"names: {names}\n")
    height, width = IMAGE_SIZE
    for image_id, rows in boxes.items():
        (root / "images" / "val" / f"img_{image_id}.png").write_bytes((images_dir / f"img_{image_id}.png").read_bytes())
        (root / "labels" / "val" / f"img_{image_id}.txt").write_text("".join(
            f"{class_of[c]} {(x + w / 2) / width} {(y + h / 2) / height} {w / width} {h / height}\n"
            for x, y, w, h, c in rows))
    cv2.imwrite(str(root / "images" / "train" / "other.png"), np.zeros((*IMAGE_SIZE, 3), np.uint8))

    predictor = AnswerKeyPredictor(boxes)
    result = evaluate_dataset(predictor, load_dataset(root, split="val"), EvalSettings(batch=2))
    assert result.map50 == pytest.approx(1.0) and result.images == 4
    assert {row.name: row.num_gt for row in result.per_class} == {"cat": 4, "dog": 3}
    assert result.unmatched_classes == ("zebra",)
    assert [c["frames"] for c in predictor.calls] == [2, 2]
    for shift in (0.2, 0.4):
        from_yolo = evaluate_dataset(AnswerKeyPredictor(boxes, shift=shift), load_dataset(root, split="val"))
        from_coco = evaluate_coco(AnswerKeyPredictor(boxes, shift=shift), annotations, images_dir)
        assert from_yolo.map50_95 == pytest.approx(from_coco.map50_95, abs=1e-6) and from_coco.map50_95 < 1
        assert from_yolo.map50 == pytest.approx(from_coco.map50, abs=1e-6)

    class Strangers(AnswerKeyPredictor):
        class_names = ("car", "bus")

    with pytest.raises(ModelError, match="none of the model's classes"):
        evaluate_dataset(Strangers(boxes), load_dataset(root, split="val"))


def _voc_folder(root, images_dir, boxes, difficult: tuple[int, int]) -> None:
    """``boxes`` as a Pascal VOC folder; the object at (image id, row) is marked difficult."""
    names = {3: "cat", 7: "Dog", 9: "zebra"}
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for image_id, rows in boxes.items():
        name = f"img_{image_id}.png"
        (root / "JPEGImages" / name).write_bytes((images_dir / name).read_bytes())
        objects = "".join(
            f"<object><name>{names[c]}</name><difficult>{int((image_id, row) == difficult)}</difficult><bndbox>"
            f"<xmin>{x + 1}</xmin><ymin>{y + 1}</ymin><xmax>{x + w}</xmax><ymax>{y + h}</ymax></bndbox></object>"
            for row, (x, y, w, h, c) in enumerate(rows))
        (root / "Annotations" / f"img_{image_id}.xml").write_text(
            f"<annotation><filename>{name}</filename><size><width>{IMAGE_SIZE[1]}</width>"
            f"<height>{IMAGE_SIZE[0]}</height></size>{objects}</annotation>")


def test_crowds_and_difficult_objects_count_neither_as_found_nor_as_missed(synthetic_coco, tmp_path):
    """COCO scores a detection on an "iscrowd" region, and VOC one on a "difficult" object, as neither right
    nor wrong. Dropping such boxes instead would make the model's best cat below a false positive."""
    annotations, images_dir, boxes = synthetic_coco
    data = json.loads(annotations.read_text())
    crowd = next(a for a in data["annotations"] if a["image_id"] == 12 and a["category_id"] == 3)
    crowd["iscrowd"] = 1  # the first cat of image 12, which the answer key finds with its top score
    crowded = tmp_path / "crowded.json"
    crowded.write_text(json.dumps(data))
    voc = tmp_path / "voc"
    _voc_folder(voc, images_dir, boxes, difficult=(12, 0))
    without_it = {image_id: [row for row in rows if (image_id, row) != (12, boxes[12][0])]
                  for image_id, rows in boxes.items()}

    for predictor in (AnswerKeyPredictor(boxes), AnswerKeyPredictor(without_it)):  # found, or not
        for result in (evaluate_coco(predictor, crowded, images_dir),
                       evaluate_dataset(predictor, load_dataset(crowded, images_dir)),
                       evaluate_dataset(predictor, load_dataset(voc))):
            assert result.map50 == pytest.approx(1.0) and result.map50_95 == pytest.approx(1.0)
            assert {row.name: row.num_gt for row in result.per_class} == {"cat": 3, "dog": 3}

    voc_record = next(r for r in load_dataset(voc).records if r.path.name == "img_12.png")
    assert len(voc_record.boxes) == 2 and len(voc_record.ignored_boxes) == 1  # not trained on either


class ColourPredictor:
    """Finds the solid rectangles of ``synthetic_images`` by their colour: a stand-in model that really looks
    at the picture it is given, so a picture turned a quarter gets boxes turned with it."""

    class_names = NAMES

    def predict_batch(self, frames, *, conf, iou, max_det, multi_label):
        results = []
        for frame in frames:
            boxes, class_ids = [], []
            for class_id, colour in enumerate(COLORS.values()):
                mask = (np.abs(frame.astype(np.int16) - colour).max(axis=2) < 60).astype(np.uint8)
                _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
                for x, y, w, h, area in stats[1:]:
                    if area >= 100:
                        boxes.append([x, y, x + w, y + h])
                        class_ids.append(class_id)
            detections = Detections(boxes=np.array(boxes, np.float32).reshape(-1, 4),
                                    scores=np.full(len(boxes), 0.9, np.float32),
                                    class_ids=np.array(class_ids, np.int64), class_names=NAMES)
            results.append(Prediction(detections=detections, timings=StageTimings()))
        return results


@pytest.mark.parametrize("photos", ["plain images", "phone photos labelled upright",
                                    "phone photos labelled on their stored pixels"])
def test_phone_photos_are_scored_on_the_picture_their_boxes_were_drawn_on(tmp_path, photos):
    """Most labelling tools show a phone photo upright, as viewers do; some label its stored pixels. The
    annotations' stated size tells which, and the model must be shown the picture the boxes were drawn on."""
    images_dir = tmp_path / "images"
    items = synthetic_images(images_dir)
    images, annotations = [], []
    for image_id, (name, w, h, objects) in enumerate(items):
        if photos != "plain images":
            name = name.replace(".png", ".jpg")
            save_as_phone_photo(images_dir / name, cv2.imread(str(images_dir / items[image_id][0])))
        on_stored_pixels = photos == "phone photos labelled on their stored pixels"
        images.append({"id": image_id, "file_name": name, "width": h if on_stored_pixels else w,
                       "height": w if on_stored_pixels else h})
        for c, box in objects:
            x1, y1, x2, y2 = stored_box(box, w) if on_stored_pixels else box
            annotations.append({"id": len(annotations), "image_id": image_id, "category_id": c,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    path = tmp_path / "instances.json"
    categories = [{"id": c, "name": name} for c, name in enumerate(NAMES)]
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    result = evaluate_coco(ColourPredictor(), path, images_dir)
    assert result.map50 == pytest.approx(1.0)


def test_a_class_with_no_boxes_in_the_evaluated_images_does_not_pull_the_mean_down(synthetic_coco, tmp_path):
    """--max-images 1 on an image holding only a dog: the model's cats have nothing to be scored on, so a perfect
    answer is mAP 1.0 (as documented: the mean is over classes with a ground-truth box), not 0.5."""
    annotations, images_dir, boxes = synthetic_coco
    data = json.loads(annotations.read_text())
    for item in data["images"] + data["annotations"]:  # img_11.png (one dog) listed first; its pixel still says 11
        key = "id" if "file_name" in item else "image_id"
        if item[key] == 11:
            item[key] = 1
    dog_first = tmp_path / "dog_first.json"
    dog_first.write_text(json.dumps(data))
    result = evaluate_coco(AnswerKeyPredictor(boxes), dog_first, images_dir, EvalSettings(max_images=1))
    assert result.map50 == pytest.approx(1.0) and result.map50_95 == pytest.approx(1.0)


def test_each_image_counts_the_best_100_detections_of_a_class_as_coco_does():
    """COCO mAP counts at most 100 detections of a class in an image; 300 were counted, so a crowd of 150
    people all found scored 1.0 here and 0.67 in pycocotools (on VOC val the two differ by 2e-5)."""
    from detector.metrics import compute_map

    corners = np.array([(x, y) for x in range(0, 300, 20) for y in range(0, 200, 20)], np.float64)  # 150 boxes
    boxes = np.concatenate([corners, corners + 15], axis=1)
    labels = np.zeros(len(boxes), np.int64)
    scores = np.linspace(0.9, 0.5, len(boxes))
    result = compute_map([(boxes, labels)], [(boxes, scores, labels)], ["person"])
    assert result.map50 == pytest.approx(100 / 150, abs=0.01)
