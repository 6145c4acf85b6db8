"""`streamdeblur run` with OpenVINO (what `auto` picks on a CPU) ends when its work is done.

Importing OpenVINO sends a usage event (openvino_telemetry) from a child process forked off a
thread. Forked while the reader thread holds PyAV's swscale context, that child hangs in its
after-fork cleanup; run's SIGTERM handler, which the child inherits, keeps the telemetry's
``terminate()`` from ending it, and the process then waited for it at exit for ever: the
README's quick start printed ``done: 120 frames`` and never returned.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from videofiles import random_frames, write_video

pytest.importorskip("openvino")


def test_a_run_on_openvino_exits_once_it_is_done(tmp_path: Path, tiny_weights: Path) -> None:
    clip = tmp_path / "clip.mp4"
    write_video(clip, random_frames(60, 320, 240), codec="libx264", pix_fmt="yuv420p")
    out = tmp_path / "out.mp4"
    args = ["run", str(clip), "-o", str(out), "-w", str(tiny_weights), "--backend", "openvino", "-q"]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from streamdeblur.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: a hung child of it is ended with it
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the run did not exit within 90 s (output written: {out.exists()})")
    assert proc.returncode == 0, err
    assert out.exists()
