"""What an output file is made of: the container each extension means, the video
encoder's default codec, quality and pixel format, and opening a container for writing.
Shared by the file sink (:mod:`.sinks`), the stream copies (:mod:`.copies`) and the
join of a segmented run (:mod:`streamdeblur.batch.segments`)."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import av.error
import av.logging
from av.container import OutputContainer

from ..errors import InputError, OutputError

if TYPE_CHECKING:
    from .sinks import FrameFormat

log = logging.getLogger(__name__)

#: output extension -> (container format, default video codec)
CONTAINERS: dict[str, tuple[str, str]] = {
    ".mp4": ("mp4", "libx264"),
    ".m4v": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".webm": ("webm", "libvpx-vp9"),
    ".avi": ("avi", "mpeg4"),  # FFmpeg's choice: read back exactly (H.264 in AVI reads a frame late)
    ".ts": ("mpegts", "libx264"),
    ".m2ts": ("mpegts", "libx264"),  # Blu-ray and AVCHD camcorders: TS in 192-byte packets (NAME_OPTIONS)
    ".mts": ("mpegts", "libx264"),  # AVCHD's own name for it (192-byte packets too: NAME_OPTIONS)
    ".mpg": ("mpeg", "mpeg2video"),  # MPEG program stream: DVD authoring, broadcast archives, old players
    ".mpeg": ("mpeg", "mpeg2video"),
    ".nut": ("nut", "ffv1"),
    ".flv": ("flv", "libx264"),  # RTMP's container
    ".m3u8": ("hls", "libx264"),  # an HLS playlist and its MPEG-TS segments beside it (streamdeblur.video.adaptive)
    ".mpd": ("dash", "libx264"),  # a DASH manifest and its fMP4 segments beside it
    ".gif": ("gif", "gif"),  # an animated GIF, each frame's own palette (video.gif)
}
#: the muxers of stream outputs that are not a container in a file: RTSP announces the streams to a
#: server (MediaMTX, a ground station) and sends each one as RTP; RTP alone carries MPEG-TS (video
#: and audio together, 7 TS packets a datagram: IPTV's and SMPTE 2022's way)
STREAM_MUXERS: dict[str, tuple[str, str]] = {".rtsp": ("rtsp", "libx264"), ".rtp": ("rtp_mpegts", "libx264")}
#: --format -> extension, for ``-o -`` (stdout): the containers written front to back, never seeking back
STREAM_FORMATS: dict[str, str] = {
    "mkv": ".mkv", "matroska": ".mkv", "ts": ".ts", "mpegts": ".ts", "nut": ".nut", "flv": ".flv"
}  # fmt: skip
#: encoders whose chroma-subsampled formats (4:2:0, 4:2:2) need an even frame size
EVEN_SIZE_CODECS = {"libx264", "libx265", "h264_nvenc", "hevc_nvenc"}
#: MPEG-TS muxers, and the video encoders whose streams a transport stream's readers see as video
TS_MUXERS = {"mpegts", "rtp_mpegts"}
TS_VIDEO_CODECS = {"libx264", "libx264rgb", "libx265", "h264_nvenc", "hevc_nvenc", "mpeg2video", "mpeg4"}
#: codecs that take --crf / --preset as x264-style private options
_X26X = {"libx264", "libx264rgb", "libx265"}
#: default quality per codec (--crf); libx264rgb exists here for exact output, so lossless by default
DEFAULT_CRF = {
    "libx264": 18, "libx264rgb": 0, "libx265": 20, "libvpx-vp9": 30, "libsvtav1": 30,
    "h264_nvenc": 19, "hevc_nvenc": 21, "av1_nvenc": 30, "libvpx": 10,
}  # fmt: skip
#: VP8's --crf is a quality under a bitrate cap, FFmpeg's 256 kb/s unless told (a 640x360 clip 3.5 dB below
#: VP9's default): the cap, bits a second per pixel a second, high enough that its --crf decides
VP8_CAP_BITS_PER_PIXEL = 1
#: NVIDIA's hardware encoders (GeForce, RTX and workstation cards; not H100/H200, which have none): --crf is
#: their constant quality (-rc vbr -cq N -b:v 0), without which they hold FFmpeg's default 2 Mb/s at any size
NVENC_CODECS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
DEFAULT_PRESET = "fast"
#: x264's and x265's presets, fastest first
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
#: --preset auto: the slowest x264/x265 preset that keeps up with the model (streamdeblur.encoding.plan_encoder)
AUTO_PRESET = "auto"
#: --preset's values for the other encoders that take one (libvpx-vp9: its deadline; SVT-AV1: 0-13)
OTHER_PRESETS = {
    "libvpx-vp9": ("realtime", "good", "best"),
    "libvpx": ("realtime", "good", "best"),
    "libsvtav1": tuple(str(i) for i in range(14)),
    **{c: tuple(f"p{i}" for i in range(1, 8)) for c in NVENC_CODECS},  # p1 fastest .. p7 best (default p4)
}
#: container options per format: Matroska/WebM would otherwise shift every timestamp so
#: that none is negative (an MP4's AAC starts 21 ms early, its priming); they store
#: negative timestamps as they are, so the output keeps the input's, as MP4 does
FORMAT_OPTIONS: dict[str, dict[str, str]] = {
    "matroska": {"avoid_negative_ts": "disabled"},
    "webm": {"avoid_negative_ts": "disabled"},
    # AVI has no timestamps: the video starts at 0 (FileSink), and sound that starts before it (AAC's
    # priming) plays from 0 too, not every frame after the first moved a frame later to make room
    "avi": {"avoid_negative_ts": "disabled"},
    # RTP over the RTSP connection: nothing lost on the way (RTP over UDP drops what the network does)
    "rtsp": {"rtsp_transport": "tcp"},
}
#: and to write a file of ``fmt`` with: MP4/MOV's index (moov) first, as web players and progressive
#: download need ("web optimized"); the muxer moves it there as the file is closed
FILE_OPTIONS: dict[str, dict[str, str]] = {"mp4": {"movflags": "+faststart"}, "mov": {"movflags": "+faststart"}}
#: options per output name: Blu-ray's and AVCHD's transport stream (.m2ts, .mts) is in 192-byte packets, each
#: with its arrival time (FFmpeg picks them by the name .m2ts alone; a camcorder's .MTS files have them too)
NAME_OPTIONS: dict[str, dict[str, str]] = {".m2ts": {"mpegts_m2ts_mode": "1"}, ".mts": {"mpegts_m2ts_mode": "1"}}
#: containers to suggest for a stream the output's cannot hold, best first
ALTERNATIVES = (".mkv", ".mov", ".mp4", ".nut")
#: pixel formats the encoder takes as RGB (no YUV matrix on the way)
RGB_FORMATS = ("rgb24", "bgr24", "bgr0", "gbrp", "rgba", "bgra")
#: ffmpeg's tags for RGB-coded video: AVCOL_SPC_RGB (no YUV matrix) and AVCOL_RANGE_JPEG (full range)
RGB_MATRIX, FULL_RANGE = 0, 2
#: lossless encoders, chosen to keep the picture exactly: an RGB source keeps RGB in them
EXACT_CODECS = ("ffv1", "utvideo", "ffvhuff", "huffyuv", "png", "qtrle", "libx264rgb")
#: encoders whose YUV is full range, as JPEG's is
FULL_RANGE_CODECS = ("mjpeg",)
#: FFmpeg's own encoders of the MPEG family: quality by quantiser, FFmpeg's -q:v (without one, and without
#: --bitrate, they hold 200 kb/s: an MPEG-4 of a 640x360 clip 8 dB below libx264's default); 2 is the best
QSCALE_CODECS = {
    "mjpeg", "mpeg1video", "mpeg2video", "mpeg4", "msmpeg4", "msmpeg4v2", "wmv1", "wmv2", "h263", "h263p", "flv",
}  # fmt: skip
DEFAULT_QSCALE = 2
#: DNxHD's own profiles take a few sizes and rates at fixed bitrates only (without --bitrate every input is
#: refused); DNxHR's take any size from 256x120, at a fixed quality: the one for the encoder's pixel format
DNXHR_PROFILES = {
    "yuv422p": "dnxhr_hq",
    "yuv422p10le": "dnxhr_hqx",
    "yuv444p10le": "dnxhr_444",
    "gbrp10le": "dnxhr_444",
}
#: MPEG-1/2's frame rates (frame_rate_code 1-8); MPEG-2 multiplies one by n/d (its frame_rate_extension)
MPEG12_RATES = tuple(Fraction(r) for r in ("24000/1001", "24", "25", "30000/1001", "30", "50", "60000/1001", "60"))
#: the finest clock MPEG-4 part 2 writes (its vop_time_increment_resolution is 16 bits): every common
#: rate's frames (25, 30000/1001, 50, 60 ...) fall on its ticks
MPEG4_CLOCK = Fraction(1, 60000)


def muxer(ext: str) -> tuple[str, str]:
    """(FFmpeg muxer, default video encoder) of an output extension: a container's
    (:data:`CONTAINERS`) or a stream output's (:data:`STREAM_MUXERS`); a ``KeyError`` for neither."""
    return CONTAINERS[ext] if ext in CONTAINERS else STREAM_MUXERS[ext]


