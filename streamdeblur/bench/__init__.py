"""Stage-by-stage and end-to-end speed measurement (``streamdeblur bench``): :func:`run_bench`.

Published deblurring speeds are rarely reproducible: unsynchronised GPU timing,
unstated machines, warm-up counted or not. This package measures every stage of the
runtime on its own and then the real :class:`~streamdeblur.pipeline.Pipeline`, and
returns plain data (dataclasses -> ``as_dict()``); the CLI prints it. Its modules:
``config`` (what to measure), ``frames`` (synthetic or decoded input), ``memory`` (peak
host memory), ``measure`` (timing each stage and the pipeline), ``report`` (results,
side-by-side lines, the chart); the machine header comes from :mod:`streamdeblur.machine`.

How each figure is taken (also in docs/BENCHMARKS.md):

* **decode** (INPUT only): PyAV decoding to RGB at the input's own size, timed around
  the decoder alone (resizing to the benchmark resolution is the bench's own work and
  is not counted). **source** is the stage that feeds the pipeline: the decoder for a
  file, an in-memory list for ``--synthetic``.
* **pre / infer / post**: ``Backend.to_device``, ``infer_tiled`` and ``from_device`` on
  batches, after ``warmup`` frames (at least two batches) of warm-up at the same shape;
  FPS = batch size / the fastest batch time: a stage's capacity when it has the machine
  (``timeit``'s rationale: slower repeats are other processes interfering). The median
  is reported too (``fps_median``). The end-to-end figure is a plain total, so on a
  busy machine efficiency errs low, not high. On CUDA, pre and post
  are wall clock with ``torch.cuda.synchronize()`` on both sides and inference is
  timed with CUDA events.
* **encode**: the input frames through the ``FileSink`` with ``streamdeblur run``'s
  default codec for .mp4 (libx264, its default CRF and preset) into a temporary file:
  measured frames / time from the last warm-up frame's write to the end of the
  encoder's final flush.
* **end to end**: the real Pipeline (source -> backend.process -> FileSink) over
  warm-up + measured frames; FPS is measured frames / time from the last warm-up
  frame's write to the end of the sink's close (the encoder's flush included), so the
  pipeline is already full when timing starts. Latency is, per measured frame, the time
  from leaving the source to ``FileSink.write`` returning (handed to the encoder): a
  file source reads ahead as far as the bounded queues allow, so it includes queueing.
* **efficiency** = end-to-end FPS / the slowest single stage's FPS (source, the
  inference thread's pre + infer + post, encode): near 1 means the stages overlap.
* **host memory**: the process's peak RSS during the measurement, from ``VmHWM`` in
  /proc/self/status after resetting it through /proc/self/clear_refs (Linux); where
  that cannot be reset, a thread sampling ``VmRSS`` every 5 ms; elsewhere
  ``ru_maxrss`` (peak over the process's life). **GPU memory**:
  ``torch.cuda.max_memory_allocated`` (PyTorch's allocator only), null on the CPU.
* **inference busy share** (JSON ``infer_busy_share``): the end-to-end run's inference
  thread working time over the pipeline's wall time; unlike efficiency it does not
  depend on other jobs' load changing between the stage runs and the pipeline run.
"""

from __future__ import annotations

import contextlib
import datetime
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelNotFoundError, WeightsError
from ..machine import machine_info
from ..pipeline import Notify
from .config import DEFAULT_RESOLUTIONS, BenchConfig
from .frames import decode_frames, synthetic_frames
from .measure import (
    bench_source_info,
    fps,
    in_thread,
    measure_backend_stages,
    measure_encode,
    measure_pipeline,
    stamped,
)
from .memory import HostPeak
from .report import BenchReport, BenchResult, StageFPS

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..models import Generator
    from ..video.sources import SourceInfo

SYNTHETIC_RATE = Fraction(25)


def _generator(model: str, weights: str | None, seed: int) -> tuple[Generator, str]:
    """A fresh generator and where its weights came from (a path or "random init")."""
    import torch

    from ..models import build_model, load_generator, shipped_weights

    if weights is not None:
        g = load_generator(weights)
        return g, str(g.source)
    if shipped_weights(model).exists():
        g = load_generator(model)
        return g, str(g.source)
    # speed does not depend on the weights; a fixed seed keeps ONNX Runtime's export cache warm
    torch.manual_seed(seed)
    return build_model(model).eval(), "random init"


