"""What a run chooses for itself before the first frame: the batch (``--batch auto``), the
encoder's threads and, with ``--preset auto``, the slowest x264/x265 preset that keeps up
with the model: :func:`plan_run`, whose :class:`RunPlan` the start line states.

**Batch.** ``auto`` is the batch ``streamdeblur bench`` found fastest end to end for the
backend, its device and the frame size (:data:`_CPU_BATCH`, with the figures it comes from):
on this project's 2-core CPU PyTorch was fastest at batch 1 (about 2x), OpenVINO at batch 1
for 640x360 and 4 for 1280x720, ONNX Runtime at 4. On CUDA batch 4 is kept until a GPU run
of ``scripts/gpu_session.sh check`` (batch 1/4/8) measures it.

**Encoder threads.** With the model on a GPU the CPU is the encoder's: x264 picks its own
count (``0``: 1.5 threads per core). With the model on the CPU both compete for the same
cores, and extra encoder threads only take time from inference: the encoder gets one
thread per four cores (at least one) there.

**--preset auto.** The model's rate is measured on the run's own frame size (one warm-up
call, then the faster of two timed batches), then the encoder's on synthetic frames of that size (a
textured pan with noise, harder than most footage) for a few presets, by bisection over
x264's list, fastest first. A preset *keeps up* when:

* the model runs on a GPU (the encoder has the CPU to itself): it encodes at least
  :data:`GPU_HEADROOM` times the model's rate;
* the model runs on the CPU (they share the cores): it encodes at least
  :data:`CPU_SHARE` times the model's rate, i.e. it costs at most a tenth of a frame's
  inference time.

The slowest preset that keeps up is used (up to ``veryslow``; ``placebo`` is never
chosen); if none does, ``ultrafast``, and the plan says the encoder is the bottleneck.
A calibration is remembered per backend, codec, size, batch and threads for the life of
the process (a worker deblurring many files measures once).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .video.containers import AUTO_PRESET, DEFAULT_PRESET, X26X_PRESETS, quality_label

if TYPE_CHECKING:
    import numpy as np

    from .api import RunOptions
    from .backends.base import Backend

#: --batch auto on the CPU per backend: (batch up to _LARGE pixels, batch above), from the at-rest
#: `streamdeblur bench` table in docs/BENCHMARKS.md (end-to-end FPS, 2-core EPYC): PyTorch batch 1
#: 4.32 vs 2.34 fps at 640x360 and 0.76 vs 0.36 at 1280x720; OpenVINO 12.04 vs 9.50 and 3.27 vs 4.16;
#: ONNX Runtime 5.07 vs 5.13 and 1.05 vs 1.48
_CPU_BATCH = {"torch": (1, 1), "torch-compile": (1, 1), "openvino": (1, 4), "onnxruntime": (4, 4)}
_LARGE = 960 * 540  # between 640x360 and 1280x720, the two sizes measured: the size the start line names
#: --batch auto on CUDA: not measured yet (no GPU has been lent); scripts/gpu_session.sh times 1/4/8
CUDA_BATCH = 4
#: --preset auto: the presets it chooses among, fastest first (placebo is never worth it)
AUTO_PRESETS = tuple(p for p in X26X_PRESETS if p != "placebo")
#: model on a GPU: a preset keeps up when it encodes this many times the model's rate
GPU_HEADROOM = 1.25
#: model on the CPU: a preset keeps up when it encodes this many times the model's rate
CPU_SHARE = 10.0
#: frames encoded per calibrated preset (after _CAL_WARM warm-up frames)
_CAL_FRAMES = 10
_CAL_WARM = 2


@dataclass(frozen=True)
class EncoderPlan:
    """The encoder's settings and why they were chosen."""

    preset: str | None  # None: the codec's default (or it takes none)
    threads: int | None  # 0: the encoder's own count; None: FFmpeg's default
    reason: str = ""
    model_fps: float | None = None  # measured for --preset auto
    encode_fps: dict[str, float] | None = None  # preset -> measured encode FPS (--preset auto)
    seconds: float = 0.0  # the calibration's time
    low_latency: bool = False  # tuned for zero latency: a live input sent to a stream URL

    def describe(self, codec: str, quality: str = "") -> str:
        preset = f" preset {self.preset}" if self.preset else ""
        if self.low_latency:
            preset += " tune zerolatency (live in, stream out)"
        n = self.threads
        threads = "" if n is None else f", {'auto' if n == 0 else n} thread{'' if n == 1 else 's'}"
        why = f" ({self.reason})" if self.reason else ""
        return f"{codec}{preset}{threads}{f', {quality}' if quality else ''}{why}"


@dataclass(frozen=True)
class RunPlan:
    """What the start line states: the batch and the encoder, each with its reason."""

    batch: int
    batch_reason: str
    codec: str
    encoder: EncoderPlan
    #: the output's quality, as the sink sets it (``containers.quality_label``): "crf 18", "q 2", "6 Mb/s"
    quality: str = ""

    def describe(self) -> str:
        return f"batch {self.batch}{f' ({self.batch_reason})' if self.batch_reason else ''}; " + (
            f"encoder {self.encoder.describe(self.codec, self.quality)}"
        )


def plan_run(options: RunOptions, backend: Backend, width: int, height: int, codec: str) -> RunPlan:
    """The batch and the encoder settings of one run of ``options`` on the open ``backend``."""
    batch, why = resolve_batch(options.batch, backend.name, backend.device, width, height)
    encoder = plan_encoder(codec, options.preset, options.encoder_threads, backend, width, height, batch)
    quality = quality_label(codec, options.crf, options.bitrate)
    return RunPlan(batch=batch, batch_reason=why, codec=codec, encoder=encoder, quality=quality)


