"""``bench --encoders``: the encoder alone per preset x threads x size, as a table and JSON, with no model."""

from __future__ import annotations

import json

import pytest
from benchfiles import assert_one_line_error
from typer.testing import CliRunner

import streamdeblur.models
from streamdeblur.cli import app

runner = CliRunner()


@pytest.fixture
def no_model(monkeypatch):
    def load(*a, **k):
        raise AssertionError("bench --encoders loaded a model")

    monkeypatch.setattr(streamdeblur.models, "load_generator", load)


def test_encoders_table_and_json(tmp_path, no_model):
    out = tmp_path / "enc.json"
    r = runner.invoke(app, [
        "bench", "--encoders", "--resolutions", "128x96,192x108", "--presets", "ultrafast,medium",
        "--encoder-threads", "1,auto", "--frames", "6", "--warmup", "2", "--json", str(out), "--quiet",
    ])  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    rows = {(x["width"], x["height"], x["preset"], x["threads"]): x["fps"] for x in data["rows"]}
    assert set(rows) == {(w, h, p, t) for w, h in ((128, 96), (192, 108)) for p in ("ultrafast", "medium")
                         for t in (1, 0)}  # fmt: skip
    assert all(v > 0 for v in rows.values())
    assert data["codec"] == "libx264" and data["machine"]["cpu_cores"]
    assert "libx264 encode fps at 128x96:" in r.output and "libx264 encode fps at 192x108:" in r.output
    line = next(x for x in r.output.splitlines() if x.strip().startswith("medium"))
    assert len(line.split()) == 3  # a figure per thread count


@pytest.mark.parametrize(
    "args,words",
    [
        (["--presets", "bogus"], "unknown --preset 'bogus'"),
        (["--encoder-threads", "1,x"], "--encoder-threads"),
        (["--codec", "ffv1", "--presets", "fast"], "takes no preset"),
    ],
)
def test_bad_encoder_options_are_one_line(args, words, no_model):
    assert_one_line_error(runner.invoke(app, ["bench", "--encoders", "--resolutions", "64x48", *args]), words)


@pytest.mark.parametrize(
    "args,words",
    [
        (["--plot", "enc.png"], "--plot cannot be used with --encoders"),
        (["clip.mp4"], "INPUT cannot be used"),
        (["--device", "cuda", "--backend", "tensorrt"], "--device, --backend cannot be used"),
        (["--threads", "1"], "--threads cannot be used"),
    ],
)
def test_encoders_refuses_options_it_would_ignore(args, words, tmp_path, monkeypatch, no_model):
    """`--encoders --plot enc.png` wrote no chart and said nothing; a clip or --device cuda was silently unused."""
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(runner.invoke(app, ["bench", "--encoders", "--resolutions", "64x48", *args]), words)
    assert list(tmp_path.iterdir()) == []