def _resolve_models(config: BenchConfig) -> tuple[str, ...]:
    from ..models import DEFAULT_MODEL, MODELS, load_generator

    if config.weights is not None:
        arch = load_generator(config.weights).arch
        if config.models and set(config.models) != {arch}:
            raise WeightsError(
                f"--weights {config.weights} is a {arch!r} generator, not {', '.join(config.models)}",
                "drop --model, or pass weights of that model",
            )
        return (arch,)
    models = config.models or (DEFAULT_MODEL,)
    for m in models:
        if m not in MODELS:
            raise ModelNotFoundError(f"unknown model {m!r}", f"choose one of: {', '.join(sorted(MODELS))}")
    return models


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``n`` for the run (``--threads``), then restored."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _at_depth(info: SourceInfo, depth: int | None) -> SourceInfo:
    """The encoder's view of ``depth``-bit frames: 16-bit frames of an 8-bit (or synthetic) source are
    encoded as 10-bit 4:2:0, as a phone's HDR video is; 8-bit frames of a deeper one as 8-bit 4:2:0."""
    from dataclasses import replace

    if depth == 16 and info.bit_depth <= 8:
        return replace(info, pix_fmt="yuv420p10le", bit_depth=10)
    if depth == 8 and info.bit_depth > 8:
        return replace(info, pix_fmt="yuv420p", bit_depth=8)
    return info


def _describe_input(config: BenchConfig) -> tuple[SourceInfo | None, dict[str, Any], tuple[tuple[int, int], ...]]:
    """(the input's SourceInfo or None, the report's input entry, the resolutions to measure)."""
    if config.input is not None:
        from ..video.sources import open_source

        with open_source(config.input) as s:
            i = s.info
        desc = {
            "kind": "file",
            "spec": config.input,
            "width": i.width,
            "height": i.height,
            "codec": i.codec,
            "fps": i.fps,
            "frames": i.expected_frames,
        }
        return i, desc, config.resolutions
    w, h = config.synthetic or config.resolutions[0]
    desc = {
        "kind": "synthetic",
        "spec": f"{w}x{h}",
        "width": w,
        "height": h,
        "codec": None,
        "fps": float(SYNTHETIC_RATE),
        "frames": None,
    }
    if config.synthetic is not None and config.resolutions == DEFAULT_RESOLUTIONS:
        return None, desc, (config.synthetic,)  # --synthetic WxH alone measures that size
    return None, desc, config.resolutions


def _prepare(
    config: BenchConfig, size: tuple[int, int], total: int, warm: int
) -> tuple[list[np.ndarray], float | None]:
    """The frames of one size, and the decoder's FPS over the measured ones (None: synthetic)."""
    if config.input is None:
        return synthetic_frames(*size, total, config.seed, config.depth), None
    pairs = list(decode_frames(config.input, total, size, config.depth))
    timed = pairs[warm:] or pairs
    return [p[0] for p in pairs], fps(len(timed), sum(p[1] for p in timed))


