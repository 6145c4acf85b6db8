"""The inputs and outputs of a batch run: files and folders' video files resolved to
``OUT/NAME.EXT``, checked for collisions, and whether an output already is a complete
copy of its input (frame counts from the packets, without decoding)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, OutputError
from ..stills import is_still
from ..video.containers import CONTAINERS

if TYPE_CHECKING:
    from ..api import RunOptions

log = logging.getLogger(__name__)

#: what a folder's video files end with (a file named on the command line may end in anything)
VIDEO_EXTENSIONS = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".nut",
    ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv", ".mxf", ".y4m",
)  # fmt: skip


#: how to deblur pictures, which a video batch does not take (streamdeblur.stills.deblur_stills does)
ONE_PICTURE = "deblur the pictures in a run of their own: streamdeblur run PICTURES_OR_FOLDER -o OUT/"


def _known_extensions() -> str:
    return ", ".join(e[1:] for e in sorted(CONTAINERS))


def _container_ext(fmt: str) -> str:
    ext = fmt.lower() if fmt.startswith(".") else "." + fmt.lower()
    if ext not in CONTAINERS:
        raise OutputError(f"unknown --format {fmt!r}", f"choose one of: {_known_extensions()}")
    return ext


def collect_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, folders as their video files (sorted, not recursive); no duplicates."""
    from ..video.urls import is_url, local_path

    if not inputs:
        raise InputError("no input given", "name video files or folders")
    out: list[Path] = []
    seen: set[str] = set()
    for spec in inputs:
        s = str(spec)
        if is_url(s):
            raise InputError(
                f"{s} is a stream URL; several inputs, --cluster and --segments take files",
                "run a stream on its own: streamdeblur run URL -o OUT",
            )
        p = Path(local_path(s))
        if not p.exists():
            from ..video.opening import input_not_found

            raise input_not_found(s)
        if p.is_dir():
            found = sorted(
                q
                for q in p.iterdir()
                if q.is_file() and not q.name.startswith(".") and q.suffix.lower() in VIDEO_EXTENSIONS
            )
            pictures = sum(is_still(q) for q in p.iterdir() if q.is_file() and not q.name.startswith("."))
            if found and pictures:
                log.warning(
                    "folder %s: %d picture%s left out (a folder's videos are deblurred; %s)",
                    s,
                    pictures,
                    "s" if pictures != 1 else "",
                    ONE_PICTURE,
                )
            if not found:
                raise InputError(
                    f"folder {s} has no video files" + (" (pictures go in a run of their own)" if pictures else ""),
                    ONE_PICTURE
                    if pictures
                    else f"put videos in it (files ending in {', '.join(VIDEO_EXTENSIONS[:6])} ...)",
                )
        else:
            found = [p]
        for q in found:
            key = os.path.realpath(q)
            if key not in seen:
                seen.add(key)
                out.append(q)
    return out


def output_is_folder(inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], files: int = 1) -> bool:
    """Whether ``-o`` names a folder: several inputs (or ``files``), a folder among them,
    a name ending in ``/``, or an existing folder."""
    out = str(output)
    return (
        files > 1
        or len(inputs) > 1
        or any(os.path.isdir(i) for i in inputs)
        or out.endswith(("/", os.sep))
        or os.path.isdir(out)
    )


def refuse_file_name_for_folder(inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str]) -> None:
    """Several inputs or a folder go into a folder: an ``-o`` named like a file (``out.mp4``,
    ``sharp.png``) that is not an existing folder is a mistake (one expected a video of the
    pictures, or one file of several), not a folder to create under that name."""
    out = str(output)
    if out == "-" or out.endswith(("/", os.sep)) or os.path.isdir(out) or not output_is_folder(inputs, out):
        return
    ext = os.path.splitext(out)[1].lower()
    if ext not in CONTAINERS and not is_still(out):
        return
    what = "several inputs" if len(inputs) > 1 else f"folder {inputs[0]} as the input"
    kind = "picture" if is_still(out) else "video"
    fix = f"give a folder, such as {os.path.splitext(out)[0] or 'out'}/"
    if kind == "video":
        fix += "; to make one video of pictures, join them first (ffmpeg -framerate 25 -i FOLDER/NAME_%04d.png ...)"
    raise OutputError(f"with {what} -o names a folder (an output each), and {out} looks like a {kind} file name", fix)