def format_options(fmt: str) -> dict[str, str]:
    """The container options to open ``fmt`` for writing with (a fresh dict: PyAV takes it)."""
    return dict(FORMAT_OPTIONS.get(fmt, {}))


def open_container(
    path: str | os.PathLike, fmt: str, shown: str | os.PathLike | None = None, options: dict[str, str] | None = None
) -> OutputContainer:
    """``av.open(path)`` for writing ``fmt`` (with the muxer's ``options`` besides ours); a path that
    cannot be written is an :class:`OutputError` naming ``shown`` (the output's final name, where
    ``path`` is its temporary file)."""
    try:
        named = NAME_OPTIONS.get(Path(shown or path).suffix.lower(), {})
        options = {**format_options(fmt), **FILE_OPTIONS.get(fmt, {}), **named, **(options or {})}
        return av.open(str(path), mode="w", format=fmt, options=options)
    except (av.error.FFmpegError, OSError) as e:
        raise OutputError(
            f"cannot write {shown or path}: {getattr(e, 'strerror', None) or e}",
            "check the folder exists and is writable",
        ) from None


def stdout_extension(format: str | None) -> str:
    """The extension (a key of :data:`CONTAINERS`) of ``-o -`` written as ``--format``; an
    :class:`OutputError` for none, or for a container that must seek back (MP4/MOV's index)."""
    fmt = (format or "").lower().lstrip(".")
    if fmt in STREAM_FORMATS:
        return STREAM_FORMATS[fmt]
    said = f"--format {format}" if format else "no --format"
    raise OutputError(
        f"-o - (stdout) with {said}: stdout needs a container written front to back",
        "pass --format mkv (or ts, nut)",
    )


