"""`run --crop-even`: an odd-size input (641x361) loses its last column and/or last row, as HandBrake's
mod-2 crop, so H.264/HEVC write the 4:2:0 every player plays (not 4:4:4) and an HLS site of it can be
made at all; an even-size input is left as it is. Real clips written with PyAV, the real CLI."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import random_frames, read_video, write_video

from streamdeblur.cli import app

runner = CliRunner()
W, H, N = 65, 37, 9  # odd both ways; tiny, so a run takes seconds


def run(*args):
    return runner.invoke(app, ["run", *map(str, args)])


def stream(path: Path) -> tuple[int, int, str, int]:
    """(width, height, pix_fmt, frames decoded) of a video's first video stream."""
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        size = (cc.width, cc.height, cc.pix_fmt)
        return (*size, sum(1 for _ in c.decode(video=0)))


@pytest.fixture
def odd(tmp_path: Path) -> Path:
    """9 frames of 65x37 4:2:0 (FFV1 takes odd 4:2:0 sizes as they are)."""
    p = tmp_path / "odd.mkv"
    write_video(p, random_frames(N, W, H, seed=3), codec="ffv1", pix_fmt="yuv420p")
    return p


def test_crop_even_makes_an_odd_input_even_and_4_2_0_in_h264(tmp_path, odd, tiny_weights, caplog):
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING):
        res = run(odd, "-o", out, "-w", tiny_weights, "--crop-even")
    assert res.exit_code == 0, res.stderr
    assert stream(out) == (W - 1, H - 1, "yuv420p", N)
    assert f"input {odd} is 65x37: --crop-even drops its last column and last row (output 64x36)" in caplog.text
    assert "odd frame size" not in caplog.text  # nothing left to warn of: it is 4:2:0
    assert "64x36" in res.stderr  # the start line says the size written


def test_without_crop_even_the_odd_input_keeps_its_size_in_4_4_4_and_is_told_of_the_flag(
    tmp_path, odd, tiny_weights, caplog
):
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING):
        res = run(odd, "-o", out, "-w", tiny_weights)
    assert res.exit_code == 0, res.stderr
    assert stream(out) == (W, H, "yuv444p", N)
    line = next(r.getMessage() for r in caplog.records if "odd frame size" in r.getMessage())
    assert "--crop-even drops the last odd row/column" in line
    # that 4:4:4 output run again with --crop-even: even, but 4:4:4 is its own format and is kept;
    # --pix-fmt yuv420p as well gives the 4:2:0 every player plays (as --help says)
    res = run(out, "-o", tmp_path / "again.mp4", "-w", tiny_weights, "--crop-even")
    assert res.exit_code == 0, res.stderr
    assert stream(tmp_path / "again.mp4") == (W - 1, H - 1, "yuv444p", N)
    res = run(out, "-o", tmp_path / "played.mp4", "-w", tiny_weights, "--crop-even", "--pix-fmt", "yuv420p")
    assert res.exit_code == 0, res.stderr
    assert stream(tmp_path / "played.mp4") == (W - 1, H - 1, "yuv420p", N)


def test_the_crop_keeps_the_top_left_pixels_as_they_were(tmp_path, odd, tiny_weights):
    """Only the last column and row go: the rest is the input's picture, not scaled or moved (lossless
    RGB output, and the tiny model is the identity)."""
    out = tmp_path / "out.mkv"
    res = run(odd, "-o", out, "-w", tiny_weights, "--crop-even", "--codec", "ffv1", "--pix-fmt", "bgr0")
    assert res.exit_code == 0, res.stderr
    want = [img[: H - 1, : W - 1] for _, _, img in read_video(odd)]
    got = [img for _, _, img in read_video(out)]
    assert len(got) == N and got[0].shape == (H - 1, W - 1, 3)
    assert max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(got, want)) <= 1


def test_a_deep_odd_input_is_cropped_and_keeps_its_10_bits(tmp_path, tiny_weights):
    src = tmp_path / "ten.mkv"
    write_video(src, random_frames(N, W, H, seed=4), codec="ffv1", pix_fmt="yuv420p10le")
    out = tmp_path / "out.mp4"
    res = run(src, "-o", out, "-w", tiny_weights, "--crop-even")
    assert res.exit_code == 0, res.stderr
    assert stream(out) == (W - 1, H - 1, "yuv420p10le", N)


