"""The machine facts (``streamdeblur.machine``) and ``streamdeblur doctor`` printing them."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from streamdeblur.cli import app
from streamdeblur.machine import machine_info, machine_report


def test_report_and_bench_header():
    info = machine_report()
    assert info["cpu"] and info["cpu_cores"] >= 1 and info["torch"] == torch.__version__
    assert info["backends"]["torch"]["cpu"] == "ok"
    assert set(info["encoders"]) >= {"libx264", "aac"}
    full = machine_info()
    assert set(full) >= set(info) | {"nvidia_driver", "cuda_runtime", "cudnn", "torch_threads", "load_average"}
    assert full["cuda_runtime"] == info["torch_cuda_build"] == torch.version.cuda


def test_doctor_prints_the_report():
    res = CliRunner().invoke(app, ["doctor"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("python ") and any(ln.split()[:3] == ["backend", "torch", "cpu"] for ln in lines)
    data = json.loads(CliRunner().invoke(app, ["doctor", "--json"]).stdout)
    assert data["backends"]["torch"]["cpu"] == "ok" and "cpu_cores" in data
    encoders = next(ln for ln in lines if ln.startswith("encoders "))
    if data["encoders"].get("h264_nvenc") and not data["gpus"]:  # an FFmpeg with NVENC on a machine without a GPU
        assert "h264_nvenc: built in (no NVIDIA GPU here)" in encoders and "h264_nvenc: yes" not in encoders
    assert "libx264: yes" in encoders
    ort = next(ln for ln in lines if ln.startswith("onnxruntime "))  # was "1.32.0 ['AzureExecutionProvider', ...]"
    assert ort == f"onnxruntime {data['onnxruntime']} (execution providers: {', '.join(data['onnxruntime_providers'])})"
    backends = [ln for ln in lines if ln.startswith("backend ")]  # one column for the device, torch-compile's too
    assert len({ln.index(" cpu ") if " cpu " in ln else ln.index(" cuda ") for ln in backends}) == 1, backends


def test_doctor_names_the_stream_protocols_this_ffmpeg_has():
    """Which stream URLs `run -o URL` can send to with this FFmpeg build (this PyAV's has no libsrt)."""
    res = CliRunner().invoke(app, ["doctor"])
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("streams "))
    data = json.loads(CliRunner().invoke(app, ["doctor", "--json"]).stdout)["streams"]
    assert "rtmp" in data["out"] and "tcp" in data["out"] and "rtsp" in data["in"]
    assert "out (run -o URL): rtmp" in line
    assert not set(data["missing"]) & set(data["out"])
    if data["missing"]:
        assert line.endswith(f"not in this FFmpeg build: {', '.join(data['missing'])}")
