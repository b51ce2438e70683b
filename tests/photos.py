"""Photos as phones store them, for the tests that read images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def save_as_phone_photo(path: Path, upright: np.ndarray) -> None:
    """Save the BGR image ``upright`` as a phone saves a portrait photo: a JPEG whose pixels are a quarter
    turn off, with the EXIF tag (orientation 6) that tells viewers to turn them back."""
    from PIL import Image  # torchvision's own dependency

    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)
    photo = Image.fromarray(np.ascontiguousarray(stored[:, :, ::-1]))
    exif = photo.getexif()
    exif[0x0112] = 6
    photo.save(path, exif=exif.tobytes(), quality=95)


def stored_box(box: list[float], upright_width: int) -> list[float]:
    """An ``x1, y1, x2, y2`` box on the upright image, as it lies on the stored pixels of ``save_as_phone_photo``."""
    x1, y1, x2, y2 = box
    return [y1, upright_width - x2, y2, upright_width - x1]
