"""Building engines (streamdeblur.engine_build): progress, and `build-engine`'s options and
the one line it gives on a machine without TensorRT. The build itself runs in
tests/backends/test_tensorrt_backend.py, where TensorRT and a GPU are.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from streamdeblur.cli import app
from streamdeblur.engine_build import _Ticker
from streamdeblur.machine import tensorrt_requirements, tensorrt_version

needs_no_tensorrt = pytest.mark.skipif(tensorrt_requirements() is None, reason="TensorRT and a GPU are present here")


def test_progress_ticker_reports_elapsed_time():
    seen = []
    with _Ticker(lambda stage, frac, t: seen.append((stage, frac, t)), "building") as tick:
        tick.emit()
        tick.fraction = 0.5
        tick.emit("half way")
    assert seen[0][0] == "building" and seen[-1][:2] == ("half way", 0.5) and seen[-1][2] >= seen[0][2] >= 0


@needs_no_tensorrt
def test_build_engine_without_tensorrt_is_one_clear_line(tmp_path, tiny_weights):
    r = CliRunner().invoke(app, ["build-engine", "--weights", str(tiny_weights), "-o", str(tmp_path / "engines")])
    assert r.exit_code == 2
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1, r.output
    line = lines[0]
    assert line.startswith("streamdeblur: error: TensorRT engines need TensorRT and an NVIDIA GPU")
    if tensorrt_version() is None:
        assert "pip install 'streamdeblur[tensorrt-cu" in line
    if not torch.cuda.is_available():
        assert "GPU" in line
    assert not (tmp_path / "engines").exists()  # nothing exported or created


def test_build_engine_rejects_bad_options(tiny_weights):
    r = CliRunner().invoke(app, ["build-engine", "--weights", str(tiny_weights), "--max-shape", "1080"])
    assert r.exit_code == 2 and "--max-shape '1080' is not a size" in r.output and "width x height" in r.output
    r = CliRunner().invoke(app, ["build-engine", "--weights", str(tiny_weights), "--opt-level", "7"])
    assert r.exit_code == 2
    for bad in ("nan", "inf", "0"):  # nan once passed the check and went on to TensorRT's pool size
        r = CliRunner().invoke(app, ["build-engine", "--weights", str(tiny_weights), "--workspace", bad])
        assert r.exit_code == 2 and f"--workspace must be a positive number of GiB, got {bad}" in r.output, r.output


def test_build_engine_shapes_are_width_x_height(tiny_weights):
    """720x1280 is 720 wide and 1280 high: taller than the default --max-shape 1920x1080."""
    r = CliRunner().invoke(app, ["build-engine", "--weights", str(tiny_weights), "--opt-shape", "720x1280"])
    assert r.exit_code == 2 and "not ordered on height: min 256, opt 1280, max 1080" in r.output
    r = CliRunner().invoke(app, ["build-engine", "--help"])
    assert "WxH" in r.output and "HxW" not in r.output and "--compiler" not in r.output


def test_build_flow_without_tensorrt_writes_engine_then_sidecar_reuses_and_forces(tmp_path, tiny_weights, monkeypatch):
    """build_engine's own steps around the TensorRT call (which needs a GPU: faked here)."""
    import streamdeblur.engine_build as B
    from streamdeblur.engine_cache import Profile, find_engine, sidecar_path
    from streamdeblur.machine import GpuInfo
    from streamdeblur.models import load_generator

    gpu = GpuInfo("NVIDIA H100 80GB HBM3", "9.0")
    monkeypatch.setenv("STREAMDEBLUR_CACHE_DIR", str(tmp_path / "cache"))  # the ONNX export, kept out of ~/.cache
    monkeypatch.setattr(B, "tensorrt_requirements", lambda: None)
    monkeypatch.setattr(B, "current_gpu", lambda: gpu)
    monkeypatch.setattr(B, "tensorrt_version", lambda: "10.9.0.34")
    built = []
    monkeypatch.setattr(B, "_build_with_tensorrt", lambda onnx, side, *a: built.append(side) or b"engine bytes")
    gen = load_generator(str(tiny_weights))
    opts = B.BuildOptions(
        Profile((64, 64), (240, 320), (256, 320), batch=2), engines_dir=tmp_path / "engines", opt_level=1
    )
    res = B.build_engine(gen, opts)
    assert not res.reused and res.engine.read_bytes() == b"engine bytes" and res.engine.suffix == ".engine"
    side = built[0]
    assert side.max_shape == (2, 3, 256, 320) and side.min_shape[2:] == (64, 64)
    assert sidecar_path(res.engine).exists() and res.sidecar.build_seconds is not None
    assert B.build_engine(gen, opts).reused and len(built) == 1  # the same inputs: nothing rebuilt
    forced = B.build_engine(
        gen, B.BuildOptions(opts.profile, engines_dir=tmp_path / "engines", opt_level=1, force=True)
    )
    assert not forced.reused and forced.engine == res.engine and len(built) == 2  # replaced in place
    assert not [p for p in (tmp_path / "engines").iterdir() if p.name.startswith(".")]  # no temporary left
    assert find_engine(gen, tmp_path / "engines", gpu, "10.9.0.34")[0] == res.engine


def test_an_engines_folder_that_takes_no_files_fails_before_the_build(tmp_path, tiny_weights, monkeypatch):
    """`build-engine -o DIR` where DIR exists but no file can be made (a read-only mount; /proc here) built
    for minutes, then ended in 'internal error' writing the engine. Now it is one line before the ONNX
    export and the build."""
    import streamdeblur.engine_build as B
    from streamdeblur.errors import OutputError
    from streamdeblur.machine import GpuInfo
    from streamdeblur.models import load_generator

    monkeypatch.setenv("STREAMDEBLUR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(B, "tensorrt_requirements", lambda: None)
    monkeypatch.setattr(B, "current_gpu", lambda: GpuInfo("NVIDIA H100 80GB HBM3", "9.0"))
    monkeypatch.setattr(B, "tensorrt_version", lambda: "10.9.0.34")
    built = []
    monkeypatch.setattr(B, "_build_with_tensorrt", lambda *a: built.append(a) or b"engine bytes")
    with pytest.raises(OutputError, match=r"^cannot write engines into /proc \(No such file or directory\); choose"):
        B.build_engine(load_generator(str(tiny_weights)), B.BuildOptions(engines_dir=Path("/proc")))
    assert not built and not (tmp_path / "cache").exists()  # nothing exported, nothing built
