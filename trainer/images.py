"""Image files and tensors: read and write RGB uint8 images, and convert them to and from
the (N, 3, H, W) float tensors a generator takes (through :mod:`streamdeblur.tensors`, the one
place that conversion is written)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from streamdeblur.errors import InputError, InputNotFoundError
from streamdeblur.fileio import writing
from streamdeblur.tensors import as_tensor, to_float, to_uint8

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB; an unreadable file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"image not found: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise InputError(f"cannot read image {path} (empty, truncated or not an image)", "replace or delete the file")
    if img.dtype == np.uint16:
        img = np.rint(img / 257.0).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)


def write_image(path: str | os.PathLike, img: np.ndarray, params: Sequence[int] = (), *, replace: bool = True) -> Path:
    """Write an RGB image (format from the extension, OpenCV ``params``) through a temporary
    name, so an interrupted make-data never leaves half an image; replacing any file there
    unless ``replace`` is False (then one that appeared meanwhile stays)."""
    path = Path(path)
    with writing(path, replace=replace) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), list(params)):
            raise InputError(f"cannot write {path}")
    return path


def to_tensor(imgs: Sequence[np.ndarray]) -> torch.Tensor:
    """A list of HxWx3 uint8 images -> (N, 3, H, W) float32 in [0, 1]."""
    return to_float(as_tensor(np.stack(imgs))).contiguous()


def from_tensor(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) float in [0, 1] -> (N, H, W, 3) uint8 with rounding."""
    return to_uint8(x.detach().float()).cpu().numpy()
