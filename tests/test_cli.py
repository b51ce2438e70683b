"""The command line: its JSON last line, its outputs, and one clean error line for every mistake."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from detector.cli import main

from .not_videos import write_notes, write_song_with_cover, write_sound_only
from .photos import save_as_phone_photo
from .videos import box_positions, read_back, write_moving_box_video, write_variable_rate_video

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def models_env(random_models_dir, monkeypatch):
    monkeypatch.setenv("LIVEDET_MODELS_DIR", str(random_models_dir))
    return random_models_dir


def run(capsys, *argv: str) -> tuple[int, dict, str]:
    """Run the CLI in-process; return exit code, the JSON last line of stdout, and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines, f"no stdout for {argv}; stderr: {err}"
    return code, json.loads(lines[-1]), err


def run_ok(capsys, *argv: str) -> tuple[dict, str]:
    code, summary, err = run(capsys, *argv)
    assert code == 0, err
    assert "error" not in summary
    return summary, err


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, vtest_path):
    """Three video frames saved as images, one under a non-ASCII name."""
    folder = tmp_path_factory.mktemp("images")
    capture = cv2.VideoCapture(str(vtest_path))
    for name in ("a.jpg", "straße.png", "c.jpg"):
        for _ in range(40):
            ok, frame = capture.read()
        ok, data = cv2.imencode(Path(name).suffix, frame)
        data.tofile(str(folder / name))
    capture.release()
    return folder


def video_facts(path: Path) -> tuple[int, int, int]:
    """(frames actually decodable, width, height), read back with OpenCV."""
    video = read_back(path)
    return video.frames, video.width, video.height


# -- the commands -------------------------------------------------------------------------------------
def test_info_lists_models_device_and_versions(capsys, models_env):
    summary, err = run_ok(capsys, "info")
    assert summary["command"] == "info"
    assert [m["name"] for m in summary["models"]] == ["test-large", "test-small"]
    assert all(m["weights_available"] for m in summary["models"])
    assert summary["device"]["default"] in ("cpu", "cuda", "mps")
    assert summary["versions"]["torch"] == torch.__version__
    assert "test-small" in err  # the human table goes to stderr


def test_info_calls_weights_that_fail_their_checksum_damaged_not_ready(capsys, random_models_dir, tmp_path,
                                                                         monkeypatch):
    """`info` listed them as ready, and `predict` then refused them ("sha256 checksum does not match")."""
    import re

    copy = tmp_path / "models"
    shutil.copytree(random_models_dir, copy)
    with open(copy / "test-small.safetensors", "r+b") as weights:
        weights.seek(-4, os.SEEK_END)
        weights.write(b"\x00\x01\x02\x03")
    monkeypatch.setenv("LIVEDET_MODELS_DIR", str(copy))
    summary, err = run_ok(capsys, "info")
    assert {m["name"]: m["state"] for m in summary["models"]} == {"test-large": "ready", "test-small": "damaged"}
    assert re.search(r"test-small .* damaged", err), err


def test_info_says_when_the_models_folder_is_not_there(capsys, tmp_path, monkeypatch):
    """`info` is where a person looks when no model is found; "(none)" did not say the folder was missing."""
    monkeypatch.setenv("LIVEDET_MODELS_DIR", str(tmp_path / "moved"))
    summary, err = run_ok(capsys, "info")
    said = f"models folder not found: {tmp_path / 'moved'} (set by $LIVEDET_MODELS_DIR)"
    assert summary["models"] == [] and summary["manifest_problems"] == [said]
    assert f"(none: {said})" in err


def test_an_install_without_its_assets_says_how_to_install_with_them(capsys, tmp_path, monkeypatch):
    """`pip install .` copies the code but not assets/: the app and CLI said only "models folder not found"."""
    from detector import zoo

    monkeypatch.delenv("LIVEDET_MODELS_DIR")
    monkeypatch.setattr(zoo, "__file__", str(tmp_path / "lib" / "python3.11" / "site-packages" / "detector" / "zoo.py"))
    summary, err = run_ok(capsys, "info")
    assert summary["models"] == [] and "install it from a checkout with pip install -e ." in err, err


def test_python_m_detector_runs_as_a_program(models_env):
    result = subprocess.run([sys.executable, "-m", "detector", "info"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "LIVEDET_MODELS_DIR": str(models_env)})
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["command"] == "info" and len(summary["models"]) == 2


def test_killed_mid_video_the_detections_log_is_never_behind_the_video(vtest_path, tmp_path, models_env):
    """kill -9 (or a crash) mid-run: the MP4 keeps its whole fragments, and the JSONL must hold at least the
    frames the video holds; a full write buffer used to hold seconds of short lines back."""
    import signal
    import time

    output, jsonl = tmp_path / "annotated.mp4", tmp_path / "dets.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "detector", "predict", "--model", "test-small", "--source", str(vtest_path),
         "--imgsz", "160", "--conf", "0.99", "--output", str(output), "--jsonl", str(jsonl)],
        cwd=REPO_ROOT, env={**os.environ, "LIVEDET_MODELS_DIR": str(models_env)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not output.exists() or output.stat().st_size < 2_000_000):
            time.sleep(0.05)  # a few seconds of video on disk, most of the file still to come
        assert process.poll() is None, "predict ended before it could be killed"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    frames = read_back(output).frames
    lines = jsonl.read_text().splitlines()
    assert 10 <= frames < 795 and len(lines) >= frames, (frames, len(lines))
    assert [json.loads(line)["frame"] for line in lines] == list(range(len(lines)))


def test_predict_on_the_sample_video_writes_a_playable_copy(capsys, vtest_path, tmp_path):
    output, jsonl = tmp_path / "annotated.mp4", tmp_path / "dets.jsonl"
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(vtest_path), "--imgsz", "160",
                        "--output", str(output), "--jsonl", str(jsonl), "--conf", "0.009", "--max-det", "5")
    source_frames, source_w, source_h = video_facts(vtest_path)
    assert (source_frames, source_w, source_h) == (795, 768, 576)
    assert video_facts(Path(summary["output"])) == (795, 768, 576)
    assert summary["frames"] == 795 and summary["fps"] > 0
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(795))
    assert summary["detections"] == sum(len(r["detections"]) for r in records) > 0
    assert records[0]["source"] == "vtest.avi:0"


def test_predict_folder_to_annotated_folder(capsys, image_folder, tmp_path):
    out_dir, jsonl = tmp_path / "annotated", tmp_path / "d.jsonl"
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(image_folder),
                        "--output", str(out_dir), "--jsonl", str(jsonl), "--conf", "0.005", "--max-det", "20")
    assert summary["frames"] == 3 and summary["source_kind"] == "images"
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in image_folder.iterdir())
    original = cv2.imdecode(np.fromfile(str(image_folder / "straße.png"), np.uint8), cv2.IMREAD_COLOR)
    drawn = cv2.imdecode(np.fromfile(str(out_dir / "straße.png"), np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape == original.shape and np.any(drawn != original)  # boxes were drawn on it
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [r["source"] for r in records] == sorted(p.name for p in image_folder.iterdir())
    assert all(len(r["detections"]) == 20 for r in records) and summary["detections"] == 60


def test_a_folder_whose_frame_sizes_outrun_torch_compile_is_told_so_at_the_end(capsys, tmp_path, monkeypatch):
    """--compile (CUDA only) compiles each frame size; past torch.compile's limit the sizes run uncompiled.
    That is found mid-run, after the start's warnings: the end of the run must still say it. (The compile
    is a stand-in that hits the limit on the second size; the fast path runs on the CPU as on CUDA.)"""
    import torch._dynamo.exc

    from detector import Predictor, load_model
    from detector import cli as cli_module
    from detector.fastpath import FastPath

    def compile_to_the_limit(step, **options):
        compile_to_the_limit.calls += 1
        if compile_to_the_limit.calls == 1:
            return step

        def past_the_limit(frames):
            raise torch._dynamo.exc.FailOnRecompileLimitHit("Hard failure due to fail_on_recompile_limit_hit")
        return past_the_limit

    compile_to_the_limit.calls = 0

    def staged_predictor(args, warmup=True):
        predictor = Predictor(load_model("test-small"), device="cpu", backend="torch", warmup=False)
        predictor.fast_path = FastPath(predictor.engine.forward, predictor.engine.torch_device, use_graph=False,
                                       compile=True)
        return predictor

    monkeypatch.setattr(torch, "compile", compile_to_the_limit)
    monkeypatch.setattr(cli_module, "_make_predictor", staged_predictor)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, size in [("a.png", (60, 80)), ("b.png", (80, 60)), ("c.png", (50, 90))]:
        cv2.imwrite(str(folder / name), np.random.default_rng(size[0]).integers(0, 255, (*size, 3), np.uint8))
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--source", str(folder),
                          "--output", str(tmp_path / "out"), "--conf", "0.005")
    assert summary["frames"] == 3 and summary["detections"] > 0
    said = "torch.compile keeps at most 8 frame sizes in one process"
    assert summary["fast_path_problems"]["compile"].startswith(said)
    assert err.count(said) == 1


def test_predict_folder_skips_unreadable_images_and_annotates_every_other_kind(capsys, image_folder, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    photo = cv2.imread(str(image_folder / "a.jpg"))
    (folder / "0-damaged.jpg").write_bytes(b"\xff\xd8 not really a jpeg")  # first in order: sizes nothing
    cv2.imwrite(str(folder / "1-deep.png"), photo.astype(np.uint16) * 257)  # 16-bit, as scanners write
    cv2.imwrite(str(folder / "2-gray.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "3-alpha.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA))
    (folder / "4-truncated.jpg").write_bytes((image_folder / "c.jpg").read_bytes()[:200])
    cv2.imwrite(str(folder / "5-photo.jpg"), photo)
    (folder / "holiday").mkdir()  # an album inside, and a clip: not read, and said so (they were left out silently)
    cv2.imwrite(str(folder / "holiday" / "6-beach.jpg"), photo)
    (folder / "clip.mp4").write_bytes(b"")
    out_dir, jsonl = tmp_path / "annotated", tmp_path / "d.jsonl"

    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--source", str(folder), "--output", str(out_dir),
                          "--jsonl", str(jsonl), "--conf", "0.005", "--max-det", "5")

    assert summary["skipped"] == ["0-damaged.jpg", "4-truncated.jpg"]
    assert "0-damaged.jpg" in err and "4-truncated.jpg" in err and "2 of the 6 images" in err
    assert "warning: mixed also holds 1 video (clip.mp4) and 1 sub-folder (holiday), which are not read" in err
    readable = ["1-deep.png", "2-gray.png", "3-alpha.png", "5-photo.jpg"]
    assert summary["frames"] == 4 and summary["detections"] == 20
    assert sorted(p.name for p in out_dir.iterdir()) == readable
    for name in readable:
        drawn = cv2.imread(str(out_dir / name), cv2.IMREAD_UNCHANGED)
        assert drawn.shape == photo.shape and drawn.dtype == np.uint8, name  # colour boxes on an 8-bit BGR copy
    assert [json.loads(line)["source"] for line in jsonl.read_text().splitlines()] == readable


def test_predict_folder_to_video_and_one_image_to_one_file(capsys, image_folder, tmp_path):
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(image_folder),
                        "--output", str(tmp_path / "slideshow.avi"))
    assert video_facts(Path(summary["output"])) == (3, 768, 576)
    single = tmp_path / "one.jpg"
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--source", str(image_folder / "a.jpg"),
                          "--output", str(single))
    assert summary["frames"] == 1 and cv2.imread(str(single)).shape == (576, 768, 3)
    assert "\n1 frame in " in err, err  # not "1 frames"


def test_predict_shows_a_phone_photo_upright_as_viewers_do(capsys, tmp_path):
    upright = np.full((320, 240, 3), 30, np.uint8)  # portrait: bright top half, dark bottom half
    upright[:160] = 220
    save_as_phone_photo(tmp_path / "portrait.jpg", upright)
    jsonl = tmp_path / "d.jsonl"
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(tmp_path / "portrait.jpg"),
                        "--output", str(tmp_path / "out.png"), "--jsonl", str(jsonl), "--conf", "0.3")
    drawn = cv2.imread(str(tmp_path / "out.png"))
    assert drawn.shape == (320, 240, 3)  # not 240 x 320, lying on its side
    assert np.median(drawn[:140]) > 200 and np.median(drawn[180:]) < 50
    for line in jsonl.read_text().splitlines():
        for detection in json.loads(line)["detections"]:
            x1, y1, x2, y2 = detection["box"]
            assert 0 <= x1 <= x2 <= 240 and 0 <= y1 <= y2 <= 320


HEIC_PORTRAIT = Path(__file__).parent / "assets" / "portrait.heic"
# A 160 x 240 portrait made as an iPhone stores one: HEVC pixels a quarter turn off plus a rotation for viewers.
# Written with pillow-heif (which has an encoder; pi-heif, LiveDet's dependency, only decodes): bright top half
# with a red top-left corner, dark bottom half.


def _is_the_heic_portrait(image: np.ndarray) -> bool:
    """Upright (portrait), bright over dark, with the red corner top left: turned the right way, and intact."""
    blue, green, red = image[20:40, 10:30].reshape(-1, 3).mean(axis=0)
    return (image.shape == (240, 160, 3) and np.median(image[70:110]) > 200 and np.median(image[130:]) < 50
            and red > 200 and blue < 60 and green < 60)


def test_iphone_heic_photos_are_read_upright_and_saved_annotated_as_jpeg(capsys, tmp_path):
    folder = tmp_path / "camera roll"
    folder.mkdir()
    shutil.copy(HEIC_PORTRAIT, folder / "IMG_0001.HEIC")
    cv2.imwrite(str(folder / "IMG_0001.jpg"), np.full((120, 160, 3), 90, np.uint8))  # the same name as a JPEG
    (folder / "IMG_0002.heic").write_bytes(HEIC_PORTRAIT.read_bytes()[:700])  # cut off mid-transfer
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--source", str(folder), "--conf", "0.99",
                          "--output", str(tmp_path / "annotated"))
    assert summary["frames"] == 2 and summary["skipped"] == ["IMG_0002.heic"] and "IMG_0002.heic" in err
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == ["IMG_0001.HEIC.jpg", "IMG_0001.jpg"]
    assert _is_the_heic_portrait(cv2.imread(str(tmp_path / "annotated" / "IMG_0001.HEIC.jpg")))
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(HEIC_PORTRAIT),
                        "--output", str(tmp_path / "one.png"))
    assert summary["source_kind"] == "images" and cv2.imread(str(tmp_path / "one.png")).shape == (240, 160, 3)
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(HEIC_PORTRAIT),
                       "--output", str(tmp_path / "out.heic"))
    assert code == 2 and "HEIC is read, not written; name a .jpg or .png file instead" in err


