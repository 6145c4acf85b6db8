"""Still pictures: ``streamdeblur run photo.jpg -o sharp.png``.

A photo is one frame through the same backends as a video, but read and written with OpenCV
rather than FFmpeg's video containers: OpenCV turns a phone photo upright by its EXIF
orientation (FFmpeg's decoders leave it on its side), and keeps 16-bit PNG and TIFF at 16 bits.
The picture is written under a hidden temporary name and renamed when complete, never over a
file that appeared meanwhile (:func:`streamdeblur.fileio.publish`), as videos are. The ICC colour
profile, EXIF and XMP go from the input's bytes into the output's (:mod:`streamdeblur.picmeta`):
the orientation is applied to the pixels and set to upright in the EXIF, so the output shows
upright everywhere.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .errors import InputError, OutputError, OutputExistsError
from .picmeta import PictureMeta, carry, read_meta

if TYPE_CHECKING:
    from .api import RunOptions
    from .backends import Backend
    from .models import Generator

#: what ``-o`` may name as a still picture (OpenCV picks the encoder by the extension)
STILL_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
#: the ones that hold 16 bits a component (the rest are written at 8 bits, with a warning)
DEEP_STILLS = (".png", ".tif", ".tiff")
#: JPEG and WebP quality (0-100): high, as the sharpened detail is what a user runs this for
QUALITY = 95


#: an ICC profile's data colour spaces (header bytes 16-20) of print: CMYK, CMY and 2 to 15 inks; such a profile
#: does not describe the RGB output a picture's pixels become (OpenCV converts CMYK JPEGs to RGB)
PRINT_SPACES = frozenset({b"CMYK", b"CMY ", *(f"{n:X}CLR".encode() for n in range(2, 16))})


#: picture formats a still is not read from (netpbm, JPEG 2000, AVIF, JPEG XL, HDR and film formats): OpenCV
#: builds differ in them; named as pictures, not taken for videos, when one is given with a picture output
OTHER_PICTURES = (".ppm", ".pgm", ".pbm", ".pnm", ".pam", ".jp2", ".j2k", ".avif", ".jxl", ".exr", ".hdr", ".pfm",
                  ".ras", ".sr", ".tga", ".dpx", ".ico", ".psd")  # fmt: skip


#: pictures that neither OpenCV nor FFmpeg reads whole here: a phone's HEIC (FFmpeg would give one
#: tile of it), camera RAW (a developer's job: demosaicing, white balance)
UNREADABLE_STILLS = {".heic": "HEIC", ".heif": "HEIF", ".dng": "RAW", ".cr2": "RAW", ".cr3": "RAW", ".nef": "RAW",
                     ".arw": "RAW", ".raf": "RAW", ".orf": "RAW", ".rw2": "RAW"}  # fmt: skip


def refuse_unreadable(path: str | os.PathLike[str]) -> None:
    """A one-line error for a picture format that cannot be read here (:data:`UNREADABLE_STILLS`)."""
    p = Path(str(path))
    kind = UNREADABLE_STILLS.get(p.suffix.lower())
    if kind is None:
        return
    how = (
        f"convert it to JPEG or PNG first (e.g. heif-convert {p.name} {p.stem}.jpg)"
        if kind != "RAW"
        else "develop it to a 16-bit TIFF or PNG first (darktable-cli, rawtherapee-cli, dcraw -T -6)"
    )
    raise InputError(f"{p.name} is a {kind} picture, which cannot be read here", how)


def is_still(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a still picture by its extension."""
    return Path(str(path)).suffix.lower() in STILL_EXTENSIONS


