"""Default thresholds, in a module without torch so a launcher can name them in ``--help`` at once."""

DEFAULT_CONF = 0.25  # lowest score a detection needs to be shown
DEFAULT_IOU = 0.45  # NMS: a box overlapping a better one of its class by more than this is dropped
DEFAULT_MAX_DET = 300  # most detections kept per frame
MAX_IMGSZ = 4096  # largest network input taken: a 4K frame's long side; far beyond, one frame's tensors need gigabytes
