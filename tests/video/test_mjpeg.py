"""``preview --serve`` (streamdeblur.video.mjpeg): the address rule, the server in process,
the CLI serving real frames over loopback, and the page in headless Chromium (marked
``display``; skipped without chromium)."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess

import cv2
import livefiles
import numpy as np
import pytest
from livefiles import BAND, H, W, find, finish, read_mjpeg, serve

from streamdeblur.errors import InputError
from streamdeblur.video.compose import compose
from streamdeblur.video.mjpeg import MjpegServer, parse_serve_address

media = livefiles.media  # the fixture


def test_serve_address_defaults_to_loopback():
    assert parse_serve_address("8080") == ("127.0.0.1", 8080)
    assert parse_serve_address(":8080") == ("127.0.0.1", 8080)
    assert parse_serve_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_serve_address("[::1]:9000") == ("::1", 9000)
    with pytest.raises(InputError, match=r"--serve expects \[HOST:\]PORT"):
        parse_serve_address("localhost:http")


def test_mjpeg_server_in_process_serves_the_newest_picture():
    server = MjpegServer(port=0)
    try:
        assert server.host == "127.0.0.1"
        img = np.zeros((60, 80, 3), np.uint8)
        img[:, :40] = (255, 0, 0)
        server.publish(img)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/frame.jpg")
        body = conn.getresponse().read()
        dec = cv2.cvtColor(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert dec.shape == (60, 80, 3)
        assert dec[30, 10, 0] > 200 and dec[30, 70, 0] < 50
        conn.close()
    finally:
        server.close()


@pytest.mark.parametrize("view,width", [("side", 2 * W), ("deblurred", W)])
def test_cli_serve_mjpeg_frames(media, view, width):
    proc, host, port = serve(media, view)
    try:
        ctype, jpegs = read_mjpeg(host, port, 3)
        assert ctype.startswith("multipart/x-mixed-replace")
        assert len(jpegs) == 3
        for j in jpegs:
            assert j[:2] == b"\xff\xd8" and j[-2:] == b"\xff\xd9"
            img = cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR)
            assert img is not None and img.shape == (H, width, 3)
        if view == "side":  # the left pane is the input, the right pane the model's output
            rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(int)
            band = BAND  # below the overlay, above the labels
            # JPEG-compressed: close to the right picture (and far from the other, which differs by > 20)
            assert np.abs(rgb[band, :W] - media["input"][band].astype(int)).mean() < 12
            assert np.abs(rgb[band, W:] - media["deblurred"][band].astype(int)).mean() < 12
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", "/")
        page = conn.getresponse().read().decode()
        assert 'src="stream.mjpg"' in page
        conn.request("GET", "/stats.json")
        stats = json.loads(conn.getresponse().read())
        assert stats["backend"].startswith("torch (cpu") and stats["frames_shown"] >= 1
        conn.close()
    finally:
        rc, err = finish(proc)
    assert rc == 0, err
    assert "interrupted (Ctrl-C)" in err


@pytest.mark.display
def test_browser_page_shows_the_stream(media, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs chromium (apt-get install chromium)")
    proc, host, port = serve(media)
    try:
        read_mjpeg(host, port, 2)  # frames are flowing
        png = tmp_path / "page.png"
        subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}", "--window-size=900,420", "--timeout=5000",
                f"--screenshot={png}", f"http://{host}:{port}/",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90,
        )  # fmt: skip
        # (output to no pipe: Chromium's helpers keep a pipe open, which a timeout then waited on forever)
        assert png.exists(), "chromium wrote no screenshot"
        page = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
        expected = compose(media["input"], media["deblurred"], "side", labels=False)
        score, _ = find(page, np.ascontiguousarray(expected[BAND]))
        assert score > 0.8, f"the page does not show the preview (best match {score:.2f}); see {png}"
    finally:
        finish(proc)