@pytest.mark.parametrize("name", ["one.gif", "boxes.json", "out.avif"])
def test_an_image_output_in_a_format_not_written_is_refused_not_made_a_folder(capsys, tmp_path, name):
    """--output one.gif for a photo or a folder of photos made a folder named one.gif and said '-> one.gif'."""
    photo = tmp_path / "in" / "photo.png"
    photo.parent.mkdir()
    cv2.imwrite(str(photo), np.full((64, 96, 3), 90, np.uint8))
    for source in (photo, photo.parent):
        code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(source),
                           "--output", str(tmp_path / name))
        assert code == 2 and f"--output {name}: {Path(name).suffix[1:].upper()} is not written" in err
        assert not (tmp_path / name).exists()
    (tmp_path / "kept.gif").mkdir()  # a folder that is there already is a folder, whatever its name
    run_ok(capsys, "predict", "--model", "test-small", "--source", str(photo.parent), "--output", str(tmp_path / "kept.gif"))
    assert (tmp_path / "kept.gif" / "photo.png").is_file()


def test_a_mistyped_image_suffix_is_asked_about_not_made_a_folder(capsys, tmp_path):
    """--output res.jpgg made a folder named res.jpgg holding the annotated photo, and said '-> res.jpgg'."""
    photo = tmp_path / "in" / "photo.png"
    photo.parent.mkdir()
    cv2.imwrite(str(photo), np.full((64, 96, 3), 90, np.uint8))
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(photo),
                       "--output", str(tmp_path / "res.jpgg"))
    assert code == 2 and "--output res.jpgg: did you mean res.jpg?" in err and not (tmp_path / "res.jpgg").exists()
    for typed, meant in (("res.jepg", "res.jpeg"), ("res.pnng", "res.png")):  # a letter struck twice, two swapped
        code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(photo),
                           "--output", str(tmp_path / typed))
        assert code == 2 and f"did you mean {meant}?" in err
    for folder in ("shots.pngs", "run.v2", "cam.mjpg"):  # named so on purpose: folders, as before
        run_ok(capsys, "predict", "--model", "test-small", "--source", str(photo.parent),
               "--output", str(tmp_path / folder))
        assert (tmp_path / folder / "photo.png").is_file()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX only")
def test_a_pipe_as_the_source_is_refused_at_once(capsys, tmp_path):
    """`cat x.avi | predict --source /dev/stdin` lost frames (each opening read some), and a named pipe with
    no writer waited for ever, printing nothing."""
    os.mkfifo(tmp_path / "feed.avi")
    code, summary, err = run(capsys, "predict", "--model", "test-small", "--source", str(tmp_path / "feed.avi"))
    assert code == 2 and "feed.avi is a pipe" in summary["error"] and "save it to a file" in summary["error"]


def test_a_video_the_user_may_not_read_is_not_called_damaged(vtest_path, tmp_path, monkeypatch):
    """Without read permission it said "not a video LiveDet can play (damaged, or in a format it cannot
    decode)": a user may delete a good file for that. (Root reads everything, so the refusal is simulated.)"""
    from detector.errors import SourceError
    from detector.video import open_capture

    locked = tmp_path / "locked.avi"
    shutil.copyfile(vtest_path, locked)
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(SourceError, match="^cannot read locked.avi: permission denied$"):
        open_capture(str(locked))


def test_a_photo_saved_without_a_suffix_is_a_photo(capsys, tmp_path):
    """It was taken for a video of one frame: --output x.jpg was refused as 'must be a video file'."""
    photo = tmp_path / "download"
    ok, data = cv2.imencode(".jpg", np.full((60, 80, 3), 120, np.uint8))
    photo.write_bytes(data.tobytes())
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(photo),
                        "--output", str(tmp_path / "annotated.jpg"))
    assert summary["source_kind"] == "images" and summary["frames"] == 1
    assert cv2.imread(str(tmp_path / "annotated.jpg")).shape == (60, 80, 3)

    # a raw MJPEG stream without a suffix (an IP camera's dump) starts with the same bytes: it is a video
    clip = tmp_path / "camera-dump"
    clip.write_bytes(b"".join(cv2.imencode(".jpg", np.full((60, 80, 3), 12 * i, np.uint8))[1].tobytes()
                              for i in range(12)))
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(clip),
                        "--output", str(tmp_path / "annotated.mp4"))
    assert summary["source_kind"] == "video" and summary["frames"] == 12


def test_a_heic_photo_stays_intact_once_read():
    """pi-heif's buffer is freed with its file object: a picture that only viewed it turned into whatever was
    allocated there next (seen in CI as a uniformly grey annotated photo)."""
    import gc

    from detector.video import read_image

    image = read_image(HEIC_PORTRAIT)
    gc.collect()
    others = [np.full(image.shape, 90, np.uint8) for _ in range(50)]  # what the next images would be
    assert len(others) == 50 and _is_the_heic_portrait(image)  # still the photo, not the next image's grey


def test_a_heic_photo_without_its_decoder_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pi_heif", None)  # as if the install lacked it
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(HEIC_PORTRAIT))
    assert code == 2 and "portrait.heic is a HEIC photo, and reading HEIC needs the pi-heif package" in err, err


def test_a_folder_of_landscape_and_portrait_photos_becomes_a_video_with_nothing_stretched(capsys, tmp_path):
    folder = tmp_path / "holiday"
    folder.mkdir()
    cv2.imwrite(str(folder / "1-landscape.png"), np.full((240, 320, 3), 90, np.uint8))  # sets the video's size
    cv2.imwrite(str(folder / "2-portrait.png"), np.full((300, 150, 3), 255, np.uint8))
    save_as_phone_photo(folder / "3-phone.jpg", np.full((300, 150, 3), 255, np.uint8))  # portrait once upright
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(folder), "--conf", "0.99",
                        "--output", str(tmp_path / "holiday.avi"))
    assert summary["frames"] == 3
    capture = cv2.VideoCapture(str(tmp_path / "holiday.avi"))
    frames = [capture.read()[1] for _ in range(3)]
    capture.release()
    assert all(frame.shape == (240, 320, 3) for frame in frames)
    for portrait in frames[1:]:  # 150 x 300 fitted into 320 x 240: 120 x 240, centred between black bars
        columns = np.flatnonzero(portrait.mean(axis=(0, 2)) > 128)
        assert 116 <= len(columns) <= 124 and abs((columns[0] + columns[-1]) / 2 - 159.5) <= 2
        assert portrait[:, :90].max() < 40 and portrait[:, -90:].max() < 40


def test_a_big_photo_in_a_folder_video_gets_tags_as_readable_as_the_videos_own(tmp_path):
    """A folder made into a video drew each photo's tags at the photo's size, then shrank it into the video: a
    4000 px phone photo's "person 0.90" came out a few pixels tall, half the tag of a photo of the video's size."""
    from detector.annotate import class_color
    from detector.outputs import PredictOutputs
    from detector.types import Detections
    from detector.video import SourceInfo

    found = Detections(boxes=np.array([[0.3, 0.4, 0.6, 0.9]], np.float32), scores=np.array([0.9], np.float32),
                       class_ids=np.array([14]), class_names=tuple(f"class{i}" for i in range(20)))
    info = SourceInfo("images", "holiday", 1.0, 2, 320, 240)
    outputs = PredictOutputs(tmp_path / "holiday.avi", None, info=info, source=None, single_image=False)
    for index, (width, height) in enumerate([(320, 240), (3000, 4000)]):  # the video's size, then a phone photo
        scaled = Detections(found.boxes * np.array([width, height, width, height], np.float32), found.scores,
                            found.class_ids, found.class_names)
        outputs.write(index, f"{index}.jpg", np.full((height, width, 3), 40, np.uint8), scaled)
    outputs.close()
    capture = cv2.VideoCapture(str(tmp_path / "holiday.avi"))
    frames = [capture.read()[1] for _ in range(2)]
    capture.release()
    tag_heights = []
    for frame in frames:
        filled = np.all(np.abs(frame.astype(int) - class_color(14)) < 40, axis=2)
        rows = np.flatnonzero(filled.sum(axis=1) > 10)  # rows mostly tag fill (a box's side is a column or two)
        tag_heights.append(len(rows))
    assert tag_heights[0] >= 10 and abs(tag_heights[1] - tag_heights[0]) <= 2, tag_heights


@pytest.mark.parametrize("container, codec, suffix", [("h264", "libx264", ".h264"), ("mpegts", "mpeg2video", ".ts"),
                                                     ("mjpeg", "mjpeg", ".mjpeg")])
def test_predict_reads_every_frame_of_files_without_an_index(capsys, tmp_path, container, codec, suffix):
    """predict read the first frame, then seeked back to it: a raw H.264 file (a Raspberry Pi camera's)
    gave 0 of its frames, an MPEG-TS recording lost a quarter, raw MJPEG its first."""
    source = write_moving_box_video(tmp_path / f"clip{suffix}", 30, container=container, codec=codec)
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--source", str(source),
                          "--output", str(tmp_path / "out.mp4"), "--max-frames", "100")
    assert summary["frames"] == 30 and read_back(tmp_path / "out.mp4").frames == 30
    assert "warning" not in err  # the file has all it has: --max-frames 100 is not a count it announced


def test_predict_batches_and_stops_after_max_frames(capsys, vtest_path, tmp_path):
    jsonl = tmp_path / "d.jsonl"
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(vtest_path), "--imgsz", "160",
                        "--batch", "4", "--max-frames", "10", "--jsonl", str(jsonl))
    assert summary["frames"] == 10 and summary["batch"] == 4
    assert [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()] == list(range(10))


def test_predict_from_an_ip_camera_writes_a_file_as_long_as_it_was_filmed(capsys, vtest_path, tmp_path):
    """FFmpeg states 25 FPS for an MJPEG camera whatever it sends; this one sends 15. Written at the stated
    rate, 45 frames (3 s) became a 1.8 s file. The file now follows the clock at the rate really sent."""
    from .mjpeg_camera import MjpegCamera

    camera = MjpegCamera(vtest_path, fps=15.0, frames=45)
    camera.start()
    try:
        output = tmp_path / "ipcam.mp4"
        summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", camera.url, "--imgsz", "160",
                            "--output", str(output), "--max-frames", "45")
    finally:
        camera.stop()
    assert summary["frames"] == 45 and summary["source_kind"] == "url"
    video = read_back(summary["output"])
    assert video.fps == pytest.approx(15.0, abs=1.0)
    assert video.frames / video.fps == pytest.approx(44 / 15.0, rel=0.1)  # 45 frames span 44 intervals of 1/15 s


def test_predict_from_an_ip_camera_that_drops_off_keeps_what_came_and_exits_3(capsys, vtest_path, tmp_path):
    """An unattended recording of a camera whose network dropped ended with exit 0 and no word of why, like a
    finished file. It now says so and exits 3 (a service manager restarts it), and the file is whole."""
    from .mjpeg_camera import MjpegCamera

    # the camera loses power 2.5 s in: counted in frames sent, not on a clock a slow model load eats into
    camera = MjpegCamera(vtest_path, fps=15.0, frames=30, stop_after=38)
    camera.start()
    output = tmp_path / "night.mp4"
    code, summary, err = run(capsys, "predict", "--model", "test-small", "--source", camera.url, "--imgsz", "160",
                             "--output", str(output))
    assert code == 3 and summary["source_lost"] is True and summary["exit_code"] == 3
    assert f"{camera.url} stopped sending after {summary['frames']} frames (unplugged" in err and str(output) in err
    video = read_back(summary["output"])
    assert summary["frames"] >= 15 and video.frames >= 15 and video.fps == pytest.approx(15.0, abs=1.0)

    file_summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(vtest_path), "--imgsz",
                             "160", "--max-frames", "3")
    assert file_summary["source_lost"] is False  # a file that ends is not lost


def test_predict_reconnect_rides_out_a_camera_outage_in_one_file(capsys, vtest_path, tmp_path, monkeypatch):
    """An unattended recording of a camera whose Wi-Fi drops for a few seconds ended there (exit 3), and a
    service manager's restart began a new file. With --reconnect the run opens the camera again when it is
    back and goes on in the same file; the outage is a cut in it, not seconds of one frozen picture."""
    import threading

    from detector import reconnect

    from .mjpeg_camera import MjpegCamera

    monkeypatch.setattr(reconnect, "RETRY_DELAYS_S", (0.3, 0.6))
    comes_back = threading.Timer(2.0, lambda: camera.start())
    # 2 s in (30 frames sent: a slow model load does not eat into them), the camera is gone for 2 s
    camera = MjpegCamera(vtest_path, fps=15.0, frames=30, stop_after=30, then=comes_back.start)
    camera.start()
    output, jsonl = tmp_path / "porch.mp4", tmp_path / "porch.jsonl"
    try:
        summary, err = run_ok(capsys, "predict", "--model", "test-small", "--source", camera.url, "--imgsz", "160",
                              "--output", str(output), "--jsonl", str(jsonl), "--max-frames", "75", "--reconnect")
    finally:
        comes_back.cancel()
        camera.stop()
    assert summary["frames"] == 75 and summary["reconnects"] == 1 and summary["source_lost"] is False
    assert summary["offline_s"] >= 1.5
    assert "stopped sending after" in err and "opening it again" in err and "is back after" in err
    assert [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()] == list(range(75))
    video = read_back(summary["output"])  # 75 frames filmed at 15 FPS: 5 s, without the 2 s offline
    assert video.fps == pytest.approx(15.0, abs=1.0) and 66 <= video.frames <= 84, video


class _PredictProcess:
    """``python -m detector predict`` in its own process, so that real signals can be sent to it.

    ``terminal``: a pseudo-terminal's far end, made the run's controlling terminal, stdin and stderr,
    as in a terminal window or an ssh session (stdout still goes to a file, as with ``> summary.json``).
    """

    def __init__(self, tmp_path: Path, models_env: Path, *argv: str, terminal: int | None = None,
                 program: tuple[str, ...] = ("-m", "detector")) -> None:
        self.jsonl = tmp_path / "dets.jsonl"
        self.output = tmp_path / "out.mp4"
        self._stdout, self._stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"

        def own_the_terminal() -> None:
            import fcntl
            import termios

            os.setsid()
            fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)

        with open(self._stdout, "wb") as out, open(self._stderr, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, *program, "predict", "--model", "test-small", "--imgsz", "160",
                 "--output", str(self.output), "--jsonl", str(self.jsonl), *argv],
                cwd=REPO_ROOT, env={**os.environ, "LIVEDET_MODELS_DIR": str(models_env)}, stdout=out,
                stdin=terminal, stderr=err if terminal is None else terminal,
                preexec_fn=None if terminal is None else own_the_terminal)

    def wait_for_frames(self, count: int) -> None:
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.jsonl.exists() and len(self.jsonl.read_text().splitlines()) >= count:
                return
            time.sleep(0.05)
        self.process.kill()
        pytest.fail(f"predict did not reach {count} frames: {self._stderr.read_text()}")

    def wait_for_said(self, text: str) -> None:
        """Wait until the run has printed ``text`` to stderr."""
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            if text in self._stderr.read_text():
                return
            time.sleep(0.05)
        self.process.kill()
        pytest.fail(f"predict did not say {text!r}: {self._stderr.read_text()}")

    def finish(self, timeout: float = 60) -> tuple[int, dict, str]:
        code = self.process.wait(timeout)
        lines = self._stdout.read_text().strip().splitlines()
        err = self._stderr.read_text()
        assert lines, f"no JSON on stdout; stderr: {err}"
        return code, json.loads(lines[-1]), err


