"""Fixtures shared by the backend tests: a real photo and generators that really change it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from streamdeblur.models import build_model

PHOTO = Path(__file__).resolve().parent.parent / "data" / "photo.png"


def load_photo() -> np.ndarray:
    """tests/data/photo.png as uint8 (240, 320, 3) RGB."""
    import cv2

    bgr = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {PHOTO}"
    return np.ascontiguousarray(bgr[..., ::-1])


def perturbed(name: str, seed: int = 0, **args):
    """A generator whose weights are nudged off their init, so it is not the identity.

    deblurgan-lite starts as the identity (zero residual scales and output conv): a
    parity test on it would pass even if the export dropped the whole network.
    """
    torch.manual_seed(seed)
    g = build_model(name, **args).eval()
    with torch.no_grad():
        for p in g.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return g


@pytest.fixture(autouse=True)
def _onnx_cache(tmp_path_factory, monkeypatch):
    """Keep exported ONNX files out of the user's cache."""
    monkeypatch.setenv("STREAMDEBLUR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "sd-cache"))


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return load_photo()


@pytest.fixture(scope="session")
def photo_batch(photo) -> torch.Tensor:
    """The photo as a (1, 3, 240, 320) float batch in [0, 1]."""
    return torch.from_numpy(photo).permute(2, 0, 1)[None].float().div(255.0)


@pytest.fixture(scope="session")
def lite():
    """deblurgan-lite's full structure (4 levels, every op type) at half the default width, to keep tests quick."""
    return perturbed("deblurgan-lite", width=8)


@pytest.fixture(scope="session")
def tiny_deblurgan():
    """A small DeblurGAN at its random init: far from the identity already.

    (Perturbed further, its InstanceNorms amplify the rounding of an FP16 input 14-fold,
    which no trained deblurring network does.)
    """
    torch.manual_seed(1)
    return build_model("deblurgan", base_channels=8, n_blocks=2).eval()
