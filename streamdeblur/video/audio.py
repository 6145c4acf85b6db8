"""Audio the output's container cannot hold as it is, encoded again the way FFmpeg would.

Audio is copied untouched wherever the output's container takes it (:mod:`.copies`). Where it
does not (a webcam's PCM or an IP camera's G.711 into ``.mp4``, AAC into ``.webm``, WMA into
``.mp4``), ``ffmpeg -i in -c:v libx264 out.mp4`` encodes it again with the container's audio
codec, and so does streamdeblur, with one warning naming the stream and the container that
would keep it untouched: a user's sound is never the reason a run refuses to start, and never
silently dropped.

:class:`AudioReencoder` decodes the input stream's packets with the input stream's own decoder,
converts the samples to what the encoder takes (:class:`av.AudioResampler`: sample format,
channel layout, rate, the encoder's frame size) and encodes them; the timestamps are the
decoded samples' own, so the sound stays where it was against the picture.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.packet import Packet
from av.stream import Stream

from ..errors import InputError
from .containers import trial_file

log = logging.getLogger(__name__)

#: the audio encoders tried, in order, for a stream an output format cannot hold as it is:
#: FFmpeg's choice for the container, except AAC where FFmpeg's (MP2 in MPEG-TS, MP3 in FLV)
#: is one that few players and no streaming service expect there
ENCODERS: dict[str, tuple[str, ...]] = {
    "mp4": ("aac",),
    "mov": ("aac",),
    "flv": ("aac",),
    "mpegts": ("aac",),
    "hls": ("aac",),
    "dash": ("aac",),
    "rtsp": ("aac",),
    "rtp_mpegts": ("aac",),
    "webm": ("libopus", "libvorbis"),
    "avi": ("libmp3lame", "ac3"),
    "mpeg": ("mp2", "ac3"),  # a program stream's own audio (FFmpeg's choice; DVDs take AC-3 too)
    "matroska": ("flac",),
    "nut": ("flac",),
}
#: the most channels an encoder takes here (more are mixed to stereo)
MAX_CHANNELS = {"libmp3lame": 2}
#: the layouts Opus and Vorbis take (Vorbis channel order), by channel count: another layout of that count
#: (5.1(side), FFmpeg's for AC-3, E-AC-3 and DTS; 4.0) is mapped onto it, as FFmpeg's -c:a libopus does
VORBIS_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
#: FFmpeg's usual layout for a channel count (more than eight channels with no order: mixed to stereo)
DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
#: ``--audio``: copy (the default: each audio stream untouched where the container takes it, else encoded
#: again with the container's codec), one encoder for every audio stream (FFmpeg's ``-c:a``), or none (``-an``)
AUDIO_MODES: dict[str, str | None] = {
    "copy": None,
    "aac": "aac",
    "opus": "libopus",
    "mp3": "libmp3lame",
    "flac": "flac",
    "none": None,
}
#: names as a user knows them
_SHOWN = {"aac": "AAC", "libopus": "Opus", "libvorbis": "Vorbis", "libmp3lame": "MP3", "ac3": "AC-3", "flac": "FLAC"}
#: bits a second per channel for the lossy encoders (FFmpeg's AAC default is 128 kb/s for stereo)
BITS_PER_CHANNEL = 64_000
MAX_BIT_RATE = 512_000
#: lossless encoders: no bit rate to choose
_LOSSLESS = {"flac"}


@dataclass(frozen=True)
class AudioPlan:
    """How one input audio stream is encoded again: encoder, sample rate, channel layout, bit rate."""

    codec: str
    rate: int
    layout: str
    bit_rate: int | None
    channels: int

    def describe(self) -> str:
        """``AAC 128 kb/s, 48 kHz stereo``."""
        rate = f"{self.rate / 1000:g} kHz"
        bits = f" {self.bit_rate // 1000} kb/s" if self.bit_rate else ""
        return f"{_SHOWN.get(self.codec, self.codec)}{bits}, {rate} {self.layout}"


def _available(name: str) -> av.codec.Codec | None:
    try:
        return av.codec.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        return None


def check_audio(mode: str | None) -> None:
    """An :class:`InputError` for an ``--audio`` that is not one of :data:`AUDIO_MODES`."""
    if mode is not None and mode not in AUDIO_MODES:
        raise InputError(f"--audio must be one of {', '.join(AUDIO_MODES)}, got {mode!r}")


def plan_audio(stream: Stream, fmt: str, encoder: str | None = None) -> AudioPlan | None:
    """How ``stream`` would be encoded for the output format ``fmt`` (FFmpeg's muxer name), by
    ``encoder`` or else the container's own; None where no such encoder is installed."""
    cc = stream.codec_context
    rate = int(cc.sample_rate or 48000)
    channels = cc.layout.nb_channels if cc.layout is not None and cc.layout.nb_channels else 2
    # a layout with no channel order ("2 channels": AVI's and WAV's PCM) is taken as the usual one for its count
    in_layout = cc.layout.name if cc.layout is not None and "channels" not in cc.layout.name else None
    if in_layout is None:
        in_layout = DEFAULT_LAYOUTS.get(channels, "stereo")
        channels = av.AudioLayout(in_layout).nb_channels
    for name in (encoder,) if encoder else ENCODERS.get(fmt, ("aac",)):
        codec = _available(name)
        if codec is None:
            continue
        rates = list(codec.audio_rates or [])
        if rates and rate not in rates:  # Opus: 48 kHz and fractions of it; AAC: up to 96 kHz
            rate = 48000 if 48000 in rates else max(rates)
        layout, n = in_layout, channels
        if channels > MAX_CHANNELS.get(name, 8):  # MP3 is mono or stereo; Opus (its surround mapping) and AAC up to 7.1
            layout, n = "stereo", 2
        elif name in ("libopus", "libvorbis"):
            layout = VORBIS_LAYOUTS.get(n, layout)
        # 64 kb/s a channel (FFmpeg's AAC default for stereo), within what the encoder takes at a low
        # rate (AAC: 6 bits a sample a channel; an 8 kHz G.711 camera's mono: 48 kb/s)
        bit_rate = None if name in _LOSSLESS else min(MAX_BIT_RATE, BITS_PER_CHANNEL * n, 6 * rate * n)
        return AudioPlan(name, rate, layout, bit_rate, n)
    return None


def _sample_format(codec: str, stream: Stream) -> str:
    """The encoder's sample format closest to the input's depth."""
    formats = [f.name for f in (av.codec.Codec(codec, "w").audio_formats or [])]
    deep = getattr(stream.codec_context.format, "bytes", 2) > 2
    for want in ("s32", "s32p", "fltp", "flt") if deep else ("fltp", "flt", "s16", "s16p"):
        if want in formats:
            return want
    return formats[0] if formats else "fltp"


def add_audio_stream(container: OutputContainer, stream: Stream, plan: AudioPlan) -> AudioStream:
    """An output stream for ``stream`` (an input audio stream) encoded by ``plan``."""
    out = container.add_stream(plan.codec, rate=plan.rate)
    assert isinstance(out, AudioStream)
    cc = out.codec_context
    cc.layout = plan.layout
    cc.format = _sample_format(plan.codec, stream)
    cc.time_base = Fraction(1, plan.rate)
    if plan.bit_rate:
        cc.bit_rate = plan.bit_rate
    return out


class AudioReencoder:
    """Decode one input audio stream's packets, convert the samples, encode them for ``out``.

    ``encode(packet)`` returns the output packets ready to mux (``out``'s); ``flush()`` the
    last ones at the end. The input stream's own decoder is used (a stream opened again after
    a reconnection brings its own: the old one's last samples are flushed first)."""

    def __init__(self, out: AudioStream, *, from_zero: bool = False) -> None:
        self.out = out
        self._decoder: av.CodecContext | None = None
        self._resampler: av.AudioResampler | None = None
        #: samples the decoder could not read (a damaged packet): counted, not fatal
        self.packets_undecodable = 0
        #: the output plays every stream from 0, whatever its timestamps say (AVI): the sound before 0 is left out
        #: and so is the encoder's delay (what it puts first, MP3's 1105 samples), so the sound plays in sync
        self.from_zero = from_zero
        self._skip_to: Fraction | None = None  # from_zero: the time of the first sound the encoder takes
        #: from_zero: the seconds of sound before 0 left out (the encoder's delay's worth after 0 too), and of
        #: silence put before sound that starts after 0
        self.left_out = Fraction(0)
        self.padded = Fraction(0)
        self._started = False

    def _convert(self, frames: list[av.AudioFrame]) -> list[Packet]:
        out: list[Packet] = []
        cc = self.out.codec_context
        if self.from_zero:
            frames = [g for f in frames for g in self._from_zero(f)]
        for f in frames:
            if self._resampler is None:
                if not cc.is_open:
                    cc.open()
                self._resampler = av.AudioResampler(
                    format=cc.format.name, layout=cc.layout.name, rate=cc.sample_rate, frame_size=cc.frame_size or None
                )
            for g in self._resampler.resample(f):
                out.extend(self._encode(g))
        return out

    def _from_zero(self, f: av.AudioFrame) -> list[av.AudioFrame]:
        """``f`` for an output that plays every stream from 0 (AVI): what the encoder makes first plays at 0,
        so it must be the sound at the time of the encoder's delay. Samples before that are left out; sound
        that starts after it gets silence before it, as long as the gap (without, it played that much early)."""
        if self._skip_to is None:
            self._skip_to = Fraction(encoder_delay(self.out.codec_context), self.out.codec_context.sample_rate)
        if f.pts is None or f.time_base is None or not f.sample_rate:
            return [f]
        tb, rate = Fraction(f.time_base), f.sample_rate
        start = f.pts * tb
        cut = min(f.samples, max(0, math.ceil((self._skip_to - start) * rate)))
        self.left_out += Fraction(min(cut, max(0, math.ceil(-start * rate))), rate)
        if cut == f.samples:
            return []
        lead: list[av.AudioFrame] = []
        if not self._started:
            self._started = True
            gap = round((start - self._skip_to) * rate)
            if gap > 0:
                silence = av.AudioFrame(format=f.format.name, layout=f.layout.name, samples=gap)
                for plane in silence.planes:
                    plane.update((b"\x80" if f.format.name.startswith("u8") else b"\0") * plane.buffer_size)
                silence.sample_rate, silence.time_base = rate, f.time_base
                silence.pts = f.pts - round(Fraction(gap, rate) / tb)
                self.padded = Fraction(gap, rate)
                lead.append(silence)
        if not cut:
            return [*lead, f]
        a = f.to_ndarray()
        a = a[:, cut:] if f.format.is_planar else a[:, cut * len(f.layout.channels) :]
        g = av.AudioFrame.from_ndarray(np.ascontiguousarray(a), format=f.format.name, layout=f.layout.name)
        g.sample_rate, g.time_base = rate, f.time_base
        g.pts = f.pts + round(Fraction(cut, rate) / tb)
        return [g]

    def _encode(self, frame: av.AudioFrame | None) -> list[Packet]:
        packets = list(self.out.encode(frame))
        for p in packets:
            p.stream = self.out
        return packets

    def encode(self, packet: Packet) -> list[Packet]:
        """The output packets that ``packet`` (of the input audio stream) completes."""
        decoder = packet.stream.codec_context
        out: list[Packet] = []
        if self._decoder is not None and decoder is not self._decoder:
            out.extend(self._drain())
        self._decoder = decoder
        tb = packet.time_base
        try:
            frames = list(decoder.decode(packet))
        except (av.error.FFmpegError, ValueError) as e:
            self.packets_undecodable += 1
            if self.packets_undecodable == 1:
                log.warning("an audio packet could not be decoded (%s): its sound is left out", e)
            return out
        for f in frames:
            if f.time_base is None and tb is not None:
                f.time_base = tb
        return out + self._convert(frames)

    def _drain(self) -> list[Packet]:
        if self._decoder is None:
            return []
        try:
            frames = list(self._decoder.decode(None))
        except (av.error.FFmpegError, ValueError):  # pragma: no cover - a decoder that cannot be flushed
            frames = []
        self._decoder = None
        return self._convert(frames)

    def flush(self) -> list[Packet]:
        """The decoder's, the converter's and the encoder's last packets."""
        out = self._drain()
        if self._resampler is not None:
            for g in self._resampler.resample(None):
                out.extend(self._encode(g))
        return out + self._encode(None)


def encoder_delay(cc: av.AudioCodecContext) -> int:
    """The samples an audio encoder set up as ``cc`` puts before the sound it is given (its priming: AAC's
    1024, MP3's 1105, Opus's 312, AC-3's 256), measured on a copy of it: the first packet's time before
    the first sample's. A player takes them off by the packet's negative time, where the container has
    timestamps."""
    probe = av.CodecContext.create(cc.name, "w")
    assert isinstance(probe, av.AudioCodecContext)
    probe.sample_rate, probe.layout, probe.format = cc.sample_rate, cc.layout, cc.format
    probe.time_base = Fraction(1, cc.sample_rate)
    if cc.bit_rate:
        probe.bit_rate = cc.bit_rate
    size = cc.frame_size or 1024
    silence = av.AudioFrame(format=cc.format.name, layout=cc.layout.name, samples=size)
    for plane in silence.planes:
        plane.update(bytes(plane.buffer_size))
    silence.sample_rate, silence.pts, silence.time_base = cc.sample_rate, 0, Fraction(1, cc.sample_rate)
    try:
        first = next(iter([*probe.encode(silence), *probe.encode(None)]), None)
    except (av.error.FFmpegError, ValueError):  # pragma: no cover - an encoder that takes no single frame
        return 0
    return max(0, -first.pts) if first is not None and first.pts is not None else 0


def trial(stream: Stream, plan: AudioPlan, trial_format: str) -> str | None:
    """Encode a second of silence by ``plan`` into an in-memory ``trial_format`` file and read it
    back (:func:`.containers.trial_file`); None if it goes in and comes back as audio, else FFmpeg's
    reason (the encoder refused the layout, the muxer the codec, or it has no tag for it)."""

    def build(oc: OutputContainer) -> Iterator[Packet]:
        enc = AudioReencoder(add_audio_stream(oc, stream, plan))
        # a second, not one frame: some pairs fail only at the encoder's last packet (FLAC in AVI)
        silence = av.AudioFrame.from_ndarray(
            np.zeros((plan.channels, plan.rate), np.float32), format="fltp", layout=plan.layout
        )
        silence.sample_rate, silence.pts, silence.time_base = plan.rate, 0, Fraction(1, plan.rate)

        def packets() -> Iterator[Packet]:
            yield from enc._convert([silence])
            yield from enc.flush()

        return packets()

    return trial_file(trial_format, build, kind="audio", shown=_SHOWN.get(plan.codec, plan.codec))
