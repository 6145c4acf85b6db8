"""Video sinks: an encoded file (PyAV) and a null sink for benchmarks; and the checks of
an output's name every writer of a video file makes before any work (:func:`check_output`).

``FileSink`` keeps what a user would notice if it changed: every frame's pts and the
time base (variable frame rate survives), the resolution, the colour tags, the depth (frames
deeper than 8 bits arrive as uint16 and are encoded in the deepest format the encoder has,
:func:`~.containers.choose_pix_fmt`, with one warning where depth or chroma drops), the rotation,
and every audio packet (copied untouched, :mod:`.copies`, or where the container cannot hold the
audio as it is, encoded again with the container's codec, :mod:`.audio`); subtitles are
copied where the container can hold them. The container and encoder settings are
:mod:`.containers`'. It writes to a hidden temporary file in the output's folder and
renames it on ``close()``, so a crash never leaves a half-written file under the output's
name; ``close(partial=True)`` finalises what was done under ``NAME.partial.EXT``. The
rename never replaces a file that appeared meanwhile (another run writing the same output)
unless ``overwrite`` was given: :func:`streamdeblur.fileio.publish`. (Not
:func:`~streamdeblur.fileio.writing`: the sink's file outlives one block, and an
interrupted run publishes it under another, free name.)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import time
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.error
import av.logging
import numpy as np
from av.container import OutputContainer
from av.packet import Packet
from av.stream import Stream

from ..errors import OutputError, OutputExistsError
from ..fileio import (
    cannot_create_in,
    fsync_file,
    publish,
    publish_free,
    remove_stale_temporaries,
    temp_name,
    write_fix,
)
from .adaptive import SEGMENT_SECONDS, AdaptiveOutput, check_adaptive_output
from .compose import compose
from .containers import (
    ALTERNATIVES,
    AUTO_PRESET,
    CONTAINERS,
    DEFAULT_CRF,
    DEFAULT_QSCALE,
    DNXHR_PROFILES,
    EVEN_SIZE_CODECS,
    FULL_RANGE,
    FULL_RANGE_CODECS,
    QSCALE_CODECS,
    RGB_MATRIX,
    VP8_CAP_BITS_PER_PIXEL,
    alpha_loss,
    check_bitrate,
    choose_pix_fmt,
    colour_loss,
    encoder_clock,
    encoder_options,
    ffmpeg_reason,
    format_options,
    holds_video,
    muxer,
    open_container,
    rate_options,
    rgb_output,
    stdout_extension,
    stream_output_extension,
    video_encoder,
)
from .copies import Copies, Reencoder, add_copies, check_copies, copy_metadata, reencoders, warn_once
from .frame import Frame
from .gif import MAX_FPS as GIF_MAX_FPS
from .gif import TIME_BASE as GIF_TIME_BASE
from .gif import GifPalette, loop_of
from .hdr import Hdr10
from .sequence import check_sequence_output, is_sequence_output, publish_sequence
from .sources import FileSource, SourceInfo, sws_colorspace
from .urls import STDIO, is_stream_output, sending_url

log = logging.getLogger(__name__)

#: the encoders FileSink(low_latency=True) tunes for zero latency
ZERO_LATENCY_CODECS = ("libx264", "libx264rgb", "libx265")
#: the keyframe interval of a stream output: streaming services ask for 2 s (YouTube and Twitch at most 4)
STREAM_KEYFRAME_SECONDS = 2
#: a stream output's server that takes no data for this many seconds (a handshake never answered, a
#: server that hangs or stops reading) is gone: FFmpeg's rw_timeout, without which the run waits for ever
STREAM_SEND_TIMEOUT = 10


#: the muxers that write a video's display rotation (MP4/MOV's matrix, Matroska's); the others
#: (MPEG-TS, AVI, FLV, NUT, MPEG-PS, pictures) take it and write nothing
ROTATION_MUXERS = frozenset({"mp4", "mov", "ipod", "ismv", "3gp", "3g2", "psp", "f4v", "matroska", "webm", "dash"})


def keep_ordinary_scheduling() -> None:
    """Put the calling thread back on ordinary scheduling. SVT-AV1, run as root, makes the thread that
    opens it real-time (SCHED_FIFO 99): it then starved the other threads and every process started after
    it (a 2-core machine locked up behind a preview server and a browser)."""
    if hasattr(os, "sched_getscheduler") and os.sched_getscheduler(0) != os.SCHED_OTHER:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def partial_name(path: Path) -> Path:
    """Where an interrupted run leaves the frames it finished: NAME.partial.EXT."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def check_output(path: str | os.PathLike, *, overwrite: bool = False) -> tuple[Path, str, str]:
    """Validate an output path before any work starts; returns (path, container, default codec)."""
    if is_stream_output(str(path)):
        raise OutputError(f"-o {path}: a stream URL, where a file is needed here", "write a file, such as out.mp4")
    out = Path(path)
    ext = out.suffix.lower()
    if ext not in CONTAINERS:
        known = ", ".join(sorted(CONTAINERS))
        raise OutputError(
            f"cannot tell the container from the output name {out.name!r}", f"end it with one of: {known}"
        )
    check_output_path(out, overwrite=overwrite, example="out.mp4")
    fmt, codec = CONTAINERS[ext]
    return out, fmt, codec


def check_destination(output: str | os.PathLike, *, overwrite: bool, format: str | None = None) -> Path | str:
    """Where a run's video goes, checked before any work: ``-`` (stdout, as ``format``), a stream
    URL (``rtmp://`` ...: returned as the string it is, as a :class:`Path` would fold its ``//``),
    or a file (:func:`check_output`)."""
    if str(output) == STDIO:
        stdout_extension(format)
        return Path(STDIO)
    if is_stream_output(str(output)):
        stream_output_extension(str(output), format)
        return str(output)
    if is_sequence_output(str(output)):
        return check_sequence_output(output, overwrite=overwrite)[0]
    return check_output(output, overwrite=overwrite)[0]


