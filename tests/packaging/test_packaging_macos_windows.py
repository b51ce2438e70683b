"""Launchers for macOS and Windows that can be checked on any machine: the wrapper LiveDet.app
that install-app.sh makes, and the icon files the bundles and shortcuts use."""

from __future__ import annotations

import os
import plistlib
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL_APP = REPO / "packaging" / "macos" / "install-app.sh"
ICONS = REPO / "assets" / "icons"


def run_install_app(apps_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(apps_dir.parent), "LIVEDET_APPLICATIONS_DIR": str(apps_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["bash", str(INSTALL_APP), *args], env=env, capture_output=True, text=True, timeout=60)


def _do_nothing_program(folder: Path) -> Path:
    """A stand-in for the installed livedet."""
    program = folder / "livedet"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return program


def test_macos_app_starts_livedet_with_its_arguments(tmp_path):
    folder = tmp_path / "My Apps $HOME"
    folder.mkdir()
    program = folder / "livedet"
    program.write_text('#!/bin/sh\nprintf "%s|" "$@"\n')
    program.chmod(0o755)
    apps = tmp_path / "Applications"
    result = run_install_app(apps, "--exec", str(program))
    assert result.returncode == 0, result.stderr

    contents = apps / "LiveDet.app" / "Contents"
    info = plistlib.loads((contents / "Info.plist").read_bytes())
    assert info["CFBundleIdentifier"] == "io.github.livedet.LiveDet"
    assert info["CFBundlePackageType"] == "APPL"
    assert info["NSCameraUsageDescription"]  # without it macOS blocks the camera
    assert (contents / "Resources" / info["CFBundleIconFile"]).read_bytes()[:4] == b"icns"
    launcher = contents / "MacOS" / info["CFBundleExecutable"]
    assert os.access(launcher, os.X_OK)
    # Finder runs the bundle's executable; it must reach the real program, arguments intact.
    ran = subprocess.run([str(launcher), "--source", "a b.mp4"], capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0 and ran.stdout == "--source|a b.mp4|"


def test_macos_app_uninstall_removes_it(tmp_path):
    program = _do_nothing_program(tmp_path)
    apps = tmp_path / "Applications"
    assert run_install_app(apps, "--exec", str(program)).returncode == 0
    assert run_install_app(apps, "--uninstall").returncode == 0
    assert not (apps / "LiveDet.app").exists()


def test_the_pyinstaller_app_in_the_same_place_is_never_removed_or_replaced(tmp_path):
    """The script's own header says to copy dist/LiveDet.app to ~/Applications; --uninstall, or installing the
    wrapper, deleted that bundle without a word."""
    program = _do_nothing_program(tmp_path)
    apps = tmp_path / "Applications"
    bundle = apps / "LiveDet.app" / "Contents" / "MacOS" / "LiveDet"
    bundle.parent.mkdir(parents=True)
    bundle.write_text("the self-contained build")
    for args in (("--uninstall",), ("--exec", str(program))):
        result = run_install_app(apps, *args)
        assert result.returncode == 1 and "was not made by this script" in result.stderr, result.stderr
        assert bundle.read_text() == "the self-contained build"


def test_a_wrapper_made_before_the_marker_is_still_replaced_and_removed(tmp_path):
    """The marker came later: every wrapper installed before was refused as 'not made by this script'."""
    program = _do_nothing_program(tmp_path)
    apps = tmp_path / "Applications"
    assert run_install_app(apps, "--exec", str(program)).returncode == 0
    (apps / "LiveDet.app" / "Contents" / "Resources" / "made-by-install-app.sh").unlink()  # as the old script left it
    assert run_install_app(apps, "--exec", str(program)).returncode == 0
    (apps / "LiveDet.app" / "Contents" / "Resources" / "made-by-install-app.sh").unlink()
    assert run_install_app(apps, "--uninstall").returncode == 0 and not (apps / "LiveDet.app").exists()


def test_macos_app_without_livedet_says_what_to_do(tmp_path):
    apps = tmp_path / "Applications"
    result = run_install_app(apps, "--exec", str(tmp_path / "nowhere" / "livedet"))
    assert result.returncode == 1 and "no LiveDet executable" in result.stderr
    assert not (apps / "LiveDet.app").exists()


def test_windows_and_macos_icons_hold_every_size_they_show():
    Image = pytest.importorskip("PIL.Image")
    ico = Image.open(ICONS / "livedet.ico")
    # Explorer and the Start menu pick 16-48, large tiles and Alt+Tab up to 256.
    assert {(16, 16), (24, 24), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    icns = Image.open(ICONS / "livedet.icns")
    # Finder and the Dock: 16 to 512 points, @2x up to 1024 pixels.
    assert {(16, 16, 2), (128, 128, 1), (512, 512, 1), (512, 512, 2)} <= set(icns.info["sizes"])
