"""`run IN -o OUT --video-stream N`: an input with several video streams (a drone's thermal and
colour cameras, a second angle) has the one asked for deblurred (FFmpeg's -map 0:v:N), its audio
kept and the other video named as left out."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import random_frames, read_video

from streamdeblur.cli import app

runner = CliRunner()


@pytest.fixture
def two_cameras(tmp_path: Path) -> tuple[Path, list[np.ndarray], list[np.ndarray]]:
    colour, thermal = random_frames(6, 64, 48, seed=1), random_frames(6, 32, 24, seed=2)
    path = tmp_path / "drone.mkv"
    with av.open(str(path), "w") as out:
        streams = []
        for frames in (colour, thermal):
            s = out.add_stream("ffv1", rate=10)
            s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "bgr0"
            streams.append(s)
        for i in range(6):
            for s, frames in zip(streams, (colour, thermal)):
                f = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
                f.pts = i
                for p in s.encode(f):
                    out.mux(p)
        for s in streams:
            for p in s.encode():
                out.mux(p)
    return path, colour, thermal


def test_the_second_video_stream_is_deblurred_when_asked(tmp_path, two_cameras, tiny_weights, caplog):
    src, colour, thermal = two_cameras
    out = tmp_path / "thermal.mkv"
    args = ["-w", str(tiny_weights), "--codec", "ffv1", "--video-stream", "1"]
    res = runner.invoke(app, ["run", str(src), "-o", str(out), *args])
    assert res.exit_code == 0, res.output
    got = [img for _, _, img in read_video(out)]
    assert len(got) == 6 and got[0].shape == thermal[0].shape  # the thermal camera's, not the colour one's
    assert all(np.array_equal(g, t) for g, t in zip(got, thermal))  # the tiny model is the identity
    assert "video stream #0 (ffv1, 64x48) is left out: streamdeblur deblurs one video stream, #1" in caplog.text


def test_a_stream_that_is_not_there_is_one_line_naming_those_that_are(tmp_path, two_cameras):
    src, _, _ = two_cameras
    res = runner.invoke(app, ["run", str(src), "-o", str(tmp_path / "o.mkv"), "--video-stream", "2"])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        f"streamdeblur: error: --video-stream 2: input {src} has 2 video streams (0: ffv1 64x48, 1: ffv1 32x24); "
        "give --video-stream 0 to 1"
    ]
    assert not (tmp_path / "o.mkv").exists()


def test_a_folder_of_drone_recordings_each_gets_its_second_stream(tmp_path, two_cameras, tiny_weights):
    """Several inputs: each one's stream N (a fleet's thermal cameras); an input without one fails with
    the same line as alone, the others are done; a re-run skips the complete outputs."""
    src, _, thermal = two_cameras
    second = tmp_path / "drone2.mkv"
    second.write_bytes(src.read_bytes())
    single = tmp_path / "single.mkv"
    with av.open(str(single), "w") as out:  # one camera only
        s = out.add_stream("ffv1", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "bgr0"
        for img in random_frames(3, 64, 48):
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    many, report = tmp_path / "many", tmp_path / "report.json"
    args = ["-o", str(many), "-w", str(tiny_weights), "--codec", "ffv1", "--video-stream", "1", "--report", str(report)]
    res = runner.invoke(app, ["run", str(src), str(second), *args])
    assert res.exit_code == 0, res.stderr
    for name in ("drone.mkv", "drone2.mkv"):
        got = [img for _, _, img in read_video(many / name)]
        assert len(got) == 6 and all(np.array_equal(g, t) for g, t in zip(got, thermal))
    res = runner.invoke(app, ["run", str(src), str(second), str(single), *args])
    assert res.exit_code == 1
    items = {Path(i["input"]).name: i for i in json.loads(report.read_text())["items"]}
    assert [items[n]["status"] for n in ("drone.mkv", "drone2.mkv")] == ["skipped", "skipped"]
    assert items["single.mkv"]["status"] == "failed"
    assert (
        "--video-stream 1: input" in items["single.mkv"]["error"]
        and "has 1 video stream" in items["single.mkv"]["error"]
    )
