"""Timing one benchmark case: each stage alone (pre / infer / post on batches, the
encoder) and the real :class:`~streamdeblur.pipeline.Pipeline` end to end, with CUDA
synchronised and warm-up excluded (the method: :mod:`streamdeblur.bench`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ..video.frame import Frame
from ..video.sources import SourceInfo

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..video.sinks import FileSink

T = TypeVar("T")


class _Timer:
    """Wall clock with device synchronisation on CUDA; CUDA events for ``events=True``."""

    def __init__(self, device: str) -> None:
        import torch

        self.cuda = device == "cuda" and torch.cuda.is_available()
        self.torch = torch

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def time(self, fn: Callable[[], T], events: bool = False) -> tuple[T, float]:
        if self.cuda and events:
            start = self.torch.cuda.Event(enable_timing=True)
            end = self.torch.cuda.Event(enable_timing=True)
            self.sync()
            start.record()
            out = fn()
            end.record()
            end.synchronize()
            self.sync()
            return out, start.elapsed_time(end) / 1000.0
        self.sync()
        t0 = time.perf_counter()
        out = fn()
        self.sync()
        return out, time.perf_counter() - t0


def fps(frames: int, seconds: float) -> float:
    """Frames per second, finite even for a zero time (standard JSON has no Infinity)."""
    return frames / max(seconds, 1e-9)


def _batches(frames: list[np.ndarray], batch: int) -> list[np.ndarray]:
    return [np.stack(frames[i : i + batch]) for i in range(0, len(frames) - batch + 1, batch)]


def measure_backend_stages(
    backend: Backend, frames: list[np.ndarray], batch: int, warmup_batches: int
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(pre, infer, post) FPS of ``backend`` over ``frames`` in batches, after
    ``warmup_batches`` (at least two) warm-up calls: batch size / the fastest batch time
    (what the stage can do when it has the machine, as ``timeit`` reports; slower calls
    are other processes interfering), and the same from the median batch time."""
    import torch

    timer = _Timer(backend.device)
    stacks = _batches(frames, batch)
    times: list[tuple[float, float, float]] = []
    # at least two warm-up calls at this shape: PyTorch and ONNX Runtime set up kernels on the
    # first call or two (seconds on a small CPU), which is not the steady state being measured
    extra = max(0, 2 - warmup_batches)
    with torch.inference_mode():
        for i, stack in enumerate([stacks[0]] * extra + stacks):
            i -= extra
            x, dt_pre = timer.time(lambda s=stack: backend.to_device(s))
            y, dt_inf = timer.time(lambda t=x: backend.infer_tiled(t), events=True)
            out, dt_post = timer.time(lambda t=y, s=stack: backend.from_device(t, s.dtype.type))
            if out.shape != stack.shape:
                raise RuntimeError(f"backend {backend.name} returned {out.shape} for {stack.shape}")
            if i >= warmup_batches:
                times.append((dt_pre, dt_inf, dt_post))
    if not times:
        raise RuntimeError("no measured batches")
    arr = np.array(times)
    best, med = arr.min(axis=0), np.median(arr, axis=0)
    return tuple(fps(batch, float(t)) for t in best), tuple(fps(batch, float(t)) for t in med)  # type: ignore[return-value]


def in_thread(fn: Callable[..., T], *args: object) -> T:
    """Run ``fn`` in a fresh thread, as the pipeline runs inference: on a busy 2-core CPU,
    PyTorch called from the main thread was measured several times slower per call than
    from a worker thread (docs/BENCHMARKS.md), which would make the stage figures
    meaningless beside the pipeline's."""
    out: list[T] = []
    err: list[BaseException] = []

    def body() -> None:
        try:
            out.append(fn(*args))
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            err.append(e)

    t = threading.Thread(target=body, name="streamdeblur-bench-stage", daemon=True)
    t.start()
    t.join()
    if err:
        raise err[0]
    return out[0]


