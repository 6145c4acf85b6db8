"""What an output file is made of: the container each extension means, the video
encoder's default codec, quality and pixel format, and opening a container for writing.
Shared by the file sink (:mod:`.sinks`), the stream copies (:mod:`.copies`) and the
join of a segmented run (:mod:`streamdeblur.batch.segments`)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import av
import av.error
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
    ".avi": ("avi", "libx264"),
    ".ts": ("mpegts", "libx264"),
    ".nut": ("nut", "ffv1"),
}
#: --format -> extension, for ``-o -`` (stdout): the containers written front to back, never seeking back
STREAM_FORMATS: dict[str, str] = {"mkv": ".mkv", "matroska": ".mkv", "ts": ".ts", "mpegts": ".ts", "nut": ".nut"}
#: codecs that take --crf / --preset as x264-style private options
_X26X = {"libx264", "libx264rgb", "libx265"}
#: default quality per codec (--crf); libx264rgb exists here for exact output, so lossless by default
DEFAULT_CRF = {"libx264": 18, "libx264rgb": 0, "libx265": 20, "libvpx-vp9": 30, "libsvtav1": 30}
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
#: --preset's values for the other encoders that take one (libvpx-vp9: its deadline; SVT-AV1: 0-13)
OTHER_PRESETS = {"libvpx-vp9": ("realtime", "good", "best"), "libsvtav1": tuple(str(i) for i in range(14))}
#: container options per format: Matroska/WebM would otherwise shift every timestamp so
#: that none is negative (an MP4's AAC starts 21 ms early, its priming); they store
#: negative timestamps as they are, so the output keeps the input's, as MP4 does
FORMAT_OPTIONS: dict[str, dict[str, str]] = {
    "matroska": {"avoid_negative_ts": "disabled"},
    "webm": {"avoid_negative_ts": "disabled"},
}
#: containers to suggest for a stream the output's cannot hold, best first
ALTERNATIVES = (".mkv", ".mov", ".mp4", ".nut")
#: pixel formats the encoder takes as RGB (no YUV matrix on the way)
RGB_FORMATS = ("rgb24", "bgr24", "bgr0", "gbrp", "rgba", "bgra")


def format_options(fmt: str) -> dict[str, str]:
    """The container options to open ``fmt`` for writing with (a fresh dict: PyAV takes it)."""
    return dict(FORMAT_OPTIONS.get(fmt, {}))


def open_container(path: str | os.PathLike, fmt: str, shown: str | os.PathLike | None = None) -> OutputContainer:
    """``av.open(path)`` for writing ``fmt``; a path that cannot be written is an
    :class:`OutputError` naming ``shown`` (the output's final name, where ``path`` is its
    temporary file)."""
    try:
        return av.open(str(path), mode="w", format=fmt, options=format_options(fmt))
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


def video_encoder(codec: str) -> str:
    """``codec`` if this FFmpeg has it as a video encoder, else an :class:`OutputError`."""
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


def check_preset(codec: str, preset: str | None) -> None:
    """An :class:`InputError` for a ``--preset`` that ``codec`` does not take (checked before any model loads)."""
    if preset is None:
        return
    choices = X26X_PRESETS if codec in _X26X else OTHER_PRESETS.get(codec)
    if choices is None:
        raise InputError(f"--preset {preset!r}: the {codec} encoder takes no preset", "leave --preset out")
    if preset not in choices:
        raise InputError(f"unknown --preset {preset!r} for {codec}", f"choose one of: {', '.join(choices)}")


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
        if crf is not None:
            options["crf"] = str(crf)
            if codec == "libvpx-vp9":
                options["b"] = "0"
        if preset:
            options["preset" if codec == "libsvtav1" else "deadline"] = preset
    elif codec == "ffv1":
        options.update({"level": "3", "slicecrc": "1"})
    return options


def choose_pix_fmt(codec: str, info: FrameFormat, requested: str | None) -> str:
    """The encoder's pixel format: the one asked for, else the source's if the encoder takes it."""
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
    odd = info.width % 2 or info.height % 2
    subsampled = ("420", "422", "411", "410", "440", "nv12", "nv21", "nv16")

    def fits(fmt: str) -> bool:
        return fmt in supported and not (odd and any(s in fmt for s in subsampled))

    for cand in (info.pix_fmt, "yuv420p", "yuv444p", "gbrp", "rgb24", "bgr0"):
        if cand and fits(cand):
            if odd and cand != info.pix_fmt:
                log.info(
                    "odd frame size %dx%d: encoding %s as %s (4:2:0 needs even sizes)",
                    info.width,
                    info.height,
                    codec,
                    cand,
                )
            return cand
    if supported:
        return supported[0]
    return "yuv420p"
