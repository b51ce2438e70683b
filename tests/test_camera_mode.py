"""Asking a camera for a resolution: the saved text form, and the order OpenCV is asked in."""

from __future__ import annotations

import pytest

import detector.video as video
from detector.camera_mode import CameraMode, ask_for_mode

from .fake_webcam import FakeWebcam


@pytest.mark.parametrize("mode", [CameraMode(1280, 720, 30.0, "MJPG"), CameraMode(640, 480, 29.97),
                                  CameraMode(3840, 2160), CameraMode(320, 240, 0.0, "YUYV")])
def test_a_mode_survives_being_saved_as_text(mode):
    assert CameraMode.from_text(mode.to_text()) == mode


@pytest.mark.parametrize("text", ["", "auto", "1280x", "0x720", "1280x720@", "1280x720@30 MJPEG", "99999999x1",
                                  "1280x720 mj"])
def test_a_damaged_saved_mode_reads_as_none_so_the_camera_opens_automatically(text):
    assert CameraMode.from_text(text) is None


@pytest.mark.parametrize("text", ["1280×720@30 MJPG", "1280X720@30 mjpg", "1280 x 720 @ 30  mjpg"])
def test_a_mode_typed_as_the_menu_writes_sizes_or_in_lower_case_is_read(text):
    """`--camera-mode "1280×720@30 MJPG"` (the menu's ×) or "… mjpg" was refused: "expected WIDTHxHEIGHT…"."""
    assert CameraMode.from_text(text) == CameraMode(1280, 720, 30.0, "MJPG")


def test_a_mixed_case_pixel_format_is_kept_as_typed():
    assert CameraMode.from_text("640x480@30 pBAA").fourcc == "pBAA"  # a Bayer format: "PBAA" is another code


@pytest.mark.parametrize("width, height", [(1280, 720), (1920, 1080)])
def test_a_webcam_asked_for_an_mjpeg_mode_delivers_that_size_at_30_fps(monkeypatch, width, height):
    """The pixel format is asked for first: in YUYV the driver has no 1080p, and 720p only at 10 FPS."""
    driver = FakeWebcam()
    monkeypatch.setattr(video.cv2, "VideoCapture", lambda index: driver)
    cap = video.open_capture("0", camera_mode=CameraMode(width, height, 30.0, "MJPG"))
    ok, frame = cap.read()
    assert ok and frame.shape == (height, width, 3)
    assert (driver.fourcc, driver.fps) == ("MJPG", 30.0)


def test_a_camera_opened_without_a_mode_keeps_its_drivers_default(monkeypatch):
    driver = FakeWebcam()
    monkeypatch.setattr(video.cv2, "VideoCapture", lambda index: driver)
    ok, frame = video.open_capture("0").read()
    assert frame.shape == (480, 640, 3) and driver.asked == 0


def test_a_mode_the_camera_does_not_offer_leaves_it_at_what_it_can_do():
    driver = FakeWebcam()
    ask_for_mode(driver, CameraMode(1000, 1000, 30.0))
    assert driver.read()[1].shape == (480, 640, 3)
