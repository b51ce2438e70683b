"""A CPU start from the kept ONNX export: no torch, the same detections, and a cache that can only cost time."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from detector import Predictor, load_model, load_predictor, onnx_cache
from detector import device as device_module
from detector.errors import LiveDetError
from detector.launch import warm_export
from detector.loader import resolve_manifest

from .conftest import make_random_models_dir, write_random_variant

REPO_ROOT = Path(__file__).resolve().parents[1]

START_AND_DETECT = """
import json, sys, time
import cv2
t0 = time.perf_counter()
from detector import load_predictor
predictor = load_predictor(sys.argv[3], device=sys.argv[2])
load_s = time.perf_counter() - t0
capture = cv2.VideoCapture(sys.argv[1])
found = []
for _ in range(40):
    ok, frame = capture.read()
    d = predictor.predict(frame, conf=0.25).detections
    found.append({"boxes": d.boxes.tolist(), "scores": d.scores.tolist(), "labels": d.labels})
print(json.dumps({"torch_loaded": "torch" in sys.modules, "label": predictor.device_label, "load_s": load_s,
                  "found": found}))
"""


def _start(vtest: Path, cache: Path, device: str = "cpu", model: str | Path = "yolo-mnv3-small") -> dict:
    env = {**os.environ, onnx_cache.CACHE_DIR_ENV: str(cache), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", START_AND_DETECT, str(vtest), device, str(model)], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _assert_same_detections(first: list[dict], second: list[dict]) -> None:
    assert sum(len(f["labels"]) for f in first) >= 20  # the street has people in it: a real comparison
    for a, b in zip(first, second, strict=True):
        assert a["labels"] == b["labels"]
        np.testing.assert_allclose(a["boxes"], b["boxes"], atol=1e-3)
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-5)


def test_a_second_cpu_start_runs_from_the_kept_export_without_torch(vtest_path, tmp_path):
    cache = tmp_path / "cache"
    first = _start(vtest_path, cache)
    assert first["torch_loaded"] and first["label"] == "cpu (onnxruntime)"
    assert [p.suffix for p in cache.iterdir()] == [".onnx"]
    second = _start(vtest_path, cache)
    assert not second["torch_loaded"], "the second start imported torch"
    assert second["label"] == "cpu (onnxruntime)"
    _assert_same_detections(first["found"], second["found"])


def test_a_weights_file_starts_without_torch_from_its_second_start_and_an_onnx_file_from_its_first(vtest_path,
                                                                                                   tmp_path):
    """Models opened from a file ("Open weights…", --model PATH), not only the shipped ones, start quickly."""
    cache, mine = tmp_path / "cache", tmp_path / "my-model.safetensors"
    shutil.copy(REPO_ROOT / "assets" / "models" / "yolo-mnv3-small.safetensors", mine)
    first = _start(vtest_path, cache, model=mine)
    assert first["torch_loaded"] and first["label"] == "cpu (onnxruntime)"
    [kept] = cache.iterdir()
    assert kept.name.startswith("my-model-")
    second = _start(vtest_path, cache, model=mine)
    assert not second["torch_loaded"], "the second start of a weights file imported torch"
    _assert_same_detections(first["found"], second["found"])
    graph = shutil.copy(kept, tmp_path / "my-model.onnx")  # an exported graph, as `detector export` writes one
    from_onnx = _start(vtest_path, tmp_path / "other-cache", model=graph)
    assert not from_onnx["torch_loaded"], "opening an .onnx file imported torch"
    _assert_same_detections(first["found"], from_onnx["found"])


def test_after_cache_warm_even_the_first_cpu_start_skips_torch(vtest_path, tmp_path):
    """What ``make`` runs at set-up: the app's very first start is then as quick as any later one."""
    cache = tmp_path / "cache"
    env = {**os.environ, onnx_cache.CACHE_DIR_ENV: str(cache), "PYTHONPATH": str(REPO_ROOT)}
    env.pop("LIVEDET_MODELS_DIR", None)
    result = subprocess.run([sys.executable, "-m", "detector", "cache", "--warm"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    small = next(m for m in summary["models"] if m["model"] == "yolo-mnv3-small")
    assert small["exported_now"] and Path(small["path"]).parent == cache
    first = _start(vtest_path, cache)
    assert not first["torch_loaded"], "the first start after cache --warm imported torch"
    assert first["label"] == "cpu (onnxruntime)"
    assert sum(len(f["labels"]) for f in first["found"]) >= 20  # and it finds the people in the street


def test_a_gpu_driver_or_a_mac_sends_auto_to_torch(monkeypatch):
    """Only a machine where torch certainly has no GPU skips it: any GPU driver library means "ask torch"."""
    monkeypatch.setattr(device_module.sys, "platform", "linux")
    monkeypatch.setattr(device_module, "_torch_is_cpu_only_build", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(device_module, "_GPU_DRIVER_LIBRARIES", ("libnothing-here.so.7",))
    assert device_module.runs_on_cpu("auto") and device_module.runs_on_cpu("CPU")
    assert not device_module.runs_on_cpu("cuda") and not device_module.runs_on_cpu("mps")
    monkeypatch.setattr(device_module, "_GPU_DRIVER_LIBRARIES", ("libnothing-here.so.7", "libc.so.6"))
    assert not device_module.runs_on_cpu("auto")
    assert device_module.runs_on_cpu("cpu")
    monkeypatch.setattr(device_module, "_torch_is_cpu_only_build", lambda: True)  # a driver, but torch can't use it
    assert device_module.runs_on_cpu("auto")
    monkeypatch.setattr(device_module, "_torch_is_cpu_only_build", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # GPUs hidden, as a --cpu-only bundle does
    assert device_module.runs_on_cpu("auto")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert not device_module.runs_on_cpu("auto")
    monkeypatch.setattr(device_module.sys, "platform", "darwin")  # Apple's MPS needs no driver library
    monkeypatch.setattr(device_module, "_GPU_DRIVER_LIBRARIES", ())
    assert not device_module.runs_on_cpu("auto")


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv(onnx_cache.CACHE_DIR_ENV, str(cache))
    return cache


@pytest.fixture
def models(tmp_path) -> Path:
    return make_random_models_dir(tmp_path / "models")


def test_a_gpu_driver_without_a_usable_gpu_still_starts_from_the_kept_export(own_cache, models, monkeypatch):
    """A driver is installed, so torch must be asked; it finds no usable GPU and the CPU runs the model: the
    export kept at the first such start spares the 2-s export at every later one."""
    from detector import launch as launch_module

    monkeypatch.setattr(launch_module, "runs_on_cpu", lambda requested="auto": False)  # a driver library exists
    monkeypatch.setattr(launch_module, "select_device", lambda requested="auto": torch.device("cpu"))
    first = load_predictor("test-small", models_dir=models)
    assert first.device_label == "cpu (onnxruntime)" and len(list(own_cache.glob("*.onnx"))) == 1
    exports = []
    monkeypatch.setattr(onnx_cache, "export_and_keep", lambda model: exports.append(model) or b"")
    second = load_predictor("test-small", models_dir=models)
    assert exports == [] and second.model.network is None  # ran from the kept graph
    _assert_equal(_run(first, _frames()), _run(second, _frames()))


def _run(predictor: Predictor, frames: list[np.ndarray]):
    return [predictor.predict(f, conf=0.1).detections for f in frames]  # untrained scores sit near 0.12


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(3)]


def _assert_equal(a, b) -> None:
    assert sum(len(d) for d in a) > 0
    for x, y in zip(a, b, strict=True):
        assert x.labels == y.labels
        np.testing.assert_allclose(x.boxes, y.boxes, atol=1e-3)


def test_a_predictor_itself_writes_no_file_only_load_predictor_keeps_the_export(own_cache, models):
    Predictor(load_model("test-small", models_dir=models), device="cpu")  # ONNX Runtime, exported in memory
    assert not own_cache.exists()
    load_predictor("test-small", models_dir=models, device="cpu")
    assert [p.suffix for p in own_cache.iterdir()] == [".onnx"]


def test_a_damaged_kept_export_is_replaced_and_the_model_still_runs(own_cache, models, caplog):
    reference = _run(load_predictor("test-small", models_dir=models, device="cpu"), _frames())
    path = onnx_cache.cache_path(resolve_manifest("test-small", models_dir=models))
    assert path.is_file()  # that load kept its export
    path.write_bytes(b"not an onnx graph")
    with caplog.at_level(logging.WARNING, logger="detector.launch"):
        predictor = load_predictor("test-small", models_dir=models, device="cpu")
    assert "unusable" in caplog.text
    _assert_equal(reference, _run(predictor, _frames()))
    assert path.read_bytes()[:20] != b"not an onnx graph"[:20] and path.stat().st_size > 100_000  # exported anew
    _assert_equal(reference, _run(load_predictor("test-small", models_dir=models, device="cpu"), _frames()))


def test_a_device_this_machine_cannot_have_is_refused_before_the_model_is_loaded(own_cache, models, monkeypatch):
    """"cuda" on a laptop was refused only after seconds of importing torch and building the network, and "gpu"
    was taken for an ONNX file."""
    from detector import device as device_module
    from detector import launch as launch_module

    monkeypatch.setattr(device_module, "gpu_may_be_present", lambda: False)
    monkeypatch.setattr(launch_module, "load_model", lambda *a, **k: pytest.fail("loaded before the device was checked"))
    monkeypatch.setattr(launch_module, "describe_model", lambda *a, **k: pytest.fail("read before the device was checked"))
    with pytest.raises(LiveDetError, match="CUDA was requested but no CUDA GPU is available; use --device cpu"):
        load_predictor("test-small", models_dir=models, device="cuda")
    with pytest.raises(LiveDetError, match=r"unknown device 'gpu' \(choose from auto, cpu, cuda, mps, or cuda:N\)"):
        load_predictor("test-small", models_dir=models, device="gpu")


def test_a_model_named_like_a_path_is_kept_inside_the_cache_folder(own_cache, models):
    """A manifest's name is free text: "../../escaped" was kept two folders above the cache."""
    manifest = models / "test-small.yaml"
    manifest.write_text(manifest.read_text().replace("name: test-small", "name: ../../escaped"))
    spec = resolve_manifest(manifest)
    path = onnx_cache.cache_path(spec)
    assert path.parent == own_cache and path.name.startswith("_.._escaped-")
    load_predictor(manifest, device="cpu")
    assert [p.name for p in own_cache.glob("*.onnx")] == [path.name]


def test_a_manifest_edited_after_its_export_was_kept_is_refused_not_run_with_the_wrong_names(own_cache, models):
    """The kept graph has the weights' numbers, not the manifest's labels: with two classes swapped in the
    manifest afterwards, a CPU start from it called every person a car, where a torch load refuses."""
    load_predictor("test-small", models_dir=models, device="cpu")
    assert len(list(own_cache.glob("*.onnx"))) == 1  # kept
    manifest = models / "test-small.yaml"
    text = manifest.read_text()
    assert text.count("- car\n") == 1 and text.count("- person\n") == 1
    manifest.write_text(text.replace("- car\n", "- CAR\n").replace("- person\n", "- car\n").replace("- CAR\n", "- person\n"))
    with pytest.raises(LiveDetError, match=r"trained with class 6 named 'car', but manifest 'test-small' lists "
                                           r"'person' there"):
        load_predictor("test-small", models_dir=models, device="cpu")


def test_the_app_s_export_of_new_weights_is_made_in_another_process_and_kept(own_cache, models, monkeypatch):
    """The app asks for it: importing onnx to export in the app's own process held its window still for 0.5 s."""
    reference = _run(Predictor(load_model("test-small", models_dir=models), device="cpu"), _frames())
    monkeypatch.setattr(onnx_cache, "export_and_keep", lambda model: pytest.fail("exported in this process"))
    predictor = load_predictor("test-small", models_dir=models, device="cpu", export_in_child=True)
    assert predictor.model.network is None and len(list(own_cache.glob("*.onnx"))) == 1  # ran from the kept graph
    _assert_equal(reference, _run(predictor, _frames()))


def test_the_app_s_pt_checkpoint_is_exported_by_another_process_and_started_here_without_torch(own_cache, models,
                                                                                             tmp_path, monkeypatch):
    """A training run's last.pt, opened to watch the run: its export is not kept, and making it in the app
    imported torch and onnx there (1 GB, and the picture stopped 0.6 s) at every opening."""
    from safetensors.torch import load_file

    from detector import export
    from detector.weights_meta import read_safetensors_meta

    weights = models / "test-small.safetensors"
    checkpoint = tmp_path / "runs" / "cats" / "last.pt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"model": load_file(str(weights)), "meta": read_safetensors_meta(weights).to_json()}, checkpoint)
    reference = _run(Predictor(load_model(checkpoint), device="cpu"), _frames())
    monkeypatch.setattr(export, "onnx_bytes", lambda model: pytest.fail("exported in this process"))
    predictor = load_predictor(checkpoint, device="cpu", export_in_child=True)
    assert predictor.model.network is None and predictor.model.name == "cats-last"  # named as before
    assert predictor.model.spec.weights_path == checkpoint and not own_cache.exists()  # nothing kept
    _assert_equal(reference, _run(predictor, _frames()))


def test_with_a_cache_that_cannot_be_written_the_app_still_exports_once_and_elsewhere(monkeypatch, models,
                                                                                     unwritable_folder):
    """The child exported, the cache refused the file, and the app exported again itself: two exports, and
    torch and onnx in the app after all."""
    from detector import export

    monkeypatch.setenv(onnx_cache.CACHE_DIR_ENV, str(unwritable_folder / "livedet"))
    reference = _run(Predictor(load_model("test-small", models_dir=models), device="cpu"), _frames())
    monkeypatch.setattr(export, "onnx_bytes", lambda model: pytest.fail("exported in this process"))
    predictor = load_predictor("test-small", models_dir=models, device="cpu", export_in_child=True)
    assert predictor.model.network is None and predictor.model.name == "test-small"
    _assert_equal(reference, _run(predictor, _frames()))


QUIT_MID_EXPORT = """
import multiprocessing, os, sys, threading, time
from detector import load_predictor

if __name__ == "__main__":
    threading.Thread(target=load_predictor, args=("test-small",), daemon=True,
                     kwargs={"models_dir": sys.argv[1], "device": "cpu", "export_in_child": True}).start()
    deadline = time.monotonic() + 30
    while not multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    print(" ".join(str(child.pid) for child in multiprocessing.active_children()), flush=True)
    os._exit(0)  # as the app does when a load will not stop in time
"""


@pytest.mark.skipif(sys.platform == "win32", reason="tells a live process by signal 0")
def test_an_export_process_ends_with_the_app_that_asked_for_it(own_cache, models):
    """The app ends with os._exit when a load will not stop: its export process went on for 10 s at 671 MB."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", QUIT_MID_EXPORT, str(models)], env=env, capture_output=True,
                            text=True, timeout=120)
    pids = [int(pid) for pid in result.stdout.split()]
    assert pids, result.stderr[-2000:]

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return _not_a_zombie(pid)  # ended, but not yet reaped by whoever adopted it

    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)
    assert not list(own_cache.glob("*.onnx"))


def _not_a_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return True  # no /proc: signal 0 reached it, so it lives


def test_weights_the_other_process_cannot_export_are_refused_with_the_usual_reason(own_cache, models, caplog):
    from detector.errors import ModelError
    from detector.zoo import write_manifest

    small = resolve_manifest("test-small", models_dir=models)
    write_manifest(models / "wrong-arch.yaml", name="wrong-arch", config=small.config, input_size=320,
                   class_names=small.class_names, weights_file="test-large.safetensors")
    with caplog.at_level(logging.WARNING), pytest.raises(ModelError, match="does not match architecture mobilenet_v3_small"):
        load_predictor("wrong-arch", models_dir=models, device="cpu", export_in_child=True)
    assert not list(own_cache.glob("*.onnx")) and not caplog.records  # the reason, and nothing about processes


def _republish_small(models: Path, seed: int) -> Path:
    """New weights under the name test-small (another seed), as retraining and publishing again would give."""
    spec = resolve_manifest("test-small", models_dir=models)
    write_random_variant(models, "test-small", spec.config, spec.input_size, seed)
    return onnx_cache.cache_path(resolve_manifest("test-small", models_dir=models))


def test_new_weights_under_the_same_name_are_exported_again(own_cache, models):
    old = _run(load_predictor("test-small", models_dir=models, device="cpu"), _frames())
    old_path = onnx_cache.cache_path(resolve_manifest("test-small", models_dir=models))
    new_path = _republish_small(models, seed=10)
    assert new_path != old_path
    load_predictor("test-small", models_dir=models, device="cpu")  # exports the new weights and keeps them
    assert new_path.is_file()
    from_cache = _run(load_predictor("test-small", models_dir=models, device="cpu"), _frames())
    fresh = _run(Predictor(load_model("test-small", models_dir=models), device="cpu"), _frames())
    _assert_equal(fresh, from_cache)
    assert [len(d) for d in fresh] != [len(d) for d in old] or not np.allclose(fresh[0].boxes, old[0].boxes)


def test_the_cache_keeps_a_few_recent_exports_per_name_and_drops_the_least_recently_used(own_cache, models):
    first = onnx_cache.cache_path(resolve_manifest("test-small", models_dir=models))
    load_predictor("test-small", models_dir=models, device="cpu")
    kept = [first]
    for seed in range(10, 10 + onnx_cache.KEEP_PER_NAME):  # publish again and again: the cache must not grow
        os.utime(kept[-1], (1_000_000 + seed, 1_000_000 + seed))  # older than what comes next, whatever the clock
        kept.append(_republish_small(models, seed))
        load_predictor("test-small", models_dir=models, device="cpu")
    assert not first.exists()  # the least recently used went
    assert all(p.is_file() for p in kept[1:]) and len(list(own_cache.glob("test-small-*.onnx"))) == 3


def test_eviction_also_works_for_file_names_with_glob_characters(own_cache, tmp_path):
    """A weights file's stem names its exports, and users name files "best[1]" or "run*"."""
    from detector.models import ModelConfig
    from detector.zoo import ModelSpec

    for name in ("best[1]", "run*"):
        paths = []
        for version in range(onnx_cache.KEEP_PER_NAME + 2):  # the same file name, retrained again and again
            spec = ModelSpec(name=name, config=ModelConfig(), input_size=320, class_names=("a",) * 20,
                             weights_path=tmp_path / f"{name}.safetensors", weights_sha256=f"{version:064x}")
            onnx_cache.write(spec, b"graph")
            paths.append(onnx_cache.cache_path(spec))
            os.utime(paths[-1], (1_000_000 + version, 1_000_000 + version))
        assert sorted(p.name for p in own_cache.iterdir() if p.name.startswith(name[:3])) == sorted(
            p.name for p in paths[-onnx_cache.KEEP_PER_NAME:])


def test_two_folders_with_a_model_of_the_same_name_do_not_evict_each_other(own_cache, models, tmp_path):
    mine = tmp_path / "mine"
    shutil.copytree(models, mine)
    mine_path = _republish_small(mine, seed=20)  # e.g. the user's own retrained yolo-mnv3-small
    shipped_path = onnx_cache.cache_path(resolve_manifest("test-small", models_dir=models))
    load_predictor("test-small", models_dir=models, device="cpu")
    load_predictor("test-small", models_dir=mine, device="cpu")
    assert shipped_path.is_file() and mine_path.is_file()
    stamp = shipped_path.stat().st_mtime_ns
    os.utime(shipped_path, ns=(stamp - 10**9, stamp - 10**9))
    predictor = load_predictor("test-small", models_dir=models, device="cpu")  # from the kept file: no export
    assert predictor.model.network is None and shipped_path.stat().st_mtime_ns > stamp - 10**9  # used, so touched


def test_a_cache_that_cannot_be_written_costs_only_time(monkeypatch, models, unwritable_folder, caplog):
    cache = unwritable_folder / "livedet"
    monkeypatch.setenv(onnx_cache.CACHE_DIR_ENV, str(cache))
    with caplog.at_level(logging.WARNING, logger="detector.onnx_cache"):
        predictor = load_predictor("test-small", models_dir=models, device="cpu")
    assert "cannot keep the ONNX export" in caplog.text
    # (the cache folder only: as root the unwritable folder is /proc, whose threads vanish under a walk of it)
    assert not list(cache.glob("**/*.onnx"))
    _assert_equal(_run(Predictor(load_model("test-small", models_dir=models), device="cpu"), _frames()),
                  _run(predictor, _frames()))


def test_a_cache_folder_that_is_a_file_is_named_as_such(monkeypatch, models, tmp_path, caplog):
    """$LIVEDET_CACHE_DIR naming a file said "[Errno 17] File exists", which reads as if the export existed."""
    (tmp_path / "cache").write_bytes(b"a file")
    monkeypatch.setenv(onnx_cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING, logger="detector.onnx_cache"):
        load_predictor("test-small", models_dir=models, device="cpu", warmup=False)
    assert f"{tmp_path / 'cache'} is a file, not a folder" in caplog.text
    assert (tmp_path / "cache").read_bytes() == b"a file"


def test_an_export_shipped_beside_the_manifests_starts_the_model_when_the_user_cache_is_empty(own_cache, models,
                                                                                              monkeypatch):
    """An app bundle carries its models' exports (packaging/build_bundle.py): its first start exports nothing."""
    spec = resolve_manifest("test-small", models_dir=models)
    monkeypatch.setenv(onnx_cache.CACHE_DIR_ENV, str(models / onnx_cache.SHIPPED_EXPORTS))  # as the bundle build does
    assert warm_export(spec).exported_now
    monkeypatch.setenv(onnx_cache.CACHE_DIR_ENV, str(own_cache))
    shipped = onnx_cache.shipped_path(spec)
    assert shipped.is_file() and onnx_cache.find(spec) == shipped
    predictor = load_predictor("test-small", models_dir=models, device="cpu")
    assert predictor.device_label == "cpu (onnxruntime)"
    found = _run(predictor, _frames())
    assert not own_cache.exists() or not list(own_cache.iterdir())  # nothing exported: it ran from the shipped one
    _assert_equal(_run(Predictor(load_model("test-small", models_dir=models), device="cpu"), _frames()), found)


def test_a_damaged_shipped_export_is_left_alone_and_the_user_cache_takes_over(own_cache, models, monkeypatch, caplog):
    spec = resolve_manifest("test-small", models_dir=models)
    shipped = onnx_cache.shipped_path(spec)
    shipped.parent.mkdir(parents=True)
    shipped.write_bytes(b"damaged on the way")
    with caplog.at_level(logging.WARNING, logger="detector.launch"):
        predictor = load_predictor("test-small", models_dir=models, device="cpu")
    assert caplog.text.count("unusable") == 1  # tried once, then exported
    assert len(_run(predictor, _frames())[0]) > 0
    assert onnx_cache.find(spec) == onnx_cache.cache_path(spec)  # the user's cache now comes first
    assert shipped.read_bytes() == b"damaged on the way"  # the app's own files are never written to
    assert load_predictor("test-small", models_dir=models, device="cpu").device_label == "cpu (onnxruntime)"


def test_cache_warm_replaces_a_damaged_shipped_export_in_the_user_cache(own_cache, models, caplog):
    spec = resolve_manifest("test-small", models_dir=models)
    shipped = onnx_cache.shipped_path(spec)
    shipped.parent.mkdir(parents=True)
    shipped.write_bytes(b"damaged on the way")
    with caplog.at_level(logging.WARNING, logger="detector.launch"):
        warmed = warm_export(spec)
    assert "unusable" in caplog.text and warmed.exported_now and warmed.path == onnx_cache.cache_path(spec)
    assert shipped.read_bytes() == b"damaged on the way" and onnx_cache.find(spec) == warmed.path


def test_cache_command_lists_warms_and_clears_only_its_own_files(own_cache, models, capsys):
    from detector.cli import main

    def cache(*flags: str) -> dict:
        assert main(["cache", "--models-dir", str(models), *flags]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert [m["path"] for m in cache()["models"]] == [None, None]  # nothing kept yet: both would export first
    warmed = cache("--warm")["models"]
    assert [m["exported_now"] for m in warmed] == [True, True]
    assert all(Path(m["path"]).is_file() and m["bytes"] > 100_000 for m in warmed)
    assert [m["exported_now"] for m in cache("--warm")["models"]] == [False, False]  # kept: not exported twice
    damaged = Path(warmed[0]["path"])
    damaged.write_bytes(b"cut short by a full disk")
    rewarmed = cache("--warm")["models"]  # set-up replaces it, so the first start does not pay the export
    assert [m["exported_now"] for m in rewarmed] == [True, False] and damaged.stat().st_size > 100_000
    users_own = own_cache / "my-model.onnx"  # $LIVEDET_CACHE_DIR may be a folder the user also keeps files in
    users_own.write_bytes(b"mine")
    cut_short = damaged.with_name(f".{damaged.name}.4242-139876.part")  # an export killed mid-write
    cut_short.write_bytes(b"half an export")
    cleared = cache("--clear")
    assert cleared["removed"] == 2 and [m["path"] for m in cleared["models"]] == [None, None]
    assert users_own.read_bytes() == b"mine"
    assert sorted(p.name for p in own_cache.iterdir()) == ["my-model.onnx"]  # the half-written one went too


@pytest.mark.parametrize("option", ["half", "cuda_graph", "compile"])
def test_a_gpu_only_option_on_the_cpu_is_refused_before_any_export(own_cache, models, option):
    with pytest.raises(LiveDetError, match="GPU"):
        load_predictor("test-small", models_dir=models, device="cpu", **{option: True})
    assert not own_cache.exists()  # refused up front: no network built, no export written


def test_cache_warm_exports_every_model_it_can_and_names_the_one_it_could_not(own_cache, tmp_path, capsys,
                                                                              monkeypatch):
    """A damaged weights file sorted first ended `cache --warm` (run at set-up) before any model was exported;
    a cache that could not be written said so in a warning and exited 0, as if the exports were kept."""
    from detector.cli import main
    from detector.models import ModelConfig

    root = tmp_path / "models"
    small = ModelConfig(backbone="mobilenet_v3_small", neck_width=64, head_depth=1)
    write_random_variant(root, "a-damaged", small, 320, 5)
    write_random_variant(root, "test-small", small, 320, 0)
    assert main(["cache", "--models-dir", str(root), "--warm"]) == 0  # both kept...
    capsys.readouterr()
    weights = root / "a-damaged.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100:] = b"\x00" * 100
    weights.write_bytes(bytes(data))  # ... then one is damaged: its kept export is no sign it is ready
    assert main(["cache", "--models-dir", str(root), "--warm"]) == 2
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [m["model"] for m in summary["models"]] == ["test-small"]
    assert [m["model"] for m in summary["not_kept"]] == ["a-damaged"] and "sha256" in summary["not_kept"][0]["error"]
    assert Path(summary["models"][0]["path"]).is_file()
    (tmp_path / "a file").write_text("")
    monkeypatch.setenv(onnx_cache.CACHE_DIR_ENV, str(tmp_path / "a file" / "cache"))
    weights.unlink()
    assert main(["cache", "--models-dir", str(root), "--warm"]) == 2
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["not_kept"] == [{"model": "test-small", "error": "the export could not be written to the cache"}]
