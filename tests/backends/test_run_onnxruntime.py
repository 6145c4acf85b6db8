"""`streamdeblur run --backend onnxruntime` end to end: same frames out as the torch backend."""

from __future__ import annotations

import numpy as np
from backendfiles import read_clip, write_clip
from typer.testing import CliRunner

from streamdeblur.cli import app
from streamdeblur.models import save_generator


def test_run_with_onnxruntime_matches_torch(tmp_path, photo, lite):
    weights, _ = save_generator(lite, tmp_path / "g")
    frames = np.stack([photo[i * 8 : i * 8 + 96, i * 12 : i * 12 + 128] for i in range(4)])
    src = tmp_path / "in.mkv"
    write_clip(src, frames)
    outs = {}
    for backend in ("onnxruntime", "torch"):
        out = tmp_path / f"{backend}.mkv"
        r = CliRunner().invoke(
            app, ["run", str(src), "-o", str(out), "--weights", str(weights), "--backend", backend, "--codec", "ffv1"]
        )
        assert r.exit_code == 0, r.output
        outs[backend] = read_clip(out).astype(int)
        assert outs[backend].shape == frames.shape  # frames out == frames in
    assert np.abs(outs["onnxruntime"] - outs["torch"]).max() <= 1
    assert np.abs(outs["onnxruntime"] - frames.astype(int)).mean() > 1  # and the model did something
