"""``run --progress DEST``: the run's progress for another program, in FFmpeg's ``-progress`` format.

Blocks of ``key=value`` lines, one every half second (FFmpeg's ``-stats_period``) and one at the
end, each ending with ``progress=continue`` or ``progress=end``, so the parsers written for FFmpeg
(GUIs, job queues, scripts) read a run as they read ``ffmpeg -progress``::

    frame=120
    fps=24.51
    out_time_us=3966667
    out_time_ms=3966667
    out_time=00:00:03.966667
    dup_frames=0
    drop_frames=0
    speed=0.817x
    progress=continue

``out_time_ms`` is in microseconds, as FFmpeg's is. ``DEST``: a file (replaced), ``-`` or
``pipe:1`` (stdout), ``pipe:2`` (stderr).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from .errors import InputError, OutputError
from .pipeline import Progress

__all__ = ["ProgressFile", "check_progress_destination", "to_stdout"]

#: seconds between blocks (FFmpeg's -stats_period default)
PERIOD = 0.5
_STDOUT = ("-", "pipe:1", "pipe:")
_STDERR = ("pipe:2",)


def to_stdout(dest: str | None) -> bool:
    """Whether ``--progress dest`` writes to stdout."""
    return dest in _STDOUT


def check_progress_destination(dest: str, output: str, inputs: Sequence[str] = ()) -> None:
    """Refuse a destination that cannot take the report, before any work is done: among them the run's
    input or output (the report would replace it) and an existing file that is no progress report."""
    if dest in _STDOUT and output == "-":
        raise InputError(
            "--progress - writes to stdout, which carries the video with -o -",
            "give --progress a file, or pipe:2 (stderr)",
        )
    if dest in _STDOUT + _STDERR:
        return
    if "://" in dest:
        raise InputError(f"--progress {dest}: a file, - (stdout) or pipe:2 (stderr); not a URL")
    folder = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(folder):
        raise OutputError(f"--progress {dest}: folder {folder} does not exist", "create it, or name another file")
    if os.path.isdir(dest):
        raise OutputError(f"--progress {dest} is a folder", "name a file for the progress report")
    from .fileio import check_writable

    others = [p for p in (*inputs, output) if p != "-" and "://" not in p]
    check_writable(dest, "--progress", "progress.txt", kind="progress", not_these=others)


class ProgressFile:
    """An ``on_progress`` callback writing FFmpeg ``-progress`` blocks to ``dest``; :meth:`close`
    writes the last block (``progress=end``)."""

    def __init__(self, dest: str) -> None:
        self._own = dest not in _STDOUT + _STDERR
        self._out: TextIO
        if dest in _STDOUT:
            self._out = sys.stdout
        elif dest in _STDERR:
            self._out = sys.stderr
        else:
            try:
                self._out = open(dest, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
            except OSError as e:
                raise OutputError(f"--progress {dest} cannot be written ({e.strerror})") from None
        self._last_block = 0.0
        self._latest: Progress | None = None
        self._closed = False

    def __call__(self, p: Progress) -> None:
        self._latest = p
        now = time.monotonic()
        if now - self._last_block >= PERIOD:
            self._last_block = now
            self._write(p, "continue")

    def close(self) -> None:
        """The final block, then the file closed (stdout and stderr stay open)."""
        if self._closed:
            return
        self._closed = True
        self._write(self._latest or Progress(0, None, 0.0, 0.0, 0.0), "end")
        if self._own:
            self._out.close()

    def _write(self, p: Progress, state: str) -> None:
        us = round((p.media_time or 0.0) * 1_000_000)
        hours, rest = divmod(us, 3_600_000_000)
        minutes, rest = divmod(rest, 60_000_000)
        seconds, micro = divmod(rest, 1_000_000)
        speed = f"{p.media_time / p.elapsed:.3g}x" if p.media_time is not None and p.elapsed > 0 else "N/A"
        block = (
            f"frame={p.frames_done}\nfps={p.fps:.2f}\nout_time_us={us}\nout_time_ms={us}\n"
            f"out_time={hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}\ndup_frames=0\ndrop_frames=0\n"
            f"speed={speed}\nprogress={state}\n"
        )
        try:
            self._out.write(block)
            self._out.flush()
        except (OSError, ValueError):  # a reader that went away must not fail the run
            pass