def stream_output_extension(url: str, format: str | None) -> str:
    """The container (a key of :data:`CONTAINERS`) of the stream output ``url``: ``--format``'s,
    else its scheme's (RTMP: FLV; UDP, TCP, SRT: MPEG-TS). An :class:`OutputError` for a scheme
    written otherwise, or one this FFmpeg build has no protocol for, naming the pipe that does it."""
    from .urls import STREAM_OUTPUTS, stream_schemes, url_scheme

    scheme = url_scheme(url) or ""
    pipe = "pipe it to FFmpeg: streamdeblur run IN -o - --format ts | ffmpeg -i - -c copy -f FORMAT URL"
    if scheme not in STREAM_OUTPUTS:
        raise OutputError(
            f"-o {url}: {scheme}:// outputs are not written directly (only rtmp, rtsp, rtp, udp, tcp, srt)", pipe
        )
    if scheme not in stream_schemes():
        raise OutputError(f"-o {url}: this FFmpeg build has no {scheme} protocol", pipe)
    if format is None:
        return STREAM_OUTPUTS[scheme]
    if STREAM_OUTPUTS[scheme] in STREAM_MUXERS:
        how = "each stream as RTP, in no container" if scheme.startswith("rtsp") else "MPEG-TS in RTP"
        raise OutputError(f"-o {url} with --format {format}: {scheme}:// sends {how}", "leave --format out")
    fmt = format.lower().lstrip(".")
    if fmt not in STREAM_FORMATS:
        raise OutputError(
            f"-o {url} with --format {format}: a stream needs a container written front to back",
            "pass --format ts (or flv, mkv, nut), or leave --format out",
        )
    return STREAM_FORMATS[fmt]


#: --codec given as the format's name, as FFmpeg's -c:v takes it (h264: its H.264 encoder, libx264):
#: the encoder that name stands for here
ENCODER_NAMES = {
    "h264": "libx264", "avc": "libx264", "x264": "libx264", "hevc": "libx265", "h265": "libx265", "x265": "libx265",
    "vp8": "libvpx", "vp9": "libvpx-vp9", "av1": "libsvtav1", "mpeg2": "mpeg2video", "mpeg1": "mpeg1video",
    "dnxhr": "dnxhd", "jpeg": "mjpeg",
}  # fmt: skip


def encoder_name(codec: str) -> str:
    """The encoder ``--codec`` names: ``h264`` is libx264, ``hevc`` libx265 ... (:data:`ENCODER_NAMES`)."""
    return ENCODER_NAMES.get(codec.lower(), codec)


def video_encoder(codec: str) -> str:
    """``codec`` (or the encoder its format's name stands for: :func:`encoder_name`) if this FFmpeg
    has it as a video encoder, else an :class:`OutputError`."""
    codec = encoder_name(codec)
    if codec not in av.codecs_available:
        raise OutputError(
            f"video encoder {codec!r} is not in this FFmpeg build", "see `streamdeblur doctor` for the encoders it has"
        )
    try:
        c = av.codec.Codec(codec, "w")
    except Exception:
        raise OutputError(f"{codec!r} is not a video encoder", "try libx264, libx265 or ffv1") from None
    if c.type != "video":
        raise OutputError(f"{codec!r} is not a video encoder", "try libx264, libx265 or ffv1")
    return codec


def output_codec(out: str | os.PathLike, codec: str | None, format: str | None = None) -> str:
    """The video encoder an output gets: ``--codec``, else its container's default (``-``: ``format``'s)."""
    if codec:
        return encoder_name(codec)
    from .sequence import SEQUENCE_ENCODERS, is_sequence_output

    ext = _output_ext(out, format)
    if is_sequence_output(out) and str(out) != "-":
        return SEQUENCE_ENCODERS[ext]
    return (CONTAINERS | STREAM_MUXERS).get(ext, ("", "libx264"))[1]


def _output_ext(out: str | os.PathLike, format: str | None) -> str:
    """The extension that picks an output's container (``-`` and stream URLs: by ``format`` and scheme)."""
    from .urls import is_stream_output

    if str(out) == "-":
        return stdout_extension(format)
    if is_stream_output(str(out)):
        return stream_output_extension(str(out), format)
    return os.path.splitext(str(out))[1].lower()


