"""`streamdeblur preview`: latest-frame-wins loop, views, recording, MJPEG server, errors.

The display tests (marked ``display``) start their own Xvfb, drive the real window with
xdotool, screenshot the X screen with xwd, and load the MJPEG page in headless
Chromium; they skip when those programs are missing (``.ci/run`` installs them).
Everything runs on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2  # before av: see streamdeblur/video/__init__.py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from streamdeblur.backends import create_backend
from streamdeblur.cli import app
from streamdeblur.errors import CameraError, DisplayUnavailableError, StreamTimeoutError
from streamdeblur.models import build_model, load_generator, save_generator
from streamdeblur.preview import PreviewConfig, run_preview
from streamdeblur.recording import sink_info
from streamdeblur.video.compose import compose
from streamdeblur.video.frame import Frame
from streamdeblur.video.live import FilePlayback, LatestFrame, LiveInfo, LiveSource, open_live
from streamdeblur.video.mjpeg import MjpegServer, parse_serve_address

PHOTO = Path(__file__).parent / "data" / "photo.png"
W, H = 160, 120  # small: the 2-core CI machine is shared; 2x the pane width is what matters
FPS = 30
BAND = slice(44, 98)  # rows below the overlay and above the pane labels


# -- media ------------------------------------------------------------------------------


def _photo() -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    return cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)


def write_clip(path: Path, frames: int, *, pan: int = 0) -> list[np.ndarray]:
    """A real H.264 file (yuv444p so the decoded frames stay close to the photo)."""
    img = _photo()
    out = []
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS, options={"qp": "0", "preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = W, H, "yuv444p"
        for i in range(frames):
            f = np.ascontiguousarray(np.roll(img, i * pan, axis=1))
            out.append(f)
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("preview")
    still = d / "still.mp4"
    write_clip(still, 30)
    pan = d / "pan.mp4"
    write_clip(pan, 60, pan=2)
    # a tiny generator whose output visibly differs from its input (the shipped init is the identity)
    torch.manual_seed(0)
    g = build_model("deblurgan-lite", width=8, enc_blocks=[1, 1], middle_blocks=1, dec_blocks=[1, 1])
    with torch.no_grad():
        g.ending.bias.copy_(torch.tensor([0.35, -0.25, -0.25]).repeat(g.ending.bias.numel() // 3 + 1)[: g.ending.bias.numel()])
    weights, _ = save_generator(g, d / "tiny.safetensors")
    backend = create_backend("torch", load_generator(weights), "cpu")
    with av.open(str(still)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
    return {"dir": d, "still": still, "pan": pan, "weights": weights, "backend": backend, "input": first, "deblurred": backend.process(first[None])[0]}


def _process(backend):
    return lambda im: backend.process(im[None])[0]


class Collect:
    """A viewer that keeps what it was shown (a real implementation of the Viewer protocol)."""

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []

    def show(self, image):
        self.images.append(image)
        return []

    def close(self) -> None:
        pass


# -- pieces -----------------------------------------------------------------------------


def test_views_compose_side_split_deblurred(media):
    a, b = media["input"], media["deblurred"]
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 20, "the test generator must change the picture"
    side = compose(a, b, "side", labels=False)
    assert side.shape == (H, 2 * W, 3)
    assert np.array_equal(side[:, :W], a) and np.array_equal(side[:, W:], b)
    split = compose(a, b, "split", labels=False)
    assert split.shape == (H, W, 3)
    assert np.array_equal(split[:, : W // 2 - 2], a[:, : W // 2 - 2])
    assert np.array_equal(split[:, W // 2 + 2 :], b[:, W // 2 + 2 :])
    assert np.array_equal(compose(a, b, "deblurred"), b)


def test_latest_frame_wins_and_counts_drops():
    slot = LatestFrame()
    for i in range(3):
        slot.put(Frame(i, i, Fraction(1, 30), np.zeros((2, 2, 3), np.uint8)))
    assert slot.take(1.0).index == 2
    assert slot.dropped == 2 and slot.received == 3
    slot.end()
    assert slot.take(1.0) is None
    with pytest.raises(StreamTimeoutError):
        LatestFrame().take(0.05)


def test_slow_model_drops_stale_frames_before_inference_never_after(media):
    """A model slower than the camera: the newest frame wins, every inferred frame is shown."""
    inferred: list[int] = []

    def slow(im):
        time.sleep(0.12)  # ~8 fps against a 30 fps source
        return media["backend"].process(im[None])[0]

    class Rec:
        frames: list[Frame] = []

        def write(self, f):
            self.frames.append(f)

        def close(self):
            pass

        def abort(self):
            raise AssertionError("the run ended cleanly; the recording must be kept")

    rec = Rec()
    viewer = Collect()
    src = FilePlayback(media["pan"])
    stats = run_preview(src, slow, [viewer], PreviewConfig(overlay=False, warmup=False), recorder=rec)
    inferred = [f.index for f in rec.frames]
    assert stats.frames_in == 60
    assert stats.dropped > 0
    assert stats.frames_shown == len(viewer.images) == len(inferred) == len(stats.latencies_ms)
    assert stats.frames_shown + stats.dropped == stats.frames_in  # nothing lost after inference
    assert inferred == sorted(set(inferred)) and inferred[-1] == 59  # in order; the last frame is shown
    assert max(np.diff(inferred)) > 1  # stale frames were skipped, not queued


def test_record_keeps_capture_clock_timestamps(media, tmp_path):
    from streamdeblur.video.sinks import FileSink

    out = tmp_path / "rec.mp4"
    src = FilePlayback(media["pan"])
    sink = FileSink(out, sink_info(src.info))

    def slow(im):
        time.sleep(0.08)
        return media["backend"].process(im[None])[0]

    stats = run_preview(src, slow, [Collect()], PreviewConfig(), recorder=sink)
    assert out.exists()
    with av.open(str(out)) as c:
        times = [f.time for f in c.decode(video=0)]
    assert len(times) == stats.frames_shown < 60
    assert times == sorted(times)
    # the clip lasts 59/30 s at its own pace; the recording spans that, not frames/fps
    assert times[-1] - times[0] >= 1.9


def test_max_frames_and_loop(media):
    viewer = Collect()
    stats = run_preview(FilePlayback(media["still"], loop=True), _process(media["backend"]), [viewer], PreviewConfig(max_frames=33, warmup=False))
    assert stats.frames_shown == 33 == len(viewer.images)  # more than the 30-frame file: it looped
    assert stats.stop_reason == "frame limit reached"


def test_stalled_source_is_an_error_not_a_hang(media):
    class Stalled(LiveSource):
        def __init__(self):
            super().__init__()
            self.info = LiveInfo(W, H, 30.0, "stalled camera", "camera")
            self._stop = threading.Event()

        def read(self):
            self._stop.wait()  # a driver that never returns a frame
            return None

        def close(self):
            self._stop.set()

    errors: list[BaseException] = []

    def go() -> None:
        try:
            run_preview(Stalled(), _process(media["backend"]), [Collect()], PreviewConfig(timeout=0.5, warmup=False))
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "run_preview hung on a source that delivers nothing"
    assert len(errors) == 1 and isinstance(errors[0], StreamTimeoutError)
    assert "no frame from the source for 0.5 s" in str(errors[0])


def test_missing_camera_is_a_clear_error():
    if os.path.exists("/dev/video99"):
        pytest.skip("this machine has a /dev/video99")
    with pytest.raises(CameraError, match=r"camera 99 not found: /dev/video99 does not exist"):
        open_live(camera="99")
    with pytest.raises(CameraError, match="not found"):
        open_live(camera="/dev/video99")


def test_cli_missing_camera(media):
    if os.path.exists("/dev/video99"):
        pytest.skip("this machine has a /dev/video99")
    r = CliRunner().invoke(app, ["preview", "--camera", "99", "--serve", "0", "--backend", "torch", "--weights", str(media["weights"])])
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if "error" in line]
    assert lines == [lines[0]] and "camera 99 not found" in lines[0], r.output


def test_cli_no_display_suggests_serve(media, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    r = CliRunner().invoke(app, ["preview", str(media["still"]), "--weights", str(media["weights"])])
    assert r.exit_code == 2
    assert "no display" in r.output and "--serve" in r.output


def test_window_without_display_raises(monkeypatch):
    from streamdeblur.video.preview_window import PreviewWindow

    monkeypatch.setenv("DISPLAY", ":4242")  # nothing listens there
    with pytest.raises(DisplayUnavailableError, match="--serve"):
        PreviewWindow()


def test_serve_address_defaults_to_loopback():
    assert parse_serve_address("8080") == ("127.0.0.1", 8080)
    assert parse_serve_address(":8080") == ("127.0.0.1", 8080)
    assert parse_serve_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_serve_address("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError):
        parse_serve_address("localhost:http")


# -- MJPEG over loopback ----------------------------------------------------------------


def read_mjpeg(host: str, port: int, n: int, timeout: float = 20.0) -> tuple[str, list[bytes]]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("GET", "/stream.mjpg")
    resp = conn.getresponse()
    ctype = resp.getheader("Content-Type")
    boundary = re.search(r"boundary=(\S+)", ctype).group(1).encode()
    jpegs = []
    while len(jpegs) < n:
        line = resp.fp.readline()
        if not line:
            break
        if line.strip() != b"--" + boundary:
            continue
        headers = {}
        while (h := resp.fp.readline().strip()) != b"":
            k, _, v = h.partition(b":")
            headers[k.strip().lower()] = v.strip()
        jpegs.append(resp.fp.read(int(headers[b"content-length"])))
    conn.close()
    return ctype, jpegs


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


def start_cli(args: list[str], env: dict | None = None) -> subprocess.Popen:
    """The CLI in a subprocess; a thread collects its stderr lines into ``proc.seen``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from streamdeblur.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    proc.seen = []  # type: ignore[attr-defined]

    def reader() -> None:
        for line in proc.stderr:
            proc.seen.append(line)  # type: ignore[attr-defined]

    proc.reader = threading.Thread(target=reader, daemon=True)  # type: ignore[attr-defined]
    proc.reader.start()  # type: ignore[attr-defined]
    return proc


