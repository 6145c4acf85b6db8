"""An image sequence read as a video: ``frames/shot_%04d.png`` (FFmpeg's pattern: ``%d``, or
``%0Nd`` for numbers padded to N digits), the pictures a robot logger, a render farm, a
high-speed camera or ``ffmpeg -i clip.mp4 f_%06d.png`` leaves, at ``--framerate`` frames a
second (FFmpeg's ``-framerate``; 25 without it, as FFmpeg).

FFmpeg's image2 reader starts at the lowest number it finds only within 0-4 and stops at the first
missing number: a sequence numbered from 1001 would not open, and one with a gap would come out
silently short. So the numbers are found first (:func:`sequence_numbers`): the reader is told
where the sequence starts, and a gap is one line naming it, before any work.

An image-sequence output (``-o sharp/f_%06d.png``) is the other way: one picture a frame, and beside
them a CSV of the frames' times (:func:`timestamps_name`: ``f_timestamps.csv``), which pictures
cannot hold: a variable-rate input's, a ``--start`` part's or a stream's frames still line up with
other sensors. Both are made in a hidden folder and moved in together (:func:`publish_sequence`).
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
from av.container import InputContainer

from ..errors import InputError, InputNotFoundError

#: an FFmpeg image-sequence pattern's number (``%d``, ``%04d``)
PATTERN = re.compile(r"%(0?\d*)d")
#: FFmpeg's -framerate default
DEFAULT_RATE = Fraction(25)
MAX_RATE = 1000


def frame_name(pattern: str, number: int) -> str:
    """The name FFmpeg gives picture ``number`` of ``pattern``: its ``%d``, ``%Nd`` or ``%0Nd`` the number
    padded with zeros to N digits (FFmpeg pads ``%4d`` with zeros too, where printf would use spaces)."""
    return PATTERN.sub(lambda m: f"{number:0{int(m.group(1) or 0)}d}", pattern, count=1)


def missing_pictures(
    spec: str, framerate: Fraction | None, decoded: Sequence[float], span: tuple[bool, bool]
) -> list[str]:
    """The pictures of the sequence ``spec`` (read at ``framerate``: picture ``first + k`` at ``k / framerate``)
    that gave no frame among ``decoded`` (the frames' times): from the first picture and to the last where
    ``span`` says the run covered them (no ``--start``; read to the end), else between the first and last
    frames decoded."""
    numbers = sequence_numbers(spec)
    if not numbers:
        return []
    rate, name = framerate or DEFAULT_RATE, os.path.basename(spec)
    got = {round(t * rate) for t in decoded}
    lo = 0 if span[0] else min(got, default=0)
    hi = len(numbers) if span[1] else max(got, default=-1) + 1
    return [frame_name(name, numbers[0] + k) for k in range(lo, hi) if k not in got]


def _one_number(name: str) -> bool:
    """A file name with one number pattern and no other ``%``."""
    return len(PATTERN.findall(name)) == 1 and "%" not in PATTERN.sub("", name)


def is_sequence(spec: str) -> bool:
    """``spec`` names an image sequence: one number pattern in its file name and no file of that name."""
    return _one_number(os.path.basename(spec)) and not os.path.exists(spec)


def sequence_numbers(spec: str) -> list[int]:
    """The numbers of the pictures ``spec`` names that exist, in order."""
    folder, name = os.path.split(spec)
    head, _, tail = PATTERN.split(name, maxsplit=1)
    numbers = []
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return []
    for entry in entries:
        if not (entry.startswith(head) and entry.endswith(tail)) or len(entry) <= len(head) + len(tail):
            continue
        digits = entry[len(head) : len(entry) - len(tail)]
        if digits.isdigit() and frame_name(name, int(digits)) == entry:  # as FFmpeg formats it (padding and all)
            numbers.append(int(digits))
    return sorted(numbers)


def _size(path: str) -> int | None:
    """A file's size in bytes; None when it cannot be looked at."""
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def parse_framerate(text: str) -> Fraction:
    """``30``, ``29.97`` (30000/1001, as NTSC rates are written), ``30000/1001`` or ``24000:1001`` as
    a rate; an :class:`InputError` otherwise."""
    ratio = "/" in text or ":" in text
    try:
        rate = Fraction(text.replace(":", "/")) if ratio else Fraction(text).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise InputError(
            f"--framerate {text!r} is not a rate", "give frames a second: 30, 29.97 or 30000/1001"
        ) from None
    if not 0 < rate <= MAX_RATE:
        raise InputError(f"--framerate must be above 0 and at most {MAX_RATE}, got {text}")
    if not ratio:  # 23.976, 29.97, 59.94: the NTSC rates they stand for (and their drop-frame timecode)
        ntsc = [Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120)]
        rate = next((r for r in ntsc if abs(r - rate) < Fraction(1, 200)), rate)
    return rate