def check_codec_in_container(out: str | os.PathLike, codec: str, format: str | None = None) -> None:
    """An :class:`InputError` for video MPEG-TS takes but no player reads back (before any model loads):
    FFmpeg's muxer writes VP9, AV1, FFV1 ... in a transport stream as private data."""
    fmt = (CONTAINERS | STREAM_MUXERS).get(_output_ext(out, format), ("", ""))[0]
    if fmt in TS_MUXERS and codec not in TS_VIDEO_CODECS:
        raise InputError(
            f"{codec} video in MPEG-TS is read back as data, not video: players would show nothing",
            f"leave --codec out (libx264) or pass libx265; for {codec}, write .mkv",
        )


def check_preset(codec: str, preset: str | None) -> None:
    """An :class:`InputError` for a ``--preset`` that ``codec`` does not take (checked before any model loads)."""
    if preset is None:
        return
    if preset == AUTO_PRESET:
        if codec not in _X26X:
            raise InputError(
                f"--preset auto chooses among x264/x265 presets; the {codec} encoder has none",
                "leave --preset out, or give one of its own",
            )
        return
    choices = X26X_PRESETS if codec in _X26X else OTHER_PRESETS.get(codec)
    if choices is None:
        raise InputError(f"--preset {preset!r}: the {codec} encoder takes no preset", "leave --preset out")
    if preset not in choices:
        raise InputError(f"unknown --preset {preset!r} for {codec}", f"choose one of: {', '.join(choices)}")


#: --crf's range per encoder (x264 would clamp 52-63 to 51 silently, x265 refuses them when it
#: opens, and SVT-AV1 reads 0 as "its default, 35": each refused up front instead)
CRF_RANGES = {
    "libx264": (0, 51),
    "libx264rgb": (0, 51),
    "libx265": (0, 51),
    "libvpx-vp9": (0, 63),
    "libsvtav1": (1, 63),
    "libvpx": (4, 63),
    **{c: (1, 51) for c in NVENC_CODECS},  # NVENC's cq 0 is "automatic", not lossless
}


def check_crf(codec: str, crf: int | None) -> None:
    """An :class:`InputError` for a ``--crf`` that ``codec`` does not take (checked before any model loads)."""
    if crf is None:
        return
    span = CRF_RANGES.get(codec)
    if span is None:
        fix = "leave --crf out"
        if codec in QSCALE_CODECS:
            fix += f" ({codec} encodes at FFmpeg's -q:v {DEFAULT_QSCALE}, its best), or give --bitrate"
        raise InputError(f"--crf {crf}: the {codec} encoder takes no --crf", fix)
    lo, hi = span
    if not lo <= crf <= hi:
        lossless = " (it has no lossless mode: for lossless output use --codec ffv1)" if crf == 0 else ""
        raise InputError(f"--crf {crf} is outside {codec}'s range {lo}-{hi}{lossless}", f"give --crf {lo} to {hi}")


def check_encoder_settings(codec: str, preset: str | None, crf: int | None) -> None:
    """``--preset`` and ``--crf`` checked against ``codec``, before any model loads (:func:`check_preset`,
    :func:`check_crf`)."""
    check_preset(codec, preset)
    check_crf(codec, crf)


#: the encoders --bitrate applies to (the lossless ones have no rate to set, ProRes its profile's); DNxHD's
#: own profiles, at the bitrates they are made for (DNxHR, its default here, has none)
RATE_CODECS = (
    "libx264", "libx265", "libvpx-vp9", "libsvtav1", "libvpx", "dnxhd", *NVENC_CODECS, *sorted(QSCALE_CODECS),
)  # fmt: skip
#: the largest --bitrate: FFmpeg's rate-control buffer (``bufsize``, 2x the bitrate, :func:`rate_options`)
#: is an int, at most 2**31 - 1 bits, in every encoder
MAX_BITRATE = 1_000_000_000
#: the smallest --bitrate (10 kb/s): below it no encoder makes a picture
MIN_BITRATE = 10_000
_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmM]?)(?:bps|b/s|b)?$")


def parse_bitrate(text: str) -> int:
    """Bits per second from ``6M``, ``4500k`` or ``800000``; a one-line error otherwise."""
    m = _RATE.match(text.strip())
    if m is None or float(m[1]) <= 0:
        raise InputError(f"--bitrate {text!r} is not a bitrate", "give bits per second: --bitrate 6M, 4500k or 800000")
    rate = round(float(m[1]) * {"": 1, "k": 1000, "m": 1_000_000}[m[2].lower()])
    if not MIN_BITRATE <= rate <= MAX_BITRATE:
        raise InputError(
            f"--bitrate {text}: {rate} bits a second is outside 10k to 1000M",
            "give one in that range (the encoder's buffer, twice the bitrate, must stay under 2^31 bits)",
        )
    return rate


def check_bitrate(codec: str, bitrate: int | None) -> None:
    """An :class:`InputError` for a ``--bitrate`` that ``codec`` has no use for (checked before any model loads)."""
    if bitrate is not None and codec not in RATE_CODECS:
        what = "is lossless and takes no bitrate" if codec in EXACT_CODECS else "takes no --bitrate"
        raise InputError(f"--bitrate: the {codec} encoder {what}", "leave --bitrate out, or use libx264")


