"""uint8 frames <-> float tensors: the one place the conversion is written. Frames are
(N, H, W, 3) uint8 RGB (the pipeline's and the trainer's images); a generator takes
NCHW float in [0, 1]. Used by the backends (on their device) and by the trainer."""

from __future__ import annotations

import numpy as np
import torch


def as_tensor(frames: np.ndarray) -> torch.Tensor:
    """Host frames (any dtype) as a torch tensor sharing their memory where possible."""
    return torch.from_numpy(np.ascontiguousarray(frames))


def to_float(frames: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 (N, H, W, 3) frames -> NCHW ``dtype`` in [0, 1], on the frames' device."""
    return frames.permute(0, 3, 1, 2).to(dtype).div_(255.0)


def to_uint8(y: torch.Tensor) -> torch.Tensor:
    """NCHW in [0, 1] (any float dtype) -> contiguous uint8 (N, H, W, 3), on ``y``'s device."""
    return y.clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def as_array(x: torch.Tensor, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """A CPU tensor as the contiguous NumPy array an ONNX Runtime or OpenVINO call takes."""
    return np.ascontiguousarray(x.numpy(), dtype=dtype)
