"""streamdeblur.pacing.Pacer: frames held to their presentation times (FFmpeg's -re), without
holding a stream for a jump in its timestamps or past a stop."""

from __future__ import annotations

import threading
import time

import pytest

from streamdeblur.pacing import MAX_WAIT, Pacer, Stopped


def test_frames_are_held_to_their_times_and_a_late_one_is_not():
    p = Pacer()
    t0 = time.monotonic()
    p.wait(10.0)  # the first frame sets the clock
    p.wait(10.3)
    assert time.monotonic() - t0 >= 0.29
    time.sleep(0.3)  # the consumer fell behind: the next frame is late
    t1 = time.monotonic()
    assert p.wait(10.4) == 0.0 and time.monotonic() - t1 < 0.05


def test_a_jump_in_the_timestamps_does_not_hold_the_stream():
    """Recordings joined end to end, an MPEG-TS timestamp wrap: the frame after the jump goes at
    once and the clock starts again from it."""
    p = Pacer()
    p.wait(0.0)
    t0 = time.monotonic()
    assert p.wait(3600.0) == 0.0 and time.monotonic() - t0 < 0.05
    p.wait(3600.2)
    assert time.monotonic() - t0 >= 0.19
    assert MAX_WAIT < 3600


def test_a_stop_ends_the_wait():
    p, stop = Pacer(), threading.Event()
    p.wait(0.0)
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(Stopped):
        p.wait(MAX_WAIT - 0.5, stop)
    assert time.monotonic() - t0 < 1.0


def test_restart_starts_the_clock_again():
    """After a gap that is no one's lateness (a stream that dropped and came back)."""
    p = Pacer()
    p.wait(0.0)
    time.sleep(0.3)
    p.restart()
    p.wait(0.04)  # late by 0.26 s on the old clock: the new origin
    assert p.late == 0.0
    t0 = time.monotonic()
    p.wait(0.24)
    assert time.monotonic() - t0 >= 0.19