@pytest.mark.parametrize("signal_name,said", [("SIGINT", "Ctrl-C"), ("SIGTERM", "SIGTERM")])
def test_ctrl_c_or_sigterm_ends_a_camera_recording_with_its_summary_and_every_frame_written(
        vtest_path, tmp_path, models_env, signal_name, said):
    """A camera never ends, so Ctrl-C (or a service manager's SIGTERM) is how its recording is stopped. Ctrl-C
    printed only {"error": "interrupted"} and exit 130, with no frame count; SIGTERM killed the process with no
    JSON at all and lost the video's last second. Now both end the run like the camera ending: exit 0, the
    summary, and every frame that was read in the video and the JSONL."""
    import signal

    from .mjpeg_camera import MjpegCamera

    camera = MjpegCamera(vtest_path, fps=15.0, frames=30)
    camera.start()
    try:
        run = _PredictProcess(tmp_path, models_env, "--source", camera.url)
        run.wait_for_frames(40)
        run.process.send_signal(getattr(signal, signal_name))
        code, summary, err = run.finish()
    finally:
        camera.stop()
    assert code == 0, err
    assert summary["stopped_by"] == {"SIGINT": "ctrl-c", "SIGTERM": "sigterm"}[signal_name]
    assert summary["source_lost"] is False and "exit_code" not in summary
    assert f"{said}: finishing the frames already read" in err and f"stopped by {said} after" in err
    lines = run.jsonl.read_text().splitlines()
    assert summary["frames"] >= 40 and len(lines) == summary["frames"]
    video = read_back(run.output)  # written by the clock: within a frame or two of those read
    assert abs(video.frames - summary["frames"]) <= 2 and video.fps == pytest.approx(15.0, abs=1.0), video


@pytest.mark.parametrize("signal_name, status", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_stop_signal_during_bench_ends_it_with_its_json_line(tmp_path, models_env, signal_name, status):
    """Outside predict's pipeline and train's epochs (bench, val, loading a model or data), SIGTERM or a closed
    terminal's SIGHUP killed the command: no message, no JSON line, exit -15."""
    import signal
    import subprocess
    import time

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen([sys.executable, "-m", "detector", "bench", "--model", "test-small", "--imgsz", "160",
                                "--frames", "100000", "--warmup", "0"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # loading the model, or timing
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=60)
    assert process.returncode == status, (process.returncode, err[-2000:])
    assert json.loads(out.strip().splitlines()[-1])["error"].startswith(f"stopped by {signal_name}"), out


class _StuckCamera:
    """A webcam whose driver stops answering: after ``frames`` frames a read blocks until ``answer`` is set (or 30 s
    pass, as OpenCV's default timeout), as a camera or stream gone silent holds a read in its driver."""

    def __init__(self, frames: int) -> None:
        from .fake_webcam import FakeWebcam

        self.driver = FakeWebcam(paced=True)
        self.frames = frames
        self.stuck, self.answer = threading.Event(), threading.Event()
        self._real_read, self.driver.read = self.driver.read, self._read

    def _read(self):
        if self.frames == 0:
            self.stuck.set()
            self.answer.wait(30)  # then a frame, as a camera that answers at last
        self.frames -= 1
        return self._real_read()


def _ctrl_c_once(stuck: threading.Event, jsonl: Path, frames: int) -> list[float]:
    """Press Ctrl-C (a SIGINT to this process, run by the main thread's handler) once ``frames`` frames are in
    ``jsonl`` and the read after them is stuck; the list it returns gets the time it was pressed."""
    import signal
    import time

    pressed: list[float] = []

    def press() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if stuck.is_set() and jsonl.exists() and len(jsonl.read_text().splitlines()) >= frames:
                pressed.append(time.monotonic())
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    threading.Thread(target=press, daemon=True).start()
    return pressed


def _predict_until_ctrl_c(capsys, camera: _StuckCamera, output: Path, jsonl: Path, *options: str):
    """``predict`` from camera 0 into ``output`` and ``jsonl``, with Ctrl-C pressed once 20 frames are logged and
    ``camera``'s read is stuck: its status, summary and stderr, the seconds from Ctrl-C to its end, and whether
    the camera was freed under that read (which then answers)."""
    import time

    pressed = _ctrl_c_once(camera.stuck, jsonl, 20)
    try:
        code, summary, err = run(capsys, "predict", "--model", "test-small", "--source", "0", "--imgsz", "160",
                                 "--output", str(output), "--jsonl", str(jsonl), *options)
        return code, summary, err, time.monotonic() - pressed[0], camera.driver.released
    finally:
        camera.answer.set()


def test_ctrl_c_ends_a_recording_at_once_when_the_camera_is_stuck_in_a_read(capsys, tmp_path, monkeypatch):
    """A camera or stream that goes silent holds the run's read in its driver until a timeout (some drivers never
    give up): the first Ctrl-C said "finishing the frames already read", and nothing happened until that read
    returned. The run now ends at once, its files whole and its summary printed; the stuck read is left behind,
    and the camera is not freed under it (which can crash the process) but by that read, when it returns."""
    import time

    import detector.video as video

    # closing gives a read under way a long while; the read the run stopped waiting for is not waited for again
    monkeypatch.setattr(video, "CLOSE_WAIT_S", 20.0)
    camera = _StuckCamera(frames=20)
    real = cv2.VideoCapture  # (reads the recording back)
    monkeypatch.setattr(video.cv2, "VideoCapture",
                        lambda *args: camera.driver if isinstance(args[0], int) else real(*args))
    output, jsonl = tmp_path / "porch.mp4", tmp_path / "porch.jsonl"
    code, summary, err, took_s, freed_under_the_read = _predict_until_ctrl_c(capsys, camera, output, jsonl)
    assert took_s < 10, f"Ctrl-C took {took_s:.1f} s to end the run: {err}"  # the read answered after 30 s
    assert not freed_under_the_read
    assert code == 0 and summary["stopped_by"] == "ctrl-c" and summary["source_lost"] is False, err
    assert "stopped by Ctrl-C after 20 frames" in err
    assert [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()] == list(range(20))
    assert summary["frames"] == 20 and abs(read_back(output).frames - 20) <= 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not camera.driver.released:
        time.sleep(0.05)
    assert camera.driver.released  # let go by the read, once it returned


def test_ctrl_c_on_a_stream_gone_silent_ends_the_program_with_its_exit_status(vtest_path, tmp_path, models_env):
    """An IP camera that stops sending but keeps its connection open: the run, stopped by Ctrl-C, leaves OpenCV's
    read behind and ends. That read returning while Python was ending (slow after the model's first export
    loaded torch) aborted the process: "terminate called without an active exception", a core dump and exit
    134 instead of 0. The program now ends at once, its summary and files whole."""
    import signal
    import time

    from .mjpeg_camera import MjpegCamera

    slow_to_end = ("import sys, time\n"
                   "class SlowToFinalise:  # as torch is, once loaded: the stuck read returns meanwhile\n"
                   "    def __del__(self):\n"
                   "        time.sleep(20)\n"
                   "keep = SlowToFinalise()\n"
                   "import detector.video as video  # a read that stays stuck past the test, whatever the load\n"
                   "opened = video.open_capture\n"
                   "video.open_capture = lambda spec, **kw: opened(spec, **{'read_timeout_ms': 60000, **kw})\n"
                   "from detector.cli import main\n"
                   "sys.exit(main())\n")
    camera = MjpegCamera(vtest_path, fps=15.0, frames=30)
    camera.start(silent_after=30)
    try:
        run = _PredictProcess(tmp_path, models_env, "--source", camera.url, program=("-c", slow_to_end))
        run.wait_for_frames(30)  # all it sent: the run now waits in a read that gets nothing (for 60 s)
        assert camera.gone_silent.wait(10)
        pressed = time.monotonic()
        run.process.send_signal(signal.SIGINT)
        code, summary, err = run.finish()
        took_s = time.monotonic() - pressed
    finally:
        camera.stop()
    assert code == 0 and "terminate called" not in err, (code, err)
    assert took_s < 15, f"Ctrl-C took {took_s:.1f} s to end the program: {err}"  # (not the read, nor the ending)
    assert summary["stopped_by"] == "ctrl-c" and summary["frames"] == 30 and "stopped by Ctrl-C after 30" in err
    assert [json.loads(line)["frame"] for line in run.jsonl.read_text().splitlines()] == list(range(30))
    assert abs(read_back(run.output).frames - 30) <= 2


def test_closing_the_terminal_of_a_camera_recording_finishes_it_like_ctrl_c(vtest_path, tmp_path, models_env):
    """Closing the terminal window (or an ssh connection dropping) sends SIGHUP, which killed the run: the
    summary was never printed and the video lost its last second (105 frames of 118 in the log). The terminal
    is gone, so nobody can be told; the run now ends like Ctrl-C, and its output files are whole."""
    pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX only")
    import threading

    from .mjpeg_camera import MjpegCamera

    near, far = pty.openpty()
    shown = bytearray()
    close_the_window = threading.Event()

    def read_the_screen() -> None:
        """As the terminal window does (a pty nobody reads fills up and blocks the run), until it is closed.

        It closes the pty itself: one closed while a read on it waits would stay open until the read returned.
        """
        import select

        while not close_the_window.is_set():
            if select.select([near], [], [], 0.05)[0]:
                shown.extend(os.read(near, 4096))
        os.close(near)

    camera = MjpegCamera(vtest_path, fps=15.0, frames=30)
    camera.start()
    try:
        run = _PredictProcess(tmp_path, models_env, "--source", camera.url, terminal=far)
        os.close(far)
        window = threading.Thread(target=read_the_screen, daemon=True)
        window.start()
        run.wait_for_frames(40)
        close_the_window.set()
        window.join(5)
        code = run.process.wait(60)
    finally:
        camera.stop()
    assert code == 0, bytes(shown).decode(errors="replace")
    summary = json.loads(run._stdout.read_text().strip().splitlines()[-1])
    assert summary["stopped_by"] == "hangup" and summary["source_lost"] is False
    lines = run.jsonl.read_text().splitlines()
    assert summary["frames"] >= 40 and len(lines) == summary["frames"]
    video = read_back(run.output)  # written by the clock: within a frame or two of those read
    assert abs(video.frames - summary["frames"]) <= 2, video


def test_ctrl_c_on_a_video_file_keeps_what_was_done_and_exits_130(vtest_path, tmp_path, models_env):
    """A file stopped part way is unfinished (exit 130), but what was done is whole: the video plays to the
    last frame counted, the JSONL matches it, and the summary says how far it got."""
    import signal

    run = _PredictProcess(tmp_path, models_env, "--source", str(vtest_path))
    run.wait_for_frames(30)
    run.process.send_signal(signal.SIGINT)
    code, summary, err = run.finish()
    assert code == 130 and summary["exit_code"] == 130 and summary["stopped_by"] == "ctrl-c", err
    assert 30 <= summary["frames"] < 795 and summary["frames_expected"] == 795
    assert f"stopped by Ctrl-C after {summary['frames']} frames of 795" in err
    assert "truncated or damaged" not in err
    assert len(run.jsonl.read_text().splitlines()) == summary["frames"] == read_back(run.output).frames


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "too-long-to-index"])
def test_a_variable_rate_recording_is_not_called_damaged_and_keeps_its_timing(capsys, vtest_path, tmp_path,
                                                                              monkeypatch, indexed):
    """A browser's or OBS's MKV: 31 frames over 4.5 s, which OpenCV announces as 136 (4.5 s at its nominal
    30 FPS). It was "decoded 31 of the 136 frames (truncated or damaged file?)", then written one frame per
    frame at 30 FPS: 1.0 s, four times too fast. Now each frame lasts until the next one's time, as a player
    shows it, and its frames are counted from their times; one too long to index in time is counted as OpenCV
    counts it, and told apart at its end. A copy cut in half is still called damaged."""
    if not indexed:
        monkeypatch.setattr("detector.indexed_video.INDEX_TIME_LIMIT_S", 0.0)
    gaps_ms = [50, 100, 300] * 10
    vfr = write_variable_rate_video(tmp_path / "screen.mkv", gaps_ms)
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--imgsz", "96", "--source", str(vfr),
                          "--output", str(tmp_path / "out.mp4"), "--jsonl", str(tmp_path / "found.jsonl"))
    assert summary["frames"] == 31 and summary["frames_expected"] == (31 if indexed else 136), err
    assert "damaged" not in err, err
    lines = [json.loads(line) for line in (tmp_path / "found.jsonl").read_text().splitlines()]
    times_ms = np.cumsum([0, *gaps_ms])
    assert [line["time_s"] for line in lines] == [pytest.approx(t / 1000, abs=0.002) for t in times_ms]
    nominal = "" if indexed else ", not the 136 its nominal 30 FPS makes"
    assert (f"note: screen.mkv has a variable frame rate: 31 frames over 4.5 s{nominal}; "
            "out.mp4 keeps their timing: 4.5 s at 30 FPS") in err
    shown = box_positions(tmp_path / "out.mp4")
    assert len(shown) == 136  # the last frame at 4.5 s, shown for one frame
    for index in range(30):  # (frame 30's box is where frame 0's was)
        assert abs(shown.index(index) - times_ms[index] * 30 / 1000) <= 1, (index, shown)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(vtest_path.read_bytes()[: vtest_path.stat().st_size // 4])
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--imgsz", "96", "--source", str(cut))
    assert summary["frames"] < 795 // 3 and "of the 795 frames cut.avi announces (truncated or damaged file?)" in err
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--imgsz", "96", "--source", str(cut),
                          "--max-frames", "300")  # it said "of the 300 frames cut.avi announces"
    assert f"decoded {summary['frames']} of the 300 frames asked for; cut.avi states 795 (truncated" in err, err
    short = write_moving_box_video(tmp_path / "short.mkv", 15, container="matroska", codec="mpeg4", fps=30)
    short.write_bytes(short.read_bytes()[: short.stat().st_size // 2])  # half a second, cut: "variable rate" too
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--imgsz", "96", "--source", str(short))
    assert summary["frames"] < 15 and "frames short.mkv announces (truncated or damaged file?)" in err, err


@pytest.mark.parametrize("damage", ["cut in half", "garbled in the middle"])
def test_a_damaged_variable_rate_file_is_called_damaged(capsys, tmp_path, damage):
    """A screen recording whose copy stopped half way, or whose middle is garbled, plays what it can; it must
    not be taken for a whole variable-rate file ("a variable frame rate: 47 frames over 9.9 s")."""
    gaps_ms = ([40] * 12 + [900, 40, 40, 2500] + [50, 100, 300] * 4) * 4
    clip = write_variable_rate_video(tmp_path / "screen.mkv", gaps_ms, codec="libx264")
    data = bytearray(clip.read_bytes())
    middle = len(data) // 2
    if damage == "cut in half":
        del data[middle:]
    else:
        data[middle:middle + 300] = np.random.default_rng(0).integers(0, 256, 300, np.uint8).tobytes()
    clip.write_bytes(bytes(data))
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--imgsz", "96", "--source", str(clip))
    assert summary["frames"] < len(gaps_ms) * 0.75, err
    assert "(truncated or damaged file?)" in err and "variable frame rate" not in err, err


def test_a_recording_whose_first_frames_do_not_decode_says_so_instead_of_variable_rate(capsys, tmp_path):
    """A TV or camera stream recorded from its middle: 80 frames at 30 FPS, keyframes every 20, the first 5
    packets gone, so frames 5-19 cannot be decoded. It was "a variable frame rate: 60 frames over 2.5 s"
    (timed from 0 s, not from its first decoded frame at 0.5 s), and its output "keeps their timing"."""
    from .videos import write_video_cut_mid_stream

    clip = write_video_cut_mid_stream(tmp_path / "tv.ts", 80, keyframe_every=20, cut=5)
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--imgsz", "96", "--source", str(clip))
    assert summary["frames"] == 60 and summary["frames_expected"] == 75, err
    assert ("warning: decoded 60 of the 75 frames tv.ts announces: its first 15 could not be decoded (cut from a "
            "longer recording?)") in err and "variable" not in err


@pytest.mark.parametrize("kind", ["mp4 cut with -c copy", "mkv from a stream's middle", "mp4 starting at 1 s",
                                  "ts whose sound outlasts it", "obs mkv whose sound outlasts it"])
def test_a_whole_file_whose_frame_count_opencv_overstates_is_not_called_damaged(capsys, tmp_path, kind):
    """An MP4 cut without re-encoding keeps the frames before the cut behind an edit list: OpenCV counted all 60
    stored frames of the 31 it plays; an MKV whose times start at 1 h was counted 108,060 frames for 60. Both
    were "truncated or damaged", with a progress bar to match. (An MP4's duration starts at its first frame:
    taking its start off as well counted one starting at 1 s 30 frames short, never reached.)"""
    from .videos import write_cut_without_reencoding, write_video_starting_at, write_video_whose_sound_outlasts_it

    if kind.startswith("mp4 cut"):
        source = write_moving_box_video(tmp_path / "long.mp4", 60, container="mp4", codec="libx264")
        clip, plays = write_cut_without_reencoding(tmp_path / "clip.mp4", source, 2.9), 31
    elif kind.startswith("mkv"):
        clip, plays = write_video_starting_at(tmp_path / "clip.mkv", 60, 3600.0), 60
    elif kind.startswith("mp4"):
        clip, plays = write_video_starting_at(tmp_path / "clip.mp4", 90, 1.0, container="mp4"), 90
    elif kind.startswith("ts"):  # a TV recording: OpenCV counted it by its sound, 80 frames for 40
        clip, plays = write_video_whose_sound_outlasts_it(tmp_path / "clip.ts", 40, 4.0, container="mpegts"), 40
    else:  # as OBS and phones write them: Matroska states no length for the picture alone (241 for 150)
        # (past the first 120 frames, which are checked for a variable rate: it had to be counted)
        clip, plays = write_video_whose_sound_outlasts_it(tmp_path / "clip.mkv", 150, 1.5, fps=30, picture_starts_s=1.5), 150
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--imgsz", "96", "--source", str(clip))
    assert summary["frames"] == summary["frames_expected"] == plays and "damaged" not in err, err


def test_a_cut_copy_whose_first_frame_comes_late_for_its_b_frames_is_still_called_damaged(capsys, tmp_path):
    """x264 in AVI starts its first frame 2 frames late (B-frames): a copy cut in half was "its first 2 could not
    be decoded (cut from a longer recording?)", and its missing half unexplained."""
    clip = write_moving_box_video(tmp_path / "clip.avi", 120, container="avi", codec="libx264")
    clip.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--imgsz", "96", "--source", str(clip))
    assert summary["frames"] < 100 and "announces (truncated or damaged file?)" in err and "first" not in err, err


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "too-long-to-index"])
def test_a_browser_recording_whose_rate_is_its_time_unit_is_not_called_damaged(capsys, tmp_path, monkeypatch,
                                                                               indexed):
    """A browser's WebM states its time unit, 1000 per second, as its rate, and its duration in that unit as its
    frame count: 31 frames over 3.8 s were "decoded 31 of the 3801 frames (truncated or damaged file?)". It is
    a variable rate, counted by its frames' times (or, too long to index, told apart at its end), and written
    by those times at 30 FPS."""
    if not indexed:
        monkeypatch.setattr("detector.indexed_video.INDEX_TIME_LIMIT_S", 0.0)
    gaps_ms = [40, 40, 300] * 10
    clip = write_variable_rate_video(tmp_path / "meeting.mkv", gaps_ms, nominal_fps=1000)
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--imgsz", "96", "--source", str(clip),
                          "--output", str(tmp_path / "out.mp4"))
    assert summary["frames"] == 31 and summary["frames_expected"] == (31 if indexed else 3801), err
    assert "damaged" not in err, err
    nominal = "" if indexed else ", not the 3801 its nominal 1000 FPS makes"
    assert (f"note: meeting.mkv has a variable frame rate: 31 frames over 3.8 s{nominal}; "
            "out.mp4 keeps their timing: 3.8 s at 30 FPS") in err
    written = read_back(tmp_path / "out.mp4")
    assert written.fps == 30 and written.frames == round(sum(gaps_ms) * 30 / 1000) + 1