@dataclass(frozen=True)
class StillResult:
    """What deblurring one picture did."""

    output: Path
    width: int
    height: int
    seconds: float  # the model's time (the backend already open)
    backend: str
    device: str
    precision: str
    choice_reason: str | None
    warnings: tuple[str, ...] = ()


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """16-bit samples rounded to 8 bits (65535 -> 255); 8-bit ones unchanged."""
    if pixels.dtype != np.uint16:
        return pixels
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def frame_count(data: bytes) -> tuple[int, str]:
    """How many pictures a file's bytes hold, and what they are called: an animated PNG's frames (its
    ``acTL`` chunk), an animated WebP's (its ``ANMF`` chunks), a TIFF's pages (its chain of IFDs);
    (1, "frames") for anything else. OpenCV decodes the first only."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        pos = 8
        while pos + 8 <= len(data):
            size, kind = struct.unpack_from(">I4s", data, pos)
            if kind == b"acTL" and size >= 4 and pos + 12 <= len(data):
                return max(1, struct.unpack_from(">I", data, pos + 8)[0]), "frames"
            if kind in (b"IDAT", b"IEND"):
                break
            pos += 12 + size
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        pos, frames = 12, 0
        while pos + 8 <= len(data):
            kind, size = struct.unpack_from("<4sI", data, pos)
            frames += kind == b"ANMF"
            pos += 8 + size + (size & 1)
        return max(1, frames), "frames"
    elif data[:4] in (b"II*\0", b"MM\0*"):
        order = "<" if data[:2] == b"II" else ">"
        offset, pages, seen = struct.unpack_from(order + "I", data, 4)[0], 0, set()
        while 8 <= offset <= len(data) - 2 and offset not in seen:  # a loop in a damaged file ends it
            seen.add(offset)
            entries = struct.unpack_from(order + "H", data, offset)[0]
            end = offset + 2 + 12 * entries
            if end + 4 > len(data):
                pages += 1
                break
            subfile = 0
            for e in range(offset + 2, end, 12):
                tag, typ = struct.unpack_from(order + "HH", data, e)
                if tag == 254:  # NewSubfileType, its value in the entry (a LONG, or a SHORT)
                    subfile = struct.unpack_from(order + ("H" if typ == 3 else "I"), data, e + 8)[0]
            pages += not subfile & 1  # bit 0: a reduced copy of another page (a thumbnail), not a page
            offset = struct.unpack_from(order + "I", data, end)[0]
        return max(1, pages), "pages"
    return 1, "frames"


class Still(NamedTuple):
    """A picture as read: (H, W, 3) RGB pixels (uint8 or uint16, upright), its metadata blocks,
    what is lost on the way, and whether it is a grey picture (written grey again)."""

    pixels: np.ndarray
    meta: PictureMeta
    warnings: tuple[str, ...]
    grey: bool = False


def read_still(path: str | os.PathLike[str]) -> Still:
    """The picture at ``path``, upright by its EXIF orientation."""
    import cv2

    p = Path(str(path))
    if not p.exists():
        from .video.opening import input_not_found

        raise input_not_found(str(p))
    if not p.is_file():
        raise InputError(f"input {p} is not a file")
    data = np.fromfile(p, np.uint8)  # not cv2.imread: it fails quietly on some non-ASCII paths
    if data.size == 0:  # cv2.imdecode asserts on an empty buffer (cv2.error), it does not return None
        raise InputError(f"input {p} is empty (0 bytes)", "copy or save the picture again")
    try:
        raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as e:  # a decoder's assertion on damaged data: as unreadable as None
        if "CV_IO_MAX_IMAGE" in str(e):  # validateInputImageSize: above 2^30 pixels, or 2^20 a side
            raise InputError(
                f"input {p} is larger than OpenCV reads (above {2**30 // 10**6} megapixels, or "
                "1048576 pixels a side: its OPENCV_IO_MAX_IMAGE_PIXELS limit)",
                "scale it down or cut it into pictures first, or raise OpenCV's limit in the environment: "
                "OPENCV_IO_MAX_IMAGE_PIXELS=N (and expect it to take long on a CPU)",
            ) from None
        raw = None
    if raw is None:
        raise InputError(
            f"input {p} is not a picture OpenCV can read", f"pass a {', '.join(STILL_EXTENSIONS[:4])} ... file"
        )
    if raw.dtype not in (np.uint8, np.uint16):
        raise InputError(
            f"input {p} holds {raw.dtype} samples (floating point or 32-bit)", "convert it to 8 or 16 bits a component"
        )
    img = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)  # applies the EXIF orientation
    if img is None:  # pragma: no cover - it decoded unchanged a moment ago
        raise InputError(f"input {p} is not a picture OpenCV can read as colour")
    said: list[str] = []
    alpha = raw.ndim == 3 and raw.shape[2] in (2, 4)
    if alpha and raw[..., -1].min() < np.iinfo(raw.dtype).max:  # an opaque one (a screenshot's) loses nothing
        said.append(f"{p.name} has an alpha channel; the output has none: transparency is dropped")
    blob = data.tobytes()  # the file's bytes, once (a scanned TIFF can be hundreds of MB)
    count, kind = frame_count(blob)
    if count > 1:  # an animated PNG or WebP, a scanned document's TIFF: OpenCV decodes the first only
        said.append(
            f"{p.name} holds {count} {kind}; only the first is deblurred (a picture is one frame): "
            + ("split the pages into pictures first" if kind == "pages" else "convert it to a video (.mkv) first")
            + " to deblur them all"
        )
    rgb = np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    # a scan, a monochrome camera's frame; grey with alpha, which OpenCV reads as BGRA with B = G = R
    grey = raw.ndim == 2 or raw.shape[2] == 2 or (alpha and _same_planes(raw[..., :3]))
    meta = read_meta(blob)
    space = meta.icc[16:20] if meta.icc is not None and len(meta.icc) >= 20 else None
    if space in PRINT_SPACES:  # a print file's CMYK profile: the output is RGB
        said.append(
            f"{p.name}'s colour profile is for {space.decode('latin-1').strip()}; the output is RGB, so it is not "
            "copied (the output's colours are untagged, as sRGB)"
        )
        meta = replace(meta, icc=None)
    return Still(rgb, meta, tuple(said), grey)


def _same_planes(bgr: np.ndarray) -> bool:
    """Whether the three colour planes are one (a grey picture OpenCV read as colour)."""
    return bool(np.array_equal(bgr[..., 0], bgr[..., 1]) and np.array_equal(bgr[..., 0], bgr[..., 2]))


def write_still(
    path: Path, rgb: np.ndarray, *, overwrite: bool, meta: PictureMeta = PictureMeta(), grey: bool = False
) -> tuple[Path, tuple[str, ...]]:
    """Encode ``rgb`` by ``path``'s extension, with ``meta``'s blocks, into a temporary file and
    publish it under ``path``. ``grey``: as one grey channel (the model's three channels of a grey
    input differ by a level or two: written as colour, that is a faint tint and a larger file)."""
    import cv2

    from .fileio import fsync_file, publish, publish_free, temp_name, write_fix

    ext = path.suffix.lower()
    said: list[str] = []
    if rgb.dtype == np.uint16 and ext not in DEEP_STILLS:
        said.append(f"the input is 16-bit; {ext} holds 8 bits: the output loses depth (.png or .tif keeps it)")
        rgb = to_8bit(rgb)
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, QUALITY], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, QUALITY]}
    params[".webp"] = [cv2.IMWRITE_WEBP_QUALITY, QUALITY]
    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY if grey else cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, pixels, params.get(ext, []))
    if not ok:  # pragma: no cover - every extension above has an encoder in opencv-python's wheels
        raise OutputError(f"OpenCV cannot encode {ext} pictures", "write .png instead")
    data, lost = carry(meta, buf.tobytes(), ext, rgb.shape[1], rgb.shape[0])
    said += lost
    tmp = temp_name(path)
    kept = None
    try:
        tmp.write_bytes(data)
        fsync_file(tmp)
        try:
            publish(tmp, path, replace=overwrite)
        except FileExistsError:  # it appeared after the check at the start
            kept = publish_free(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"writing {path} failed: {e.strerror or e}", write_fix(e)) from None
    if kept is not None:
        raise OutputExistsError(
            f"{path} appeared while this run was writing it (another run or program made it) and was left as it is; "
            f"this run's picture is in {kept}",
            "pass --overwrite to let a run replace an existing output",
        )
    return path, tuple(said)


def _process_interruptibly(backend: Backend, batch: np.ndarray) -> np.ndarray:
    """``backend.process(batch)`` in a helper thread while the main thread waits for it: Python raises
    Ctrl-C's KeyboardInterrupt (and SIGTERM's :class:`~streamdeblur.errors.Interrupted`) in the main thread
    only between bytecodes, so a picture's one long call into the runtime (seconds for a phone photo on a
    CPU, minutes at 24 megapixels) held the stop until it returned. Interrupted, the call is left to finish
    in its daemon thread, its result dropped, as the pipeline leaves a video's."""
    if threading.current_thread() is not threading.main_thread():  # a batch worker: no signals here
        return backend.process(batch)
    done: dict[str, Any] = {}

    def work() -> None:
        try:
            done["out"] = backend.process(batch)
        except BaseException as e:  # raised again in the caller's thread
            done["error"] = e

    worker = threading.Thread(target=work, name="still-inference", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in done:
        raise done["error"]
    return done["out"]


def _deblur_one(
    backend: Backend, still: Still, out: Path, overwrite: bool, view: str | None = None
) -> tuple[Path, float, tuple[str, ...]]:
    """One picture through an open backend into ``out``: the path written, the model's seconds, warnings.
    ``view`` ``side`` or ``split``: the original and the deblurred picture together, labelled, 8-bit."""
    from .video.compose import COMPARISONS, compose

    t0 = time.perf_counter()
    sharp = _process_interruptibly(backend, still.pixels[None])[0]
    seconds = time.perf_counter() - t0
    if view in COMPARISONS:
        sharp = compose(still.pixels, sharp, view)
    written, said = write_still(out, sharp, overwrite=overwrite, meta=still.meta, grey=still.grey)
    return written, seconds, still.warnings + said


def deblur_picture(
    backend: Backend,
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    overwrite: bool,
    view: str | None = None,
) -> tuple[float, tuple[str, ...]]:
    """The picture ``input`` through an open backend into ``output`` (``view``: a comparison, as
    :func:`_deblur_one`): the model's seconds, warnings (a batch's or a cluster worker's task)."""
    _, seconds, said = _deblur_one(backend, read_still(input), Path(str(output)), overwrite, view)
    return seconds, said


def picture_jobs(inputs: list[str], output: str) -> list[tuple[Path, Path]] | None:
    """(picture, OUT/NAME) for a command line whose inputs are all pictures: files, and folders
    holding pictures and no videos. None when it is not one (the video batch takes it)."""
    from .batch.jobs import VIDEO_EXTENSIONS

    files: list[Path] = []
    for spec in inputs:
        p = Path(spec)
        if p.is_dir():
            inside = sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith("."))
            if any(q.suffix.lower() in VIDEO_EXTENSIONS for q in inside):
                return None
            files += [q for q in inside if is_still(q)]
        elif is_still(p):
            files.append(p)
        else:
            return None
    if not files:
        return None
    outdir = Path(output)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"output {outdir} is a file; with several pictures -o names a folder", "give a folder")
    jobs: list[tuple[Path, Path]] = []
    taken: dict[str, Path] = {}
    for f in files:
        target = outdir / f.name
        key = os.path.abspath(target)
        if key in taken:
            raise OutputError(f"{taken[key]} and {f} would both be written to {target}", "rename one")
        if key == os.path.abspath(f):
            raise OutputError(f"the output of {f} would replace it", "choose another -o folder")
        taken[key] = f
        jobs.append((f, target))
    return jobs


