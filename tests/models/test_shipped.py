"""The shipped generator: loads with no argument, deblurs, and leaves sharp frames alone."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from streamdeblur.models import DEFAULT_MODEL, load_generator
from trainer.blur import blur_with_psf, trajectory_psf

PHOTO = Path(__file__).resolve().parents[1] / "data" / "photo.png"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def _run(model: torch.nn.Module, img: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        y = model(x)
    return (y[0].permute(1, 2, 0) * 255).round().byte().numpy()


def test_default_generator_is_the_shipped_lite_model():
    model = load_generator()
    assert model.arch == DEFAULT_MODEL == "deblurgan-lite"
    assert model.card["trained_on"], "the card must say what it was trained on"
    assert not model.training


def test_shipped_model_sharpens_blur_and_keeps_sharp_frames():
    sharp = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(3)
    blurred = blur_with_psf(sharp, trajectory_psf(15, rng))
    model = load_generator()
    out = _run(model, blurred)
    assert _psnr(out, sharp) > _psnr(blurred, sharp) + 0.1  # measurably closer to the sharp photo
    kept = _run(model, sharp)
    assert _psnr(kept, sharp) > 33.0  # a sharp frame is not damaged
    # no colour cast: mean per-channel shift under 2 levels
    assert np.all(np.abs(kept.astype(np.float64).mean((0, 1)) - sharp.astype(np.float64).mean((0, 1))) < 2.0)