def test_ctrl_c_while_waiting_for_a_camera_to_come_back_ends_the_run_at_once_with_its_summary(
        vtest_path, tmp_path, models_env):
    """With --reconnect, Ctrl-C is the only way a run whose camera is gone ends; it must not wait out the retry."""
    import signal
    import time

    from .mjpeg_camera import MjpegCamera

    camera = MjpegCamera(vtest_path, fps=15.0, frames=30)
    camera.start()
    try:
        run = _PredictProcess(tmp_path, models_env, "--source", camera.url, "--reconnect")
        run.wait_for_frames(20)
    finally:
        camera.stop()
    run.wait_for_said("trying again in 8 s")  # gone, tried after 1 s, 2 s and 4 s, and now waiting 8 s
    asked = time.monotonic()
    run.process.send_signal(signal.SIGINT)
    code, summary, err = run.finish()
    assert time.monotonic() - asked < 6, err  # not the rest of the 8 s wait (nor every wait after it)
    assert code == 0 and summary["stopped_by"] == "ctrl-c" and summary["source_lost"] is False, err
    assert "opening it again" in err and summary["reconnects"] == 0
    assert len(run.jsonl.read_text().splitlines()) == summary["frames"] >= 20


def test_ctrl_c_while_a_camera_that_came_back_does_not_answer_ends_the_run_at_once(capsys, tmp_path, monkeypatch):
    """With --reconnect, a camera that comes back but whose first read does not answer (still booting) held the
    run: Ctrl-C only cancelled the waits between tries. It now ends the run at once; the camera is not said to be
    back, nor freed under that read, and the read lets it go when it returns."""
    import time

    import detector.video as video
    from detector import reconnect

    from .fake_webcam import FakeWebcam

    monkeypatch.setattr(reconnect, "RETRY_DELAYS_S", (0.3,))
    monkeypatch.setattr(video, "CLOSE_WAIT_S", 20.0)  # (as in the test above)
    first, back = FakeWebcam(paced=True), _StuckCamera(frames=0)
    sent = iter(range(20))
    real_read = first.read
    first.read = lambda: real_read() if next(sent, None) is not None else (False, None)  # then unplugged
    cameras = iter([first, back.driver])
    real = cv2.VideoCapture  # (reads the recording back)
    monkeypatch.setattr(video.cv2, "VideoCapture",
                        lambda *args: next(cameras) if isinstance(args[0], int) else real(*args))
    output, jsonl = tmp_path / "porch.mp4", tmp_path / "porch.jsonl"
    code, summary, err, took_s, freed_under_the_read = _predict_until_ctrl_c(capsys, back, output, jsonl,
                                                                             "--reconnect")
    assert took_s < 10, f"Ctrl-C took {took_s:.1f} s to end the run: {err}"  # the read answered after 30 s
    assert not freed_under_the_read
    assert code == 0 and summary["stopped_by"] == "ctrl-c" and summary["source_lost"] is False, err
    assert "opening it again" in err and "is back" not in err and summary["reconnects"] == 0
    assert [json.loads(line)["frame"] for line in jsonl.read_text().splitlines()] == list(range(20))
    assert summary["frames"] == 20 and abs(read_back(output).frames - 20) <= 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not back.driver.released:
        time.sleep(0.05)
    assert back.driver.released and first.released  # the one that came back, by its read once it returned


def test_predict_from_a_camera_keeps_an_earlier_recording_of_the_same_name(capsys, vtest_path, tmp_path):
    """A service manager restarting `predict --source CAMERA --output porch.mp4` (exit 3) overwrote the
    footage of the run before. Footage of a camera cannot be filmed again: the new run writes porch-2.mp4."""
    from .mjpeg_camera import MjpegCamera

    earlier, earlier_log = tmp_path / "porch.mp4", tmp_path / "porch.jsonl"
    earlier.write_bytes(b"last night's recording")
    earlier_log.write_text("last night's detections\n")
    (tmp_path / "porch-2.jsonl").write_text("the night before's\n")  # with no porch-2.mp4: porch-2 is taken
    camera = MjpegCamera(vtest_path, fps=15.0, frames=30)
    camera.start()
    try:
        summary, err = run_ok(capsys, "predict", "--model", "test-small", "--source", camera.url, "--imgsz", "160",
                              "--output", str(earlier), "--jsonl", str(earlier_log), "--max-frames", "20")
    finally:
        camera.stop()
    assert earlier.read_bytes() == b"last night's recording"
    assert earlier_log.read_text() == "last night's detections\n"
    # one number for both: a porch-2.mp4 beside the old porch-2.jsonl read as that log's video
    assert summary["output"] == str(tmp_path / "porch-3.mp4") and read_back(summary["output"]).frames >= 15
    assert summary["jsonl"] == str(tmp_path / "porch-3.jsonl")
    assert (tmp_path / "porch-2.jsonl").read_text() == "the night before's\n"
    assert (f"{earlier} or {earlier_log} exists (an earlier recording): writing {tmp_path / 'porch-3.mp4'} and "
            f"{tmp_path / 'porch-3.jsonl'} instead") in err

    run_ok(capsys, "predict", "--model", "test-small", "--source", str(vtest_path), "--imgsz", "160",
           "--max-frames", "3", "--output", str(earlier))  # a file can be run again: its output is replaced
    assert read_back(earlier).frames == 3


def test_predict_on_a_video_file_on_a_web_server_writes_every_frame_at_its_own_rate(capsys, vtest_path, tmp_path):
    """An address can name a video file (https://…/clip.avi) rather than a live stream. It was written by the
    clock like a camera: 200 frames of a 10 FPS video, processed at 193 FPS, became a 1-s file at 193 FPS.
    FFmpeg knows its length, and it is now written like a file: every frame once, at its own rate."""
    from .web_server import WebServer

    site = tmp_path / "site"
    site.mkdir()
    (site / "street.avi").symlink_to(vtest_path)
    server = WebServer(site).start()
    try:
        output = tmp_path / "remote.mp4"
        summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", server.url("street.avi"),
                            "--imgsz", "160", "--output", str(output), "--max-frames", "60")
    finally:
        server.stop()
    assert summary["source_kind"] == "url" and summary["frames"] == summary["frames_expected"] == 60
    video = read_back(summary["output"])
    assert video.fps == pytest.approx(10.0) and video.frames == 60  # 6 s, as the source plays


def test_a_high_speed_cameras_video_keeps_every_frame_at_its_own_rate(capsys, tmp_path):
    """A 1000 FPS AVI was read as a browser's WebM, whose stated rate is its clock: its 60 frames became 0.06 s
    of video, 2 frames at 30 FPS, and the run said nothing."""
    clip = tmp_path / "slow-motion.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 1000.0, (160, 120))
    for i in range(60):
        writer.write(np.full((120, 160, 3), 4 * i, np.uint8))
    writer.release()
    output = tmp_path / "out.mp4"
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--imgsz", "160", "--source", str(clip),
                        "--output", str(output))
    assert summary["frames"] == summary["frames_expected"] == 60
    video = read_back(output)
    assert video.frames == 60 and video.fps == pytest.approx(1000.0), video


def test_predict_on_a_web_video_that_decodes_no_frame_fails_as_a_local_one_does(capsys, tmp_path):
    """An MP4 whose index comes last, from a server that cannot send parts of a file (Python's own): FFmpeg knows
    its 90 frames and decodes none. The run exited 0, its JSON line naming an output that was never written."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    import av

    site = tmp_path / "site"
    site.mkdir()
    noise = np.random.default_rng(0)
    with av.open(str(site / "clip.mp4"), "w") as video:  # its index at the end, past what FFmpeg reads first
        stream = video.add_stream("mpeg4", rate=30)
        stream.width, stream.height = 320, 240
        stream.pix_fmt = "yuv420p"
        for _ in range(90):
            picture = noise.integers(0, 256, (240, 320, 3), dtype=np.uint8)
            video.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")))
        video.mux(stream.encode(None))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    output = tmp_path / "remote.mp4"
    try:
        code, summary, err = run(capsys, "predict", "--model", "test-small", "--imgsz", "160", "--source",
                                 f"http://127.0.0.1:{server.server_address[1]}/clip.mp4", "--output", str(output))
    finally:
        server.shutdown()
        server.server_close()
    assert code == 2 and "clip.mp4 holds no decodable frames (none of the 90 it announces)" in summary["error"], err
    assert not output.exists()


@pytest.mark.parametrize("mode, size", [(None, (640, 480)), ("1280x720@30 MJPG", (1280, 720)),
                                        ("1920x1080@30 MJPG", (1920, 1080)), ("1920×1080@30 mjpg", (1920, 1080)),
                                        ("1920x1080@30", (640, 480))])  # 1080p only in MJPEG: it keeps 640x480
def test_predict_from_a_webcam_records_at_the_camera_mode_asked_for(capsys, tmp_path, monkeypatch, mode, size):
    """A 1080p webcam opens at its driver's 640x480; --camera-mode asks it for more. A size the camera does not
    give is said (it recorded 640x480 without a word)."""
    import detector.video as video

    from .fake_webcam import FakeWebcam

    real = cv2.VideoCapture
    monkeypatch.setattr(video.cv2, "VideoCapture",
                        lambda *args: FakeWebcam(paced=True) if isinstance(args[0], int) else real(*args))
    output = tmp_path / "webcam.mp4"
    options = ["--camera-mode", mode] if mode else []
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--source", "0", "--imgsz", "160",
                          "--output", str(output), "--max-frames", "6", *options)
    assert summary["frames"] == 6 and summary["source_kind"] == "camera"
    refused = mode is not None and size == (640, 480)
    assert ("for 1920x1080; it sends 640x480 (the camera chose otherwise)" in err) == refused, err
    video_file = read_back(summary["output"])
    assert (video_file.width, video_file.height) == size and video_file.frames >= 5


def test_bench_reports_latency_fps_and_stages(capsys, vtest_path):
    summary, err = run_ok(capsys, "bench", "--model", "test-small", "--device", "cpu", "--imgsz", "320",
                          "--source", str(vtest_path), "--frames", "8", "--warmup", "2")
    assert summary["frames"] == 8 and summary["input_size"] == [320, 256]  # width, height, as frame_size
    assert 0 < summary["latency_ms_p50"] <= summary["latency_ms_p90"]
    assert summary["fps"] > 0 and summary["infer_ms_p50"] > 0
    assert {"pre_ms_p50", "post_ms_p50", "backend", "device", "cpu_count", "versions", "other_cpu_cores"} <= set(summary)
    assert summary["versions"]["onnxruntime"] and "p50" in err


def test_bench_on_a_folder_names_the_images_it_could_not_read(capsys, tmp_path):
    """A broken image was left out without a word ("1 frames of 480x364 in memory"), as predict names it."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), np.full((364, 480, 3), 90, np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    summary, err = run_ok(capsys, "bench", "--model", "test-small", "--device", "cpu", "--imgsz", "160",
                          "--source", str(folder), "--frames", "3", "--warmup", "0")
    assert summary["frames"] == 3
    assert "warning: skipped: broken.jpg is not a readable image" in err and "1 frame of 480x364 in memory" in err, err


