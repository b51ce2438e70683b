"""A user who clicks everything, fast: 150 random actions on the real window, from a fixed seed.

Opening good, broken, missing and recent sources, closing them, dropping a clip or a dead stream
link, switching models mid-load, pausing, seeking, moving and double-clicking the sliders, the class
filter, the mirror and the info panel, recording on and off (with and without a detections file),
snapshots and fullscreen, with pauses from none to 0.4 s between them.
Afterwards the window still plays and records a video, every recording plays with exactly the frames
it reports, no two share a file, and every snapshot opens. Any exception in a Qt slot fails the test
(pytest-qt). ``LIVEDET_RANDOM_SEED`` and ``LIVEDET_RANDOM_STEPS`` replay or lengthen a run.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import cv2
import numpy as np

from ..videos import read_back
from .test_main_window import FLOW_TIMEOUT_MS, _drop_onto, _shipped_model, _wait_for_frames


def test_random_use_loses_no_recording_and_leaves_the_window_working(qtbot, launch, vtest_path, tmp_path,
                                                                     random_models_dir):
    rng = random.Random(int(os.environ.get("LIVEDET_RANDOM_SEED", "3")))
    steps = int(os.environ.get("LIVEDET_RANDOM_STEPS", "150"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(rng.randbytes(32 * 1024))
    short = tmp_path / "short clip.mp4"
    writer = cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 240))
    for i in range(30):
        writer.write(np.full((240, 320, 3), i * 8, np.uint8))
    writer.release()

    window = launch(source=str(vtest_path), model=_shipped_model(), fast=True)
    _wait_for_frames(qtbot, window, 3)
    started, summaries, snapshots = [], [], []
    window.controller.recording_started.connect(started.append)
    window.controller.recording_finished.connect(summaries.append)
    window.controller.message.connect(
        lambda text: snapshots.append(Path(text.removeprefix("Snapshot saved to ")))
        if text.startswith("Snapshot saved to ") else None)
    from PySide6.QtCore import QMimeData, Qt, QUrl

    def drop(url: QUrl) -> None:
        mime = QMimeData()
        mime.setUrls([url])
        _drop_onto(window, mime)

    models = [_shipped_model(), str(random_models_dir / "test-small.safetensors"),
              str(random_models_dir / "test-large.safetensors")]
    actions = {
        "open the street video": lambda: window.open_source(str(vtest_path)),
        "open a short clip": lambda: window.open_source(str(short)),
        "open a broken file": lambda: window.open_source(str(broken)),
        "open a missing camera": lambda: window.open_source("7"),
        "close the source": window.close_source_action.trigger,
        "open recent": lambda: rng.choice([a for a in window.recent_menu.actions() if a.text()]).trigger(),
        "pick a model": lambda: window.model_picker.choose(rng.choice(models)),
        "pause / play": window.pause_action.trigger,
        "record / stop": window.record_action.trigger,
        "snapshot": window.snapshot_action.trigger,
        "seek": lambda: window.playback.seek_slider.setValue(rng.randrange(0, 800)),
        "confidence": lambda: window.thresholds.conf_slider.setValue(rng.randrange(1, 100)),
        "IoU": lambda: window.thresholds.iou_slider.setValue(rng.randrange(1, 100)),
        "double-click a slider": lambda: qtbot.mouseDClick(
            rng.choice([window.thresholds.conf_slider, window.thresholds.iou_slider]), Qt.MouseButton.LeftButton),
        "drop a clip or a link": lambda: drop(rng.choice([QUrl.fromLocalFile(str(short)),
                                                          QUrl("rtsp://127.0.0.1:9/live")])),
        "show classes": lambda: rng.choice(window.classes_menu.actions()).trigger(),
        "input size": lambda: rng.choice(window.input_size_menu.actions()).trigger(),
        "loop": window.playback.loop_box.click,
        "max speed": window.playback.fast_box.click,
        "fullscreen": window.fullscreen_action.trigger,
        "mirror": window.mirror_action.trigger,
        "info panel": window.info_panel_action.trigger,
        "detections file": lambda: window.detection_format_actions[rng.choice(["", "jsonl", "csv"])].trigger(),
    }
    done = []
    for _ in range(steps):
        name = rng.choice(list(actions))
        done.append(name)
        actions[name]()
        qtbot.wait(rng.choice([0, 5, 20, 50, 150, 400]))

    if window.controller.recording:
        window.record_action.trigger()
    qtbot.waitUntil(lambda: len(summaries) == len(started), timeout=30_000)  # every recording finalised
    window.open_source(str(vtest_path))
    if window.controller.paused:
        window.pause_action.trigger()
    _wait_for_frames(qtbot, window, 5, timeout=FLOW_TIMEOUT_MS)  # the window still plays
    with qtbot.waitSignal(window.controller.recording_finished, timeout=30_000):  # and still records
        window.record_action.trigger()
        _wait_for_frames(qtbot, window, 5, timeout=FLOW_TIMEOUT_MS)
        window.record_action.trigger()

    recorded = [s for s in summaries if s.frames_written]
    assert recorded and recorded[-1] is summaries[-1], f"the last recording failed: {done}"
    assert len({s.video_path for s in recorded}) == len(recorded), [s.video_path for s in recorded]
    for summary in recorded:
        assert read_back(summary.video_path).frames == summary.frames_written, summary
        log = summary.detections_path
        if log is not None and log.suffix == ".jsonl":  # one line per recorded frame (files never repeat one)
            assert len(log.read_text().splitlines()) == summary.frames_written, summary
        elif log is not None:
            rows = log.read_text(encoding="utf-8-sig").splitlines()
            assert rows[0].startswith("frame,source_frame") and all(
                int(row.split(",")[0]) < summary.frames_written for row in rows[1:]), summary
    for path in snapshots:
        assert cv2.imread(str(path)) is not None, path
