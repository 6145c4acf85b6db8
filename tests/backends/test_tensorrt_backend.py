"""TensorRT build and backend on a real GPU (skipped without TensorRT and CUDA).

Written against the documented TensorRT 10/11 Python API; the machines this project's CI
runs on have neither, so these run only where both are installed.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from streamdeblur.backends import BackendOptions, TensorRTBackend
from streamdeblur.engine_build import BuildOptions, build_engine
from streamdeblur.engine_cache import EngineSidecar, Profile, sidecar_path, timing_cache_path
from streamdeblur.errors import EngineMismatchError, ShapeError
from streamdeblur.machine import current_gpu, tensorrt_version

pytestmark = [pytest.mark.gpu, pytest.mark.tensorrt]


@pytest.fixture(scope="module")
def built(lite, tmp_path_factory):
    d = tmp_path_factory.mktemp("engines")
    opts = BuildOptions(Profile((64, 64), (240, 320), (256, 320), batch=2), engines_dir=d, opt_level=1)
    ticks = []
    res = build_engine(lite, opts, progress=lambda s, f, t: ticks.append((s, f, t)))
    return d, opts, res, ticks


def test_build_writes_engine_sidecar_and_timing_cache_and_reuses(built, lite):
    d, opts, res, ticks = built
    assert not res.reused and res.engine.exists() and sidecar_path(res.engine).exists()
    side = json.loads(sidecar_path(res.engine).read_text())
    assert side["gpu_name"] == current_gpu().name and side["tensorrt_version"] == tensorrt_version()
    assert side["precision"] == "fp16" and side["max_shape"] == [2, 3, 256, 320]
    assert timing_cache_path(d, current_gpu(), tensorrt_version()).exists()
    assert ticks and ticks[-1][1] == 1.0
    again = build_engine(lite, opts)
    assert again.reused and again.engine == res.engine
    assert not list(d.glob("*.tmp")) and not list(d.glob(".*"))


def test_engine_runs_and_tiles_frames_above_the_profile(built, lite, photo_batch):
    d, _, res, _ = built
    be = TensorRTBackend(lite, "cuda", BackendOptions(engine=res.engine, engines_dir=d))
    x = photo_batch  # 240x320 fits
    with torch.no_grad():
        ref = lite.float().cpu()(x)
    assert (be.infer(x).cpu() - ref).abs().max() <= 2 / 255
    big = torch.nn.functional.interpolate(x, size=(480, 640), mode="bilinear")  # above max: tiled
    with torch.no_grad():
        ref_big = lite(big)
    d_big = (be.infer_tiled(big).cpu() - ref_big).abs()
    assert d_big.max() <= 10 / 255 and d_big.mean() <= 1 / 255  # tiles blend (tests/test_tiling.py: max 8 levels)
    small = x[..., :40, :72]  # below the 64x64 min: padded up to it, cropped back
    with torch.no_grad():
        ref_small = lite(small)
    assert (be.infer_tiled(small).cpu() - ref_small)[..., :24, :].abs().max() <= 2 / 255
    be_strict = TensorRTBackend(lite, "cuda", BackendOptions(engine=res.engine, engines_dir=d, tensorrt_tiling=False))
    with pytest.raises(ShapeError, match="outside the TensorRT optimization profile"):
        be_strict.infer_tiled(big)


def test_engine_for_another_gpu_is_refused_before_loading(built, lite, tmp_path):
    _, _, res, _ = built
    eng = tmp_path / res.engine.name
    eng.write_bytes(b"garbage that TensorRT would choke on")
    side = dataclasses.replace(EngineSidecar.read(res.engine), gpu_name="Some Other GPU")
    sidecar_path(eng).write_text(side.to_json())
    with pytest.raises(EngineMismatchError, match="Some Other GPU.*streamdeblur build-engine"):
        TensorRTBackend(lite, "cuda", BackendOptions(engine=eng))
