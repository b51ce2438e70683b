"""The Linux launcher: a valid desktop entry and metainfo, and an install script that puts them,
with the icons, where desktops look, starting the installed ``livedet``."""

from __future__ import annotations

import configparser
import os
import shutil
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINUX = REPO / "packaging" / "linux"
APP_ID = "io.github.livedet.LiveDet"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
INSTALL = LINUX / "install-launcher.sh"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
# The `livedet` that this interpreter's environment installed (pyproject's gui-script).
INSTALLED_LIVEDET = Path(sys.executable).parent / "livedet"


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


def desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def run_install(data_home: Path, *args: str, path_dirs: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    env = {
        "HOME": str(data_home.parent),
        "XDG_DATA_HOME": str(data_home),
        "PATH": os.pathsep.join([*map(str, path_dirs), "/usr/local/bin", "/usr/bin", "/bin"]),
    }
    return subprocess.run(["bash", str(INSTALL), *args], env=env, capture_output=True, text=True, timeout=60)


def test_desktop_entry_passes_desktop_file_validate():
    tool = require_tool("desktop-file-validate", "desktop-file-utils")
    result = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_metainfo_passes_appstreamcli_validate():
    tool = require_tool("appstreamcli", "appstream")
    result = subprocess.run([tool, "validate", "--no-net", str(METAINFO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metainfo_and_desktop_entry_describe_the_same_app():
    entry = desktop_entry(DESKTOP)
    component = ET.parse(METAINFO).getroot()
    assert component.findtext("id") == APP_ID
    assert component.find("launchable[@type='desktop-id']").text == DESKTOP.name
    assert component.findtext("icon") == entry["Icon"] == APP_ID
    assert component.findtext("provides/binary") == entry["TryExec"] == "livedet"
    assert entry["Exec"] == "livedet %f"  # a file manager's Open With passes the file (it was not taken)
    assert "video/mp4" in entry["MimeType"].split(";") and "image/jpeg" in entry["MimeType"].split(";")
    assert entry["StartupWMClass"] == entry["Name"] == component.findtext("name") == "LiveDet"


def test_install_registers_launcher_for_installed_livedet(tmp_path):
    if not INSTALLED_LIVEDET.is_file():
        pytest.skip(f"LiveDet is not installed in this environment ({INSTALLED_LIVEDET} is missing)")
    data = tmp_path / "data"
    result = run_install(data, path_dirs=(INSTALLED_LIVEDET.parent,))
    assert result.returncode == 0, result.stderr

    launcher = data / "applications" / f"{APP_ID}.desktop"
    entry = desktop_entry(launcher)
    # Absolute: a desktop session's PATH does not include the virtual environment.
    assert entry["Exec"] == f"{INSTALLED_LIVEDET} %f" and entry["TryExec"] == str(INSTALLED_LIVEDET)
    assert entry["Icon"] == APP_ID and entry["Name"] == "LiveDet"
    for size in SIZES:
        icon = data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert png_size(icon) == (size, size), icon
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert (data / "metainfo" / f"{APP_ID}.metainfo.xml").read_bytes() == METAINFO.read_bytes()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(launcher)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout


def test_launcher_starts_program_whose_path_has_spaces(tmp_path):
    gio = require_tool("gio", "libglib2.0-bin")
    folder = tmp_path / "My Apps $HOME"
    folder.mkdir()
    marker = tmp_path / "started"
    program = folder / "livedet"
    program.write_text(f'#!/bin/sh\necho "started $#: $1" > "{marker}"\n')
    program.chmod(0o755)
    data = tmp_path / "data"
    assert run_install(data, "--exec", str(program)).returncode == 0
    clip = tmp_path / "Holiday 2026" / "beach walk.mp4"
    clip.parent.mkdir()
    clip.write_bytes(b"")

    # gio opens the entry the way a desktop does when its icon is double-clicked, then as Open With does
    for files, said in (([], "started 0:"), ([str(clip)], f"started 1: {clip}")):
        marker.unlink(missing_ok=True)
        launched = subprocess.run([gio, "launch", str(data / "applications" / f"{APP_ID}.desktop"), *files],
                                  env={**os.environ, "XDG_DATA_HOME": str(data)}, capture_output=True, text=True)
        assert launched.returncode == 0, launched.stderr
        deadline = time.monotonic() + 10
        while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the launcher did not start the program"
        assert marker.read_text().strip() == said


def test_uninstall_removes_only_livedet(tmp_path):
    data = tmp_path / "data"
    program = tmp_path / "livedet"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    other_app = data / "applications" / "org.example.Other.desktop"
    other_icon = data / "icons" / "hicolor" / "48x48" / "apps" / "org.example.Other.png"
    for path in (other_app, other_icon):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not ours")
    assert run_install(data, "--exec", str(program)).returncode == 0
    assert any(data.rglob(f"{APP_ID}.*"))

    result = run_install(data, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not list(data.rglob(f"{APP_ID}.*"))
    assert other_app.read_text() == "not ours" and other_icon.read_text() == "not ours"


def test_install_without_livedet_says_what_to_do(tmp_path):
    data = tmp_path / "data"
    result = run_install(data, "--exec", str(tmp_path / "missing" / "livedet"))
    assert result.returncode == 1
    assert "no LiveDet executable" in result.stderr and "--exec" in result.stderr
    assert not (data / "applications").exists()
