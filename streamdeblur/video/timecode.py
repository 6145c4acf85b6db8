"""SMPTE timecode: the ``HH:MM:SS:FF`` a professional camera or recorder stamps on its footage
(a QuickTime ``tmcd`` track, a ``timecode`` tag), which an editor uses to line up cameras and
sound. FFmpeg reads it as a ``timecode`` tag and writes it back the same way (MOV/MP4 make a
``tmcd`` track of it, Matroska keeps the tag); a part cut with ``--start`` begins that many
frames later, so its timecode does too (:func:`shift`). Drop-frame timecode (29.97 and 59.94
fps, ``HH:MM:SS;FF``) skips labels 00 and 01 (00-03 at 59.94) at each minute not divisible by
ten, as SMPTE 12M counts."""

from __future__ import annotations

import math
import re
from fractions import Fraction

from av.stream import Stream

_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def is_timecode_track(stream: Stream) -> bool:
    """A QuickTime timecode (``tmcd``) track: FFmpeg carries it as the video's ``timecode`` tag."""
    tag = getattr(stream, "codec_tag", None) or ""
    return stream.type == "data" and (tag == "tmcd" or "timecode" in {k.lower() for k in stream.metadata})


def shift(timecode: str, frames: int, rate: Fraction) -> str:
    """``timecode`` (at ``rate`` frames a second) moved ``frames`` frames on; unchanged if it
    cannot be read or ``frames`` is 0."""
    m = _TIMECODE.match(timecode.strip())
    if not m or frames == 0 or not rate:
        return timecode
    hh, mm, ss, sep, ff = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    nominal = round(rate)  # 30 for 29.97
    drop = sep in ";," and nominal % 30 == 0 and rate.denominator == 1001
    d = 2 * nominal // 30 if drop else 0  # labels dropped a minute: 2 at 29.97, 4 at 59.94
    total_minutes = 60 * hh + mm
    n = (3600 * hh + 60 * mm + ss) * nominal + ff - d * (total_minutes - total_minutes // 10)
    n = (n + frames) % (24 * 3600 * nominal - d * 9 * 6 * 24)  # around midnight
    if drop:
        per10, per1 = 600 * nominal - 9 * d, 60 * nominal - d
        tens, rem = divmod(n, per10)
        n += 9 * d * tens + (d * ((rem - d) // per1) if rem > d else 0)
    ff, secs = n % nominal, n // nominal
    return f"{secs // 3600 % 24:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}{sep}{ff:02d}"


def frames_from(start: float | None, rate: Fraction | None) -> int:
    """Frames a part beginning ``start`` seconds in skips (its first frame is the first at or after it)."""
    if not start or not rate:
        return 0
    return max(0, math.ceil(start * rate - 1e-6))
