"""`run --deinterlace frame|field`: interlaced video (broadcast 1080i/576i, camcorders) made
progressive with FFmpeg's bwdif before it is deblurred, so the model sharpens the picture, not
the combing; one frame per frame or one per field (twice the rate), every frame kept, the
timestamps and audio with them; a progressive input is left as it is."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import packets, read_video, write_video

from streamdeblur import RunOptions, deblur_video
from streamdeblur.cli import app
from streamdeblur.errors import InputError

runner = CliRunner()
W, H, N, RATE = 96, 64, 8, 25
SPEED = 3  # pixels the scene pans per field
LOSSLESS = ["--codec", "ffv1", "--pix-fmt", "bgr0"]


def scene(t: int) -> np.ndarray:
    """A smooth picture panned by ``t`` fields: what a camera sees at that field's moment."""
    rng = np.random.default_rng(5)
    big = cv2.GaussianBlur(rng.integers(0, 256, (H, W + SPEED * 2 * N + 8, 3)).astype(np.float32), (0, 0), 2.5)
    big = (big - big.min()) / (big.max() - big.min()) * 230 + 10
    return big[:, SPEED * t : SPEED * t + W].astype(np.uint8)


def woven(i: int) -> np.ndarray:
    """Interlaced frame ``i``, top field first: even rows at field time 2i, odd rows at 2i + 1."""
    img = scene(2 * i).copy()
    img[1::2] = scene(2 * i + 1)[1::2]
    return img


@pytest.fixture
def interlaced(tmp_path: Path) -> Path:
    """8 frames of 25i (top field first, as x264 flags them) with audio: H.264 lossless 4:4:4."""
    path = tmp_path / "broadcast.mp4"
    write_video(path, [woven(i) for i in range(N)], codec="libx264", pix_fmt="yuv444p", rate=RATE, audio=True,
                time_base=Fraction(1, 90000), options={"qp": "0", "x264-params": "tff=1"})  # fmt: skip
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.field_order == 2  # the file says: top field first
    return path


def err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int))[4:-4, 8:-8].mean())  # off the edges bwdif pads


def run(*args) -> object:
    return runner.invoke(app, ["run", *map(str, args)])