@dataclass(frozen=True)
class PictureOutcome:
    """One picture of a batch: ``done``, ``skipped`` (its output exists) or ``failed`` (``error`` says why)."""

    input: Path
    output: Path
    status: str
    seconds: float = 0.0
    error: str | None = None
    warnings: tuple[str, ...] = ()


def deblur_stills(
    jobs: list[tuple[Path, Path]],
    options: RunOptions,
    *,
    generator: Generator | None = None,
    on_item: Callable[[PictureOutcome], None] | None = None,
) -> list[PictureOutcome]:
    """Deblur many pictures with one backend, in order. A picture whose output exists is skipped
    (``--overwrite`` replaces it); one that cannot be read or written fails alone, the rest go on."""
    from .api import _open_backend
    from .errors import StreamDeblurError

    if not jobs:
        return []
    jobs[0][1].parent.mkdir(parents=True, exist_ok=True)
    backend = _open_backend(options, generator)
    done: list[PictureOutcome] = []
    try:
        for src, out in jobs:
            if out.exists() and not options.overwrite:
                outcome = PictureOutcome(src, out, "skipped", error="its output exists (--overwrite replaces it)")
            else:
                try:
                    seconds, said = deblur_picture(backend, src, out, options.overwrite, options.view)
                    outcome = PictureOutcome(src, out, "done", seconds, warnings=said)
                except StreamDeblurError as e:
                    outcome = PictureOutcome(src, out, "failed", error=str(e))
            done.append(outcome)
            if on_item is not None:
                on_item(outcome)
    finally:
        backend.close()
    return done


