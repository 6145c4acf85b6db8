"""One long video in segments: cut at keyframes, deblur the parts in parallel, join them.

The three steps run wherever the caller puts them (one after another in this process,
or as tasks on Ray actors, :mod:`streamdeblur.batch.cluster`); every step reads and writes
files the caller named, so nothing but a few numbers travels between them.

* :func:`plan_segments` reads the input's video packets (no decoding) and picks cut
  points at keyframes, so that the parts hold about the same number of frames. A part
  is a range of presentation timestamps ``[start, end)`` and the number of frames in it.
* :func:`deblur_segment` opens the input, seeks to the part's keyframe, decodes, keeps
  exactly the frames whose pts fall in the range (counting them: with open GOPs the
  last few frames of a range come after the next keyframe in decode order) and writes
  *video only* to a segment file, through the same pipeline and encoder as a single run.
* :func:`join_segments` remuxes the segments' video packets in order, and the audio and
  subtitle packets once from the input (as a single run copies them), into a hidden
  temporary file beside the output, checks the frame count, and renames it into place.

Decoding a part from its keyframe gives the same pictures as decoding the whole file
(the decoder starts from a keyframe in both cases), and every frame keeps its pts, so
with a lossless codec a segmented run equals a single run frame for frame.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import av.error

from ..errors import Cancelled, InputError, OutputError, OutputExistsError
from ..video.audio import AudioPlan
from ..video.containers import open_container
from ..video.copies import Copies, Reencoder, add_copies, check_copies, copy_metadata, reencoders
from .records import RUN_ONLY, file_stat, shaping_options

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.packet import Packet
    from av.stream import Stream
    from av.video.stream import VideoStream

    from ..api import RunOptions
    from ..backends import Backend
    from ..pipeline import OnProgress
    from ..video.frame import Frame
    from ..video.sources import FileSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """Frames with ``start_pts <= pts < end_pts`` (None: from the start / to the end)."""

    index: int
    start_pts: int | None
    end_pts: int | None
    frames: int
    first_frame: int  # its first frame's position in presentation order


@dataclass(frozen=True)
class SegmentPlan:
    input: str
    frames: int
    keyframes: int
    segments: tuple[Segment, ...]


def _video_packets(spec: str) -> tuple[list[int], list[int]]:
    """(every video packet's pts, the keyframes' pts), demuxed without decoding."""
    try:
        c = av.open(spec)
    except (av.error.FFmpegError, OSError) as e:
        raise InputError(f"input {spec} is not a video FFmpeg can read ({getattr(e, 'strerror', None) or e})") from None
    try:
        if not c.streams.video:
            raise InputError(f"input {spec} has no video stream", "pass a video file")
        v = c.streams.video[0]
        pts: list[int] = []
        keys: list[int] = []
        try:
            for p in c.demux(v):
                if not p.size:
                    continue
                if p.pts is None:
                    raise InputError(
                        f"input {spec} cannot be cut into segments: its video packets carry no timestamps",
                        "run it without --segments",
                    )
                pts.append(p.pts)
                if p.is_keyframe:
                    keys.append(p.pts)
        except av.error.FFmpegError as e:
            raise InputError(
                f"input {spec} cannot be read to the end ({getattr(e, 'strerror', None) or e}); "
                "it may be truncated or damaged"
            ) from None
        return pts, keys
    finally:
        c.close()


def plan_segments(input: str | os.PathLike[str], n: int) -> SegmentPlan:
    """Cut ``input`` at keyframes into at most ``n`` parts of about equal frame counts.

    Fewer parts when it has fewer keyframes (a part always starts at one)."""
    if n < 1:
        raise ValueError(f"segments must be >= 1, got {n}")
    spec = str(input)
    pts, keys = _video_packets(spec)
    if not pts:
        raise InputError(f"input {spec} has a video stream but no frames", "pass a video file with frames in it")
    order = sorted(pts)
    if order[0] < 0:  # a single run moves such an input to start at 0 (FileSource); the parts' join keeps times
        raise InputError(
            f"input {spec} starts before 0 s (a transport stream whose clock wrapped): it cannot be cut into segments",
            "run it without --segments",
        )
    if len(set(order)) != len(order):
        raise InputError(
            f"input {spec} cannot be cut into segments: two of its frames share a timestamp",
            "run it without --segments",
        )
    ranks = sorted({bisect.bisect_left(order, k) for k in keys} - {0})  # keyframes a part can start at
    total = len(order)
    cuts: list[int] = []
    for i in range(1, n):
        if not ranks:
            break
        target = round(i * total / n)
        j = bisect.bisect_left(ranks, target)
        best = min((r for r in ranks[max(0, j - 1) : j + 1]), key=lambda r: abs(r - target))
        if (not cuts or best > cuts[-1]) and best < total:
            cuts.append(best)
    bounds = [0, *cuts, total]
    segs = []
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        segs.append(
            Segment(
                index=k,
                start_pts=None if k == 0 else order[a],
                end_pts=None if b == total else order[b],
                frames=b - a,
                first_frame=a,
            )
        )
    return SegmentPlan(input=spec, frames=total, keyframes=len(keys), segments=tuple(segs))


def segment_dir(output: str | os.PathLike[str]) -> Path:
    """Where the parts of ``output`` are written: a hidden folder beside it (removed after the join)."""
    out = Path(output)
    return out.with_name(f".{out.name}.segments")


#: outputs whose muxer moves each file's timestamps its own way (MPEG-TS, FLV: a part that starts at 0 has
#: negative decode times from its B-frames and is shifted, the others are not, so the parts overlapped by that
#: shift): their parts are written as Matroska, which keeps every part's times as they are, and joined into the
#: output's format (AVI and GIF keep no start times: refused with --segments, commands.run)
_PARTS_AS_MATROSKA = (".ts", ".flv")


def segment_path(output: str | os.PathLike[str], index: int) -> Path:
    out = Path(output)
    ext = ".mkv" if out.suffix.lower() in _PARTS_AS_MATROSKA else out.suffix
    return segment_dir(out) / f"part-{index:04d}{ext}"


class _SegmentFrames:
    """The frames of one part, from an open :class:`FileSource` of the whole input."""

    def __init__(self, source: FileSource, seg: Segment) -> None:
        self.source = source
        self.seg = seg

    def __iter__(self) -> Iterator[Frame]:
        seg, src = self.seg, self.source
        if seg.start_pts is not None:  # to the keyframe at (or before) the part's start; PyAV flushes the decoder
            if not src.seek_before(seg.start_pts * Fraction(src.stream.time_base)):
                raise InputError(f"{src.spec} cannot be sought to where this part starts", "run it without --segments")
        kept = 0
        if seg.frames == 0:
            return
        for f in src:
            if seg.start_pts is not None and f.pts < seg.start_pts:
                continue
            if seg.end_pts is not None and f.pts >= seg.end_pts:
                continue
            yield f
            kept += 1
            if kept == seg.frames:
                return
        raise InputError(
            f"{src.spec}: only {kept} of this part's {seg.frames} frames could be decoded",
            "run it without --segments",
        )


def deblur_segment(
    input: str | os.PathLike[str],
    seg: Segment,
    path: str | os.PathLike[str],
    backend: Backend,
    options: RunOptions,
    *,
    on_progress: OnProgress | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Deblur one part of ``input`` into ``path`` (video only) on the open ``backend``, with
    the run's ``options`` (batch, encoder, timeout, crop_even); returns its frame count. Stopped or
    failed parts leave nothing behind."""
    from ..encoding import plan_run
    from ..pipeline import Pipeline
    from ..video.containers import output_codec
    from ..video.sinks import FileSink
    from ..video.sources import open_source

    o = options
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_source(input, timeout=o.timeout, crop_even=o.crop_even) as source:  # each part cropped alike
        i = source.info
        plan = plan_run(o, backend, i.width, i.height, output_codec(path, o.codec))  # calibrated once per worker
        sink = FileSink(
            path, i, codec=o.codec, crf=o.crf, preset=plan.encoder.preset, threads=plan.encoder.threads,
            pix_fmt=o.pix_fmt, overwrite=True, bitrate=o.bitrate,
        )  # fmt: skip
        try:
            frames = _SegmentFrames(source, seg)
            pipe = Pipeline(
                frames, backend, sink, batch=plan.batch, on_progress=on_progress, stop_event=stop_event,
                total=seg.frames,
            )  # fmt: skip
            stats = pipe.run()
            if stats.stopped:
                raise Cancelled(f"part {seg.index + 1} of {input} stopped after {stats.frames_out} frames")
            sink.close()
        except BaseException:
            sink.abort()
            raise
    if stats.frames_out != seg.frames:  # pragma: no cover - _SegmentFrames raises first
        raise InputError(f"part {seg.index + 1} of {input}: {stats.frames_out} frames written, {seg.frames} expected")
    return stats.frames_out


