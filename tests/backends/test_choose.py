"""Backend choice: auto picks the fastest that can run and says why; explicit choices never fall back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from streamdeblur.backends import (
    BACKENDS,
    CPU_ORDER,
    BackendOptions,
    OnnxRuntimeBackend,
    TensorRTBackend,
    choose_backend,
    create_backend,
)
from streamdeblur.errors import BackendUnavailableError, InputError
from streamdeblur.machine import tensorrt_requirements

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible here")
no_trt = pytest.mark.skipif(tensorrt_requirements() is None, reason="TensorRT and a GPU are present here")


def test_registry_has_every_backend():
    assert set(BACKENDS) == {"tensorrt", "torch", "torch-compile", "onnxruntime", "openvino"}
    assert set(CPU_ORDER) <= set(BACKENDS)
    assert CPU_ORDER == ("openvino", "onnxruntime", "torch")  # the ranking measured in docs/BENCHMARKS.md


@no_cuda
def test_auto_without_gpu_picks_the_fastest_installed_cpu_backend_and_says_so(lite):
    fastest = next(n for n in CPU_ORDER if BACKENDS[n].unavailable_reason("cpu") is None)  # openvino is an extra
    name, device, why = choose_backend("auto", None, generator=lite)
    assert (name, device) == (fastest, "cpu")
    assert why.startswith("auto: ") and "no CUDA GPU" in why
    be = create_backend("auto", lite)
    assert isinstance(be, BACKENDS[fastest]) and be.choice_reason == why
    be.close()


@no_trt
def test_explicit_tensorrt_without_it_is_an_error_naming_what_lacks(lite):
    with pytest.raises(BackendUnavailableError) as ei:
        choose_backend("tensorrt")
    msg = str(ei.value)
    assert "\n" not in msg
    if tensorrt_requirements() and "not installed" in tensorrt_requirements():
        assert "pip install 'streamdeblur[tensorrt-cu" in msg
    if not torch.cuda.is_available():
        assert "GPU" in msg
    # not through the chooser either: the class refuses by itself, and create_backend never falls back
    with pytest.raises(BackendUnavailableError):
        TensorRTBackend(lite, "cuda")
    with pytest.raises(BackendUnavailableError):
        create_backend("tensorrt", lite)


def test_tensorrt_on_cpu_is_refused():
    with pytest.raises(BackendUnavailableError, match="does not run on 'cpu'"):
        choose_backend("tensorrt", "cpu")


def test_a_device_the_backend_never_runs_on_says_what_to_pass(tmp_path):
    """`run --backend openvino --device cuda` said only "backend 'openvino' does not run on 'cuda' (it runs
    on: cpu)", with no fix after it; the line now says which --device (or another --backend) to pass."""
    from typer.testing import CliRunner

    from streamdeblur.cli import app

    picture = tmp_path / "in.png"
    cv2.imwrite(str(picture), np.full((24, 32, 3), 128, np.uint8))
    r = CliRunner().invoke(app, ["run", str(picture), "-o", str(tmp_path / "o.png"), "--backend", "openvino"]
                           + ["--device", "cuda"])  # fmt: skip
    assert r.exit_code == 2
    assert r.output.strip() == (
        "streamdeblur: error: backend 'openvino' does not run on 'cuda' (it runs on: cpu); "
        "pass --device cpu, or another --backend for cuda"
    )


@no_cuda
def test_explicit_cuda_devices_are_errors_without_a_gpu():
    with pytest.raises(BackendUnavailableError, match="CPU-only build of PyTorch|no CUDA GPU"):
        choose_backend("torch", "cuda")
    with pytest.raises(BackendUnavailableError):
        choose_backend("auto", "cuda")


@pytest.mark.skipif(
    "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers(),
    reason="onnxruntime-gpu is installed",
)
def test_onnxruntime_cuda_without_the_gpu_package_is_an_error():
    with pytest.raises(BackendUnavailableError, match="onnxruntime-gpu"):
        choose_backend("onnxruntime", "cuda")
    assert OnnxRuntimeBackend.unavailable_reason("cpu") is None


def test_unknown_backend_lists_the_choices():
    with pytest.raises(BackendUnavailableError, match="auto, tensorrt, torch, torch-compile, onnxruntime, openvino"):
        choose_backend("nosuch")


def test_explicit_backends_that_run_here_say_they_were_asked_for():
    assert choose_backend("onnxruntime", "cpu") == ("onnxruntime", "cpu", "onnxruntime on cpu (asked for)")
    assert choose_backend("torch", "cpu")[:2] == ("torch", "cpu")


def test_an_explicit_engine_is_never_silently_replaced_by_another_backend(tmp_path):
    """`run --engine X` with backend auto must run TensorRT or fail saying why, not use ONNX Runtime."""
    import torch

    from streamdeblur.backends import choose_backend
    from streamdeblur.errors import BackendUnavailableError

    engine = tmp_path / "x.engine"
    engine.write_bytes(b"not an engine")
    if torch.cuda.is_available():
        pytest.skip("on a GPU machine the outcome depends on TensorRT being installed")
    with pytest.raises(BackendUnavailableError, match="(?i)tensorrt"):
        choose_backend("auto", None, engine=engine)


def test_a_request_carries_every_backends_options_and_the_chosen_one_reads_its_own(lite):
    """A request names options for whichever backend auto picks; the chosen one reads its own."""
    options = BackendOptions(engines_dir="engines", openvino_hint="latency", threads=2, max_tile=96)
    be = create_backend("torch", lite, "cpu", options)
    assert be.max_tile == 96 and be.choice_reason == "torch on cpu (asked for)"
    be.close()


def test_a_misspelled_or_bad_backend_option_fails_at_once(lite):
    """Before any backend opens: a name no backend takes, or a value outside its choices."""
    with pytest.raises(TypeError, match="nosuch"):
        BackendOptions(nosuch=1)
    with pytest.raises(InputError, match="unknown precision 'fp8'; choose one of: fp16, fp32, bf16"):
        BackendOptions(precision="fp8")
    with pytest.raises(InputError, match="threads must be 1 or more"):
        BackendOptions(threads=0)


def test_a_backend_made_directly_says_it_was_asked_for(lite):
    be = BACKENDS["torch"](lite, "cpu")
    assert be.choice_reason == "torch on cpu (asked for)" and be.precision == "fp32"
    be.close()


def test_a_backend_that_cannot_use_the_gpu_here_is_not_moved_to_the_cpu(monkeypatch, lite):
    """`--backend torch-compile` (no --device) on a GPU machine without Triton ran on the CPU, many times
    slower, with nothing but "cpu" in the start line to say so; now it is an error naming what is missing
    and --device cpu. Without a GPU the backend's CPU device is still its best."""
    from streamdeblur.backends import Backend

    class GpuFirst(Backend):
        name = "gpu-first"
        devices = ("cuda", "cpu")

        @classmethod
        def missing(cls, device):
            return "it needs Triton on CUDA (pip install triton)" if device == "cuda" else None

        def infer(self, batch):
            return batch

    monkeypatch.setitem(BACKENDS, "gpu-first", GpuFirst)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(BackendUnavailableError) as err:
        choose_backend("gpu-first")
    assert str(err.value) == (
        "it needs Triton on CUDA (pip install triton); or pass --device cpu to run gpu-first on the CPU"
    )
    assert choose_backend("gpu-first", "cpu")[:2] == ("gpu-first", "cpu")  # asked for: runs there
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_backend("gpu-first")[:2] == ("gpu-first", "cpu")  # no GPU: the CPU is its best here
