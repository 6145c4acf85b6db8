"""Helpers of the batch and cluster tests: real clips, single-run references, comparisons."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from videofiles import packets, random_frames, read_video, write_video

from streamdeblur import deblur_video
from streamdeblur.api import RunOptions

#: the options every run of these tests uses: the tiny identity generator, exact output
OPTS = ("--backend", "torch", "--codec", "ffv1", "--batch", "2")


def vfr_pts(n: int) -> list[int]:
    """Variable frame rate, in ms: every third step is longer."""
    out, t = [], 0
    for i in range(n):
        out.append(t)
        t += 40 if i % 3 else 67
    return out


def make_clips(folder: Path, specs: dict[str, int], *, seed: int = 0) -> list[Path]:
    """name -> frame count; .mkv: ffv1 with VFR pts, audio, subtitles, a keyframe every 8 frames;
    .mp4 and .ts: x264 with B-frames and audio."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (name, n) in enumerate(specs.items()):
        p = folder / name
        frames = random_frames(n, 64, 48, seed=seed + k)
        if p.suffix == ".mp4":
            write_video(p, frames, codec="libx264", pix_fmt="yuv420p", audio=True, options={"g": "10", "bf": "2"})
        elif p.suffix == ".ts":  # a broadcast recording: x264 with B-frames on MPEG-TS's 90 kHz clock
            write_video(
                p, frames, codec="libx264", pix_fmt="yuv420p", audio=True, time_base=Fraction(1, 90000),
                options={"g": "10", "bf": "2", "sc_threshold": "0"},
            )  # fmt: skip
        else:
            write_video(p, frames, pts=vfr_pts(n), audio=True, subtitles=True, options={"g": "8"})
        paths.append(p)
    return paths


def not_a_video(path: Path) -> Path:
    path.write_text("these are not the frames you are looking for\n" * 50)
    return path


def truncated_mp4(path: Path) -> Path:
    full = path.with_name("full-" + path.name)
    write_video(full, random_frames(20, 64, 48), codec="libx264", pix_fmt="yuv420p")
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    full.unlink()
    return path


def single_run(src: Path, out: Path, weights: Path, codec: str = "ffv1") -> Path:
    deblur_video(src, out, RunOptions(weights=str(weights), backend="torch", codec=codec, batch=2))
    return out


def assert_same_video(got: Path, want: Path) -> None:
    """Every frame, its pts and time base, the frame rate players read, and the audio and subtitle packets,
    equal (a joined Matroska said 12800 fps: its encoder's clock)."""
    with av.open(str(got)) as g, av.open(str(want)) as w:
        assert g.streams.video[0].average_rate == w.streams.video[0].average_rate
    a, b = read_video(got), read_video(want)
    assert len(a) == len(b) > 0
    assert [(p, tb) for p, tb, _ in a] == [(p, tb) for p, tb, _ in b]
    assert all(np.array_equal(x, y) for (_, _, x), (_, _, y) in zip(a, b))
    for kind in ("audio", "subtitle"):
        assert packets(got, kind) == packets(want, kind), kind


def load_report(path: Path) -> dict:
    rep = json.loads(path.read_text())
    rep["by_name"] = {Path(i["input"]).name: i for i in rep["items"]}
    return rep