def check_output_path(out: Path, *, overwrite: bool, example: str) -> None:
    """The checks every output file gets before any work starts, whatever it holds: not a folder, not
    an existing file (without ``overwrite``) or dangling link, in a folder that exists and is writable."""
    if out.is_dir():
        raise OutputError(f"output {out} is a folder", f"give a file name such as {example}")
    if out.is_symlink() and not out.exists() and not overwrite:  # the final rename would meet the link itself
        raise OutputExistsError(
            f"output {out} is a dangling symbolic link (to {os.readlink(out)}, which does not exist)",
            "remove the link, give the path it points to, or pass --overwrite to replace the link with the output",
        )
    if out.exists() and not overwrite:
        raise OutputExistsError(f"output {out} already exists", "pass --overwrite to replace it")
    check_output_folder(out)


def check_output_folder(out: Path) -> None:
    """The folder ``out`` goes into exists, is a folder and is writable."""
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"output folder {parent} does not exist", "create it first")
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} is not a folder")
    allowed = os.access(parent, os.W_OK | os.X_OK)
    e = cannot_create_in(parent) if allowed else None  # root is allowed everywhere: /sys, a read-only mount
    if e is not None or not allowed:
        why = f" ({e.strerror or e})" if e is not None else ""
        raise OutputError(
            f"output folder {parent} is not writable{why}", "choose another folder or fix its permissions"
        )


class FrameFormat(Protocol):
    """What :class:`FileSink` needs to know of the frames it encodes: their size, nominal
    rate and time base, the input's pixel format (the output's keeps it where the encoder
    can), colour tags and rotation. A file or URL's
    :class:`~streamdeblur.video.sources.SourceInfo` is one, and so is a live source's
    :class:`~streamdeblur.video.live.LiveInfo`."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def rate(self) -> Fraction | None: ...
    @property
    def time_base(self) -> Fraction: ...
    @property
    def pix_fmt(self) -> str: ...
    @property
    def color_primaries(self) -> int: ...  # ffmpeg enum values, as SourceInfo's
    @property
    def color_trc(self) -> int: ...
    @property
    def colorspace(self) -> int: ...
    @property
    def color_range(self) -> int: ...
    @property
    def rotation(self) -> int: ...  # degrees counter-clockwise
    @property
    def field_order(self) -> int: ...  # ffmpeg AVFieldOrder, kept on the output (0: unknown)
    @property
    def sample_aspect_ratio(self) -> Fraction | None: ...  # non-square pixels (anamorphic); None: square


def _input_name(info: FrameFormat) -> str:
    """What a warning about ``info``'s input calls it: a file's spec, a live source's name."""
    return str(getattr(info, "spec", getattr(info, "name", "")))


def _warn_colour_loss(info: FrameFormat, pix_fmt: str, codec: str, *, requested: bool, pictures: bool) -> None:
    """One warning line when an input deeper than 8 bits loses depth or chroma in ``pix_fmt`` (``pictures``:
    into an image sequence), and one when its alpha channel is dropped."""
    loss = colour_loss(info.pix_fmt, pix_fmt, codec, requested, pictures=pictures)
    for note in (loss, alpha_loss(info.pix_fmt)):
        if note is not None:
            warn_once(_input_name(info), note)


def _carry_hdr10(hdr: Hdr10, codec: str, options: dict[str, str], info: FrameFormat) -> None:
    """Add the input's HDR10 metadata to an x264 / x265 encoder's options; for another encoder,
    one warning that it is not carried."""
    if codec in ("libx264", "libx265"):
        key = "x265-params" if codec == "libx265" else "x264-params"
        options[key] = ":".join([*filter(None, [options.get(key)]), *hdr.x26x_params(codec)])
        return
    note = (
        f"the input carries HDR10 metadata ({hdr.describe()}); the {codec} encoder cannot write it, so players "
        "will tone-map without it: --codec libx264 or libx265 keeps it"
    )
    warn_once(str(getattr(info, "spec", "")), note)


def comparison_format(info: SourceInfo, view: str) -> SourceInfo:
    """The frame format of a comparison output (``view``: ``side`` is twice as wide; ``split`` the same size):
    8-bit pictures, as :func:`~.compose.compose` makes them, with the input's colour tags."""
    deep = {"pix_fmt": "yuv420p", "bit_depth": 8, "hdr10": None} if info.bit_depth > 8 else {}
    return dataclasses.replace(info, width=info.width * (2 if view == "side" else 1), **deep)


class NullSink:
    """Discards frames: for benchmarks and dry runs."""

    def __init__(self) -> None:
        self.frames_written = 0
        self.path: Path | None = None

    def write(self, frame: Frame) -> None:
        self.frames_written += 1

    def write_packet(self, packet: Packet) -> None:
        pass

    def close(self, partial: bool = False, flush_budget: float | None = None) -> None:
        pass

    def abort(self) -> None:
        pass


#: output formats with no room for sound, subtitles or tags: an image sequence, an animated GIF
PICTURES_ONLY = ("image2", "gif")


#: FFmpeg's lambda per quantiser step (-q:v N sets global_quality N * FF_QP2LAMBDA)
FF_QP2LAMBDA = 118
#: the MP4/QuickTime muxers: HEVC in them is tagged hvc1 (QuickTime, iOS and Safari refuse FFmpeg's hev1)
ISO_MEDIA_MUXERS = ("mp4", "mov", "ipod", "3gp", "3g2", "ismv")
#: encoders that write a frame's closed captions (A53 side data) into the video, as FFmpeg's -a53cc
CAPTION_CODECS = {"libx264", "libx264rgb", "mpeg2video"}
#: encoders whose bitstream carries the pixel aspect ratio, whatever the container (H.264's and HEVC's VUI ...)
SAR_IN_BITSTREAM = {
    "libx264",
    "libx264rgb",
    "libx265",
    "h264_nvenc",
    "hevc_nvenc",
    "mpeg4",
    "mpeg2video",
    "mjpeg",
    "gif",
}


