"""``run_bench`` called as a library: a synthetic run's report, complete and consistent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchfiles import check_report

from streamdeblur.bench import run_bench
from streamdeblur.bench.config import BenchConfig
from streamdeblur.errors import ModelNotFoundError


def test_library_synthetic(tiny_weights: Path, one_thread):
    progress: list[str] = []
    config = BenchConfig(
        synthetic=(64, 48),
        resolutions=((64, 48),),
        backends=("torch",),
        device="cpu",
        weights=str(tiny_weights),
        batches=(1, 2),
        frames=8,
        warmup=2,
    )
    report = run_bench(config, on_progress=progress.append)
    data = report.as_dict()
    json.dumps(data, allow_nan=False)  # standard JSON: no NaN or Infinity
    check_report(data, sizes=["64x48"], batches=[1, 2], decode=False, weights=tiny_weights)
    assert data["input"]["kind"] == "synthetic"
    assert any("fps end to end" in p for p in progress)


def test_unknown_model_is_refused_before_measuring():
    with pytest.raises(ModelNotFoundError, match="nope"):
        run_bench(BenchConfig(models=("nope",), backends=("torch",), device="cpu"))