def test_an_hls_site_of_an_odd_input_is_made_with_crop_even_and_refused_without(tmp_path, odd, tiny_weights):
    site = tmp_path / "site"
    site.mkdir()
    res = run(odd, "-o", site / "c.m3u8", "-w", tiny_weights)
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines()[-1] == (
        "streamdeblur: error: the HLS output is 4:2:0, which libx264 cannot encode at the odd frame size 65x37; "
        "give --crop-even (drops the last odd row/column)"
    )
    res = run(odd, "-o", site / "c.m3u8", "-w", tiny_weights, "--crop-even")
    assert res.exit_code == 0, res.stderr
    assert stream(site / "c.m3u8") == (W - 1, H - 1, "yuv420p", N)


def test_an_even_input_is_left_as_it_is(tmp_path, tiny_weights, caplog):
    src = tmp_path / "even.mkv"
    write_video(src, random_frames(N, 64, 36, seed=5), codec="ffv1", pix_fmt="yuv420p")
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING):
        res = run(src, "-o", out, "-w", tiny_weights, "--crop-even")
    assert res.exit_code == 0, res.stderr
    assert stream(out) == (64, 36, "yuv420p", N)
    assert "--crop-even" not in caplog.text


def test_an_image_sequence_and_segments_are_cropped_too(tmp_path, odd, tiny_weights):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, img in enumerate(random_frames(3, W, H, seed=6), start=1):
        cv2.imwrite(str(frames / f"f_{i:04d}.png"), img[..., ::-1])
    out = tmp_path / "seq.mp4"
    res = run(frames / "f_%04d.png", "-o", out, "-w", tiny_weights, "--crop-even")
    assert res.exit_code == 0, res.stderr
    w, h, pix_fmt, n = stream(out)
    assert (w, h, n) == (W - 1, H - 1, 3) and pix_fmt in ("yuv420p", "yuvj420p")  # full range: PNG's RGB
    out = tmp_path / "parts.mkv"  # each part deblurred on its own, then joined: every part cropped alike
    res = run(odd, "-o", out, "-w", tiny_weights, "--crop-even", "--segments", "2", "-q")
    assert res.exit_code == 0, res.stderr
    assert stream(out) == (W - 1, H - 1, "yuv420p", N)


def test_a_camera_or_a_picture_refuses_crop_even_in_one_line(tmp_path):
    res = run("--camera", "0", "-o", tmp_path / "c.mp4", "--crop-even")
    assert res.exit_code == 2
    assert "--crop-even applies to a file or stream input" in res.stderr
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), random_frames(1, W, H)[0])
    second = tmp_path / "second.png"
    second.write_bytes(photo.read_bytes())
    for args in ([photo, "-o", tmp_path / "sharp.png"], [photo, second, "-o", tmp_path / "out"]):  # one; a folder
        res = run(*args, "--crop-even")
        assert res.exit_code == 2
        assert "--crop-even applies to video" in res.stderr


def test_a_warning_reads_as_the_tools_other_messages(tmp_path, odd, tiny_weights):
    """The real command line's warnings from inside the library printed as Python's logging writes them
    (`WARNING streamdeblur.video.containers: odd frame size ...`) beside `streamdeblur: warning: ...`
    lines: one form for all; the logger's name only with --debug."""
    cli = [str(Path(sys.executable).with_name("streamdeblur"))]
    args = ["run", str(odd), "-o", str(tmp_path / "out.mp4"), "-w", str(tiny_weights), "--backend", "torch", "-q"]
    res = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [
        "streamdeblur: warning: odd frame size 65x37: libx264's yuv420p needs even sizes, so it writes yuv444p, "
        "which browsers, phones and QuickTime do not play; --codec libvpx-vp9 or libsvtav1 keeps 4:2:0 at this "
        "size, or --crop-even drops the last odd row/column"
    ]
    args[3] = str(tmp_path / "debug.mp4")
    res = subprocess.run([*cli, "--debug", *args], capture_output=True, text=True, timeout=300, check=False)
    assert "WARNING streamdeblur.video.containers: odd frame size 65x37" in res.stderr
