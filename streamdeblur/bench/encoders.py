"""``streamdeblur bench --encoders``: the encoder alone, per preset x thread count x frame size.

On a GPU without NVENC (H100, H200) the CPU encodes: at hundreds of frames per second the
encoder, not the model, can be the wall, and its preset and threads decide by how much. Each
figure is :func:`~streamdeblur.bench.measure.measure_encode` (the run's own ``FileSink``,
the encoder's final flush included) on the bench's synthetic frames (a textured pan with
noise and text: more work than most footage, so the figures err low). Threads ``0`` is the
encoder's own count (x264: 1.5 per core). ``run --preset auto`` uses the same measurement
(:mod:`streamdeblur.encoding`).
"""

from __future__ import annotations

import datetime
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..machine import machine_info
from .frames import synthetic_frames
from .measure import bench_source_info, measure_encode

DEFAULT_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


def parse_threads(text: str) -> tuple[int, ...]:
    """'1,2,auto' -> (1, 2, 0): thread counts, ``auto`` (or 0) being the encoder's own count."""
    out = []
    for p in (text or "").split(","):
        p = p.strip().lower()
        if not p:
            continue
        if p == "auto":
            out.append(0)
        elif p.isdigit() and int(p) <= 256:
            out.append(int(p))
        else:
            raise InputError(
                f"bad --encoder-threads value {p!r}", "write counts or auto, e.g. --encoder-threads 1,4,auto"
            )
    if not out:
        raise InputError("no --encoder-threads value given", "write e.g. --encoder-threads 1,4,auto")
    return tuple(dict.fromkeys(out))


def parse_presets(text: str, codec: str) -> tuple[str, ...]:
    """'veryfast,fast' -> the presets, each checked against the encoder."""
    from ..video.containers import check_preset

    presets = tuple(dict.fromkeys(p.strip() for p in (text or "").split(",") if p.strip()))
    if not presets:
        raise InputError("no --presets value given", "write e.g. --presets veryfast,fast,medium")
    for p in presets:
        if p == "auto":
            raise InputError("--presets auto is what `run --preset auto` chooses from these figures", "name presets")
        check_preset(codec, p)
    return presets


@dataclass
class EncoderRow:
    width: int
    height: int
    preset: str
    threads: int  # 0: the encoder's own count
    fps: float


@dataclass
class EncoderReport:
    machine: dict[str, Any]
    codec: str
    frames: int
    warmup: int
    rows: list[EncoderRow] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_encoder_bench(
    codec: str,
    resolutions: tuple[tuple[int, int], ...],
    presets: tuple[str, ...],
    threads: tuple[int, ...],
    frames: int,
    warmup: int,
    on_progress: Callable[[str], None] | None = None,
) -> EncoderReport:
    """Encode FPS for every size x preset x thread count (sizes outermost)."""
    say = on_progress or (lambda msg: None)
    report = EncoderReport(
        machine=machine_info(), codec=codec, frames=frames, warmup=warmup,
        started=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )  # fmt: skip
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="streamdeblur-encoders-") as tmp:
        for w, h in resolutions:
            images = synthetic_frames(w, h, warmup + frames)
            info = bench_source_info(w, h, Fraction(25), len(images))
            for preset in presets:
                for n in threads:
                    f = measure_encode(images, info, Path(tmp), codec, warmup, preset=preset, threads=n)
                    report.rows.append(EncoderRow(w, h, preset, n, f))
                    say(f"{w}x{h} {codec} {preset}, {n or 'auto'} threads: {f:.1f} fps")
            del images
    report.seconds = time.perf_counter() - t0
    return report


def encoder_table_lines(data: dict[str, Any]) -> list[str]:
    """One plain-text table per frame size: presets down, thread counts across (encode FPS)."""
    lines: list[str] = []
    sizes = list(dict.fromkeys((r["width"], r["height"]) for r in data["rows"]))
    threads = list(dict.fromkeys(r["threads"] for r in data["rows"]))
    heads = [f"{t or 'auto'} thr" for t in threads]
    for w, h in sizes:
        rows = [r for r in data["rows"] if (r["width"], r["height"]) == (w, h)]
        lines.append(f"{data['codec']} encode fps at {w}x{h}:")
        lines.append(f"  {'preset':<10}" + "".join(f"{x:>10}" for x in heads))
        for preset in dict.fromkeys(r["preset"] for r in rows):
            by = {r["threads"]: r["fps"] for r in rows if r["preset"] == preset}
            lines.append(f"  {preset:<10}" + "".join(f"{by[t]:>10.1f}" if t in by else f"{'-':>10}" for t in threads))
    return lines
