"""Small promises under hostile input (issue 27): each refused up front in one line, or said
the way a user needs it. Real files written by PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from typer.testing import CliRunner
from videofiles import encode_all, hidden, random_frames, read_video, write_video

from streamdeblur.cli import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, ["run", *map(str, args)])


def one_line_error(res, *words: str) -> str:
    err = res.stderr.strip()
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and len(err.splitlines()) == 1, err
    assert err.startswith("streamdeblur: error:"), err
    for w in words:
        assert w in err, err
    return err


def test_an_endless_timeout_is_a_range_error(tmp_path):
    for value in ("inf", "1e300"):
        res = run("http://127.0.0.1:9/x.mkv", "-o", tmp_path / "out.mkv", "--timeout", value)
        one_line_error(res, "--timeout", "86400")


def test_a_dangling_symlink_output_is_refused_up_front(tmp_path, tiny_weights):
    clip = tmp_path / "in.mkv"
    write_video(clip, random_frames(3, 64, 48))
    link = tmp_path / "out.mkv"
    link.symlink_to(tmp_path / "nowhere" / "gone.mkv")
    res = run(clip, "-o", link, "--weights", tiny_weights, "--backend", "torch", "-q")
    one_line_error(res, "out.mkv", "dangling symbolic link", "gone.mkv")
    assert link.is_symlink() and hidden(tmp_path) == []
    res = run(clip, "-o", link, "--weights", tiny_weights, "--backend", "torch", "-q", "--overwrite")
    assert res.exit_code == 0, res.output
    assert not link.is_symlink() and len(read_video(link)) == 3


def mp3_with_cover(path: Path) -> None:
    """Five seconds of MP3 with a PNG cover: the attached picture is the only video stream."""
    with av.open(str(path), "w") as out:
        a = out.add_stream("libmp3lame", rate=44100)
        a.layout = "stereo"
        v = out.add_stream("png")
        v.width, v.height, v.pix_fmt = 64, 48, "rgb24"
        v.disposition = av.stream.Disposition.attached_pic
        encode_all(out, v, [av.VideoFrame.from_ndarray(random_frames(1, 64, 48)[0], format="rgb24")])
        rng = np.random.default_rng(0)
        samples = [(rng.standard_normal((2, 1152)) * 0.1).astype(np.float32) for _ in range(190)]
        frames = [av.AudioFrame.from_ndarray(x, format="fltp", layout="stereo") for x in samples]
        for k, af in enumerate(frames):
            af.sample_rate, af.pts = 44100, k * 1152
        encode_all(out, a, frames)


def test_cover_art_is_one_frame_without_false_estimate_or_warning(tmp_path, tiny_weights):
    src, out = tmp_path / "song.mp3", tmp_path / "out.mkv"
    mp3_with_cover(src)
    res = run(src, "-o", out, "--weights", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert "1 frame (the input's only video is a still picture" in res.stderr, res.stderr
    assert "warning" not in res.stderr and "1/1 frames" in res.stderr and "ETA 00:00" in res.stderr, res.stderr
    assert len(read_video(out)) == 1


def test_interlaced_input_keeps_its_field_order_and_says_the_model_works_on_frames(tmp_path, tiny_weights):
    src, out = tmp_path / "tff.mkv", tmp_path / "out.mkv"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=25, options={"x264-params": "tff=1"})
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        frames = [
            av.VideoFrame.from_ndarray(x, format="rgb24").reformat(format="yuv420p") for x in random_frames(4, 64, 48)
        ]
        for i, f in enumerate(frames):
            f.pts = i
        encode_all(c, s, frames)
    res = run(src, "-o", out, "--weights", tiny_weights, "--backend", "torch", "-q")
    assert res.exit_code == 0, res.output
    warn = res.stderr.strip()
    assert len(warn.splitlines()) == 1 and "interlaced (top field first)" in warn and "whole frames" in warn, warn
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.field_order == 2  # top field first, as the input
