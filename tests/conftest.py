"""Shared fixtures: where ../shared lives, and skips with a clear reason when it does not."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# ONNX exports kept by ``detector.onnx_cache`` go to a folder of this run (subprocesses inherit it), never the
# user's cache; tests of the cache itself point it elsewhere.
_TEST_CACHE = tempfile.mkdtemp(prefix="livedet-test-cache-")
os.environ["LIVEDET_CACHE_DIR"] = _TEST_CACHE


def _share_the_cores_between_workers() -> None:
    """Under pytest-xdist, give each worker's PyTorch its share of the cores (set before torch is loaded, and
    inherited by the processes tests start). PyTorch's OpenMP threads busy-wait between operations: with two
    workers each running two threads on two cores, a training test that takes 6 s alone took 25 s beside one
    busy process and 119 s in the full suite. A thread count already set by the user is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers < 2 or "OMP_NUM_THREADS" in os.environ:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:  # loaded by a plugin already: OpenMP has read the variable
        sys.modules["torch"].set_num_threads(threads)


_share_the_cores_between_workers()


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_TEST_CACHE, ignore_errors=True)


REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIVEDET_SHARED", REPO_ROOT.parent / "shared"))
VTEST = SHARED / "media" / "vtest.avi"
VOC = SHARED / "data" / "voc2007"


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    if not VTEST.is_file():
        pytest.skip(f"sample video not found at {VTEST} (set LIVEDET_SHARED to the shared folder)")
    return VTEST


@pytest.fixture(scope="session")
def voc_root() -> Path:
    if not (VOC / "annotations" / "instances_val.json").is_file():
        pytest.skip(f"VOC2007 data not found under {VOC} (set LIVEDET_SHARED to the shared folder)")
    return VOC


@pytest.fixture(scope="session")
def unwritable_folder(tmp_path_factory) -> Path:
    """A folder no file can be created in (chmod is not enough for root, so fall back to /proc)."""
    folder = tmp_path_factory.mktemp("readonly")
    folder.chmod(0o555)
    for candidate in (folder, Path("/proc")):
        try:
            (candidate / "probe").write_bytes(b"")
            (candidate / "probe").unlink()
        except OSError:
            return candidate
    pytest.skip("no unwritable folder on this machine (running as root without /proc?)")


VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)


def write_random_variant(root: Path, name: str, config, input_size: int, seed: int) -> None:
    """An untrained model ``name`` (weights and manifest) in ``root``; another seed gives other weights."""
    import torch

    from detector.checkpoint import WeightsMeta, save_weights
    from detector.models import build_model
    from detector.zoo import write_manifest

    torch.manual_seed(seed)
    model = build_model(config)
    with torch.no_grad():  # spread untrained scores over (0, 1) so thresholds have something to cut
        for level in model.head.levels:
            level.cls_out.weight.normal_(0.0, 0.3)
            level.cls_out.bias.fill_(-2.0)
    weights = f"{name}.safetensors"
    save_weights(root / weights, model, WeightsMeta(config, VOC_CLASSES, input_size, {}))
    write_manifest(root / f"{name}.yaml", name=name, config=config, input_size=input_size,
                   class_names=VOC_CLASSES, weights_file=weights, license="test only")


def make_random_models_dir(root: Path) -> Path:
    """A models folder with untrained small/large variants, for tests that need a loadable zoo."""
    from detector.models import ModelConfig

    root.mkdir(parents=True, exist_ok=True)
    variants = {
        "test-small": (ModelConfig(backbone="mobilenet_v3_small", neck_width=64, head_depth=1), 320),
        "test-large": (ModelConfig(backbone="mobilenet_v3_large", neck_width=96, head_depth=2), 416),
    }
    for seed, (name, (config, size)) in enumerate(variants.items()):
        write_random_variant(root, name, config, size, seed)
    return root


@pytest.fixture(scope="session")
def random_models_dir(tmp_path_factory) -> Path:
    """Untrained models in a temporary folder (their boxes are meaningless; shapes and flow are not)."""
    return make_random_models_dir(tmp_path_factory.mktemp("models"))