def test_bench_on_photos_of_several_sizes_says_so_and_how_often_each_is_timed(capsys, tmp_path):
    """It said "2 frames of 480x364 in memory; timing 4", the first photo's size for all, and frame_size the same."""
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((364, 480, 3), 90, np.uint8))
    cv2.imwrite(str(folder / "b.png"), np.full((500, 375, 3), 90, np.uint8))
    summary, err = run_ok(capsys, "bench", "--model", "test-small", "--device", "cpu", "--imgsz", "160",
                          "--source", str(folder), "--frames", "4", "--warmup", "0")
    assert "2 frames of 2 sizes in memory; timing 4, each 2.0 times on average" in err, err
    assert summary["frame_size"] is None and summary["frame_sizes"] == [[375, 500], [480, 364]]
    assert summary["frames_in_memory"] == 2 and summary["frames"] == 4


@pytest.mark.parametrize(("frames", "batch", "timed"), [("5", "2", 4), ("3", "4", 4)])
def test_bench_says_how_many_frames_it_timed_when_batches_round_them(capsys, vtest_path, frames, batch, timed):
    """--frames 5 --batch 2 said 'timing 5' and reported "frames": 4 (whole batches only)."""
    summary, err = run_ok(capsys, "bench", "--model", "test-small", "--device", "cpu", "--imgsz", "160", "--source",
                          str(vtest_path), "--frames", frames, "--batch", batch, "--warmup", "1")
    assert summary["frames"] == timed
    assert f"timing {timed} (--frames {frames} in whole batches of {batch})" in err and "after 1 warm-up calls" in err


def test_bench_file_job_against_the_ceiling_and_memory_soak(capsys, vtest_path):
    summary, err = run_ok(capsys, "bench", "--model", "test-small", "--device", "cpu", "--source", str(vtest_path),
                          "--frames", "30", "--warmup", "1", "--file-job", "--soak", "60")
    job = summary["file_job"]
    assert job["frames"] == 30 and job["fps"] > 0 and job["ceiling_fps"] > 0
    # the ceiling timed before and after the job, which is set against their mean: one reading swung 31 %
    assert job["ceiling_fps"] == pytest.approx(sum(job["ceiling_fps_before_after"]) / 2, abs=0.01)
    assert job["fraction_of_ceiling"] == pytest.approx(job["fps"] / job["ceiling_fps"], abs=0.002)
    assert err.index("memory over 60 frames") < err.index("file job:")  # the soak first, in a process left clean
    memory = summary["memory"]
    assert memory["frames"] == 60 and memory["gpu_mb_start"] is None  # no GPU: only resident memory
    if memory["rss_mb_start"] is not None:  # Linux
        assert memory["rss_mb_growth"] == pytest.approx(memory["rss_mb_end"] - memory["rss_mb_start"], abs=0.11)
        assert abs(memory["rss_mb_growth"]) < 50
    assert "of the ceiling" in err and "memory over 60 frames" in err


def test_ctrl_c_during_the_bench_file_job_reports_no_figures(capsys, vtest_path, monkeypatch):
    """predict ends at Ctrl-C with a summary; bench, which runs it as its file job, then reported the rate of
    the part done as the file job's FPS, exit 0. A cut-short measurement is now an interruption."""
    import detector.graceful_stop as graceful_stop

    def ctrl_c_after_five(items, request):
        for count, item in enumerate(items):
            if count == 5:
                request.ask("ctrl-c")
                return
            yield item

    monkeypatch.setattr(graceful_stop, "frames_until", ctrl_c_after_five)
    code, summary, err = run(capsys, "bench", "--model", "test-small", "--device", "cpu", "--source", str(vtest_path),
                             "--frames", "30", "--warmup", "1", "--file-job")
    assert code == 130 and summary == {"error": "interrupted", "exit_code": 130}, err
    assert "of the ceiling" not in err


@pytest.mark.parametrize("stem", ["best", "last_ema"])
def test_a_training_runs_weights_are_named_after_the_run(capsys, tmp_path, random_models_dir, stem):
    """Every run writes best and last_ema: two runs' files must not share one name (last_ema was plain)."""
    (tmp_path / "cats").mkdir()
    weights = tmp_path / "cats" / f"{stem}.safetensors"
    weights.write_bytes((random_models_dir / "test-small.safetensors").read_bytes())
    summary, _ = run_ok(capsys, "export", "--model", str(weights), "--output", str(tmp_path / "cats.onnx"))
    assert summary["model"] == f"cats-{stem}"


def test_export_writes_an_onnx_file_that_loads(capsys, tmp_path):
    from detector.loader import load_model

    summary, _ = run_ok(capsys, "export", "--model", "test-small", "--format", "onnx",
                        "--output", str(tmp_path / "m.onnx"))
    assert summary["format"] == "onnx" and summary["bytes"] == (tmp_path / "m.onnx").stat().st_size
    assert load_model(summary["output"]).spec.input_size == 320
    image = tmp_path / "noise.png"
    cv2.imwrite(str(image), np.full((64, 96, 3), 90, np.uint8))
    for option in (("--backend", "torch"), ("--device", "cuda")):  # both ran on the CPU without a word
        code, _, err = run(capsys, "predict", "--model", str(tmp_path / "m.onnx"), "--source", str(image), *option)
        assert code == 2 and err.strip() == (f"error: m.onnx is an ONNX graph, which runs on the CPU with ONNX Runtime; "
                                             f"{' '.join(option)} needs the model's weights (a model name or its "
                                             ".safetensors file)")


def test_model_files_with_upper_case_suffixes_load_like_any_other(capsys, tmp_path, random_models_dir):
    """M.ONNX, BEST.SAFETENSORS, W.PT: names Windows and macOS users end up with. export wrote M.ONNX and then
    failed with "unknown model 'M.ONNX'", and predict --model refused all three."""
    import torch

    image = tmp_path / "noise.png"
    cv2.imwrite(str(image), np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8))
    exported, _ = run_ok(capsys, "export", "--model", "test-small", "--output", str(tmp_path / "M.ONNX"))
    assert exported["output"].endswith("M.ONNX") and exported["bytes"] > 0
    weights = tmp_path / "BEST.SAFETENSORS"
    weights.write_bytes((random_models_dir / "test-small.safetensors").read_bytes())
    from detector.checkpoint import read_weights

    state, meta = read_weights(weights)
    torch.save({"model": state, "meta": meta.to_json()}, tmp_path / "W.PT")
    counts = set()
    for model in (tmp_path / "M.ONNX", weights, tmp_path / "W.PT"):
        summary, _ = run_ok(capsys, "predict", "--model", str(model), "--source", str(image), "--conf", "0.05")
        counts.add(summary["detections"])
    assert len(counts) == 1  # the same network each time


def test_val_reports_map_and_a_per_class_table(capsys, voc_root):
    summary, err = run_ok(capsys, "val", "--model", "test-small", "--imgsz", "160", "--max-images", "3",
                          "--annotations", str(voc_root / "annotations" / "instances_val.json"),
                          "--images", str(voc_root / "images" / "val"))
    assert summary["images"] == 3 and 0 <= summary["map50_95"] <= summary["map50"] <= 1
    assert summary["per_class"] and all(row["gt"] > 0 for row in summary["per_class"].values())
    assert "AP50-95" in err and all(name in err for name in summary["per_class"])


def test_val_scores_a_coco_folder_given_as_data_like_its_annotations_file(capsys, voc_root):
    """`val --data ../shared/data/voc2007` (a COCO export's folder) said 'YOLO dataset needs class names in
    data.yaml': it is scored as its annotations/instances_SPLIT.json with images/SPLIT are."""
    common = ("val", "--model", "test-small", "--imgsz", "160", "--max-images", "3")
    by_file, _ = run_ok(capsys, *common, "--annotations", str(voc_root / "annotations" / "instances_val.json"),
                        "--images", str(voc_root / "images" / "val"))
    by_folder, _ = run_ok(capsys, *common, "--data", str(voc_root))
    assert by_folder["images"] == 3 and by_folder["per_class"] == by_file["per_class"]
    assert (by_folder["data"], by_folder["split"]) == (str(voc_root), "val")
    assert by_folder["annotations"] == str(voc_root / "annotations" / "instances_val.json")
    assert (by_folder["map50"], by_folder["map50_95"]) == (by_file["map50"], by_file["map50_95"])
    code, _, err = run(capsys, *common, "--data", str(voc_root), "--split", "test")
    assert code == 2 and err.strip().endswith("no annotations/instances_test.json (its splits: train, val)"), err


def test_predict_keeps_only_the_classes_asked_for(capsys, tmp_path):
    image = tmp_path / "noise.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8))
    common = ["predict", "--model", "test-small", "--source", str(image), "--conf", "0.005", "--max-det", "10000"]
    everything, _ = run_ok(capsys, *common)
    assert len(everything["per_class"]) > 2 and everything["classes"] is None  # the untrained model sees all sorts
    wanted = sorted(everything["per_class"])[:2]
    jsonl = tmp_path / "d.jsonl"
    summary, _ = run_ok(capsys, *common, "--classes", ",".join(name.upper() for name in wanted), "--jsonl", str(jsonl))
    assert set(summary["per_class"]) == set(wanted) and set(summary["classes"]) == set(wanted)
    assert summary["per_class"] == {name: everything["per_class"][name] for name in wanted}
    labels = {d["label"] for line in jsonl.read_text().splitlines() for d in json.loads(line)["detections"]}
    assert labels == set(wanted)
    for every_class in ("All", "all,"):  # as the app's --classes all: every class
        every, _ = run_ok(capsys, *common, "--classes", every_class)
        assert every["per_class"] == everything["per_class"]
    code, summary, err = run(capsys, *common, "--classes", "persn", "--output", str(tmp_path / "out.png"))
    assert code == 2 and err.count("\n") == 1 and "unknown class 'persn' (did you mean 'person'?)" in err, err
    code, summary, err = run(capsys, *common, "--classes", "")  # a script's empty variable: not "every class"
    assert code == 2 and "names no class" in err, err
    assert not (tmp_path / "out.png").exists()  # refused before anything was written


@pytest.mark.parametrize("source, flags, message", [
    ("street.avi", ["--output", "street.avi"], "is the source itself"),
    ("street.avi", ["--output", "link.avi"], "is the source itself"),  # a link to it
    ("street.avi", ["--jsonl", "street.avi"], "is the source itself"),
    ("street.avi", ["--output", "out.mp4", "--jsonl", "out.mp4"], "same file"),
    ("images", ["--output", "images"], "folder the source images are in"),
    ("images/a.jpg", ["--output", "images"], "folder the source images are in"),
    ("images/a.jpg", ["--output", "images/a.jpg"], "is the source itself"),
    ("images", ["--jsonl", "images/c.jpg"], "is named as an image in the folder being read"),
    ("images", ["--output", "annotated", "--jsonl", "annotated/c.jpg"], "has the name of a source image"),
    # through a folder not made yet: the OS finds no logs/ to go up from, until the writer makes it
    ("street.avi", ["--jsonl", "logs/../street.avi"], "is the source itself"),
    ("images", ["--output", "images/annotated/.."], "folder the source images are in"),
    ("images/a.jpg", ["--output", "images/x/../a.jpg"], "is the source itself"),
    ("street.avi", ["--output", "out.mp4", "--jsonl", "new/../out.mp4"], "same file"),
], ids=["video-output", "video-output-link", "video-jsonl", "output-is-jsonl", "folder-into-itself",
        "image-into-its-folder", "image-onto-itself", "jsonl-over-a-source-image", "jsonl-under-an-annotated-image",
        "jsonl-through-a-new-folder", "folder-through-a-new-folder", "image-through-a-new-folder",
        "output-is-jsonl-through-a-new-folder"])
def test_predict_never_writes_over_what_it_reads(capsys, vtest_path, image_folder, tmp_path, monkeypatch, source,
                                                 flags, message):
    shutil.copyfile(vtest_path, tmp_path / "street.avi")
    (tmp_path / "link.avi").symlink_to(tmp_path / "street.avi")
    shutil.copytree(image_folder, tmp_path / "images")
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    monkeypatch.chdir(tmp_path)
    code, summary, err = run(capsys, "predict", "--model", "test-small", "--source", source, *flags)
    assert code == 2 and message in err, err
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before


@pytest.mark.parametrize("flag, name", [("--output", "out.mp4"), ("--jsonl", "out.jsonl")])
def test_an_output_under_a_file_says_that_file_is_in_the_way(capsys, vtest_path, tmp_path, flag, name):
    """mkdir's "File exists" read as if out.jsonl existed: `cannot write notes/out.jsonl: File exists`."""
    (tmp_path / "notes").write_text("a file, not a folder")
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(vtest_path), "--max-frames", "2",
                       flag, str(tmp_path / "notes" / name))
    assert code == 2 and f"{tmp_path / 'notes'} is a file, not a folder" in err, err


def test_a_file_address_is_read_as_the_file_it_names(capsys, tmp_path):
    """file:///…/my%20clip.avi: every frame at the file's rate (not a stream's wall clock), and the file protected."""
    clip = tmp_path / "my clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (160, 120))
    for i in range(12):
        writer.write(np.full((120, 160, 3), 20 * i, np.uint8))
    writer.release()
    original = clip.read_bytes()
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", clip.as_uri(),
                        "--output", str(tmp_path / "out.mp4"))
    assert (summary["source_kind"], summary["frames"], summary["frames_expected"]) == ("video", 12, 12)
    assert read_back(tmp_path / "out.mp4")[:2] == (12, 5.0)
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", clip.as_uri(), "--output", str(clip))
    assert code == 2 and "is the source itself" in err, err
    assert clip.read_bytes() == original


