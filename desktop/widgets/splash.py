"""The start-up window: shown within a second of a double-click, while the rest of Qt, OpenCV and the main
window load (the model loads later, with the window up).

Without it nothing appears for seconds on a cold disk, and people click the icon again. It needs
only Qt and the icon files, never ``detector``, so it can show before them.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QSplashScreen

from ..resources import app_icon

SIZE = (440, 200)
BACKGROUND = QColor(16, 16, 16)  # the video area's colour, so the window that follows does not flash
TEXT = QColor(235, 235, 235)
DIM_TEXT = QColor(160, 160, 160)
ICON_PX = 112
MARGIN = 24


def _artwork(version: str) -> QPixmap:
    width, height = SIZE
    pixmap = QPixmap(width, height)
    pixmap.fill(BACKGROUND)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    icon_top = (height - ICON_PX) // 2 - 10
    app_icon().paint(painter, QRect(MARGIN, icon_top, ICON_PX, ICON_PX))
    text_left = MARGIN * 2 + ICON_PX
    caption = QFont(painter.font())
    title = QFont(caption)
    title.setPointSizeF(caption.pointSizeF() * 2.4)
    title.setBold(True)
    painter.setFont(title)
    painter.setPen(TEXT)
    painter.drawText(QRect(text_left, icon_top, width - text_left - MARGIN, ICON_PX // 2),
                     Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, "LiveDet")
    painter.setFont(caption)
    painter.setPen(DIM_TEXT)
    painter.drawText(QRect(text_left, icon_top + ICON_PX // 2 + 4, width - text_left - MARGIN, ICON_PX // 2),
                     Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                     f"Real-time object detection\nversion {version}")
    painter.end()
    return pixmap


def show_splash(app: QApplication, version: str) -> QSplashScreen:
    """Show the start-up window and paint it now: the import that follows blocks the event loop."""
    splash = QSplashScreen(_artwork(version))
    splash.showMessage("Starting: loading the detector…",
                       Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter, DIM_TEXT)
    splash.show()
    app.processEvents()
    return splash