def rate_options(codec: str, bitrate: int, *, capped_crf: bool) -> dict[str, str]:
    """The encoder options for ``--bitrate``: an average bitrate held to it by a 2-second buffer (what
    streaming services ask: ``-b:v R -maxrate R -bufsize 2R``), or with ``--crf`` the CRF capped at it."""
    options = {"maxrate": str(bitrate), "bufsize": str(2 * bitrate)}
    if not capped_crf:
        options["b"] = str(bitrate)
        if codec == "libsvtav1":  # SVT-AV1 takes a maximum only on a CRF ("Max Bitrate only supported with CRF")
            del options["maxrate"]
    elif codec == "libvpx-vp9":
        options["b"] = str(bitrate)  # VP9's constrained quality: its crf with a target
    return options


def quality_label(codec: str, crf: int | None, bitrate: int | None) -> str:
    """What the start line says of the output's quality, as :class:`~.sinks.FileSink` sets it: ``crf 18``,
    ``crf 18 capped at 6 Mb/s``, ``4.5 Mb/s``, ``q 2`` (FFmpeg's -q:v), ``lossless``; "" where the
    encoder's own profile decides (ProRes, GIF)."""
    rate = "" if bitrate is None else f"{bitrate / 1e6:g} Mb/s" if bitrate >= 1_000_000 else f"{bitrate / 1e3:g} kb/s"
    if crf is None and bitrate is None:
        crf = DEFAULT_CRF.get(codec)
    word = "cq" if codec in NVENC_CODECS else "crf"
    if crf is not None and codec in CRF_RANGES:
        level = "lossless" if crf == 0 and codec in _X26X else f"{word} {crf}"
        return f"{level} capped at {rate}" if rate else level
    if rate:
        return rate
    if codec in EXACT_CODECS or codec == "ffv1":
        return "lossless"
    if codec in QSCALE_CODECS:
        return f"q {DEFAULT_QSCALE}"
    return "DNxHR" if codec == "dnxhd" else ""


def mpeg12_rate(codec: str, rate: Fraction) -> Fraction:
    """The frame rate an MPEG-1/2 stream can say nearest ``rate`` (``rate`` itself where it can: 25,
    30000/1001, and in MPEG-2 also 12.5, 15, 100 ... by its n/d extension), as FFmpeg picks it."""
    ext = [Fraction(n, d) for n in range(1, 5) for d in range(1, 33) if math.gcd(n, d) == 1]
    rates = [(r * e, e != 1) for r in MPEG12_RATES for e in (ext if codec == "mpeg2video" else [Fraction(1)])]
    return min(rates, key=lambda q: (abs(q[0] - rate), q[1]))[0]  # a tie: the rate without an extension


def encoder_clock(codec: str, fmt: str, time_base: Fraction, rate: Fraction) -> tuple[Fraction, str | None]:
    """The time base an encoder gets for an input on ``time_base`` at ``rate`` frames a second, and where
    that is one frame (frames move onto its grid), what holds it to one (``{fps}``: its rate). The
    input's clock wherever it can be (variable frame rates survive); AVI's is its frame rate (AVI has
    no timestamps); MPEG-1/2's a rate its sequence header can say; MPEG-4 part 2's at most 65535 ticks
    a second."""
    if codec in ("mpeg1video", "mpeg2video"):
        return 1 / mpeg12_rate(codec, rate), "MPEG-1/2 video runs on one frame rate ({fps} fps)"
    if fmt == "avi":
        return 1 / rate, "AVI holds one frame rate ({fps} fps) and no timestamps"
    if codec == "mpeg4" and time_base.denominator > 65535:
        return MPEG4_CLOCK, None
    return time_base, None


def encoder_options(codec: str, crf: int | None, preset: str | None) -> dict[str, str]:
    """The encoder's private options for ``--crf`` and ``--preset`` (``crf`` 0: lossless)."""
    options: dict[str, str] = {}
    if codec in _X26X:
        if crf is not None:
            if crf == 0 and codec != "libx265":
                options["qp"] = "0"  # x264's true lossless mode
            else:
                options["crf"] = str(crf)
        options["preset"] = preset or DEFAULT_PRESET
        if codec == "libx265":
            options["x265-params"] = "log-level=error" + (":lossless=1" if crf == 0 else "")
    elif codec in ("libvpx-vp9", "libsvtav1"):
        if codec == "libsvtav1":
            # SVT-AV1 writes its own log to stderr, not through FFmpeg's (some 20 lines an output): errors
            # only, as x265's log-level=error; read once, when the process first opens it; a user's SVT_LOG wins
            os.environ.setdefault("SVT_LOG", "1")
        if crf is not None:
            options["crf"] = str(crf)
            if codec == "libvpx-vp9":
                options["b"] = "0"
        if preset:
            options["preset" if codec == "libsvtav1" else "deadline"] = preset
    elif codec == "libvpx":  # VP8's --crf comes with a bitrate cap, which needs the frame size (FileSink)
        if preset:
            options["deadline"] = preset
    elif codec in NVENC_CODECS:
        if crf is not None:
            options.update({"rc": "vbr", "cq": str(crf), "b": "0"})
        if preset:
            options["preset"] = preset
    elif codec == "ffv1":
        options.update({"level": "3", "slicecrc": "1"})
    return options


