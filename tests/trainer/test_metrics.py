from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from trainer.metrics import color_shift, psnr, ssim, unsharp_mask


def test_psnr_of_a_known_mse() -> None:
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a + np.uint8(1)  # MSE 1 -> 20 log10(255)
    assert psnr(a, b) == pytest.approx(20 * math.log10(255), abs=1e-9)
    c = a.copy()
    c[0, 0, 0] = 110  # one error of 10 in 192 values: MSE 100/192
    assert psnr(a, c) == pytest.approx(10 * math.log10(255**2 / (100 / 192)), abs=1e-9)
    assert psnr(a, a) == math.inf


def test_ssim_matches_scikit_image(photo: np.ndarray) -> None:
    skm = pytest.importorskip("skimage.metrics")
    img = photo
    rng = np.random.default_rng(0)
    for other in (
        cv2.GaussianBlur(img, (0, 0), 2),
        np.clip(img + rng.normal(0, 15, img.shape), 0, 255).astype(np.uint8),
    ):
        ref = skm.structural_similarity(
            img, other, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1
        )
        assert ssim(img, other) == pytest.approx(ref, abs=1e-6)
    assert ssim(img, img) == pytest.approx(1.0)


def test_color_shift_and_unsharp_mask(photo: np.ndarray) -> None:
    a = np.full((4, 4, 3), 100, np.uint8)
    b = a.copy()
    b[..., 2] += 3
    assert color_shift(b, a) == pytest.approx([0.0, 0.0, 3.0])
    img = photo
    soft = cv2.GaussianBlur(img, (0, 0), 1.2)
    assert psnr(unsharp_mask(soft), img) > psnr(soft, img)  # the baseline is a real baseline
