"""Release frames at their own presentation times (FFmpeg's ``-re``).

A file sent to a streaming server (``run in.mp4 -o rtmp://...``) must go out no faster
than it plays, or the server buffers, drops or disconnects; a file played as a camera
(:class:`~streamdeblur.video.live.FilePlayback`) must come out as a camera's frames do.
:class:`Pacer` holds each frame until the wall clock has run as long since the first
frame as the media has.
"""

from __future__ import annotations

import threading
import time

#: a forward jump in the timestamps longer than this (a discontinuity: joined recordings,
#: an MPEG-TS timestamp wrap) starts the clock again instead of holding the stream that long
MAX_WAIT = 5.0
#: the longest single sleep, so that a stop is noticed
_SLICE = 0.05


class Stopped(Exception):
    """The stop event was set while a frame was being held."""


class Pacer:
    """``wait(t)`` returns when ``t - t_first`` seconds have passed since the first ``wait``.

    Behind the clock (a slow model) it does not wait, and the frames after a stall go out at
    once until they are back on the clock, as FFmpeg's ``-re`` does: the stream's timestamps
    and the wall clock stay in step.
    """

    def __init__(self, clock: object = time.perf_counter) -> None:
        self._clock = clock
        self._origin: tuple[float, float] | None = None  # (wall clock, media time) of the first frame
        #: seconds the last frame came after its time (0 when it was held): how far behind the input's pace
        self.late = 0.0

    def restart(self) -> None:
        """The next frame sets the clock again (after a gap that is no one's lateness: a stream
        that dropped and came back)."""
        self._origin = None

    def wait(self, media_time: float, stop: threading.Event | None = None) -> float:
        """Hold until ``media_time`` is due; returns the seconds held. Raises :class:`Stopped`
        if ``stop`` is set meanwhile."""
        now = self._clock()  # type: ignore[operator]
        if self._origin is None:
            self._origin = (now, media_time)
            return 0.0
        wall0, media0 = self._origin
        due = wall0 + (media_time - media0)
        self.late = max(0.0, now - due)
        if due - now > MAX_WAIT:  # a jump in the timestamps: this frame is the new origin
            self._origin = (now, media_time)
            return 0.0
        held = 0.0
        while now < due:
            if stop is not None and stop.is_set():
                raise Stopped
            step = min(_SLICE, due - now)
            time.sleep(step)
            held += step
            now = self._clock()  # type: ignore[operator]
        return held