def bench_source_info(
    width: int, height: int, rate: Fraction, count: int, like: SourceInfo | None = None
) -> SourceInfo:
    """A SourceInfo for the bench's frames (the colour tags of ``like``, an input's info)."""
    tb = 1 / rate
    if like is not None:
        return replace(
            like,
            width=width,
            height=height,
            rate=rate,
            fps=float(rate),
            time_base=tb,
            frame_count=count,
            duration=float(count / rate),
            rotation=0,
        )
    return SourceInfo(
        spec="synthetic", width=width, height=height, fps=float(rate), rate=rate, time_base=tb, frame_count=count,
        duration=float(count / rate), pix_fmt="yuv420p", bit_depth=8, color_primaries=1, color_trc=1, colorspace=1,
        color_range=1, rotation=0, codec="rawvideo", container="synthetic", is_live=False,
    )  # fmt: skip


def measure_encode(
    frames: list[np.ndarray], info: SourceInfo, workdir: Path, codec: str | None, warmup: int,
    preset: str | None = None, threads: int | None = None,
) -> float:  # fmt: skip
    """Encode-only FPS through FileSink: the frames after ``warmup`` divided by the time
    from the last warm-up frame's write to the end of ``close()`` (the encoder's final
    flush included, as the end-to-end figure includes it). ``preset`` and ``threads``: the
    encoder's (None: `run`'s defaults)."""
    from ..video.sinks import FileSink

    tb = info.time_base
    sink = FileSink(workdir / "encode.mp4", info, codec=codec, preset=preset, threads=threads, overwrite=True)
    try:
        t0 = time.perf_counter()
        for i, img in enumerate(frames):
            if i == warmup:
                t0 = time.perf_counter()
            sink.write(Frame(i, i, tb, img))
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return fps(len(frames) - warmup, time.perf_counter() - t0)


class _StampSink:
    """Wraps a sink: records when each frame is written and how long after it left the source."""

    def __init__(self, inner: FileSink) -> None:
        self.inner = inner
        self.written: list[tuple[int, float, float]] = []  # (index, t_written, latency)

    def write(self, frame: Frame) -> None:
        self.inner.write(frame)
        t = time.perf_counter()
        self.written.append((frame.index, t, t - frame.captured_at))


def stamped(frames: Iterator[np.ndarray], rate: Fraction) -> Iterator[Frame]:
    """Frames as a source yields them, each stamped with the moment it left."""
    tb = 1 / rate
    for i, img in enumerate(frames):
        yield Frame(i, i, tb, img, captured_at=time.perf_counter())


def measure_pipeline(
    backend: Backend,
    images: Iterator[np.ndarray],
    info: SourceInfo,
    workdir: Path,
    batch: int,
    warm: int,
    codec: str | None,
) -> tuple[float, dict[str, float], float]:
    """End-to-end FPS (steady state after ``warm`` frames), latency percentiles (ms) and
    the inference thread's busy share (its working time over the pipeline's wall time)."""
    from ..pipeline import Pipeline
    from ..video.sinks import FileSink

    sink = FileSink(workdir / "pipeline.mp4", info, codec=codec, overwrite=True)
    stamp = _StampSink(sink)
    try:
        t_run = time.perf_counter()
        stats = Pipeline(stamped(images, info.rate), backend, stamp, batch=batch, total=info.frame_count).run()
        sink.close()  # the encoder's final flush is part of the work
        t_end = time.perf_counter()
    except BaseException:
        sink.abort()
        raise
    rows = stamp.written
    measured = rows[warm:]
    if not measured:
        raise RuntimeError("the pipeline wrote no measured frames")
    t_start = rows[warm - 1][1] if warm > 0 else t_run
    e2e = fps(len(measured), t_end - t_start)
    lat = np.array([r[2] for r in measured]) * 1000.0
    latency = {
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "mean": float(lat.mean()),
        "max": float(lat.max()),
    }
    busy = stats.stage_seconds.get("infer", 0.0) / max(stats.seconds, 1e-9)
    return e2e, latency, busy
