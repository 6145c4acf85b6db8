"""The PyTorch backend runs its own copy of the generator: the caller's is never changed."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from streamdeblur.backends import TorchBackend


def test_the_callers_generator_is_unchanged_by_creating_and_running_a_torch_backend(lite, photo):
    before = copy.deepcopy(lite.state_dict())
    dtypes = {p.dtype for p in lite.parameters()}
    training = lite.training
    be = TorchBackend(lite, "cpu")
    assert be.model is not lite
    out = be.process(np.ascontiguousarray(photo[None, :96, :128]))
    assert out.shape == (1, 96, 128, 3)
    be.close()
    after = lite.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    assert {p.dtype for p in lite.parameters()} == dtypes and lite.training == training
    assert all(p.device.type == "cpu" and p.is_contiguous() for p in lite.parameters())  # no channels-last, no move


def test_a_closed_torch_backend_says_it_is_closed(lite, photo):
    """As ONNX Runtime's and OpenVINO's do; it was "'NoneType' object is not callable"."""
    be = TorchBackend(lite, "cpu")
    be.close()
    with pytest.raises(RuntimeError, match="backend is closed"):
        be.process(np.ascontiguousarray(photo[None, :32, :32]))