def wait_for_line(proc: subprocess.Popen, pattern: str, timeout: float = 60.0) -> re.Match:
    """Wait until a stderr line matches ``pattern``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(proc.seen):  # type: ignore[attr-defined]
            if m := re.search(pattern, line):
                return m
        if proc.poll() is not None:
            proc.reader.join(2)  # type: ignore[attr-defined]
            if any(re.search(pattern, line) for line in proc.seen):  # type: ignore[attr-defined]
                continue
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s; stderr: {''.join(proc.seen)}")  # type: ignore[attr-defined]


def finish(proc: subprocess.Popen, sig: int | None = signal.SIGINT, timeout: float = 20.0) -> tuple[int, str]:
    """Stop the CLI (``sig``, or wait for it to end by itself); (exit code, all stderr)."""
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"the preview did not stop; stderr: {''.join(proc.seen)}") from None  # type: ignore[attr-defined]
    proc.reader.join(5)  # type: ignore[attr-defined]
    return proc.returncode, "".join(proc.seen)  # type: ignore[attr-defined]


def serve(media, view: str = "side") -> tuple[subprocess.Popen, str, int]:
    proc = start_cli(["preview", str(media["still"]), "--loop", "--serve", "127.0.0.1:0", "--view", view, "--backend", "torch", "--weights", str(media["weights"])])
    m = wait_for_line(proc, r"serving the preview at http://(127\.0\.0\.1):(\d+)/")
    return proc, m.group(1), int(m.group(2))


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


# -- a real window under Xvfb, and a real browser ------------------------------------


def _need(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install xvfb xdotool x11-apps chromium)")


@pytest.fixture
def xvfb():
    _need("Xvfb", "xdotool", "xwd")
    for n in range(90, 200):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            break
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1024x600x24", "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(f"/tmp/.X11-unix/X{n}"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.skip(f"Xvfb :{n} did not start")
        time.sleep(0.05)
    yield f":{n}"
    proc.terminate()
    proc.wait(5)


def screenshot(display: str) -> np.ndarray:
    """The whole X screen as RGB, via xwd (parsed here: XWD is a simple header + raw pixels)."""
    d = subprocess.run(["xwd", "-root", "-silent", "-display", display], check=True, capture_output=True).stdout
    h = struct.unpack(">25I", d[:100])
    header, width, height, byte_order, bpp, bpl, ncolors = h[0], h[4], h[5], h[7], h[11], h[12], h[19]
    px = np.frombuffer(d, np.uint8, count=bpl * height, offset=header + ncolors * 12).reshape(height, bpl)
    px = px[:, : width * (bpp // 8)].reshape(height, width, bpp // 8)
    return np.ascontiguousarray(px[..., 2::-1] if byte_order == 0 else px[..., -3:])  # LSB first: B G R (X)


def find(haystack: np.ndarray, needle: np.ndarray) -> tuple[float, tuple[int, int]]:
    res = cv2.matchTemplate(haystack, needle, cv2.TM_CCOEFF_NORMED)
    _, score, _, loc = cv2.minMaxLoc(res)
    return score, loc


def xdo(display: str, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True, capture_output=True, text=True).stdout


@pytest.mark.display
def test_window_shows_both_panes_and_keys_work(media, xvfb, tmp_path):
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    proc = start_cli(
        ["preview", str(media["still"]), "--loop", "--max-frames", "100000", "--backend", "torch", "--weights", str(media["weights"]), "--snapshot-dir", str(snaps)],
        env={"DISPLAY": xvfb},
    )
    try:
        wait_for_line(proc, r"keys: q/Esc quit")
        deadline = time.monotonic() + 20
        win = ""
        while not win and time.monotonic() < deadline:
            win = subprocess.run(["xdotool", "search", "--name", "streamdeblur preview"], env={**os.environ, "DISPLAY": xvfb}, capture_output=True, text=True).stdout.split()
            win = win[0] if win else ""
            time.sleep(0.2)
        assert win, "no preview window appeared"
        expected = compose(media["input"], media["deblurred"], "side", labels=False)
        band = BAND
        deadline = time.monotonic() + 30
        while True:  # the first frames take a moment on a busy 2-core machine
            shot = screenshot(xvfb)
            score, (x, y) = find(shot, np.ascontiguousarray(expected[band]))
            if score > 0.9 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        cv2.imwrite(str(tmp_path / "screen.png"), cv2.cvtColor(shot, cv2.COLOR_RGB2BGR))
        assert score > 0.9, f"the side-by-side picture is not on screen (best match {score:.2f}); see {tmp_path / 'screen.png'}"
        y0 = y - band.start
        on_screen = shot[y0 + band.start : y0 + band.stop, x : x + 2 * W].astype(int)
        left, right = on_screen[:, :W], on_screen[:, W:]
        assert np.abs(left - media["input"][band].astype(int)).mean() < 6
        assert np.abs(right - media["deblurred"][band].astype(int)).mean() < 6
        assert np.abs(left - right).mean() > 20  # two different panes, not one picture twice

        def saved(n: int) -> list[Path]:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                pngs = sorted(snaps.glob("*.png"))
                if len(pngs) >= n:
                    return pngs
                time.sleep(0.1)
            raise AssertionError(f"expected {n} snapshot(s), got {sorted(snaps.iterdir())}")

        xdo(xvfb, "key", "--window", win, "s")
        first = cv2.imread(str(saved(1)[0]))
        assert first.shape == (H, 2 * W, 3)  # side by side, as shown
        xdo(xvfb, "key", "--window", win, "v")  # side -> split
        wait_for_line(proc, r"view: split", timeout=20)
        time.sleep(0.5)  # the next frame is composed in the new view
        xdo(xvfb, "key", "--window", win, "s")
        second = cv2.cvtColor(cv2.imread(str(saved(2)[1])), cv2.COLOR_BGR2RGB).astype(int)
        assert second.shape == (H, W, 3), "".join(proc.seen)
        assert np.abs(second[band, : W // 2 - 2] - media["input"][band, : W // 2 - 2].astype(int)).mean() < 6
        assert np.abs(second[band, W // 2 + 2 :] - media["deblurred"][band, W // 2 + 2 :].astype(int)).mean() < 6
        xdo(xvfb, "key", "--window", win, "q")
        rc, err = finish(proc, sig=None, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0, err
    assert "quit by user" in err and "view: split" in err


@pytest.mark.display
def test_window_max_frames_ends_by_itself(media, xvfb):
    proc = start_cli(["preview", str(media["still"]), "--loop", "--max-frames", "5", "--backend", "torch", "--weights", str(media["weights"])], env={"DISPLAY": xvfb})
    rc, err = finish(proc, sig=None, timeout=120)
    assert rc == 0, err
    assert "5 frames shown" in err


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
            capture_output=True, timeout=90,
        )  # fmt: skip
        assert png.exists(), "chromium wrote no screenshot"
        page = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
        expected = compose(media["input"], media["deblurred"], "side", labels=False)
        score, _ = find(page, np.ascontiguousarray(expected[BAND]))
        assert score > 0.8, f"the page does not show the preview (best match {score:.2f}); see {png}"
    finally:
        finish(proc)


# -- `run --camera`: the live recorder, and OpenCV's network path ---------------------


def test_record_live_duration_gives_a_playable_file(media, tmp_path):
    from streamdeblur.recording import record_live

    out = tmp_path / "cam.mp4"
    rec = record_live(FilePlayback(media["still"], loop=True), out, backend="torch", weights=str(media["weights"]), duration=1.0)
    assert rec.stop_reason == "1 s recorded"
    with av.open(str(out)) as c:
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert len(frames) == rec.frames > 0
    times = [t for t, _ in frames]
    assert times == sorted(times) and times[-1] < 1.0  # capture clock: nothing past --duration
    # the recorded pictures are the model's output, not the input
    img = frames[-1][1].astype(int)
    assert np.abs(img - media["deblurred"].astype(int)).mean() < np.abs(img - media["input"].astype(int)).mean()


def test_record_live_ctrl_c_keeps_a_playable_file(media, tmp_path):
    import _thread

    from streamdeblur.recording import record_live

    out = tmp_path / "cam.mkv"
    timer = threading.Timer(3.0, _thread.interrupt_main)  # what Ctrl-C does to the main thread
    try:  # Ctrl-C once the recording runs
        rec = record_live(FilePlayback(media["still"], loop=True), out, backend="torch", weights=str(media["weights"]), on_ready=lambda _: timer.start())
    finally:
        timer.cancel()
    assert rec.stop_reason == "interrupted (Ctrl-C)"
    assert out.exists() and not list(tmp_path.glob(".*tmp*"))
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == rec.frames > 0


def test_cli_run_camera_missing_is_a_clear_error(media, tmp_path):
    if os.path.exists("/dev/video99"):
        pytest.skip("this machine has a /dev/video99")
    r = CliRunner().invoke(app, ["run", "--camera", "99", "-o", str(tmp_path / "o.mp4"), "--weights", str(media["weights"])])
    assert r.exit_code == 2 and "camera 99 not found" in r.output
    assert not (tmp_path / "o.mp4").exists()
    r = CliRunner().invoke(app, ["run", "-o", str(tmp_path / "o.mp4")])
    assert r.exit_code == 2 and "--camera" in r.output


def test_opencv_source_reads_a_loopback_http_stream(media):
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from streamdeblur.video.live import OpenCVSource

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
