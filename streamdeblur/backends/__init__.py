"""Backends: one small class each, picked from ``BACKENDS`` by name.

``create_backend("auto", ...)`` picks the fastest that can run here and says which
(through ``choose_backend``'s returned reason); an explicit name that cannot run raises
:class:`~streamdeblur.errors.BackendUnavailableError` with the reason. Nothing falls back
silently. Each backend class declares the ``devices`` it runs on and what this machine
lacks for it (``missing``); every backend is made from the request's
:class:`~streamdeblur.backends.options.BackendOptions` and reads the fields it takes.

Auto order: a TensorRT engine in engines/ built for this GPU, TensorRT and generator;
then PyTorch CUDA FP16 compiled (``torch-compile``; eager ``torch`` where Triton is missing);
then the fastest CPU backend installed (``CPU_ORDER``, measured on
a 2-core CPU: OpenVINO beats ONNX Runtime, which beats PyTorch eager, see
docs/BENCHMARKS.md). OpenVINO is an optional extra (``streamdeblur[openvino]``).
"""

from __future__ import annotations

import os

import torch

from ..errors import BackendUnavailableError
from ..machine import PIP_OPENVINO
from ..models import Generator
from .base import Backend
from .onnxruntime_backend import OnnxRuntimeBackend
from .openvino_backend import OpenVINOBackend
from .options import BackendOptions
from .tensorrt_backend import TensorRTBackend
from .torch_backend import TorchBackend, TorchCompileBackend

BACKENDS: dict[str, type[Backend]] = {
    "tensorrt": TensorRTBackend,
    "torch": TorchBackend,
    "torch-compile": TorchCompileBackend,
    "onnxruntime": OnnxRuntimeBackend,
    "openvino": OpenVINOBackend,
}

#: CPU backends, fastest first (docs/BENCHMARKS.md, "OpenVINO vs ONNX Runtime vs PyTorch, CPU")
CPU_ORDER: tuple[str, ...] = ("openvino", "onnxruntime", "torch")
#: what auto says about each CPU backend it picks
CPU_LABEL = {"openvino": "OpenVINO", "onnxruntime": "ONNX Runtime", "torch": "PyTorch"}
#: why auto picks each CPU backend (the ranking measured in docs/BENCHMARKS.md)
CPU_WHY = {
    "openvino": "the fastest CPU backend: OpenVINO > ONNX Runtime > PyTorch, docs/BENCHMARKS.md",
    "onnxruntime": "the fastest CPU backend installed: ONNX Runtime > PyTorch, docs/BENCHMARKS.md",
    "torch": "the only CPU backend installed",
}

__all__ = [
    "BACKENDS",
    "CPU_ORDER",
    "Backend",
    "BackendOptions",
    "OnnxRuntimeBackend",
    "OpenVINOBackend",
    "TensorRTBackend",
    "TorchBackend",
    "TorchCompileBackend",
    "choose_backend",
    "create_backend",
]


def choose_backend(
    name: str = "auto",
    device: str | None = None,
    generator: Generator | None = None,
    engines_dir: str | os.PathLike[str] | None = None,
    engine: str | os.PathLike[str] | None = None,
) -> tuple[str, str, str]:
    """(backend, device, why) for a request; ``name``/``device`` may be "auto"/None.

    ``generator`` lets auto look for a TensorRT engine built for it in ``engines_dir``
    (default ``engines/``); ``engine`` (an explicit engine file) means TensorRT: if it
    cannot run here that is an error, never a silent switch to another backend.
    """
    if engine is not None and name == "auto":
        name = "tensorrt"
    if name != "auto":
        return _asked_for(name, device)
    if device not in (None, "cuda", "cpu"):
        raise BackendUnavailableError(f"unknown device {device!r}", "choose cuda or cpu")
    if device in (None, "cuda") and torch.cuda.is_available():
        return _auto_on_the_gpu(generator, engines_dir)
    if device == "cuda":
        raise BackendUnavailableError(TorchBackend.unavailable_reason("cuda") or "no CUDA device")
    return _auto_on_the_cpu("asked for --device cpu" if device == "cpu" else "no CUDA GPU found")


