"""One rule tells a file from a stream (streamdeblur.video.urls.is_url) for every command:
``scheme://`` with a scheme this FFmpeg opens is a stream, ``file://`` URLs and plain paths
are files, and any other ``scheme://`` is refused saying so, by `run` and `preview` alike."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner
from videofiles import random_frames, read_video, write_video

from streamdeblur.cli import app
from streamdeblur.video.urls import is_url, local_path, stream_schemes

runner = CliRunner()


def test_the_rule():
    assert {"http", "https", "rtsp", "rtmp", "udp", "tcp"} <= stream_schemes()
    assert "file" not in stream_schemes() and "pipe" not in stream_schemes()
    for url in ("rtsp://cam.local/live", "HTTP://host/clip.mp4", "udp://0.0.0.0:5000", "rtmp://host/app"):
        assert is_url(url), url
    for spec in (
        "clip.mp4",
        "/a/b.mp4",
        Path("/a/b.mp4"),
        "file:///a/b.mp4",
        "foo://x",
        "C:/video.mp4",
        "weird:name.mp4",
    ):
        assert not is_url(spec), spec
    assert local_path("file:///a/b%20c.mp4") == "/a/b c.mp4"
    assert local_path("file://localhost/a.mp4") == "/a.mp4"
    assert local_path("rtsp://cam/live") == "rtsp://cam/live" and local_path("a.mp4") == "a.mp4"


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    p = tmp_path / "my clip.mp4"
    write_video(p, random_frames(6, 64, 48), codec="libx264", pix_fmt="yuv420p")
    return p


def _run(*args: object):
    return runner.invoke(app, ["run", *map(str, args)])


def _preview(*args: object):
    return runner.invoke(app, ["preview", *map(str, args), "--serve", "127.0.0.1:0", "--backend", "torch"])


def test_a_file_url_is_the_file_for_both_commands(tmp_path, clip, tiny_weights):
    url = clip.as_uri()  # file:///.../my%20clip.mp4
    res = _run(url, "-o", tmp_path / "out.mkv", "--weights", tiny_weights, "--quiet")
    assert res.exit_code == 0, res.output
    assert len(read_video(tmp_path / "out.mkv")) == 6
    res = _preview(url, "--max-frames", "2", "--weights", tiny_weights)
    assert res.exit_code == 0, res.output
    assert f"input: {clip} (file, 64x48" in res.stderr and "2 frames shown" in res.stderr


def test_an_unknown_scheme_is_refused_the_same_way_by_both_commands(tmp_path, tiny_weights):
    for res in (
        _run("foo://cam/1", "-o", tmp_path / "out.mp4", "--weights", tiny_weights),
        _preview("foo://cam/1", "--weights", tiny_weights),
    ):
        assert res.exit_code == 2
        err = res.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(
            "streamdeblur: error: input foo://cam/1: foo:// is not a stream protocol this FFmpeg opens; it opens "
        ), err
        assert "rtsp" in err[0]
    assert not (tmp_path / "out.mp4").exists()


def test_a_stream_url_is_a_stream_for_both_commands(tmp_path, tiny_weights):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: both try the network and say so
    res = _run(f"http://127.0.0.1:{port}/live", "-o", tmp_path / "out.mp4", "--weights", tiny_weights, "--timeout", "2")
    assert res.exit_code == 2 and f"cannot open stream http://127.0.0.1:{port}/live" in res.stderr, res.stderr
    res = _preview(f"http://127.0.0.1:{port}/live", "--weights", tiny_weights, "--timeout", "2")
    assert res.exit_code == 2 and f"cannot open stream http://127.0.0.1:{port}/live" in res.stderr, res.stderr


def test_a_file_url_is_the_file_among_several_inputs(tmp_path, clip, tiny_weights):
    """The batch path (several inputs into a folder) reads ``file://`` as its file too."""
    other = tmp_path / "b.mp4"
    write_video(other, random_frames(4, 64, 48), codec="libx264", pix_fmt="yuv420p")
    res = _run(clip.as_uri(), other, "-o", tmp_path / "out", "--weights", tiny_weights, "--quiet")
    assert res.exit_code == 0, res.output
    assert len(read_video(tmp_path / "out" / "my clip.mp4")) == 6 and len(read_video(tmp_path / "out" / "b.mp4")) == 4
