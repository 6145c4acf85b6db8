"""How a run ends when it is told to stop, or when another run wants the same output:
real signals to real processes, real concurrent runs, real files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from videofiles import hidden, random_frames, read_video, write_video

from streamdeblur.models import build_model, save_generator

#: one intra-op thread: on a loaded 2-core machine two OpenMP threads can run 10x slower
ENV = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


def start_run(*args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from streamdeblur.cli import main; main()", "run", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def wait_for_tmp(folder: Path, proc: subprocess.Popen, min_bytes: int, timeout: float = 120) -> Path:
    """The run's hidden temporary output, once it holds ``min_bytes``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        tmps = [p for p in folder.iterdir() if p.name.startswith(".out.") and ".tmp." in p.name]
        if tmps and tmps[0].stat().st_size >= min_bytes:
            return tmps[0]
        time.sleep(0.01)
    out, err = proc.communicate(timeout=30) if proc.poll() is not None else ("", "")
    raise AssertionError(f"the run never started writing (rc {proc.returncode}): {err}")


def test_ctrl_c_keeps_frames_done_as_partial_file_never_under_final_name(tmp_path, tiny_weights):
    """A real SIGINT to a real process, in the middle of a run (a source with audio)."""
    src = tmp_path / "long.mkv"
    n = 400
    write_video(src, random_frames(n, 192, 128), audio=True)
    out = tmp_path / "out.mkv"
    proc = start_run(src, "-o", out, "--weights", tiny_weights, "--backend", "torch", "--codec", "ffv1", "--batch", "1")
    try:
        wait_for_tmp(tmp_path, proc, 200_000)  # frames are being written
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    partial = tmp_path / "out.partial.mkv"
    assert not out.exists()
    assert partial.exists()
    assert "out.partial.mkv" in stderr.strip().splitlines()[-1]
    frames = read_video(partial)
    assert 0 < len(frames) < n
    originals = random_frames(n, 192, 128)
    assert all(np.array_equal(img, originals[i]) for i, (_, _, img) in enumerate(frames))  # playable and exact
    assert hidden(tmp_path) == []


@pytest.fixture
def slow_weights(tmp_path: Path) -> Path:
    """A real generator (the identity at initialisation) that takes about two seconds for a
    batch of 16 small frames on one CPU thread: a stage is inside inference when a signal comes."""
    w, _ = save_generator(
        build_model("deblurgan-lite", width=32, enc_blocks=[1, 1], dec_blocks=[1, 1], middle_blocks=1),
        tmp_path / "weights" / "w32",
    )
    return w


@pytest.mark.parametrize("signame,code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_signal_ends_run_like_ctrl_c_within_a_second(tmp_path, slow_weights, signame, code):
    """SIGTERM (docker stop, systemd) and SIGHUP end a run as Ctrl-C does: the frames done in
    NAME.partial.EXT, nothing under the final name, no hidden file, one line, 128 + signal;
    and the process is gone within a second although inference is mid-batch."""
    n, w, h = 64, 192, 128
    src = tmp_path / "long.mkv"
    write_video(src, random_frames(n, w, h))
    out = tmp_path / "out.mkv"
    earlier = tmp_path / "out.partial.mkv"  # an earlier interrupted run's work: never replaced
    if signame == "SIGHUP":
        earlier.write_bytes(b"an earlier partial")
    proc = start_run(
        src, "-o", out, "--weights", slow_weights, "--backend", "torch", "--codec", "ffv1", "--batch", "16"
    )
    try:
        wait_for_tmp(tmp_path, proc, 300_000)  # the first batch is written; the second is being inferred
        t0 = time.monotonic()
        proc.send_signal(getattr(signal, signame))
        stdout, stderr = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert elapsed < 1.0, f"the process took {elapsed:.2f} s to exit after {signame}"
    partial = tmp_path / ("out.partial.2.mkv" if signame == "SIGHUP" else "out.partial.mkv")
    last = stderr.strip().splitlines()[-1]
    assert partial.name in last and "frames done" in last, last
    if signame != "SIGINT":
        assert signame in last
    assert not out.exists()
    if signame == "SIGHUP":
        assert earlier.read_bytes() == b"an earlier partial"
    frames = read_video(partial)
    assert 0 < len(frames) < n
    assert f"the {len(frames)} frames done" in last
    originals = random_frames(n, w, h)
    assert all(np.array_equal(img, originals[i]) for i, (_, _, img) in enumerate(frames))  # playable and exact
    assert hidden(tmp_path) == []


def test_output_that_appears_during_a_run_is_not_replaced(tmp_path, tiny_weights):
    """Another program writes OUTPUT while this run works on it: the run keeps that file,
    puts its own under a name it prints, and exits 2."""
    n = 40
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(n, 96, 64))
    out = tmp_path / "out.mkv"
    proc = start_run(src, "-o", out, "--weights", tiny_weights, "--backend", "torch", "--codec", "ffv1", "--batch", "1")
    try:
        wait_for_tmp(tmp_path, proc, 0)  # it has passed its check that OUTPUT does not exist
        out.write_bytes(b"the other run's finished video")
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, stderr
    err = stderr.strip().splitlines()[-1]
    assert err.startswith("streamdeblur: error:") and "Traceback" not in stderr
    assert "appeared" in err and "--overwrite" in err
    assert out.read_bytes() == b"the other run's finished video"
    kept = tmp_path / "out.2.mkv"
    assert kept.name in err and f"{n} frames" in err
    assert len(read_video(kept)) == n
    assert hidden(tmp_path) == []


def test_two_runs_to_one_output_never_replace_each_other(tmp_path, tiny_weights):
    """Two real runs started together on the same OUTPUT: one publishes it, the other exits
    2 saying why (refused at the start, or its work kept under a name it prints)."""
    n = 150  # long enough (seconds) that both pass the check at the start before either ends
    src = tmp_path / "in.mp4"
    write_video(src, random_frames(n, 96, 64), codec="libx264", pix_fmt="yuv420p", audio=True)
    out = tmp_path / "out.mp4"
    procs = [
        start_run(src, "-o", out, "--weights", tiny_weights, "--backend", "torch", "--batch", "4") for _ in range(2)
    ]
    results = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=180)
            results.append((p.returncode, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results
    loser = next(err for rc, err in results if rc == 2)
    line = loser.strip().splitlines()[-1]
    assert line.startswith("streamdeblur: error:") and "Traceback" not in loser
    assert "already exists" in line or ("appeared" in line and "out.2.mp4" in line), line
    assert len(read_video(out)) == n
    if "appeared" in line:
        assert len(read_video(tmp_path / "out.2.mp4")) == n
    assert hidden(tmp_path) == []


def test_sighup_after_the_terminal_is_gone_still_keeps_the_partial(tmp_path, tiny_weights):
    """A closed terminal: stderr is gone (writes fail) and SIGHUP follows. The progress line
    and the last message cannot be written, but the run still ends as SIGHUP should."""
    n = 300
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(n, 128, 96))
    out = tmp_path / "out.mkv"
    proc = start_run(src, "-o", out, "--weights", tiny_weights, "--backend", "torch", "--codec", "ffv1", "--batch", "1")
    try:
        tmp = wait_for_tmp(tmp_path, proc, 100_000)
        proc.stderr.close()  # every later write to stderr fails (EPIPE)
        wait_for_tmp(tmp_path, proc, tmp.stat().st_size + 200_000)  # the run goes on without its terminal
        proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 129
    assert not out.exists()
    assert 0 < len(read_video(tmp_path / "out.partial.mkv")) < n
    assert hidden(tmp_path) == []
