"""File or stream: the one rule every command tells inputs apart by.

``scheme://...`` with a scheme this FFmpeg opens (:func:`stream_schemes`) is a stream;
``file://`` URLs and plain paths are files (:func:`local_path`); any other ``scheme://``
is neither, and the source refuses it in one line naming the schemes that work.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
#: FFmpeg protocols that name local files or wrap another URL: not streams (``file://`` is a path)
_LOCAL = frozenset({"file", "pipe", "fd", "concat", "concatf", "subfile", "data", "async", "cache", "crypto"})
#: when FFmpeg cannot be asked (no ctypes access to libavformat): the usual stream protocols
_USUAL = (
    "rtsp",
    "rtsps",
    "rtmp",
    "rtmps",
    "rtmpt",
    "http",
    "https",
    "udp",
    "rtp",
    "tcp",
    "tls",
    "srt",
    "ftp",
    "mmsh",
    "mmst",
)


@functools.cache
def stream_schemes() -> frozenset[str]:
    """The ``scheme://`` inputs this PyAV build's FFmpeg opens: its protocols (``avio_enum_protocols``)
    and rtsp/rtsps (a demuxer that opens its own URLs), less the local ones (:data:`_LOCAL`)."""
    import ctypes

    try:  # the libavformat PyAV loaded (its wheel's own, or the system's)
        lib = ctypes.CDLL(
            next(line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines() if "libavformat" in line)
        )
        step, opaque = lib.avio_enum_protocols, ctypes.c_void_p(None)
        step.restype, step.argtypes = ctypes.c_char_p, [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        names = {name.decode() for name in iter(lambda: step(ctypes.byref(opaque), 0), None)}
    except (OSError, StopIteration, AttributeError):  # pragma: no cover - not Linux, or another packaging
        names = set(_USUAL)
    if "rtsp" in av.formats_available:
        names |= {"rtsp", "rtsps"}
    return frozenset(names - _LOCAL)


def url_scheme(spec: str | os.PathLike) -> str | None:
    """``rtsp://cam/live`` -> ``"rtsp"``; ``None`` for anything without ``scheme://``."""
    m = _SCHEME.match(str(spec))
    return m.group(1).lower() if m else None


def is_url(spec: str | os.PathLike) -> bool:
    """A stream, not a file: ``scheme://...`` with a scheme this FFmpeg opens (:func:`stream_schemes`).

    The one rule for every command: ``file://`` URLs and plain paths are files (:func:`local_path`)."""
    scheme = url_scheme(spec)
    return scheme is not None and scheme in stream_schemes()


def local_path(spec: str | os.PathLike) -> str:
    """The file a non-stream input names: ``file:///a/b%20c.mp4`` -> ``/a/b c.mp4``; other specs unchanged."""
    s = str(spec)
    if url_scheme(s) == "file":
        parts = urlsplit(s)
        if parts.netloc in ("", "localhost"):
            return unquote(parts.path)
    return s


#: the input or output name that means the standard input or output, as in FFmpeg
STDIO = "-"

#: the stream outputs written directly, by scheme: the container each gets without --format
STREAM_OUTPUTS = {
    "rtmp": ".flv", "rtmps": ".flv", "rtmpt": ".flv", "rtsp": ".rtsp", "rtsps": ".rtsp", "rtp": ".rtp",
    "udp": ".ts", "tcp": ".ts", "srt": ".ts",
}  # fmt: skip


#: MPEG-TS over UDP: 7 TS packets a datagram (FFmpeg's default, 1472 bytes, splits TS packets across datagrams)
UDP_TS_PACKET = 1316


def sending_url(url: str) -> str:
    """The URL a stream output is opened with: ``udp://`` gets ``pkt_size=1316`` (whole 188-byte TS
    packets in each datagram, as IPTV receivers and hardware decoders expect) unless it names one."""
    if url_scheme(url) != "udp" or "pkt_size=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}pkt_size={UDP_TS_PACKET}"


def is_stream_output(spec: str | os.PathLike) -> bool:
    """An output named ``scheme://...`` (any scheme but ``file``): sent to a server or a listener as
    it is made, never a file (:func:`stream_output_extension` says whether it can be)."""
    scheme = url_scheme(spec)
    return scheme is not None and scheme != "file"


def is_pipe(spec: str | os.PathLike) -> bool:
    """An input read once, front to back, that cannot seek or be opened twice: ``-`` (stdin),
    ``pipe:N``, or a path naming a pipe, socket or character device (``/dev/stdin`` fed by ``cat``)."""
    s = str(spec)
    if s == STDIO or s.startswith("pipe:"):
        return True
    if is_url(s):
        return False
    try:
        mode = os.stat(local_path(s)).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def ffmpeg_input(spec: str | os.PathLike) -> str:
    """What FFmpeg opens for an input: ``-`` is ``pipe:0``; a ``file://`` URL its path; others unchanged."""
    s = str(spec)
    return "pipe:0" if s == STDIO else local_path(s)
