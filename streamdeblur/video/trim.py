"""A part of an input in time: ``run --start TIME --duration TIME`` (FFmpeg's ``-ss`` and ``-t``).

:class:`Trim` decides, item by item, what a :class:`~streamdeblur.video.sources.FileSource`
keeps: the frames and copied packets whose times fall in ``[start, start + duration)``, on the
input's own timeline measured from its first timestamp (as FFmpeg's ``-ss`` is). With a start,
the source seeks to the keyframe before it and decodes from there (the frames before the start
are decoded, not kept), and what is kept is moved to begin at 0, as FFmpeg's output does. A
duration alone counts from the first frame and keeps the input's timestamps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import InputError

#: ``90``, ``90.5``, ``1:30``, ``01:02:03.25``: seconds, MM:SS or HH:MM:SS (FFmpeg's forms)
_TIME = re.compile(r"^(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)$")
#: a frame or packet this close to a limit counts as on it (float timestamps)
_EPS = 1e-6
#: after the last frame, copied packets are read this many seconds past the end (a container
#: interleaves audio and video by up to about a second), then reading stops
AUDIO_SLACK = 2.0


def parse_time(text: str, option: str) -> float:
    """Seconds from ``90``, ``1:30`` or ``01:02:03.5``; a one-line error naming ``option`` otherwise."""
    m = _TIME.match(text.strip())
    if m is None:
        raise InputError(
            f"{option} {text!r} is not a time",
            f"give seconds ({option} 90), MM:SS ({option} 1:30) or HH:MM:SS.ms ({option} 00:01:30.5)",
        )
    h, mnt, s = m.groups()
    if (h is not None or mnt is not None) and float(s) >= 60:
        raise InputError(f"{option} {text!r}: seconds must be under 60 in MM:SS", f"write it as {option} SECONDS")
    if h is not None and int(mnt) >= 60:
        raise InputError(f"{option} {text!r}: minutes must be under 60 in HH:MM:SS", f"write it as {option} SECONDS")
    return int(h or 0) * 3600 + int(mnt or 0) * 60 + float(s)


def seconds(t: float) -> str:
    """``0.12`` for 0.12, ``3.033`` for 3.0333: to the millisecond, no trailing zeros."""
    return f"{t:.3f}".rstrip("0").rstrip(".")


def part_length(start: str | None, duration: str | None, end: str | None) -> tuple[float | None, float | None]:
    """``--start``, and ``--duration`` or ``--end`` (FFmpeg's ``-to``: a time of the input, the part's length
    from ``--start``) as (start, duration) in seconds; one-line errors for bad times or both given."""
    begin = None if start is None else parse_time(start, "--start")
    if end is None:
        return begin, None if duration is None else parse_time(duration, "--duration")
    if duration is not None:
        raise InputError("give --duration or --end, not both", "--end is a time of the input, --duration a length")
    stop = parse_time(end, "--end")
    if stop <= (begin or 0.0):
        raise InputError(f"--end {end} is not after --start {start or 0}", "give an --end later than --start")
    return begin, stop - (begin or 0.0)


#: the longest --start/--duration (about 31 years): FFmpeg counts its times in 64-bit microseconds
MAX_TRIM = 1e9


def check_trim(start: float | None, duration: float | None) -> None:
    """The one-line errors for a start or duration no input can have."""
    if start is not None and not 0 <= start < MAX_TRIM:
        raise InputError(f"--start must be 0 or more seconds and under {MAX_TRIM:g}, got {start:g}")
    if duration is not None and not 0 < duration < MAX_TRIM:
        raise InputError(f"--duration must be more than 0 seconds and under {MAX_TRIM:g}, got {duration:g}")


@dataclass
class Trim:
    """What of an input is kept, in output seconds (the source's times after any shift)."""

    start: float | None  # None: from the first frame; else the kept part begins at output time 0
    duration: float | None  # None: to the end
    end: float | None = None  # known once the first frame is kept (duration without start) or at once
    #: a frame at or past the end was decoded: no more frames, copied packets only up to the end
    video_done: bool = False
    kept_frames: int = field(default=0)
    #: the last frame left out before the start and the first at or past the end (output seconds), to say
    #: why a part that holds no frame is empty
    before: float | None = None
    after: float | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.duration is not None:
            self.end = self.duration

    def frame(self, t: float | None) -> bool:
        """Keep a frame at output time ``t`` (None: a frame with no timestamp, kept)?"""
        if self.video_done:
            return False
        if t is None:
            return True
        if self.start is not None and t < -_EPS:
            self.before = t
            return False
        if self.end is None and self.duration is not None:
            self.end = t + self.duration
        if self.end is not None and t >= self.end - _EPS:
            self.video_done = True
            self.after = t
            return False
        self.kept_frames += 1
        return True

    def no_frame(self, name: str, step: float | None) -> InputError:
        """The error for a start and duration that fall between two frames (frames were decoded on
        both sides of the part, none in it); ``step``: the input's frame spacing, if known."""
        start = self.start or 0.0
        if self.before is not None and self.after is not None:
            step = self.after - self.before
        part = f"the part from {start:g} s to {start + (self.duration or 0):g} s of {name} holds no frame"
        if not step or step <= 0:
            return InputError(part, "give a longer --duration, or a later --end")
        spacing = math.ceil(step * 1000 - 1e-6) / 1000  # up, to the ms: that long a part always holds one
        at = f", the next at {seconds(start + self.after)} s" if self.after is not None else ""
        return InputError(
            f"{part} (its frames are {spacing:g} s apart{at})",
            f"give a --duration of at least {spacing:g} s, or an --end that far past --start",
        )

    def packet(self, t: float | None, end: float | None = None) -> bool:
        """Keep a copied (audio, subtitle, data) packet at output time ``t``? ``end``: where an audio
        packet's sound or a subtitle's showing ends (output seconds; None where unknown): one that begins
        before the start and ends after it is in the part too. Sound is kept at its negative time, as
        FFmpeg's stream copy keeps it, and the container plays it from 0 (an MP4's edit list, Matroska's
        negative time): left out, the sound began up to a packet late (21 ms of AAC); a subtitle is moved
        to 0 (the source's ``_cut_to_part``): left out, the line on screen at the start was never shown."""
        if t is None:
            return not self.video_done
        if self.start is not None and t < -_EPS and (end is None or end <= _EPS):
            return False
        return self.end is None or t < self.end - _EPS

    def finished(self, t: float | None, copying: bool) -> bool:
        """Can reading stop, at a packet of output time ``t``? Once the video is done and, where
        other streams are copied (``copying``), the demuxer has gone ``AUDIO_SLACK`` past the end
        (a container's audio lags or leads its video by less)."""
        if not self.video_done:
            return False
        if not copying or self.end is None:
            return True
        return t is not None and t >= self.end + AUDIO_SLACK