def _asked_for(name: str, device: str | None) -> tuple[str, str, str]:
    """The backend asked for by name, on ``device`` or its first device that runs here; else why not."""
    if name not in BACKENDS:
        raise BackendUnavailableError(f"unknown backend {name!r}", f"choose one of: auto, {', '.join(BACKENDS)}")
    cls = BACKENDS[name]
    reasons = []
    for d in [device] if device else list(cls.devices):
        r = cls.unavailable_reason(d)
        if r is None:
            return name, d, f"{name} on {d} (asked for)"
        if device is None and d == "cuda" and "cpu" in cls.devices and torch.cuda.is_available():
            # a GPU is here but this backend cannot use it (torch-compile without Triton): running it on the
            # CPU instead, many times slower, would be the silent fallback nothing here does
            raise BackendUnavailableError(r, f"or pass --device cpu to run {name} on the CPU")
        reasons.append(r)
    raise BackendUnavailableError(reasons[0] if len(reasons) == 1 else "; ".join(dict.fromkeys(reasons)))


def _auto_on_the_gpu(generator: Generator | None, engines_dir: str | os.PathLike[str] | None) -> tuple[str, str, str]:
    """A TensorRT engine built for this GPU and ``generator``, else PyTorch CUDA FP16 (compiled where
    torch.compile can run), saying why."""
    trt_missing = TensorRTBackend.unavailable_reason("cuda")
    if trt_missing is not None:
        return _torch_on_the_gpu(trt_missing)
    if generator is not None:
        from ..engine_cache import DEFAULT_ENGINES_DIR, find_engine

        hit = find_engine(generator, engines_dir or DEFAULT_ENGINES_DIR)
        if hit is not None:
            return "tensorrt", "cuda", f"auto: TensorRT engine {hit[0].name} ({hit[1].precision}, built for this GPU)"
    where = engines_dir or "engines"
    return _torch_on_the_gpu(f"no TensorRT engine for this model in {where}/; `streamdeblur build-engine` makes one")


def _torch_on_the_gpu(no_tensorrt: str) -> tuple[str, str, str]:
    """PyTorch CUDA FP16, through torch.compile where it can run here, with why not TensorRT."""
    compile_missing = TorchCompileBackend.unavailable_reason("cuda")
    if compile_missing is None:
        return "torch-compile", "cuda", f"auto: PyTorch CUDA FP16, torch.compile ({no_tensorrt})"
    return "torch", "cuda", f"auto: PyTorch CUDA FP16, eager ({no_tensorrt}; {compile_missing})"


def _auto_on_the_cpu(gpu: str) -> tuple[str, str, str]:
    """The fastest CPU backend installed (``CPU_ORDER``); ``gpu`` says why not a GPU."""
    missing = []
    for cpu_name in CPU_ORDER:
        if BACKENDS[cpu_name].unavailable_reason("cpu") is None:
            why = CPU_WHY[cpu_name]
            if "openvino" in missing:
                why += f"; OpenVINO, faster, is not installed: {PIP_OPENVINO}"
            return cpu_name, "cpu", f"auto: {CPU_LABEL[cpu_name]} on the CPU ({gpu}; {why})"
        missing.append(cpu_name)
    raise BackendUnavailableError("no backend can run on the CPU")  # pragma: no cover


def create_backend(
    name: str, generator: Generator, device: str | None = None, options: BackendOptions | None = None
) -> Backend:
    """Open a backend; ``name="auto"`` chooses (see ``choose_backend``).

    ``options`` may hold any backend's options (the request does not know which backend
    auto picks); the chosen one reads those it takes.
    """
    options = options or BackendOptions()
    backend_name, dev, why = choose_backend(
        name, device, generator=generator, engines_dir=options.engines_dir, engine=options.engine
    )
    return BACKENDS[backend_name](generator, dev, options, choice_reason=why)