def _time(p: Packet) -> Fraction:
    t = p.dts if p.dts is not None else p.pts
    return Fraction(t if t is not None else 0) * p.time_base


def join_segments(
    input: str | os.PathLike[str],
    parts: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    frames: int,
    overwrite: bool = False,
    timeout: float = 10.0,
    audio: str | None = None,
) -> Path:
    """Remux ``parts`` (in order) and the input's other streams into ``output``.

    The audio, subtitle, data and attachment streams are chosen as a single run chooses
    them (:func:`~streamdeblur.video.copies.check_copies`) and copied once, untouched,
    from the input. Checks that the parts hold ``frames`` frames in all; the output
    appears under its name only once complete (:func:`~streamdeblur.fileio.writing`:
    hidden temporary file, fsync, and a rename that replaces an existing file only with
    ``overwrite``)."""
    from ..fileio import writing
    from ..video.sinks import check_output
    from ..video.sources import open_source

    out, fmt, _ = check_output(output, overwrite=overwrite)
    spec = str(input)
    with open_source(spec, timeout=timeout) as src:
        info = src.info
        chosen = check_copies(src, out, audio)
        keep = [st.index for st in chosen.streams]  # by index: the input is opened again to join
    try:
        with writing(out, replace=overwrite) as tmp:
            _remux(spec, [str(p) for p in parts], tmp, out, fmt, info.time_base, keep, chosen.encode, frames)
    except OutputExistsError:
        raise
    except FileExistsError:
        raise OutputExistsError(
            f"{out} appeared while its parts were being joined (another run or program made it) and was left as it is",
            "pass --overwrite to let a run replace an existing output",
        ) from None
    return out


