"""Adaptive-streaming outputs: ``-o site/clip.m3u8`` (HLS: a playlist and MPEG-TS segments) and
``-o site/clip.mpd`` (MPEG-DASH: a manifest, an init segment and fMP4 chunks per stream, WebM for VP9), the
files a web player, a CDN or a media server serves, written beside the playlist or manifest and
named after it (``clip_00000.ts``; ``clip-init-0.m4s``, ``clip-chunk-0-00001.m4s``).

Segments are cut at keyframes every :data:`SEGMENT_SECONDS` (the encoder puts one there and
nowhere else), as streaming services ask. Two ways of writing, by what the input is:

* **a file** (video on demand): every file is written into a hidden temporary folder beside the
  output and published when the run ends, segments first, the playlist or manifest last (a player
  or a sync never sees one naming a segment that is not there, nor half a set); an interrupted run
  publishes ``clip.partial.m3u8`` (``.mpd``) with segments of its own; a failed one leaves nothing.
* **a live input** (a stream, a camera): written in place as it is made (an HLS *event*
  playlist, a *dynamic* DASH manifest), the muxer renaming each segment and the playlist into
  place; the end of the run closes it (``#EXT-X-ENDLIST``; a *static* manifest).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
from av.container import OutputContainer

from ..errors import InputError, OutputError, OutputExistsError
from ..fileio import fsync_file, publish, temp_name

#: the segment length asked for (and the keyframe interval): live low-delay setups use 1-2 s
SEGMENT_SECONDS = 2


@dataclass(frozen=True)
class Format:
    """One adaptive-streaming format: its muxer, the encoders its segments carry, its segment files."""

    name: str  # as messages say it
    muxer: str
    codecs: tuple[str, ...]
    #: the segment files of an output named STEM, as a regular expression of their names
    files: Callable[[str], str]
    #: the muxer's options (``stem``: the names' prefix, ``folder``: where it writes, ``live``, ``window``:
    #: segments kept, 0 for all, ``codec``: the video encoder)
    options: Callable[[str, Path, bool, int, str], dict[str, str]]
    #: the playlist or manifest's text with segment names of prefix ``old`` made ``new``'s
    rename: Callable[[str, str, str], str]


def _hls_rename(text: str, old: str, new: str) -> str:
    text = text.replace(f'#EXT-X-MAP:URI="{old}_', f'#EXT-X-MAP:URI="{new}_')  # an fMP4 set's init segment
    return "".join((new + ln[len(old) :] if ln.startswith(old + "_") else ln) + "\n" for ln in text.splitlines())


def _dash_rename(text: str, old: str, new: str) -> str:
    for attr in ("initialization", "media"):
        text = text.replace(f'{attr}="{old}-', f'{attr}="{new}-')
    return text


def _hls_options(stem: str, folder: Path, live: bool, window: int, codec: str) -> dict[str, str]:
    fmp4 = codec == "libx265"  # HEVC plays from fMP4 segments (Apple's players take no HEVC in MPEG-TS)
    options = {
        "hls_time": str(SEGMENT_SECONDS),
        "hls_list_size": str(window),  # 0: every segment in the playlist
        "hls_flags": "temp_file+independent_segments" + ("+delete_segments" if window else ""),
        "hls_segment_filename": str(folder / stem) + ("_%05d.m4s" if fmp4 else "_%05d.ts"),
    }
    if fmp4:
        options.update({"hls_segment_type": "fmp4", "hls_fmp4_init_filename": f"{stem}_init.mp4"})
    if not window:  # a sliding window is neither an event nor on demand
        options["hls_playlist_type"] = "event" if live else "vod"
    return options


def _dash_options(stem: str, folder: Path, live: bool, window: int, codec: str) -> dict[str, str]:
    return {
        "seg_duration": str(SEGMENT_SECONDS),
        "use_template": "1",
        "use_timeline": "1",
        "window_size": str(window),  # 0: every segment in the manifest
        "extra_window_size": "1" if window else "5",  # segments kept on disk past the window
        "init_seg_name": f"{stem}-init-$RepresentationID$.$ext$",
        "media_seg_name": f"{stem}-chunk-$RepresentationID$-$Number%05d$.$ext$",
    }


HLS = Format(
    name="HLS",
    muxer="hls",
    codecs=("libx264", "libx265"),
    files=lambda stem: rf"{re.escape(stem)}_(?:\d{{5,}}\.(?:ts|m4s)|init\.mp4)",
    options=_hls_options,
    rename=_hls_rename,
)
DASH = Format(
    name="DASH",
    muxer="dash",
    codecs=("libx264", "libx265", "libvpx-vp9", "libsvtav1"),
    files=lambda stem: rf"{re.escape(stem)}-(?:init|chunk)-.+\.(?:m4s|webm)",  # WebM: VP9's, the muxer's choice
    options=_dash_options,
    rename=_dash_rename,
)
#: output extension -> format
FORMATS = {".m3u8": HLS, ".mpd": DASH}


def adaptive_format(path: str | os.PathLike) -> Format | None:
    """The adaptive-streaming format of an output name, or None for another output."""
    return FORMATS.get(os.path.splitext(str(path))[1].lower())


def check_window_output(out: str | os.PathLike) -> None:
    """``--window`` is for an HLS or DASH output: a one-line error for any other."""
    if adaptive_format(out) is None:
        raise InputError(
            f"--window applies to an HLS or DASH output (.m3u8, .mpd); {out} is not one", "leave --window out"
        )


def _files_of(fmt: Format, folder: Path, stem: str) -> list[Path]:
    pattern = re.compile(f"^{fmt.files(stem)}$")
    try:
        return sorted(folder / n for n in os.listdir(folder) if pattern.match(n))
    except OSError:
        return []


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_adaptive_output(path: Path, codec: str, *, overwrite: bool) -> Format:
    """Before any work: the encoder is one the format's segments carry, the path holds no ``%`` (the
    muxers read it as a pattern), and (without ``overwrite``) no segment of an earlier output of that
    name is there (the playlist itself: :func:`~.sinks.check_output_path`)."""
    fmt = FORMATS[path.suffix.lower()]
    if codec not in fmt.codecs:
        raise OutputError(
            f"{fmt.name} segments ({path.name}) carry {', '.join(fmt.codecs)}, not {codec}",
            "leave --codec out, or pass one of those",
        )
    if "%" in str(path.resolve()):
        raise OutputError(f"{fmt.name} output paths cannot hold '%' ({path})", "choose a name and folder without '%'")
    taken = _files_of(fmt, _folder(path), path.stem)
    if taken and not overwrite:
        raise OutputExistsError(
            f"segments of an earlier {fmt.name} output are in {_folder(path)} ({taken[0].name} ...)",
            "pass --overwrite to replace them, or write another name",
        )
    return fmt


class AdaptiveOutput:
    """Where an HLS or DASH output's files go while it is written, and publishing them."""

    def __init__(
        self, path: Path, *, live: bool, overwrite: bool, window: float | None = None, codec: str = "libx264"
    ) -> None:
        self.path = path
        self.codec = codec
        self.format = FORMATS[path.suffix.lower()]
        self.live = live
        #: a live output's sliding window: the playlist and the disk keep the last ``window`` seconds
        self.window = math.ceil(window / SEGMENT_SECONDS) if window and live else 0
        self.overwrite = overwrite
        #: where the muxer writes: the output's folder (live), else a hidden temporary folder beside it
        self.folder = _folder(path) if live else temp_name(path)
        if not live:
            self.folder.mkdir()
        self.playlist = self.folder / path.name

    def open(self) -> OutputContainer:
        fmt = self.format
        if self.live and self.overwrite:
            self._remove_earlier()
        try:
            return av.open(
                str(self.playlist),
                mode="w",
                format=fmt.muxer,
                options=fmt.options(self.path.stem, self.folder, self.live, self.window, self.codec),
            )
        except (av.error.FFmpegError, OSError) as e:
            self.discard()
            raise OutputError(
                f"cannot write {self.path}: {getattr(e, 'strerror', None) or e}", "check the folder is writable"
            ) from None

    def _remove_earlier(self) -> None:
        """A live output written in place over an earlier one (``--overwrite``): its playlist or manifest
        and segments go first. The muxer only writes over the segments it makes, so an earlier, longer
        output's others would stay on disk, and a player reading the earlier playlist meanwhile would get
        this run's segments under that one's names."""
        for old in [self.path, *_files_of(self.format, self.folder, self.path.stem)]:
            try:
                old.unlink()
            except FileNotFoundError:
                pass
            except OSError as e:
                raise OutputError(
                    f"cannot remove {old}, of the earlier output this run replaces: {e.strerror or e}",
                    "check the folder is writable",
                ) from None

    def publish(self, *, partial: bool) -> Path:
        """After the container is closed: the segments and then the playlist or manifest under their
        final names (``STEM.partial.EXT`` and segments of its own when ``partial``). Returns it."""
        if self.live:
            return self.path
        fmt, old = self.format, self.path.stem
        folder = _folder(self.path)
        stem = self._free_stem(folder) if partial else old
        replace = self.overwrite and not partial
        segments = _files_of(fmt, self.folder, old)
        published = set()
        try:
            for seg in segments:  # in name order: a player reading along finds the earlier ones first
                final = folder / (stem + seg.name[len(old) :])
                fsync_file(seg)
                publish(seg, final, replace=replace)
                published.add(final.name)
            listing = self.folder / f".{stem}{self.path.suffix}.new"
            listing.write_text(fmt.rename(self.playlist.read_text(), old, stem))
            fsync_file(listing)
            final_list = folder / f"{stem}{self.path.suffix}"
            publish(listing, final_list, replace=replace)
        except FileExistsError as e:
            raise OutputExistsError(
                f"{e.filename2 or e.filename or self.path} appeared while this run was writing {self.path} and was "
                "left as it is",
                "pass --overwrite to let a run replace an existing output",
            ) from None
        except OSError as e:
            raise OutputError(f"cannot move the finished {fmt.name} output to {folder}: {e.strerror or e}") from None
        finally:
            self.discard()
        if replace:  # an earlier, longer output's segments past this one's: nothing names them now
            for stale in _files_of(fmt, folder, stem):
                if stale.name not in published:
                    with contextlib.suppress(OSError):
                        stale.unlink()
        return final_list

    def _free_stem(self, folder: Path) -> str:
        """``STEM.partial``, or ``STEM.partial.N``: a name no playlist or segment uses yet."""
        n = 1
        while True:
            stem = f"{self.path.stem}.partial" + (f".{n}" if n > 1 else "")
            if not (folder / f"{stem}{self.path.suffix}").exists() and not _files_of(self.format, folder, stem):
                return stem
            n += 1

    def discard(self) -> None:
        """Remove the temporary folder (a file input's output): nothing of a failed run stays."""
        if not self.live:
            shutil.rmtree(self.folder, ignore_errors=True)