def open_sequence(spec: str, framerate: Fraction | None) -> InputContainer:
    """The pictures ``spec`` names, opened as one video stream at ``framerate`` (25 without it)."""
    numbers = sequence_numbers(spec)
    if not numbers:
        raise InputNotFoundError(
            f"input not found: no picture matches the image-sequence pattern {spec}",
            f"check the folder and the pattern (it names files like {frame_name(os.path.basename(spec), 1)})",
        )
    gaps = [(a, b) for a, b in zip(numbers, numbers[1:]) if b != a + 1]
    if gaps:
        a, b = gaps[0]
        more = f" and {len(gaps) - 1} more gaps" if len(gaps) > 1 else ""
        raise InputError(
            f"the image sequence {spec} has a gap: {frame_name(os.path.basename(spec), a)} is followed by "
            f"{frame_name(os.path.basename(spec), b)}{more}; read as a video it would end at the gap",
            "number the pictures without gaps, or deblur them as pictures: "
            f"streamdeblur run {Path(spec).parent} -o OUT_FOLDER/",
        )
    folder, name = os.path.split(spec)
    empty = [n for n in numbers if _size(os.path.join(folder, frame_name(name, n))) == 0]
    if empty:  # a render node or a copy that died mid-picture: FFmpeg's reader would end the video there
        more = f" and {len(empty) - 1} more" if len(empty) > 1 else ""
        raise InputError(
            f"in the image sequence {spec}, {frame_name(name, empty[0])} is empty (0 bytes){more}; read as a video "
            "it would end there",
            "render or copy the empty pictures again",
        )
    rate = framerate or DEFAULT_RATE
    options = {"framerate": f"{rate.numerator}/{rate.denominator}", "start_number": str(numbers[0])}
    try:
        return av.open(spec, mode="r", format="image2", options=options)
    except av.error.FFmpegError as e:
        raise InputError(
            f"cannot read the image sequence {spec}: {e}", "check that the pictures are readable"
        ) from None


#: an image-sequence output's encoder per extension (``-o frames/f_%06d.png``)
SEQUENCE_ENCODERS = {
    ".png": "png",
    ".jpg": "mjpeg",
    ".jpeg": "mjpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".bmp": "bmp",
}


def is_sequence_output(path: str | os.PathLike[str]) -> bool:
    """``path`` names an image sequence to write: one number pattern in a picture file name."""
    name = os.path.basename(str(path))
    ext = os.path.splitext(name)[1].lower()
    return ext in SEQUENCE_ENCODERS and _one_number(name)


#: the first line of an image-sequence output's CSV of frame times (:func:`timestamps_name`)
TIMESTAMPS_HEADER = ("frame", "file", "pts_time")


def timestamps_name(pattern: str | os.PathLike[str]) -> str:
    """The name of the CSV of an image-sequence output's frame times, beside its pictures: the pattern's
    number replaced by ``timestamps``, ending ``.csv`` (``f_%06d.png``: ``f_timestamps.csv``;
    ``%06d.png``: ``timestamps.csv``)."""
    stem = os.path.splitext(os.path.basename(str(pattern)))[0]
    return PATTERN.sub("timestamps", stem, count=1) + ".csv"


