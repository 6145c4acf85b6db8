"""The PyTorch backend runs its own copy of the generator: the caller's is never changed."""

from __future__ import annotations

import copy
import os

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


def test_torch_compile_on_the_cpu_is_not_ok_without_a_cxx_compiler(tmp_path, monkeypatch):
    """With gcc but no g++ on PATH (Debian's gcc package alone), doctor said "torch-compile cpu ok" and
    `run --backend torch-compile` ended in 'internal error: InductorError: InvalidCxxCompiler': Inductor
    compiles C++. Now doctor and the run say what is missing and how to get it."""
    import shutil

    from typer.testing import CliRunner

    from streamdeblur.backends import TorchCompileBackend
    from streamdeblur.cli import app

    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler here to stand alone on PATH")
    only_c = tmp_path / "bin"
    only_c.mkdir()
    for name in ("gcc", "cc"):
        (only_c / name).symlink_to(gcc)
    monkeypatch.setenv("PATH", str(only_c))
    monkeypatch.delenv("CXX", raising=False)
    reason = TorchCompileBackend.missing("cpu")
    assert reason is not None and "C++ compiler (g++ is not on PATH)" in reason and "apt install g++" in reason
    r = CliRunner().invoke(app, ["doctor"])
    assert r.exit_code == 0
    assert [
        line.split(None, 3)[3] for line in r.output.splitlines() if line.startswith("backend     torch-compile cpu")
    ] == [reason]
    if shutil.which("g++", path=os.defpath + ":/usr/bin") is not None:
        monkeypatch.setenv("CXX", shutil.which("g++", path=os.defpath + ":/usr/bin"))
        assert TorchCompileBackend.missing("cpu") is None  # $CXX, as Inductor reads it
