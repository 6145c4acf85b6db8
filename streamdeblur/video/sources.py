"""Video sources for files and network URLs, decoded with PyAV.

``open_source`` opens, validates and decodes the first frame before returning, so every
problem a user can have with an input (missing, not a video, truncated, no frames,
audio only, a URL that does not answer) is raised as a one-line error *before* any
output file is created.

A source yields :class:`~streamdeblur.video.frame.Frame` objects (RGB with the source's
own pts and time base): uint8 for 8-bit video, uint16 (decoded as ``rgb48le``, full range =
65535) for video deeper than 8 bits, so 10-, 12- and 16-bit input is never crushed to 256
levels on its way to the model (``deep=False`` decodes every frame to uint8, as a live preview
shows it). With ``items()`` it also yields the audio and
subtitle packets of the streams a sink asked to copy (``enable_passthrough``), demuxed
in the same pass, so live streams are read once and packets are copied untouched.

File or stream is one rule for every command, :func:`streamdeblur.video.urls.is_url`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import av.error
import numpy as np
from av.container import InputContainer
from av.packet import Packet
from av.sidedata.sidedata import Type as SideDataType
from av.stream import Stream

from ..errors import InputError, StreamDeblurError, StreamTimeoutError
from .containers import ffmpeg_reason, opaque_twins
from .damage import Damage
from .deinterlace import Deinterlacer, check_deinterlace, is_interlaced
from .frame import Frame
from .hdr import Hdr10, hdr10_from_frame
from .opening import open_container
from .sequence import is_sequence, missing_pictures
from .trim import Trim, check_trim
from .urls import is_pipe, is_url, local_path

log = logging.getLogger(__name__)

#: seconds between tries to open a dropped stream again (--reconnect)
_RECONNECT_EVERY = 1.0

#: ffmpeg AVColorSpace (matrix) -> the swscale colorspace name PyAV understands
_SWS_MATRIX = {1: "itu709", 4: "fcc", 5: "itu601", 6: "itu601", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}


def sws_colorspace(matrix: int | None) -> str:
    """The swscale matrix for an ffmpeg colorspace tag; unspecified means BT.601, as FFmpeg does."""
    return _SWS_MATRIX.get(int(matrix or 2), "itu601")


@dataclass(frozen=True)
class SourceInfo:
    """What a sink and a progress bar need to know about an input."""

    spec: str
    width: int
    height: int
    fps: float | None
    rate: Fraction | None
    time_base: Fraction
    frame_count: int | None  # from the container header; None when it does not say
    duration: float | None  # seconds
    pix_fmt: str
    bit_depth: int
    color_primaries: int  # ffmpeg enum values; 2 = unspecified
    color_trc: int
    colorspace: int
    color_range: int  # 1 = limited (MPEG), 2 = full (JPEG), 0 = unspecified
    rotation: int  # degrees counter-clockwise, as VideoFrame.rotation reports it
    codec: str
    container: str
    is_live: bool
    #: FFmpeg's AVFieldOrder: 0 unknown, 1 progressive, 2 top field first, 3 bottom first (4, 5: the mixed orders)
    field_order: int = 0
    #: the only video is a still picture attached to the file (an MP3's or M4A's cover art): one frame
    still: bool = False
    #: read from a pipe (``-``, ``/dev/stdin`` fed by ``cat``): once, front to back, never seeked or reopened
    pipe: bool = False
    #: HDR10 static metadata (mastering display, content light levels) of the first frame, if any
    hdr10: Hdr10 | None = None
    #: the pixels' shape where they are not square (DV, DVD, HDV 1440x1080 at 4:3: anamorphic); None if square
    sample_aspect_ratio: Fraction | None = None

    @property
    def expected_frames(self) -> int | None:
        """Best guess at the number of frames, for progress and ETA only."""
        if self.frame_count:
            return self.frame_count
        if self.duration and self.fps:
            return max(1, round(self.duration * self.fps))
        return None


def tagged_duration(v: Stream) -> float | None:
    """A stream's length from its ``DURATION`` tag (``00:01:02.500000000``, as FFmpeg and mkvmerge write
    each Matroska track's), or None: the container's own is its longest track's (audio that runs on)."""
    text = next((str(val) for key, val in v.metadata.items() if key.upper().startswith("DURATION")), None)
    try:
        h, m, sec = (text or "").split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return None


def _visible_pix_fmt(f: av.VideoFrame) -> str:
    """The first frame's format; for one with an alpha channel that is opaque everywhere (a GIF, which
    FFmpeg decodes as ``bgra`` whether or not it has a transparent colour; an RGBA screen capture),
    its opaque twin: there is no transparency to drop (later frames: :meth:`FileSource._to_frame`)."""
    name = f.format.name
    twins = opaque_twins(name)
    if twins and _opaque(f):
        return twins[0]
    return name


#: packed 8-bit formats with alpha -> the alpha byte's place in a pixel
_PACKED_ALPHA = {"rgba": 3, "bgra": 3, "argb": 0, "abgr": 0}


def _opaque(f: av.VideoFrame) -> bool:
    """Whether a frame with an alpha channel is opaque everywhere: read in place for the common 8-bit
    formats (a GIF's bgra, yuva420p), converted for the others."""
    name = f.format.name
    if name in _PACKED_ALPHA or name in ("yuva420p", "yuva422p", "yuva444p"):
        p = f.planes[0] if name in _PACKED_ALPHA else f.planes[3]
        rows = np.frombuffer(p, np.uint8)[: p.height * p.line_size].reshape(p.height, p.line_size)
        alpha = rows[:, _PACKED_ALPHA[name] : 4 * p.width : 4] if name in _PACKED_ALPHA else rows[:, : p.width]
        return bool(alpha.min() == 255)
    return bool(f.to_ndarray(format="rgba")[..., 3].min() == 255)


def _sample_aspect_ratio(v: av.VideoStream) -> Fraction | None:
    """The stream's pixel aspect ratio as FFmpeg guesses it (the container's, else the codec's); None
    for square pixels or none said."""
    try:
        sar = v.sample_aspect_ratio or v.codec_context.sample_aspect_ratio
    except Exception:  # pragma: no cover - a stream without one
        return None
    return Fraction(sar) if sar and sar > 0 and sar != 1 else None


def _bit_depth(pix_fmt: str) -> int:
    """The deepest component of ``pix_fmt`` in bits (8 where FFmpeg does not know the name)."""
    try:
        fmt = av.VideoFormat(pix_fmt)
        return max(c.bits for c in fmt.components)
    except Exception:  # pragma: no cover - exotic formats
        return 8


