"""Standard image-quality metrics, computed exactly as the deblurring papers report them.

* PSNR on 8-bit RGB: ``10 log10(255^2 / MSE)`` over all pixels and channels of one image
  (:func:`capped_psnr`: identical images at 99 dB, for means over video frames).
* SSIM as Wang et al. 2004 in scikit-image's form (``structural_similarity`` with
  ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255``,
  ``channel_axis=-1``): an 11x11 Gaussian window (truncate 3.5), K1=0.01, K2=0.03,
  the mean over channels of the SSIM map with its 5-pixel border cropped. Implemented with
  OpenCV's Gaussian filter (reflect border, as scipy's) so the trainer needs no scipy;
  a test checks it against scikit-image.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of the same shape (inf when identical)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def capped_psnr(a: np.ndarray, b: np.ndarray, cap: float = 99.0) -> float:
    """:func:`psnr`, with identical images at ``cap`` dB instead of inf (so means stay finite)."""
    return min(psnr(a, b), cap)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """SSIM of two HxW or HxWxC images, matching scikit-image's Gaussian-weighted SSIM."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    sigma, truncate = 1.5, 3.5
    r = int(truncate * sigma + 0.5)
    win = 2 * r + 1
    if min(a.shape[:2]) < win:
        raise ValueError(f"images must be at least {win}x{win} for SSIM")
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2

    def filt(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (win, win), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)

    vals = []
    for ch in range(a.shape[2]):
        x = a[..., ch].astype(np.float64)
        y = b[..., ch].astype(np.float64)
        ux, uy = filt(x), filt(y)
        vx = filt(x * x) - ux * ux
        vy = filt(y * y) - uy * uy
        vxy = filt(x * y) - ux * uy
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        vals.append(s[r:-r, r:-r].mean())
    return float(np.mean(vals))


def color_shift(out: np.ndarray, ref: np.ndarray) -> list[float]:
    """Mean per-channel difference out - ref in 8-bit levels (a tint the model adds)."""
    d = out.astype(np.float64) - ref.astype(np.float64)
    return [float(v) for v in d.reshape(-1, d.shape[-1]).mean(0)]


def unsharp_mask(img: np.ndarray, sigma: float = 1.5, amount: float = 1.0) -> np.ndarray:
    """The classical baseline: add back ``amount`` times the detail a Gaussian removes."""
    x = img.astype(np.float32)
    blurred = cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(np.rint(x + amount * (x - blurred)), 0, 255).astype(np.uint8)
