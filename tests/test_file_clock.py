"""Writing a video file's frames by the times they carry (``FileClock``): what a recording plays like."""

from __future__ import annotations

import random

from detector.live_clock import FILE_STILL_LIMIT_S, FileClock, frame_interval_s


def _copies(frames: list[tuple[int, float]], fps: float = 30.0) -> list[int]:
    """How many times each frame is written: the clock says it for the frame before, the last is written once."""
    clock = FileClock(fps)
    return [clock.copies_before(index, time_s) for index, time_s in frames][1:] + [1]


def test_a_constant_rate_file_is_written_frame_for_frame():
    assert _copies([(i, i * 1001 / 30000) for i in range(300)], fps=30000 / 1001) == [1] * 300  # NTSC 29.97


def test_a_phone_videos_uneven_times_write_every_frame_once_without_judder():
    """Phones stamp frames a few ms off the nominal rate: rounding each alone wrote a frame twice, then skipped
    the next (a visible stutter)."""
    rng = random.Random(1)
    assert _copies([(i, i / 30 + rng.uniform(-0.012, 0.012)) for i in range(300)]) == [1] * 300


def test_far_apart_frames_are_held_until_the_next_ones_time_and_crowded_ones_are_skipped():
    # 0, 50, 150, 450 ms at 30 FPS: output frames 0, 1.5, 4.5, 13.5
    assert _copies([(0, 0.0), (1, 0.05), (2, 0.15), (3, 0.45)]) == [1, 4, 8, 1]
    assert _copies([(i, i / 60) for i in range(8)]) == [1, 0, 1, 0, 1, 0, 1, 1]  # 60 FPS frames into 30 FPS


def test_a_seek_a_loop_or_a_file_without_times_never_freezes_the_picture():
    """A jump (seek, loop to the start) or a time that does not move on writes the frame before once, and the
    clock goes on from there: a forward seek of 10 s was not 300 copies of the frame before it."""
    assert _copies([(0, 0.0), (1, 1 / 30), (300, 10.0), (301, 10 + 1 / 30), (0, 0.0), (1, 1 / 30)]) == [1] * 6
    assert _copies([(i, 0.0) for i in range(5)]) == [1] * 5
    assert _copies([(0, 0.0), (1, 100.0), (2, 100 + 1 / 30)]) == [1, 1, 1]  # times that jump 100 s: damage


def test_a_still_lasts_as_long_as_in_the_file_and_as_on_screen():
    """A screen recording that stood still for 10 s holds its frame 10 s (it was cut to 4 s while the app
    showed it 10 s); the app and the clock share the limit past which a gap is a jump, not a still."""
    assert _copies([(0, 0.0), (1, 10.0), (2, 10 + 1 / 30)]) == [300, 1, 1]
    assert frame_interval_s(0.0, 10_000.0, 30) == 10.0
    assert frame_interval_s(0.0, (FILE_STILL_LIMIT_S + 1) * 1000, 30) == _copies([(0, 0.0), (1, FILE_STILL_LIMIT_S + 1)])[0] / 30


def test_a_recording_stopped_during_a_still_keeps_as_much_of_it_as_was_played():
    """Stopped 4 s into a 10 s still, a recording wrote the frame on screen once: the 4 s seen were lost. A frame
    stopped on at its normal time is written once, as ``copies_before`` writes it."""
    clock = FileClock(30)
    for index, time_s in [(0, 0.0), (1, 1 / 30), (2, 2 / 30)]:
        clock.copies_before(index, time_s)
    assert clock.copies_shown_for(4.0) == 120
    assert clock.copies_shown_for(0.02) == clock.copies_shown_for(0.05) == 1
    assert clock.copies_shown_for(FILE_STILL_LIMIT_S * 5) == FILE_STILL_LIMIT_S * 30  # never beyond a still's limit
    assert FileClock(30).copies_shown_for(4.0) == 1  # no frame held yet



def test_a_seek_during_a_still_keeps_as_much_of_it_as_was_played():
    """A seek or step 2 s into a 10 s still wrote the frame once (a step forward: the whole 10 s); now it lasts
    the 2 s played, and the clock starts again from the frame shown next."""
    clock = FileClock(30)
    for index, time_s in [(0, 0.0), (1, 1 / 30)]:
        clock.copies_before(index, time_s)
    clock.settle(clock.copies_shown_for(2.0))
    clock.settle(clock.copies_shown_for(0.0))  # a second seek before a frame came changes nothing
    assert clock.settled_copies == 60 and clock.copies_shown_for(0.0) == 60
    assert clock.copies_before(2, 10 + 1 / 30) == 60  # the next frame in the file, shown by a step
    assert clock.copies_before(3, 10 + 2 / 30) == 1 and clock.settled_copies is None
