"""``bench --depth 16``: the cost of deep colour (issue 27), measured with uint16 frames end to end."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from streamdeblur.bench.frames import at_depth, synthetic_frames
from streamdeblur.cli import app

runner = CliRunner()


def test_depth_16_feeds_uint16_frames_and_reports_it(tiny_weights):
    args = ["bench", "--synthetic", "64x48", "--backend", "torch", "--device", "cpu", "--weights", str(tiny_weights),
            "--batch", "1", "--frames", "2", "--warmup", "2", "--depth", "16"]  # fmt: skip
    res = runner.invoke(app, [*args, "--json", "-"])
    assert res.exit_code == 0, res.stderr + res.stdout
    data = json.loads(res.stdout)
    assert data["config"]["depth"] == 16
    row = data["results"][0]["fps"]
    assert row["pre"] > 0 and row["post"] > 0 and row["encode"] > 0 and row["end_to_end"] > 0
    res = runner.invoke(app, [*args, "-q"])
    assert res.exit_code == 0 and "16-bit frames" in res.stdout, res.stdout


def test_bad_depth_is_one_line():
    res = runner.invoke(app, ["bench", "--synthetic", "64x48", "--depth", "12"])
    assert res.exit_code == 2 and "--depth 12 is not 8 or 16" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_frames_at_depth():
    eight = synthetic_frames(32, 16, 2)
    deep = synthetic_frames(32, 16, 2, depth=16)
    assert deep[0].dtype == np.uint16 and eight[0].dtype == np.uint8
    assert np.array_equal(at_depth(deep[0], 8), eight[0])  # the same picture, with detail below the eighth bit
    assert len(np.unique(deep[0] % 257)) > 200
    assert at_depth(eight[0], None) is eight[0] and at_depth(eight[0], 8) is eight[0]
