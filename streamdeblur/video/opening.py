"""Opening an input with PyAV: a file, a network stream or a pipe, every failure a one-line
:class:`~streamdeblur.errors.InputError` naming the problem and the fix (missing, a folder,
empty, truncated, not a video, a stream that does not answer)."""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import InputContainer

from ..errors import InputError, InputNotFoundError, StreamTimeoutError
from .sequence import PATTERN, is_sequence, open_sequence
from .urls import ffmpeg_input, is_pipe, is_url, local_path, stream_schemes, url_scheme


def input_not_found(spec: str) -> InputNotFoundError:
    """The error for an input path that is not there; an image-sequence pattern given where a
    single picture or file was expected (a picture output, several inputs) gets the ways to
    deblur one (as a video on its own, or as a folder of pictures)."""
    if PATTERN.search(os.path.basename(spec)):
        folder = os.path.dirname(spec) or "."
        return InputNotFoundError(
            f"input not found: {spec} (an image-sequence pattern is read as a video, by a run of its own with a "
            "video output)",
            f"streamdeblur run {spec} -o out.mp4 --framerate 25, or deblur the pictures: "
            f"streamdeblur run {folder} -o OUT_FOLDER/",
        )
    return InputNotFoundError(f"input not found: {spec}", "check the path")


def _looks_like_mp4(path: str) -> bool:
    """An ISO media file starts with an 'ftyp' box; one that will not open was cut short or damaged."""
    try:
        with open(path, "rb") as f:
            return f.read(12)[4:8] == b"ftyp"
    except OSError:
        return False


#: FFmpeg's own HTTP reconnection (a download resumed at its byte offset), for ``--reconnect``
_HTTP_RECONNECT = {"reconnect": "1", "reconnect_streamed": "1", "reconnect_on_network_error": "1"}


def open_container(
    spec: str, timeout: float, reconnect: float | None = None, framerate: Fraction | None = None
) -> InputContainer:
    """av.open with user-facing errors. ``reconnect`` (seconds): an http(s) input also gets
    FFmpeg's own reconnection, which resumes a transfer where it broke off. An image-sequence
    pattern (``f_%04d.png``) is read as a video at ``framerate`` (:mod:`.sequence`)."""
    url = is_url(spec)
    if is_pipe(spec):
        return open_pipe(spec)
    if not url:
        p = Path(local_path(spec))
        if is_sequence(str(p)):
            return open_sequence(str(p), framerate)
        if not p.exists():
            scheme = url_scheme(spec)
            if scheme not in (None, "file"):
                raise InputError(
                    f"input {spec}: {scheme}:// is not a stream protocol this FFmpeg opens",
                    f"it opens {', '.join(sorted(stream_schemes()))}",
                )
            raise input_not_found(spec)
        if p.is_dir():
            raise InputError(f"input {spec} is a folder, not a video file")
        if p.stat().st_size == 0:
            raise InputError(f"input {spec} is empty (0 bytes)", "it is not a video")
    t0 = time.monotonic()
    options = {"rw_timeout": str(int(timeout * 1e6))} if url else {}
    if url and reconnect and url_scheme(spec) in ("http", "https"):
        options |= {**_HTTP_RECONNECT, "reconnect_delay_max": str(max(1, int(reconnect)))}
    try:
        return av.open(spec if url else str(p), mode="r", timeout=(timeout, timeout) if url else None, options=options)
    except av.error.FFmpegError as e:
        elapsed = time.monotonic() - t0
        reason = getattr(e, "strerror", None) or str(e)
        if url:
            if isinstance(e, av.error.ExitError) or elapsed >= 0.9 * timeout:
                raise StreamTimeoutError(
                    f"{spec} did not answer within {timeout:g} s",
                    "check the URL and that the stream is live, or raise --timeout",
                ) from None
            raise StreamTimeoutError(
                f"cannot open stream {spec}: {reason}", "check the URL and that the server is running"
            ) from None
        low = reason.lower()
        if "end of file" in low:
            raise InputError(
                f"input {spec} ends before its first frame: it has zero frames or is truncated",
                "re-copy or re-record the file",
            ) from None
        if "moov atom not found" in low or _looks_like_mp4(str(p)):
            raise InputError(
                f"input {spec} is a truncated or damaged MP4/MOV (its index cannot be read: {reason})",
                "re-copy or re-record the file",
            ) from None
        raise InputError(f"input {spec} is not a video FFmpeg can read ({reason})") from None
    except OSError as e:  # permission denied etc.
        raise InputError(f"cannot read input {spec}: {e.strerror or e}") from None


def open_pipe(spec: str) -> InputContainer:
    """av.open on a pipe: no size, index or seek checks (a pipe has none); FFmpeg probes what arrives."""
    try:
        return av.open(ffmpeg_input(spec), mode="r")
    except av.error.FFmpegError as e:
        reason = getattr(e, "strerror", None) or str(e)
        if "end of file" in reason.lower():
            raise InputError(f"input {spec} (a pipe) sent nothing, or ended before its first frame") from None
        raise InputError(
            f"input {spec} (a pipe) is not a video FFmpeg can read ({reason})",
            "pipe a streamable container (Matroska, MPEG-TS, NUT), e.g. ffmpeg ... -f matroska -",
        ) from None
    except OSError as e:
        raise InputError(f"cannot read input {spec}: {e.strerror or e}") from None
