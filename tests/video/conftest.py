"""Fixtures for the video tests: tiny real generators."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamdeblur.models import build_model, save_generator


@pytest.fixture
def tiny_weights(tmp_path: Path) -> Path:
    """A real deblurgan-lite checkpoint, tiny; it is exactly the identity at initialisation."""
    w, _ = save_generator(build_model("deblurgan-lite", width=8, enc_blocks=[1, 1], dec_blocks=[1, 1], middle_blocks=1), tmp_path / "weights" / "tiny")
    return w
