"""Interlaced input made progressive before it is deblurred (``run --deinterlace frame|field``).

Broadcast and older camcorder video (1080i, 576i, 480i) holds two fields per frame, taken a
field's time apart: anything that moves is combed. The model deblurs whole frames, so it would
sharpen the combing. FFmpeg's ``bwdif`` (the deinterlacer FFmpeg recommends, motion adaptive)
runs on the decoded frames in PyAV's filter graph, as ``ffmpeg -vf bwdif`` would:

* ``frame``: one progressive frame per frame (25i -> 25p), the output's frame rate the input's;
* ``field``: one per field (25i -> 50p), each field's own moment (smoother motion; twice the
  frames to deblur).

It is decided on the first frame: an input whose stream or first frame says it is interlaced is
deinterlaced throughout (every frame: the frame rate stays constant); a progressive one is left as
it is, with a warning. The filter holds one frame back; :meth:`Deinterlacer.flush` gives it at the
end, so no frame is lost.
"""

from __future__ import annotations

from fractions import Fraction

import av

__all__ = ["DEINTERLACE_MODES", "Deinterlacer", "check_deinterlace", "is_interlaced"]

#: ``--deinterlace`` values -> bwdif's ``mode``
DEINTERLACE_MODES = {"frame": "send_frame", "field": "send_field"}
#: FFmpeg's AVFieldOrder values of interlaced video -> the field shown first (bwdif's ``parity``)
_PARITY = {2: "tff", 3: "bff", 4: "bff", 5: "tff"}


def check_deinterlace(mode: str | None) -> None:
    from ..errors import InputError

    if mode is not None and mode not in DEINTERLACE_MODES:
        raise InputError(f"--deinterlace must be frame or field, got {mode!r}")


def is_interlaced(field_order: int, first: av.VideoFrame) -> bool:
    """Whether a stream is interlaced, by its field order or its first frame's flag."""
    return field_order in _PARITY or bool(first.interlaced_frame)


class Deinterlacer:
    """bwdif over decoded frames: :meth:`push` a frame, get the progressive frames ready."""

    def __init__(self, mode: str, field_order: int) -> None:
        check_deinterlace(mode)
        self.mode = mode
        #: the stream's field order where it gives one (a decoded frame's own flag can say otherwise: x264's
        #: top-field-first H.264 decodes to frames that do not flag it), else each frame's flag
        self._parity = _PARITY.get(field_order, "auto")
        self._graph: av.filter.Graph | None = None
        self._shape: tuple[int, int, str] | None = None

    @property
    def rate_factor(self) -> int:
        """Output frames per input frame."""
        return 2 if self.mode == "field" else 1

    def _build(self, frame: av.VideoFrame, time_base: Fraction) -> None:
        g = av.filter.Graph()
        src = g.add_buffer(width=frame.width, height=frame.height, format=frame.format.name, time_base=time_base)
        parity = self._parity
        bwdif = g.add("bwdif", f"mode={DEINTERLACE_MODES[self.mode]}:parity={parity}:deint=all")
        sink = g.add("buffersink")
        src.link_to(bwdif)
        bwdif.link_to(sink)
        g.configure()
        self._graph, self._shape = g, (frame.width, frame.height, frame.format.name)

    def _drain(self) -> list[av.VideoFrame]:
        out: list[av.VideoFrame] = []
        assert self._graph is not None
        while True:
            try:
                out.append(self._graph.vpull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out

    def push(self, frame: av.VideoFrame, time_base: Fraction) -> list[av.VideoFrame]:
        """The progressive frames ready after ``frame`` (none for the first: the filter looks one ahead)."""
        ready: list[av.VideoFrame] = []
        if self._shape != (frame.width, frame.height, frame.format.name):
            ready = self.flush()  # a new size (an adaptive stream): a graph for it, the old one emptied
            self._build(frame, time_base)
        assert self._graph is not None
        self._graph.push(frame)
        return ready + self._drain()

    def flush(self) -> list[av.VideoFrame]:
        """The frames the filter still holds, at the end of the input (or of a size)."""
        if self._graph is None:
            return []
        self._graph.push(None)
        out = self._drain()
        self._graph, self._shape = None, None
        return out
