"""Default thresholds, in a module without torch so a launcher can name them in ``--help`` at once."""

DEFAULT_CONF = 0.25  # lowest score a detection needs to be shown
MIN_CONF = 0.01  # the app's lowest confidence (its slider's first step); the CLI's --conf may go lower
DEFAULT_IOU = 0.45  # NMS: a box overlapping a better one of its class by more than this is dropped
DEFAULT_MAX_DET = 300  # most detections kept per frame
MAX_IMGSZ = 4096  # largest network input taken: a 4K frame's long side; far beyond, one frame's tensors need gigabytes


def is_input_size(value: int) -> bool:
    """A network input side the detector takes: a positive multiple of 32 (its coarsest stride), up to MAX_IMGSZ.
    One rule for the CLIs, manifests, the predictor and the app, each of which says it in its own words."""
    return 0 < value <= MAX_IMGSZ and value % 32 == 0
