"""Video sinks: an encoded file (PyAV) and a null sink for benchmarks.

``FileSink`` keeps what a user would notice if it changed: every frame's pts and the
time base (variable frame rate survives), the resolution, the colour tags, the rotation,
and every audio packet (copied untouched, never re-encoded); subtitles are copied where
the container can hold them. It writes to a hidden temporary file in the output's folder
and renames it on ``close()``, so a crash never leaves a half-written file under the
output's name; ``close(partial=True)`` finalises what was done under ``NAME.partial.EXT``.
The rename never replaces a file that appeared meanwhile (another run writing the same
output) unless ``overwrite`` was given: :func:`streamdeblur.fileio.publish`.

Every stream to be copied (audio, subtitle, data, attachment) is tried against the
output's container before the first frame (:func:`check_copies`: a few of its real
packets muxed into a throw-away in-memory file of that format, header to trailer), so a
stream the container cannot hold is found before any work, not when the file is
finished: audio is then an error naming the container that takes it, the others are
left out with a warning.
"""

from __future__ import annotations

import io
import logging
import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import av.logging
import numpy as np

from ..errors import OutputError, OutputExistsError
from ..fileio import fsync_file, publish, publish_free
from .frame import Frame
from .sources import FileSource, SourceInfo, sws_colorspace

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
#: codecs that take --crf / --preset as x264-style private options
_X26X = {"libx264", "libx264rgb", "libx265"}
#: default quality per codec (--crf); libx264rgb exists here for exact output, so lossless by default
DEFAULT_CRF = {"libx264": 18, "libx264rgb": 0, "libx265": 20, "libvpx-vp9": 30, "libsvtav1": 30}
DEFAULT_PRESET = "fast"
#: container options per format: Matroska/WebM would otherwise shift every timestamp so
#: that none is negative (an MP4's AAC starts 21 ms early, its priming); they store
#: negative timestamps as they are, so the output keeps the input's, as MP4 does
FORMAT_OPTIONS: dict[str, dict[str, str]] = {
    "matroska": {"avoid_negative_ts": "disabled"},
    "webm": {"avoid_negative_ts": "disabled"},
}
#: containers to suggest for a stream the output's cannot hold, best first
_ALTERNATIVES = (".mkv", ".mov", ".mp4", ".nut")


