"""The PyInstaller bundle, built as packaging/build_bundle.py builds it: it starts on its own, with
no virtual environment or source tree around, and plays a video offscreen.

Slow (a few minutes, mostly PyInstaller analysing torch); CI still runs it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from fnmatch import fnmatch
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "packaging" / "build_bundle.py"
_spec = importlib.util.spec_from_file_location("build_bundle", BUILD)
build_bundle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_bundle)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    pytest.importorskip("PyInstaller", reason='PyInstaller is not installed (pip install -e ".[package]")')
    root = tmp_path_factory.mktemp("bundle")
    started = time.monotonic()
    # --cpu-only: with a CUDA torch the full bundle is over 5 GB and takes longer to copy.
    result = subprocess.run(
        [sys.executable, str(BUILD), "--cpu-only", "--dist", str(root / "dist"), "--work", str(root / "work")],
        capture_output=True, text=True, timeout=1500,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    executable = build_bundle.bundle_executable(root / "dist")
    size_gib = build_bundle.folder_bytes(executable.parent) / 2**30
    print(f"\nbundle built in {time.monotonic() - started:.0f} s, {size_gib:.2f} GiB")
    yield executable
    shutil.rmtree(root, ignore_errors=True)  # gigabytes


def test_bundle_plays_video_offscreen_and_records_h264(vtest_path, bundle, tmp_path, request):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen"}
    from detector.zoo import list_models

    shipped = [spec.name for spec in list_models(REPO / "assets" / "models") if spec.weights_available]
    if not shipped:
        # No trained weights ship yet: untrained models exercise the same loading and drawing.
        env["LIVEDET_MODELS_DIR"] = str(request.getfixturevalue("random_models_dir"))
    started = time.monotonic()
    recording = tmp_path / "bundle.mp4"
    result = subprocess.run([str(bundle), "--source", str(vtest_path), "--exit-after-frames", "50",
                             "--record", str(recording)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    print(f"\nbundle ran 50 frames in {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert reports and reports[-1]["frames_displayed"] >= 50, result.stdout[-2000:]
    capture = cv2.VideoCapture(str(recording))  # PyAV and its libx264 made it into the bundle
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().lower()
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert fourcc in ("avc1", "h264") and frames >= 50, (fourcc, frames)
    if shipped:  # the bundle carries each model's ONNX export, so its first start on a CPU exported nothing
        exports = sorted(p.name for p in bundle.parent.rglob("assets/models/exports/*.onnx"))
        assert sorted(name.rsplit("-", 1)[0] for name in exports) == sorted(shipped), exports
        assert not list((tmp_path / ".cache").rglob("*.onnx")), "the bundle exported a model it ships an export of"


def test_cpu_only_bundle_leaves_out_gpu_only_libraries(bundle):
    if not build_bundle.cuda_torch():
        pytest.skip("torch here is a CPU-only build: there are no GPU libraries to leave out")
    folder = bundle.parent
    gpu_only = ("libcudnn_*", "*cusolver*", "*torch_cuda_linalg*")
    found = sorted(p.name for p in folder.rglob("*") if any(fnmatch(p.name, pattern) for pattern in gpu_only))
    assert not found
    assert not (folder / "_internal" / "triton").exists()


def test_bundle_opens_new_weights_exporting_them_in_a_process_of_its_own(bundle, vtest_path, tmp_path, random_models_dir):
    """New weights on a CPU are exported in a child process (multiprocessing's spawn), which a frozen app starts
    as itself: the bundle must run that child's work, not a second window, and keep the export."""
    weights = tmp_path / "mine.safetensors"
    shutil.copyfile(random_models_dir / "test-small.safetensors", weights)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([str(bundle), "--source", str(vtest_path), "--model", str(weights),
                             "--exit-after-frames", "5"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "exporting it in this one" not in result.stderr  # the child did the export, not the app as a fallback
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == 1 and reports[0]["model"] == "mine" and reports[0]["frames_displayed"] >= 5, result.stdout
    assert [p.name.rsplit("-", 1)[0] for p in (tmp_path / ".cache" / "livedet").glob("*.onnx")] == ["mine"]


def test_relative_dist_and_work_folders_are_where_the_command_was_run(tmp_path, monkeypatch, capsys):
    """PyInstaller runs in the checkout, so `build_bundle.py --dist out` built into the checkout's out/ while the
    summary measured ./out from where it was typed (0.00 GiB, at a path where nothing was)."""
    pytest.importorskip("PyInstaller", reason='PyInstaller is not installed (pip install -e ".[package]")')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(build_bundle, "export_models", lambda folder: True)
    commands = []
    monkeypatch.setattr(build_bundle.subprocess, "run",
                        lambda command, cwd: commands.append(command) or subprocess.CompletedProcess(command, 0))
    assert build_bundle.main(["--cpu-only", "--dist", "out", "--work", "wk"]) == 0
    command = commands[0]
    assert command[command.index("--distpath") + 1] == str(tmp_path / "out")
    assert command[command.index("--workpath") + 1] == str(tmp_path / "wk")
    assert f"built {tmp_path / 'out'}" in capsys.readouterr().out
