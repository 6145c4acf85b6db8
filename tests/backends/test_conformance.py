"""The one conformance test: every backend this machine can run vs the PyTorch CPU reference.

Real photo content through a generator that really changes it. Tolerances (max abs
difference on [0, 1] values): FP32 backends 1e-4; FP16 and BF16 backends (PyTorch CUDA
half, a TensorRT FP16 engine, OpenVINO bf16 on a CPU with AVX512_BF16/AMX) 2/255. Every
backend runs at its default precision; OpenVINO also at fp32 (its exact path) and with
its latency hint (its default runs a batch over the throughput streams). Backends that
cannot run here (OpenVINO not installed) skip with their reason. Each backend's ``process``
takes uint8 and uint16 (deep colour) frames and gives the same dtype back.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from streamdeblur.backends import BACKENDS, BackendOptions
from streamdeblur.errors import InputError

FP32_TOL = 1e-4
FP16_TOL = 2 / 255
CASES = [(name, dev, {}) for name, cls in BACKENDS.items() for dev in cls.devices]
CASES += [("openvino", "cpu", {"precision": "fp32"}), ("openvino", "cpu", {"openvino_hint": "latency"})]
IDS = [f"{n}-{d}" + "".join(f"-{v}" for v in o.values()) for n, d, o in CASES]


def _make(name: str, device: str, generator, tmp_path_factory, **options):
    reason = BACKENDS[name].unavailable_reason(device)
    if reason:
        pytest.skip(f"{name} on {device}: {reason}")
    if name == "tensorrt":  # needs an engine: build one for this GPU (small profile, minutes)
        from streamdeblur.engine_build import BuildOptions, build_engine
        from streamdeblur.engine_cache import Profile

        d = tmp_path_factory.mktemp("engines")
        opts = BuildOptions(Profile((64, 64), (240, 320), (480, 640), batch=2), engines_dir=d, opt_level=1)
        res = build_engine(generator, opts)
        return BACKENDS[name](generator, device, BackendOptions(engine=res.engine, engines_dir=d))
    return BACKENDS[name](generator, device, BackendOptions(**options))


@pytest.mark.parametrize("name,device,options", CASES, ids=IDS)
def test_backend_matches_pytorch_cpu_reference(name, device, options, lite, photo_batch, photo, tmp_path_factory):
    import copy

    reason = BACKENDS[name].unavailable_reason(device)
    if reason:
        pytest.skip(f"{name} on {device}: {reason}")
    ref_gen = copy.deepcopy(lite).float().eval()
    x = torch.cat([photo_batch, photo_batch.flip(-1)])[..., :237, :311]  # batch 2, odd size
    with torch.no_grad():
        ref = ref_gen(x)
    assert (ref - x).abs().mean() > 0.01  # the generator changes the photo: this test can fail
    be = _make(name, device, copy.deepcopy(lite), tmp_path_factory, **options)
    try:
        assert be.precision == options.get("precision", be.precision)
        tol = FP16_TOL if be.precision in ("fp16", "bf16") else FP32_TOL
        y = be.infer(x.clone()).float().cpu()
        assert y.shape == x.shape
        diff = (y - ref).abs().max().item()
        assert diff <= tol, f"{be.describe()}: max abs diff {diff:.2e} > {tol:.2e}"
        # and the pipeline's uint8 path agrees to within one level (fp32) or rounding of tol (fp16)
        frames = np.ascontiguousarray(photo[:237, :311][None])
        out = be.process(frames)
        ref8 = (ref[:1].clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        assert out.shape == frames.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - ref8.astype(int)).max() <= (1 if tol == FP32_TOL else 3)
        # deep colour (issue 27): uint16 frames in, uint16 out, matching the float math to within its tolerance
        frames16 = _deep(frames)
        with torch.no_grad():
            ref16 = ref_gen(torch.from_numpy(frames16).permute(0, 3, 1, 2).double().div(65535).float())
        ref16 = (ref16.clamp(0, 1).double() * 65535).round().permute(0, 2, 3, 1).numpy()
        out16 = be.process(frames16)
        assert out16.shape == frames16.shape and out16.dtype == np.uint16
        assert np.abs(out16.astype(float) - ref16).max() <= tol * 65535 + 1, be.describe()
    finally:
        be.close()


def _deep(frames: np.ndarray) -> np.ndarray:
    """uint8 frames as 16-bit ones with detail below the eighth bit (as a 10-16-bit video has)."""
    fine = np.random.default_rng(0).integers(0, 257, frames.shape)
    return (frames.astype(np.int64) * 257 - 128 + fine).clip(0, 65535).astype(np.uint16)


@pytest.mark.parametrize("name", ["torch", "onnxruntime"])
def test_frames_process_cannot_take_are_one_line_input_errors(name, lite, photo, one_thread):
    """What a caller's own code may hand ``process`` by mistake (one picture, a grey, RGBA or float one,
    a list, an empty picture) is an InputError naming what it got: it was a bare ValueError, torch's
    RuntimeError from inside the model (an empty picture) or an AttributeError (a list)."""
    be = BACKENDS[name](lite, "cpu", BackendOptions())
    one = np.ascontiguousarray(photo[:24, :32])
    wrong = {
        "uint8 (24, 32, 3)": one,
        "uint8 (1, 24, 32)": one[None, ..., 0],
        "uint8 (1, 24, 32, 4)": np.concatenate([one, one[..., :1]], -1)[None],
        "float32 (1, 24, 32, 3)": one[None].astype(np.float32) / 255,
        "a list": [one],
        "uint8 (1, 24, 0, 3)": one[None, :, :0],
    }
    try:
        for got, frames in wrong.items():
            with pytest.raises(InputError, match=rf"shape \(N, H, W, 3\), H and W 1 or more, got {re.escape(got)};"):
                be.process(frames)
        assert be.process(one[None, ::-1, ::-1]).shape == (1, 24, 32, 3)  # a non-contiguous view is fine
        assert be.process(one[None, :0].reshape(0, 24, 32, 3)).shape == (0, 24, 32, 3)  # so is no frame at all
    finally:
        be.close()
