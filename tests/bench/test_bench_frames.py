"""The bench's synthetic frames: textured, panning, noisy (work for an encoder)."""

from __future__ import annotations

import numpy as np

from streamdeblur.bench.frames import synthetic_frames


def test_synthetic_frames_move():
    a, b = synthetic_frames(96, 64, 2)
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8
    assert a.std() > 20  # textured, not flat
    # the content pans: frame 1 shifted back by (3, 2) matches frame 0 up to the noise
    assert np.abs(b[:-2, :-3].astype(int) - a[2:, 3:].astype(int)).mean() < 4
    assert np.abs(b.astype(int) - a.astype(int)).mean() > 10
