"""Stage-by-stage and end-to-end speed measurement (``streamdeblur bench``).

Published deblurring speeds are rarely reproducible: unsynchronised GPU timing,
unstated machines, warm-up counted or not. This module measures every stage of the
runtime on its own and then the real :class:`~streamdeblur.pipeline.Pipeline`, and
returns plain data (dataclasses -> ``as_dict()``); the CLI prints it.

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
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, WeightsError
from .video.frame import Frame

log = logging.getLogger(__name__)

DEFAULT_RESOLUTIONS: tuple[tuple[int, int], ...] = ((640, 360), (1280, 720), (1920, 1080))
SYNTHETIC_RATE = Fraction(25)
#: the container whose default codec the encode stage uses (what `streamdeblur run -o out.mp4` writes)
ENCODE_EXT = ".mp4"

Progress = Callable[[str], None]


# --------------------------------------------------------------------------- parsing


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' (width x height) -> (1280, 720)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise InputError(f"bad resolution {text!r}", "write width x height, e.g. 1280x720")
    w, h = int(m.group(1)), int(m.group(2))
    if w < 16 or h < 16 or w > 8192 or h > 8192:
        raise InputError(f"resolution {text!r} is out of range", "use 16x16 to 8192x8192")
    if w % 2 or h % 2:
        raise InputError(f"resolution {text!r} has an odd side", "use even sizes (the H.264 encoder needs them), e.g. 640x360")
    return w, h


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """'640x360,1280x720' -> ((640, 360), (1280, 720))."""
    parts = [p for p in (text or "").split(",") if p.strip()]
    if not parts:
        raise InputError("no resolution given", "write e.g. --resolutions 640x360,1280x720")
    return tuple(dict.fromkeys(parse_size(p) for p in parts))


def parse_ints(text: str, what: str = "--batch") -> tuple[int, ...]:
    """'1,4' -> (1, 4); each at least 1."""
    out = []
    for p in (text or "").split(","):
        p = p.strip()
        if not p:
            continue
        if not p.isdigit() or int(p) < 1:
            raise InputError(f"bad {what} value {p!r}", f"write positive integers separated by commas, e.g. {what} 1,4")
        out.append(int(p))
    if not out:
        raise InputError(f"no {what} value given", f"write e.g. {what} 1,4")
    return tuple(dict.fromkeys(out))


def parse_names(text: str) -> tuple[str, ...]:
    """'torch,onnxruntime' -> ('torch', 'onnxruntime')."""
    return tuple(dict.fromkeys(p.strip() for p in (text or "").split(",") if p.strip()))


# --------------------------------------------------------------------------- config and results


@dataclass(frozen=True)
class BenchConfig:
    """One field per ``streamdeblur bench`` option."""

    input: str | None = None  # a video file; None: synthetic frames
    synthetic: tuple[int, int] | None = None  # (W, H) of the synthetic source; None: the first resolution
    backends: tuple[str, ...] = ("auto",)
    device: str | None = None
    models: tuple[str, ...] | None = None  # None: the default model, or the --weights' architecture
    weights: str | None = None
    resolutions: tuple[tuple[int, int], ...] = DEFAULT_RESOLUTIONS
    batches: tuple[int, ...] = (1, 4)
    frames: int = 32
    warmup: int = 4
    codec: str | None = None  # None: the default codec of an .mp4 output (libx264)
    precision: str | None = None  # fp16 / fp32 / bf16; None: each backend's default (fp16 on CUDA; on the CPU fp32, OpenVINO bf16 where the CPU has it)
    max_tile: int | None = None  # frames larger than this (H or W) go through tiles, as `run --max-tile`
    seed: int = 0

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise InputError(f"--frames must be at least 1, got {self.frames}")
        if self.warmup < 0:
            raise InputError(f"--warmup must be 0 or more, got {self.warmup}")
        if not self.resolutions or not self.batches or not self.backends:
            raise InputError("nothing to measure: give at least one resolution, batch size and backend")
        if any(b < 1 for b in self.batches):
            raise InputError(f"batch sizes must be at least 1, got {self.batches}")
        if self.max_tile is not None and self.max_tile < 16:
            raise InputError(f"--max-tile must be at least 16, got {self.max_tile}")


@dataclass
class StageFPS:
    """Frames per second of each stage measured alone, and of the whole pipeline."""

    decode: float | None  # None for synthetic input
    source: float
    pre: float
    infer: float
    post: float
    inference_stage: float  # pre + infer + post, the pipeline's inference thread
    encode: float
    end_to_end: float


@dataclass
class BenchResult:
    """One backend x model x resolution x batch."""

    backend: str
    device: str
    precision: str
    model: str
    weights: str  # a weights path, or "random init"
    width: int
    height: int
    batch: int
    frames: int  # measured frames per stage (warm-up excluded)
    warmup: int
    timing: str  # how inference was timed: "CUDA events" or "perf_counter"
    fps: StageFPS
    fps_median: dict[str, float]  # pre/infer/post from the median batch time instead of the fastest
    latency_ms: dict[str, float]  # p50, p99, mean, max
    efficiency: float
    slowest_stage: str
    host_peak_mib: float
    gpu_peak_mib: float | None
    requested: str = ""  # the --backend name asked for ("auto" or the backend itself)
    choice: str = ""  # the chooser's reason (what `run` prints): for auto, which backend and why
    max_tile: int | None = None

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["resolution"] = self.resolution
        return d


@dataclass
class BenchReport:
    machine: dict[str, Any]
    config: dict[str, Any]
    input: dict[str, Any]
    method: dict[str, str]
    results: list[BenchResult] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "config": self.config,
            "input": self.input,
            "method": self.method,
            "started": self.started,
            "seconds": round(self.seconds, 2),
            "results": [r.as_dict() for r in self.results],
        }


# --------------------------------------------------------------------------- the machine


def _nvidia_driver() -> str | None:
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)
    except Exception:
        pass
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.stdout.strip().splitlines()[0].strip() if out.returncode == 0 and out.stdout.strip() else ""
    return line or None


def machine_info() -> dict[str, Any]:
    """The machine header: what `streamdeblur doctor` reports, plus driver, cuDNN and load."""
    import torch

    from .commands.doctor import machine_report  # the same facts users see in `doctor`

    info = machine_report()
    info["nvidia_driver"] = _nvidia_driver() if torch.cuda.is_available() or torch.version.cuda else None
    info["cuda_runtime"] = torch.version.cuda
    try:
        info["cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
    except Exception:  # pragma: no cover
        info["cudnn"] = None
    info["torch_threads"] = torch.get_num_threads()
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        info["load_average"] = None
    return info


# --------------------------------------------------------------------------- frames


def synthetic_frames(width: int, height: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """Frames an encoder has real work on: a multi-scale texture with hard-edged shapes
    and text, panned a few pixels a frame, with light sensor-like noise."""
    import cv2

    rng = np.random.default_rng(seed)
    dx, dy = 3, 2  # pixels per frame
    ch, cw = height + dy * count + 2, width + dx * count + 2
    canvas = np.zeros((ch, cw, 3), np.float32)
    weight = 1.0
    for scale in (128, 32, 8, 2):
        small = rng.random((max(2, ch // scale), max(2, cw // scale), 3), dtype=np.float32)
        canvas += weight * cv2.resize(small, (cw, ch), interpolation=cv2.INTER_CUBIC)
        weight *= 0.45
    canvas -= canvas.min()
    canvas *= 255.0 / max(float(canvas.max()), 1e-6)
    img = canvas.astype(np.uint8)
    n_shapes = max(6, (cw * ch) // 20000)
    for _ in range(n_shapes):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, cw)), int(rng.integers(0, ch))
        s = int(rng.integers(4, max(5, min(cw, ch) // 6)))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + s, y + s // 2), color, -1)
        else:
            cv2.circle(img, (x, y), s // 2, color, 2)
    scale = max(0.3, height / 400)
    for i in range(0, ch, max(12, int(40 * scale))):
        cv2.putText(img, f"streamdeblur bench {i:05d}", (4, i), cv2.FONT_HERSHEY_SIMPLEX, scale, (240, 240, 240), max(1, int(scale * 2)))
    frames = []
    for t in range(count):
        crop = img[t * dy : t * dy + height, t * dx : t * dx + width].astype(np.int16)
        crop += rng.integers(-3, 4, crop.shape, dtype=np.int16)
        frames.append(np.clip(crop, 0, 255).astype(np.uint8))
    return frames


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if (img.shape[1], img.shape[0]) == size:
        return img
    interp = cv2.INTER_AREA if size[0] < img.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp)


def _decode(spec: str, count: int, size: tuple[int, int] | None) -> Iterator[tuple[np.ndarray, float]]:
    """(frame, seconds spent decoding it) for ``count`` frames, looping the file if it is
    shorter; resized to ``size`` outside the timed part."""
    from .video.sources import open_source

    done = 0
    while done < count:
        t0 = time.perf_counter()
        src = open_source(spec)
        opened = time.perf_counter() - t0
        try:
            it = iter(src)
            got = 0
            while done < count:
                t0 = time.perf_counter()
                try:
                    f = next(it)
                except StopIteration:
                    break
                dt = time.perf_counter() - t0 + opened
                opened = 0.0
                got += 1
                done += 1
                yield (_resize(f.image, size) if size else f.image), dt
            if got == 0:  # pragma: no cover - open_source refuses files without frames
                raise InputError(f"input {spec} yielded no frames")
        finally:
            src.close()


# --------------------------------------------------------------------------- memory


class HostPeak:
    """Peak resident memory of this process between ``start()`` and ``stop()`` (MiB)."""

    def __init__(self) -> None:
        self.method = self._probe()
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _status(key: str) -> int | None:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    @classmethod
    def _probe(cls) -> str:
        if cls._status("VmHWM") is None:
            return "ru_maxrss (process lifetime peak)"
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return "VmHWM after reset via /proc/self/clear_refs"
        except OSError:
            return "VmRSS sampled every 5 ms"

    def start(self) -> None:
        if self.method.startswith("VmHWM"):
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        elif self.method.startswith("VmRSS"):
            self._peak = self._status("VmRSS") or 0
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, name="streamdeblur-bench-rss", daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, self._status("VmRSS") or 0)

    def stop(self) -> float:
        if self.method.startswith("VmHWM"):
            peak = self._status("VmHWM") or 0
        elif self.method.startswith("VmRSS"):
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            peak = max(self._peak, self._status("VmRSS") or 0)
        else:
            import resource
            import sys

            r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak = r if sys.platform == "darwin" else r * 1024
        return peak / 2**20


# --------------------------------------------------------------------------- timing


class _Timer:
    """Wall clock with device synchronisation on CUDA; CUDA events for ``events=True``."""

    def __init__(self, device: str) -> None:
        import torch

        self.cuda = device == "cuda" and torch.cuda.is_available()
        self.torch = torch

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def time(self, fn: Callable[[], Any], events: bool = False) -> tuple[Any, float]:
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


def _fps(frames: int, seconds: float) -> float:
    return frames / max(seconds, 1e-9)  # finite, so the JSON stays standard


def _batches(frames: list[np.ndarray], batch: int) -> list[np.ndarray]:
    return [np.stack(frames[i : i + batch]) for i in range(0, len(frames) - batch + 1, batch)]


def measure_backend_stages(
    backend: Any, frames: list[np.ndarray], batch: int, warmup_batches: int
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
            out, dt_post = timer.time(lambda t=y: backend.from_device(t))
            if out.shape != stack.shape:
                raise RuntimeError(f"backend {backend.name} returned {out.shape} for {stack.shape}")
            if i >= warmup_batches:
                times.append((dt_pre, dt_inf, dt_post))
    if not times:
        raise RuntimeError("no measured batches")
    arr = np.array(times)
    best, med = arr.min(axis=0), np.median(arr, axis=0)
    return tuple(_fps(batch, float(t)) for t in best), tuple(_fps(batch, float(t)) for t in med)  # type: ignore[return-value]


def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` in a fresh thread, as the pipeline runs inference: on a busy 2-core CPU,
    PyTorch called from the main thread was measured several times slower per call than
    from a worker thread (docs/BENCHMARKS.md), which would make the stage figures
    meaningless beside the pipeline's."""
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["out"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            box["err"] = e

    t = threading.Thread(target=body, name="streamdeblur-bench-stage", daemon=True)
    t.start()
    t.join()
    if "err" in box:
        raise box["err"]
    return box["out"]


def bench_source_info(width: int, height: int, rate: Fraction, count: int, like: Any = None) -> Any:
    """A SourceInfo for the bench's frames (the colour tags of ``like``, an input's info)."""
    from .video.sources import SourceInfo

    tb = 1 / rate
    if like is not None:
        return replace(like, width=width, height=height, rate=rate, fps=float(rate), time_base=tb, frame_count=count, duration=float(count / rate), rotation=0, audio=(), subtitles=())
    return SourceInfo(
        spec="synthetic", width=width, height=height, fps=float(rate), rate=rate, time_base=tb, frame_count=count,
        duration=float(count / rate), pix_fmt="yuv420p", bit_depth=8, color_primaries=1, color_trc=1, colorspace=1,
        color_range=1, rotation=0, codec="rawvideo", container="synthetic", is_live=False,
    )  # fmt: skip


def measure_encode(frames: list[np.ndarray], info: Any, workdir: Path, codec: str | None, warmup: int) -> float:
    """Encode-only FPS through FileSink: the frames after ``warmup`` divided by the time
    from the last warm-up frame's write to the end of ``close()`` (the encoder's final
    flush included, as the end-to-end figure includes it)."""
    from .video.sinks import FileSink

    tb = info.time_base
    sink = FileSink(workdir / "encode.mp4", info, codec=codec, overwrite=True)
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
    return _fps(len(frames) - warmup, time.perf_counter() - t0)


class _StampSink:
    """Wraps a sink: records when each frame is written and how long after it left the source."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.written: list[tuple[int, float, float]] = []  # (index, t_written, latency)

    def write(self, frame: Frame) -> None:
        self.inner.write(frame)
        t = time.perf_counter()
        self.written.append((frame.index, t, t - frame.captured_at))


def _stamped(frames: Iterator[np.ndarray], rate: Fraction) -> Iterator[Frame]:
    tb = 1 / rate
    for i, img in enumerate(frames):
        yield Frame(i, i, tb, img, captured_at=time.perf_counter())


def measure_pipeline(
    backend: Any, images: Iterator[np.ndarray], info: Any, workdir: Path, batch: int, warm: int, codec: str | None
) -> tuple[float, dict[str, float]]:
    """End-to-end FPS (steady state after ``warm`` frames) and latency percentiles (ms)."""
    from .pipeline import Pipeline
    from .video.sinks import FileSink

    sink = FileSink(workdir / "pipeline.mp4", info, codec=codec, overwrite=True)
    stamp = _StampSink(sink)
    try:
        t_run = time.perf_counter()
        Pipeline(_stamped(images, info.rate), backend, stamp, batch=batch, total=info.frame_count).run()
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
    fps = _fps(len(measured), t_end - t_start)
    lat = np.array([r[2] for r in measured]) * 1000.0
    latency = {
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "mean": float(lat.mean()),
        "max": float(lat.max()),
    }
    return fps, latency


# --------------------------------------------------------------------------- generators


def _generator(model: str, weights: str | None, seed: int) -> tuple[Any, str]:
    """A fresh generator and where its weights came from (a path or "random init")."""
    import torch

    from .models import build_model, load_generator, shipped_weights

    if weights is not None:
        g = load_generator(weights)
        return g, str(getattr(g, "source", weights))
    if shipped_weights(model).exists():
        g = load_generator(model)
        return g, str(getattr(g, "source", shipped_weights(model)))
    # speed does not depend on the weights; a fixed seed keeps ONNX Runtime's export cache warm
    torch.manual_seed(seed)
    return build_model(model).eval(), "random init"


def _resolve_models(config: BenchConfig) -> tuple[str, ...]:
    from .models import DEFAULT_MODEL, MODELS, load_generator

    if config.weights is not None:
        arch = load_generator(config.weights).arch
        if config.models and set(config.models) != {arch}:
            raise WeightsError(f"--weights {config.weights} is a {arch!r} generator, not {', '.join(config.models)}", "drop --model, or pass weights of that model")
        return (arch,)
    models = config.models or (DEFAULT_MODEL,)
    for m in models:
        if m not in MODELS:
            from .errors import ModelNotFoundError

            raise ModelNotFoundError(f"unknown model {m!r}", f"choose one of: {', '.join(sorted(MODELS))}")
    return models


# --------------------------------------------------------------------------- the benchmark


def run_bench(config: BenchConfig, on_progress: Progress | None = None) -> BenchReport:
    """Measure every backend x model x resolution x batch of ``config``."""
    import datetime

    import torch

    from .backends import choose_backend, create_backend

    say = on_progress or (lambda msg: None)
    models = _resolve_models(config)
    for b in config.backends:  # refuse an impossible backend before minutes of work
        choose_backend(b, config.device)
    resolutions = config.resolutions
    src_info = None
    if config.input is not None:
        from .video.sources import open_source

        with open_source(config.input) as s:
            src_info = s.info
        input_desc: dict[str, Any] = {"kind": "file", "spec": config.input, "width": src_info.width, "height": src_info.height, "codec": src_info.codec, "fps": src_info.fps, "frames": src_info.expected_frames}
    else:
        w, h = config.synthetic or resolutions[0]
        input_desc = {"kind": "synthetic", "spec": f"{w}x{h}", "width": w, "height": h, "codec": None, "fps": float(SYNTHETIC_RATE), "frames": None}
        if config.synthetic is not None and config.resolutions == DEFAULT_RESOLUTIONS:
            resolutions = (config.synthetic,)  # --synthetic WxH alone measures that size
    rate = (src_info.rate if src_info is not None and src_info.rate else None) or SYNTHETIC_RATE
    host = HostPeak()
    report = BenchReport(
        machine=machine_info(),
        config={
            "backends": list(config.backends), "device": config.device, "models": list(models), "weights": config.weights,
            "resolutions": [f"{w}x{h}" for w, h in resolutions], "batches": list(config.batches),
            "frames": config.frames, "warmup": config.warmup, "codec": config.codec or "libx264 (the .mp4 default)",
            "precision": config.precision, "max_tile": config.max_tile,
        },
        input=input_desc,
        method={
            "host_memory": host.method,
            "gpu_memory": "torch.cuda.max_memory_allocated (PyTorch allocator only)",
            "inference_timing": "CUDA events after torch.cuda.synchronize() on CUDA, time.perf_counter on the CPU (see each result's 'timing')",
            "stage_fps": "batch / fastest batch time after warm-up (fps_median: batch / median batch time)",
            "end_to_end": "steady state after the warm-up frames; latency from leaving the source to written",
        },
        started=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )  # fmt: skip
    t_all = time.perf_counter()
    order: list[tuple[tuple[int, int, int, int], BenchResult]] = []  # sorted to backend x model x size x batch
    with tempfile.TemporaryDirectory(prefix="streamdeblur-bench-") as tmp:
        workdir = Path(tmp)
        for ri, (w, h) in enumerate(resolutions):
            for bi, batch in enumerate(config.batches):
                warm = -(-config.warmup // batch) * batch  # whole batches of warm-up
                measured = -(-config.frames // batch) * batch
                total = warm + measured
                say(f"{w}x{h} batch {batch}: preparing {total} frames")
                decode_fps: float | None = None
                if config.input is not None:
                    pairs = list(_decode(config.input, total, (w, h)))
                    images = [p[0] for p in pairs]
                    decode_s = sum(p[1] for p in pairs[warm:]) if len(pairs) > warm else sum(p[1] for p in pairs)
                    decode_fps = _fps(len(pairs[warm:]) or len(pairs), decode_s)
                else:
                    images = synthetic_frames(w, h, total, config.seed)
                info = bench_source_info(w, h, rate, total, like=src_info)
                for gi, model_name in enumerate(models):
                    for ki, bname in enumerate(config.backends):
                        generator, wsrc = _generator(model_name, config.weights, config.seed)
                        say(f"{w}x{h} batch {batch}: {model_name} on {bname} ...")
                        extra: dict[str, Any] = {"precision": config.precision} if config.precision else {}
                        if config.max_tile:
                            extra["max_tile"] = config.max_tile
                        backend = create_backend(bname, generator, config.device, **extra)
                        choice = getattr(backend, "choice_reason", "")
                        if bname == "auto":
                            say(f"{w}x{h} batch {batch}: {choice}")
                        try:
                            # peaks from here: the loaded model counts, a one-off ONNX export does not
                            host.start()
                            if torch.cuda.is_available():
                                torch.cuda.reset_peak_memory_stats()
                            if config.input is not None:
                                source_fps = decode_fps if decode_fps is not None else 0.0
                            else:
                                t0 = time.perf_counter()
                                n = sum(1 for _ in _stamped(iter(images), rate))
                                source_fps = _fps(n, time.perf_counter() - t0)
                            (pre, inf, post), (pre_m, inf_m, post_m) = _in_thread(measure_backend_stages, backend, images, batch, warm // batch)
                            stage = 1.0 / (1.0 / pre + 1.0 / inf + 1.0 / post)
                            enc = measure_encode(images, info, workdir, config.codec, warm)
                            if config.input is not None:
                                feed: Iterator[np.ndarray] = (img for img, _ in _decode(config.input, total, (w, h)))
                            else:
                                feed = iter(images)
                            e2e, latency = measure_pipeline(backend, feed, info, workdir, batch, warm, config.codec)
                            gpu = torch.cuda.max_memory_allocated() / 2**20 if backend.device == "cuda" else None
                            stages = {"source": source_fps, "inference": stage, "encode": enc}
                            slowest = min(stages, key=lambda k: stages[k])
                            result = BenchResult(
                                backend=backend.name, device=backend.device, precision=getattr(backend, "precision", "fp32"),
                                model=model_name, weights=wsrc, width=w, height=h, batch=batch, frames=measured, warmup=warm,
                                timing="CUDA events" if backend.device == "cuda" else "perf_counter",
                                fps=StageFPS(decode=decode_fps, source=source_fps, pre=pre, infer=inf, post=post,
                                             inference_stage=stage, encode=enc, end_to_end=e2e),
                                fps_median={"pre": pre_m, "infer": inf_m, "post": post_m,
                                            "inference_stage": 1.0 / (1.0 / pre_m + 1.0 / inf_m + 1.0 / post_m)},
                                latency_ms=latency, efficiency=e2e / stages[slowest], slowest_stage=slowest,
                                host_peak_mib=host.stop(), gpu_peak_mib=gpu,
                                requested=bname, choice=choice, max_tile=config.max_tile,
                            )  # fmt: skip
                        finally:
                            backend.close()
                        say(f"{w}x{h} batch {batch}: {model_name} on {backend.name}: {e2e:.2f} fps end to end")
                        order.append(((ki, gi, ri, bi), result))
                del images
    report.results = [r for _, r in sorted(order, key=lambda kv: kv[0])]
    report.seconds = time.perf_counter() - t_all
    return report


def ratio_lines(report: BenchReport | dict[str, Any]) -> list[str]:
    """End-to-end FPS side by side, per model x size x batch, when several backends ran.

    The format: "MODEL WxH batch N: auto=openvino cpu bf16 A fps; onnxruntime cpu fp32 B fps
    (auto / onnxruntime A/B x)", each ratio the first backend listed over another.
    """
    data = report.as_dict() if isinstance(report, BenchReport) else report
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in data["results"]:
        groups.setdefault((r["model"], r["resolution"], r["batch"]), []).append(r)
    lines = []
    for (model, size, batch), rows in groups.items():
        if len(rows) < 2:
            continue

        def label(r: dict[str, Any]) -> str:
            name = r.get("requested") or r["backend"]
            return name if name == r["backend"] else f"{name}={r['backend']}"

        figs = "; ".join(f"{label(r)} {r['device']} {r['precision']} {r['fps']['end_to_end']:.2f} fps" for r in rows)
        first = rows[0]
        ratios = ", ".join(
            f"{(first.get('requested') or first['backend'])} / {(r.get('requested') or r['backend'])} "
            f"{first['fps']['end_to_end'] / r['fps']['end_to_end']:.2f}x"
            for r in rows[1:] if r["fps"]["end_to_end"] > 0
        )  # fmt: skip
        lines.append(f"{model} {size} batch {batch}: {figs} ({ratios})")
    return lines


def plot_report(report: BenchReport | dict[str, Any], path: str | os.PathLike) -> Path:
    """A bar chart of each result's stage FPS and end-to-end FPS (log scale), written
    through a temporary file and a rename. Needs matplotlib (the 'plot' extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib, which is not installed", "pip install 'streamdeblur[plot]'") from None
    data = report.as_dict() if isinstance(report, BenchReport) else report
    results = data["results"]
    if not results:
        raise InputError("nothing to plot: the benchmark has no results")
    out = Path(path)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"cannot tell the image format from {out.name!r}", "end it with .png, .svg or .pdf")
    stages = [("decode", "decode"), ("pre", "pre"), ("infer", "infer"), ("post", "post"), ("encode", "encode"), ("end_to_end", "end to end")]
    if all(r["fps"]["decode"] is None for r in results):
        stages = stages[1:]  # synthetic input: nothing was decoded
    labels = [f"{r['backend']}/{r['device']}\n{r['model']}\n{r['resolution']} b{r['batch']}" for r in results]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * len(results) + 3), 5.0))
    width = 0.8 / len(stages)
    xs = np.arange(len(results))
    for si, (key, name) in enumerate(stages):
        vals = [r["fps"][key] if r["fps"][key] is not None else float("nan") for r in results]  # no decode bar for synthetic input
        ax.bar(xs + (si - (len(stages) - 1) / 2) * width, vals, width, label=name)
    e2e_x = xs + (len(stages) - 1) / 2 * width
    for x, r in zip(e2e_x, results):
        ax.annotate(f"{r['fps']['end_to_end']:.3g} fps\neff {r['efficiency']:.2f}", (x, r["fps"]["end_to_end"]), ha="center", va="bottom", fontsize=7, xytext=(0, 3), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_ylabel("frames per second (log)")
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=7)
    m = data.get("machine", {})
    gpus = ", ".join(g["name"] for g in m.get("gpus", [])) or "no GPU"
    ax.set_title(f"streamdeblur bench: {m.get('cpu', '?')} ({m.get('cpu_cores', '?')} cores), {gpus}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, out)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return out


def summarize(results: Sequence[BenchResult]) -> list[dict[str, Any]]:
    """Rows for a table: the figures users compare, rounded."""
    rows = []
    for r in results:
        f = r.fps
        rows.append(
            {
                "backend": f"{r.backend} ({r.device}, {r.precision})",
                "model": r.model,
                "resolution": r.resolution,
                "batch": r.batch,
                "decode": f.decode,
                "pre": f.pre,
                "infer": f.infer,
                "post": f.post,
                "encode": f.encode,
                "end_to_end": f.end_to_end,
                "efficiency": r.efficiency,
                "p50": r.latency_ms["p50"],
                "p99": r.latency_ms["p99"],
                "host_mib": r.host_peak_mib,
                "gpu_mib": r.gpu_peak_mib,
            }
        )
    return rows
