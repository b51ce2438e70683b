"""Build the LiveDet desktop app as a one-folder PyInstaller bundle, on Linux, Windows or macOS.

    python packaging/build_bundle.py              # dist/LiveDet/ (and dist/LiveDet.app on macOS)
    python packaging/build_bundle.py --cpu-only   # leave out torch's GPU-only parts

Needs the ``package`` extra (``pip install -e ".[package]"``). The bundle carries whatever torch
is installed: the CPU-only torch wheel keeps it small, a CUDA build adds gigabytes of CUDA
libraries (``--cpu-only`` drops the ones that only GPU kernels load). See README, Packaging.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "livedet.spec"
MODELS = ROOT / "assets" / "models"


def folder_bytes(path: Path) -> int:
    """Bytes on disk under ``path``, counting each symlink as a link, not as its target."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        total += sum(os.lstat(os.path.join(folder, name)).st_size for name in files)
    return total


def cuda_torch() -> bool:
    spec = importlib.util.find_spec("torch")
    return spec is not None and any((Path(spec.origin).parent / "lib").glob("*torch_cuda*"))


def export_models(folder: Path) -> bool:
    """Export the shipped models to ONNX into ``folder``, which the bundle carries beside them: a CPU
    then runs a model from its first start without importing PyTorch (detector.onnx_cache)."""
    env = {**os.environ, "LIVEDET_CACHE_DIR": str(folder)}
    command = [sys.executable, "-m", "detector", "cache", "--clear", "--warm", "--models-dir", str(MODELS)]
    result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    if result.returncode != 0:
        print("error: exporting the models to ONNX failed (see above)", file=sys.stderr)
    return result.returncode == 0


def bundle_executable(dist: Path) -> Path:
    return dist / "LiveDet" / ("LiveDet.exe" if sys.platform == "win32" else "LiveDet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-only", action="store_true",
                        help="leave out GPU-only parts; with a CUDA torch the bundle then always runs on the CPU")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the bundle goes (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's working folder; reusing it makes rebuilds faster")
    args = parser.parse_args(argv)
    # PyInstaller runs in the checkout: a relative --dist went there while the summary looked here
    args.dist, args.work = args.dist.resolve(), args.work.resolve()

    if importlib.util.find_spec("PyInstaller") is None:
        print('error: PyInstaller is not installed; run: pip install -e ".[package]"', file=sys.stderr)
        return 2
    if cuda_torch() and not args.cpu_only:
        print("note: this torch is a CUDA build, so the bundle will hold several GB of CUDA libraries;\n"
              "      use --cpu-only, or the CPU-only torch wheel (README, Packaging), for a small one")

    started = time.monotonic()
    exports = args.work / "exports"
    if not export_models(exports):
        return 1
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(args.dist), "--workpath", str(args.work), str(SPEC),
               "--", "--exports", str(exports)]
    if args.cpu_only:
        command += ["--cpu-only"]
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode != 0:
        return result.returncode

    executable = bundle_executable(args.dist)
    size_gib = folder_bytes(executable.parent) / 2**30
    print(f"built {executable} in {time.monotonic() - started:.0f} s ({size_gib:.2f} GiB)")
    if sys.platform == "darwin":
        print(f"macOS app: {args.dist / 'LiveDet.app'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