def _measure(
    config: BenchConfig, backend: Backend, images: list[np.ndarray], info: SourceInfo, workdir: Path,
    batch: int, warm: int, decode_fps: float | None, host: HostPeak,
) -> dict[str, Any]:  # fmt: skip
    """Every figure of one backend on one size and batch (BenchResult's measured fields)."""
    import torch

    # peaks from here: the loaded model counts, a one-off ONNX export does not
    host.start()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    if decode_fps is not None:
        source_fps = decode_fps
    else:
        t0 = time.perf_counter()
        n = sum(1 for _ in stamped(iter(images), info.rate))
        source_fps = fps(n, time.perf_counter() - t0)
    (pre, inf, post), (pre_m, inf_m, post_m) = in_thread(measure_backend_stages, backend, images, batch, warm // batch)
    stage = 1.0 / (1.0 / pre + 1.0 / inf + 1.0 / post)
    enc = measure_encode(images, info, workdir, config.codec, warm)
    if config.input is not None:
        feed: Iterator[np.ndarray] = (
            img for img, _ in decode_frames(config.input, info.frame_count, (info.width, info.height), config.depth)
        )
    else:
        feed = iter(images)
    e2e, latency, busy = measure_pipeline(backend, feed, info, workdir, batch, warm, config.codec)
    gpu = torch.cuda.max_memory_allocated() / 2**20 if backend.device == "cuda" else None
    stages = {"source": source_fps, "inference": stage, "encode": enc}
    slowest = min(stages, key=lambda k: stages[k])
    return dict(
        timing="CUDA events" if backend.device == "cuda" else "perf_counter",
        fps=StageFPS(
            decode=decode_fps, source=source_fps, pre=pre, infer=inf, post=post, inference_stage=stage, encode=enc,
            end_to_end=e2e,
        ),
        fps_median={
            "pre": pre_m, "infer": inf_m, "post": post_m,
            "inference_stage": 1.0 / (1.0 / pre_m + 1.0 / inf_m + 1.0 / post_m),
        },
        latency_ms=latency, efficiency=e2e / stages[slowest], slowest_stage=slowest,
        host_peak_mib=host.stop(), gpu_peak_mib=gpu, infer_busy_share=busy,
    )  # fmt: skip


def _new_report(
    config: BenchConfig,
    models: tuple[str, ...],
    resolutions: tuple[tuple[int, int], ...],
    input_desc: dict[str, Any],
    host: HostPeak,
) -> BenchReport:
    """The report's header: the machine, what was asked, the input, how each figure is taken."""
    return BenchReport(
        machine=machine_info(),
        config={
            "backends": list(config.backends), "device": config.device, "models": list(models),
            "weights": config.weights,
            "resolutions": [f"{w}x{h}" for w, h in resolutions], "batches": list(config.batches),
            "frames": config.frames, "warmup": config.warmup, "codec": config.codec or "libx264 (the .mp4 default)",
            "precision": config.precision, "max_tile": config.max_tile, "threads": config.threads,
            "depth": config.depth, "openvino_precision": config.openvino_precision,
            "openvino_hint": config.openvino_hint,
        },
        input=input_desc,
        method={
            "host_memory": host.method,
            "gpu_memory": "torch.cuda.max_memory_allocated (PyTorch allocator only)",
            "inference_timing": (
                "CUDA events after torch.cuda.synchronize() on CUDA, time.perf_counter on the CPU"
                " (see each result's 'timing')"
            ),
            "stage_fps": "batch / fastest batch time after warm-up (fps_median: batch / median batch time)",
            "end_to_end": "steady state after the warm-up frames; latency from leaving the source to written",
        },
        started=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )  # fmt: skip


def run_bench(config: BenchConfig, on_progress: Notify | None = None) -> BenchReport:
    """Measure every backend x model x resolution x batch of ``config``; ``on_progress`` gets
    a line as each case starts and ends."""
    from ..backends import choose_backend, create_backend

    say = on_progress or (lambda msg: None)
    models = _resolve_models(config)
    for b in config.backends:  # refuse an impossible backend before minutes of work
        choose_backend(b, config.device)
    src_info, input_desc, resolutions = _describe_input(config)
    rate = (src_info.rate if src_info is not None and src_info.rate else None) or SYNTHETIC_RATE
    host = HostPeak()
    options = config.backend_options
    order: list[tuple[tuple[int, int, int, int], BenchResult]] = []  # sorted to backend x model x size x batch
    t_all = time.perf_counter()
    with _torch_threads(config.threads), tempfile.TemporaryDirectory(prefix="streamdeblur-bench-") as tmp:
        report = _new_report(config, models, resolutions, input_desc, host)
        for ri, (w, h) in enumerate(resolutions):
            for bi, batch in enumerate(config.batches):
                warm = -(-config.warmup // batch) * batch  # whole batches of warm-up
                measured = -(-config.frames // batch) * batch
                total = warm + measured
                say(f"{w}x{h} batch {batch}: preparing {total} frames")
                images, decode_fps = _prepare(config, (w, h), total, warm)
                info = _at_depth(bench_source_info(w, h, rate, total, like=src_info), config.depth)
                for gi, model_name in enumerate(models):
                    for ki, bname in enumerate(config.backends):
                        generator, wsrc = _generator(model_name, config.weights, config.seed)
                        say(f"{w}x{h} batch {batch}: {model_name} on {bname} ...")
                        backend = create_backend(bname, generator, config.device, options)
                        choice = backend.choice_reason
                        if bname == "auto":
                            say(f"{w}x{h} batch {batch}: {choice}")
                        try:
                            figures = _measure(config, backend, images, info, Path(tmp), batch, warm, decode_fps, host)
                        finally:
                            backend.close()
                        result = BenchResult(
                            backend=backend.name, device=backend.device, precision=backend.precision,
                            model=model_name, weights=wsrc, width=w, height=h, batch=batch, frames=measured,
                            warmup=warm, requested=bname, choice=choice, max_tile=config.max_tile,
                            hint=getattr(backend, "hint", None), **figures,
                        )  # fmt: skip
                        e2e = result.fps.end_to_end
                        say(f"{w}x{h} batch {batch}: {model_name} on {backend.name}: {e2e:.2f} fps end to end")
                        order.append(((ki, gi, ri, bi), result))
                del images
    report.results = [r for _, r in sorted(order, key=lambda kv: kv[0])]
    report.seconds = time.perf_counter() - t_all
    return report