A53_CC = SideDataType.A53_CC

#: containers whose timestamps may jump (FFmpeg's AVFMT_TS_DISCONT demuxers): transport and program streams, FLV, HLS
_DISCONT_FORMATS = {"mpegts", "mpegtsraw", "mpeg", "flv", "live_flv", "hls"}


class Timeline:
    """A transport stream's timestamps made continuous, as FFmpeg does: recordings joined with
    ``cat``, an encoder or camera restarted mid-stream, a broadcast's clock reset. Where a packet's
    decode time goes back more than :data:`BACK` or forward more than :data:`FORWARD` seconds from
    where its stream was due, the stream is moved by an offset that puts the new part where the
    latest stream was due (no stream goes back), the same offset for every stream that meets the
    same join (each part's streams stay in sync). Each stream takes it at its own first packet of
    the new part: a transport stream's demuxer gives a stream's last packet of the old part only
    once its next one starts, after other streams' new packets. Packets are moved before they are
    decoded or copied, so the frames the decoder still holds keep their own times."""

    BACK = Fraction(1, 10)  # FFmpeg's: a dts more than 0.1 s before the last one's
    FORWARD = Fraction(10)  # FFmpeg's -dts_delta_threshold
    SAME_JOIN = Fraction(1)  # streams meeting a join within this of it (both clocks) met the same one

    def __init__(self) -> None:
        self.jumps: list[float] = []  # each join's jump (seconds), as found
        self._offset: dict[int, Fraction] = {}  # seconds added to each stream's packets
        self._due: dict[int, Fraction] = {}  # each stream's next decode time, on the continuous timeline
        self._join: tuple[Fraction, Fraction] | None = None  # the last join: (where it starts, its raw time)

    def adjust(self, packet: Packet) -> None:
        if packet.dts is None or not packet.time_base:
            return
        i, tb = packet.stream.index, Fraction(packet.time_base)
        raw = packet.dts * tb
        offset = self._offset.get(i, self._join[0] - self._join[1] if self._join else Fraction(0))
        t, due = raw + offset, self._due.get(i)
        if due is not None and (t < due - self.BACK or t > due + self.FORWARD):
            joined = self._join
            if joined is not None and abs(raw - joined[1]) <= self.SAME_JOIN and abs(due - joined[0]) <= self.SAME_JOIN:
                offset = joined[0] - joined[1]  # the join another stream met first
            else:
                self.jumps.append(float(t - due))
                start = max(self._due.values())  # the new part starts where the latest stream was due
                self._join = (start, raw)
                offset = start - raw
            if raw + offset < due - self.BACK:  # this stream's new part begins earlier than the other's
                offset = due - raw
            t = raw + offset
        self._offset[i] = offset
        ticks = round(offset / tb)
        if ticks:
            packet.dts += ticks
            if packet.pts is not None:
                packet.pts += ticks
        self._due[i] = t + (packet.duration or 0) * tb


def input_origin(c: InputContainer, v: Stream) -> float:
    """An input's first timestamp in seconds (what FFmpeg's ``-ss`` counts from), by its container,
    else its video stream ``v``."""
    if c.start_time is not None:
        return c.start_time / 1e6
    if v.start_time is not None and v.time_base:
        return float(v.start_time * v.time_base)
    return 0.0


