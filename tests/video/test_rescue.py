"""Inputs that break mid-way never cost the work already done: damaged packets are skipped as
FFmpeg skips them, a stream that breaks off or stalls keeps the frames received, a file cut
short is said to be. Real files written by PyAV and a real local HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import half_of_a_fast_start_mp4, hidden, random_frames, read_video, write_video

from streamdeblur.api import INPUT_STOPPED_EXIT
from streamdeblur.cli import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, ["run", *map(str, args), "--backend", "torch", "-q"])


def smooth_frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 40, (48, 64, 3), dtype=np.uint8) for _ in range(n)]
    return [np.full((48, 64, 3), i * 5 % 256, np.uint8) + noise[i] for i in range(n)]


def damaged_h264(path: Path, n: int = 20, bad: int = 8) -> None:
    """An H.264 MP4 whose packet ``bad`` has its payload scrambled (about the size of a bad sector)."""
    write_video(path, smooth_frames(n), codec="libx264", pix_fmt="yuv420p", options={"g": "5"})
    with av.open(str(path)) as c:
        where = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    pos, size = where[bad]
    data = bytearray(path.read_bytes())
    for i in range(pos + 4, pos + size):
        data[i] = (data[i] * 7 + 13) & 255
    path.write_bytes(bytes(data))


def test_damaged_h264_packets_are_skipped_and_the_rest_deblurred(tmp_path, tiny_weights):
    src, out = tmp_path / "dmg.mp4", tmp_path / "out.mp4"
    damaged_h264(src)
    res = run(src, "-o", out, "--weights", tiny_weights)
    assert res.exit_code == 0, res.output
    frames = len(read_video(out))  # playable
    assert 10 < frames < 20
    warn = res.stderr.strip()
    assert len(warn.splitlines()) == 1, warn
    assert warn.startswith("streamdeblur: warning: input") and "damaged" in warn, warn
    lost = 20 - frames
    assert f"{lost} frame{'s were' if lost > 1 else ' was'} not decodable" in warn, warn
    assert "after frame" in warn and " s" in warn, warn
    assert f"the {frames} frames decoded were deblurred" in warn and "cut short" not in warn
    assert hidden(tmp_path) == []


def test_truncated_mpegts_is_said_to_be_cut_short(tmp_path, tiny_weights):
    full, cut = tmp_path / "full.ts", tmp_path / "cut.ts"
    write_video(full, random_frames(30, 64, 48), codec="libx264", pix_fmt="yuv420p")
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2 + 77])
    res = run(cut, "-o", tmp_path / "out.mkv", "--weights", tiny_weights)
    assert res.exit_code == 0, res.output
    frames = len(read_video(tmp_path / "out.mkv"))
    warn = res.stderr.strip()
    assert len(warn.splitlines()) == 1 and "cut.ts" in warn and "cut short" in warn, warn
    assert f"ended after {frames} frames" in warn
    res = run(full, "-o", tmp_path / "whole.mkv", "--weights", tiny_weights)
    assert res.exit_code == 0 and res.stderr == "", res.stderr


@pytest.fixture
def half_served(tmp_path) -> Iterator[tuple[str, threading.Event]]:
    """A Matroska clip served over HTTP that breaks off half way (``/drop``) or stops sending
    there (``/stall``, until the event is set)."""
    clip = tmp_path / "s.mkv"
    write_video(clip, random_frames(40, 64, 48), codec="libx264", pix_fmt="yuv420p")
    data = clip.read_bytes()
    release = threading.Event()

    class Half(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/x-matroska")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            if self.path == "/stall":
                release.wait(20)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Half)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", release
    release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("how,words", [("drop", "broke off"), ("stall", "stopped sending data for 1 s")])
def test_a_stream_that_breaks_off_or_stalls_keeps_the_frames_received(tmp_path, tiny_weights, half_served, how, words):
    base, _ = half_served
    out = tmp_path / "out.mkv"
    res = run(f"{base}/{how}", "-o", out, "--weights", tiny_weights, "--timeout", "1")
    assert res.exit_code == INPUT_STOPPED_EXIT == 3, res.output
    frames = len(read_video(out))
    half = tmp_path / "half.mkv"  # what was sent, as a file: every frame in it is decodable (the decoder flushed)
    half.write_bytes((tmp_path / "s.mkv").read_bytes()[: (tmp_path / "s.mkv").stat().st_size // 2])
    assert 5 < frames == len(read_video(half)) < 40  # the frames the decoder held back (B-frames) kept too
    warn = res.stderr.strip()
    assert len(warn.splitlines()) == 1 and warn.startswith("streamdeblur: warning:"), warn
    assert words in warn and f"the {frames} frames received were deblurred" in warn, warn
    assert hidden(tmp_path) == []


def test_many_inputs_keep_the_damaged_ones_work_too(tmp_path, tiny_weights):
    good, bad = tmp_path / "good.mp4", tmp_path / "bad.mp4"
    write_video(good, random_frames(6, 64, 48), codec="libx264", pix_fmt="yuv420p")
    damaged_h264(bad)
    res = runner.invoke(app, ["run", str(good), str(bad), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)])
    assert res.exit_code == 0, res.output
    assert len(read_video(tmp_path / "out" / "good.mp4")) == 6
    frames = len(read_video(tmp_path / "out" / "bad.mp4"))
    assert 10 < frames < 20
    assert f"warning: {bad}: input {bad} is damaged" in res.stderr, res.stderr


@pytest.mark.parametrize("fill", [0, 0xFF])
def test_frames_the_demuxer_drops_past_damage_are_counted_as_left_out(tmp_path, tiny_weights, fill):
    """400 bytes overwritten a third into a Matroska file: the demuxer resyncs past whole clusters and those
    packets never reach the decoder, so the warning counted the one packet it rejected ("1 frame was not
    decodable") while 30 of 60 frames were missing. Every frame missing from the timeline is counted.
    (Here a keyframe every 12 frames: the demuxer finds its way back, and 5 frames are gone.)"""
    src, out = tmp_path / "dmg.mkv", tmp_path / "out.mp4"
    write_video(src, smooth_frames(60), codec="libx264", pix_fmt="yuv420p", options={"g": "12"})
    data = bytearray(src.read_bytes())
    third = len(data) // 3
    data[third : third + 400] = bytes([fill]) * 400
    src.write_bytes(bytes(data))
    res = run(src, "-o", out, "--weights", tiny_weights)
    assert res.exit_code == 0, res.output
    frames = len(read_video(out))
    lost = 60 - frames
    warn = res.stderr.strip()
    assert lost > 1 and len(warn.splitlines()) == 1, (lost, warn)
    assert f"{lost} frames were not decodable and left out" in warn, warn


def test_a_recording_over_http_cut_short_is_warned_as_a_file_is(tmp_path, tiny_weights):
    """An MP4 served whole over HTTP but itself cut short (its index first, announcing 30 frames) gave
    2 frames and "done", nothing said: every URL was taken for a live feed, which announces nothing.
    A URL that announces its length is held to it, as a file or a pipe is."""
    data = half_of_a_fast_start_mp4(tmp_path)

    class Whole(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Whole)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "out.mp4"
        res = runner.invoke(app, ["run", f"http://127.0.0.1:{httpd.server_address[1]}/cut.mp4", "-o", str(out),
                                  "--weights", str(tiny_weights), "--backend", "torch"])  # fmt: skip
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert res.exit_code == 0, res.output
    frames = len(read_video(out))
    assert 0 < frames < 30
    assert "but its header announces 30; it may be cut short" in res.stderr, res.stderr
