"""A transport stream whose timestamps jump (recordings joined with `cat`, an encoder or camera
restarted, a broadcast's clock reset) comes out on one continuous timeline, as FFmpeg makes it:
every frame in order a frame's time apart, the audio kept and with its video, and one warning.
Before, the second recording's frames all sat at the first one's last time and its audio was
dropped as going back in time."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import packets, random_frames, read_video, write_video

from streamdeblur.cli import app

runner = CliRunner()
RATE, N = 10, 20
TB = Fraction(1, 90000)


def recording(path: Path, seed: int, start: float = 0.0) -> list[np.ndarray]:
    """2 s of MPEG-TS with audio, its clock starting at ``start`` seconds (every stream)."""
    frames = random_frames(N, 64, 48, seed=seed)
    plain = path.with_name(f"plain-{path.name}")
    write_video(plain, frames, codec="libx264", pix_fmt="yuv444p", rate=RATE, audio=True, time_base=TB,
                options={"qp": "0"})  # fmt: skip
    with av.open(str(plain)) as src, av.open(str(path), "w", format="mpegts") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for p in src.demux():
            if p.dts is None:
                continue
            shift = round(start / p.time_base)
            p.dts += shift
            p.pts = None if p.pts is None else p.pts + shift
            p.stream = streams[p.stream.index]
            dst.mux(p)
    return [img for _, _, img in read_video(path)]


def which(img: np.ndarray, frames: list[np.ndarray]) -> int:
    errs = [np.abs(img.astype(int) - f.astype(int)).mean() for f in frames]
    assert min(errs) < 1.0
    return int(np.argmin(errs))


@pytest.mark.parametrize(
    ("starts", "jumps"),
    [((0.0, 0.0), 1), ((0.0, 60.0), 1), ((0.0, 0.0, 0.0), 2)],
    ids=["clock-reset", "jump-forward", "three"],
)
def test_joined_recordings_play_on_one_timeline_with_their_audio(tmp_path, tiny_weights, starts, jumps):
    parts = [tmp_path / f"part{k}.ts" for k in range(len(starts))]
    frames = [f for k, (p, s) in enumerate(zip(parts, starts)) for f in recording(p, k + 1, start=s)]
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))  # cat part0.ts part1.ts ... > joined.ts
    out = tmp_path / "out.mkv"
    res = runner.invoke(app, ["run", str(joined), "-o", str(out), "-w", str(tiny_weights), "--codec", "ffv1",
                              "--pix-fmt", "bgr0"])  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert f"timestamps jumped {jumps} time" in res.stderr and "went back in time" not in res.stderr
    got = read_video(out)
    assert [which(img, frames) for _, _, img in got] == list(range(len(frames)))  # every frame, in order
    times = [float(p * tb) for p, tb, _ in got]
    steps = np.diff(times)
    joins = [k * N - 1 for k in range(1, len(parts))]
    assert np.all(steps > 0) and np.allclose(np.delete(steps, joins), 1 / RATE, atol=1e-3)
    assert all(0 < steps[j] < 0.5 for j in joins)  # the joins: no jump back, no minute of nothing
    audio_in = [t for _, t in packets(joined, "audio")]
    audio_out = [float(t) for _, t in packets(out, "audio")]
    assert len(audio_out) == len(audio_in) and np.all(np.diff(audio_out) > 0)  # all of it, in order
    # each recording's audio starts with its video, as it did
    per_part = len(audio_in) // len(parts)
    for k in range(1, len(parts)):
        assert abs(audio_out[k * per_part] - times[k * N]) < 0.2


def test_a_continuous_transport_stream_is_left_as_it_is(tmp_path, tiny_weights):
    src = tmp_path / "one.ts"
    recording(src, 3, start=1.4)
    out = tmp_path / "out.mkv"
    res = runner.invoke(app, ["run", str(src), "-o", str(out), "-w", str(tiny_weights), "--codec", "ffv1"])
    assert res.exit_code == 0, res.stderr
    assert "jumped" not in res.stderr
    times = [float(p * tb) for p, tb, _ in read_video(out)]
    assert np.allclose(np.diff(times), 1 / RATE, atol=1e-3)