def resolve_jobs(
    inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], *, format: str | None = None
) -> tuple[list[tuple[Path, Path]], bool]:
    """(input, output) pairs, and whether ``output`` is a folder (to be created). Inputs that are
    all pictures (:func:`~streamdeblur.stills.picture_jobs`) go to ``OUT/NAME`` in their own format."""
    from ..stills import picture_jobs

    refuse_file_name_for_folder(inputs, output)
    if inputs and (pictures := picture_jobs([str(i) for i in inputs], str(output))) is not None:
        if format:
            raise OutputError(
                f"--format {format} names a video container; pictures keep their own format", "leave --format out"
            )
        return pictures, True
    files = collect_inputs(inputs)
    ext = _container_ext(format) if format else None
    if not output_is_folder(inputs, output, len(files)):
        target = Path(str(output))
        if ext and target.suffix.lower() != ext:
            raise OutputError(
                f"--format {format} does not match the output name {target.name}",
                f"name it {target.stem}{ext}, or leave --format out",
            )
        return [(files[0], target)], False
    outdir = Path(str(output))
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(
            f"output {outdir} is a file; with several inputs -o names a folder", "give a folder, such as out/"
        )
    jobs: list[tuple[Path, Path]] = []
    by_out: dict[str, Path] = {}
    for f in files:
        e = ext or f.suffix.lower()
        if is_still(f) and not ext:
            raise OutputError(
                f"{f.name} is a picture among videos; pictures and videos go in separate runs", ONE_PICTURE
            )
        if e not in CONTAINERS:
            raise OutputError(
                f"cannot write {f.name} as {e or 'a file without an extension'}",
                f"pass --format with one of: {_known_extensions()}",
            )
        target = outdir / f"{f.stem}{e}"
        key = os.path.abspath(target)
        if key in by_out:
            raise OutputError(
                f"{by_out[key]} and {f} would both be written to {target}", "rename one, or run them separately"
            )
        if os.path.abspath(f) == key:
            raise OutputError(f"the output of {f} would replace it", "choose another -o folder")
        by_out[key] = f
        jobs.append((f, target))
    return jobs, True


def count_video_packets(path: str | os.PathLike[str], part: Part | None = None) -> int | None:
    """The video frames of a file, counted from its packets (no decoding); None if it cannot be
    read. With ``part``, those of its ``video_stream`` that a run with its ``start`` and
    ``duration`` keeps (:class:`~streamdeblur.video.trim.Trim`'s rule on the packets' times)."""
    import av

    from ..video.sources import input_origin
    from ..video.trim import Trim

    part = part or Part()
    try:
        with av.open(str(path)) as c:
            if len(c.streams.video) <= part.video_stream:
                return None
            v = c.streams.video[part.video_stream]
            if part.start is None and part.duration is None:
                return sum(1 for p in c.demux(v) if p.size)
            tb = v.time_base
            pts = [p.pts for p in c.demux(v) if p.size]
            if not tb or any(t is None for t in pts):
                return None  # no timestamps to tell the part by
            origin = input_origin(c, v)
            trim = Trim(part.start, part.duration)
            return sum(1 for t in sorted(pts) if trim.frame(float(t * tb) - origin - (part.start or 0.0)))
    except Exception:  # not a video, truncated ...: not complete
        return None


@dataclass(frozen=True)
class Part:
    """What of each input a batch run deblurs (``run --start/--duration/--video-stream/--deinterlace``)."""

    start: float | None = None
    duration: float | None = None
    video_stream: int = 0
    deinterlace: str | None = None

    @classmethod
    def of(cls, options: RunOptions) -> Part:
        return cls(options.start, options.duration, options.video_stream, options.deinterlace)


def output_complete(
    input: str | os.PathLike[str], output: str | os.PathLike[str], part: Part | None = None
) -> tuple[bool, str]:
    """(whether ``output`` is a complete deblurred copy of ``input``, or of the ``part`` of it a run
    keeps; why not / what it holds). With ``deinterlace="field"`` an interlaced input's output has a
    frame per field: twice its frames."""
    part = part or Part()
    got = count_video_packets(output)
    if got is None:
        return False, "it is not a readable video"
    want = count_video_packets(input, part)
    if want is None:
        return False, "the input cannot be read to count its frames"
    if part.deinterlace == "field" and got == 2 * want:
        return True, f"it has all {got} frames, one per field"
    if got != want:
        return False, f"it has {got} frames and the input{' part' if part.start or part.duration else ''} {want}"
    return True, f"it has all {got} frames"


def probe_frames(path: str | os.PathLike[str], part: Part | None = None) -> int | None:
    """The frame count a header announces, or of the ``part`` a run keeps (for progress only); None
    if it says nothing."""
    import av

    from ..video.sources import tagged_duration

    part = part or Part()
    try:
        with av.open(str(path)) as c:
            v = c.streams.video[part.video_stream]
            rate = v.average_rate or v.guessed_rate
            dur = (
                float(v.duration * v.time_base)
                if v.duration and v.time_base
                else tagged_duration(v) or (c.duration / 1e6 if c.duration else None)
            )
            if v.frames and part.start is None and part.duration is None:
                return int(v.frames)
            if dur is not None:
                dur = min(max(0.0, dur - (part.start or 0.0)), part.duration or dur)
            return max(1, round(dur * float(rate))) if dur and rate else None
    except Exception:
        return None
