"""Letterbox: where the frame lands in the network input, and how boxes come back to the frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detector.errors import SourceError
from detector.ops.postprocess import boxes_to_frame
from detector.preprocess import (
    PAD_VALUE,
    as_bgr_uint8,
    letterbox,
    letterbox_meta,
    letterbox_on_device,
    to_input_array,
)

FRAME_SIZES = [(576, 768), (37, 101), (577, 769), (1080, 1920), (769, 577), (300, 300), (100, 3000), (4000, 437)]


def test_letterbox_plan_for_the_sample_video():
    meta = letterbox_meta((576, 768), 320)
    assert meta.input_size == (256, 320)  # 240 rows of picture padded to the next multiple of 32
    assert meta.scale_x == meta.scale_y == pytest.approx(320 / 768)
    assert (meta.pad_x, meta.pad_y) == (0.0, 8.0)
    square = letterbox_meta((576, 768), 320, rect=False)
    assert square.input_size == (320, 320) and square.pad_y == 40.0


@pytest.mark.parametrize("frame_size", FRAME_SIZES + [(1, 1), (1, 1000)])
@pytest.mark.parametrize("imgsz", [160, 320, 640])
def test_input_is_a_multiple_of_32_and_holds_the_whole_frame(frame_size, imgsz):
    meta = letterbox_meta(frame_size, imgsz)
    in_h, in_w = meta.input_size
    assert in_h % 32 == 0 and in_w % 32 == 0 and max(in_h, in_w) == imgsz
    image = letterbox(np.zeros((*frame_size, 3), np.uint8), meta)
    assert image.shape == (in_h, in_w, 3)


def test_letterbox_rejects_sizes_the_network_cannot_take():
    with pytest.raises(ValueError):
        letterbox_meta((480, 640), 300)


@pytest.mark.parametrize("frame_size", [(576, 768), (769, 577)])
def test_padding_is_grey_and_split_evenly(frame_size):
    frame = np.full((*frame_size, 3), 255, np.uint8)
    meta = letterbox_meta(frame_size, 320)
    image = letterbox(frame, meta)
    top, left = int(meta.pad_y), int(meta.pad_x)
    in_h, in_w = meta.input_size
    content = image[:, :, 0] == 255
    rows, cols = np.nonzero(content.any(axis=1))[0], np.nonzero(content.any(axis=0))[0]
    assert (rows[0], cols[0]) == (top, left)
    bottom_pad, right_pad = in_h - 1 - rows[-1], in_w - 1 - cols[-1]
    assert abs(bottom_pad - top) <= 1 and abs(right_pad - left) <= 1
    assert np.all(image[~content] == PAD_VALUE)


@pytest.mark.parametrize("frame_size", FRAME_SIZES)
def test_frame_box_survives_the_round_trip_within_one_pixel(frame_size):
    """Frame box -> input coordinates (as the resize places it) -> ``boxes_to_frame`` -> same box."""
    h, w = frame_size
    meta = letterbox_meta(frame_size, 320)
    rng = np.random.default_rng(0)
    xs, ys = np.sort(rng.uniform(0, w, (50, 2)), axis=1), np.sort(rng.uniform(0, h, (50, 2)), axis=1)
    frame_boxes = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)
    # the resize rounds each side on its own, so each axis has its own factor; pad offsets are whole pixels
    sx, sy = _axis_scales(frame_size, 320)
    input_boxes = frame_boxes * [sx, sy, sx, sy] + [meta.pad_x, meta.pad_y, meta.pad_x, meta.pad_y]
    back = boxes_to_frame(input_boxes.astype(np.float32), meta)
    assert np.abs(back - frame_boxes).max() < 1.0


def _axis_scales(frame_size: tuple[int, int], imgsz: int) -> tuple[float, float]:
    """What the resize does to each axis: the long side becomes ``imgsz``, the short one is rounded."""
    h, w = frame_size
    ratio = imgsz / max(h, w)
    return round(w * ratio) / w, round(h * ratio) / h


@pytest.mark.parametrize("frame_size", [(576, 768), (37, 101), (577, 769), (100, 3000), (437, 4000)])
def test_painted_rectangle_is_found_where_the_plan_says(frame_size):
    """Real pixels: a white rectangle lands within one input pixel of where the letterbox plan puts it, and
    comes back to within one input pixel of the frame. Panoramas round their short side by a larger share,
    so one scale for both axes put a 3000x100 frame's boxes up to 46 px off."""
    h, w = frame_size
    box = np.array([0.2 * w, 0.3 * h, 0.7 * w, 0.9 * h]).round()
    frame = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = box.astype(int)
    frame[y1:y2, x1:x2] = 255
    meta = letterbox_meta(frame_size, 320)
    image = letterbox(frame, meta)
    ys, xs = np.nonzero(image[:, :, 0] > 127)
    found = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
    sx, sy = _axis_scales(frame_size, 320)
    expected = box * [sx, sy, sx, sy] + [meta.pad_x, meta.pad_y, meta.pad_x, meta.pad_y]
    assert np.abs(found - expected).max() <= 1.0
    back = boxes_to_frame(found[None].astype(np.float32), meta)[0]
    one_input_pixel = np.array([1 / sx, 1 / sy, 1 / sx, 1 / sy])  # in frame pixels
    assert np.all(np.abs(back - box) <= one_input_pixel + 1e-3)


