"""Frames with no picture in them: one colour, give or take a camera sensor's noise.

Why: a camera sends black frames while it starts and while its lens is covered, a capture card sends them
when its input has no signal, and videos fade to black. The network, trained on photos that all show
something, finds a "cat" filling such a frame (score about 0.5 for the shipped small model); a frame that
holds nothing gets no detections, whatever the network says of it. The check reads an 80×60 sample of the
frame: some 13 µs whatever its size, next to milliseconds for the network.
"""

from __future__ import annotations

import cv2
import numpy as np

# per-channel standard deviation (levels of 255) under which a frame is one colour: a covered webcam's noise
# is 1-4 levels; the least varied frame of vtest.avi has 68
FLAT_STD = 4.0
_SAMPLE_SIZE = (80, 60)  # width, height: every 8th pixel of a 640×480 frame


def is_featureless(frame: np.ndarray) -> bool:
    """Whether every channel of ``frame`` (BGR uint8) stays within a sensor's noise of one value."""
    sample = cv2.resize(frame, _SAMPLE_SIZE, interpolation=cv2.INTER_NEAREST)
    _, std = cv2.meanStdDev(sample)
    return float(std.max()) < FLAT_STD
