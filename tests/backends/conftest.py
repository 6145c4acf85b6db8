"""Settings for the backend tests (the photo and generators they use are in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _onnx_cache(tmp_path_factory, monkeypatch):
    """Keep exported ONNX files out of the user's cache."""
    monkeypatch.setenv("STREAMDEBLUR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "sd-cache"))
