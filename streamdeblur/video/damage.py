"""Damaged video data met while decoding, counted and located for one warning."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import av
from av.packet import Packet


@dataclass
class Damage:
    """Damaged video data met while decoding: packets the decoder rejected (skipped, as
    FFmpeg skips them) and frames it concealed, with where they were, for one warning."""

    packets: int = 0  # video packets with data, demuxed
    frames: int = 0  # frames the decoder gave back
    rejected_packets: int = 0
    concealed: int = 0
    first_frame: int | None = None  # the frame index the first damage came before
    times: list[float] = field(default_factory=list)  # seconds of each damaged packet or frame
    reason: str = ""
    #: one frame's time at the stream's average rate (set by the source), to count the frames missing from the
    #: timeline: packets a demuxer drops when it resyncs past damage never reach the decoder to be rejected
    step: float | None = None
    #: every decoded frame's time, where the source keeps them (an image sequence's: the pictures that gave no
    #: frame are the damaged ones, which a rejected packet's time does not say: a threaded decoder reports an
    #: error while taking a later packet)
    timeline: list[float] | None = None
    _span: tuple[float, float] | None = None  # the first and last decoded frames' times (any order)
    _timed: int = 0  # frames with a time

    def rejected(self, packet: Packet, frame_index: int, reason: str) -> None:
        self.rejected_packets += 1
        self.reason = self.reason or reason
        self._at(packet.pts, packet.time_base, frame_index)

    def decoded(self, f: av.VideoFrame) -> None:
        self.frames += 1
        if f.is_corrupt:
            self.concealed += 1
            self._at(f.pts, f.time_base, self.frames - 1)
        if f.pts is not None and f.time_base:
            t = float(f.pts * f.time_base)
            if self.timeline is not None:
                self.timeline.append(t)
            self._span = (t, t) if self._span is None else (min(self._span[0], t), max(self._span[1], t))
            self._timed += 1

    def _at(self, pts: int | None, tb: Fraction | None, frame_index: int) -> None:
        if self.first_frame is None:
            self.first_frame = frame_index
        if pts is not None and tb:
            self.times.append(float(pts * tb))

    def lost(self, reached_end: bool) -> int:
        """Frames the damage cost: the packets rejected, or, read to the end, every packet that gave no frame;
        or, where more, the frames missing between the first and last decoded at the stream's rate."""
        if not self.rejected_packets and not self.concealed:
            return 0
        base = max(self.rejected_packets, self.packets - self.frames) if reached_end else self.rejected_packets
        if self.step and self._span is not None:
            base = max(base, round((self._span[1] - self._span[0]) / self.step) + 1 - self._timed)
        return base

    def warning(self, spec: str, frames_out: int, reached_end: bool, files: list[str] | None = None) -> str | None:
        """One line, or None when nothing was damaged; ``files``: the damaged files (an image sequence's
        pictures that gave no frame), named first."""
        if not self.rejected_packets and not self.concealed:
            return None
        lost = self.lost(reached_end)
        parts = []
        if lost:
            parts.append(f"{lost} frame{'s were' if lost != 1 else ' was'} not decodable and left out")
        if self.concealed:
            n = self.concealed
            parts.append(f"{n} damaged frame{'s were' if n != 1 else ' was'} concealed by the decoder")
        where = f"after frame {self.first_frame}"
        if files:
            where = f"{', '.join(files[:3])}{f' and {len(files) - 3} more' if len(files) > 3 else ''}"
        elif self.times:
            lo, hi = min(self.times), max(self.times)
            where += f", at {lo:.2f} s" if hi - lo < 0.005 else f", between {lo:.2f} s and {hi:.2f} s"
        why = f": {self.reason}" if self.reason else ""
        return (
            f"input {spec} is damaged ({where}{why}): {' and '.join(parts)}; "
            f"the {frames_out} frames decoded were deblurred"
        )
