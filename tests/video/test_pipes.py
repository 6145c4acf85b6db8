"""Pipes as in FFmpeg (issue 27): `run -` reads stdin, `-o - --format mkv|ts|nut` writes stdout,
so `ffmpeg ... - | streamdeblur run - -o - --format mkv | ffplay -` works. The real CLI in a
subprocess, fed and read through real pipes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import pytest
from videofiles import packets, random_frames, read_video, write_video

CLI = [str(Path(sys.executable).with_name("streamdeblur"))]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
#: irregular timestamps (ms): a variable frame rate must survive the pipe
PTS = [0, 40, 80, 160, 200, 240, 320, 360]


def run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, "run", *map(str, args)], input=stdin, capture_output=True, env=ENV, timeout=300, check=False
    )


def fed_by(feeder: subprocess.Popen[bytes], args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """The CLI reading ``feeder``'s stdout through a real pipe (closed here after, so the feeder can end)."""
    assert feeder.stdout is not None
    try:
        return subprocess.run(
            [*CLI, *args], stdin=feeder.stdout, capture_output=True, env=ENV, timeout=300, check=False
        )
    finally:
        feeder.stdout.close()


def frames_of(data: bytes) -> list[tuple[int, Fraction]]:
    with av.open(io.BytesIO(data), mode="r") as c:
        return [(f.pts, f.time_base) for f in c.decode(video=0)]


@pytest.fixture
def mkv(tmp_path: Path) -> Path:
    p = tmp_path / "in.mkv"
    write_video(p, random_frames(len(PTS), 64, 48), pts=PTS, codec="libx264", pix_fmt="yuv420p", audio=True)
    return p


def seconds(frames: list[tuple[int, Fraction]]) -> list[float]:
    return [round(float(pts * tb), 3) for pts, tb in frames]


@pytest.mark.parametrize("fmt", ["mkv", "ts", "nut"])
def test_stdin_to_stdout(mkv, tiny_weights, fmt):
    res = run(["-", "-o", "-", "--format", fmt, "--weights", tiny_weights], stdin=mkv.read_bytes())
    assert res.returncode == 0, res.stderr.decode()
    got = frames_of(res.stdout)
    assert len(got) == len(PTS)
    if fmt == "mkv":  # Matroska keeps the input's timestamps as they are
        assert seconds(got) == [p / 1000 for p in PTS]
    else:  # MPEG-TS starts at 1.4 s, NUT past the audio's priming: the steps stay
        assert [round(s - seconds(got)[0], 3) for s in seconds(got)] == [p / 1000 for p in PTS]
    assert b"done: 8 frames" in res.stderr  # the final line, on stderr: stdout is the video's


def test_dev_stdin_from_a_pipe_into_a_file(tmp_path, mkv, tiny_weights):
    """`cat in.mkv | streamdeblur run /dev/stdin -o out.mkv`: a FIFO of size 0, never seeked or reopened."""
    out = tmp_path / "out.mkv"
    cat = subprocess.Popen(["cat", str(mkv)], stdout=subprocess.PIPE)
    res = fed_by(cat, ["run", "/dev/stdin", "-o", str(out), "--weights", str(tiny_weights)])
    cat.wait()
    assert res.returncode == 0, res.stderr.decode()
    frames = read_video(out)
    assert [round(float(pts * tb), 3) for pts, tb, _ in frames] == [p / 1000 for p in PTS]
    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 1  # the audio is still copied


@pytest.mark.parametrize("ext", ["mp4", "mov"])
def test_piped_audio_is_copied_into_mp4_as_from_a_file(tmp_path, mkv, tiny_weights, ext):
    """A piped Matroska's AAC into .mp4/.mov was encoded again ("mp4 has no tag for aac: it would read back
    as nothing"): the container check had no sample packet to try, a pipe being read once. It is copied
    untouched, packet for packet, as from the file by name, without a warning."""
    out = tmp_path / f"out.{ext}"
    res = run(["-", "-o", out, "--weights", tiny_weights, "-q"], stdin=mkv.read_bytes())
    assert res.returncode == 0 and res.stderr == b"", res.stderr.decode()
    assert [data for data, _ in packets(out, "audio")] == [data for data, _ in packets(mkv, "audio")]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-o", "-"], ["--format mkv"]),
        (["-o", "-", "--format", "mp4"], ["--format mkv", "mp4"]),
        (["-o", "-", "--format", "mov"], ["--format mkv"]),
        (["-o", "out.mkv", "--segments", "2"], ["--segments", "pipe"]),
        (["-o", "out.mkv", "--cluster", "local"], ["--cluster", "pipe"]),
    ],
)
def test_pipe_refusals_are_one_line(tmp_path, mkv, args, words):
    res = subprocess.run(
        [*CLI, "run", "-", *args], input=mkv.read_bytes(), capture_output=True, env=ENV, cwd=tmp_path, timeout=120
    )
    err = res.stderr.decode().strip()
    assert res.returncode != 0 and res.stdout == b""
    assert len(err.splitlines()) == 1 and err.startswith("streamdeblur: error:"), err
    for w in words:
        assert w in err, err
    assert list(tmp_path.iterdir()) == [mkv]


