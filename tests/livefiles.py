"""What the tests of live video share (tests/video: live sources, the MJPEG server, the
views, the window; tests/preview: the preview loop, its command, live recording): small
real clips, a tiny generator that visibly changes a picture, a viewer that keeps what it
was shown, a source a test can wait on, and the CLI in a subprocess (stderr lines
collected, waited on by pattern). Imported by name (``from livefiles import ...``: pytest
puts tests/ on sys.path for tests/conftest.py); everything runs on 127.0.0.1 only."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2  # before av: see streamdeblur/video/__init__.py
import numpy as np
import pytest
import torch
from testkit import TINY_LITE, load_photo

from streamdeblur.backends import create_backend
from streamdeblur.models import build_model, load_generator, save_generator
from streamdeblur.video.live import LiveSource

W, H = 160, 120  # small: the 2-core CI machine is shared; 2x the pane width is what matters
FPS = 30
BAND = slice(44, 98)  # rows below the overlay and above the pane labels


def _photo() -> np.ndarray:
    return cv2.resize(load_photo(), (W, H), interpolation=cv2.INTER_AREA)


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
    """still.mp4 (30 frames), pan.mp4 (60 frames, moving), tiny weights, a backend on them,
    and one frame of still.mp4 before and after that backend."""
    d = tmp_path_factory.mktemp("preview")
    still = d / "still.mp4"
    write_clip(still, 30)
    pan = d / "pan.mp4"
    write_clip(pan, 60, pan=2)
    # a tiny generator whose output visibly differs from its input (the shipped init is the identity)
    torch.manual_seed(0)
    g = build_model("deblurgan-lite", **TINY_LITE)
    with torch.no_grad():
        g.ending.bias.copy_(
            torch.tensor([0.35, -0.25, -0.25]).repeat(g.ending.bias.numel() // 3 + 1)[: g.ending.bias.numel()]
        )
    weights, _ = save_generator(g, d / "tiny.safetensors")
    backend = create_backend("torch", load_generator(weights), "cpu")
    with av.open(str(still)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
    return {
        "dir": d,
        "still": still,
        "pan": pan,
        "weights": weights,
        "backend": backend,
        "input": first,
        "deblurred": backend.process(first[None])[0],
    }


def process_with(backend):
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


class Counted(LiveSource):
    """A live source that counts the frames it delivered, so a "slow model" can wait for the
    next ones to arrive (a frame replaced meanwhile is dropped) instead of sleeping."""

    def __init__(self, inner: LiveSource) -> None:
        super().__init__()
        self.inner, self.info = inner, inner.info
        self.delivered = 0
        self.ended = False
        self._cond = threading.Condition()

    def read(self):
        frame = self.inner.read()
        with self._cond:
            if frame is None:
                self.ended = True
            else:
                self.delivered += 1
            self._cond.notify_all()
        return frame

    def close(self) -> None:
        self.inner.close()

    def wait_more(self, n: int, timeout: float = 30.0) -> None:
        """Block until ``n`` more frames were read from now on (or the source ended)."""
        with self._cond:
            target = self.delivered + n
            assert self._cond.wait_for(lambda: self.delivered >= target or self.ended, timeout), (
                "the source stopped delivering frames"
            )


def slower_than(source: Counted, backend, frames: int = 3):
    """A model that returns only once ``frames`` more frames were read: at least
    ``frames - 1`` were put in the mailbox meanwhile, so every inference sees a drop
    (the warm-up call, before capture starts, returns at once)."""

    def process(im):
        if source.delivered:
            source.wait_more(frames)
        return backend.process(im[None])[0]

    return process


# -- the CLI in a subprocess -------------------------------------------------------------


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
    """``preview still.mp4 --loop --serve 127.0.0.1:0`` in a subprocess; (process, host, port)."""
    proc = start_cli(
        [
            "preview",
            str(media["still"]),
            "--loop",
            "--serve",
            "127.0.0.1:0",
            "--view",
            view,
            "--backend",
            "torch",
            "--weights",
            str(media["weights"]),
        ]
    )
    m = wait_for_line(proc, r"serving the preview at http://(127\.0\.0\.1):(\d+)/")
    return proc, m.group(1), int(m.group(2))


def read_mjpeg(host: str, port: int, n: int, timeout: float = 20.0) -> tuple[str, list[bytes]]:
    """The Content-Type of /stream.mjpg and its first ``n`` JPEGs."""
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


def find(haystack: np.ndarray, needle: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Where ``needle`` best matches in ``haystack`` (a screenshot): (score, (x, y))."""
    res = cv2.matchTemplate(haystack, needle, cv2.TM_CCOEFF_NORMED)
    _, score, _, loc = cv2.minMaxLoc(res)
    return score, loc


class Feed(threading.Thread):
    """A TCP server that sends one MPEG-TS recording to each connection, then hangs up; after the
    last it stops listening (the feed is gone for good)."""

    def __init__(self, recordings: list[bytes], gap: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.recordings = recordings
        self.gap = gap  # seconds each connection after the first waits before its recording starts
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self.served = 0

    def run(self) -> None:
        self.server.settimeout(60)
        with self.server:
            for blob in self.recordings:
                conn, _ = self.server.accept()
                with conn:
                    if self.served:
                        time.sleep(self.gap)
                    conn.sendall(blob)
                self.served += 1
