"""Pack a dataset into one small file: images shrunk and re-encoded, boxes rescaled.

GPU time comes in short windows on machines that start empty, so the data has
to travel with the code: VOC2007 train (3,519 images) packs into ~40 MB as
WebP at 384 px. The file is a plain ``.npz`` read with ``allow_pickle=False``.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..atomic_write import written_whole
from ..datasets import DetectionDataset, read_annotated_image
from ..errors import SourceError

PACK_FORMAT = "livedet-pack-v1"


@dataclass(frozen=True)
class DecodedDataset:
    """Decoded images (each at most ``max_side`` on its long side) with boxes in their pixels."""

    images: list[np.ndarray]  # BGR uint8, varying sizes
    boxes: list[np.ndarray]  # (n, 4) float32
    labels: list[np.ndarray]  # (n,) int64
    class_names: tuple[str, ...]
    max_side: int
    names: list[str]  # file names, for reports
    # per image, regions that neither count as misses nor as false positives when scored (COCO crowds,
    # VOC "difficult"), as ``detector val`` scores them; empty lists: none recorded (packs written before)
    ignored_boxes: list[np.ndarray] = field(default_factory=list)
    ignored_labels: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def ignored(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Image ``index``'s ignored boxes (in its shrunk pixels) and their labels."""
        if not self.ignored_boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
        return self.ignored_boxes[index], self.ignored_labels[index]

    def first(self, count: int) -> DecodedDataset:
        """The first ``count`` images (``--max-images``)."""
        return replace(self, images=self.images[:count], boxes=self.boxes[:count], labels=self.labels[:count],
                       names=self.names[:count], ignored_boxes=self.ignored_boxes[:count],
                       ignored_labels=self.ignored_labels[:count])


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return image, scale


def decode_dataset(dataset: DetectionDataset, *, max_side: int = 384, workers: int = 8,
                   on_skip: Callable[[str], None] | None = None) -> DecodedDataset:
    """Read and shrink every image of ``dataset`` (threads: OpenCV releases the GIL).

    An image that does not decode is left out with its boxes, and told to ``on_skip``:
    one damaged file among thousands should not stop a run. If none decodes, that is an error.
    """

    def load(record):
        try:
            image = read_annotated_image(record.path, record.width, record.height)
        except SourceError as exc:
            return exc
        image, scale = _shrink(image, max_side)
        return image, record.boxes * scale, record.ignored_boxes * scale

    with ThreadPoolExecutor(workers) as pool:
        loaded = list(pool.map(load, dataset.records))
    kept = [(record, item) for record, item in zip(dataset.records, loaded) if not isinstance(item, SourceError)]
    problems = [str(item) for item in loaded if isinstance(item, SourceError)]
    if not kept:
        shown = "; ".join(problems[:3]) + ("; …" if len(problems) > 3 else "")
        raise SourceError(f"no image of the dataset could be read ({len(problems)} tried: {shown})")
    if on_skip is not None:
        for problem in problems:
            on_skip(problem)
    return DecodedDataset(
        images=[image for _, (image, _, _) in kept],
        boxes=[boxes.astype(np.float32) for _, (_, boxes, _) in kept],
        labels=[record.labels for record, _ in kept],
        class_names=dataset.class_names,
        max_side=max_side,
        names=[record.path.name for record, _ in kept],
        ignored_boxes=[ignored.astype(np.float32).reshape(-1, 4) for _, (_, _, ignored) in kept],
        ignored_labels=[record.ignored_labels.astype(np.int64) for record, _ in kept],
    )


def pack_dataset(
    dataset: DetectionDataset, output: str | Path, *, max_side: int = 384, quality: int = 60, workers: int = 8,
    on_skip: Callable[[str], None] | None = None,
) -> Path:
    """Shrink, re-encode as WebP and write one ``.npz``; returns its path. ``on_skip``: see ``decode_dataset``."""
    decoded = decode_dataset(dataset, max_side=max_side, workers=workers, on_skip=on_skip)

    def encode(image):
        ok, data = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, quality])
        if not ok:
            raise SourceError("WebP encoding failed")
        return data.reshape(-1)

    with ThreadPoolExecutor(workers) as pool:
        blobs = list(pool.map(encode, decoded.images))
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    box_offsets = np.cumsum([0] + [len(b) for b in decoded.boxes]).astype(np.int64)
    ignored_offsets = np.cumsum([0] + [len(b) for b in decoded.ignored_boxes]).astype(np.int64)
    meta = {"format": PACK_FORMAT, "class_names": list(decoded.class_names), "max_side": max_side, "names": decoded.names}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # whole or not at all: a pack cut short by Ctrl-C or a full disk would fail the training run that reads it
    with written_whole(output) as part, open(part, "wb") as file:  # a file object: savez adds no ".npz" to it
        np.savez(
            file,
            blob=np.concatenate(blobs) if blobs else np.zeros(0, np.uint8),
            offsets=offsets,
            boxes=np.concatenate(decoded.boxes).reshape(-1, 4).astype(np.float32),
            labels=np.concatenate(decoded.labels).astype(np.int64) if decoded.labels else np.zeros(0, np.int64),
            box_offsets=box_offsets,
            ignored_boxes=np.concatenate([np.zeros((0, 4), np.float32), *decoded.ignored_boxes]),
            ignored_labels=np.concatenate([np.zeros(0, np.int64), *decoded.ignored_labels]),
            ignored_offsets=ignored_offsets,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        )
    return output


