"""Frames <-> float tensors: the one place the conversion is written. Frames are
(N, H, W, 3) RGB, uint8 (8-bit video, the trainer's images) or uint16 (10-, 12- and 16-bit
video, full range = 65535); a generator takes NCHW float in [0, 1]. Used by the backends
(on their device) and by the trainer."""

from __future__ import annotations

import numpy as np
import torch

#: full scale of each frame dtype: the value 1.0 maps to
FULL_SCALE: dict[torch.dtype, float] = {torch.uint8: 255.0, torch.uint16: 65535.0}
#: the NumPy frame dtypes and their torch twins
FRAME_DTYPES: dict[np.dtype, torch.dtype] = {np.dtype(np.uint8): torch.uint8, np.dtype(np.uint16): torch.uint16}


def frame_dtype(dtype: np.dtype | type[np.generic]) -> torch.dtype:
    """The torch dtype of frames of NumPy ``dtype`` (uint8 or uint16); a ValueError for any other."""
    try:
        return FRAME_DTYPES[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"frames are uint8 or uint16, not {np.dtype(dtype)}") from None


def as_tensor(frames: np.ndarray) -> torch.Tensor:
    """Host frames (any dtype) as a torch tensor sharing their memory where possible."""
    return torch.from_numpy(np.ascontiguousarray(frames))


def to_float(frames: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 or uint16 (N, H, W, 3) frames -> NCHW ``dtype`` in [0, 1], on the frames' device.

    uint16 is scaled in float32 whatever ``dtype`` is: 65535 is past half precision's largest value."""
    via = dtype if frames.dtype == torch.uint8 else torch.float32
    return frames.permute(0, 3, 1, 2).to(via).div_(FULL_SCALE[frames.dtype]).to(dtype)


def to_frames(y: torch.Tensor, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    """NCHW in [0, 1] (any float dtype) -> contiguous (N, H, W, 3) frames of ``dtype`` (uint8 or
    uint16), rounded, on ``y``'s device. uint16 is scaled in float32 (see :func:`to_float`)."""
    if dtype != torch.uint8:
        y = y.float()
    return y.clamp(0.0, 1.0).mul_(FULL_SCALE[dtype]).round_().to(dtype).permute(0, 2, 3, 1).contiguous()


def to_uint8(y: torch.Tensor) -> torch.Tensor:
    """NCHW in [0, 1] (any float dtype) -> contiguous uint8 (N, H, W, 3), on ``y``'s device."""
    return to_frames(y, torch.uint8)


def as_array(x: torch.Tensor, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """A CPU tensor as the contiguous NumPy array an ONNX Runtime or OpenVINO call takes."""
    return np.ascontiguousarray(x.numpy(), dtype=dtype)
