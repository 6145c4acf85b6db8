"""An animated GIF output (``-o clip.gif``): 256 colours a frame, each frame with its own palette
(FFmpeg's ``palettegen=stats_mode=single`` and ``paletteuse=new=1`` in PyAV's filter graph), so a
deblurred clip keeps its colours instead of FFmpeg's default fixed 3-3-2 palette; timestamps in
the hundredths of a second GIF counts in; looping forever, as shared GIFs do, or as often as a GIF
input says (:func:`loop_of`)."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import av.error
import av.filter

#: GIF's clock: frame delays are counted in hundredths of a second
TIME_BASE = Fraction(1, 100)
#: the highest frame rate a GIF plays at as it should: every frame 0.02 s (browsers show 0.01 s as 0.1 s)
MAX_FPS = 50


#: the application extension that says how often a GIF plays: NETSCAPE2.0 (or its twin ANIMEXTS1.0), then
#: sub-block 1 holding the loop count, little-endian (0: for ever)
_LOOP_BLOCKS = (b"\x21\xff\x0bNETSCAPE2.0\x03\x01", b"\x21\xff\x0bANIMEXTS1.0\x03\x01")


def loop_of(path: str | os.PathLike) -> int | None:
    """How often the GIF at ``path`` asks to be played again, as FFmpeg's gif muxer's ``loop`` option takes
    it: 0 for ever, N N times more, -1 once (no loop block); None where ``path`` is not a GIF that can be
    read. The block comes before the first picture, after the global palette (at most 781 bytes in)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
    except OSError:
        return None
    if not head.startswith((b"GIF87a", b"GIF89a")):
        return None
    for block in _LOOP_BLOCKS:
        at = head.find(block)
        if at >= 0 and len(head) >= at + len(block) + 2:
            return int.from_bytes(head[at + len(block) : at + len(block) + 2], "little")
    return -1


class GifPalette:
    """Turns RGB frames into palette frames, each with its own 256 colours (dithered)."""

    def __init__(self, width: int, height: int) -> None:
        g = av.filter.Graph()
        src = g.add_buffer(width=width, height=height, format="rgb24", time_base=TIME_BASE)
        split = g.add("split")
        stats = g.add("palettegen", "stats_mode=single")
        use = g.add("paletteuse", "new=1")
        self._sink = g.add("buffersink")
        src.link_to(split)
        split.link_to(stats, 0, 0)
        split.link_to(use, 1, 0)
        stats.link_to(use, 0, 1)
        use.link_to(self._sink)
        g.configure()
        self._graph = g

    def _pull(self) -> list[av.VideoFrame]:
        out = []
        while True:
            try:
                out.append(self._graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """``frame`` (rgb24, pts in hundredths of a second) in; the palette frames ready out."""
        self._graph.push(frame)
        return self._pull()

    def flush(self) -> list[av.VideoFrame]:
        """The frames the graph still holds, at the end."""
        self._graph.push(None)
        return self._pull()