def load_pack(path: str | Path, *, workers: int = 8) -> DecodedDataset:
    """Read a pack written by ``pack_dataset`` and decode its images."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"dataset pack not found: {path}")  # was "not a LiveDet dataset pack ([Errno 2] …)"
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays["meta"].tobytes().decode())
        if meta.get("format") != PACK_FORMAT:
            raise ValueError(f"unknown format {meta.get('format')!r}")
    except (OSError, ValueError, KeyError) as exc:
        raise SourceError(f"{path.name} is not a LiveDet dataset pack ({exc})") from None
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:  # a copy or download that stopped part way
        raise SourceError(f"{path.name} is truncated or damaged ({exc}): pack it again or copy it whole") from None
    blob, offsets, box_offsets = arrays["blob"], arrays["offsets"], arrays["box_offsets"]
    n = len(offsets) - 1

    def decode(i):
        image = cv2.imdecode(blob[offsets[i] : offsets[i + 1]], cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{path.name}: image {i} is corrupt")
        return image

    with ThreadPoolExecutor(workers) as pool:
        images = list(pool.map(decode, range(n)))
    boxes = [arrays["boxes"][box_offsets[i] : box_offsets[i + 1]] for i in range(n)]
    labels = [arrays["labels"][box_offsets[i] : box_offsets[i + 1]] for i in range(n)]
    ignored_boxes, ignored_labels = [], []
    if "ignored_offsets" in arrays:  # packs written before ignored regions were kept have none
        ends = arrays["ignored_offsets"]
        ignored_boxes = [arrays["ignored_boxes"][ends[i] : ends[i + 1]] for i in range(n)]
        ignored_labels = [arrays["ignored_labels"][ends[i] : ends[i + 1]] for i in range(n)]
    return DecodedDataset(images, boxes, labels, tuple(meta["class_names"]), int(meta["max_side"]), list(meta["names"]),
                          ignored_boxes, ignored_labels)


def _option_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options, if anything (a wrong suffix was a traceback after the decoding)."""
    if Path(args.output).suffix != ".npz":
        return f"--output must end in .npz, got '{Path(args.output).name}'"
    if args.max_side < 32:
        return f"--max-side must be at least 32, got {args.max_side}"
    if not 1 <= args.quality <= 100:
        return f"--quality must be 1-100, got {args.quality}"
    return None


def main(argv: list[str] | None = None) -> int:
    """``python -m detector.training.pack --data ... --output voc_train.npz``: one JSON line at the end."""
    from ..datasets import dropped_boxes_warning, load_dataset
    from ..errors import LiveDetError

    parser = argparse.ArgumentParser(prog="python -m detector.training.pack", description=__doc__,
                                     allow_abbrev=False)  # options only whole, as every LiveDet command
    parser.add_argument("--data", required=True,
                        help="COCO .json (with --images) or folder, YOLO data.yaml or folder, or VOC folder")
    parser.add_argument("--images", help="image folder for a COCO .json")
    parser.add_argument("--split", default="train", help="split of a folder or data.yaml dataset to pack (default: train)")
    parser.add_argument("--output", required=True, help="the .npz to write")
    parser.add_argument("--max-side", type=int, default=384,
                        help="long side of the packed images, at least 32 (default: %(default)s)")
    parser.add_argument("--quality", type=int, default=60, help="WebP quality, 1-100 (default: %(default)s)")
    args = parser.parse_args(argv)
    if problem := _option_problem(args):  # before minutes of decoding
        print(f"error: {problem}", file=sys.stderr)
        return 2
    skipped: list[str] = []

    def skip(problem: str) -> None:
        skipped.append(problem)
        print(f"warning: skipped: {problem}", file=sys.stderr, flush=True)

    try:
        dataset = load_dataset(args.data, args.images, args.split, on_skip=skip)
        if warning := dropped_boxes_warning(dataset):
            print(warning, file=sys.stderr, flush=True)
        out = pack_dataset(dataset, args.output, max_side=args.max_side, quality=args.quality, on_skip=skip)
    except LiveDetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be made or written, a full disk
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    with np.load(out, allow_pickle=False) as packed:
        images, boxes = len(packed["offsets"]) - 1, len(packed["boxes"])
    print(json.dumps({"output": str(out), "images": images, "boxes": boxes, "skipped": len(skipped),
                      "classes": len(dataset.class_names), "bytes": out.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
