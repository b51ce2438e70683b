"""Predictor: any frame a camera or file can deliver goes in, frame-pixel detections come out."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from detector import Predictor, class_ids_named, detections_from_candidates, load_model, resolve_classes
from detector.errors import LiveDetError, SourceError

LOW_CONF = 0.005  # untrained heads score about 0.01, so this keeps plenty of boxes to check

ODD_FRAMES = {
    "1x1": (1, 1, 3),
    "37x101": (37, 101, 3),
    "577x769": (577, 769, 3),
    "tall 769x577": (769, 577, 3),
    "grey 2-D": (120, 200),
    "grey 1-channel": (120, 200, 1),
    "BGRA": (150, 90, 4),
}


@pytest.fixture(scope="module", params=["test-small", "test-large"])
def predictor(request, random_models_dir):
    return Predictor(load_model(request.param, models_dir=random_models_dir), device="cpu")


def random_frame(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("name", list(ODD_FRAMES))
def test_any_frame_size_gives_boxes_inside_the_frame(predictor, name):
    shape = ODD_FRAMES[name]
    prediction = predictor.predict(random_frame(shape), conf=LOW_CONF, max_det=100)
    det = prediction.detections
    h, w = shape[:2]
    if h * w == 1:  # one pixel is one colour: a picture with nothing in it gets no boxes (test_featureless.py)
        assert len(det) == 0
        return
    assert 0 < len(det) <= 100
    assert det.boxes.shape == (len(det), 4) and det.scores.shape == (len(det),)
    assert det.boxes.dtype == np.float32 and det.class_ids.dtype == np.int64
    assert np.all(det.boxes[:, [0, 2]] >= 0) and np.all(det.boxes[:, [0, 2]] <= w)
    assert np.all(det.boxes[:, [1, 3]] >= 0) and np.all(det.boxes[:, [1, 3]] <= h)
    assert np.all(det.boxes[:, 2] >= det.boxes[:, 0]) and np.all(det.boxes[:, 3] >= det.boxes[:, 1])
    assert np.all(det.scores >= LOW_CONF) and np.all(det.scores <= 1)
    assert np.all(np.diff(det.scores) <= 0), "best detection first"
    assert set(det.class_ids.tolist()) <= set(range(len(predictor.class_names)))
    assert det.labels[0] in predictor.class_names
    assert prediction.timings.infer_ms > 0 and prediction.timings.total_ms >= prediction.timings.infer_ms


def test_records_are_json_ready(predictor):
    import json

    det = predictor.predict(random_frame((240, 320, 3)), conf=LOW_CONF, max_det=5).detections
    records = json.loads(json.dumps(det.to_records()))
    assert len(records) == len(det) == 5
    assert set(records[0]) == {"box", "score", "class_id", "label"} and len(records[0]["box"]) == 4


def test_batch_gives_the_same_detections_as_one_by_one(predictor):
    frames = [random_frame((240, 320, 3), seed=i) for i in range(3)]
    batch = predictor.predict_batch(frames, conf=LOW_CONF)
    for frame, together in zip(frames, batch):
        alone = predictor.predict(frame, conf=LOW_CONF).detections
        assert len(alone) == len(together.detections)
        np.testing.assert_allclose(alone.boxes, together.detections.boxes, atol=1e-3)
        np.testing.assert_allclose(alone.scores, together.detections.scores, atol=1e-5)
    assert predictor.predict_batch([]) == []  # the end of a folder or stream may leave an empty batch


def test_mixed_sizes_in_one_batch(predictor):
    frames = [random_frame((240, 320, 3)), random_frame((100, 50, 3))]
    results = predictor.predict_batch(frames, conf=LOW_CONF)
    assert len(results) == 2
    assert results[1].detections.boxes[:, 2].max() <= 50 and results[1].detections.boxes[:, 3].max() <= 100


def test_thresholds_reapplied_to_candidates_match_a_fresh_run(predictor):
    frame = random_frame((300, 400, 3))
    first = predictor.predict(frame, conf=LOW_CONF, keep_candidates=True)
    assert first.candidates is not None and len(first.candidates) >= len(first.detections)
    again = detections_from_candidates(first.candidates, conf=LOW_CONF)
    np.testing.assert_allclose(again.boxes, first.detections.boxes, atol=1e-4)
    stricter_conf = float(np.median(first.detections.scores))
    stricter = detections_from_candidates(first.candidates, conf=stricter_conf, iou=0.3)
    fresh = predictor.predict(frame, conf=stricter_conf, iou=0.3).detections
    assert 0 < len(stricter) < len(first.detections)
    np.testing.assert_allclose(stricter.scores, fresh.scores, atol=1e-6)


def test_a_class_filter_keeps_exactly_those_classes_and_can_be_changed_without_the_network(predictor):
    frame = random_frame((300, 400, 3), seed=3)
    everything = predictor.predict(frame, conf=LOW_CONF, max_det=10_000, keep_candidates=True)
    common = np.bincount(everything.detections.class_ids).argsort()[-2:]  # the two most frequent classes
    keep = frozenset(int(c) for c in common)
    only = predictor.predict(frame, conf=LOW_CONF, max_det=10_000, classes=keep).detections
    assert set(only.class_ids.tolist()) == keep
    mask = np.isin(everything.detections.class_ids, list(keep))  # per-class NMS: the same boxes as unfiltered
    np.testing.assert_allclose(only.boxes, everything.detections.boxes[mask], atol=1e-4)
    later = detections_from_candidates(everything.candidates, conf=LOW_CONF, max_det=10_000, classes=keep)
    np.testing.assert_allclose(later.boxes, only.boxes, atol=1e-4)


def test_the_re_thresholding_helper_takes_classes_as_predict_does_and_refuses_a_conf_below_what_was_kept(predictor):
    """It read "14" as classes 1 and 4, failed on "person" with int()'s message, kept nothing for [20] or an empty
    set without a word, and at a conf under the kept floor quietly found a third of the boxes."""
    frame = random_frame((300, 400, 3), seed=5)
    first = predictor.predict(frame, conf=LOW_CONF, max_det=10_000, keep_candidates=True)
    counts = np.bincount(first.detections.class_ids, minlength=len(predictor.class_names))
    common = 10 + int(counts[10:].argmax())  # two digits: one string read as its characters is two other classes
    assert counts[common] > 0
    name = predictor.class_names[common]
    for classes in (str(common), name, [name.upper()], [common]):
        again = detections_from_candidates(first.candidates, conf=LOW_CONF, max_det=10_000, classes=classes)
        direct = predictor.predict(frame, conf=LOW_CONF, max_det=10_000, classes=classes).detections
        assert len(again) > 0 and set(again.class_ids.tolist()) == {common} and again == direct
    with pytest.raises(LiveDetError, match=r"class index 20 is out of range"):
        detections_from_candidates(first.candidates, classes=[20])
    with pytest.raises(LiveDetError, match="names no class"):
        detections_from_candidates(first.candidates, classes=set())
    with pytest.raises(LiveDetError, match=r"conf 0\.005 is under 0\.01, the lowest score these candidates were kept "
                                           r"down to: predict the frame again with conf=0\.005"):
        detections_from_candidates(predictor.predict(frame, conf=0.3, keep_candidates=True).candidates, conf=LOW_CONF)


def test_results_compare_by_their_boxes(predictor):
    """``==`` on two results raised "the truth value of an array ... is ambiguous"."""
    frame = random_frame((240, 320, 3), seed=6)
    a, b = (predictor.predict(frame, conf=LOW_CONF, keep_candidates=True) for _ in range(2))
    assert a.detections == b.detections and a.candidates == b.candidates
    assert a.detections != predictor.predict(frame, conf=0.5).detections


def test_class_names_typed_by_people_resolve_to_indices():
    names = ("aeroplane", "diningtable", "person", "pottedplant")
    assert resolve_classes(["Person", " dining table", "3"], names) == {2, 1, 3}
    accented = ("Ünïcødé 标志", "car")  # typed on a Mac: the accents as separate marks (it was "unknown class")
    assert resolve_classes([unicodedata.normalize("NFD", "ünïcødé 标志")], accented) == {0}
    assert resolve_classes(["m2"], ("m²", "m2")) == {1}  # two classes, not one spelt two ways
    with pytest.raises(LiveDetError, match=r"unknown class 'persn' \(did you mean 'person'\?\); the model knows: aeroplane"):
        resolve_classes(["persn"], names)
    with pytest.raises(LiveDetError, match=r"class index 4 is out of range: the model has 4 classes \(0-3\)"):
        resolve_classes(["4"], names)
    with pytest.raises(LiveDetError, match="names no class"):
        resolve_classes(["", " "], names)
    with pytest.raises(LiveDetError, match=r"'all' \(every class\) goes alone"):
        resolve_classes(["person", "all"], names)
    with pytest.raises(LiveDetError, match="unknown class '²'"):  # a digit to isdigit(), not to int()
        resolve_classes(["²"], names)
    assert resolve_classes("3", names) == {3} and resolve_classes("person", names) == {2}  # one string: one class
    assert class_ids_named("person", names) == {2}  # not the letters p, e, r, ... (no filter at all)
    assert class_ids_named({"person", "car"}, names) == {2}
    assert class_ids_named({"car"}, names) is None  # a filter this model cannot meet shows everything
    assert class_ids_named(None, names) is None


def test_conf_and_max_det_limit_the_output(predictor):
    frame = random_frame((240, 320, 3))
    many = predictor.predict(frame, conf=LOW_CONF, max_det=300).detections
    few = predictor.predict(frame, conf=LOW_CONF, max_det=3).detections
    none = predictor.predict(frame, conf=0.99).detections
    assert len(few) == 3 and len(many) > 3 and len(none) == 0
    np.testing.assert_allclose(few.scores, many.scores[:3])


def test_out_of_range_thresholds_and_class_filters_are_refused_in_plain_words(predictor):
    """The CLI refused them; the API quietly misbehaved: max_det=-1 dropped the best box, iou=-0.1 was an OpenCV
    assertion, classes="14" kept the classes 1 and 4, and classes=[99] showed nothing on a 20-class model."""
    frame = random_frame((240, 320, 3))
    everything = predictor.predict(frame, conf=LOW_CONF, max_det=10_000, keep_candidates=True)
    for bad, said in ((dict(max_det=-1), "max_det must be a positive whole number, got -1"),
                      (dict(max_det=2.5), "max_det must be a positive whole number, got 2.5"),
                      (dict(iou=-0.1), "iou must be between 0 and 1, got -0.1"),
                      (dict(iou=1.5), "iou must be between 0 and 1, got 1.5"),
                      (dict(conf=-1), "conf must be between 0 and 1, got -1")):
        with pytest.raises(ValueError, match=said):
            predictor.predict(frame, **bad)
        with pytest.raises(ValueError, match=said):
            detections_from_candidates(everything.candidates, **bad)
    n = len(predictor.class_names)
    with pytest.raises(LiveDetError, match=rf"class index {n + 79} is out of range: the model has {n} classes"):
        predictor.predict(frame, classes=[n + 79])
    first = predictor.class_names[0]
    by_name = predictor.predict(frame, conf=LOW_CONF, classes=first).detections  # one name, not its letters
    assert len(by_name) and set(by_name.class_ids.tolist()) == {0}
    by_index = predictor.predict(frame, conf=LOW_CONF, classes=[0]).detections
    np.testing.assert_array_equal(by_name.boxes, by_index.boxes)
    once = predictor.predict(frame, conf=LOW_CONF, classes=(i for i in [0])).detections  # a generator, read once
    np.testing.assert_array_equal(once.boxes, by_index.boxes)
    assert len(predictor.predict(frame, conf=np.array(LOW_CONF), classes=[0]).detections) == len(by_index)
    for odd in (True, "0.5"):
        with pytest.raises(ValueError, match=f"conf must be a number between 0 and 1, got {odd!r}"):
            predictor.predict(frame, conf=odd)
    with pytest.raises(LiveDetError, match="unknown class 'no such thing'"):
        predictor.predict(frame, classes=["no such thing"])
    for empty in ([], set(), (i for i in [])):  # kept nothing without a word
        with pytest.raises(LiveDetError, match="classes names no class: give class names or indices, or None"):
            predictor.predict(frame, classes=empty)


def test_a_batch_may_be_one_array_and_a_channels_first_frame_is_named_as_such(predictor):
    frames = np.stack([random_frame((120, 160, 3), seed=i) for i in range(2)])
    batch = predictor.predict_batch(frames, conf=LOW_CONF)
    one_by_one = [predictor.predict(f, conf=LOW_CONF) for f in frames]
    for a, b in zip(batch, one_by_one):
        np.testing.assert_allclose(a.detections.boxes, b.detections.boxes, atol=1e-3)
    with pytest.raises(SourceError, match=r"looks channels-first \(C, H, W\)"):
        predictor.predict(np.zeros((3, 480, 640), np.uint8))
    with pytest.raises(ValueError, match=r"use predict\(\) for one frame"):  # its 120 rows were 120 frames
        predictor.predict_batch(frames[0])


def test_bad_imgsz_and_bad_frames_are_refused(random_models_dir):
    model = load_model("test-small", models_dir=random_models_dir)
    with pytest.raises(ValueError):
        Predictor(model, device="cpu", imgsz=300, warmup=False)
    for not_whole in (320.5, "320"):  # both ran at 320 without a word
        with pytest.raises(ValueError, match="imgsz must be a whole number of pixels"):
            Predictor(model, device="cpu", imgsz=not_whole, warmup=False)
    predictor = Predictor(model, device="cpu", imgsz=160, warmup=False)
    with pytest.raises(SourceError):
        predictor.predict(np.zeros((0, 10, 3), np.uint8))


def test_torch_backend_on_cpu_agrees_with_onnxruntime(random_models_dir):
    from detector.preprocess import letterbox, letterbox_meta, to_input_array

    model = load_model("test-small", models_dir=random_models_dir)
    ort = Predictor(model, device="cpu", backend="onnxruntime", imgsz=256)
    eager = Predictor(model, device="cpu", backend="torch", imgsz=256)
    assert (ort.backend, eager.backend) == ("onnxruntime", "torch")
    frame = random_frame((480, 640, 3))
    images = to_input_array(letterbox(frame, letterbox_meta(frame.shape[:2], 256)))
    # raw decoded outputs, anchor by anchor: after NMS, near-equal scores may swap places
    (ort_boxes, ort_scores), (eager_boxes, eager_scores) = ort.engine(images), eager.engine(images)
    assert ort_boxes.shape == eager_boxes.shape and ort_scores.shape == eager_scores.shape
    assert float(np.abs(ort_boxes - eager_boxes).max()) < 1e-2
    assert float(np.abs(ort_scores - eager_scores).max()) < 1e-4
