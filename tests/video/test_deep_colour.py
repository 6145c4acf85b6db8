"""Deep colour end to end (issue 27): 10-, 12- and 16-bit inputs stay deep through decoding
(uint16 frames), the model (float) and encoding (the deepest format the encoder has), with one
warning where depth or chroma must drop; 8-bit inputs are untouched.

The clips are smooth gradients spanning a quarter of the range, so an 8-bit crush shows: it
leaves at most ~64 levels a channel and errors of a quarter of an 8-bit step (~64 in 16-bit
units) on average. The model is the tiny deblurgan-lite, exactly the identity at
initialisation, so what comes out should be what went in, to the precision of the output."""

from __future__ import annotations

import logging
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from streamdeblur.cli import app
from streamdeblur.tensors import to_float, to_frames, to_uint8
from streamdeblur.video.compose import compose, for_display
from streamdeblur.video.sources import open_source

runner = CliRunner()
W, H, N = 64, 48, 6
#: HLG as a phone tags it: BT.2020 primaries (9), ARIB STD-B67 transfer (18), BT.2020 matrix (9), limited range
HLG = (9, 18, 9, 1)


def gradient(n: int = N, w: int = W, h: int = H) -> list[np.ndarray]:
    """Smooth 16-bit RGB ramps (a quarter of the range across the frame), a little different each frame."""
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(n):
        g = 0.4 + 0.25 * xx / (w - 1) + 0.01 * i
        img = np.stack([g, 0.9 * g + 0.05 * yy / (h - 1), 1.0 - g], -1)
        frames.append(np.round(np.clip(img, 0, 1) * 65535).astype(np.uint16))
    return frames


def write_deep(
    path: Path,
    codec: str,
    pix_fmt: str,
    *,
    colour: tuple[int, int, int, int] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """A 25 fps clip of :func:`gradient` frames encoded from 16-bit RGB as ``pix_fmt``."""
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=25, options=options or {})
        s.width, s.height, s.pix_fmt = W, H, pix_fmt
        if colour:
            cc = s.codec_context
            cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = colour
        for i, img in enumerate(gradient()):
            f = av.VideoFrame.from_ndarray(img, format="rgb48le")
            if pix_fmt != "rgb48le":
                f = f.reformat(
                    format=pix_fmt,
                    dst_colorspace="bt2020" if colour else None,
                    dst_color_range=colour[3] if colour else None,
                )
            f.pts = i
            f.time_base = Fraction(1, 25)
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def decoded(path: Path) -> tuple[str, np.ndarray, list[float | None], tuple[int, int, int, int]]:
    """(pixel format, every frame as int64 16-bit RGB, frame times, colour tags) of a video."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    f = frames[0]
    rgb = np.stack([x.to_ndarray(format="rgb48le") for x in frames]).astype(np.int64)
    return f.format.name, rgb, [x.time for x in frames], (f.color_primaries, f.color_trc, f.colorspace, f.color_range)


def run(*args: object):
    return runner.invoke(app, ["run", *map(str, args), "--backend", "torch", "--quiet"])


def assert_kept(src: Path, out: Path, pix_fmt: str, *, max_err: float, mean_err: float) -> np.ndarray:
    """The output is ``pix_fmt``, holds every frame at its time, and matches the input to
    within ``max_err`` (largest) and ``mean_err`` (mean) 16-bit units; returns its frames."""
    fmt_in, a, times_in, tags_in = decoded(src)
    fmt, b, times, tags = decoded(out)
    assert fmt == pix_fmt, (fmt_in, fmt)
    assert len(b) == N and times == times_in
    assert tags == tags_in
    assert len(np.unique(b[0, ..., 1])) > 256  # more levels than 8 bits hold (green varies in x and y)
    err = np.abs(a - b)
    assert err.max() <= max_err and err.mean() <= mean_err, (err.max(), err.mean())
    return b


@pytest.fixture
def clips(tmp_path: Path) -> dict[str, Path]:
    return {
        "ffv1-12": write_deep(tmp_path / "in12.mkv", "ffv1", "yuv444p12le", options={"g": "3"}),
        "hlg-10": write_deep(tmp_path / "hlg10.mkv", "libx264", "yuv420p10le", colour=HLG, options={"crf": "0"}),
        "rgb-16": write_deep(tmp_path / "rgb16.nut", "ffv1", "rgb48le"),
    }


def test_12_bit_ffv1_stays_12_bit_through_ffv1(tmp_path, clips, tiny_weights, caplog):
    out = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        res = run(clips["ffv1-12"], "-o", out, "--codec", "ffv1", "--weights", tiny_weights)
    assert res.exit_code == 0, res.stderr
    assert_kept(clips["ffv1-12"], out, "yuv444p12le", max_err=16, mean_err=1)  # lossless: within a 12-bit level
    assert not [r for r in caplog.records if "loses" in r.getMessage()]


def test_12_bit_444_with_the_default_codec_keeps_10_bit_444_and_says_so(tmp_path, clips, tiny_weights, caplog):
    out = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        res = run(clips["ffv1-12"], "-o", out, "--weights", tiny_weights)
    assert res.exit_code == 0, res.stderr
    assert_kept(clips["ffv1-12"], out, "yuv444p10le", max_err=2000, mean_err=250)  # x264 at --crf 18
    said = [r.getMessage() for r in caplog.records if "loses" in r.getMessage()]
    assert len(said) == 1 and "12 -> 10 bits" in said[0] and "--codec ffv1" in said[0], said
    assert "chroma" not in said[0]


def test_10_bit_hlg_phone_video_stays_10_bit_with_its_tags(tmp_path, clips, tiny_weights):
    out = tmp_path / "out.mp4"
    res = run(clips["hlg-10"], "-o", out, "--weights", tiny_weights)
    assert res.exit_code == 0, res.stderr
    b = assert_kept(clips["hlg-10"], out, "yuv420p10le", max_err=2000, mean_err=250)
    assert decoded(out)[3] == HLG
    assert np.mean(b % 257 == 0) < 0.2  # not 8-bit values scaled up


def test_10_bit_lossless_x264_round_trip_is_close(tmp_path, clips, tiny_weights):
    out = tmp_path / "out.mkv"
    res = run(clips["hlg-10"], "-o", out, "--crf", "0", "--weights", tiny_weights)
    assert res.exit_code == 0, res.stderr
    assert_kept(clips["hlg-10"], out, "yuv420p10le", max_err=700, mean_err=150)  # 4:2:0 resampled twice


def test_16_bit_rgb_is_kept_exactly(tmp_path, clips, tiny_weights):
    out = tmp_path / "out.nut"  # FFV1, which stores 16-bit RGB as gbrp16le
    res = run(clips["rgb-16"], "-o", out, "--weights", tiny_weights)
    assert res.exit_code == 0, res.stderr
    assert_kept(clips["rgb-16"], out, "gbrp16le", max_err=0, mean_err=0)


def test_segmented_run_keeps_the_depth(tmp_path, clips, tiny_weights):
    out = tmp_path / "out.mkv"
    res = run(clips["ffv1-12"], "-o", out, "--codec", "ffv1", "--segments", "2", "--weights", tiny_weights)
    assert res.exit_code == 0, res.stderr
    assert_kept(clips["ffv1-12"], out, "yuv444p12le", max_err=16, mean_err=1)


def test_forced_8_bit_output_warns_in_one_line(tmp_path, clips, tiny_weights):
    """The real command: one warning line on stderr, and the output is the 8-bit one asked for."""
    out = tmp_path / "out.mkv"
    cmd = [sys.executable, "-m", "streamdeblur.cli", "run", str(clips["hlg-10"]), "-o", str(out), "--backend",
           "torch", "--weights", str(tiny_weights), "--pix-fmt", "yuv420p", "--quiet"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if "loses" in ln]
    assert len(lines) == 1 and "10 -> 8 bits" in lines[0] and "--pix-fmt yuv420p" in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert decoded(out)[0] == "yuv420p"


def test_sources_decode_deep_video_as_uint16_and_8_bit_as_uint8(tmp_path, clips):
    with open_source(clips["ffv1-12"]) as src:
        frame = next(iter(src))
        assert frame.image.dtype == np.uint16 and src.info.bit_depth == 12
    with open_source(clips["ffv1-12"], deep=False) as src:  # what a live preview of a file shows
        assert next(iter(src)).image.dtype == np.uint8
    eight = write_deep(tmp_path / "in8.mkv", "ffv1", "yuv444p")
    with open_source(eight) as src:
        assert next(iter(src)).image.dtype == np.uint8


def test_conversion_is_exact_for_every_16_bit_value_and_the_8_bit_path_is_unchanged():
    every = torch.arange(65536, dtype=torch.int32).to(torch.uint16).reshape(1, 65536 // 4, 4, 1).expand(-1, -1, -1, 3)
    x = to_float(every.contiguous())
    assert x.dtype == torch.float32 and x.min() == 0 and x.max() == 1
    assert torch.equal(to_frames(x, torch.uint16), every)
    half = to_float(every.contiguous(), torch.float16)  # 65535 is past half's range: scaled in float32 first
    assert torch.isfinite(half).all() and half.max() == 1
    # the uint8 path is the one it always was, bit for bit
    u8 = torch.arange(256, dtype=torch.int32).to(torch.uint8).reshape(1, 16, 16, 1).expand(-1, -1, -1, 3).contiguous()
    for dtype in (torch.float32, torch.float16):
        old = u8.permute(0, 3, 1, 2).to(dtype).div_(255.0)
        assert torch.equal(to_float(u8, dtype), old)
        y = old * 0.9 + 0.03
        expected = y.clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
        assert torch.equal(to_uint8(y.clone()), expected)


def test_preview_shows_deep_frames_as_8_bit():
    deep = gradient(1)[0]
    shown = for_display(deep)
    assert shown.dtype == np.uint8
    assert np.abs(shown.astype(int) - np.round(deep / 257.0)).max() == 0
    eight = np.zeros((4, 4, 3), np.uint8)
    assert for_display(eight) is eight
    assert compose(deep, deep, "side", labels=False).dtype == np.uint8


def test_formats_few_players_play_are_kept_and_said_with_the_fix(tmp_path, clips, tiny_weights, caplog):
    """A webcam's MJPEG (4:2:2) or a 10-bit phone video into .mp4 came out as H.264 High 4:2:2 / High 10
    with no word: it does not play in a browser or on most phones. It is kept (an editor wants it), and
    one warning names the fix."""
    from videofiles import random_frames, write_video

    cam = tmp_path / "cam.avi"
    write_video(cam, random_frames(4, 64, 48), codec="mjpeg", pix_fmt="yuvj422p")
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        res = run(cam, "-o", tmp_path / "cam.mp4", "--weights", tiny_weights)
        assert res.exit_code == 0, res.stderr
        assert decoded(tmp_path / "cam.mp4")[0] in ("yuv422p", "yuvj422p")
        said = [r.getMessage() for r in caplog.records if "do not play" in r.getMessage()]
        assert len(said) == 1 and "4:2:2" in said[0] and "--pix-fmt yuv420p" in said[0], said
        caplog.clear()
        res = run(clips["hlg-10"], "-o", tmp_path / "hlg.mp4", "--weights", tiny_weights)
        assert res.exit_code == 0, res.stderr
        said = [r.getMessage() for r in caplog.records if "do not play" in r.getMessage()]
        assert len(said) == 1 and "10-bit 4:2:0" in said[0] and "--codec libx265" in said[0], said
        caplog.clear()
        res = run(cam, "-o", tmp_path / "asked.mp4", "--weights", tiny_weights, "--pix-fmt", "yuv420p")
        assert res.exit_code == 0 and not [r for r in caplog.records if "do not play" in r.getMessage()]
