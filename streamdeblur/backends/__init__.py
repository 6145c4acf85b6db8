"""Backends: one small class each, picked from ``BACKENDS`` by name.

``create_backend("auto", ...)`` picks the fastest that can run here and says which
(through ``choose_backend``'s returned reason); an explicit name that cannot run raises
:class:`~streamdeblur.errors.BackendUnavailableError` with the reason. Nothing falls back
silently.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import BackendUnavailableError
from ..models import Generator
from .base import Backend
from .torch_backend import TorchBackend

BACKENDS: dict[str, type[Backend]] = {
    "torch": TorchBackend,
}

__all__ = ["BACKENDS", "Backend", "TorchBackend", "choose_backend", "create_backend"]


def choose_backend(name: str = "auto", device: str | None = None) -> tuple[str, str, str]:
    """(backend, device, why) for a request; ``name``/``device`` may be "auto"/None.

    Order for auto: PyTorch CUDA FP16, then PyTorch CPU.
    """
    if name != "auto":
        if name not in BACKENDS:
            raise BackendUnavailableError(f"unknown backend {name!r}", f"choose one of: auto, {', '.join(BACKENDS)}")
        cls = BACKENDS[name]
        devs = [device] if device else list(cls.devices)
        reasons = []
        for d in devs:
            r = cls.unavailable_reason(d)
            if r is None:
                return name, d, f"{name} on {d} (asked for)"
            reasons.append(r)
        raise BackendUnavailableError(reasons[0] if len(reasons) == 1 else "; ".join(reasons))
    if device in (None, "cuda") and torch.cuda.is_available():
        return "torch", "cuda", "auto: PyTorch CUDA FP16 (no TensorRT engine for this GPU)"
    if device == "cuda":
        raise BackendUnavailableError(TorchBackend.unavailable_reason("cuda") or "no CUDA device")
    return "torch", "cpu", "auto: PyTorch on the CPU (no CUDA GPU found)"


def create_backend(name: str, generator: Generator, device: str | None = None, **options: Any) -> Backend:
    """Instantiate a backend; ``name="auto"`` chooses (see ``choose_backend``)."""
    backend_name, dev, why = choose_backend(name, device)
    backend = BACKENDS[backend_name](generator, dev, **options)
    backend.choice_reason = why  # type: ignore[attr-defined]
    return backend