def choose_pix_fmt(codec: str, info: FrameFormat, requested: str | None) -> str:
    """The encoder's pixel format: the one asked for, else the source's if the encoder takes it.

    A source deeper than 8 bits gets the encoder's format that keeps the most of it: depth
    first (up to the source's), then chroma resolution, then the same family (YUV or RGB),
    with no more bits than the source's (:func:`colour_loss` words what is lost)."""
    try:
        supported = [f.name for f in av.codec.Codec(codec, "w").video_formats or []]
    except Exception:
        supported = []
    if requested:
        if supported and requested not in supported:
            raise OutputError(
                f"codec {codec} cannot encode pixel format {requested!r}", f"choose one of: {', '.join(supported)}"
            )
        return requested
    # H.264 and HEVC crop a frame in 2-pixel steps where chroma is subsampled, so an odd size needs
    # 4:4:4 there; VP8/VP9, AV1, FFV1, ProRes and MPEG-4 take odd sizes in 4:2:0 as they are
    if (info.width % 2 or info.height % 2) and codec in EVEN_SIZE_CODECS:
        chosen, even = _pick_pix_fmt(codec, info, supported, odd=True), _pick_pix_fmt(codec, info, supported)
        if chosen != even:
            log.warning(
                "odd frame size %dx%d: %s's %s needs even sizes, so it writes %s, which browsers, phones and "
                "QuickTime do not play; --codec libvpx-vp9 or libsvtav1 keeps 4:2:0 at this size, or --crop-even "
                "drops the last odd row/column",
                info.width, info.height, codec, even, chosen,
            )  # fmt: skip
        return chosen
    chosen = _pick_pix_fmt(codec, info, supported)
    _warn_unplayable(codec, info, chosen)
    return chosen


def _warn_unplayable(codec: str, info: FrameFormat, chosen: str) -> None:
    """One warning where H.264 or HEVC keeps the source's format in a profile few players play: 4:2:2 or
    4:4:4 (a webcam's MJPEG is 4:2:2, a ProRes master 4:2:2 or 4:4:4), or 10-bit H.264 (High 10); kept,
    as FFmpeg keeps it, since an editor or archive wants it; ``--pix-fmt yuv420p`` is the fix for the rest."""
    t = pix_fmt_traits(chosen)
    if codec not in EVEN_SIZE_CODECS or t is None or t.grey or t.rgb:
        return
    h264 = codec in ("libx264", "h264_nvenc")
    if (t.sub_w, t.sub_h) == (1, 1) and not (h264 and t.depth > 8):
        return
    if h264 and (t.sub_w, t.sub_h) == (1, 1):  # High 10
        fix = "--codec libx265 keeps its bits as HEVC Main 10, which phones and TVs play; --pix-fmt yuv420p 8 bits"
    else:
        fix = f"--pix-fmt {'yuv420p10le' if not h264 and t.depth > 8 else 'yuv420p'} writes the 4:2:0 they play"
    log.warning(
        "the input is %s (%s); %s keeps it, in an %s profile that browsers, phones and TVs mostly do not play: %s",
        f"{t.depth}-bit {t.chroma}", info.pix_fmt, codec, "H.264" if h264 else "HEVC", fix,
    )  # fmt: skip


def _pick_pix_fmt(codec: str, info: FrameFormat, supported: list[str], *, odd: bool = False) -> str:
    """:func:`choose_pix_fmt`'s choice of the encoder's ``supported`` formats (``odd``: none subsampled)."""

    def fits(fmt: str) -> bool:
        if fmt not in supported:
            return False
        t = pix_fmt_traits(fmt) if odd else None  # subsampled chroma in any spelling: yuv420p, nv12, nv20le ...
        return t is None or not (t.sub_w or t.sub_h)

    src = source_traits(info.pix_fmt)
    if src is not None and src.depth > 8:
        deep = _keeps_most(src, [f for f in supported if fits(f)])
        if deep is not None:
            return deep
    # an RGB source (PNG pictures, an RGB master) into an encoder meant to be exact stays RGB, not 4:2:0
    rgb = ("bgr0", "gbrp", "rgb24") if src is not None and src.rgb and codec in EXACT_CODECS else ()
    for cand in (info.pix_fmt, *opaque_twins(info.pix_fmt), *rgb, "yuv420p", "yuv444p", "gbrp", "rgb24", "bgr0"):
        if cand and fits(cand):
            return cand
    if supported:
        return supported[0]
    return "yuv420p"


@dataclass(frozen=True)
class PixFmtTraits:
    """What a pixel format keeps of a picture: bits per component, chroma subsampling
    (log2 of the horizontal and vertical factors: 0 for 4:4:4 and RGB), RGB or YUV, grey."""

    name: str
    depth: int
    sub_w: int
    sub_h: int
    rgb: bool
    grey: bool

    @property
    def sub(self) -> int:
        return self.sub_w + self.sub_h

    @property
    def chroma(self) -> str:
        if self.rgb:
            return "RGB"
        if self.grey:
            return "grey"
        return _CHROMA.get((self.sub_w, self.sub_h), f"{self.sub_w}/{self.sub_h} subsampled")

    def describe(self) -> str:
        """e.g. ``12-bit 4:4:4 (yuv444p12le)``."""
        return f"{self.depth}-bit {self.chroma} ({self.name})"


