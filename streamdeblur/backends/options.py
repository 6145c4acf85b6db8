"""``BackendOptions``: every option a backend takes, in one frozen dataclass.

It is built where a request starts (the command line, or a library call) and passed
unchanged to the backend that runs, whether in this process, a batch worker or a Ray
actor. It is one type for every backend because ``auto`` picks the backend only once it
has seen the machine: a request carries the options of whichever backend runs, and each
backend reads the fields marked with its name below and ignores the rest.

Values are checked when the options are built: a misspelled name is a ``TypeError`` and a
value outside its choices an :class:`~streamdeblur.errors.InputError`, before any model
loads. What one backend cannot do on this machine (bf16 without AVX512_BF16, fp16 on the
CPU in PyTorch) is refused when that backend opens, still before the first frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, get_args

from ..errors import InputError

#: every precision a backend may be asked for (each backend takes some of them)
Precision = Literal["fp16", "fp32", "bf16"]
#: OpenVINO's precisions on the CPU
OpenVINOPrecision = Literal["fp32", "bf16"]
#: OpenVINO's performance hints (``auto``: latency for one frame, throughput for a batch)
OpenVINOHint = Literal["auto", "latency", "throughput"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
OPENVINO_PRECISIONS: tuple[str, ...] = get_args(OpenVINOPrecision)
OPENVINO_HINTS: tuple[str, ...] = get_args(OpenVINOHint)
#: torch.compile's modes (the torch-compile backend)
CompileMode = Literal["default", "reduce-overhead", "max-autotune"]
COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)


@dataclass(frozen=True)
class BackendOptions:
    """What a backend runs with; each field says which backends read it."""

    #: all: frames larger than this (H or W) run as overlapping tiles (:mod:`streamdeblur.tiling`)
    max_tile: int | None = None
    #: all: the tiles' overlap in pixels; None: the tiler's default for the tile size
    tile_overlap: int | None = None
    #: torch, onnxruntime: fp16 or fp32; openvino: fp32 or bf16; None: each backend's best
    #: (tensorrt always runs its engine's own)
    precision: Precision | None = None
    #: onnxruntime, openvino: CPU inference threads; None: the library's own
    threads: int | None = None
    #: onnxruntime, openvino: run this ONNX export instead of the cached one; tensorrt: the
    #: ONNX the engine must have been built from (its sha256 is checked)
    onnx: str | os.PathLike[str] | None = None
    #: openvino: its precision where ``precision`` is None; None: bf16 where the CPU runs it
    #: natively, else fp32 (the command line reads ``STREAMDEBLUR_OPENVINO_PRECISION``)
    openvino_precision: OpenVINOPrecision | None = None
    #: openvino: ``auto``, ``latency`` or ``throughput`` (``STREAMDEBLUR_OPENVINO_HINT``)
    openvino_hint: OpenVINOHint = "auto"
    #: openvino: how many compiled input shapes to keep (least recently used go first)
    openvino_max_shapes: int = 8
    #: openvino: pin inference threads to cores; None: OpenVINO's default. Workers sharing a
    #: machine turn it off (two 1-thread workers pinned to the same core: 6 fps each, 11 unpinned)
    openvino_cpu_pinning: bool | None = None
    #: torch-compile: torch.compile's mode; None: reduce-overhead (CUDA graphs) on CUDA, default on the CPU
    compile_mode: CompileMode | None = None
    #: tensorrt: the engine file to run; with backend ``auto`` it means TensorRT
    engine: str | os.PathLike[str] | None = None
    #: tensorrt: where engines are looked for (``auto`` too); None: ``engines/``
    engines_dir: str | os.PathLike[str] | None = None
    #: tensorrt: tile frames above the engine's profile; False: such a frame is a ShapeError
    tensorrt_tiling: bool = True

    def __post_init__(self) -> None:
        _at_least("max_tile", self.max_tile, 1)
        _at_least("tile_overlap", self.tile_overlap, 0)
        _at_least("threads", self.threads, 1)
        _at_least("openvino_max_shapes", self.openvino_max_shapes, 1)
        _one_of("precision", self.precision, PRECISIONS)
        _one_of("openvino_precision", self.openvino_precision, OPENVINO_PRECISIONS)
        _one_of("openvino_hint", self.openvino_hint, OPENVINO_HINTS)
        _one_of("compile_mode", self.compile_mode, COMPILE_MODES)


def _at_least(name: str, value: int | None, low: int) -> None:
    if value is not None and value < low:
        raise InputError(f"backend option {name} must be {low} or more, got {value}")


def _one_of(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise InputError(f"unknown {name} {value!r}", f"choose one of: {', '.join(choices)}")