def partial_name(path: Path) -> Path:
    """Where an interrupted run leaves the frames it finished: NAME.partial.EXT."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def check_output(path: str | os.PathLike, *, overwrite: bool = False) -> tuple[Path, str, str]:
    """Validate an output path before any work starts; returns (path, container, default codec)."""
    out = Path(path)
    ext = out.suffix.lower()
    if ext not in CONTAINERS:
        known = ", ".join(sorted(CONTAINERS))
        raise OutputError(f"cannot tell the container from the output name {out.name!r}", f"end it with one of: {known}")
    if out.is_dir():
        raise OutputError(f"output {out} is a folder", "give a file name such as out.mp4")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"output {out} already exists", "pass --overwrite to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"output folder {parent} does not exist", "create it first")
    if not parent.is_dir():
        raise OutputError(f"output folder {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {parent} is not writable", "choose another folder or fix its permissions")
    fmt, codec = CONTAINERS[ext]
    return out, fmt, codec


def choose_pix_fmt(codec: str, info: SourceInfo, requested: str | None) -> str:
    """The encoder's pixel format: the one asked for, else the source's if the encoder takes it."""
    try:
        supported = [f.name for f in av.codec.Codec(codec, "w").video_formats or []]
    except Exception:
        supported = []
    if requested:
        if supported and requested not in supported:
            raise OutputError(f"codec {codec} cannot encode pixel format {requested!r}", f"choose one of: {', '.join(supported)}")
        return requested
    odd = info.width % 2 or info.height % 2
    subsampled = ("420", "422", "411", "410", "440", "nv12", "nv21", "nv16")

    def fits(fmt: str) -> bool:
        return fmt in supported and not (odd and any(s in fmt for s in subsampled))

    for cand in (info.pix_fmt, "yuv420p", "yuv444p", "gbrp", "rgb24", "bgr0"):
        if cand and fits(cand):
            if odd and cand != info.pix_fmt:
                log.info("odd frame size %dx%d: encoding %s as %s (4:2:0 needs even sizes)", info.width, info.height, codec, cand)
            return cand
    if supported:
        return supported[0]
    return "yuv420p"


class NullSink:
    """Discards frames: for benchmarks and dry runs."""

    def __init__(self) -> None:
        self.frames_written = 0
        self.path: Path | None = None

    def write(self, frame: Frame) -> None:
        self.frames_written += 1

    def write_packet(self, packet: Any) -> None:
        pass

    def close(self, partial: bool = False, flush_budget: float | None = None) -> None:
        pass

    def abort(self) -> None:
        pass


class FileSink:
    """Encode frames to a file with the source's timestamps, colour tags, rotation and audio."""

    def __init__(
        self,
        path: str | os.PathLike,
        info: SourceInfo,
        *,
        codec: str | None = None,
        crf: int | None = None,
        preset: str | None = None,
        pix_fmt: str | None = None,
        overwrite: bool = False,
        copy_from: FileSource | None = None,
    ) -> None:
        self.path, fmt, default_codec = check_output(path, overwrite=overwrite)
        self.info = info
        self.codec = codec or default_codec
        if self.codec not in av.codecs_available:
            raise OutputError(f"video encoder {self.codec!r} is not in this FFmpeg build", "see `streamdeblur doctor` for the encoders it has")
        try:
            c = av.codec.Codec(self.codec, "w")
        except Exception:
            raise OutputError(f"{self.codec!r} is not a video encoder", "try libx264, libx265 or ffv1") from None
        if c.type != "video":
            raise OutputError(f"{self.codec!r} is not a video encoder", "try libx264, libx265 or ffv1")
        self.pix_fmt = choose_pix_fmt(self.codec, info, pix_fmt)
        self.crf = DEFAULT_CRF.get(self.codec) if crf is None else crf
        self.preset = preset
        self.frames_written = 0
        self.overwrite = overwrite
        self.frames_dropped = 0  # frames left inside the encoder by close(partial=True, flush_budget=...)
        self._packets_out = 0  # video packets muxed: frames the encoder has finished
        self._steady = [0.0, 0]  # seconds and frames of encode calls since its first packet
        self._last_pts: int | None = None
        self._closed = False
        self.tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp{self.path.suffix}")
        try:
            self.container = av.open(str(self.tmp), mode="w", format=fmt, options=dict(FORMAT_OPTIONS.get(fmt, {})))
        except (av.error.FFmpegError, OSError) as e:
            raise OutputError(f"cannot write {self.path}: {getattr(e, 'strerror', None) or e}", "check the folder exists and is writable") from None
        try:
            self._add_video(fmt)
            self._streams: dict[int, Any] = {}
            if copy_from is not None:
                self._add_copies(copy_from)
        except BaseException:
            self.abort()
            raise

    # -- setup -----------------------------------------------------------------
    def _add_video(self, fmt: str) -> None:
        info = self.info
        rate = info.rate if info.rate and info.rate > 0 else Fraction(25)
        options: dict[str, str] = {}
        if self.codec in _X26X:
            if self.crf is not None:
                if self.crf == 0 and self.codec != "libx265":
                    options["qp"] = "0"  # x264's true lossless mode
                else:
                    options["crf"] = str(self.crf)
            options["preset"] = self.preset or DEFAULT_PRESET
            if self.codec == "libx265":
                options["x265-params"] = "log-level=error" + (":lossless=1" if self.crf == 0 else "")
        elif self.codec in ("libvpx-vp9", "libsvtav1"):
            if self.crf is not None:
                options["crf"] = str(self.crf)
                if self.codec == "libvpx-vp9":
                    options["b"] = "0"
            if self.preset:
                options["preset" if self.codec == "libsvtav1" else "deadline"] = self.preset
        elif self.codec == "ffv1":
            options.update({"level": "3", "slicecrc": "1"})
        try:
            s = self.container.add_stream(self.codec, rate=rate, options=options)
        except (av.error.FFmpegError, ValueError) as e:
            raise OutputError(f"cannot add a {self.codec} stream to a {fmt} file: {e}") from None
        s.width, s.height = info.width, info.height
        s.pix_fmt = self.pix_fmt
        s.time_base = info.time_base
        s.codec_context.time_base = info.time_base
        s.thread_type = "AUTO"
        cc = s.codec_context
        cc.color_primaries = info.color_primaries
        cc.color_trc = info.color_trc
        cc.colorspace = info.colorspace
        cc.color_range = info.color_range
        if info.rotation:
            try:
                s.set_display_rotation(info.rotation)
            except Exception as e:  # pragma: no cover - container without display matrices
                log.warning("cannot carry the rotation (%d degrees) into %s: %s", info.rotation, fmt, e)
        self.stream = s
        self._rgb_out = self.pix_fmt in ("rgb24", "bgr24", "bgr0", "gbrp", "rgba", "bgra")
        self._sws_matrix = sws_colorspace(info.colorspace)
        self._sws_range = info.color_range if info.color_range in (1, 2) else 1

    def _add_copies(self, source: FileSource) -> None:
        keep = check_copies(source, self.path)
        copied = []
        for s in keep:
            try:
                self._streams[s.index] = self.container.add_stream_from_template(s)
            except (av.error.FFmpegError, ValueError) as e:
                if s.type == "audio":
                    raise OutputError(f"the input's audio stream #{s.index} ({_codec_name(s)}) cannot be copied into {self.path.name}: {e}", "write .mkv instead") from None
                log.warning("%s stream #%d (%s) cannot be copied: %s; it is left out", s.type, s.index, _codec_name(s), e)
                continue
            copied.append(s)
        source.enable_passthrough([s for s in copied if s.type != "attachment"])

    # -- writing ---------------------------------------------------------------
    def _encode(self, vf: Any) -> None:
        t0 = time.perf_counter()
        packets = self.stream.encode(vf)
        if vf is not None and self._packets_out:  # past the encoder's initial lookahead fill
            self._steady[0] += time.perf_counter() - t0
            self._steady[1] += 1
        for packet in packets:
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
        if img.shape != (self.info.height, self.info.width, 3):
            raise OutputError(f"frame {frame.index} is {img.shape[1]}x{img.shape[0]}, the output is {self.info.width}x{self.info.height}")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        if self._rgb_out:
            if self.pix_fmt != "rgb24":
                vf = vf.reformat(format=self.pix_fmt)
        else:
            vf = vf.reformat(format=self.pix_fmt, dst_colorspace=self._sws_matrix, dst_color_range=self._sws_range)
        pts = frame.pts
        if pts is not None and frame.time_base is not None and frame.time_base != self.info.time_base:
            pts = round(pts * frame.time_base / self.info.time_base)
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            pts = 0 if self._last_pts is None else self._last_pts + 1
        vf.pts = pts
        vf.time_base = self.info.time_base
        vf.color_primaries = self.info.color_primaries
        vf.color_trc = self.info.color_trc
        self._last_pts = pts
        try:
            self._encode(vf)
        except av.error.FFmpegError as e:
            raise OutputError(f"encoding frame {frame.index} to {self.path} failed: {e}") from None
        except OSError as e:
            raise OutputError(f"writing {self.path} failed: {e.strerror or e}", "check free disk space") from None
        self.frames_written += 1

    def write_packet(self, packet: Any) -> None:
        """Copy one audio/subtitle packet of the source untouched."""
        out = self._streams.get(packet.stream.index)
        if out is None:
            return
        packet.stream = out
        try:
            self.container.mux(packet)
        except av.error.FFmpegError as e:
            raise OutputError(f"copying a {out.type} packet to {self.path} failed: {e}") from None

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
                f"{final} appeared while this run was writing it (another run or program made it) and was left as it is;"
                f" this run's {self.frames_written} frames are in {kept}",
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