def test_a_stream_password_stays_out_of_messages_and_the_summary(capsys):
    code, summary, err = run(capsys, "predict", "--model", "test-small", "--source", "rtsp://admin:s3cret@127.0.0.1:9/live")
    assert code == 2 and "cannot connect to rtsp://admin:***@127.0.0.1:9/live" in err
    assert "s3cret" not in err + json.dumps(summary)
    assert "(refused, or no such address, or not a stream)" in err  # at once: it said "no answer within 5 s"
    # a password holding "@" (FFmpeg reads up to the last one) showed its end, and one in the query all of it
    for source, shown in (("rtsp://admin:Pa@ss2024@127.0.0.1:9/live", "rtsp://admin:***@127.0.0.1:9/live"),
                          ("http://127.0.0.1:9/snap.cgi?user=admin&pwd=Pa55&res=hd",
                           "http://127.0.0.1:9/snap.cgi?user=admin&pwd=***&res=hd")):
        code, summary, err = run(capsys, "predict", "--model", "test-small", "--source", source)
        assert code == 2 and shown in err and "ss2024" not in err and "Pa55" not in err, err


def test_a_folder_of_photos_plays_in_natural_order_without_hidden_files(capsys, tmp_path):
    """img10 came before img2 (a timelapse made into a video jumped about), and the "._img1.jpg" a macOS drive
    keeps beside each photo was read as one more image, failed, and was counted."""
    folder = tmp_path / "shots"
    folder.mkdir()
    names = ["img1.jpg", "img2.jpg", "IMG3.JPG", "img10.jpg", "x1²2.jpg"]  # (int() refuses "²")
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((48, 64, 3), 40 * (i + 1), np.uint8))
    (folder / "._img1.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    summary, err = run_ok(capsys, "predict", "--model", "test-small", "--source", str(folder), "--jsonl",
                          str(tmp_path / "dets.jsonl"))
    assert summary["frames"] == 5 and not summary["skipped"] and "skipped" not in err, err
    lines = [json.loads(line) for line in (tmp_path / "dets.jsonl").read_text().splitlines()]
    assert [line["source"] for line in lines] == names


def test_jfif_photos_as_browsers_save_them_are_read_upright_and_saved_as_jpeg(capsys, tmp_path):
    """A .jfif photo (a JPEG under the name browsers save it by) was taken for a video, sideways, and a folder of
    them was read without it, unsaid."""
    folder = tmp_path / "saved"
    folder.mkdir()
    portrait = np.zeros((96, 64, 3), np.uint8)
    save_as_phone_photo(folder / "a.jfif", portrait)  # landscape pixels, EXIF says turn them
    save_as_phone_photo(folder / "b.jfif", portrait)
    cv2.imwrite(str(folder / "c.jpg"), portrait)
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(folder / "a.jfif"))
    assert summary["source_kind"] == "images" and summary["frames"] == 1
    out = tmp_path / "out"
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", str(folder), "--output", str(out))
    assert summary["frames"] == 3 and sorted(p.name for p in out.iterdir()) == ["a.jfif.jpg", "b.jfif.jpg", "c.jpg"]
    assert cv2.imread(str(out / "a.jfif.jpg")).shape[:2] == (96, 64)  # upright, as viewers show it
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(folder / "c.jpg"),
                       "--output", str(tmp_path / "one.jfif"))
    assert code == 2 and "JFIF is read, not written; name a .jpg or .png file instead" in err, err


@pytest.mark.parametrize("typed", ["²", "99999999999999999999"])
def test_what_int_cannot_read_is_a_file_name_not_a_camera_number(capsys, typed):
    """'²' is a digit to str.isdigit() and not to int(), and 99999999999999999999 overflowed OpenCV: both were
    tracebacks."""
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", typed)
    assert code == 2 and f"not found: {typed}" in err and "Traceback" not in err, err


def test_a_camera_number_that_is_also_a_file_here_says_how_to_open_the_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_moving_box_video(tmp_path / "7", 5, container="matroska", codec="mpeg4")
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", "7")
    assert code == 2 and "camera 7 is not available" in err and "for the file named 7 here, write ./7" in err, err
    summary, _ = run_ok(capsys, "predict", "--model", "test-small", "--source", "./7")
    assert summary["frames"] == 5


def _yolo_folder(root: Path, splits: dict[str, int]) -> Path:
    """A YOLO dataset with VOC class names: per split, N grey images holding one box each."""
    (root / "data.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text("names: [person, car]\n")
    for split, count in splits.items():
        for folder in ("images", "labels"):
            (root / folder / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            cv2.imwrite(str(root / "images" / split / f"{split}{i}.jpg"), np.full((120, 160, 3), 90 + 20 * i, np.uint8))
            (root / "labels" / split / f"{split}{i}.txt").write_text(f"{i % 2} 0.5 0.5 0.4 0.6\n")
    return root


@pytest.mark.parametrize("flag", ["--data", "--annotations"])
def test_a_coco_file_without_its_images_folder_names_the_option_typed(capsys, tmp_path, flag):
    """`val --data tiny.json` said "--annotations needs --images DIR", an option the user had not typed."""
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(_coco()))
    code, _, err = run(capsys, "val", "--model", "test-small", flag, str(path))
    assert code == 2 and f"{flag} tiny.json (a COCO file) needs --images DIR" in err, err


@pytest.mark.parametrize("command", ["train", "val"])
@pytest.mark.parametrize("annotations", [[], [{"id": 1, "image_id": 0, "category_id": 1, "bbox": [0, 0, 9, 9],
                                               "iscrowd": 1}]], ids=["none", "only-a-crowd"])
def test_a_coco_file_without_boxes_says_so_before_the_model_loads(capsys, tmp_path, command, annotations):
    """val said "none of the model's classes … match the dataset's classes ()" of a file naming all 20; a crowd
    region is no box to find either (it is scored as ignored)."""
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_coco(images=[{"id": i, "file_name": f"{i}.jpg"} for i in range(5)],
                                     annotations=annotations,
                                     categories=[{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}])))
    argv = (["train", "--data", str(path), "--images", str(tmp_path), "--epochs", "1"] if command == "train" else
            ["val", "--model", "no-such-model", "--annotations", str(path), "--images", str(tmp_path)])
    code, summary, err = run(capsys, *argv)
    assert code == 2 and "5 " in err and "images hold no boxes, so there is nothing to" in err, err
    assert "a COCO file, in its annotations" in err


def test_val_scores_the_val_split_of_a_yolo_dataset(capsys, tmp_path):
    root = _yolo_folder(tmp_path / "yolo", {"train": 3, "val": 2})
    summary, err = run_ok(capsys, "val", "--model", "test-small", "--imgsz", "160", "--data", str(root))
    assert summary["images"] == 2 and summary["split"] == "val" and summary["data"] == str(root)
    assert 0 <= summary["map50_95"] <= summary["map50"] <= 1 and set(summary["per_class"]) == {"person", "car"}
    assert "AP50-95" in err
    summary, _ = run_ok(capsys, "val", "--model", "test-small", "--imgsz", "160", "--data", str(root),
                        "--split", "train")
    assert summary["images"] == 3 and summary["split"] == "train"
    for argv, says in (([], "val needs either --annotations COCO.json with --images DIR, or --data DATASET"),
                       (["--data", str(root), "--annotations", str(tmp_path / "x.json")],
                        "give --annotations COCO.json (with --images DIR) or --data DATASET, not both"),
                       (["--data", str(root), "--images", str(root / "images" / "val")],  # it was ignored, unsaid
                        "--images goes with --annotations or a COCO .json: yolo holds its own images"),
                       (["--data", str(tmp_path / "x.json"), "--images", str(root), "--split", "test"],
                        "a COCO .json is one split already"),
                       (["--data", str(root), "--split", "test"], "no images/test folder (its splits: train, val)")):
        code, summary, err = run(capsys, "val", "--model", "test-small", *argv)
        assert code == 2 and err.count("\n") == 1 and says in err, err
    (root / "images" / "val" / "val1.jpg").write_bytes(b"junk")
    code, summary, err = run(capsys, "val", "--model", "test-small", "--data", str(root))
    assert code == 2 and "val1.jpg is not a readable image (val scores every image of the split)" in err, err
    (root / "labels").rename(root / "label")  # a typo: no image has its boxes any more
    code, summary, err = run(capsys, "val", "--model", "test-small", "--data", str(root), "--split", "train")
    assert code == 2 and "the dataset's 3 images hold no boxes, so there is nothing to score" in err, err
    assert "labels/NAME.txt" in err  # where they were looked for (it said "the dataset's classes ()")


def test_train_is_wired_to_the_training_package(capsys, monkeypatch):
    seen = {}
    fake = types.ModuleType("detector.training.cli")

    def add_train_arguments(parser):
        parser.add_argument("--epochs", type=int, required=True)

    def run_train(args):
        seen["epochs"] = args.epochs
        return {"epochs": args.epochs, "best_map50": 0.5}

    fake.add_train_arguments, fake.run_train = add_train_arguments, run_train
    monkeypatch.setitem(sys.modules, "detector.training.cli", fake)
    summary, _ = run_ok(capsys, "train", "--epochs", "3")
    assert seen == {"epochs": 3} and summary == {"command": "train", "epochs": 3, "best_map50": 0.5}
    code, summary, err = run(capsys, "train")  # its own argument errors are one line too
    assert code == 2 and err.count("\n") == 1 and "--epochs" in err


def test_broken_training_package_only_breaks_train(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "detector.training.cli", None)  # import fails
    code, summary, err = run(capsys, "train", "--epochs", "3")
    assert code == 2 and err.startswith("error: training is not available") and err.count("\n") == 1
    run_ok(capsys, "info")