def deblur_still(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: RunOptions,
    *,
    generator: Generator | None = None,
    on_start: Callable[[str], None] | None = None,
) -> StillResult:
    """Deblur the picture ``input`` into the picture ``output`` (the video encoder settings in
    ``options`` do not apply: the command line refuses them). ``on_start`` gets one line once the
    backend is open, before the work (a 24-megapixel photo takes minutes on a CPU): the size, the
    backend, and the tiles it runs in."""
    from .api import _open_backend, _same_file
    from .video.sequence import SEQUENCE_ENCODERS, _one_number
    from .video.sinks import check_output_path

    out = Path(str(output))
    if not is_still(out):
        raise OutputError(f"{out.name} is not a picture name", f"end it with one of: {', '.join(STILL_EXTENSIONS)}")
    if _same_file(str(input), out):  # before "exists: pass --overwrite", which would then be refused
        raise OutputError(f"the output {out} is the input", "write to another file")
    if not is_still(input) and _one_number(out.name):  # -o f_%04d.webp: a sequence, in a format it is not written in
        raise OutputError(
            f"{out.name}: an image sequence is not written as {out.suffix}",
            f"name pictures ending {', '.join(SEQUENCE_ENCODERS)}: -o {os.path.splitext(str(out))[0]}.png",
        )
    check_output_path(out, overwrite=options.overwrite, example="sharp.png")
    if Path(str(input)).suffix.lower() in OTHER_PICTURES:
        raise InputError(
            f"{input} is a {Path(str(input)).suffix.lower()} picture, which is not read here",
            f"convert it to PNG first (pictures read here: {', '.join(STILL_EXTENSIONS)})",
        )
    if not is_still(input):
        raise InputError(
            f"{out.name} is a still picture and {input} is not one",
            "write a video to a video file (.mp4, .mkv ...), or pass a picture (.jpg, .png ...)",
        )
    still = read_still(input)
    backend = _open_backend(options, generator)
    try:
        h, w = still.pixels.shape[:2]
        if on_start is not None:
            tile = backend.tile_for(1, h, w)
            tiles = f", in {tile}x{tile} tiles" if tile is not None else ""
            on_start(
                f"{input}: {w}x{h} picture, backend {backend.name} on {backend.device} ({backend.precision}){tiles}"
            )
        written, seconds, said = _deblur_one(backend, still, out, options.overwrite, options.view)
    finally:
        backend.close()
    return StillResult(
        output=written,
        width=still.pixels.shape[1],
        height=still.pixels.shape[0],
        seconds=seconds,
        backend=backend.name,
        device=backend.device,
        precision=backend.precision,
        choice_reason=backend.choice_reason,
        warnings=said + tuple(getattr(backend, "notices", ())),
    )
