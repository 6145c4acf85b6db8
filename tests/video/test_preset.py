"""``--preset`` and ``--crf``: a value the output's encoder does not take is refused in one line before the
model loads."""

from __future__ import annotations

import os
import subprocess
import sys

import av
import pytest
from typer.testing import CliRunner

import streamdeblur.models
from streamdeblur.cli import app
from streamdeblur.errors import InputError
from streamdeblur.video.containers import check_preset

SAMPLE = "samples/mountains.mp4"


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model fails the test: the refusal must come before it."""

    def load(*a, **k):
        raise AssertionError("the model was loaded before --preset was checked")

    monkeypatch.setattr(streamdeblur.models, "load_generator", load)


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--preset", "bogus"], "unknown --preset 'bogus' for libx264; choose one of: ultrafast, superfast"),
        (["--codec", "ffv1", "--preset", "fast"], "--preset 'fast': the ffv1 encoder takes no preset"),
        (["--crf", "55"], "--crf 55 is outside libx264's range 0-51; give --crf 0 to 51"),
        (["--codec", "libsvtav1", "--crf", "0"], "--crf 0 is outside libsvtav1's range 1-63 (it has no lossless"),
        (["--codec", "ffv1", "--crf", "10"], "--crf 10: the ffv1 encoder takes no --crf"),
    ],
)
def test_a_bad_preset_is_one_line_before_the_model_loads(no_model, tmp_path, args, expected):
    out = tmp_path / "out.mp4" if "ffv1" not in args else tmp_path / "out.mkv"
    r = CliRunner().invoke(app, ["run", SAMPLE, "-o", str(out), *args])
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert lines[0].startswith("streamdeblur: error: " + expected), lines[0]
    assert not out.exists()


def test_presets_each_encoder_takes():
    check_preset("libx264", "veryfast")
    check_preset("libx265", "slow")
    check_preset("libvpx-vp9", "realtime")
    check_preset("libsvtav1", "8")
    check_preset("ffv1", None)
    with pytest.raises(InputError):
        check_preset("libvpx-vp9", "fast")


def test_svt_av1_says_nothing_on_stderr_but_our_own_lines(tmp_path, tiny_weights):
    """SVT-AV1 logs on its own (not through FFmpeg): some 20 ``Svt[info]`` lines before the first frame."""
    out = tmp_path / "out.mkv"
    cmd = [sys.executable, "-m", "streamdeblur.cli", "run", SAMPLE, "-o", str(out), "--duration", "0.2",
           "--backend", "torch", "--weights", str(tiny_weights), "--codec", "libsvtav1", "--quiet"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    assert "Svt[" not in res.stderr, res.stderr
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name in ("libdav1d", "av1", "libaom-av1")