# -- every mistake: exit code 2, one line on stderr, no traceback, JSON error on stdout ------------------


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, vtest_path):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "corrupt.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    (folder / "empty.avi").write_bytes(b"")
    (folder / "empty.json").write_bytes(b"")
    (folder / "garbage.safetensors").write_bytes(b"\x00" * 100)
    (folder / "not-json.json").write_text("{ nope")
    (folder / "damaged.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "unreadable-images").mkdir()
    for name in ("a.jpg", "b.png"):
        (folder / "unreadable-images" / name).write_bytes(b"\x89PNG nothing after")
    (folder / "videos").mkdir()
    (folder / "videos" / "street.avi").write_bytes(b"")
    (folder / "dataset" / "images" / "train").mkdir(parents=True)
    (folder / "holiday" / "photos").mkdir(parents=True)  # a clip and a folder of photos
    (folder / "holiday" / "clip.avi").write_bytes(b"")
    write_song_with_cover(folder / "song.mp3")
    write_notes(folder / "notes.txt")
    write_sound_only(folder / "song.ogg", "vorbis")
    write_sound_only(folder / "music.mp4", "aac")
    write_sound_only(folder / "music.webm", "libopus")
    return folder


def error_cases():
    cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
    v = "{vtest}"
    return [
        pytest.param(["predict", "--model", "no-such-model", "--source", v], "unknown model", id="unknown-model"),
        # was "--output for a video source must be a video file (…), got pytest-0"
        pytest.param(["predict", "--model", "test-small", "--source", v, "--output", "{tmp}"],
                     "--output {tmp} is a folder; for a video source name the video file, such as "
                     "{tmp}/vtest-annotated.mp4", id="folder-as-video-output"),
        # was "cannot read vtest.avi: 'utf-8' codec can't decode byte 0xc0 in position 16"
        pytest.param(["val", "--model", "test-small", "--annotations", v, "--images", "{tmp}"],
                     "vtest.avi is not a COCO .json file (it is not text)", id="video-as-annotations"),
        pytest.param(["val", "--model", "test-small", "--annotations", "{tmp}", "--images", "{tmp}"],  # "not found"
                     "{tmp} is a folder: give the COCO .json file itself", id="folder-as-annotations"),
        pytest.param(["val", "--model", "test-small", "--annotations", "{bad}/empty.json", "--images", "{tmp}"],
                     "empty.json is empty", id="empty-annotations"),  # was "not valid JSON (line 1: Expecting value)"
        pytest.param(["info", "--model", "{tmp}/moved"],  # was read as --models-dir: "models folder not found"
                     "unrecognized arguments: --model {tmp}/moved", id="abbreviated-option"),
        # val accepted them, and its start line claimed CUDA graphs, but scoring never ran the fast path
        pytest.param(["val", "--model", "test-small", "--data", "{tmp}", "--cuda-graph"],
                     "unrecognized arguments: --cuda-graph", id="val-cuda-graph"),
        pytest.param(["predict", "--models-dir", "{tmp}/moved", "--source", v],  # was "no trained weights installed"
                     "models folder not found: {tmp}/moved", id="missing-models-folder"),
        pytest.param(["predict", "--model", "{tmp}", "--source", v],  # a run folder: "unknown model '/tmp/…'"
                     "{tmp} is a folder: give the model's weights file in it", id="model-a-folder"),
        pytest.param(["predict", "--models-dir", "{tmp}", "--source", v],  # "… train it with python -m detector train"
                     "no model 'yolo-mnv3-small': {tmp} holds no model manifests (no yolo-mnv3-small.yaml)",
                     id="models-folder-without-manifests"),
        pytest.param(["cache", "--models-dir", "{tmp}/moved", "--warm"],  # exited 0, having exported nothing
                     "models folder not found: {tmp}/moved: there is no model to export", id="warm-missing-models-folder"),
        pytest.param(["cache", "--models-dir", "{tmp}/moved", "--clear", "--warm"],  # cleared, then refused to warm
                     "models folder not found: {tmp}/moved: there is no model to export",
                     id="clear-and-warm-missing-models-folder"),
        pytest.param(["predict", "--model", "test-small", "--source", "{tmp}/missing.mp4"], "not found", id="missing-source"),
        pytest.param(["predict", "--model", "test-small", "--source", ""],  # was " is a folder, not a video file"
                     "the source is empty: give a video file", id="empty-source"),
        pytest.param(["predict", "--model", "test-small", "--source", "-"],  # was "file not found: -"
                     "reading video from standard input (-) is not supported", id="stdin-source"),
        pytest.param(["predict", "--model", "test-small", "--source", "{bad}/corrupt.mp4"], "decode", id="corrupt-video"),
        pytest.param(["predict", "--model", "test-small", "--source", "{bad}/empty.avi"], "empty", id="empty-video"),
        pytest.param(["predict", "--model", "test-small", "--source", "{bad}/song.mp3"],
                     "song.mp3 is an audio file", id="song-with-cover-art"),
        *[pytest.param(["predict", "--model", "test-small", "--source", f"{{bad}}/{name}"],
                       f"{name} is an audio file", id=f"sound-only-{name}")
          for name in ("song.ogg", "music.mp4", "music.webm")],  # names videos use too: the streams tell
        pytest.param(["predict", "--model", "test-small", "--source", v, "--reconnect"],
                     "--reconnect is for cameras and live streams; vtest.avi has an end", id="reconnect-a-file"),
        pytest.param(["predict", "--model", "test-small", "--source", "{bad}/notes.txt"],
                     "notes.txt is a text file, not a video", id="text-file"),
        pytest.param(["predict", "--model", "test-small", "--source", "{bad}/unreadable-images"], "no image in",
                     id="folder-of-unreadable-images"),
        pytest.param(["predict", "--model", "test-small", "--source", "{bad}/videos"],
                     "no images in {bad}/videos (it holds 1 video, such as street.avi: give one video file as the source)",
                     id="folder-of-videos"),
        pytest.param(["predict", "--model", "test-small", "--source", "{bad}/dataset"],
                     "sub-folders such as images are not searched", id="folder-of-folders"),
        pytest.param(["predict", "--model", "test-small", "--source", "{bad}/holiday"],  # it named only the clip
                     "(it holds 1 video, such as clip.avi: give one video file as the source; sub-folders such as "
                     "photos are not searched: give the one that holds the images)", id="folder-of-a-clip-and-photos"),
        pytest.param(["predict", "--model", "test-small", "--source", "192.168.1.10:554/live"],
                     "write the address with its scheme, such as rtsp://192.168.1.10:554/live", id="address-without-scheme"),
        pytest.param(["predict", "--model", "test-small", "--source", "camera.local/stream"],  # was "file not found"
                     "write the address with its scheme, such as rtsp://camera.local/stream", id="host-without-scheme"),
        pytest.param(["predict", "--model", "test-small", "--source", "www.example.com/live.m3u8"],
                     "such as rtsp://www.example.com/live.m3u8 or http://www.example.com/live.m3u8", id="www-without-scheme"),
        pytest.param(["predict", "--model", "test-small", "--source", "rtsp//camera.local/stream"],
                     "rtsp//camera.local/stream is not a file here; did you mean rtsp://camera.local/stream?",
                     id="mistyped-scheme"),
        # its password masked in both: it was shown in clear, on stderr and in the JSON line
        pytest.param(["predict", "--model", "test-small", "--source", "rtsp//admin:s3cret@cam.local/live"],
                     "rtsp//admin:***@cam.local/live is not a file here; did you mean rtsp://admin:***@cam.local/live?",
                     id="mistyped-scheme-with-a-password"),
        pytest.param(["predict", "--model", "test-small", "--source", "admin:s3cret@cam.local/live"],
                     "file not found: admin:***@cam.local/live", id="no-scheme-with-a-password"),
        pytest.param(["predict", "--model", "test-small", "--source", "clips/missing.mp4"], "file not found: clips/missing.mp4",
                     id="missing-file"),
        pytest.param(["predict", "--model", "test-small", "--source", "rtsps://127.0.0.1:9/live"], "cannot connect to rtsps://",
                     id="stream-of-another-scheme"),
        pytest.param(["predict", "--model", "test-small", "--source", "{bad}/damaged.jpg"], "not a readable image",
                     id="damaged-image"),
        pytest.param(["predict", "--model", "{bad}/garbage.safetensors", "--source", v], "safetensors", id="corrupt-weights"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--imgsz", "300"], "multiple of 32", id="imgsz-300"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--imgsz", "0"], "positive", id="imgsz-0"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--imgsz", "100000"], "at most 4096",
                     id="imgsz-huge"),
        pytest.param(["train", "--data", "{voc_json}", "--images", "{tmp}", "--imgsz", "8192"], "at most 4096",
                     id="train-imgsz-huge"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--imgsz", "big"], "whole number", id="imgsz-text"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--conf", "1.5"], "between 0 and 1", id="conf-high"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--conf", "-0.1"], "between 0 and 1", id="conf-negative"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--iou", "2"], "between 0 and 1", id="iou-high"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--device", "tpu"], "choose from", id="device-unknown"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--device", "cuda"], "CUDA", id="cuda-on-cpu",
                     marks=cpu_only),
        pytest.param(["bench", "--model", "test-small", "--device", "cuda", "--frames", "2"], "CUDA", id="bench-cuda-on-cpu",
                     marks=cpu_only),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--output", "{ro}/out.mp4"], "cannot write",
                     id="unwritable-output"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--jsonl", "{ro}/d.jsonl"], "cannot write",
                     id="unwritable-jsonl"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--output", "{tmp}/frame.png"], "video file",
                     id="image-output-for-video"),
        pytest.param(["predict", "--model", "test-small"], "--source", id="missing-required-source"),
        pytest.param(["predict", "--model", "test-small", "--source", "0", "--camera-mode", "720p"], "WIDTHxHEIGHT",
                     id="camera-mode-unreadable"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--camera-mode", "1280x720@30"],
                     "applies to a camera", id="camera-mode-for-a-file"),
        pytest.param(["val", "--model", "test-small", "--annotations", "{tmp}/none.json", "--images", "{tmp}"],
                     "not found", id="missing-annotations"),
        pytest.param(["val", "--model", "test-small", "--annotations", "{bad}/not-json.json", "--images", "{tmp}"],
                     "not valid JSON", id="broken-annotations"),
        pytest.param(["val", "--model", "test-small", "--annotations", "{voc_json}", "--images", "{tmp}/nowhere"],
                     "images folder", id="missing-images-folder"),
        pytest.param(["export", "--model", "test-small", "--format", "tflite"], "invalid choice", id="export-bad-format"),
        pytest.param(["export", "--model", "test-small", "--output", "{tmp}/m.txt"], ".onnx", id="export-bad-suffix"),
        # told before the model loads (it came seconds later, after "unknown model" for a typo in both)
        pytest.param(["export", "--model", "no-such-model", "--output", "{tmp}/m.txt"], "must end in .onnx",
                     id="export-bad-suffix-first"),
        pytest.param(["export", "--model", "test-small", "--output", "{tmp}"],  # was "must end in .onnx, got pytest-1"
                     "--output {tmp} is a folder; name the file, such as {tmp}/test-small.onnx", id="export-to-folder"),
        pytest.param(["export", "--model", "no-such-model"], "unknown model", id="export-unknown-model"),
        pytest.param(["val", "--model", "yolo-mnv3-large", "--annotations", "{voc_json}", "--images", "{tmp}"],
                     "train it with `python -m detector train --model yolo-mnv3-large", id="preset-without-weights"),
        pytest.param(["bench", "--model", "test-small", "--frames", "0"], "positive", id="bench-zero-frames"),
        # every result is kept to the end: 300 million took 3.6 GB and rising before the first was timed
        pytest.param(["bench", "--model", "test-small", "--frames", "300000000"],
                     "--frames: must be at most 100,000, got 300,000,000 (--soak N", id="bench-too-many-frames"),
        pytest.param(["bench", "--model", "test-small", "--warmup", "-1"], "--warmup: must be 0 or more, got -1",
                     id="bench-negative-warmup"),
        pytest.param(["bench", "--model", "test-small", "--frames", "2", "--file-job"], "--source VIDEO",
                     id="bench-file-job-without-video"),
        pytest.param(["bench", "--model", "test-small", "--device", "cpu", "--half"], "fp16", id="half-on-cpu"),
        pytest.param(["predict", "--model", "test-small", "--source", v, "--cuda-graph"], "CUDA graphs",
                     id="cuda-graph-on-cpu", marks=cpu_only),
        pytest.param(["bench", "--model", "test-small", "--frames", "2", "--compile"], "--compile compiles the CUDA",
                     id="compile-on-cpu", marks=cpu_only),
        pytest.param([], "choose a command", id="no-command"),
        pytest.param(["fly"], "invalid choice", id="unknown-command"),
    ]


def _coco(images=None, annotations=None, categories=None) -> dict:
    return {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}] if images is None else images,
            "annotations": ([{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 2, 30, 20]}]
                            if annotations is None else annotations),
            "categories": [{"id": 1, "name": "cat"}] if categories is None else categories}


@pytest.mark.parametrize("command", ["train", "val"])
@pytest.mark.parametrize("content, message", [
    pytest.param([1, 2, 3], "is not a COCO detection file", id="a-list"),
    pytest.param(_coco(annotations=[{"id": 7, "image_id": 1, "category_id": 1}]),
                 "annotation #1 (id 7) has no 'bbox' of 4 numbers", id="no-bbox"),
    pytest.param(_coco(annotations=[{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 2, "30", 20]}]),
                 "annotation #1 (id 7) has no 'bbox' of 4 numbers", id="bbox-text"),
    pytest.param(_coco(annotations=[{"id": 7, "bbox": [1, 2, 30, 20]}]),
                 "annotation #1 lacks an 'image_id' or a 'category_id'", id="annotation-ids"),
    pytest.param(_coco(images=[{"file_name": "a.jpg"}]), "image #1 lacks an 'id' or a 'file_name'", id="image-id"),
    pytest.param(_coco(images=[{"id": 1, "file_name": "a.jpg", "width": "64"}]),
                 "image #1 (a.jpg) has a width or height that is not a number", id="width-text"),
    pytest.param(_coco(categories=[{"id": 1}]), "category #1 lacks a 'name'", id="category-name"),
    pytest.param(_coco(categories=[{"id": "1", "name": "cat"}]), "category #1 (cat) lacks a whole-number 'id'",
                 id="category-id-text"),
    pytest.param(_coco(images=[{"id": 1, "file_name": "a.jpg"}, {"id": "2", "file_name": "b.jpg"}]),
                 "image #2 (b.jpg) has an 'id' that is not a whole number", id="image-ids-mixed"),
    # each image got both images' boxes (train), and val scored one image's boxes against the other
    pytest.param(_coco(images=[{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "b.jpg"}]),
                 "image #2 (b.jpg) has the id 1 of an earlier image (a.jpg)", id="image-id-repeated"),
    pytest.param(_coco(images=[{"id": [1], "file_name": "a.jpg"}]),
                 "image #1 (a.jpg) has an 'id' that is not a whole number", id="image-id-list"),
    pytest.param(_coco(annotations=[{"id": 7, "image_id": 1, "category_id": [1], "bbox": [1, 2, 30, 20]}]),
                 "annotation #1 (id 7) has an 'image_id' or 'category_id' that is not a whole number",
                 id="category-id-list"),
    pytest.param(_coco(images=[{"id": 1, "file_name": "a.jpg", "width": float("nan"), "height": 48}]),
                 "image #1 (a.jpg) has a width or height that is not a number", id="width-nan"),
    pytest.param("[" * 100_000 + "]" * 100_000, "is not a COCO detection file (nested", id="nested-too-deep"),
    pytest.param(_coco(annotations=[{"id": 7, "image_id": "1", "category_id": 1, "bbox": [1, 2, 30, 20]}]),
                 "annotation #1 (id 7) names image_id '1', a str, where the images' ids are ints",
                 id="image-id-as-text"),  # every box would be left out as of an unlisted image
    # left out unsaid: val scored 62 of a file's 63 boxes
    pytest.param(_coco(annotations=[{"id": 7, "image_id": 1, "category_id": 999, "bbox": [1, 2, 30, 20]}]),
                 "annotation #1 (id 7) has category_id 999, which 'categories' does not list", id="unknown-category"),
])
def test_a_malformed_coco_file_is_one_line_naming_the_bad_entry(capsys, tmp_path, command, content, message):
    """A hand-edited or half-exported file: one error line saying where, never an internal error."""
    path = tmp_path / "instances.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    argv = (["train", "--data", str(path), "--images", str(tmp_path), "--epochs", "1"] if command == "train" else
            ["val", "--model", "test-small", "--annotations", str(path), "--images", str(tmp_path)])
    code, summary, err = run(capsys, *argv)
    assert code == 2 and f"instances.json: {message}" in err, err
    assert "internal error" not in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["train", "val"])
