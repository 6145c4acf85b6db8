"""Live sources (streamdeblur.video.live): the newest-frame mailbox, a missing camera, a file
played at its own pace on FileSource (looping), and OpenCV's network path on loopback."""

from __future__ import annotations

import functools
import os
import threading
from fractions import Fraction
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import livefiles
import numpy as np
import pytest
from livefiles import FPS, H, W

from streamdeblur.errors import CameraError, InputError, InputNotFoundError, StreamTimeoutError
from streamdeblur.video.frame import Frame
from streamdeblur.video.live import FilePlayback, FrameSlot, OpenCVSource, open_live

media = livefiles.media  # the fixture


def test_latest_frame_wins_and_counts_drops():
    slot = FrameSlot()
    for i in range(3):
        slot.put(Frame(i, i, Fraction(1, 30), np.zeros((2, 2, 3), np.uint8)))
    assert slot.take(1.0).index == 2
    assert slot.dropped == 2 and slot.received == 3
    slot.end()
    assert slot.take(1.0) is None
    with pytest.raises(StreamTimeoutError):
        FrameSlot().take(0.05)


def test_missing_camera_is_a_clear_error():
    if os.path.exists("/dev/video99"):
        pytest.skip("this machine has a /dev/video99")
    with pytest.raises(CameraError, match=r"camera 99 not found: /dev/video99 does not exist"):
        open_live(camera="99")
    with pytest.raises(CameraError, match="not found"):
        open_live(camera="/dev/video99")


def test_file_playback_paces_frames_on_the_capture_clock_and_loops(media):
    src = FilePlayback(media["still"], loop=True, realtime=False)  # no waiting: the times are what counts
    assert (src.info.kind, src.info.width, src.info.height, src.info.fps) == ("file", W, H, FPS)
    frames = [src.read() for _ in range(35)]
    src.close()
    assert src.read() is None
    media_times = [f.meta["media_time"] for f in frames]
    assert media_times == sorted(media_times) and len(set(media_times)) == 35  # the second pass follows the first
    assert media_times[30] == pytest.approx(30 / FPS, abs=1e-3)
    assert [f.index for f in frames] == list(range(35))
    assert np.abs(frames[0].image.astype(int) - media["input"].astype(int)).mean() < 1  # FileSource's decode: RGB


def test_open_live_tells_files_from_streams_by_the_one_rule(media, tmp_path):
    src = open_live(f"file://{media['still']}")  # a file:// URL is the file
    assert src.info.kind == "file" and src.info.name == str(media["still"])
    src.close()
    with pytest.raises(InputNotFoundError, match="input not found"):
        open_live(tmp_path / "nothing.mp4")
    with pytest.raises(InputError, match=r"foo:// is not a stream protocol this FFmpeg opens"):
        open_live("foo://camera/1")
    with pytest.raises(InputError, match="--loop only applies to a file input"):
        open_live("rtsp://127.0.0.1:1/cam", loop=True)


def test_opencv_source_reads_a_loopback_http_stream(media):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(media["dir"])))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        src = OpenCVSource(f"http://127.0.0.1:{httpd.server_address[1]}/still.mp4", timeout=10)
        assert (src.info.kind, src.info.width, src.info.height) == ("stream", W, H)
        frames = list(src)
        src.close()
        assert len(frames) == 30
        assert all(f.image.shape == (H, W, 3) for f in frames)
        assert np.abs(frames[0].image.astype(int) - media["input"].astype(int)).mean() < 3  # RGB, not BGR
        assert [f.pts for f in frames] == sorted(f.pts for f in frames)
    finally:
        httpd.shutdown()
        httpd.server_close()
