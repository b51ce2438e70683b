"""Render assets/icons/livedet.svg to the PNG sizes Linux icon themes expect, plus .ico and .icns.

The outputs are committed, so this only needs running after the SVG changes:

    QT_QPA_PLATFORM=offscreen python packaging/render_icons.py

Qt's own SVG renderer (PySide6 is a dependency anyway) draws the PNGs; Pillow, which
torchvision already pulls in, packs them into the Windows .ico and the macOS .icns.
"""

from __future__ import annotations

import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "assets" / "icons"
SOURCE = ICONS / "livedet.svg"
# hicolor sizes desktops look up (menus 16-48, docks and overviews 64-256, HiDPI 512).
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # 256 is the largest an .ico entry can hold
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)  # 1024 is the @2x of 512 for Retina Finder views


def png_path(size: int) -> Path:
    return ICONS / f"livedet-{size}.png"


def render_pngs(sizes) -> dict[int, Path]:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # QPainter needs one
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        raise SystemExit(f"cannot parse {SOURCE}")
    written = {}
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = png_path(size) if size in PNG_SIZES else ICONS / f".render-{size}.png"
        if not image.save(str(path)):
            raise SystemExit(f"cannot write {path}")
        written[size] = path
    del app
    return written


def main() -> int:
    from PIL import Image

    rendered = render_pngs(sorted(set(PNG_SIZES) | set(ICO_SIZES) | set(ICNS_SIZES)))
    images = {size: Image.open(path).convert("RGBA") for size, path in rendered.items()}
    # Pillow picks each entry from the images given, so small sizes stay crisp instead of downscaled.
    images[256].save(ICONS / "livedet.ico", sizes=[(s, s) for s in ICO_SIZES],
                     append_images=[images[s] for s in ICO_SIZES])
    images[1024].save(ICONS / "livedet.icns", append_images=[images[s] for s in ICNS_SIZES])
    for size, path in rendered.items():
        if size not in PNG_SIZES:
            path.unlink()
    print(f"wrote {len(PNG_SIZES)} PNGs, livedet.ico and livedet.icns to {ICONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
