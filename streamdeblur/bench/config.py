"""What ``streamdeblur bench`` is asked to measure: :class:`BenchConfig` (one field per
option, checked on creation) and the parsers for its comma-separated options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends.options import PRECISIONS, BackendOptions, OpenVINOHint, OpenVINOPrecision, Precision
from ..errors import InputError

DEFAULT_RESOLUTIONS: tuple[tuple[int, int], ...] = ((640, 360), (1280, 720), (1920, 1080))
#: the limits of every frame size bench takes (``sizes.parse_size`` keywords): the H.264 encoder needs even sides
SIZE_LIMITS: dict[str, Any] = {"minimum": 16, "maximum": 8192, "even": True, "example": "640x360"}


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
    #: fp16 / fp32 / bf16; None: each backend's default (fp16 on CUDA; on the CPU fp32, OpenVINO bf16 where the
    #: CPU has it)
    precision: Precision | None = None
    max_tile: int | None = None  # frames larger than this (H or W) go through tiles, as `run --max-tile`
    threads: int | None = None  # intra-op threads of PyTorch, ONNX Runtime and OpenVINO; None: each library's own
    seed: int = 0
    openvino_precision: OpenVINOPrecision | None = None  # OpenVINO's where ``precision`` is None, as `run`'s
    openvino_hint: OpenVINOHint = "auto"  # OpenVINO's performance hint (auto, latency, throughput), as `run`'s
    #: bits of the frames fed: 16 (uint16, as `run` decodes 10-16-bit video; encoded yuv420p10le unless the input is
    #: deeper) or 8; None: the input's own (synthetic frames: 8)
    depth: int | None = None

    def __post_init__(self) -> None:
        if self.input is not None and self.synthetic is not None:
            raise InputError("give either INPUT or --synthetic, not both")
        if self.precision not in (None, *PRECISIONS):
            raise InputError(f"--precision {self.precision!r} is not fp16, fp32 or bf16")
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
        if self.depth not in (None, 8, 16):
            raise InputError(f"--depth {self.depth} is not 8 or 16", "write --depth 16 (deep colour) or --depth 8")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"--threads must be at least 1, got {self.threads}")
        _ = self.backend_options  # the OpenVINO settings are checked as the options are built

    @property
    def backend_options(self) -> BackendOptions:
        """What every backend measured is opened with: ``--precision``, ``--max-tile``, ``--threads``,
        ``--openvino-precision``, ``--openvino-hint``."""
        return BackendOptions(
            precision=self.precision,
            max_tile=self.max_tile,
            threads=self.threads,
            openvino_precision=self.openvino_precision,
            openvino_hint=self.openvino_hint,
        )
