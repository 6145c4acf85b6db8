"""HDR10 static metadata: the mastering display's colour volume (SMPTE ST 2086) and the content
light levels (MaxCLL / MaxFALL) that an HDR10 camera or grade stores beside the PQ tags. A player
tone-maps with them; without them it guesses (often 1000 nits), and the picture's brightness on
an HDR screen changes. Read from the first decoded frame's side data, written again by the
encoders that take them as parameters (x264, x265)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

#: x264's and x265's units: chromaticity in 0.00002 steps, luminance in 0.0001 cd/m2
_XY, _LUM = 50000, 10000


@dataclass(frozen=True)
class Hdr10:
    """``mastering``: (G.x, G.y, B.x, B.y, R.x, R.y, WP.x, WP.y, Lmax, Lmin) in x264/x265 units, or None;
    ``light``: (MaxCLL, MaxFALL) in cd/m2, or None."""

    mastering: tuple[int, ...] | None = None
    light: tuple[int, int] | None = None

    def x26x_params(self, codec: str) -> list[str]:
        """The ``x264-params`` / ``x265-params`` entries that write this metadata again."""
        out: list[str] = []
        if self.mastering is not None:
            gx, gy, bx, by, rx, ry, wx, wy, lmax, lmin = self.mastering
            key = "master-display" if codec == "libx265" else "mastering-display"
            out.append(f"{key}=G({gx},{gy})B({bx},{by})R({rx},{ry})WP({wx},{wy})L({lmax},{lmin})")
        if self.light is not None:
            out.append(f"{'max-cll' if codec == 'libx265' else 'cll'}={self.light[0]},{self.light[1]}")
        return out

    def describe(self) -> str:
        parts = []
        if self.mastering is not None:
            parts.append(f"mastering display {self.mastering[9] / _LUM:g}-{self.mastering[8] / _LUM:g} nits")
        if self.light is not None:
            parts.append(f"MaxCLL {self.light[0]}, MaxFALL {self.light[1]}")
        return ", ".join(parts)


def _ratio(num: int, den: int, scale: int) -> int:
    return round(num * scale / den) if den else 0


def hdr10_from_frame(frame: Any) -> Hdr10 | None:
    """The HDR10 metadata in a decoded PyAV frame's side data; None when it has none."""
    from av.sidedata.sidedata import Type

    mastering = light = None
    try:
        side = frame.side_data
        md = side.get(Type.MASTERING_DISPLAY_METADATA)
        cl = side.get(Type.CONTENT_LIGHT_LEVEL)
    except ValueError:  # side data of a type this PyAV does not name (EXIF of a JPEG): none of HDR10's
        return None
    if md is not None and md.buffer_size >= 88:
        # AVMasteringDisplayMetadata: display_primaries[3][2] (r, g, b), white_point[2], min_luminance,
        # max_luminance (AVRational: int num, int den), has_primaries, has_luminance (int)
        v = struct.unpack("<20i2i", bytes(md)[:88])
        r = [(v[2 * k], v[2 * k + 1]) for k in range(10)]
        has_primaries, has_luminance = v[20], v[21]
        if has_primaries and has_luminance:
            (rx, ry, gx, gy, bx, by, wx, wy) = (_ratio(n, d, _XY) for n, d in r[:8])
            lmin, lmax = _ratio(*r[8], _LUM), _ratio(*r[9], _LUM)
            mastering = (gx, gy, bx, by, rx, ry, wx, wy, lmax, lmin)
    if cl is not None and cl.buffer_size >= 8:
        light = struct.unpack("<2I", bytes(cl)[:8])
    if mastering is None and light is None:
        return None
    return Hdr10(mastering, (int(light[0]), int(light[1])) if light else None)