def test_one_frame_per_field_each_at_its_own_moment(tmp_path, interlaced, tiny_weights):
    out = tmp_path / "p50.mkv"
    res = run(interlaced, "-o", out, "-w", tiny_weights, "--deinterlace", "field", *LOSSLESS)
    assert res.exit_code == 0, res.stderr
    assert "interlaced" not in res.stderr  # nothing to warn of: it was deinterlaced
    got = read_video(out)
    assert len(got) == 2 * N  # every field, the last one too (the filter holds one back until the end)
    times = [float(p * tb) for p, tb, _ in got]
    assert times == pytest.approx([k / (2 * RATE) for k in range(2 * N)], abs=1e-3)
    for k, (_, _, img) in enumerate(got):
        # the field's own rows as they were, the others filled in: the picture at that moment, not combed
        assert np.abs(img[k % 2 :: 2].astype(int) - scene(k)[k % 2 :: 2].astype(int)).max() <= 2
        assert err(img, scene(k)) < 0.4 * err(woven(k // 2), scene(k)), k
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.average_rate == 2 * RATE and v.codec_context.field_order in (0, 1)  # progressive now
    audio = [t for _, t in packets(out, "audio")]
    assert audio and float(audio[-1]) > (N - 2) / RATE  # the sound is still there, to the end


def test_one_frame_per_frame_keeps_the_rate_and_timestamps(tmp_path, interlaced, tiny_weights):
    out = tmp_path / "p25.mkv"
    res = run(interlaced, "-o", out, "-w", tiny_weights, "--deinterlace", "frame", *LOSSLESS)
    assert res.exit_code == 0, res.stderr
    got = read_video(out)
    assert [float(p * tb) for p, tb, _ in got] == pytest.approx([i / RATE for i in range(N)], abs=1e-3)
    for i, (_, _, img) in enumerate(got):  # the first field's moment
        assert err(img, scene(2 * i)) < 0.4 * err(woven(i), scene(2 * i)), i


def test_without_it_the_combing_stays_and_the_run_says_how_to_remove_it(tmp_path, interlaced, tiny_weights):
    out = tmp_path / "kept.mkv"
    res = run(interlaced, "-o", out, "-w", tiny_weights, *LOSSLESS)
    assert res.exit_code == 0, res.stderr
    assert "is interlaced (top field first)" in res.stderr and "--deinterlace" in res.stderr
    got = read_video(out)
    assert len(got) == N and err(got[0][2], woven(0)) < 1.0  # as woven, tagged as interlaced
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.field_order == 2


def test_a_progressive_input_is_left_as_it_is(tmp_path, tiny_weights):
    src = tmp_path / "progressive.mkv"
    write_video(src, [scene(2 * i) for i in range(N)], rate=RATE)
    plain, asked = tmp_path / "plain.mkv", tmp_path / "asked.mkv"
    assert run(src, "-o", plain, "-w", tiny_weights, *LOSSLESS).exit_code == 0
    res = run(src, "-o", asked, "-w", tiny_weights, "--deinterlace", "field", *LOSSLESS)
    assert res.exit_code == 0, res.stderr
    assert "is not interlaced: --deinterlace left its frames as they are" in res.stderr
    a, b = read_video(plain), read_video(asked)
    assert len(a) == len(b) == N
    assert all(np.array_equal(x[2], y[2]) and x[0] * x[1] == y[0] * y[1] for x, y in zip(a, b))


def test_library_and_wrong_uses(tmp_path, interlaced, tiny_weights):
    out = tmp_path / "lib.mkv"
    result = deblur_video(interlaced, out, RunOptions(weights=str(tiny_weights), deinterlace="field", codec="ffv1"))
    assert result.frames == 2 * N
    with pytest.raises(InputError, match="--deinterlace must be frame or field"):
        RunOptions(deinterlace="bob")
    res = run(interlaced, "-o", tmp_path / "x.mp4", "--deinterlace", "bob")
    assert res.exit_code == 2 and "bob" in res.stderr
    res = run(interlaced, "-o", tmp_path / "s.mp4", "--deinterlace", "frame", "--segments", "2")
    assert res.exit_code == 2 and "--deinterlace with --segments" in res.stderr
    res = run("--camera", "0", "-o", tmp_path / "c.mp4", "--deinterlace", "frame")
    assert res.exit_code == 2 and "--deinterlace applies to a file or stream input" in res.stderr


def test_a_folder_of_broadcast_clips_each_deinterlaced_and_a_rerun_skips_them(tmp_path, interlaced, tiny_weights):
    import shutil

    second = tmp_path / "second.mp4"
    shutil.copy(interlaced, second)
    out = tmp_path / "out"
    args = ["-w", tiny_weights, "--deinterlace", "field", "--codec", "ffv1", "-q"]
    res = run(interlaced, second, "-o", out, *args)
    assert res.exit_code == 0, res.stderr
    outputs = sorted(out.iterdir())
    assert [len(read_video(p)) for p in outputs] == [2 * N, 2 * N]
    stamps = [p.stat().st_mtime_ns for p in outputs]
    report = tmp_path / "report.json"
    res = run(interlaced, second, "-o", out, *args, "--report", report)  # again: a frame per field is complete
    assert res.exit_code == 0, res.stderr
    assert [i["status"] for i in json.loads(report.read_text())["items"]] == ["skipped", "skipped"]
    assert [p.stat().st_mtime_ns for p in outputs] == stamps


def test_preview_of_a_broadcast_file_shows_it_deinterlaced(interlaced):
    """`preview broadcast.mp4 --deinterlace field --loop`: the live view plays one frame per field at the
    field rate, and each loop too; a stream or camera preview refuses it with the way to do it."""
    from streamdeblur.video.live import open_live

    play = open_live(str(interlaced), loop=True, deinterlace="field")
    try:
        assert play.info.fps == 2 * RATE
        shown = [play.read() for _ in range(2 * N + 2)]
    finally:
        play.close()
    for k, frame in enumerate(shown):
        moment = scene(k % (2 * N))  # the loop starts again at the first field
        assert err(frame.image, moment) < 0.4 * err(woven((k % (2 * N)) // 2), moment), k
    with pytest.raises(InputError, match="--deinterlace in preview applies to a file input"):
        open_live("rtsp://127.0.0.1:1/cam", deinterlace="frame")
    res = runner.invoke(app, ["preview", "--camera", "0", "--deinterlace", "frame", "--serve", "127.0.0.1:0"])
    assert res.exit_code == 2 and "--deinterlace in preview applies to a file input" in res.stderr


def test_a_raw_interlaced_h264_stream_gets_field_times(tmp_path, interlaced, tiny_weights):
    """A raw .h264 (a broadcast encoder's or a capture card's dump) has no timestamps: its fields are
    counted at twice the frame rate."""
    raw = tmp_path / "dump.h264"
    with av.open(str(interlaced)) as src, av.open(str(raw), "w", format="h264") as dst:
        s = dst.add_stream_from_template(src.streams.video[0])
        for p in src.demux(src.streams.video[0]):
            if p.size:
                p.stream = s
                dst.mux(p)
    out = tmp_path / "p50.mkv"
    res = run(raw, "-o", out, "-w", tiny_weights, "--deinterlace", "field", *LOSSLESS)
    assert res.exit_code == 0, res.stderr
    got = read_video(out)
    assert [float(p * tb) for p, tb, _ in got] == pytest.approx([k / (2 * RATE) for k in range(2 * N)], abs=1e-3)