# -- which input streams the output's container can hold ------------------------------


def _codec_name(stream: Any) -> str:
    """The codec as a user would look it up: ``pcm_s24le``; ``bin_data`` for a data
    stream; the file name and MIME type of an attachment."""
    if stream.type == "attachment":
        return f"{getattr(stream, 'name', None) or 'unnamed'}, {getattr(stream, 'mimetype', None) or 'no MIME type'}"
    cc = getattr(stream, "codec_context", None)
    if cc is not None and cc.name:
        return cc.name
    return getattr(stream, "name", None) or "unknown codec"  # data streams have no codec context


def _clone(p: Any) -> Any:
    """A fresh copy of a packet (muxing takes the one it is given)."""
    q = av.Packet(bytes(p))
    q.time_base = p.time_base
    q.pts, q.dts = p.pts, p.dts
    if p.duration:
        q.duration = p.duration
    q.is_keyframe = p.is_keyframe
    return q


def _ffmpeg_reason(e: BaseException, logs: list[Any]) -> str:
    msgs = [str(m[2]).strip() for m in logs if m[0] <= av.logging.ERROR and str(m[2]).strip()]
    if msgs:
        return msgs[-1]
    return str(getattr(e, "strerror", None) or e).split("; last error log", 1)[0]


def _trial(fmt: str, stream: Any, samples: list[Any]) -> str | None:
    """Mux ``stream`` (and copies of its sample packets) into an in-memory ``fmt`` file,
    header to trailer. None if it goes in; else FFmpeg's reason."""
    old = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    oc = None
    try:
        with av.logging.Capture(local=True) as logs:
            try:
                oc = av.open(io.BytesIO(), mode="w", format=fmt, options=dict(FORMAT_OPTIONS.get(fmt, {})))
                out = oc.add_stream_from_template(stream)
                oc.start_encoding()
                for p in samples:
                    q = _clone(p)
                    q.stream = out
                    oc.mux(q)
                c, oc = oc, None
                c.close()
                return None
            except (av.error.FFmpegError, ValueError, TypeError, OSError) as e:
                return _ffmpeg_reason(e, logs) or e.__class__.__name__
            finally:
                if oc is not None:
                    try:
                        oc.close()
                    except Exception:
                        pass
    finally:
        av.logging.set_level(old)