class FileSink:
    """Encode frames to a file with the source's timestamps, colour tags, rotation and audio."""

    def __init__(
        self,
        path: str | os.PathLike,
        info: FrameFormat,
        *,
        codec: str | None = None,
        crf: int | None = None,
        preset: str | None = None,
        pix_fmt: str | None = None,
        overwrite: bool = False,
        copy_from: FileSource | None = None,
        format: str | None = None,
        threads: int | None = None,
        low_latency: bool = False,
        reconnect: float | None = None,
        view: str | None = None,
        bitrate: int | None = None,
        window: float | None = None,
        audio: str | None = None,
    ) -> None:
        #: ``--audio``: copy (None), an encoder for every audio stream, or none (:data:`.audio.AUDIO_MODES`)
        self.audio = audio
        #: ``--bitrate``: bits a second the video is held to (with ``crf``: the cap on its CRF)
        self.bitrate = bitrate
        #: ``side`` or ``split``: each frame written as the original and the deblurred picture together
        #: (its ``meta["original"]``; ``info`` gives the composed size: :func:`comparison_format`)
        self.view = view
        #: x264/x265 tuned for zero latency (no lookahead, no B-frames): a live input restreamed
        self.low_latency = low_latency
        #: ``-`` (with ``format``): written to stdout as it goes, no temporary file, no rename
        self.to_stdout = str(path) == STDIO
        #: ``rtmp://``, ``udp://`` ...: sent as it goes, as stdout is
        self.to_stream = is_stream_output(str(path))
        self.path: Path | str
        if self.to_stdout:
            ext = stdout_extension(format)
            self.path, (fmt, default_codec) = Path(STDIO), CONTAINERS[ext]
            self._name = Path(f"stdout{ext}")  # what the stream copies are tried against
        elif self.to_stream:
            ext = stream_output_extension(str(path), format)
            self.path, (fmt, default_codec) = str(path), muxer(ext)
            self._name = Path(f"stream{ext}")
        elif is_sequence_output(str(path)):  # frames/f_%06d.png: one picture a frame (sequence.py)
            self.path, fmt, default_codec = check_sequence_output(path, overwrite=overwrite)
            self._name = self.path
        else:
            self.path, fmt, default_codec = check_output(path, overwrite=overwrite)
            self._name = self.path
        #: an image sequence: the pictures are written into a hidden folder beside, then moved
        self._sequence_dir: Path | None = None
        #: an image sequence: each frame's time in seconds as written (its pts in the output's time base, the
        #: time it would have in a video output), for the CSV moved in beside the pictures (sequence.py)
        self._sequence_times: list[Fraction] = []
        self.info = info
        self.codec = video_encoder(codec or default_codec)
        #: a GIF's palette maker (video/gif.py): its frames are 8-bit palette pictures
        self._palette: GifPalette | None = None
        #: an HLS playlist or DASH manifest and its segments (.m3u8, .mpd), where they are written until published
        self._adaptive: AdaptiveOutput | None = None
        if fmt in ("hls", "dash"):
            check_adaptive_output(self.path, self.codec, overwrite=overwrite)  # type: ignore[arg-type]
        if pix_fmt is None and fmt in ("hls", "dash"):  # what every player decodes (4:2:0 8-bit), whatever the input's
            if (info.width % 2 or info.height % 2) and self.codec in EVEN_SIZE_CODECS:
                raise OutputError(
                    f"the {fmt.upper()} output is 4:2:0, which {self.codec} cannot encode at the odd frame size "
                    f"{info.width}x{info.height}",
                    "give --codec libvpx-vp9 or libsvtav1, which take odd sizes, or --crop-even (drops the last odd "
                    "row/column)"
                    if fmt == "dash"
                    else "give --crop-even (drops the last odd row/column)",
                )
            self.pix_fmt = "yuv420p"
        elif self.codec == "gif" and pix_fmt is None:
            self.pix_fmt = "pal8"
        else:
            self.pix_fmt = choose_pix_fmt(self.codec, info, pix_fmt)
        _warn_colour_loss(info, self.pix_fmt, self.codec, requested=pix_fmt is not None, pictures=fmt == "image2")
        check_bitrate(self.codec, bitrate)
        self._capped_crf = crf is not None
        self.crf = (DEFAULT_CRF.get(self.codec) if bitrate is None else None) if crf is None else crf
        if preset == AUTO_PRESET:
            raise ValueError("--preset auto is resolved before the sink opens (streamdeblur.encoding.plan_encoder)")
        self.preset = preset
        #: the encoder's threads (0: the encoder's own choice, x264's 1.5 per core; None: FFmpeg's default)
        self.threads = threads
        self.frames_written = 0
        self.overwrite = overwrite
        self.frames_dropped = 0  # frames left inside the encoder by close(partial=True, flush_budget=...)
        self._packets_out = 0  # video packets muxed: frames the encoder has finished
        self._steady = [0.0, 0]  # seconds and frames of encode calls since its first packet
        self._last_pts: int | None = None
        #: encoder pts -> the frame's own duration on the encoder's clock, for its packet: the muxer gives the last
        #: frame (which no next frame times) the mean frame duration otherwise, shortening a variable-rate video
        self._durations: dict[int, int] = {}
        self._last_dts: dict[int, Fraction] = {}  # per copied output stream, in seconds
        #: copied packets left out because their time went back (write_packet)
        self.packets_dropped = 0
        #: AVI: per input audio stream, the seconds of sound before the video's first frame left out (AVI plays
        #: every stream from 0: kept, it made the sound that much late)
        self._before_zero: dict[int, Fraction] = {}
        self._closed = False
        self.tmp: Path | None = None
        #: a stream output whose server goes away is connected again for up to this many seconds
        self.reconnect = reconnect if self.to_stream else None
        #: one line per time the stream output dropped and was connected again
        self.reconnects: list[str] = []
        self.frames_lost = 0
        self._fmt, self._copy_from = fmt, copy_from
        #: AVI: the seconds taken off every timestamp, so the video starts at 0. AVI has no start times (its
        #: streams all play from 0): an input starting at 10 s made 10 s of the first frame before the rest,
        #: its sound at 0. The input's first frame's time (a --start part's: not its stream's start, which put the
        #: sound a whole part late), else (no copied streams) the first frame written's
        self._zero: Fraction | None = None
        if fmt == "avi" and copy_from is not None:
            self._zero = copy_from.first_time
        self._default_codec = default_codec
        self._copied = Copies()  # the input streams copied (added again on a reconnection)
        #: input stream index -> its encoder, for audio and subtitles the container cannot hold as they are
        self._reencoders: dict[int, Reencoder] = {}
        if self.to_stdout:
            self.container = av.open("pipe:1", mode="w", format=fmt, options=format_options(fmt))
        elif self.to_stream:  # connected when the header is written (below)
            self.container = self._open_stream()
        else:
            # an image sequence's hidden folder is named without the pattern's %: FFmpeg's image2 muxer
            # would read a % in the folder's name as the number's place too
            temp_of = self.path.with_name(self.path.name.replace("%", "")) if fmt == "image2" else self.path
            for stale in remove_stale_temporaries(temp_of):
                log.warning("removed %s, the temporary file of a run that was killed before it could clean up", stale)
            if fmt in ("hls", "dash"):
                live = getattr(info, "is_live", True)
                self._adaptive = AdaptiveOutput(
                    self.path, live=live, overwrite=overwrite, window=window, codec=self.codec
                )
                self.container = self._adaptive.open()
            elif fmt == "image2":  # a hidden folder, named as a temporary file is (a killed run's is removed)
                self._sequence_dir = temp_name(temp_of)
                self._sequence_dir.mkdir()
                self.tmp = self._sequence_dir / self.path.name
                self.container = open_container(self.tmp, fmt, shown=self.path)
            else:
                self.tmp = temp_name(self.path)
                self.container = open_container(self.tmp, fmt, shown=self.path, options=self._muxer_options())
        try:
            self._add_streams(first=True)
            if self.to_stream:  # connect now: a server that is down is one line before the first frame
                self._connect()
            else:  # the header now (a file, stdout): an encoder or muxer that refuses is one line before any work
                self._start()
        except BaseException:
            self.abort()
            raise

    def _muxer_options(self) -> dict[str, str]:
        """What the muxer is told of the input: a GIF made from a GIF plays as often as it did (the gif
        muxer's default is for ever: a GIF made to play once went on looping)."""
        src = self._copy_from
        if self._fmt != "gif" or src is None or "gif" not in src.container.format.name.split(","):
            return {}
        loop = loop_of(src.spec)
        return {} if loop is None else {"loop": str(loop)}

    def _start(self) -> None:
        """Write the header (opening the video encoder): what refuses is one line, with FFmpeg's reason."""
        old = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture(local=True) as logs:
                try:
                    self.container.start_encoding()
                except (av.error.FFmpegError, ValueError) as e:
                    raise self._start_failed(e, ffmpeg_reason(e, logs, first=True)) from None
        finally:
            av.logging.set_level(old)

    def _start_failed(self, e: BaseException, reason: str | None = None) -> OutputError:
        """The one line for an output whose encoder or muxer refused to start: FFmpeg's own reason
        (``vp9 only supported in MP4``, a size DNxHD has no profile for), and what to change."""
        text = str(e)
        reason = reason or ffmpeg_reason(e)
        # "... incompatible with DNxHD. Valid DNxHD profiles:" (a list follows): the reason, not the lead-in
        reason = re.sub(r"(?<=\.)\s*[^.]*:$", "", reason).rstrip(". ")
        name = self.path.name if isinstance(self.path, Path) else str(self.path)
        other = f"choose another --codec (without one, {name} gets {self._default_codec})"
        if "avcodec_open2" in text:
            return OutputError(
                f"the {self.codec} encoder cannot encode this video ({self.info.width}x{self.info.height}, "
                f"{self.pix_fmt}): {reason}",
                other,
            )
        alt = next((a for a in ALTERNATIVES if a != self._name.suffix.lower() and holds_video(a, self.codec)), None)
        return OutputError(
            f"the {self._fmt} format cannot hold {self.codec} video: {reason}", f"write {alt} instead" if alt else other
        )

    def _open_stream(self) -> OutputContainer:
        # each packet leaves as it is muxed, not once FFmpeg's 32 KB buffer fills (seconds of a small stream)
        options = {
            **format_options(self._fmt),
            "flush_packets": "1",
            "rw_timeout": str(STREAM_SEND_TIMEOUT * 1_000_000),
        }
        if self._fmt == "rtsp":  # the RTSP muxer opens its own connection, with its own option for it
            options["timeout"] = options["rw_timeout"]
        return av.open(
            sending_url(str(self.path)), mode="w", format=self._fmt, options=options, timeout=STREAM_SEND_TIMEOUT
        )

    def _add_streams(self, *, first: bool) -> None:
        """The video stream, the copied streams and the tags, into ``self.container``: checked
        and chosen the first time, the same again on a reconnection."""
        copy_from = self._copy_from
        self._add_video(self._fmt)
        self._streams: dict[int, Stream] = {}
        if copy_from is None:
            return
        if self._fmt in PICTURES_ONLY:  # no sound, words or tags
            others = [*copy_from.audio_streams, *copy_from.subtitle_streams]
            if others:
                warn_once(
                    copy_from.spec,
                    f"the input's {' and '.join(sorted({s.type for s in others}))} "
                    f"{'is' if len(others) == 1 else 'are'} left out: "
                    f"{'a GIF' if self._fmt == 'gif' else 'an image sequence'} holds pictures only",
                )
            return
        if first:
            self._add_copies(copy_from)
        else:
            self._streams = add_copies(self.container, self._copied, self._name.name)
        self._reencoders = reencoders(self._copied, self._streams, from_zero=self._fmt == "avi")

        trim = copy_from.trim
        rate = copy_from.info.rate
        skipped = None  # the video's frames before the part's first: its timecode is theirs on (counted from the
        # video's start, not the file's: sound that starts earlier put it frames late)
        first, video = copy_from.first_time, copy_from.video_start
        if trim is not None and trim.start is not None and rate and first is not None and video is not None:
            skipped = max(0, round((first - video) * rate))
        copy_metadata(
            copy_from.container,
            self.container,
            [(copy_from.stream, self.stream), *((copy_from.container.streams[i], o) for i, o in self._streams.items())],
            part=(trim.start, trim.duration) if trim is not None else (None, None),
            rate=rate,
            skipped=skipped,
        )

    def _connect(self) -> None:
        try:
            self.container.start_encoding()
        except (av.error.FFmpegError, OSError) as e:
            if "avcodec_open2" in str(e):  # the encoder, not the server
                raise self._start_failed(e) from None
            raise OutputError(
                f"cannot send to {self.path}: {getattr(e, 'strerror', None) or e}",
                "check that the server (or listener) is up and the address is right",
            ) from None

    def _reconnect(self, error: BaseException) -> None:
        """The stream output's server went away (``error``): connect again, every second for up
        to ``reconnect`` seconds, with a fresh encoder (its first frame a keyframe) and the same
        streams; an :class:`OutputError` if it does not come back."""
        why = getattr(error, "strerror", None) or str(error)
        log.warning(
            "the stream output %s dropped after %d frames (%s); connecting again (--reconnect %g)",
            self.path, self.frames_written, why, self.reconnect,
        )  # fmt: skip
        lost = self.frames_written - self._packets_out
        try:
            self.container.close()
        except Exception:  # the connection is gone: its trailer cannot be sent
            log.debug("closing the dropped stream output failed", exc_info=True)
        t0 = time.monotonic()
        while True:
            try:
                self.container = self._open_stream()
                self._add_streams(first=False)
                self._connect()
                break
            except (OutputError, av.error.FFmpegError, OSError) as e:
                log.debug("connecting to %s again: %s", self.path, e)
                try:  # the try that did not connect
                    self.container.close()
                except Exception:
                    log.debug("closing a failed connection to %s", self.path, exc_info=True)
                left = t0 + (self.reconnect or 0) - time.monotonic()
                if left <= 0:
                    raise OutputError(
                        f"the stream output {self.path} dropped after {self.frames_written} frames ({why}) and did "
                        f"not come back within {self.reconnect:g} s (--reconnect)",
                        "check the server",
                    ) from None
                time.sleep(min(1.0, left))
        took = time.monotonic() - t0
        self._last_dts.clear()
        #: frames the old encoder still held (its lookahead) when the server went away: never sent
        self.frames_lost += lost
        self._packets_out = self.frames_written  # the new encoder holds none of the frames before
        self.reconnects.append(f"{why} after frame {self.frames_written}, back after {took:.1f} s")
        log.warning("the stream output %s is back after %.1f s", self.path, took)

    # -- setup -----------------------------------------------------------------
    def _add_video(self, fmt: str) -> None:
        info = self.info
        rate = info.rate if info.rate and info.rate > 0 else Fraction(25)
        options = encoder_options(self.codec, self.crf, self.preset)
        if self.bitrate is not None:
            options.update(rate_options(self.codec, self.bitrate, capped_crf=self._capped_crf))
        if self.to_stream:  # a viewer (or a server's transcoder) joins at a keyframe: one every 2 s, as OBS sends
            options["g"] = str(max(1, round(STREAM_KEYFRAME_SECONDS * rate)))
        if self._adaptive is not None:  # a keyframe where each segment starts and nowhere else: equal segments
            options["g"] = options["keyint_min"] = str(max(1, round(SEGMENT_SECONDS * rate)))
            if self.codec == "libx265":
                options["x265-params"] = ":".join(filter(None, [options.get("x265-params"), "scenecut=0"]))
            elif self.codec in ("libx264", "libx264rgb"):
                options["sc_threshold"] = "0"
        if fmt == "avi" and self.codec in ("libx264", "libx264rgb"):
            # AVI has no presentation timestamps: B-frames, stored in decoding order, read back with their
            # times out of order (FFmpeg's reader, ours), so the frames are stored in the order they show
            options["bf"] = "0"
        if self.low_latency and self.codec in ZERO_LATENCY_CODECS:  # frames out as they go in (~1 s less delay)
            options["tune"] = "zerolatency"
        if self.codec == "libvpx" and self.crf is not None:  # VP8: its quality, under a cap only --bitrate lowers
            cap = self.bitrate or round(VP8_CAP_BITS_PER_PIXEL * info.width * info.height * rate)
            options.update({"crf": str(self.crf), "b": str(cap)})
        if self.codec == "dnxhd" and self.bitrate is None:  # DNxHR: any size, as editors (Resolve, Avid) take it
            options["profile"] = DNXHR_PROFILES.get(self.pix_fmt, "dnxhr_hq")
        hdr = getattr(info, "hdr10", None)
        if hdr is not None:
            _carry_hdr10(hdr, self.codec, options, info)
        try:
            s = self.container.add_stream(self.codec, rate=rate, options=options)
        except (av.error.FFmpegError, ValueError) as e:
            raise self._start_failed(e, str(e)) from None  # 'avi' format does not support 'libx265' codec
        if not isinstance(s, av.VideoStream):  # pragma: no cover - video_encoder() admits video encoders only
            raise OutputError(f"{self.codec} is not a video encoder")
        s.width, s.height = info.width, info.height
        s.pix_fmt = self.pix_fmt
        iso = self._adaptive is not None or self.container.format.name in ISO_MEDIA_MUXERS
        if iso and self.codec == "libx265":
            s.codec_tag = "hvc1"  # HEVC as Apple's players and browsers take it (FFmpeg writes hev1)
        #: the output's clock: the input's; a GIF's hundredths of a second; one frame where the output has
        #: one frame rate (AVI, MPEG-1/2 video: :func:`encoder_clock`), and then what holds it to one
        self._time_base, self._one_rate = encoder_clock(self.codec, fmt, info.time_base, rate)
        if self.codec == "gif":
            self._time_base = GIF_TIME_BASE
            if info.rate and info.rate > GIF_MAX_FPS:
                warn_once(
                    _input_name(info),
                    f"a GIF counts time in hundredths of a second, and browsers show a frame of 0.01 s for 0.1 s: "
                    f"at {float(info.rate):.4g} fps its frames get 0.01 s and 0.02 s, so it plays unevenly and slow "
                    f"(up to {GIF_MAX_FPS} fps plays as it should); write .mp4 or .webm to keep the frame rate",
                )
        s.time_base = self._time_base
        s.codec_context.time_base = self._time_base
        if self.codec == "gif":
            self._palette = GifPalette(info.width, info.height)
        s.thread_type = "AUTO"
        if self.threads is not None:
            s.codec_context.thread_count = self.threads
        cc = s.codec_context
        if self.codec in QSCALE_CODECS and self.bitrate is None:  # FFmpeg's -q:v 2 (its default: 200 kb/s)
            cc.qscale = True
            cc.global_quality = DEFAULT_QSCALE * FF_QP2LAMBDA
        self._rgb_out = rgb_output(self.pix_fmt)
        cc.color_primaries = info.color_primaries
        cc.color_trc = info.color_trc
        # RGB output has no YUV matrix and is full range: a source's BT.709 matrix tag on it would make
        # decoders (H.264's, players') read the G/B/R planes as Y/Cb/Cr
        cc.colorspace = RGB_MATRIX if self._rgb_out else info.colorspace
        # JPEG's YUV is full range (FFmpeg's mjpeg encoder refuses limited-range input as non-standard)
        full = self._rgb_out or self.codec in FULL_RANGE_CODECS
        cc.color_range = FULL_RANGE if full else info.color_range
        if info.field_order:
            cc.field_order = info.field_order
        self._carry_aspect(cc, info.sample_aspect_ratio)
        if info.rotation and fmt not in ROTATION_MUXERS:  # they take the rotation and write none of it
            name = self._name.suffix or fmt
            warn_once(
                f"{self.path}:rotation",
                f"the input is shown turned {info.rotation} degrees (a phone's upright video); a {name} output "
                "cannot say so, so it plays turned: write .mp4, .mov or .mkv to keep the rotation",
            )
        elif info.rotation:
            try:
                s.set_display_rotation(info.rotation)
            except Exception as e:  # pragma: no cover - container without display matrices
                log.warning("cannot carry the rotation (%d degrees) into %s: %s", info.rotation, fmt, e)
        self.stream = s
        self._sws_matrix = sws_colorspace(info.colorspace)
        self._sws_range = FULL_RANGE if full else info.color_range if info.color_range in (1, 2) else 1

    def _carry_aspect(self, cc: av.VideoCodecContext, sar: Fraction | None) -> None:
        """Non-square pixels stay non-square: the encoder's SAR (H.264's, HEVC's and MPEG-4's bitstream
        carry it, MP4 and MOV a ``pasp`` box; FFmpeg's own ``-aspect`` is what keeps it). Elsewhere
        (VP9, AV1, FFV1 in Matroska) players would show the picture squeezed: one warning."""
        if not sar:
            return
        cc.sample_aspect_ratio = sar
        if self.codec in SAR_IN_BITSTREAM or self.container.format.name in ISO_MEDIA_MUXERS:
            return
        log.warning(
            "the input's pixels are not square (sample aspect ratio %d:%d, shown %dx%d); %s in %s cannot say so, "
            "so players show it squeezed to %dx%d (libx264 or libx265, or an .mp4 or .mov file, keep it)",
            sar.numerator, sar.denominator, round(self.info.width * sar), self.info.height, self.codec,
            self._name.suffix or self._fmt, self.info.width, self.info.height,
        )  # fmt: skip

    def _add_copies(self, source: FileSource) -> None:
        keep = check_copies(source, self._name, self.audio)
        if (self.to_stdout or self.to_stream) and self.container.format.name == "matroska":
            for (
                a
            ) in keep.streams:  # Matroska on a pipe writes AAC's setup in its header, which ADTS AAC (MPEG-TS's) lacks
                copied = a.index not in keep.encode
                if copied and a.type == "audio" and a.codec_context.name == "aac" and not a.codec_context.extradata:
                    raise OutputError(
                        f"the input's audio stream #{a.index} (AAC in ADTS form, as MPEG-TS carries it) cannot be "
                        "copied into Matroska written to a pipe",
                        "pass --format ts or --format nut",
                    )
        self._streams = add_copies(self.container, keep, self._name.name)
        added = [s for s in keep.streams if s.index in self._streams]
        self._copied = Copies(added, {i: plan for i, plan in keep.encode.items() if i in self._streams})
        source.enable_passthrough([s for s in added if s.type != "attachment"])

    # -- writing ---------------------------------------------------------------
    def _encode(self, vf: av.VideoFrame | None) -> None:
        if self._palette is not None:  # a GIF: through its palette graph first (flushed at the end)
            for pf in self._palette.push(vf) if vf is not None else self._palette.flush():
                self._encode_one(pf)
            if vf is not None:
                return
        self._encode_one(vf)
        if self.codec == "libsvtav1":
            keep_ordinary_scheduling()

    def _encode_one(self, vf: av.VideoFrame | None) -> None:
        t0 = time.perf_counter()
        packets = self.stream.encode(vf)
        if vf is not None and self._packets_out:  # past the encoder's initial lookahead fill
            self._steady[0] += time.perf_counter() - t0
            self._steady[1] += 1
        for packet in packets:
            duration = self._durations.pop(packet.pts, None) if packet.pts is not None else None
            if duration:
                packet.duration = duration
            self.container.mux(packet)
            self._packets_out += 1

    def _flush_estimate(self) -> float:
        """Seconds the encoder would take to finish the frames it still holds (x264's
        lookahead holds ~30-40): its steady per-frame time so far, else a guess from the
        frame size (about 50 ns a pixel, as x264 'fast' on a loaded 2-core CPU)."""
        pending = self.frames_written - self._packets_out
        if pending <= 0:
            return 0.0
        secs, n = self._steady
        per_frame = secs / n if n else self.info.width * self.info.height * 50e-9
        return pending * per_frame

    def write(self, frame: Frame) -> None:
        img = frame.image
        if self.view is not None:
            img = compose(frame.meta["original"], img, self.view)
        if img.shape != (self.info.height, self.info.width, 3):
            raise OutputError(
                f"frame {frame.index} is {img.shape[1]}x{img.shape[0]}, "
                f"the output is {self.info.width}x{self.info.height}"
            )
        rgb = "rgb48le" if img.dtype == np.uint16 else "rgb24"  # deep colour: 16 bits a component
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format=rgb)
        if self._palette is not None:  # a GIF: the palette graph makes its frames from 8-bit RGB
            vf = vf.reformat(format="rgb24") if rgb != "rgb24" else vf
        elif self._rgb_out:
            if self.pix_fmt != rgb:
                vf = vf.reformat(format=self.pix_fmt)
        else:
            vf = vf.reformat(format=self.pix_fmt, dst_colorspace=self._sws_matrix, dst_color_range=self._sws_range)
        captions = frame.meta.get("captions")
        if captions is not None:
            vf = self._with_captions(vf, captions)
        pts = frame.pts
        if self._fmt == "avi" and pts is not None and frame.time_base is not None:
            if self._zero is None:
                self._zero = pts * frame.time_base
            pts = max(0, round((pts * frame.time_base - self._zero) / self._time_base))
        elif pts is not None and frame.time_base is not None and frame.time_base != self._time_base:
            pts = round(pts * frame.time_base / self._time_base)
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            if pts is not None and self._one_rate:  # two frames in one slot of the output's single frame rate
                fix = "write .mkv or .mp4" if self._fmt == "avi" else "encode with --codec libx264"
                warn_once(
                    str(self.path),
                    f"{self._name.name}: {self._one_rate.format(fps=f'{float(1 / self._time_base):g}')}, so this "
                    f"variable-rate input's frames are moved onto its grid and play at other times; {fix} to "
                    "keep every timestamp",
                )
            pts = 0 if self._last_pts is None else self._last_pts + 1
        vf.pts = pts
        vf.time_base = self._time_base
        if frame.duration and frame.time_base is not None:
            self._durations[pts] = max(1, round(frame.duration * frame.time_base / self._time_base))
        vf.color_primaries = self.info.color_primaries
        vf.color_trc = self.info.color_trc
        self._last_pts = pts
        try:
            try:
                self._encode(vf)
            except (av.error.FFmpegError, OSError) as e:
                if not self.reconnect or self._closed:
                    raise
                self._reconnect(e)  # the server went away: connect again and send this frame there
                self._encode(vf)
        except OutputError:  # from _reconnect: it says what happened
            raise
        except (av.error.FFmpegError, OSError) as e:
            if self.to_stream and isinstance(e, OSError):  # PyAV's I/O errors are both: the server went away
                raise self._send_failed(e) from None
            if isinstance(e, av.error.FFmpegError):
                raise OutputError(f"encoding frame {frame.index} to {self.path} failed: {e}") from None
            raise OutputError(f"writing {self.path} failed: {e.strerror or e}", write_fix(e)) from None
        if self._sequence_dir is not None:
            self._sequence_times.append(pts * self._time_base)
        self.frames_written += 1

    def _with_captions(self, vf: av.VideoFrame, carrier: av.VideoFrame) -> av.VideoFrame:
        """``vf``'s picture in a frame that carries the input frame's closed captions (its A53 side data,
        which ``carrier`` kept; PyAV cannot attach side data to a new frame), for an encoder that writes
        them into the video as FFmpeg's ``-a53cc`` does; elsewhere one warning that they are dropped."""
        if self.codec in CAPTION_CODECS:
            out = carrier.reformat(width=vf.width, height=vf.height, format=vf.format.name, interpolation="POINT")
            try:
                for dst, src in zip(out.planes, vf.planes, strict=True):
                    dst.update(src)
                # the picture's own tags, not the input frame's that came with the side data
                out.colorspace, out.color_range = vf.colorspace, vf.color_range
                return out
            except ValueError:  # pragma: no cover - planes laid out differently
                pass
        warn_once(
            _input_name(self.info),
            f"the input's video carries closed captions (CEA-608/708); {self.codec} cannot write them, so the "
            "output has none (libx264, the default for .mp4, .mkv, .mov and .ts, keeps them, as mpeg2video does)",
        )
        return vf

    def write_packet(self, packet: Packet) -> None:
        """Copy one audio/subtitle packet of the source untouched (or encode it again: :mod:`.audio`)."""
        out = self._streams.get(packet.stream.index)
        if out is None:
            return
        if self._zero and packet.time_base:  # AVI: on the video's clock, which starts at 0
            delta = round(self._zero / Fraction(packet.time_base))
            if packet.dts is not None:
                packet.dts -= delta
            if packet.pts is not None:
                packet.pts -= delta
        if self._fmt == "avi" and out.type == "audio" and self._before_video(packet):
            return
        if packet.dts is not None and packet.time_base:  # a muxer refuses a packet that goes back in time
            t = packet.dts * Fraction(packet.time_base)
            last = self._last_dts.get(out.index)
            if last is not None and t <= last:
                self.packets_dropped += 1
                if self.packets_dropped == 1:
                    log.warning(
                        "a %s packet at %.3f s comes after one at %.3f s (a stream that went back in time): it and "
                        "any like it are left out", out.type, float(t), float(last),
                    )  # fmt: skip
                return
            self._last_dts[out.index] = t
        reencoder = self._reencoders.get(packet.stream.index)
        try:
            if reencoder is None:
                packet.stream = out
                packets = [packet]
            else:
                packets = reencoder.encode(packet)
            for q in packets:
                self.container.mux(q)
        except (av.error.FFmpegError, OSError) as e:
            if self.reconnect and not self._closed:
                self._reconnect(e)  # the packet went down with the connection; the next ones go to the new one
            elif self.to_stream and isinstance(e, OSError):
                raise self._send_failed(e) from None
            else:
                kind = f"an {out.type}" if out.type[0] in "aeiou" else f"a {out.type}"
                doing = f"encoding {kind}" if reencoder is not None else f"copying {kind}"
                raise OutputError(
                    f"{doing} packet to {self.path} failed: {getattr(e, 'strerror', None) or e}"
                ) from None

    def _before_video(self, packet: Packet) -> bool:
        """AVI plays every stream from 0, whatever its timestamps say: a copied audio packet that would sound
        before the video's first frame (AAC's priming, sound recorded before the picture, the part of
        ``--start``'s first packet before it) would make all the sound after it late. True for one to leave
        out: wholly before 0, or more of it before 0 than after (the nearer of the two packets plays at 0).
        Sound encoded again is cut to the sample instead (:class:`.audio.AudioReencoder`'s ``from_zero``)."""
        if packet.stream.index in self._reencoders or packet.pts is None or not packet.time_base or packet.pts >= 0:
            return False
        tb = Fraction(packet.time_base)
        start, length = packet.pts * tb, (packet.duration or 0) * tb
        if start + length / 2 > 0:
            return False
        left = self._before_zero.get(packet.stream.index, Fraction(0))
        self._before_zero[packet.stream.index] = left + min(length, -start) if length else left - start
        return True

    def _say_sound_left_out(self) -> None:
        """AVI: one warning for sound before the video's first frame left out, where there was more of it than an
        encoder's priming (a camera's sound that starts before its picture)."""
        left = dict(self._before_zero)
        for i, r in self._reencoders.items():
            if getattr(r, "left_out", 0):
                left[i] = r.left_out  # type: ignore[attr-defined]
        longest = max(left.values(), default=Fraction(0))
        if longest > Fraction(1, 10) and self._copy_from is not None:
            warn_once(
                self._copy_from.spec,
                f"the input's sound starts {float(longest):.2f} s before its first frame; an AVI file plays every "
                "stream from its first frame, so that sound is left out to keep the rest in sync (write .mkv or "
                ".mp4 to keep it)",
            )

    def _send_failed(self, e: OSError) -> OutputError:
        """The one line for a stream output whose server went away (no --reconnect)."""
        return OutputError(
            f"sending to {self.path} failed after {self.frames_written} frames: {e.strerror or e}",
            "check the server; --reconnect SECONDS connects again when it goes away",
        )

    # -- finishing -------------------------------------------------------------
    def close(self, partial: bool = False, flush_budget: float | None = None) -> Path | None:
        """Flush the encoder, finish the file, fsync, and rename it to its final name.

        ``partial=True`` (an interrupted run) renames it to ``NAME.partial.EXT`` instead,
        or removes it when no frame was written. Returns the path written, if any.
        ``flush_budget`` (with ``partial``): if finishing the frames still inside the
        encoder would take longer than this many seconds, they are dropped instead, so an
        interrupted run stops at once; ``frames_written`` then counts the frames kept and
        ``frames_dropped`` the others.
        """
        if self._closed:
            return None
        try:
            try:
                if partial and flush_budget is not None and self._flush_estimate() > flush_budget:
                    self.frames_dropped = self.frames_written - self._packets_out
                    self.frames_written = self._packets_out
                    log.info("dropping the %d frames still inside the encoder to stop now", self.frames_dropped)
                else:
                    self._encode(None)
                for reencoder in self._reencoders.values():  # the sound the audio encoders still hold
                    for packet in reencoder.flush():
                        self.container.mux(packet)
                self._say_sound_left_out()
            finally:
                self.container.close()
            self._closed = True
        except (av.error.FFmpegError, OSError) as e:
            self.abort()
            raise OutputError(f"finishing {self.path} failed: {getattr(e, 'strerror', None) or e}") from None
        except BaseException:
            self.abort()
            raise
        if partial and self.frames_written == 0:
            self._remove_tmp()
            return None
        if self._adaptive is not None:  # segments, then the playlist or manifest
            return self._adaptive.publish(partial=partial)
        if self._sequence_dir is not None:  # every picture done, the stopped run's too: each one whole, and their times
            try:
                publish_sequence(
                    self._sequence_dir, Path(self.path), overwrite=self.overwrite, times=self._sequence_times
                )
            except OutputExistsError:  # what was not moved in stays in the hidden folder, as the error says
                self._sequence_dir = None
                raise
            except OSError as e:
                raise OutputError(f"cannot move the pictures to {Path(self.path).parent}: {e.strerror or e}") from None
            shutil.rmtree(self._sequence_dir, ignore_errors=True)
            return Path(self.path)
        if self.tmp is None:  # stdout: what was written is there already
            return self.path
        final = partial_name(self.path) if partial else self.path
        kept = None
        try:
            fsync_file(self.tmp)
            if partial:  # never over an earlier run's partial: NAME.partial.2.EXT then
                final = publish_free(self.tmp, final)
            else:
                try:
                    publish(self.tmp, final, replace=self.overwrite)
                except FileExistsError:  # it appeared after the check at the start
                    kept = publish_free(self.tmp, final)
        except OSError as e:
            self._remove_tmp()
            raise OutputError(f"cannot move the finished video to {final}: {e.strerror or e}") from None
        if kept is not None:
            raise OutputExistsError(
                f"{final} appeared while this run was writing it (another run or program made it) and was left as "
                f"it is; this run's {self.frames_written} frames are in {kept}",
                "pass --overwrite to let a run replace an existing output",
            )
        return final

    def abort(self) -> None:
        """Drop the temporary file; nothing appears under the output's name."""
        if not self._closed:
            self._closed = True
            try:
                self.container.close()
            except Exception:
                log.debug("closing the output after an error failed", exc_info=True)
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        if self._adaptive is not None:
            self._adaptive.discard()
        if self._sequence_dir is not None:
            shutil.rmtree(self._sequence_dir, ignore_errors=True)
            return
        if self.tmp is None:
            return
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass
        except OSError:  # pragma: no cover
            log.warning("could not remove the temporary file %s", self.tmp)

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