def _remux(
    spec: str,
    parts: list[str],
    tmp: Path,
    out: Path,
    fmt: str,
    time_base: Fraction,
    keep: list[int],
    encode: dict[int, AudioPlan | str],
    frames: int,
) -> None:
    """Write the parts' video and the input's streams ``keep`` (by index; those in ``encode``
    encoded again) into ``tmp`` (a ``fmt`` file that becomes ``out``); checks the parts hold
    ``frames`` frames."""
    with ExitStack() as opened:
        segs = [opened.enter_context(av.open(p)) for p in parts]
        inp = opened.enter_context(av.open(spec))
        vids = [c.streams.video[0] for c in segs]
        _check_parts_match(vids, out)
        oc = open_container(tmp, fmt, shown=out)
        try:
            # with the parts' own codec (AV1's decoder, libdav1d, names no encoder: PyAV looked one up by it)
            vs = oc.add_stream_from_template(vids[0], opaque=True)
            vs.time_base = time_base  # as FileSink asks; the template carries colour tags and rotation
            rate = vids[0].average_rate or vids[0].guessed_rate  # the part's frames a second, as its file says
            if rate:  # the template's is its encoder's clock (12800 for an MP4's 1/12800): Matroska would say 12800 fps
                vs.codec_context.framerate = rate
            chosen = Copies([inp.streams[i] for i in keep], encode)
            copies = add_copies(oc, chosen, out.name)
            copy_metadata(inp, oc, [(inp.streams.video[0], vs), *((inp.streams[i], s) for i, s in copies.items())])
            streams = [inp.streams[i] for i in copies if inp.streams[i].type != "attachment"]
            made = reencoders(chosen, copies)
            written = 0
            for p in heapq.merge(_parts_video(segs, vids, out), _copied_packets(inp, streams, made), key=_time):
                if p.stream.type == "video" and p.stream.container is not oc:
                    p.stream = vs
                    written += 1
                elif p.stream.container is not oc:
                    p.stream = copies[p.stream.index]
                oc.mux(p)
        except BaseException as e:
            try:  # the temporary file is removed by fileio.writing
                oc.close()
            except Exception:
                log.debug("closing %s after an error failed", tmp, exc_info=True)
            if isinstance(e, av.error.FFmpegError):
                raise OutputError(f"joining the parts of {out} failed: {e}") from None
            raise
        oc.close()
    if written != frames:
        raise OutputError(
            f"the parts of {out.name} hold {written} frames, the input {frames}", "run it again with --overwrite"
        )


def _check_parts_match(vids: list[VideoStream], out: Path) -> None:
    """The parts' video streams can be joined: the same codec headers and time base as part 0."""
    v0 = vids[0]
    headers = bytes(v0.codec_context.extradata or b"")
    for k, v in enumerate(vids[1:], 1):
        if v.codec_context.name != v0.codec_context.name or bytes(v.codec_context.extradata or b"") != headers:
            raise OutputError(
                f"part {k + 1} of {out.name} was encoded with other settings than part 1 (codec headers differ); "
                "they cannot be joined",
                "run it without --segments",
            )
        if v.time_base != v0.time_base:
            raise OutputError(
                f"part {k + 1} of {out.name} has another time base ({v.time_base}) than part 1 ({v0.time_base})",
                "run it without --segments",
            )


