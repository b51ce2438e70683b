"""NumPy BGR frames -> Qt images. QPixmaps are made only on the GUI thread (Qt requires it)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def bgr_to_qimage(frame: np.ndarray) -> QImage:
    """A QImage that owns a copy of the pixels (the array may be reused or freed afterwards)."""
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    frame = np.ascontiguousarray(frame[:, :, :3], dtype=np.uint8)
    height, width = frame.shape[:2]
    return QImage(frame.data, width, height, frame.strides[0], QImage.Format.Format_BGR888).copy()


def bgr_to_pixmap(frame: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(bgr_to_qimage(frame))
