"""``run --camera`` (streamdeblur.recording.record_live): a playable file of the model's
output on the capture clock, ended by --duration or Ctrl-C, and a missing camera refused
before any output exists."""

from __future__ import annotations

import _thread
import os
import threading

import av
import livefiles
import numpy as np
import pytest
from typer.testing import CliRunner

from streamdeblur.cli import app
from streamdeblur.recording import record_live
from streamdeblur.video.live import FilePlayback

media = livefiles.media  # the fixture


def test_record_live_duration_gives_a_playable_file(media, tmp_path):
    out = tmp_path / "cam.mp4"
    rec = record_live(
        FilePlayback(media["still"], loop=True), out, backend="torch", weights=str(media["weights"]), duration=1.0
    )
    assert rec.stop_reason == "1 s recorded"
    with av.open(str(out)) as c:
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert len(frames) == rec.frames > 0
    times = [t for t, _ in frames]
    assert times == sorted(times) and times[-1] < 1.0  # capture clock: nothing past --duration
    # the recorded pictures are the model's output, not the input
    img = frames[-1][1].astype(int)
    assert np.abs(img - media["deblurred"].astype(int)).mean() < np.abs(img - media["input"].astype(int)).mean()


def test_record_live_ctrl_c_keeps_a_playable_file(media, tmp_path):
    out = tmp_path / "cam.mkv"
    pressed = threading.Event()

    def ctrl_c_once_frames_are_written(p) -> None:  # from the writer thread: what Ctrl-C does to the main one
        if p.frames_done >= 3 and not pressed.is_set():
            pressed.set()
            _thread.interrupt_main()

    rec = record_live(
        FilePlayback(media["still"], loop=True),
        out,
        backend="torch",
        weights=str(media["weights"]),
        on_progress=ctrl_c_once_frames_are_written,
    )
    assert pressed.is_set() and rec.stop_reason == "interrupted (Ctrl-C)"
    assert out.exists() and not list(tmp_path.glob(".*tmp*"))
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == rec.frames >= 3


def test_record_live_opens_a_file_spec_itself(media, tmp_path):
    seen: list = []
    rec = record_live(
        f"file://{media['still']}",
        tmp_path / "o.mkv",
        backend="torch",
        weights=str(media["weights"]),
        on_open=seen.append,
    )
    assert [i.kind for i in seen] == ["file"] and rec.stop_reason == "end of input" and 0 < rec.frames <= 30


def test_cli_run_camera_missing_is_a_clear_error(media, tmp_path):
    if os.path.exists("/dev/video99"):
        pytest.skip("this machine has a /dev/video99")
    r = CliRunner().invoke(
        app, ["run", "--camera", "99", "-o", str(tmp_path / "o.mp4"), "--weights", str(media["weights"])]
    )
    assert r.exit_code == 2 and "camera 99 not found" in r.output
    assert not (tmp_path / "o.mp4").exists()
    r = CliRunner().invoke(app, ["run", "-o", str(tmp_path / "o.mp4")])
    assert r.exit_code == 2 and "--camera" in r.output


def test_record_live_refuses_a_bad_crf_before_the_model_loads(media, tmp_path):
    """``run --camera ... --crf 0 --codec libsvtav1`` (SVT-AV1 would read 0 as its default, 35) is
    refused before a model loads and before anything is written."""
    from streamdeblur.errors import InputError

    out = tmp_path / "cam.mp4"
    with pytest.raises(InputError, match="outside libsvtav1's range 1-63"):
        record_live(
            FilePlayback(media["still"], loop=True), out, weights=str(tmp_path / "no-such-weights.safetensors"),
            codec="libsvtav1", crf=0, duration=1.0,
        )  # fmt: skip
    assert not out.exists()