def _parts_video(segs: list[InputContainer], vids: list[VideoStream], out: Path) -> Iterator[Packet]:
    """The parts' video packets in order, decode timestamps kept rising across the joins."""
    last: int | None = None
    for k, (c, v) in enumerate(zip(segs, vids)):
        for p in c.demux(v):
            if not p.size:
                continue
            if last is not None and (p.dts is None or p.dts <= last):
                # each part's encoder starts its own dts run (B-frame delay); keep them rising. Matroska
                # stores no dts: a part's first packets read back without one
                if p.pts is not None and last + 1 > p.pts:
                    raise OutputError(
                        f"part {k + 1} of {out.name} cannot follow part {k} (decode timestamps overlap)",
                        "run it without --segments, or use an intra-only codec such as ffv1",
                    )
                p.dts = last + 1
            if p.dts is not None:
                last = p.dts
            yield p


def _copied_packets(inp: InputContainer, streams: list[Stream], made: dict[int, Reencoder]) -> Iterator[Packet]:
    """The input's packets of ``streams`` (audio, subtitles, data), as FileSource passes them on;
    those of a stream in ``made`` encoded again (already the output's packets)."""
    if not streams:
        return
    for p in inp.demux(streams):
        if p.dts is not None and p.size:
            reencoder = made.get(p.stream.index)
            if reencoder is None:
                yield p
            else:
                yield from reencoder.encode(p)
    for reencoder in made.values():
        yield from reencoder.flush()


def remove_parts(output: str | os.PathLike[str]) -> None:
    """Remove the hidden folder of parts of ``output`` (after the join, or after a failure)."""
    shutil.rmtree(segment_dir(output), ignore_errors=True)


#: the file beside the parts that says what they were made of and how: a later run of the same input with the
#: same settings goes on from the parts that are complete (:func:`resume_parts`)
PLAN_FILE = "plan.json"


def _file_id(path: str | os.PathLike[str] | None) -> list[object] | None:
    """A file as (resolved path, size, modification time): changed when it is replaced or edited."""
    st = file_stat(path)
    return None if st is None or path is None else [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def parts_key(input: str | os.PathLike[str], plan: SegmentPlan, options: RunOptions) -> object:
    """What the parts of a segmented run depend on, as JSON values: the input file, the cuts, the
    options that shape a part's pictures and encoding, and the model (or engine) file."""
    import dataclasses
    import json

    from ..models import shipped_weights

    opts, backend = shaping_options(options, (*RUN_ONLY, "audio"))  # a part has no audio
    key = {
        "input": _file_id(input),
        "segments": [dataclasses.astuple(s) for s in plan.segments],
        "options": opts,
        "backend_options": backend,
        "weights": _file_id(options.weights or shipped_weights()),
        "engine": _file_id(options.backend_options.engine),
    }
    return json.loads(json.dumps(key, default=str))  # as it reads back from the file


def resume_parts(
    output: str | os.PathLike[str], input: str | os.PathLike[str], plan: SegmentPlan, options: RunOptions
) -> dict[int, int] | None:
    """The parts of ``output`` that an earlier run of the same input, cuts and settings finished
    ({index: frames}); they need not be made again. Everything else in the parts' folder (another
    input's or settings' parts, a part cut short by a crash) is removed, and the plan is written
    there for a later run to go on from. None: this run's parts cannot be gone on from (``--preset
    auto`` picks its preset per run, and parts of two presets have other codec headers: no join)."""
    import json

    from ..fileio import write_atomic
    from ..video.containers import AUTO_PRESET
    from .jobs import count_video_packets

    folder = segment_dir(output)
    if options.preset == AUTO_PRESET:
        remove_parts(output)
        return None
    key = parts_key(input, plan, options)
    try:
        same = json.loads((folder / PLAN_FILE).read_text()) == key
    except (OSError, ValueError):
        same = False
    kept: dict[int, int] = {}
    if same:
        for seg in plan.segments:
            path = segment_path(output, seg.index)
            if path.exists() and count_video_packets(path) == seg.frames:
                kept[seg.index] = seg.frames
        keep = {segment_path(output, i).name for i in kept} | {PLAN_FILE}
        for f in folder.iterdir():  # temporary files of parts a crash or a signal cut short
            if f.name in keep:
                continue
            if f.is_dir():
                shutil.rmtree(f, ignore_errors=True)
            else:
                f.unlink(missing_ok=True)
    else:
        remove_parts(output)
        write_atomic(folder / PLAN_FILE, json.dumps(key, indent=1).encode(), replace=True)
    return kept
