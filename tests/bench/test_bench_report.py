"""The report's side-by-side lines and chart, from a hand-made report (nothing measured),
and the host-memory probe."""

from __future__ import annotations

import pytest

from streamdeblur.bench.memory import HostPeak
from streamdeblur.bench.report import plot_report, ratio_lines
from streamdeblur.errors import InputError


def _row(requested: str, backend: str, fps: float, size: str = "64x48") -> dict:
    stages = dict.fromkeys(("source", "pre", "infer", "post", "inference_stage", "encode"), fps * 2)
    return {
        "requested": requested, "backend": backend, "device": "cpu", "precision": "fp32", "model": "deblurgan-lite",
        "resolution": size, "batch": 1, "fps": {**stages, "decode": None, "end_to_end": fps}, "efficiency": 0.5,
    }  # fmt: skip


def test_ratio_lines_first_backend_over_the_others():
    data = {
        "results": [
            _row("auto", "openvino", 6.0),
            _row("onnxruntime", "onnxruntime", 3.0),
            _row("torch", "torch", 2.0),
            _row("torch", "torch", 1.0, "32x24"),
        ]
    }
    (line,) = ratio_lines(data)  # the lone 32x24 row has nothing beside it
    assert line == (
        "deblurgan-lite 64x48 batch 1: auto=openvino cpu fp32 6.00 fps; onnxruntime cpu fp32 3.00 fps; "
        "torch cpu fp32 2.00 fps "
        "(auto / onnxruntime 2.00x, auto / torch 3.00x)"
    )


def test_plot_writes_in_one_step_and_refuses_what_it_cannot_draw(tmp_path):
    pytest.importorskip("matplotlib")
    data = {"machine": {"cpu": "x", "cpu_cores": 2, "gpus": []}, "results": [_row("torch", "torch", 2.0)]}
    out = plot_report(data, tmp_path / "c" / "chart.svg")
    assert out.read_bytes().lstrip().startswith(b"<?xml")
    assert [p.name for p in out.parent.iterdir()] == ["chart.svg"]  # no temporary file left
    with pytest.raises(InputError, match="image format"):
        plot_report(data, tmp_path / "chart.txt")
    with pytest.raises(InputError, match="no results"):
        plot_report({"results": []}, tmp_path / "empty.png")


def test_host_peak_sees_an_allocation():
    import numpy as np

    host = HostPeak()
    assert host.method
    host.start()
    block = np.ones(64 * 2**20, np.uint8)  # 64 MiB, touched
    peak = host.stop()
    del block
    assert peak > 64
