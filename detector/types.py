"""Plain data that crosses module and thread boundaries.

Everything here is a frozen dataclass holding NumPy arrays or numbers, so a
GUI thread, a recorder or a JSON writer can use it without touching torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LetterboxMeta:
    """How a frame was resized and padded into the network input.

    Kept so boxes predicted in input pixels can be mapped back to the frame.
    """

    scale_x: float  # input pixels per frame pixel, across
    scale_y: float  # and down: the resize rounds each side, so on a panorama the two differ by percents
    pad_x: float  # left padding, input pixels
    pad_y: float  # top padding, input pixels
    input_size: tuple[int, int]  # (height, width) of the network input
    frame_size: tuple[int, int]  # (height, width) of the original frame


@dataclass(frozen=True)
class StageTimings:
    """Wall time of each inference stage for one frame, in milliseconds (a batch's time is shared out
    evenly among its frames)."""

    pre_ms: float = 0.0
    infer_ms: float = 0.0
    post_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.pre_ms + self.infer_ms + self.post_ms


def _same_arrays(a: object, b: object, names: tuple[str, ...]) -> bool:
    """Field-by-field equality where fields are arrays: the generated ``==`` compared them as tuples, which
    asks an array for its truth and raised "the truth value of an array ... is ambiguous"."""
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
               for x, y in ((getattr(a, n), getattr(b, n)) for n in names))


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), dtype=np.float32)


@dataclass(frozen=True)
class Detections:
    """Final detections for one frame, in that frame's pixel coordinates."""

    boxes: np.ndarray = field(default_factory=_empty_boxes)  # (N, 4) float32 x1, y1, x2, y2
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))  # (N,)
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))  # (N,)
    class_names: tuple[str, ...] = ()  # the model's full class list, indexed by class id

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.boxes.shape != (n, 4) or self.class_ids.shape != (n,):
            raise ValueError(
                f"inconsistent detections: boxes {self.boxes.shape}, scores {self.scores.shape}, "
                f"class_ids {self.class_ids.shape}"
            )

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        return _same_arrays(self, other, ("boxes", "scores", "class_ids", "class_names"))

    @property
    def labels(self) -> list[str]:
        """Class name of each detection (falls back to the id when names are unknown)."""
        names = self.class_names
        return [names[c] if 0 <= c < len(names) else str(int(c)) for c in self.class_ids.tolist()]

    def to_records(self) -> list[dict]:
        """JSON-ready list of detections (used by JSONL/CSV writers)."""
        return [
            {
                "box": [round(float(v), 2) for v in box],
                "score": round(float(score), 4),
                "class_id": int(cid),
                "label": label,
            }
            for box, score, cid, label in zip(self.boxes, self.scores, self.class_ids, self.labels)
        ]


@dataclass(frozen=True)
class Candidates:
    """Scored boxes for one frame *before* the user's thresholds and NMS.

    The network runs once per frame and yields these (already cut to a low
    score floor and a top-k); the inference worker keeps the latest one so a
    confidence or IoU slider can be re-applied to the same frame without
    running the network again. Boxes are in network-input pixels; ``meta``
    maps them back to the frame.
    """

    boxes: np.ndarray  # (M, 4) float32 x1, y1, x2, y2 in input pixels
    scores: np.ndarray  # (M,) float32 in [0, 1]
    class_ids: np.ndarray  # (M,) int64
    meta: LetterboxMeta
    class_names: tuple[str, ...]
    score_floor: float = 0.0  # scores under it were not kept: a lower confidence needs the network again

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Candidates):
            return NotImplemented
        return _same_arrays(self, other, ("boxes", "scores", "class_ids", "meta", "class_names", "score_floor"))


@dataclass(frozen=True)
class Prediction:
    """What the predictor returns for one frame."""

    detections: Detections
    timings: StageTimings
    candidates: Candidates | None = None
