"""FP16 numerics of the generators, checked on the CPU: a GPU runs them in half precision
(TensorRT FP16, PyTorch CUDA FP16), and a model that overflows or drifts in half is found
here, before anyone has a GPU. The ONNX FP16 graph keeps its normalisation in float32."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from testkit import perturbed

from streamdeblur.models import load_generator
from streamdeblur.onnx_export import onnx_bytes
from trainer.blur import blur_with_psf, trajectory_psf


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """One torch thread (tests/conftest.py): two spin-waiting threads on a busy 2-core machine are far slower."""


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _frames(photo: np.ndarray) -> list[np.ndarray]:
    """A 128x192 part of a real photo, sharp and with camera-shake blur, float32 NCHW in [0, 1]."""
    crop = np.ascontiguousarray(photo[48:176, 64:256])
    blurred = blur_with_psf(crop, trajectory_psf(21, np.random.default_rng(4)))
    return [torch.from_numpy(im).permute(2, 0, 1)[None].float().div(255).numpy() for im in (crop, blurred)]


def _session(generator: torch.nn.Module, precision: str) -> ort.InferenceSession:
    return ort.InferenceSession(onnx_bytes(generator, precision), providers=["CPUExecutionProvider"])


def _onnx_run(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    inp = session.get_inputs()[0]
    return session.run(None, {inp.name: x.astype(np.float16 if "float16" in inp.type else np.float32)})[0].astype(
        np.float32
    )


def test_shipped_generator_in_fp16_matches_fp32_on_real_frames(photo: np.ndarray) -> None:
    g = load_generator()
    session = _session(g, "fp16")
    for x in _frames(photo):
        with torch.inference_mode():
            ref = g(torch.from_numpy(x)).numpy()
        half = _onnx_run(session, x)
        assert np.isfinite(half).all()
        assert _psnr(half, ref) >= 45.0
        # the change the model makes (output - input) survives half precision too
        assert _psnr(half - x, ref - x) >= 45.0


def test_shipped_generator_in_pytorch_half_on_the_cpu_matches_fp32(photo: np.ndarray) -> None:
    # PyTorch's own half kernels (what CUDA FP16 runs), on a 96x128 crop: slow on a CPU
    g = load_generator()
    x = torch.from_numpy(_frames(photo)[1][:, :, :96, :128].copy())
    with torch.inference_mode():
        ref = g(x)
        half = copy.deepcopy(g).half()(x.half()).float()
    assert torch.isfinite(half).all()
    assert _psnr(half.numpy(), ref.numpy()) >= 45.0


@pytest.mark.parametrize(
    ("arch", "args"),
    [
        ("deblurgan-lite", {"width": 8, "enc_blocks": [1, 1], "dec_blocks": [1, 1], "middle_blocks": 1}),
        ("deblurgan", {"base_channels": 8, "n_blocks": 2}),
    ],
)
def test_onnx_fp16_graph_keeps_normalisation_in_float32(arch: str, args: dict, photo: np.ndarray) -> None:
    g = perturbed(arch, **args)
    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(onnx_bytes(g, "fp16")))
    types = {
        v.name: v.type.tensor_type.elem_type for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]
    }
    assert types[model.graph.input[0].name] == onnx.TensorProto.FLOAT16
    norm_inputs = [n.input[0] for n in model.graph.node if n.op_type in ("ReduceMean", "InstanceNormalization")]
    assert norm_inputs, "no normalisation found in the graph"
    assert all(types.get(i) == onnx.TensorProto.FLOAT for i in norm_inputs)
    x = _frames(photo)[1][:, :, :64, :64].copy()
    half, full = _onnx_run(_session(g, "fp16"), x), _onnx_run(_session(g, "fp32"), x)
    assert np.isfinite(half).all() and _psnr(half, full) >= 40.0  # a nudged random network, not a trained one
