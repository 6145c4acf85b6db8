"""`run IN -o OUT --bitrate 6M`: the video held to a bitrate (an average kept to it by a 2 s buffer,
as a streaming service's ingest asks), where the default constant quality spends what the picture
needs; with --crf, that quality capped at the rate. Measured on real x264 output."""

from __future__ import annotations

import os
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner
from videofiles import random_frames, write_video

from streamdeblur.cli import app
from streamdeblur.video.containers import parse_bitrate

runner = CliRunner()


def video_kbps(path: Path) -> float:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        packets = [p for p in c.demux(v) if p.size]
        seconds = float((max(p.pts for p in packets) - min(p.pts for p in packets)) * v.time_base) + 1 / 30
        return sum(p.size for p in packets) * 8 / seconds / 1000


@pytest.fixture(scope="module")
def noisy(tmp_path_factory) -> Path:
    """3 s of noise at 30 fps: what costs an encoder the most bits."""
    path = tmp_path_factory.mktemp("rate") / "noisy.mkv"
    write_video(path, random_frames(90, 160, 96, seed=9), rate=30)
    return path


def test_a_bitrate_holds_the_video_to_it_where_constant_quality_does_not(tmp_path, noisy, tiny_weights):
    args = ["-w", str(tiny_weights), "--preset", "ultrafast", "-q"]
    free, held, capped = tmp_path / "crf.mp4", tmp_path / "held.mp4", tmp_path / "capped.mp4"
    assert runner.invoke(app, ["run", str(noisy), "-o", str(free), *args]).exit_code == 0
    assert runner.invoke(app, ["run", str(noisy), "-o", str(held), "--bitrate", "300k", *args]).exit_code == 0
    res = runner.invoke(app, ["run", str(noisy), "-o", str(capped), "--bitrate", "0.3M", "--crf", "10", *args])
    assert res.exit_code == 0, res.output
    assert video_kbps(free) > 1500  # CRF 18 on noise: far more than 300 kbit/s
    # the 2 s buffer may be spent on top of the rate once: over 3 s, up to 300 + 600 / 3 kbit/s
    assert 180 < video_kbps(held) < 520, video_kbps(held)
    assert 180 < video_kbps(capped) < 520, video_kbps(capped)


def test_bad_bitrates_are_one_line(tmp_path, noisy):
    for args, words in (
        (["--bitrate", "fast"], "--bitrate 'fast' is not a bitrate"),
        (["--bitrate", "5"], "outside 10k to 1000M"),
        (["--bitrate", "2M", "--codec", "ffv1"], "the ffv1 encoder is lossless and takes no bitrate"),
        (["--bitrate", "2M", "--codec", "prores_ks"], "the prores_ks encoder takes no --bitrate"),
    ):
        res = runner.invoke(app, ["run", str(noisy), "-o", str(tmp_path / "x.mkv"), *args])
        assert res.exit_code == 2 and words in res.stderr, res.stderr
        assert not (tmp_path / "x.mkv").exists()
    assert parse_bitrate("6M") == 6_000_000 and parse_bitrate("4500k") == 4_500_000
    assert parse_bitrate("800000") == 800_000 and parse_bitrate("2.5Mbps") == 2_500_000


def test_the_largest_bitrate_the_range_allows_encodes_and_one_past_it_is_one_line(tmp_path, tiny_weights):
    """The 2 s buffer is twice the rate and an int in FFmpeg (at most 2**31 - 1 bits): --bitrate 1100M
    passed the range and then failed in x264 ("bufsize out of range"), naming another --codec as the fix."""
    clip = tmp_path / "clip.mkv"
    write_video(clip, random_frames(3, 64, 48))
    top = tmp_path / "top.mp4"
    res = runner.invoke(app, ["run", str(clip), "-o", str(top), "-w", str(tiny_weights), "--bitrate", "1000M", "-q"])
    assert res.exit_code == 0, res.output
    assert top.exists()
    for text, bits in (("1100M", 1_100_000_000), ("1000.1M", 1_000_100_000), ("1073741824", 1_073_741_824)):
        out = tmp_path / "over.mp4"
        res = runner.invoke(app, ["run", str(clip), "-o", str(out), "-w", str(tiny_weights), "--bitrate", text])
        assert res.exit_code == 2, res.output
        assert res.stderr.splitlines() == [
            f"streamdeblur: error: --bitrate {text}: {bits} bits a second is outside 10k to 1000M; give one in that "
            "range (the encoder's buffer, twice the bitrate, must stay under 2^31 bits)"
        ]
        assert not out.exists()


@pytest.mark.parametrize(
    ("codec", "ext"),
    [("mpeg2video", ".ts"), ("mpeg4", ".avi"), ("libvpx", ".webm"), ("libsvtav1", ".mkv")],  # AV1: failed at any rate
)
def test_the_other_lossy_encoders_are_held_to_a_bitrate_too(tmp_path, noisy, tiny_weights, codec, ext):
    """MPEG-2 for a broadcast chain's fixed rate, VP8 for a WebRTC budget: --bitrate was refused for
    them as if they were lossless (their default quality is far above 300 kbit/s on noise)."""
    out = tmp_path / f"held{ext}"
    args = ["-w", str(tiny_weights), "--codec", codec, "--bitrate", "300k", "-q"]
    res = runner.invoke(app, ["run", str(noisy), "-o", str(out), *args])
    assert res.exit_code == 0, res.output
    assert 150 < video_kbps(out) < 520, video_kbps(out)


def test_a_run_in_segments_holds_each_part_to_the_rate(tmp_path, noisy, tiny_weights):
    out = tmp_path / "parts.mp4"
    args = ["-w", str(tiny_weights), "--preset", "ultrafast", "--bitrate", "300k", "--segments", "2", "-q"]
    res = runner.invoke(app, ["run", str(noisy), "-o", str(out), *args])
    assert res.exit_code == 0, res.output
    assert 180 < video_kbps(out) < 700, video_kbps(out)  # each part may spend its 2 s buffer once


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="SVT-AV1 turns real-time only as root")
def test_svt_av1_leaves_the_thread_that_encodes_on_ordinary_scheduling(tmp_path, noisy):
    """SVT-AV1, run as root (a container's user), makes the thread that opens it SCHED_FIFO 99: every
    process started from it after was real-time too, and on 2 cores a preview server and a browser
    started later starved the machine."""
    from streamdeblur.video.sinks import FileSink
    from streamdeblur.video.sources import open_source

    with open_source(noisy) as src:
        sink = FileSink(tmp_path / "av1.mkv", src.info, codec="libsvtav1")
        for item in src:
            if hasattr(item, "image"):
                sink.write(item)
        sink.close()
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