def test_many_inputs_with_a_pipe_is_one_line(tmp_path, mkv):
    res = run([mkv, "-", "-o", tmp_path / "out"], stdin=b"")
    err = res.stderr.decode().strip()
    assert res.returncode != 0 and len(err.splitlines()) == 1 and "one input" in err, err


def test_piped_mp4_that_needs_seeking_is_a_clear_error(tmp_path, tiny_weights):
    """An MP4 with its index at the end cannot be read from a pipe: say so, not "truncated"."""
    mp4 = tmp_path / "in.mp4"
    write_video(mp4, random_frames(10, 320, 240), codec="libx264", pix_fmt="yuv420p")  # past FFmpeg's 32 KiB buffer
    res = run(["-", "-o", tmp_path / "out.mkv", "--weights", tiny_weights], stdin=mp4.read_bytes())
    err = res.stderr.decode().strip()
    assert res.returncode != 0 and len(err.splitlines()) == 1, err
    assert "pipe" in err and "truncated" not in err, err


def test_a_chain_of_pipes(mkv, tiny_weights):
    """`... | streamdeblur run - -o - --format ts | streamdeblur run - -o - --format nut | ...`: both at once."""
    args = ["--weights", str(tiny_weights), "-q"]
    first = subprocess.Popen(
        [*CLI, "run", "-", "-o", "-", "--format", "ts", *args], stdin=mkv.open("rb"), stdout=subprocess.PIPE, env=ENV
    )
    second = fed_by(first, ["run", "-", "-o", "-", "--format", "nut", *args])
    assert first.wait(timeout=300) == 0
    assert second.returncode == 0, second.stderr.decode()
    assert len(frames_of(second.stdout)) == len(PTS)
    with av.open(io.BytesIO(second.stdout)) as c:
        assert len(c.streams.audio) == 1


def test_ts_audio_into_mkv_on_a_pipe_is_one_line(tmp_path, mkv, tiny_weights):
    """MPEG-TS's AAC (ADTS) has no setup for a Matroska header written once: refused before any frame."""
    ts = tmp_path / "in.ts"
    assert run([mkv, "-o", ts, "--weights", tiny_weights, "-q"]).returncode == 0
    res = run(["-", "-o", "-", "--format", "mkv", "--weights", tiny_weights], stdin=ts.read_bytes())
    err = res.stderr.decode().strip()
    assert res.returncode != 0 and res.stdout == b"", err
    assert err.splitlines()[-1].startswith("streamdeblur: error:") and "--format ts" in err, err


def test_ctrl_c_with_output_on_stdout_ends_a_playable_stream(tmp_path, tiny_weights):
    """Ctrl-C in `run IN -o - --format mkv > out.mkv`: the frames done stay a playable stream on stdout (the
    container finished, no temporary file anywhere), one line on stderr says how many, exit 130."""
    import signal
    import time

    src = tmp_path / "long.mkv"
    n = 400
    write_video(src, random_frames(n, 192, 128), audio=True)
    got = tmp_path / "got.mkv"
    with got.open("wb") as sink:
        proc = subprocess.Popen(
            [*CLI, "run", str(src), "-o", "-", "--format", "mkv", "--weights", str(tiny_weights), "--backend", "torch",
             "--codec", "ffv1", "--batch", "1"],
            stdout=sink, stderr=subprocess.PIPE, env={**ENV, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while got.stat().st_size < 200_000 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)  # frames are going out
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = err.decode()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    kept = len(read_video(got))  # decodes to its end: the container was finished, not cut
    assert 0 < kept < n
    assert f"the {kept} frames done went to stdout" in last, last
    assert not [p for p in tmp_path.iterdir() if ".tmp." in p.name]  # no temporary file
