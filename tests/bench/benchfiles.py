"""What the bench tests share (imported by name: pytest puts this folder on sys.path): the
checks every report must pass and the one-line error every refused option gives (the tiny
weights and the one-thread setting are tests/conftest.py fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def check_report(data: dict, *, sizes: list[str], batches: list[int], decode: bool, weights: Path) -> None:
    """Every figure present and consistent with the others (never a speed asserted)."""
    m = data["machine"]
    for key in (
        "cpu",
        "cpu_cores",
        "gpus",
        "torch",
        "tensorrt",
        "onnxruntime",
        "nvidia_driver",
        "cuda_runtime",
        "load_average",
    ):
        assert key in m, key
    assert m["cpu"] and m["cpu_cores"] >= 1 and m["torch"] == torch.__version__
    assert data["method"]["host_memory"]
    assert data["seconds"] > 0
    rows = data["results"]
    assert [(r["resolution"], r["batch"]) for r in rows] == [(s, b) for s in sizes for b in batches]
    for r in rows:
        assert r["backend"] == "torch" and r["device"] == "cpu" and r["precision"] == "fp32"
        assert r["model"] == "deblurgan-lite" and r["weights"] == str(weights)
        assert r["frames"] >= 1 and r["frames"] % r["batch"] == 0
        f = r["fps"]
        for stage in ("source", "pre", "infer", "post", "inference_stage", "encode", "end_to_end"):
            assert isinstance(f[stage], float) and 0 < f[stage] < float("inf"), (stage, f[stage])
        # the inference thread does pre + infer + post: slower than each of them
        assert f["inference_stage"] <= min(f["pre"], f["infer"], f["post"]) * 1.000001
        if decode:
            assert f["decode"] > 0 and f["source"] == f["decode"]
        else:
            assert f["decode"] is None
        lat = r["latency_ms"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
        # efficiency is end to end over the slowest stage, and names that stage (no bound on
        # its value: that would be a timing assertion)
        stages = {"source": f["source"], "inference": f["inference_stage"], "encode": f["encode"]}
        assert r["slowest_stage"] == min(stages, key=lambda k: stages[k])
        assert r["efficiency"] > 0
        assert r["efficiency"] == pytest.approx(f["end_to_end"] / stages[r["slowest_stage"]], rel=1e-9)
        assert 0 < r["infer_busy_share"] <= 1.0  # a share of the pipeline's wall time
        assert r["host_peak_mib"] > 50  # torch alone is more than that
        assert r["gpu_peak_mib"] is None  # CPU


def assert_one_line_error(res, *words: str) -> None:
    assert res.exit_code != 0
    err = res.stderr.strip()
    assert "Traceback" not in err + res.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("streamdeblur: error:"), err
    for w in words:
        assert w.lower() in err.lower(), err