def check_sequence_output(path: str | os.PathLike[str], *, overwrite: bool) -> tuple[Path, str, str]:
    """An image-sequence output checked before any work: its folder exists and is writable, and
    holds no picture of the sequence and no CSV of its frame times already (without ``overwrite``);
    returns (pattern, muxer, encoder)."""
    from ..errors import OutputError, OutputExistsError
    from .sinks import check_output_folder  # sinks imports this module

    out = Path(path)
    check_output_folder(out)
    folder = out.parent if str(out.parent) else Path(".")
    there = sequence_numbers(str(out))
    times = folder / timestamps_name(out)
    if times.is_dir():
        raise OutputError(
            f"{times}, where the frames' times of {out.name} go, is a folder", "give another name or folder"
        )
    times_there = os.path.lexists(times)
    if (there or times_there) and not overwrite:
        held = [f"{len(there)} pictures of {out.name} ({frame_name(out.name, there[0])} ...)"] if there else []
        if times_there:
            held.append(times.name if there else f"{times.name} (the frame times of pictures {out.name})")
        raise OutputExistsError(
            f"{folder} already holds {' and '.join(held)}",
            f"pass --overwrite to replace {'them' if there else 'it'}, or give another name or folder",
        )
    return out, "image2", SEQUENCE_ENCODERS[out.suffix.lower()]


def publish_sequence(written: Path, out: Path, *, overwrite: bool, times: Sequence[Fraction]) -> int:
    """Move the pictures of the sequence ``out`` (a pattern) from the hidden folder ``written`` into
    ``out``'s folder, in order, each under its name only once whole, then the CSV of their times
    (:func:`write_timestamps`; ``times``: each frame's, in seconds, in the order written); a file of the
    same name that appeared meanwhile is kept unless ``overwrite``, which also removes the pictures of the
    pattern this run did not write (an earlier, longer run's). Where moving the pictures stops part way,
    the CSV moved in lists those moved in, no others. Returns how many pictures were moved."""
    from ..errors import OutputExistsError
    from ..fileio import fsync_file, publish

    numbers = sequence_numbers(str(written / out.name))
    moved: list[int] = []
    try:
        for n in numbers:
            name = frame_name(out.name, n)
            try:
                fsync_file(written / name)
                publish(written / name, out.parent / name, replace=overwrite)
            except FileExistsError:
                raise OutputExistsError(
                    f"{out.parent / name} appeared while this run was writing the sequence and was left as it is; "
                    f"this run's pictures from there on are in {written}",
                    "pass --overwrite to let a run replace existing pictures",
                ) from None
            moved.append(n)
    except BaseException:
        if moved:  # the pictures moved in keep their times; the error said is the pictures'
            with contextlib.suppress(OSError):
                _publish_timestamps(written, out, moved, times, overwrite=overwrite)
        raise
    if overwrite and numbers:  # an earlier, longer sequence of this name: its pictures past these would read as more
        for n in set(sequence_numbers(str(out))) - set(numbers):
            with contextlib.suppress(FileNotFoundError):
                (out.parent / frame_name(out.name, n)).unlink()
    if numbers:
        try:
            _publish_timestamps(written, out, numbers, times, overwrite=overwrite)
        except FileExistsError:
            name = timestamps_name(out)
            raise OutputExistsError(
                f"{out.parent / name} appeared while this run was writing the sequence and was left as it is; "
                f"this run's pictures are in place and their times in {written / name}",
                "pass --overwrite to let a run replace existing pictures and their times",
            ) from None
    return len(numbers)


def write_timestamps(path: Path, pattern: str, numbers: Sequence[int], times: Sequence[Fraction]) -> None:
    """The CSV of an image sequence's frame times at ``path``, synced: ``frame,file,pts_time``, then a row
    per picture ``numbers`` names (its number, its file name, its time in seconds to 6 decimals: the time the
    frame has in a video output of the run). ``times`` are the frames' in the order written, the first
    picture's first: an image encoder makes one picture a frame, in order."""
    first = min(numbers, default=0)
    with open(path, "w", newline="", encoding="utf-8") as f:
        rows = csv.writer(f, lineterminator="\n")
        rows.writerow(TIMESTAMPS_HEADER)
        rows.writerows(
            (n, frame_name(pattern, n), f"{float(times[n - first]):.6f}") for n in numbers if n - first < len(times)
        )
        f.flush()
        os.fsync(f.fileno())


def _publish_timestamps(
    written: Path, out: Path, numbers: Sequence[int], times: Sequence[Fraction], *, overwrite: bool
) -> None:
    """Write the CSV of the pictures ``numbers`` into the hidden folder ``written`` and move it in beside
    them (never over one that appeared meanwhile, unless ``overwrite``: FileExistsError)."""
    from ..fileio import publish

    name = timestamps_name(out)
    write_timestamps(written / name, out.name, numbers, times)
    publish(written / name, out.parent / name, replace=overwrite)