def test_a_coco_subset_cut_by_its_images_list_says_how_many_annotations_it_leaves_out(capsys, tmp_path, command):
    """A quick subset keeps the first images and every annotation: those of the images cut were left out unsaid
    (pycocotools leaves them out too)."""
    cv2.imwrite(str(tmp_path / "a.jpg"), np.full((48, 64, 3), 90, np.uint8))
    path = tmp_path / "subset.json"
    path.write_text(json.dumps(_coco(annotations=[
        {"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 2, 30, 20]},
        {"id": 8, "image_id": 5, "category_id": 1, "bbox": [1, 2, 30, 20]},
        {"id": 9, "image_id": 6, "category_id": 1, "bbox": [1, 2, 30, 20]}])))
    argv = (["train", "--data", str(path), "--images", str(tmp_path), "--epochs", "1", "--imgsz", "64", "--device",
             "cpu", "--output", str(tmp_path / "run"), "--eval-interval", "0"] if command == "train" else
            ["val", "--model", "test-small", "--imgsz", "64", "--annotations", str(path), "--images", str(tmp_path)])
    summary, err = run_ok(capsys, *argv)
    assert "warning: 2 annotations are of images the file does not list: left out" in err, err


def test_running_out_of_gpu_memory_is_one_line_with_what_to_change_not_an_internal_error(capsys, vtest_path,
                                                                                        monkeypatch):
    """torch's CUDA out-of-memory error (a RuntimeError, not a MemoryError) on a big --batch is the user's to fix."""
    import detector.pipeline

    def gpu_too_small(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 6.00 GiB (GPU 0; 7.79 GiB total)")

    monkeypatch.setattr(detector.pipeline, "run_pipeline", gpu_too_small)
    code, summary, err = run(capsys, "predict", "--model", "test-small", "--source", str(vtest_path), "--batch", "64")
    assert code == 2 and summary["exit_code"] == 2 and "internal error" not in err and err.count("error: ") == 1, err
    assert "out of memory (CUDA out of memory. Tried to allocate 6.00 GiB" in err
    assert "a smaller --batch or --imgsz needs less" in err


def test_running_out_of_memory_is_one_line_with_what_to_change(capsys, vtest_path, monkeypatch):
    """numpy's "Unable to allocate 27.9 GiB" (or CUDA's out-of-memory error) on a big --batch is the user's to fix."""
    import detector.pipeline

    def too_big(*args, **kwargs):
        raise MemoryError("Unable to allocate 27.9 GiB for an array with shape (64, 4096, 4096, 3)")

    monkeypatch.setattr(detector.pipeline, "run_pipeline", too_big)
    code, summary, err = run(capsys, "predict", "--model", "test-small", "--source", str(vtest_path), "--batch", "64")
    assert code == 2 and "Traceback" not in err and err.count("error: ") == 1, err
    assert "out of memory (Unable to allocate 27.9 GiB" in err and "a smaller --batch or --imgsz needs less" in err
    assert summary["exit_code"] == 2

    def opencv_too_big(*args, **kwargs):  # OpenCV's own allocation failure was "internal error cv2.error: …"
        raise cv2.error("OpenCV(5.1.0) alloc.cpp:73: error: (-4:Insufficient memory) Failed to allocate 184320 bytes")

    monkeypatch.setattr(detector.pipeline, "run_pipeline", opencv_too_big)
    code, summary, err = run(capsys, "predict", "--model", "test-small", "--source", str(vtest_path), "--batch", "64")
    assert code == 2 and "out of memory (OpenCV(5.1.0) alloc.cpp:73: error: (-4:Insufficient memory)" in err, err


def test_a_models_folder_of_broken_manifests_says_so(capsys, tmp_path, vtest_path):
    """It said the folder "holds no model manifests" while `info` listed the broken one."""
    (tmp_path / "mine.yaml").write_text("name: [unclosed\n")
    code, _, err = run(capsys, "predict", "--models-dir", str(tmp_path), "--source", str(vtest_path))
    assert code == 2 and f"{tmp_path} holds no usable model manifest (1 skipped as broken: mine.yaml" in err, err


@pytest.mark.parametrize("argv,message", error_cases())
def test_mistakes_get_one_error_line_and_exit_2(capsys, argv, message, tmp_path, bad_files, unwritable_folder,
                                                vtest_path, voc_root):
    values = {"vtest": str(vtest_path), "tmp": str(tmp_path), "bad": str(bad_files), "ro": str(unwritable_folder),
              "voc_json": str(voc_root / "annotations" / "instances_val.json")}
    argv = [a.format(**values) for a in argv]
    message = message.format(**values)
    code, summary, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err
    assert "Traceback" not in err and "s3cret" not in err  # a password in a mistyped address stays masked
    assert summary["exit_code"] == 2 and summary["error"] in err


def test_ctrl_c_exits_130_without_traceback(capsys, monkeypatch):
    import detector.cli as cli

    def interrupted(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_info", interrupted)
    code, summary, err = run(capsys, "info")
    assert code == 130 and err == "error: interrupted\n" and summary["exit_code"] == 130

    monkeypatch.setattr(cli, "quiet_native_logs", interrupted)  # Ctrl-C at once, while OpenCV is imported
    code, summary, err = run(capsys, "info")  # was a KeyboardInterrupt traceback and no JSON line
    assert code == 130 and err == "error: interrupted\n" and summary["exit_code"] == 130


def test_a_command_started_from_inside_a_torchrun_job_still_prints_its_summary(capsys, monkeypatch):
    """Only train's other processes keep quiet under torchrun: info or predict run from a job's rank 1 printed
    no JSON line at all."""
    monkeypatch.setenv("RANK", "1")
    summary, _ = run_ok(capsys, "info")
    assert summary["command"] == "info"
    code, summary, _ = run(capsys, "predict", "--model", "test-small", "--source", "missing.mp4")
    assert code == 2 and summary["exit_code"] == 2  # its error's JSON line too
    assert main(["train", "--data", "missing.json", "--images", "x", "--device", "cpu"]) == 2  # rank 1 of a train:
    out, err = capsys.readouterr()
    assert out == "" and "error: " in err  # its error is said, and only rank 0 prints the JSON line


def test_a_bug_is_one_line_and_exit_1(capsys, monkeypatch):
    import detector.cli as cli

    def buggy(_args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "cmd_info", buggy)
    code, summary, err = run(capsys, "info")
    assert code == 1 and err.count("\n") == 1 and "ZeroDivisionError" in err and "Traceback" not in err


def test_a_library_bug_names_its_library(capsys, monkeypatch):
    import detector.cli as cli

    def buggy(_args):
        cv2.putText(np.zeros((4, 4, 3), np.uint16), "x", (0, 2), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255))

    monkeypatch.setattr(cli, "cmd_info", buggy)
    code, summary, err = run(capsys, "info")
    assert code == 1 and err.startswith("error: internal error cv2.error: ") and err.count("\n") == 1, err


def test_ultralytics_is_timed_on_the_same_frames_size_device_and_precision(monkeypatch):
    """Ultralytics ran fp32 (its default) beside LiveDet's fp16 on a GPU, so the ratio compared precisions too."""
    import importlib.machinery

    from detector.benchmark import bench_ultralytics

    calls = []

    class Result:
        speed = {"preprocess": 1.0, "inference": 2.0, "postprocess": 0.5}
        boxes = ()

    class FakeYolo:
        def __init__(self, model):
            self.model = model

        def predict(self, source, **options):
            calls.append((source, options))
            return [Result() for _ in (source if isinstance(source, list) else [source])]

    fake = types.ModuleType("ultralytics")
    fake.YOLO, fake.__version__ = FakeYolo, "0.fake"
    fake.__spec__ = importlib.machinery.ModuleSpec("ultralytics", None)
    monkeypatch.setitem(sys.modules, "ultralytics", fake)
    frames = [np.full((48, 64, 3), i, np.uint8) for i in range(3)]
    result, facts = bench_ultralytics(frames, model="yolo11n.yaml", imgsz=320, device="cuda", count=3, warmup=1,
                                      half=True)
    assert result.frames == 3 and facts["half"] is True
    assert all(options["half"] is True and options["device"] == "cuda:0" and options["imgsz"] == 320
               for _, options in calls)
    assert [int(source[0, 0, 0]) for source, _ in calls[-3:]] == [0, 1, 2]  # LiveDet's frames, in order


def test_compare_ultralytics_needs_ultralytics(capsys):
    from detector.benchmark import ultralytics_available

    if ultralytics_available():
        pytest.skip("ultralytics is importable here")
    code, summary, err = run(capsys, "bench", "--model", "test-small", "--frames", "2", "--compare-ultralytics")
    assert code == 2 and "ultralytics" in err and err.count("\n") == 1


def test_errors_stay_one_line_in_a_real_process(bad_files, models_env):
    """Native libraries (OpenCV, FFmpeg) may print their own complaints; the user sees only ours."""
    result = subprocess.run([sys.executable, "-m", "detector", "predict", "--model", "test-small", "--source",
                             str(bad_files / "corrupt.mp4")], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "LIVEDET_MODELS_DIR": str(models_env)})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {json.loads(result.stdout.splitlines()[-1])['error']}"]


def _with_stdout_reader_gone(*argv: str, models_env: Path, tmp_path: Path) -> tuple[int, str]:
    """Run the CLI with a stdout pipe whose reader has already gone, as ``livedet-cli … | head`` after head ends."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(tmp_path / "stderr.txt", "wb") as err:
        process = subprocess.run([sys.executable, "-m", "detector", *argv], cwd=REPO_ROOT, stdout=write_end,
                                 stderr=err, timeout=120, env={**os.environ, "LIVEDET_MODELS_DIR": str(models_env)})
    os.close(write_end)
    return process.returncode, (tmp_path / "stderr.txt").read_text()


@pytest.mark.skipif(sys.platform == "win32", reason="/dev/stdout and SIGPIPE's exit status are POSIX")
def test_a_reader_that_stops_reading_ends_the_command_quietly_not_with_a_traceback(vtest_path, tmp_path, models_env):
    """`predict … --jsonl /dev/stdout | head -2` printed three chained tracebacks (BrokenPipeError while saying
    the error, then at exit) and exited 1. Like `cat` or `grep`, it now ends with 141 and only our one line."""
    code, err = _with_stdout_reader_gone("info", models_env=models_env, tmp_path=tmp_path)
    assert code == 141 and "Traceback" not in err and "Exception ignored" not in err, err

    code, err = _with_stdout_reader_gone("predict", "--model", "test-small", "--imgsz", "160", "--source",
                                         str(vtest_path), "--max-frames", "20", "--output", str(tmp_path / "a.mp4"),
                                         "--jsonl", "/dev/stdout", models_env=models_env, tmp_path=tmp_path)
    assert code == 141 and "Traceback" not in err and "Exception ignored" not in err, err
    assert err.splitlines()[-1] == "error: cannot write standard output: Broken pipe"  # ("cannot write -: …")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a disk that is always full)")
def test_a_full_disk_behind_stdout_or_stderr_is_one_line_not_a_traceback(tmp_path, models_env):
    """`info > log` on a full disk printed a traceback; `predict … 2> log` on one lost the run's JSON summary."""
    env = {**os.environ, "LIVEDET_MODELS_DIR": str(models_env)}
    with open("/dev/full", "wb") as full:
        info = subprocess.run([sys.executable, "-m", "detector", "info"], cwd=REPO_ROOT, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120, env=env)
        photo = tmp_path / "photo.png"
        cv2.imwrite(str(photo), np.full((64, 96, 3), 90, np.uint8))
        predict = subprocess.run([sys.executable, "-m", "detector", "predict", "--model", "test-small", "--source",
                                  str(photo)], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=full, text=True,
                                 timeout=120, env=env)
    assert info.returncode == 2 and "Traceback" not in info.stderr
    assert info.stderr.splitlines()[-1] == "error: cannot write to standard output: No space left on device"
    assert predict.returncode == 0 and json.loads(predict.stdout.splitlines()[-1])["frames"] == 1


@pytest.mark.skipif(sys.platform == "win32", reason="/dev/stdout is POSIX")
def test_detections_to_stdout_redirected_into_a_file_come_whole_and_before_the_summary(vtest_path, tmp_path,
                                                                                       models_env):
    """`predict … --jsonl /dev/stdout >> run.log` opened /dev/stdout again: truncated, so run.log lost what it held,
    and written at its own offset, so the summary landed over the first records and split one in two."""
    log = tmp_path / "run.log"
    log.write_text("an earlier line\n")
    with open(log, "a") as out:
        subprocess.run([sys.executable, "-m", "detector", "predict", "--model", "test-small", "--imgsz", "160",
                        "--source", str(vtest_path), "--max-frames", "5", "--jsonl", "/dev/stdout"], cwd=REPO_ROOT,
                       stdout=out, stderr=subprocess.DEVNULL, timeout=120, check=True,
                       env={**os.environ, "LIVEDET_MODELS_DIR": str(models_env)})
    lines = log.read_text().splitlines()
    assert lines[0] == "an earlier line" and len(lines) == 7
    assert [json.loads(line)["frame"] for line in lines[1:6]] == [0, 1, 2, 3, 4]
    assert json.loads(lines[6])["command"] == "predict"

    piped = subprocess.run([sys.executable, "-m", "detector", "predict", "--model", "test-small", "--imgsz", "160",
                            "--source", str(vtest_path), "--max-frames", "3", "--jsonl", "-"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, check=True,
                           env={**os.environ, "LIVEDET_MODELS_DIR": str(models_env), "PYTHONPATH": str(REPO_ROOT)})
    assert [json.loads(line).get("frame") for line in piped.stdout.splitlines()] == [0, 1, 2, None]  # "-": stdout,
    assert not (tmp_path / "-").exists()  # as for most tools (it wrote a file named "-")


@pytest.mark.skipif(sys.platform == "win32", reason="/dev/stdout is POSIX")
def test_a_cameras_detections_to_stdout_go_to_stdout_not_to_a_renamed_file(vtest_path, tmp_path, models_env):
    """A camera's run never writes over an earlier recording, so an --output or --jsonl that exists gets the next free
    name: /dev/stdout, which always exists, became /dev/stdout-2 (a file nobody reads, made in /dev as root), and
    /proc/self/fd/1 became /proc/self/fd/1-2, which failed the run."""
    from .mjpeg_camera import MjpegCamera

    camera = MjpegCamera(vtest_path, fps=15.0, frames=30)
    camera.start()
    try:
        for stdout_name in ("/dev/stdout", "/proc/self/fd/1"):
            log = tmp_path / "run.log"
            with open(log, "w") as out:
                result = subprocess.run([sys.executable, "-m", "detector", "predict", "--model", "test-small",
                                         "--imgsz", "160", "--source", camera.url, "--max-frames", "4", "--jsonl",
                                         stdout_name], cwd=REPO_ROOT, stdout=out, stderr=subprocess.PIPE, text=True,
                                        timeout=120, env={**os.environ, "LIVEDET_MODELS_DIR": str(models_env)})
            assert result.returncode == 0 and "earlier recording" not in result.stderr, result.stderr
            lines = log.read_text().splitlines()
            assert [json.loads(line).get("frame") for line in lines] == [0, 1, 2, 3, None], lines
            assert not Path(f"{stdout_name}-2").exists()
    finally:
        camera.stop()
        Path("/dev/stdout-2").unlink(missing_ok=True)  # left by the code before, as root


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_a_run_refused_for_its_jsonl_path_keeps_the_video_an_earlier_run_wrote(capsys, tmp_path, suffix):
    """The video was opened (emptied) before the JSONL was refused: an earlier result under that name was deleted
    (MP4) or left as a 0-frame file (AVI, MKV)."""
    source = write_moving_box_video(tmp_path / "clip.mkv", 5, container="matroska", codec="mpeg4")
    earlier = tmp_path / f"annotated{suffix}"
    earlier.write_bytes(b"an earlier run's video")
    (tmp_path / "notes").write_text("")
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(source), "--output", str(earlier),
                       "--jsonl", str(tmp_path / "notes" / "dets.jsonl"))
    assert code == 2 and f"{tmp_path / 'notes'} is a file, not a folder" in err, err
    assert earlier.read_bytes() == b"an earlier run's video"
    if suffix == ".mp4" and sys.platform == "linux":  # a file there already is written as it is, whatever its
        # folder allows: the check made /proc/self/fd/2 "No such file or directory" (no file can be made there)
        code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(source), "--jsonl",
                           "/proc/self/fd/2")
        assert code == 0, err


@pytest.mark.parametrize("name", ["clip.mp4 ", "photo.jpg\t"])
def test_an_output_name_with_a_space_after_its_suffix_is_refused_not_made_a_folder(capsys, tmp_path, name):
    """A name pasted with a blank after it: a photo's --output "clip.mp4 " made a folder named 'clip.mp4 '."""
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((64, 96, 3), 90, np.uint8))
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(photo),
                       "--output", str(tmp_path / name))
    assert code == 2 and f"did you mean '{name.rstrip()}'?" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]
    code, _, err = run(capsys, "predict", "--model", "test-small", "--source", str(photo),
                       "--jsonl", str(tmp_path / "dets.jsonl "))  # a log named "dets.jsonl " was written
    assert code == 2 and "--jsonl 'dets.jsonl ' ends with a space after .jsonl; did you mean 'dets.jsonl'?" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_a_json_line_never_holds_nan(capsys):
    """JSON has no NaN: a diverged number was written as NaN, and strict readers (JSON.parse, jq) lost the line."""
    from detector.cli import _emit

    _emit({"command": "val", "map50": float("nan"), "per_class": {"a": {"ap50": float("inf")}}, "x": [1.0, -math.inf]})
    line = capsys.readouterr().out.strip()
    assert json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in {line}")) == {
        "command": "val", "map50": None, "per_class": {"a": {"ap50": None}}, "x": [1.0, None]}


def test_an_earlier_recording_named_through_a_folder_not_made_yet_is_kept(tmp_path, monkeypatch):
    """A camera's --jsonl x/../porch.jsonl: porch.jsonl was there, but the name as typed was not (no x/), so the
    run wrote over it once the log's writer had made x/."""
    from detector.cli import _keep_earlier, _keep_earlier_pair

    monkeypatch.chdir(tmp_path)
    (tmp_path / "porch.jsonl").write_text("last night's detections\n")
    assert Path(_keep_earlier("x/../porch.jsonl")).resolve() == tmp_path / "porch-2.jsonl"
    video, log = _keep_earlier_pair("y/../porch.mp4", "x/../porch.jsonl")  # folders differ as typed, not really
    assert (Path(video).resolve(), Path(log).resolve()) == (tmp_path / "porch-2.mp4", tmp_path / "porch-2.jsonl")
    assert _keep_earlier("x/../fresh.jsonl") == "x/../fresh.jsonl"  # nothing there: the name as given
