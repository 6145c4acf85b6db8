"""Fixtures and settings shared by the whole suite: the test photo, tiny generators and their
weights, the torch thread settings, and the skips for GPU/TensorRT tests on machines without them.
The plain values and helpers behind them are in ``testkit.py`` (importable by test modules)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from testkit import TINY_LITE, load_photo, perturbed

from streamdeblur.models import build_model, save_generator

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# A shell starts a background job (`cmd &` without job control, as CI runners and nohup
# scripts do) with SIGINT ignored; Python then installs no KeyboardInterrupt handler, and its
# children inherit the ignore. The Ctrl-C tests (in-process and in child CLIs) need Ctrl-C to
# work as in a terminal: give the suite, and so every child it starts, Python's own handler.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _ctrl_c_raises():
    """Each test starts with Python's own Ctrl-C handler, whatever an earlier test (a GUI
    toolkit, a cluster client) left installed: `_thread.interrupt_main()` only raises
    KeyboardInterrupt while Python handles SIGINT."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if before is not None:
        signal.signal(signal.SIGINT, before)


@pytest.fixture(autouse=True)
def _cache_in_a_test_folder(tmp_path_factory, monkeypatch):
    """streamdeblur's cache (ONNX exports, the records of what made each batch output) in a folder of
    this test session's, not the user's ~/.cache (a test may set its own)."""
    monkeypatch.setenv("STREAMDEBLUR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "sd-cache"))


def pytest_collection_modifyitems(config, items):
    has_cuda = torch.cuda.is_available()
    try:
        import tensorrt  # noqa: F401

        has_trt = has_cuda
    except Exception:
        has_trt = False
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU; none visible to PyTorch"))
        if "tensorrt" in item.keywords and not has_trt:
            item.add_marker(
                pytest.mark.skip(reason="needs TensorRT and a CUDA GPU (pip install 'streamdeblur[tensorrt]')")
            )


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """The test photo, uint8 (240, 320, 3) RGB; shared by every test, so never modify it."""
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


@pytest.fixture
def tiny_weights(tmp_path: Path) -> Path:
    """A real deblurgan-lite checkpoint, tiny (TINY_LITE); it is exactly the identity at initialisation."""
    w, _ = save_generator(build_model("deblurgan-lite", **TINY_LITE), tmp_path / "weights" / "tiny")
    return w


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: tiny models gain nothing from two, and on a shared
    2-core machine a second OpenMP thread spin-waiting on a busy core makes them 10-100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
