"""HLS output: ``-o site/clip.m3u8`` writes a playlist and its MPEG-TS segments
(``clip_00000.ts`` ...) beside it, what a web player, a CDN or a media server serves.

Segments are cut at keyframes every :data:`SEGMENT_SECONDS` (the encoder puts one there and
nowhere else), as streaming services ask. Two ways of writing, by what the input is:

* **a file** (video on demand): playlist and segments are written into a hidden temporary
  folder beside the output and published when the run ends, segments first, the playlist last
  (a player or a sync never sees a playlist naming a segment that is not there, nor half a
  set); an interrupted run publishes ``clip.partial.m3u8`` and its own segments; a failed one
  leaves nothing.
* **a live input** (a stream, a camera): written in place as it is made, an *event* playlist
  (every segment kept, players join at the live edge) that FFmpeg renames into place after each
  segment, and each segment written under a temporary name first; the end of the run closes it
  (``#EXT-X-ENDLIST``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import av
import av.error
from av.container import OutputContainer

from ..errors import OutputError, OutputExistsError
from ..fileio import fsync_file, publish, temp_name

#: the segment length asked for (and the keyframe interval): Apple's HLS authoring spec says 6 s,
#: live low-delay setups 1-2 s; 2 s keeps a live playlist close to the live edge
SEGMENT_SECONDS = 2
#: the encoders whose streams MPEG-TS segments carry and players decode
HLS_CODECS = ("libx264", "libx265")
EXTENSION = ".m3u8"


def segment_name(stem: str, index: int) -> str:
    return f"{stem}_{index:05d}.ts"


def _segments_of(folder: Path, stem: str) -> list[Path]:
    pattern = re.compile(rf"^{re.escape(stem)}_\d{{5,}}\.ts$")
    try:
        return sorted(folder / n for n in os.listdir(folder) if pattern.match(n))
    except OSError:
        return []


def check_hls_output(path: Path, codec: str, *, overwrite: bool) -> None:
    """Before any work: the encoder is one HLS carries, and (without ``overwrite``) no segment of an
    earlier output of that name is there (the playlist itself: :func:`~.sinks.check_output_path`)."""
    if codec not in HLS_CODECS:
        raise OutputError(
            f"HLS segments ({path.name}) carry H.264 or H.265, not {codec}", "leave --codec out, or pass libx265"
        )
    if "%" in str(path.resolve()):  # FFmpeg's HLS muxer reads % in its file names as a pattern
        raise OutputError(f"an HLS output's path cannot hold '%' ({path})", "choose a name and folder without '%'")
    taken = _segments_of(path.parent if str(path.parent) else Path("."), path.stem)
    if taken and not overwrite:
        raise OutputExistsError(
            f"segments of an earlier HLS output are in {path.parent} ({taken[0].name} ...)",
            "pass --overwrite to replace them, or write another name",
        )


class HlsOutput:
    """Where an HLS output's files go while it is written, and publishing them."""

    def __init__(self, path: Path, *, live: bool, overwrite: bool) -> None:
        self.path = path
        self.live = live
        self.overwrite = overwrite
        folder = path.parent if str(path.parent) else Path(".")
        #: where FFmpeg writes: the output's folder (live), else a hidden temporary folder beside it
        self.folder = folder if live else temp_name(path)
        if not live:
            self.folder.mkdir()
        self.playlist = self.folder / path.name

    def open(self) -> OutputContainer:
        options = {
            "hls_time": str(SEGMENT_SECONDS),
            "hls_list_size": "0",  # every segment in the playlist
            "hls_playlist_type": "event" if self.live else "vod",
            "hls_flags": "temp_file+independent_segments",
            "hls_segment_filename": str(self.folder / self.path.stem) + "_%05d.ts",
        }
        try:
            return av.open(str(self.playlist), mode="w", format="hls", options=options)
        except (av.error.FFmpegError, OSError) as e:
            self.discard()
            raise OutputError(
                f"cannot write {self.path}: {getattr(e, 'strerror', None) or e}", "check the folder is writable"
            ) from None

    def publish(self, *, partial: bool) -> Path:
        """After the container is closed: the segments and then the playlist under their final
        names (``STEM.partial.m3u8`` and its own segments when ``partial``). Returns the playlist."""
        if self.live:
            return self.path
        text = self.playlist.read_text()
        names = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        folder = self.path.parent if str(self.path.parent) else Path(".")
        stem = self._free_stem(folder) if partial else self.path.stem
        replace = self.overwrite and not partial
        renamed = {}
        try:
            for i, name in enumerate(names):
                final = segment_name(stem, i)
                fsync_file(self.folder / name)
                publish(self.folder / name, folder / final, replace=replace)
                renamed[name] = final
            body = "".join(
                (renamed.get(ln.strip(), ln.strip()) if ln.strip() and not ln.startswith("#") else ln) + "\n"
                for ln in text.splitlines()
            )
            listing = self.folder / f"{stem}{EXTENSION}.new"
            listing.write_text(body)
            fsync_file(listing)
            final_list = folder / f"{stem}{EXTENSION}"
            publish(listing, final_list, replace=replace)
        except FileExistsError as e:
            raise OutputExistsError(
                f"{e.filename2 or e.filename or self.path} appeared while this run was writing {self.path} and was "
                "left as it is",
                "pass --overwrite to let a run replace an existing output",
            ) from None
        except OSError as e:
            raise OutputError(f"cannot move the finished HLS output to {folder}: {e.strerror or e}") from None
        finally:
            self.discard()
        if replace:  # an earlier, longer output's segments past this one's: no playlist names them now
            for old in _segments_of(folder, stem)[len(names) :]:
                with contextlib.suppress(OSError):
                    old.unlink()
        return final_list

    def _free_stem(self, folder: Path) -> str:
        """``STEM.partial``, or ``STEM.partial.N``: a name no playlist or segment uses yet."""
        n = 1
        while True:
            stem = f"{self.path.stem}.partial" + (f".{n}" if n > 1 else "")
            if not (folder / f"{stem}{EXTENSION}").exists() and not _segments_of(folder, stem):
                return stem
            n += 1

    def discard(self) -> None:
        """Remove the temporary folder (a file input's output): nothing of a failed run stays."""
        if not self.live:
            shutil.rmtree(self.folder, ignore_errors=True)
