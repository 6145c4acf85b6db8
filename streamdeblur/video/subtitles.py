"""Text subtitles the output's container cannot hold as they are, converted to the one it takes,
as FFmpeg does: SRT or ASS into MP4/MOV become ``mov_text`` (QuickTime's timed text, what
phones, browsers and players read in an MP4); MP4's ``mov_text`` into Matroska becomes ASS;
anything textual into WebM becomes WebVTT. The words, line breaks and the styling each format
has (italic, bold) survive; each line keeps its time and duration.

Picture subtitles (Blu-ray PGS, DVD, DVB) are pictures, not text: they are copied where the
container holds them and otherwise left out with a warning (:mod:`.copies`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction

import av
import av.error
from av.container import OutputContainer
from av.packet import Packet
from av.stream import Stream
from av.subtitles.subtitle import SubtitleSet

from .containers import trial_file

log = logging.getLogger(__name__)

#: the text subtitle encoder each output format takes (FFmpeg's default subtitle codec for it)
ENCODERS: dict[str, str] = {"mp4": "mov_text", "mov": "mov_text", "matroska": "ass", "webm": "webvtt"}
#: how long a line stays on screen when its packet does not say (FFmpeg's subtitle decoders' own guess is similar)
DEFAULT_DURATION = Fraction(5)
#: names as a user knows them
SHOWN = {"mov_text": "MP4 timed text (mov_text)", "ass": "ASS", "webvtt": "WebVTT"}


def is_text(stream: Stream) -> bool:
    """A subtitle stream of words (SRT, ASS, mov_text, WebVTT ...), not of pictures."""
    cc = stream.codec_context
    try:
        return stream.type == "subtitle" and bool(av.codec.Codec(cc.name, "r").text_sub)
    except (av.error.FFmpegError, ValueError):
        return False


def plan_subtitle(stream: Stream, fmt: str) -> str | None:
    """The encoder a text subtitle ``stream`` is converted with for the output format ``fmt``;
    None where the format takes no text subtitles (MPEG-TS, AVI, FLV) or ``stream`` is not text."""
    name = ENCODERS.get(fmt)
    if name is None or not is_text(stream):
        return None
    return name


def _header(stream: Stream) -> bytes | None:
    """The ASS header the input's decoder makes (styles, script info): every text encoder starts from it."""
    cc = stream.codec_context
    if not cc.is_open:
        cc.open()
    return cc.subtitle_header


def add_subtitle_stream(container: OutputContainer, stream: Stream, encoder: str) -> Stream:
    """An output stream for the text subtitle ``stream``, converted by ``encoder``."""
    out = container.add_stream(encoder)
    out.codec_context.subtitle_header = _header(stream)
    out.codec_context.time_base = Fraction(1, 1000)
    return out


class SubtitleConverter:
    """Decode one input text subtitle stream's packets (to ASS events), encode each for ``out``.
    The same interface as :class:`.audio.AudioReencoder`: ``encode(packet)``, ``flush()``."""

    def __init__(self, out: Stream) -> None:
        self.out = out

    def encode(self, packet: Packet) -> list[Packet]:
        decoder = packet.stream.codec_context
        tb = packet.time_base
        try:
            events = [e for e in decoder.decode(packet) if getattr(e, "ass", None)]
        except (av.error.FFmpegError, ValueError) as e:
            log.warning("a subtitle packet could not be read (%s): its line is left out", e)
            return []
        pts = packet.pts if packet.pts is not None else packet.dts
        if pts is None or tb is None:
            return []
        duration = packet.duration * tb if packet.duration else DEFAULT_DURATION
        out: list[Packet] = []
        for e in events:
            sub = SubtitleSet.create(text=bytes(e.ass), start=0, end=round(duration * 1000), pts=0)
            q = self.out.codec_context.encode_subtitle(sub)
            q.stream, q.time_base = self.out, tb
            q.pts = q.dts = pts
            q.duration = round(duration / tb)
            out.append(q)
        return out

    def flush(self) -> list[Packet]:
        return []


def trial(stream: Stream, encoder: str, trial_format: str) -> str | None:
    """Convert one line into an in-memory ``trial_format`` file and read it back
    (:func:`.containers.trial_file`); None if it comes back as a subtitle, else why not."""

    def build(oc: OutputContainer) -> Iterator[Packet]:
        out = add_subtitle_stream(oc, stream, encoder)

        def packets() -> Iterator[Packet]:
            line = SubtitleSet.create(text=b"0,0,Default,,0,0,0,,trial", start=0, end=1000, pts=0)
            q = out.codec_context.encode_subtitle(line)
            q.stream, q.time_base = out, Fraction(1, 1000)
            q.pts = q.dts = 0
            q.duration = 1000
            yield q

        return packets()

    return trial_file(trial_format, build, kind="subtitle")