_CHROMA = {(0, 0): "4:4:4", (1, 0): "4:2:2", (1, 1): "4:2:0", (2, 0): "4:1:1", (2, 2): "4:1:0", (0, 1): "4:4:0"}


def pix_fmt_traits(pix_fmt: str | None) -> PixFmtTraits | None:
    """The traits of a pixel format a video can be encoded in; None for a name FFmpeg does not
    know, and for formats an output never gets: alpha, palette, Bayer, bitstream, float."""
    if not pix_fmt or re.search(r"f(16|32)(le|be)?$", pix_fmt):
        return None
    try:
        f = av.VideoFormat(pix_fmt, 16, 16)
    except Exception:
        return None
    comps = f.components
    if not comps or f.has_palette or f.is_bayer or f.is_bit_stream or any(c.is_alpha for c in comps):
        return None
    grey = len(comps) == 1
    sub_w = 0 if f.is_rgb or grey else int(math.log2(16 // max(1, f.chroma_width(16))))
    sub_h = 0 if f.is_rgb or grey else int(math.log2(16 // max(1, f.chroma_height(16))))
    return PixFmtTraits(pix_fmt, max(c.bits for c in comps), sub_w, sub_h, bool(f.is_rgb), grey)


def opaque_twins(pix_fmt: str | None) -> tuple[str, ...]:
    """The formats that hold what ``pix_fmt`` holds but its alpha channel, best first (``yuva420p``
    -> ``yuv420p``, ``argb`` -> ``bgr0``, ``gbrp``, ``rgb24``); empty for a format without alpha."""
    name = "ya" if pix_fmt == "ya8" else pix_fmt or ""  # ya8 / ya16le: grey with alpha
    for alpha, opaque in (("yuva", "yuv"), ("gbrap", "gbrp"), ("ya", "gray")):
        if name.startswith(alpha):
            twin = opaque + name[len(alpha) :]
            return (twin,) if pix_fmt_traits(twin) is not None else ()
    if name in ("argb", "rgba", "abgr", "bgra"):
        return ("bgr0", "gbrp", "rgb24")
    if name.startswith(("rgba64", "bgra64")):
        return ("gbrp16" + name[6:], "rgb48" + name[6:])
    return ()


def source_traits(pix_fmt: str | None) -> PixFmtTraits | None:
    """:func:`pix_fmt_traits` of a source's format; for one with alpha, those of its opaque twin
    (what an output can keep of it)."""
    twins = opaque_twins(pix_fmt)
    return pix_fmt_traits(pix_fmt) or (pix_fmt_traits(twins[0]) if twins else None)


def pix_fmt_depth(pix_fmt: str | None) -> int:
    """Bits per component of ``pix_fmt`` (8 for a name FFmpeg does not know)."""
    t = pix_fmt_traits(pix_fmt)
    return t.depth if t is not None else 8


def rgb_output(pix_fmt: str) -> bool:
    """Whether an encoder takes ``pix_fmt`` as RGB (no YUV matrix on the way): the 8-bit
    :data:`RGB_FORMATS`, and the deeper RGB ones (``gbrp10le``, ``rgb48le`` ...)."""
    if pix_fmt in RGB_FORMATS:
        return True
    t = pix_fmt_traits(pix_fmt)
    return t is not None and t.rgb and t.depth > 8


def _keeps_most(src: PixFmtTraits, candidates: list[str]) -> str | None:
    """Of ``candidates``, the format that keeps the most of a ``src`` picture (see :func:`choose_pix_fmt`)."""

    def score(t: PixFmtTraits) -> tuple[int, int, bool, int, int]:
        family = (t.rgb, t.grey) == (src.rgb, src.grey)
        return (min(t.depth, src.depth), -max(t.sub - src.sub, 0), family, -t.depth, -abs(t.sub - src.sub))

    usable = [t for t in map(pix_fmt_traits, candidates) if t is not None and (src.grey or not t.grey)]
    return max(usable, key=score).name if usable else None


#: the encoders a depth warning may suggest, with the containers that hold them
_DEEP_CODECS = {"ffv1": ".mkv, .nut", "libx265": ".mkv, .mp4, .mov"}


def colour_loss(
    source_pix_fmt: str, out_pix_fmt: str, codec: str, requested: bool, *, pictures: bool = False
) -> str | None:
    """One line saying what a source deeper than 8 bits loses in ``out_pix_fmt`` (depth, chroma
    resolution) and how to keep it (``pictures``: an image-sequence output, kept by .png or .tif
    pictures); None when it loses neither, or the source is 8-bit."""
    src, out = source_traits(source_pix_fmt), pix_fmt_traits(out_pix_fmt)
    if src is None or out is None or src.depth <= 8:
        return None
    lost = []
    if out.depth < src.depth:
        lost.append(f"depth ({src.depth} -> {out.depth} bits{': banding may show' if out.depth == 8 else ''})")
    if out.sub > src.sub and not src.grey:
        lost.append(f"chroma resolution ({src.chroma} -> {out.chroma})")
    if not lost:
        return None
    why = (
        f"--pix-fmt {out_pix_fmt} is {out.depth}-bit {out.chroma}"
        if requested
        else f"the {codec} encoder cannot hold it and writes {out.describe()}"
    )
    keepers = (
        ["writing 16-bit .png or .tif pictures (-o f_%04d.png)"]
        if pictures
        else [
            f"--codec {c} ({where})"
            for c, where in _DEEP_CODECS.items()
            if c != codec and c in av.codecs_available and _holds(c, src)
        ]
    )
    fix = f"; {' or '.join(keepers)} keeps it" if keepers and not requested else ""
    return f"the input is {src.describe()}; {why}: the output loses {' and '.join(lost)}{fix}"


def alpha_loss(source_pix_fmt: str | None) -> str | None:
    """One line saying that a source with an alpha channel (``argb``, ``yuva420p`` ...) comes out
    opaque; None for a source without one."""
    try:
        f = av.VideoFormat(source_pix_fmt or "", 16, 16)
    except Exception:
        return None
    if not any(c.is_alpha for c in f.components):
        return None
    return (
        f"the input has an alpha channel ({source_pix_fmt}); the output has none: transparency is dropped "
        "(streamdeblur deblurs the colour planes only)"
    )


def _holds(codec: str, src: PixFmtTraits) -> bool:
    """Whether ``codec`` has a format with ``src``'s depth and chroma resolution."""
    try:
        names = [f.name for f in av.codec.Codec(codec, "w").video_formats or []]
    except Exception:
        return False
    best = _keeps_most(src, names)
    t = pix_fmt_traits(best)
    return t is not None and t.depth >= src.depth and t.sub <= src.sub


def holds_video(ext: str, codec: str) -> bool:
    """Whether an ``ext`` file (one of :data:`CONTAINERS`) takes ``codec`` video: a header written
    into memory, as the muxer would write it (:func:`trial_file`)."""

    def build(oc: OutputContainer) -> Iterable[av.Packet]:
        s = oc.add_stream(codec, rate=25)
        s.width, s.height = 64, 64
        return ()

    if CONTAINERS[ext][0] in TS_MUXERS and codec not in TS_VIDEO_CODECS:
        return False  # written, but as data (check_codec_in_container)
    return trial_file(CONTAINERS[ext][0], build) is None


def ffmpeg_reason(e: BaseException, logs: Sequence[tuple[int, str, str]] = (), *, first: bool = False) -> str:
    """FFmpeg's own words for error ``e``: the last error it logged (``logs``, from
    :class:`av.logging.Capture`; ``first``: the first, where an encoder says why and then lists
    what it takes, as DNxHD does), else the error's text without PyAV's call details."""
    msgs = [str(m[2]).strip() for m in logs if m[0] <= av.logging.ERROR and str(m[2]).strip()]
    if msgs:
        return msgs[0] if first else msgs[-1]
    return str(getattr(e, "strerror", None) or e).split("; last error log", 1)[0]


def trial_file(
    fmt: str,
    build: Callable[[OutputContainer], Iterable[av.Packet]],
    *,
    kind: str | None = None,
    codec: str | None = None,
    shown: str | None = None,
    options: dict[str, str] | None = None,
) -> str | None:
    """Write an in-memory ``fmt`` file, header to trailer: ``build`` adds its stream to the container
    and returns the packets to mux once the header is written (a generator: made after it). None if
    it goes in and, with ``kind``, reads back as a ``kind`` stream (of ``codec``, where given; ``shown``:
    its name for the message); else
    why not, in FFmpeg's words. A muxer takes some codecs it has no tag for (MPEG-TS stores G.711
    audio and SRT subtitles as private data): a player would find a data stream there. A file that
    cannot be read back at all, or a trial with no packet (a pipe or a live stream has no sample to
    give: MP4 and MOV leave an empty track out), is no answer, and passes."""
    import io

    old = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    buf, oc, muxed = io.BytesIO(), None, 0
    try:
        with av.logging.Capture(local=True) as logs:
            try:
                oc = av.open(buf, mode="w", format=fmt, options=options or {})
                packets = build(oc)
                oc.start_encoding()
                for p in packets:
                    oc.mux(p)
                    muxed += 1
                c, oc = oc, None
                c.close()
            except (av.error.FFmpegError, ValueError, TypeError, OSError) as e:
                return ffmpeg_reason(e, logs) or e.__class__.__name__
    finally:
        av.logging.set_level(old)
        if oc is not None:
            try:
                oc.close()
            except Exception:
                pass
    if kind is None or fmt == "rtp":  # RTP is a network protocol, not a file to read back
        return None
    buf.seek(0)
    try:
        with av.open(buf, mode="r", format=fmt) as back:  # read while open: a closed file's streams are gone
            got = [(s.type, s.codec_context.name if s.codec_context else None) for s in back.streams]
    except (av.error.FFmpegError, ValueError, OSError):
        log.debug("reading back the trial %s file failed", fmt, exc_info=True)
        return None
    if got and got[0][0] == kind and (codec is None or got[0][1] == codec):
        return None
    if not got and not muxed:
        return None
    what = f"a {got[0][0]} stream" if got else "nothing"
    return f"{fmt} has no tag for {shown or codec or kind}: it would read back as {what}"
