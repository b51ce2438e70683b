"""Files shipped beside the code (icons, screenshots), in a source tree or a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon


def asset_root() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    return (Path(bundle) if bundle else Path(__file__).resolve().parents[1]) / "assets"


def app_icon() -> QIcon:
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        path = asset_root() / "icons" / f"livedet-{size}.png"
        if path.is_file():
            icon.addFile(str(path))
    return icon
