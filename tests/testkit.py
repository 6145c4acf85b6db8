"""What test modules share as plain values and functions (fixtures are in ``conftest.py``,
which builds on these): the test photo, the tiny deblurgan-lite's arguments, and a
generator nudged off its init, a process id no process has. ``from testkit import TINY_LITE, perturbed``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from streamdeblur.models import build_model

PHOTO = Path(__file__).resolve().parent / "data" / "photo.png"

# deblurgan-lite at its smallest useful size (2 levels, 8 channels): quick on 2 cores.
TINY_LITE = {"width": 8, "enc_blocks": [1, 1], "dec_blocks": [1, 1], "middle_blocks": 1}


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


def dead_pid() -> int:
    """The id of a process that has ended (a run killed before it could clean up)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid
