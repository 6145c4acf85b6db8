"""The trainer's report tools, run for real: video-psnr on the sample clips, side-by-side on a tiny set."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from trainer.cli import app
from trainer.images import read_image
from trainer.video_score import video_psnr

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SHARP, BLURRY = SAMPLES / "wine_sharp.mp4", SAMPLES / "wine.mp4"
runner = CliRunner()


def _write_clip(path: Path, frames: int, size: tuple[int, int] = (64, 48)) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            img = np.full((size[1], size[0], 3), 40 * i, np.uint8)
            for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def test_video_psnr_scores_each_video_and_the_last_against_the_first(tmp_path: Path) -> None:
    r = runner.invoke(app, ["video-psnr", str(SHARP), str(BLURRY), str(SHARP), "--json", str(tmp_path / "v.json")])
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "v.json").read_text())
    blurry, same = saved["videos"]
    assert blurry["frames"] == same["frames"] == len(blurry["per_frame"]) > 0
    assert 15 < blurry["psnr"] < 60 and same["psnr"] == 99.0  # identical frames count 99 dB, not inf
    assert saved["last_vs_first"]["improved"] == blurry["frames"]
    lines = r.stdout.splitlines()
    assert lines[0] == f"{BLURRY}: {blurry['psnr']:.2f} dB over {blurry['frames']} frames"
    assert lines[2].endswith(f"{blurry['frames']}/{blurry['frames']} frames improved")
    assert video_psnr(SHARP, [BLURRY])["videos"][0]["psnr"] == pytest.approx(blurry["psnr"])


def test_video_psnr_refuses_videos_of_another_length_or_size(tmp_path: Path) -> None:
    clip = _write_clip(tmp_path / "short.mp4", 3)
    r = runner.invoke(app, ["video-psnr", str(SHARP), str(clip)])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "has 3 frames of 64x48, the reference" in r.stderr
    r = runner.invoke(app, ["video-psnr", str(SHARP), str(tmp_path / "nowhere.mp4")])
    assert r.exit_code != 0 and "video not found" in r.stderr
    (tmp_path / "empty.mp4").touch()  # said "[Errno 1094995529] Invalid data ..."
    r = runner.invoke(app, ["video-psnr", str(SHARP), str(tmp_path / "empty.mp4")])
    assert r.exit_code == 2 and r.stderr.strip().splitlines() == [
        f"streamdeblur-train: error: {tmp_path / 'empty.mp4'} is empty (0 bytes); "
        "it is not a video: write or copy it again"
    ]
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 10)
    r = runner.invoke(app, ["video-psnr", str(SHARP), str(tmp_path / "junk.mp4")])
    assert r.exit_code == 2 and "Errno" not in r.stderr and "Invalid data found" in r.stderr


def test_side_by_side_writes_the_best_and_a_median_frame(tiny_gopro: Path, tiny_weights: Path, tmp_path: Path) -> None:
    w = tiny_weights
    out = tmp_path / "pic" / "sbs.png"
    r = runner.invoke(app, ["side-by-side", str(tiny_gopro), "-w", str(w), "--out", str(out), "--crop", "32"])
    assert r.exit_code == 0, r.output
    img = read_image(out)
    assert img.shape == (2 * 32, 3 * 32, 3)  # two rows of blurry | deblurred | sharp
    lines = r.stdout.splitlines()
    assert lines[0].startswith("best: gopro_photo/") and lines[1].startswith(
        "median: gopro_photo/"
    )  # traj_ sequences are left out
    assert lines[-1] == f"wrote {out}"
    r = runner.invoke(app, ["side-by-side", str(tmp_path), "-w", str(w), "--out", str(tmp_path / "x.png")])
    assert r.exit_code != 0 and "no test/ folder" in r.stderr
