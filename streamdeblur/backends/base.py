"""The backend contract.

A backend runs one generator on one device. ``infer`` is the contract every backend
passes the conformance test on: NCHW float in [0, 1] -> same shape, same range.
``process`` is what the pipeline calls: a batch of uint8 RGB frames (N, H, W, 3) in,
the same out, with the uint8 <-> float conversion done on the backend's device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from ..models import Generator


class Backend(ABC):
    name: ClassVar[str] = ""
    #: devices this backend can run on, in preference order
    devices: ClassVar[tuple[str, ...]] = ("cpu",)

    def __init__(self, generator: Generator, device: str = "cpu", **options: Any) -> None:
        self.generator = generator
        self.device = device
        self.options = options
        self.precision = "fp32"
        #: frames larger than this (H or W) go through overlapping tiles (streamdeblur.tiling)
        self.max_tile: int | None = options.get("max_tile") or None
        self.tile_overlap: int | None = options.get("tile_overlap")

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        """None if this backend can run on ``device`` here; else a one-line reason with the fix."""
        if device not in cls.devices:
            return f"backend {cls.name!r} does not run on {device!r} (it runs on: {', '.join(cls.devices)})"
        return None

    @abstractmethod
    def infer(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float in [0, 1] -> same shape, float in [0, 1]. Any H and W."""

    def infer_tiled(self, x: torch.Tensor) -> torch.Tensor:
        """``infer``, through overlapping tiles when the frame exceeds ``max_tile``."""
        if not self.max_tile or (x.shape[-2] <= self.max_tile and x.shape[-1] <= self.max_tile):
            return self.infer(x)
        from ..tiling import default_overlap, tiled_infer

        align = int(getattr(self.generator, "size_multiple", 1) or 1)
        overlap = self.tile_overlap if self.tile_overlap is not None else default_overlap(self.max_tile, align)
        return tiled_infer(self.infer, x, self.max_tile, overlap, align=align)

    def to_device(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, 3) host frames -> float NCHW in [0, 1] on this backend's device."""
        x = torch.from_numpy(np.ascontiguousarray(frames))
        return x.permute(0, 3, 1, 2).float().div_(255.0)

    def from_device(self, y: torch.Tensor) -> np.ndarray:
        """float NCHW in [0, 1] -> uint8 (N, H, W, 3) host frames."""
        y = y.float().clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
        return y.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def process(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) RGB frames -> deblurred uint8 frames of the same shape."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames of shape (N, H, W, 3), got {frames.dtype} {frames.shape}")
        with torch.inference_mode():
            return self.from_device(self.infer_tiled(self.to_device(frames)))

    def describe(self) -> str:
        return f"{self.name} ({self.device}, {self.precision})"

    def close(self) -> None:
        """Release device memory and sessions. Safe to call twice."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
