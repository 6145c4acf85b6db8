"""The unit that travels through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np


@dataclass(slots=True)
class Frame:
    """One decoded frame.

    ``image`` is (H, W, 3) RGB: uint8, or uint16 where the video is deeper than 8 bits
    (10, 12, 16: deep colour, scaled so that full range is 65535). ``pts`` and ``time_base`` are the source's own
    timestamps, which sinks keep (variable frame rate survives). ``captured_at`` is a
    ``time.perf_counter()`` stamp taken when the frame was read, for latency figures.
    """

    index: int
    pts: int | None
    time_base: Fraction | None
    image: np.ndarray
    captured_at: float = 0.0
    # what a source adds: a file's first frame, its pixel format and colour tags; a file played live, media_time
    meta: dict[str, Any] = field(default_factory=dict)
    #: how long the frame shows, in ``time_base`` units, where the input says (a variable-rate file's last
    #: frame has no next one to tell it); None: unknown
    duration: int | None = None

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, if known."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)