def resolve_batch(requested: int | None, backend: str, device: str, width: int, height: int) -> tuple[int, str]:
    """``--batch N`` as given; ``auto`` (None): what ``bench`` found fastest for the backend, device and size."""
    if requested is not None:
        return requested, ""
    if device.startswith("cuda"):
        return CUDA_BATCH, "auto: the CUDA default until a GPU bench measures it"
    small, large = _CPU_BATCH.get(backend, (1, 1))
    big = width * height > _LARGE
    size = "above" if big else "up to"
    return (large if big else small), f"auto: fastest for {backend} on the CPU in bench, {size} 960x540"


def encoder_threads(requested: int | None, device: str) -> int:
    """``--encoder-threads N`` as given; else 0 (x264's own count) with the model on a GPU,
    one per four cores (at least one) with the model on the CPU."""
    if requested is not None:
        return requested
    if device.startswith("cuda"):
        return 0
    return max(1, (os.cpu_count() or 1) // 4)


_CALIBRATIONS: dict[tuple, EncoderPlan] = {}


def plan_encoder(
    codec: str,
    preset: str | None,
    threads: int | None,
    backend: Backend,
    width: int,
    height: int,
    batch: int,
) -> EncoderPlan:
    """The encoder's preset and threads for a run (``preset`` "auto": calibrated, see the module)."""
    n = encoder_threads(threads, backend.device)
    if preset != AUTO_PRESET:
        default = DEFAULT_PRESET if codec in ("libx264", "libx264rgb", "libx265") else None
        return EncoderPlan(preset=preset or default, threads=n)
    key = (id(backend), backend.name, backend.device, backend.precision, codec, width, height, batch, n)
    if key not in _CALIBRATIONS:
        _CALIBRATIONS[key] = _calibrate(codec, n, backend, width, height, batch)
    return _CALIBRATIONS[key]


def choose_preset(need_fps: float, encode_fps: Callable[[str], float]) -> tuple[str, dict[str, float], bool]:
    """The slowest of :data:`AUTO_PRESETS` whose ``encode_fps(preset)`` reaches ``need_fps``, by bisection
    (a slower preset is never faster); returns (preset, the figures measured, whether any kept up)."""
    measured: dict[str, float] = {}

    def keeps_up(i: int) -> bool:
        p = AUTO_PRESETS[i]
        if p not in measured:
            measured[p] = encode_fps(p)
        return measured[p] >= need_fps

    lo, hi = 0, len(AUTO_PRESETS) - 1
    if not keeps_up(lo):
        return AUTO_PRESETS[0], measured, False
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if keeps_up(mid):
            lo = mid
        else:
            hi = mid - 1
    return AUTO_PRESETS[lo], measured, True


def _calibrate(codec: str, threads: int, backend: Backend, width: int, height: int, batch: int) -> EncoderPlan:
    t0 = time.perf_counter()
    model_fps = measure_model(backend, width, height, batch)
    on_gpu = backend.device.startswith("cuda")
    need = model_fps * (GPU_HEADROOM if on_gpu else CPU_SHARE)
    from .bench.frames import synthetic_frames

    frames = synthetic_frames(width, height, _CAL_WARM + _CAL_FRAMES, seed=2)  # made once, encoded per preset
    with tempfile.TemporaryDirectory(prefix="streamdeblur-preset-") as tmp:
        chosen, measured, any_kept = choose_preset(need, lambda p: measure_preset(codec, p, threads, frames, Path(tmp)))
    verdict = "the slowest that keeps up" if any_kept else "none keeps up: the encoder is the bottleneck"
    rule = f">= {GPU_HEADROOM:g}x" if on_gpu else f">= {CPU_SHARE:g}x (the CPU is shared)"
    figures = ", ".join(f"{p} {measured[p]:.0f}" for p in AUTO_PRESETS if p in measured)
    reason = (
        f"--preset auto: model {model_fps:.1f} fps at {width}x{height}; encode fps {figures}; "
        f"needs {rule} the model's rate; {verdict}"
    )
    return EncoderPlan(
        preset=chosen, threads=threads, reason=reason, model_fps=model_fps, encode_fps=measured,
        seconds=time.perf_counter() - t0,
    )  # fmt: skip


def measure_model(backend: Backend, width: int, height: int, batch: int) -> float:
    """The backend's frames per second on ``batch`` frames of ``width`` x ``height``: the faster of two timed
    calls after a warm-up call (slower repeats are other processes interfering, as in ``bench``)."""
    import numpy as np

    from .bench.frames import synthetic_frames

    frames = np.stack(synthetic_frames(width, height, batch, seed=1))
    backend.process(frames)  # compile / allocate for this size
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        backend.process(frames)
        best = min(best, time.perf_counter() - t0)
    return batch / max(best, 1e-9)


def measure_preset(codec: str, preset: str, threads: int, frames: list[np.ndarray], workdir: Path) -> float:
    """Encode FPS of ``preset`` on ``frames`` after :data:`_CAL_WARM` warm-up ones (streamdeblur.bench.measure)."""
    from .bench.measure import bench_source_info, measure_encode

    height, width = frames[0].shape[:2]
    info = bench_source_info(width, height, Fraction(25), len(frames))
    return measure_encode(frames, info, workdir, codec, _CAL_WARM, preset=preset, threads=threads)