class FileSource:
    """A video file or network stream, decoded on PyAV's own threads (thread_type AUTO)."""

    def __init__(
        self,
        spec: str | os.PathLike,
        *,
        timeout: float = 10.0,
        deep: bool = True,
        reconnect: float | None = None,
        start: float | None = None,
        duration: float | None = None,
        video_stream: int = 0,
        deinterlace: str | None = None,
        framerate: Fraction | None = None,
        crop_even: bool = False,
    ) -> None:
        self.spec = str(spec)
        if framerate is not None and not is_sequence(self.spec):
            raise InputError(
                f"--framerate applies to an image-sequence input (frame_%04d.png); {self.spec} has its own rate",
                "leave --framerate out",
            )
        #: an image sequence's frames a second (``--framerate``; None: FFmpeg's 25)
        self.framerate = framerate
        check_deinterlace(deinterlace)
        #: ``--deinterlace frame|field``: an interlaced input made progressive before it is deblurred
        #: (bwdif); None: frames as decoded
        self.deinterlace = deinterlace
        self._deinterlacer: Deinterlacer | None = None
        self._deinterlace_decided = False
        #: ``--crop-even``: an odd-size input's last column and/or last row dropped, so every frame (and the
        #: output) is even-sized and every encoder writes 4:2:0; an even-size input is left as it is
        self.crop_even = crop_even
        self._crop: tuple[int, int] | None = None  # the (width, height) frames are cropped to; None: not cropped
        self._untimed = False  # frames come without timestamps (a raw H.264/H.265 stream): counted at the rate
        #: which of the input's video streams is deblurred (FFmpeg's ``-map 0:v:N``): a thermal and a
        #: colour camera's, a second angle; the others are named as left out
        self.video_stream = video_stream
        self.timeout = timeout
        check_trim(start, duration)
        #: ``--start`` / ``--duration``: the part of the input kept (None: all of it)
        self.trim = Trim(start, duration) if start is not None or duration is not None else None
        #: a stream URL that ends, breaks off or stalls is opened again for up to this many seconds
        #: (``run --reconnect``), its frames and packets going on after the ones before, the time it
        #: was away kept as a gap
        self.reconnect = reconnect if reconnect and is_url(self.spec) else None
        #: one line per time the stream dropped and came back
        self.reconnects: list[str] = []
        self._shift = Fraction(0)  # seconds added to this connection's timestamps (0 on the first)
        self._reconnected = False  # the next frame is a reopened connection's first
        self._end = 0.0  # where the items yielded so far end, in output seconds
        self._last_seen: tuple[float, float] | None = None  # the last frame's output time, and when it came
        #: this connection's first frame's output time, and when it came: a live feed's clock against ours
        self._first_seen: tuple[float, float] | None = None
        #: frames deeper than 8 bits come out as uint16 (rgb48le); False: uint8 whatever the input
        self.deep = deep
        self._rgb = "rgb24"
        self._passthrough: set[int] = set()
        #: ``--start``: the subtitle packets on screen at the start, read before the seek point (they come first),
        #: and their (stream, pts) on the input's clock, so that the part's demuxing does not give them again
        self._early: list[Packet] = []
        self._early_keys: set[tuple[int, int]] = set()
        self._closed = False
        self.container = self._open_first()
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------
    def _open_first(self) -> InputContainer:
        """The input opened; with ``reconnect``, a stream that does not answer yet (a camera still
        booting, a server started after this run) is tried every second for up to that long."""
        deadline = time.monotonic() + (self.reconnect or 0.0)
        while True:
            try:
                return open_container(self.spec, self.timeout, self.reconnect, self.framerate)
            except StreamTimeoutError as e:
                left = deadline - time.monotonic()
                if not self.reconnect or left <= 0:
                    raise
                log.warning("%s; trying again for up to %.1f s (--reconnect)", e.message, left)
                time.sleep(min(_RECONNECT_EVERY, left))

    def _setup(self) -> None:
        c = self.container
        if not c.streams:
            raise InputError(
                f"input {self.spec} contains no streams (zero frames)", "pass a video file with frames in it"
            )
        if not c.streams.video:
            kinds = sorted({s.type for s in c.streams})
            if "audio" in kinds:
                raise InputError(f"input {self.spec} has no video stream (audio only)", "pass a video file")
            raise InputError(
                f"input {self.spec} has no video stream (streams: {', '.join(kinds) or 'none'})", "pass a video file"
            )
        n = len(c.streams.video)
        if not 0 <= self.video_stream < n:
            found = ", ".join(
                f"{i}: {s.codec_context.name} {s.codec_context.width}x{s.codec_context.height}"
                for i, s in enumerate(c.streams.video)
            )
            raise InputError(
                f"--video-stream {self.video_stream}: input {self.spec} has {n} video stream{'s' if n != 1 else ''} "
                f"({found})",
                f"give --video-stream 0{f' to {n - 1}' if n > 1 else ''}",
            )
        self._take_streams()
        self._frames_out = 0
        self._resized_from: set[tuple[int, int]] = set()  # the other sizes met (and scaled)
        #: the first frame had an alpha channel, opaque: later frames are looked at until one is not
        self._watch_alpha = False
        self._first_pts: int | None = None
        self._last_pts: int | None = None
        self._reached_end = False
        self.damage = Damage(timeline=[] if is_sequence(self.spec) else None)
        rate = self.stream.average_rate  # a frame's time, to count frames missing from a damaged timeline
        self.damage.step = float(1 / rate) if rate and rate > 0 else None
        #: why the input ended before its end (a read error or a stall mid-input); None if it did not
        self.stopped_by: str | None = None
        self._check_index()
        #: a URL that says how long it is: a recording served over http(s) (an MP4, a Matroska file), not a
        #: feed (a transport stream's length is only guessed from its bit rate) nor one read with --reconnect
        self._announces_length = (
            bool(self.container.duration)
            and str(self.spec).lower().startswith(("http://", "https://"))
            and not set(self.container.format.name.split(",")) & _DISCONT_FORMATS
            and not self.reconnect
        )
        if self.trim is not None and self.trim.start is not None:
            self._seek_to_start(self.trim.start)
        elif (start := self.video_start) is not None and start < 0:
            # a transport stream whose 33-bit clock wrapped reads as starting before 0: an MP4's edit list
            # then hid the frames before 0, Matroska wrote them untimed; moved on to start at 0, the sound with it
            self._shift = -start
        self._iter = self._decode()
        try:
            first = next(self._iter)
            self._pending: list[Frame | Packet] = list(self._early)
            while not isinstance(first, Frame):  # packets demuxed before the first picture
                self._pending.append(first)
                first = next(self._iter)
        except StopIteration:
            self._refuse_unseekable()
            if self.trim is not None and self.trim.start is not None:
                if self.trim.video_done:  # frames before and after the part, none in it
                    raise self.trim.no_frame(self.spec, self.damage.step) from None
                end = self._announced_end()
                ends = None if end is None else end[0] - self._origin()
                past = f"the end of {self.spec}" + (f" (it ends at {ends:.2f} s)" if ends is not None else "")
                last = self.trim.before  # the last frame decoded, before the start
                if ends is not None and last is not None and self.trim.start < ends:  # within that frame's time
                    past = f"the last frame of {self.spec} (at {self.trim.start + last:.2f} s; it ends at {ends:.2f} s)"
                raise InputError(f"--start {self.trim.start:g} is past {past}", "give an earlier --start") from None
            raise InputError(
                f"input {self.spec} has a video stream but no frames could be decoded (zero frames or truncated)"
            ) from None
        self._pending.append(first)
        self._first = first
        self.info = self._make_info(first)

    def _take_streams(self) -> None:
        """The video stream decoded (the first) and the others, of ``self.container``."""
        c = self.container
        self.stream = v = c.streams.video[self.video_stream]
        v.thread_type = "AUTO"
        self._audio = [s for s in c.streams.audio]
        self._subs = [s for s in c.streams.subtitles]
        self._data = [s for s in c.streams.data]
        self._attachments = [s for s in c.streams.attachments]  # no packets: their file is in the stream's header
        self._demux_streams = [v, *self._audio, *self._subs, *self._data]
        formats = set(c.format.name.split(","))
        #: a transport stream's jumps in time joined up (:class:`Timeline`); None where times do not jump
        self.timeline = Timeline() if formats & _DISCONT_FORMATS else None

    def _origin(self) -> float:
        return input_origin(self.container, self.stream)

    def _seek_to_start(self, start: float) -> None:
        """``--start``: read from the keyframe at or before it (a pipe: from its beginning), and move
        what is kept to begin at 0. A live stream (no length) has nothing to seek in."""
        if is_url(self.spec) and not self.container.duration:
            raise InputError(
                f"--start needs an input that can be sought in (a file or a recording); {self.spec} is a live stream",
                "leave --start out (--duration works on a stream)",
            )
        origin = Fraction(self._origin())
        begin = origin + Fraction(start)
        self._shift = -begin
        if is_pipe(self.spec):
            return  # read once, front to back: the frames before the start are decoded and left out
        self._early = self._subtitles_on_at(begin)
        if self.seek_before(begin):
            return
        log.debug("seeking %s to %.3f s lands past it; decoding from the start", self.spec, float(begin))
        self.container.close()
        self.container = open_container(self.spec, self.timeout, None, self.framerate)
        self._take_streams()

    def _subtitles_on_at(self, begin: Fraction, lookback: int = 60, budget_s: float = 2.0) -> list[Packet]:
        """The subtitle packets still on screen at ``begin`` (the input's clock), from the input read a second
        time from up to ``lookback`` seconds before it (the seek to the keyframe before ``begin`` passes a line
        shown since earlier): moved and cut to the part (:func:`_cut_to_part`), the first of their streams;
        the same packets met again in the part are then left out (``_early_keys``)."""
        subs = [s.index for s in self.container.streams.subtitles]
        if not subs or is_url(self.spec):  # a recording on a server: not asked for twice
            return []
        found: list[Packet] = []
        try:
            c = av.open(self.spec)
        except Exception:  # pragma: no cover - it opened a moment ago
            return []
        try:
            c.seek(int(max(Fraction(self._origin()), begin - lookback) * 1_000_000), backward=True)
            t0 = time.monotonic()
            for p in c.demux([c.streams[i] for i in [self.stream.index, *subs]]):
                if p.dts is None or not p.time_base:
                    continue
                tb = Fraction(p.time_base)
                if p.stream.index == self.stream.index:
                    if p.dts * tb > begin or time.monotonic() - t0 > budget_s:
                        break
                    continue
                at = p.pts if p.pts is not None else p.dts
                if p.size and p.duration and at * tb < begin < (at + p.duration) * tb:
                    q = av.Packet(bytes(p))
                    q.stream, q.time_base = self.container.streams[p.stream.index], p.time_base
                    q.pts = q.dts = at
                    q.duration = p.duration
                    self._early_keys.add((p.stream.index, at))
                    delta = round(self._shift / tb)
                    q.pts, q.dts = q.pts + delta, q.dts + delta
                    if self.trim is not None:
                        _cut_to_part(q, self.trim)
                    found.append(q)
        except Exception:
            log.debug("reading the subtitles on screen at %.3f s of %s failed", float(begin), self.spec, exc_info=True)
        finally:
            c.close()
        return found

    def seek_before(self, begin: Fraction) -> bool:
        """Seek so that the next frame decoded is at or before ``begin`` seconds (the input's own clock);
        False where no seek gets there. A demuxer without an index (MPEG-TS) seeks on decoding times and
        can land after the keyframe wanted (its B-frames show before it is decoded): then it seeks further
        back, by 0, 5, 30 ... seconds, never before the input's start."""
        origin = Fraction(self._origin())
        for back in (0, 5, 30, 120, 600, 3600):
            target = max(origin, begin - back)
            if not self._seek(target):
                return False
            first = self._first_time()
            if first is not None and first <= begin + Fraction(1, 1000):
                self._seek(target)
                return True
            if target == origin:
                return False
        return False

    def _seek(self, t: Fraction) -> bool:
        """Seek to the keyframe at or before ``t`` seconds (where the demuxer can); False if it cannot seek."""
        try:
            self.container.seek(int(t * 1_000_000), backward=True)
        except av.error.FFmpegError as e:
            log.debug("seeking %s to %.3f s failed (%s)", self.spec, float(t), e)
            return False
        if self.timeline is not None:  # a seek is no jump in the input's clock: the join-up starts again here
            self.timeline = Timeline()
        return True

    def _first_time(self) -> Fraction | None:
        """The time of the first frame decoded from here (None: none, or no timestamp)."""
        try:
            for f in self.container.decode(self.stream):
                return Fraction(f.pts) * Fraction(f.time_base) if f.pts is not None and f.time_base else None
        except av.error.FFmpegError:
            return None
        return None

    def _out_time(self, pts: int | None, time_base: Fraction | None) -> float | None:
        """A timestamp of this connection in output seconds (after any shift)."""
        if pts is None or not time_base:
            return None
        return float(pts * Fraction(time_base) + self._shift)

    @property
    def video_start(self) -> Fraction | None:
        """Where the video stream starts, in output seconds (after any ``--start`` shift); None if unsaid."""
        return self.stream_start(self.stream)

    def stream_start(self, s: Stream) -> Fraction | None:
        """Where the input's stream ``s`` starts, in output seconds (after any ``--start`` shift); None if unsaid."""
        if s.start_time is None or not s.time_base:
            return None
        return s.start_time * Fraction(s.time_base) + self._shift

    @property
    def first_time(self) -> Fraction | None:
        """The first frame's time in output seconds (a ``--start`` part's first frame's, not its stream's start);
        None if it has none."""
        first = self._first
        if first.pts is None or first.time_base is None:
            return None
        return first.pts * Fraction(first.time_base)

    def _make_info(self, first: Frame) -> SourceInfo:
        v = self.stream
        cc = v.codec_context
        still = bool(v.disposition & av.stream.Disposition.attached_pic)
        rate = None if still else self._rate  # a cover's "rate" is its time base
        tb = Fraction(v.time_base) if v.time_base else (1 / rate if rate else Fraction(1, 1000))
        duration = None
        if still:
            pass  # the file's duration is the audio's
        elif v.duration is not None and v.time_base:
            duration = float(v.duration * v.time_base)
        elif (tagged := tagged_duration(v)) is not None:  # Matroska: the track's own, not the longest track's
            duration = tagged
        elif self.container.duration:
            duration = self.container.duration / 1e6
        frame_count = 1 if still else int(v.frames) if v.frames else None
        if self.trim is not None and not still:  # the part kept: how long it is, for progress
            frame_count = None
            if duration is not None and self.trim.start is not None:
                duration = max(0.0, duration - self.trim.start)
            if self.trim.duration is not None:
                duration = min(duration, self.trim.duration) if duration is not None else self.trim.duration
        field_order = int(cc.field_order or 0)
        if self._deinterlacer is not None:  # progressive from here on; one frame per field with "field"
            field_order, tb = 1, first.time_base  # the rate (self._rate) counts fields already
            frame_count = frame_count * self._deinterlacer.rate_factor if frame_count else None
        meta = first.meta
        pix_fmt = meta.get("pix_fmt") or cc.pix_fmt or "yuv420p"
        return SourceInfo(
            spec=self.spec,
            width=first.image.shape[1],
            height=first.image.shape[0],
            fps=float(rate) if rate else None,
            rate=rate,
            time_base=tb,
            frame_count=frame_count,
            duration=duration,
            pix_fmt=pix_fmt,
            bit_depth=_bit_depth(pix_fmt),
            color_primaries=int(meta.get("color_primaries", cc.color_primaries) or 2),
            color_trc=int(meta.get("color_trc", cc.color_trc) or 2),
            colorspace=int(meta.get("colorspace", cc.colorspace) or 2),
            color_range=int(meta.get("color_range", cc.color_range) or 0),
            rotation=int(meta.get("rotation", 0) or 0),
            codec=cc.name,
            container=self.container.format.name,
            is_live=is_url(self.spec),
            still=still,
            field_order=field_order,
            pipe=is_pipe(self.spec),
            hdr10=meta.get("hdr10"),
            sample_aspect_ratio=_sample_aspect_ratio(v),
        )

    # -- passthrough -----------------------------------------------------------
    @property
    def audio_streams(self) -> list[Stream]:
        return list(self._audio)

    @property
    def subtitle_streams(self) -> list[Stream]:
        return list(self._subs)

    @property
    def data_streams(self) -> list[Stream]:
        return list(self._data)

    @property
    def attachment_streams(self) -> list[Stream]:
        return list(self._attachments)

    def enable_passthrough(self, streams: Iterable[Stream]) -> None:
        """Yield the packets of these (audio/subtitle) input streams from ``items()``."""
        self._passthrough = {s.index for s in streams}

    # -- decoding --------------------------------------------------------------
    def _to_frame(self, f: av.VideoFrame) -> Frame:
        if self._frames_out == 0:
            self._size = (f.width, f.height)
            self._rgb = "rgb48le" if self.deep and _bit_depth(f.format.name) > 8 else "rgb24"
        size: dict[str, Any] = {}
        if self._frames_out and (f.width, f.height) != self._size:  # an adaptive stream, joined recordings
            size = {"width": self._size[0], "height": self._size[1], "interpolation": "BICUBIC"}
            if (f.width, f.height) not in self._resized_from:  # once per size
                self._resized_from.add((f.width, f.height))
                log.warning(
                    "input %s changes resolution at frame %d (%dx%d -> %dx%d): frames of the new size are scaled "
                    "to %dx%d, as FFmpeg does (split the input at the change to keep each size)",
                    self.spec, self._frames_out, *self._size, f.width, f.height, *self._size,
                )  # fmt: skip
        img = f.to_ndarray(
            format=self._rgb,
            src_colorspace=sws_colorspace(f.colorspace),
            src_color_range=f.color_range if f.color_range in (1, 2) else 1,
            **size,
        )
        if self._frames_out == 0 and self.crop_even:
            self._crop = self._even_size(img.shape[1], img.shape[0])
        if self._crop is not None:  # every frame has the first's size by now (scaled above where it changed)
            img = np.ascontiguousarray(img[: self._crop[1], : self._crop[0]])
        meta: dict[str, Any] = {}
        if self._reconnected:  # the first frame of a connection opened again (--reconnect)
            meta["reconnected"], self._reconnected = True, False
        visible = _visible_pix_fmt(f) if self._frames_out == 0 else None
        if visible is not None:
            self._watch_alpha = visible != f.format.name
        elif self._watch_alpha and opaque_twins(f.format.name) and not _opaque(f):
            self._watch_alpha = False
            log.warning(
                "input %s turns transparent at frame %d; the output has no alpha channel: transparency is dropped "
                "(streamdeblur deblurs the colour planes only)", self.spec, self._frames_out,
            )  # fmt: skip
        if self._frames_out == 0:
            meta = {
                "pix_fmt": visible,
                "color_primaries": f.color_primaries,
                "color_trc": f.color_trc,
                "colorspace": f.colorspace,
                "color_range": f.color_range,
                "rotation": f.rotation,
                "hdr10": hdr10_from_frame(f),
            }
        if f.side_data.get(A53_CC) is not None:  # closed captions (CEA-608/708) in the picture's SEI: a sink
            # that can write them gets them from this tiny copy of the frame, which keeps its side data
            meta["captions"] = f.reformat(width=16, height=16, format="yuv420p", interpolation="POINT")
        tb = Fraction(f.time_base) if f.time_base else Fraction(self.stream.time_base)
        pts = f.pts
        if pts is not None and self._shift:
            pts += round(self._shift / tb)
        frame = Frame(
            index=self._frames_out,
            pts=pts,
            time_base=tb,
            image=img,
            captured_at=time.perf_counter(),
            meta=meta,
            duration=f.duration or None,
        )
        self._frames_out += 1
        return frame

    def _even_size(self, width: int, height: int) -> tuple[int, int] | None:
        """``--crop-even``: the even size an odd ``width`` x ``height`` is cropped to (its last column and/or
        row dropped, as HandBrake's mod-2 crop), said once; None for an even size (frames left as they are)."""
        even = (width - width % 2, height - height % 2)
        if even == (width, height):
            return None
        if min(even) < 1:
            raise InputError(
                f"input {self.spec} is {width}x{height}: --crop-even would leave no pixels", "leave --crop-even out"
            )
        dropped = " and ".join(what for what, odd in (("last column", width % 2), ("last row", height % 2)) if odd)
        log.warning(
            "input %s is %dx%d: --crop-even drops its %s (output %dx%d)", self.spec, width, height, dropped, *even
        )
        return even

    def _decode(self) -> Iterator[Frame | Packet]:
        """Frames and packets in demux order. As FFmpeg does, a packet the decoder rejects is
        skipped (counted in ``self.damage``) and decoding goes on; a read error or a stall
        mid-input ends the input there (``self.stopped_by`` says why): the frames before it
        are kept, never thrown away."""
        v = self.stream
        last_pts: int | None = None
        trim = self.trim
        counted = 0  # video frames decoded on this connection, kept or not

        def emit(f: av.VideoFrame) -> Iterator[Frame]:
            nonlocal counted, last_pts
            counted += 1
            if f.pts is None:
                self._untimed = True
            if trim is not None:
                t = self._out_time(f.pts, f.time_base)
                if t is None and (rate := self._rate):  # a raw H.264/H.265 stream has no timestamps: count frames
                    t = float((counted - 1) / rate + self._shift)
                if not trim.frame(t):
                    return
            frame = self._to_frame(f)
            if frame.pts is None:  # some raw streams carry no timestamps: count frames, a frame's time apart
                rate = self._rate
                step = max(1, round(1 / (rate * frame.time_base))) if rate and frame.time_base else 1
                frame.pts = 0 if last_pts is None else last_pts + step
            last_pts = frame.pts
            if self._first_pts is None:
                self._first_pts = frame.pts
            self._last_pts = frame.pts
            if self.reconnect and frame.time is not None:  # where a reopened connection goes on
                fps = self._info_fps
                self._end = max(self._end, frame.time + (1 / fps if fps else 0.0))
                self._last_seen = (frame.time, time.monotonic())
                if self._first_seen is None:
                    self._first_seen = self._last_seen
            yield frame

        ended = False
        try:
            for packet in self.container.demux(self._demux_streams):
                if self.timeline is not None:
                    self.timeline.adjust(packet)
                if trim is not None and trim.video_done:  # --duration: past the end, copied packets up to it
                    if trim.finished(self._out_time(packet.dts, packet.time_base), bool(self._passthrough)):
                        break
                    if packet.stream.index == v.index:
                        continue
                if packet.stream.index == v.index:
                    for f in self._deinterlaced(self._decode_packet(packet)):
                        yield from emit(f)
                elif packet.dts is not None and packet.size:
                    at = packet.pts if packet.pts is not None else packet.dts
                    if self._early_keys and (packet.stream.index, at) in self._early_keys:
                        continue  # a subtitle on screen at the start, given first (_subtitles_on_at)
                    if trim is not None:
                        lasts = packet.stream.type in ("audio", "subtitle") and packet.duration
                        ends = self._out_time(at + packet.duration, packet.time_base) if lasts else None
                        if not trim.packet(self._out_time(at, packet.time_base), ends):
                            continue
                    if self._shift and packet.time_base:
                        delta = round(self._shift / packet.time_base)
                        packet.dts += delta
                        if packet.pts is not None:
                            packet.pts += delta
                    if trim is not None and packet.stream.type == "subtitle":
                        _cut_to_part(packet, trim)
                    if self.reconnect and packet.time_base:
                        self._end = max(self._end, float((packet.dts + (packet.duration or 0)) * packet.time_base))
                    yield packet
            ended = True
        except av.error.ExitError:
            if self._frames_out == 0:
                raise StreamTimeoutError(f"{self.spec} stopped sending data for {self.timeout:g} s") from None
            self.stopped_by = f"it stopped sending data for {self.timeout:g} s"
        except av.error.FFmpegError as e:
            if self._frames_out == 0:
                self._refuse_unseekable()
                raise InputError(
                    f"input {self.spec} cannot be decoded ({ffmpeg_reason(e)}); it may be truncated or damaged"
                ) from None
            what = "the stream broke off" if is_url(self.spec) else "it cannot be read further"
            self.stopped_by = f"{what} ({ffmpeg_reason(e)})"
        if not ended:  # stopped mid-input: the frames the decoder holds (B-frames, threads) are received too
            for f in self._deinterlaced(self._flush_decoder()):
                yield from emit(f)
        if self._deinterlacer is not None:  # the frame the filter held back: none is lost at the end
            for f in self._deinterlacer.flush():
                yield from emit(f)
        if ended:
            self._reached_end = True

    @property
    def _rate(self) -> Fraction | None:
        """The frames per second this source gives (one per field with ``--deinterlace field``). A raw
        H.264/H.265 stream (no timestamps) has its demuxer's default 25 as its average rate; FFmpeg's
        guess from the stream (its SPS timing, sanity-checked: an encoder's 1/1000 s clock is not
        1000 fps) is the one."""
        v = self.stream
        if self._untimed:
            rate = v.guessed_rate or v.average_rate or v.base_rate
        else:
            rate = v.average_rate or v.guessed_rate or v.base_rate
        if not rate:
            return None
        return Fraction(rate) * (self._deinterlacer.rate_factor if self._deinterlacer is not None else 1)

    def _deinterlaced(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        """``frames`` through the deinterlacer (``--deinterlace``), decided on the first frame: an
        interlaced input is deinterlaced throughout, a progressive one is left as it is."""
        if self.deinterlace is None or not frames:
            return frames
        if not self._deinterlace_decided:
            self._deinterlace_decided = True
            if is_interlaced(int(self.stream.codec_context.field_order or 0), frames[0]):
                self._deinterlacer = Deinterlacer(self.deinterlace, int(self.stream.codec_context.field_order or 0))
        if self._deinterlacer is None:
            return frames
        tb = Fraction(self.stream.time_base) if self.stream.time_base else Fraction(1, 1000)
        out: list[av.VideoFrame] = []
        for f in frames:
            out.extend(self._deinterlacer.push(f, Fraction(f.time_base) if f.time_base else tb))
        return out

    def _decode_packet(self, packet: Packet) -> list[av.VideoFrame]:
        """The frames of one video packet; a damaged one is skipped and noted in ``self.damage``."""
        if packet.size:
            self.damage.packets += 1
        try:
            frames = packet.decode()
        except av.error.FFmpegError as e:
            if isinstance(e, av.error.ExitError):
                raise
            self.damage.rejected(packet, self._frames_out, ffmpeg_reason(e))
            return []
        for f in frames:
            self.damage.decoded(f)
        return frames  # type: ignore[return-value]

    def _flush_decoder(self) -> list[av.VideoFrame]:
        """The frames the video decoder still holds, as the end-of-file packet gives them at a normal end."""
        try:
            frames = self.stream.codec_context.decode(None)
        except av.error.FFmpegError:
            return []
        for f in frames:
            self.damage.decoded(f)
        return frames  # type: ignore[return-value]

    def _refuse_unseekable(self) -> None:
        """A piped input that gave no frame because its container must seek (an MP4/MOV with its index at the
        end): one clear line, not "truncated"."""
        if not is_pipe(self.spec):
            return
        if {"mov", "mp4"} & set(self.container.format.name.split(",")):
            raise InputError(
                f"input {self.spec} is an MP4/MOV read from a pipe, and its frames cannot be reached without seeking "
                "(its index is at its end)",
                "give the file's name instead, or pipe a streamable container: ffmpeg -i IN -c copy -f matroska -",
            )

    def _check_index(self) -> None:
        """A file whose index (MP4/MOV 'moov' first) points past its end was cut short.

        Checked up front, so a truncated file is refused before any work is done."""
        if is_url(self.spec) or is_pipe(self.spec):
            return
        try:
            size = os.path.getsize(local_path(self.spec))
        except OSError:
            return
        for st in self._demux_streams:
            try:
                entries = st.index_entries
                end = max((e.pos + e.size for e in entries if e.pos >= 0), default=0)
            except Exception:  # pragma: no cover - formats without an index
                continue
            if end > size:
                raise InputError(
                    f"input {self.spec} is truncated: its index points {end - size} bytes past the end of the file",
                    "re-copy or re-record the file",
                )

    def items(self) -> Iterator[Frame | Packet]:
        """Frames, and packets of the passthrough streams, in demux order (with ``reconnect``,
        those of every connection, one after the other)."""
        pending, self._pending = self._pending, []
        for item in pending:
            if isinstance(item, Frame) or item.stream.index in self._passthrough:
                yield item
        while True:
            for item in self._iter:
                if isinstance(item, Frame) or item.stream.index in self._passthrough:
                    yield item
            if not self._reopen():
                return

    @property
    def _info_fps(self) -> float | None:
        info = getattr(self, "info", None)  # not yet made while the first frame is decoded
        return info.fps if info is not None else None

    def _reopen(self) -> bool:
        """``reconnect``: open the stream again (every second, for up to ``reconnect`` seconds)
        and go on decoding it, its timestamps moved to follow what was read. False when it is
        not to be reopened or did not come back."""
        if not self.reconnect or self._closed or (self.trim is not None and self.trim.video_done):
            return False
        why = self.stopped_by or "it ended"
        done = self._frames_out
        if self.info.duration and self.stopped_by is None:
            return False  # a recording served over the network (it announces its length) ended at its end
        if self.info.duration:  # opened again it would start over: frames twice in the output
            self.stopped_by = f"{why} (a recording of known length is not opened again from its start)"
            return False
        log.warning(
            "input %s: %s after %d frames; opening it again (--reconnect %g)", self.spec, why, done, self.reconnect
        )
        t0 = time.monotonic()
        deadline = t0 + self.reconnect
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stopped_by = f"{why}, and did not come back within {self.reconnect:g} s (--reconnect)"
                return False
            try:
                c = open_container(self.spec, max(0.1, min(self.timeout, left)), self.reconnect)
            except StreamDeblurError as e:
                log.debug("reopening %s: %s", self.spec, e)
                time.sleep(max(0.0, min(_RECONNECT_EVERY, deadline - time.monotonic())))
                continue
            if len(c.streams.video) > self.video_stream:
                break
            c.close()  # an answer without the video (a server's placeholder): not back yet
        self._switch_to(c)
        took = time.monotonic() - t0
        self.reconnects.append(f"{why} after frame {done}, back after {took:.1f} s")
        log.warning("input %s is back after %.1f s; going on from frame %d", self.spec, took, done)
        return True

    def _switch_to(self, c: InputContainer) -> None:
        """Decode ``c`` (the stream opened again) from here on: the same streams copied where it
        still has them (same index, kind and codec; the others named as lost), its timestamps
        moved to start where the last connection's items ended, or later by the time it was away
        (the wall-clock time since its last frame came: a live feed's timeline has that gap)."""
        from .copies import codec_name  # copies imports this module

        def kind(s: Stream) -> tuple[str, str]:
            return s.type, codec_name(s)

        was = {s.index: kind(s) for s in self._demux_streams if s.index in self._passthrough}
        old, self.container = self.container, c
        try:
            old.close()
        except Exception:  # pragma: no cover - closing a broken stream
            log.debug("closing the dropped connection to %s failed", self.spec, exc_info=True)
        self.stream = v = c.streams.video[self.video_stream]
        v.thread_type = "AUTO"
        kept = {i for i, k in was.items() if i < len(c.streams) and kind(c.streams[i]) == k}
        for i in sorted(was.keys() - kept):
            log.warning(
                "input %s came back without its %s stream #%d (%s): the output has none of it from here on",
                self.spec, was[i][0], i, was[i][1],
            )  # fmt: skip
        self._passthrough = kept
        self._demux_streams = [v, *(c.streams[i] for i in sorted(kept))]
        if self.timeline is not None:  # a new connection's clock: its gap is kept by the shift below, not joined up
            jumps, self.timeline = self.timeline.jumps, Timeline()
            self.timeline.jumps = jumps
        start = c.start_time / 1e6 if c.start_time is not None else None
        if start is None and v.start_time is not None and v.time_base:
            start = float(v.start_time * v.time_base)
        resume = Fraction(self._end)
        now = time.monotonic()
        # the time the feed was away stays a gap, as its own clock has it: since its last frame was read, or, for
        # a live feed read behind (the model slower than it, frames queued in the socket), since its first frame
        # by the wall clock, which a live feed keeps pace with
        for seen in (self._last_seen, self._first_seen):
            if seen is not None:
                resume = max(resume, Fraction(seen[0] + (now - seen[1])).limit_denominator(1_000_000))
        self._first_seen = None
        self._shift = resume - Fraction(start or 0.0)
        self._reconnected = True
        self.stopped_by = None
        self._reached_end = False
        self._iter = self._decode()

    def __iter__(self) -> Iterator[Frame]:
        for item in self.items():
            if isinstance(item, Frame):
                yield item

    @property
    def frames_read(self) -> int:
        return self._frames_out

    def warnings(self) -> list[str]:
        """After the last frame: one line for each thing the user should know of an input
        that still gave frames: damaged data skipped, a read error or stall that ended it
        early, a file cut short."""
        done = self._frames_out
        cut = self.ended_early()
        files = None
        if self.damage.timeline is not None:  # an image sequence: the pictures that gave no frame
            whole = (self.trim is None or self.trim.start is None, self._reached_end and self.trim is None)
            files = missing_pictures(self.spec, self.framerate, self.damage.timeline, whole)
        damage = self.damage.warning(self.spec, done, self._reached_end, files)
        if cut and self.damage.first_frame is not None and self.damage.first_frame >= done - 2:
            damage = None  # the last frame, incomplete where the file was cut: the cut is the news
        found = [self._interlaced(), damage, cut, self._jumped()]
        if self.reconnects:
            n = len(self.reconnects)
            found.append(
                f"input {self.spec} dropped {n} time{'s' if n != 1 else ''} and was opened again (--reconnect): "
                f"{'; '.join(self.reconnects)}; each connection's frames follow the last one's in the output, the "
                "time it was away kept as a gap in the timestamps"
            )
        if self.stopped_by is not None:
            t = f" ({float(self._last_pts * self._tb):.2f} s)" if self._last_pts is not None else ""
            kept = "received" if self.info.is_live else "before it"
            found.append(
                f"input {self.spec} ended after {done} frames{t}: {self.stopped_by}; the {done} frames {kept} were "
                "deblurred"
            )
        return [w for w in found if w]

    def _jumped(self) -> str | None:
        jumps = self.timeline.jumps if self.timeline is not None else []
        if not jumps:
            return None
        sizes = ", ".join(f"{j:+.1f} s" for j in jumps[:3]) + (" ..." if len(jumps) > 3 else "")
        return (
            f"input {self.spec}'s timestamps jumped {len(jumps)} time{'s' if len(jumps) != 1 else ''} ({sizes}: "
            "recordings joined, or an encoder restarted): the output's timeline is made continuous there, as "
            "FFmpeg's is, audio with the video"
        )

    def _interlaced(self) -> str | None:
        order = {
            2: "top field first",
            3: "bottom field first",
            4: "top field coded first",
            5: "bottom field coded first",
        }
        if self.deinterlace is not None and self._deinterlacer is None:
            return f"input {self.spec} is not interlaced: --deinterlace left its frames as they are"
        if self.info.field_order not in order:
            return None
        return (
            f"input {self.spec} is interlaced ({order[self.info.field_order]}): the model deblurs whole frames, both "
            "fields together, and the output keeps the field-order tag; --deinterlace frame (or field, one frame "
            "per field) makes it progressive first, for the sharpest result"
        )

    @property
    def _tb(self) -> Fraction:
        try:
            tb = self.stream.time_base
        except AssertionError:  # PyAV's "Container is not open": a stream given up on (--reconnect) is closed
            tb = None
        return Fraction(tb) if tb else self.info.time_base

    def ended_early(self) -> str | None:
        """After the last frame: a one-line warning if the input ended clearly before the
        frame count or duration its header announces (a file cut short), else None."""
        if not self._reached_end or self.info.still or self._frames_out == 0:
            return None
        if self.info.is_live and not self._announces_length:  # a URL that announces no length: a live feed
            return None
        if self.trim is not None and self.trim.video_done:  # stopped at --duration's end, not cut short
            return None
        info, v = self.info, self.stream
        done = self._frames_out
        if self._cut_mid_packet():
            return (
                f"input {self.spec} ended after {done} frames in the middle of a transport stream packet; "
                f"it may be cut short (the {done} frames it has were deblurred)"
            )
        whole = done + self.damage.lost(True)  # frames left out as damaged were there: not cut short
        if info.frame_count and whole < info.frame_count - max(2, 0.02 * info.frame_count):
            return (
                f"input {self.spec} ended after {done} frames, but its header announces {info.frame_count}; "
                f"it may be cut short (the {done} frames it has were deblurred)"
            )
        announced = self._announced_end()
        if announced is None or self._last_pts is None:
            return None
        end, stream_level = announced
        tb = Fraction(v.time_base) if v.time_base else info.time_base
        step = 1 / info.fps if info.fps else 0.04
        reached = float(self._last_pts * tb - self._shift) + step  # on the input's own timeline
        slack = max(3 * step, 0.02 * end) if stream_level else max(1.0, 0.05 * end)
        if end - reached <= slack:
            return None
        start = float(self._first_pts * tb - self._shift) if self._first_pts is not None else 0.0
        about = f" (about {round((end - start) / step)} frames)" if info.fps else ""
        return (
            f"input {self.spec} ended after {done} frames ({reached:.2f} s), "
            f"but its header announces {end:.2f} s{about}; "
            f"it may be cut short (the {done} frames it has were deblurred)"
        )

    def _cut_mid_packet(self) -> bool:
        """An MPEG-TS file (no header announces its length) whose size is not a whole number
        of 188-byte (or M2TS 192-byte) packets was cut short."""
        if self.container.format.name != "mpegts" or self.info.pipe:
            return False
        try:
            size = os.path.getsize(local_path(self.spec))
        except OSError:
            return False
        return size % 188 != 0 and size % 192 != 0

    def _announced_end(self) -> tuple[float, bool] | None:
        """(the end time the header announces for the video, in seconds; whether it is the
        video stream's own figure rather than the whole file's)."""
        v = self.stream
        if v.duration and v.time_base:
            start = v.start_time if v.start_time is not None else 0
            return float((start + v.duration) * v.time_base), True
        tag = (v.metadata or {}).get("DURATION") or (v.metadata or {}).get("duration")  # Matroska's per-track tag
        if tag:
            try:
                h, m, sec = tag.split(":")
                return int(h) * 3600 + int(m) * 60 + float(sec), True
            except ValueError:
                pass
        c = self.container
        if c.duration:
            start = (c.start_time or 0) / 1e6
            only_video = len(c.streams) == 1
            return start + c.duration / 1e6, only_video
        return None

    def abandon(self) -> None:
        """Never close: a reader thread left behind after an interrupt is still inside
        FFmpeg with this container, and the process is about to exit."""
        self._closed = True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self.container.close()
            except Exception:  # pragma: no cover - closing a broken stream
                log.debug("closing %s failed", self.spec, exc_info=True)

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_to_part(packet: Packet, trim: Trim) -> None:
    """A subtitle of ``--start``/``--duration``'s part (output times) shown from its first instant to its
    last: one on screen when the part begins is moved to 0, its time before cut off (a subtitle's packet
    holds its words, its times are the packet's), and one still on screen when it ends is cut there."""
    if packet.pts is None or not packet.duration or not packet.time_base:
        return
    tb = Fraction(packet.time_base)
    if trim.start is not None and packet.pts < 0:
        packet.duration += packet.pts
        packet.pts = packet.dts = 0
    if trim.end is not None and (packet.pts + packet.duration) * tb > Fraction(trim.end):
        packet.duration = max(1, math.floor(Fraction(trim.end) / tb) - packet.pts)


def open_source(spec: str | os.PathLike, **options: Any) -> FileSource:
    """Open a video file or URL (rtsp/http(s)/udp/...); raises a one-line error if it cannot be used.
    ``options``: :class:`FileSource`'s (``timeout``; ``deep``: frames of video deeper than 8 bits are
    uint16, else uint8; ``reconnect``: a URL that drops is opened again for up to that many seconds;
    ``start``, ``duration``: only that part of it, in seconds, :mod:`streamdeblur.video.trim`;
    ``deinterlace``: an interlaced input made progressive; ``crop_even``: an odd-size input's last column
    and/or row dropped, so its frames are even-sized)."""
    return FileSource(spec, **options)
