"""What deblurring could gain with the blur known exactly: a ceiling to judge a model against.

A clip made by :func:`trainer.camera.camera_video` (as the sample clips are) has a known blur:
each blurred frame is the mean, in linear light, of the sharp target warped by the camera's
moves (:func:`trainer.camera.camera_video_warps`). Inverting that operator with a smoothness
prior, by conjugate gradients, is non-blind deconvolution: it knows what a blind deblurrer must
guess. What it gains on a frame says how much of the detail the blur (and any compression after
it) left to recover; ``scripts/clip_ceiling.py`` sets it beside a model's gain.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .blur import linear_to_srgb, srgb_to_linear, to_float, to_uint8

__all__ = ["blur_operator", "deconvolve"]

_FLAGS = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP


def _warp(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    h, w = x.shape[:2]
    return cv2.warpAffine(x, m[:2], (w, h), flags=_FLAGS, borderMode=cv2.BORDER_REFLECT_101)


def blur_operator(x: np.ndarray, warps: Sequence[np.ndarray]) -> np.ndarray:
    """The blur of one frame applied to ``x`` (float linear light): the mean of its warps."""
    return sum(_warp(x, m) for m in warps) / len(warps)


def _adjoint(x: np.ndarray, warps: Sequence[np.ndarray]) -> np.ndarray:
    # a warp's inverse stands in for its transpose (exact for the translations, near for the small
    # rotation and zoom: det ~1); the system is solved as symmetric
    return sum(_warp(x, np.linalg.inv(m)) for m in warps) / len(warps)


def _laplacian(x: np.ndarray) -> np.ndarray:
    """D^T D x for forward differences with a zero gradient past the last row and column."""
    gx = np.diff(x, axis=1, append=x[:, -1:])
    gy = np.diff(x, axis=0, append=x[-1:])
    return -(np.diff(gx, axis=1, prepend=np.zeros_like(gx[:, :1])) + np.diff(gy, axis=0, prepend=np.zeros_like(gy[:1])))


def deconvolve(blurred: np.ndarray, warps: Sequence[np.ndarray], lam: float, iters: int = 60) -> np.ndarray:
    """Non-blind deconvolution of a uint8 RGB frame whose blur is ``warps``: argmin over x of
    |A x - y|^2 + lam |grad x|^2 in linear light (conjugate gradients from y), back to uint8 sRGB.
    ``lam`` trades detail recovered against noise and compression artefacts amplified."""
    if lam <= 0:
        raise ValueError(f"lam must be positive, got {lam}")
    y = srgb_to_linear(to_float(blurred)).astype(np.float32)

    def normal(v: np.ndarray) -> np.ndarray:
        return _adjoint(blur_operator(v, warps), warps) + lam * _laplacian(v)

    x = y.copy()
    r = _adjoint(y, warps) - normal(x)
    p = r.copy()
    rs = float((r * r).sum())
    for _ in range(iters):
        if rs == 0.0:
            break
        q = normal(p)
        alpha = rs / float((p * q).sum())
        x += alpha * p
        r -= alpha * q
        rs_new = float((r * r).sum())
        p = r + (rs_new / rs) * p
        rs = rs_new
    return to_uint8(linear_to_srgb(np.clip(x, 0.0, 1.0)))