def _samples(source: FileSource, streams: list[Any], per_stream: int = 3, budget_s: float = 1.0, max_packets: int = 3000) -> dict[int, list[Any]]:
    """The first few packets of each of ``streams``, from the input file opened a second
    time (the source itself must not move); none for a network stream."""
    got: dict[int, list[Any]] = {s.index: [] for s in streams}
    want = [s.index for s in streams if s.type in ("audio", "subtitle", "data")]
    if not want or source.info.is_live:
        return got
    try:
        c = av.open(source.spec, mode="r")
    except Exception:  # pragma: no cover - it opened a moment ago
        return got
    try:
        t0, n = time.monotonic(), 0
        for p in c.demux([c.streams[i] for i in want]):
            n += 1
            if p.dts is not None and p.size and len(got[p.stream.index]) < per_stream:
                got[p.stream.index].append(_clone(p))
            if all(len(got[i]) >= per_stream for i in want) or n >= max_packets or time.monotonic() - t0 > budget_s:
                break
    except Exception:
        log.debug("reading sample packets of %s failed", source.spec, exc_info=True)
    finally:
        c.close()
    return got


def check_copies(source: FileSource, output: str | os.PathLike) -> list[Any]:
    """The input streams (audio, subtitle, data, attachment) to copy into ``output``.

    Each is tried against the output's container with real packets before any work
    (see :func:`_trial`). Audio that does not go in is an :class:`OutputError` naming
    the stream, its codec, FFmpeg's reason and a container that takes it; a subtitle,
    data or attachment stream that does not go in is left out with a warning saying
    which container would keep it.
    """
    out = Path(output)
    ext = out.suffix.lower()
    fmt = CONTAINERS[ext][0]
    streams = [*source.audio_streams, *source.subtitle_streams, *getattr(source, "data_streams", []), *getattr(source, "attachment_streams", [])]
    if not streams:
        return []
    samples = _samples(source, streams)

    def takes(s: Any) -> str | None:
        alts = [a for a in _ALTERNATIVES if CONTAINERS[a][0] != fmt]
        return next((a for a in alts if _trial(CONTAINERS[a][0], s, samples[s.index]) is None), None)

    keep = []
    for s in streams:
        reason = _trial(fmt, s, samples[s.index])
        if reason is None:
            keep.append(s)
            continue
        name, alt = _codec_name(s), takes(s)
        if s.type == "audio":
            raise OutputError(
                f"the input's audio stream #{s.index} ({name}) cannot be stored in a {ext} file ({reason})",
                f"write {alt} instead, which takes it" if alt else "convert that audio first (for example to AAC or FLAC with ffmpeg)",
            )
        keep_it = f"write {alt} to keep it" if alt else "no container here takes it"
        log.warning("%s stream #%d (%s) cannot be stored in a %s file; it is left out (%s)", s.type, s.index, name, ext, keep_it)
    return keep