def test_input_array_is_rgb_nchw_in_unit_range():
    bgr = np.zeros((32, 64, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue
    array = to_input_array(bgr)
    assert array.shape == (1, 3, 32, 64) and array.dtype == np.float32
    assert array[0, 2].min() == 1.0 and array[0, :2].max() == 0.0  # blue ends up in the last (B of RGB) plane
    assert to_input_array([bgr, bgr]).shape == (2, 3, 32, 64)


@pytest.mark.parametrize("frame_size", [(576, 768), (37, 101)])
def test_device_letterbox_matches_the_cpu_path(frame_size):
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (frame_size[0] // 8 + 2, frame_size[1] // 8 + 2, 3), dtype=np.uint8)
    import cv2

    frame = cv2.resize(small, (frame_size[1], frame_size[0]), interpolation=cv2.INTER_CUBIC)
    meta = letterbox_meta(frame_size, 320)
    cpu = to_input_array(letterbox(frame, meta))
    device = letterbox_on_device(torch.from_numpy(frame), meta).numpy()
    assert device.shape == cpu.shape
    difference = np.abs(device - cpu) * 255
    assert difference.max() <= 1.0 + 1e-4  # OpenCV's fixed-point bilinear and torch's differ by a level at most
    assert (difference < 1e-3).mean() >= 0.85, (difference < 1e-3).mean()  # rounded as OpenCV's: mostly the same


def test_frames_from_real_sources_are_normalised():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = as_bgr_uint8(gray)
    assert out.shape == (3, 4, 3) and np.all(out[..., 0] == gray) and np.all(out[..., 2] == gray)
    assert as_bgr_uint8(gray[..., None]).shape == (3, 4, 3)
    bgra = np.dstack([np.full((3, 4), v, np.uint8) for v in (10, 20, 30, 0)])
    assert as_bgr_uint8(bgra)[0, 0].tolist() == [10, 20, 30]
    deep = np.full((2, 2, 3), 0xABCD, np.uint16)
    assert as_bgr_uint8(deep)[0, 0, 0] == 0xAB
    unit = np.full((2, 2, 3), 0.5, np.float32)
    assert as_bgr_uint8(unit)[0, 0, 0] in (127, 128)


def test_a_12_bit_camera_picture_in_16_bit_words_keeps_its_brightness(tmp_path):
    """A machine-vision camera's 12-bit picture (white 4095) saved as a 16-bit PNG or TIFF came out black: its
    white was grey 15. A picture file is judged whole; video frames stay full 16-bit (no flicker)."""
    import cv2

    from detector.video import read_image

    picture = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    picture[0, 0] = 255  # its white is there, as in any exposed picture
    for bits in (10, 12, 14, 16):
        stored = (picture.astype(np.uint16) << (bits - 8)) | ((1 << (bits - 8)) - 1)  # low bits set, as sensors do
        for suffix in (".png", ".tiff"):
            cv2.imwrite(str(tmp_path / f"{bits}{suffix}"), stored)
            assert np.array_equal(read_image(tmp_path / f"{bits}{suffix}"), picture), (bits, suffix)
    twelve = (picture.astype(np.uint16) << 4)
    assert np.array_equal(as_bgr_uint8(twelve), picture >> 4)  # a frame: as stored, the same for every frame
    cv2.imwrite(str(tmp_path / "black.png"), np.zeros((2, 2), np.uint16))
    assert read_image(tmp_path / "black.png").max() == 0  # black stays black


def test_a_float_picture_with_a_highlight_or_a_nan_stays_a_zero_to_one_picture():
    """A 0–1 picture with one pixel at 1.5 (an HDR highlight, a bicubic overshoot) or one NaN counted as
    0–255, so it came out black, and the model saw a cat in it."""
    picture = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    unit = picture.astype(np.float32) / 255
    expected = as_bgr_uint8(unit)
    assert np.array_equal(expected, picture)  # rounded back, not truncated: a level darker in half the pixels
    assert np.array_equal(as_bgr_uint8(unit.astype(np.float16)), picture)
    bright, missing = unit.copy(), unit.copy()
    bright[0, 0] = 1.5
    missing[0, 0] = np.nan
    for frame in (bright, missing, unit.astype(np.float16)):
        out = as_bgr_uint8(frame)
        assert np.abs(out.astype(int)[1:, 1:] - expected[1:, 1:]).max() <= 1
    assert np.array_equal(as_bgr_uint8(picture.astype(np.float64)), picture)  # a 0–255 float picture
    night = picture // 200  # 0 or 1: a dark 0–255 picture as floats, with one lamp
    night[:4, :4] = 200
    assert np.array_equal(as_bgr_uint8(night.astype(np.float32)), night)  # stays dark (it was 0–1 for a moment)
    hdr = unit.copy()
    hdr[:2, :2] = 6.0  # a few highlights far above white
    assert np.abs(as_bgr_uint8(hdr).astype(int)[2:, 2:] - expected[2:, 2:]).max() <= 1


@pytest.mark.parametrize("bad", [
    np.zeros((0, 5, 3), np.uint8),
    np.zeros((4, 4, 5), np.uint8),
    np.zeros((4, 4, 3), np.int32),
    np.zeros((2, 2, 2, 3), np.uint8),
    "not an image",
])
def test_unusable_frames_raise_source_error(bad):
    with pytest.raises(SourceError):
        as_bgr_uint8(bad)
