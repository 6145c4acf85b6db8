"""What the backend tests that run `streamdeblur run` share (imported by name: pytest puts
this folder on sys.path): a lossless clip written from RGB frames, and read back."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def write_clip(path: Path, frames: np.ndarray, fps: int = 10) -> None:
    """``frames`` (N, H, W, 3) RGB uint8 as a lossless FFV1 video."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "bgr0"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def read_clip(path: Path) -> np.ndarray:
    """Every frame of the video at ``path``, (N, H, W, 3) RGB uint8."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
