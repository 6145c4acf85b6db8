"""The preview window (streamdeblur.video.preview_window): refused with a clear message
without a display, and a real highgui window under Xvfb driven with xdotool and
screenshot with xwd (marked ``display``; skipped when those programs are missing,
``.ci/run`` installs them)."""

from __future__ import annotations

import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import cv2
import livefiles
import numpy as np
import pytest
from livefiles import BAND, H, W, find, finish, start_cli, wait_for_line

from streamdeblur.errors import DisplayUnavailableError
from streamdeblur.video.compose import compose

media = livefiles.media  # the fixture


def test_window_without_display_raises(monkeypatch):
    from streamdeblur.video.preview_window import PreviewWindow

    monkeypatch.setenv("DISPLAY", ":4242")  # nothing listens there
    with pytest.raises(DisplayUnavailableError, match="--serve"):
        PreviewWindow()


def test_wayland_without_x_is_a_one_line_error(media, tmp_path):
    """A Wayland session without XWayland (WAYLAND_DISPLAY set, DISPLAY not): OpenCV's Qt has only its X11
    plugin and aborted the process with Qt's multi-line plugin error; now one line naming --serve, exit 2."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    env |= {"WAYLAND_DISPLAY": "wayland-0", "XDG_RUNTIME_DIR": str(tmp_path)}

    def preview() -> str:
        r = subprocess.run(
            [sys.executable, "-c", "from streamdeblur.cli import main; main()", "preview", str(media["still"]),
             "--weights", str(media["weights"]), "--max-frames", "1"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert lines[0].startswith("streamdeblur: error: cannot open a preview window") and "--serve" in lines[0]
        return lines[0]

    assert "cannot connect to the Wayland display 'wayland-0'" in preview()  # no compositor there
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as compositor:  # one that answers
        compositor.bind(str(tmp_path / "wayland-0"))
        compositor.listen()
        platforms = Path(cv2.__file__).parent / "qt" / "plugins" / "platforms"
        if platforms.is_dir() and not any("wayland" in p.name for p in platforms.iterdir()):
            line = preview()
            assert "X11 only" in line and "set DISPLAY" in line


def _need(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install xvfb xdotool x11-apps chromium)")


def xauthority(path: Path, cookie: bytes) -> Path:
    """An Xauthority file (as xauth writes it) holding ``cookie`` for this host's local displays."""
    fields = (socket.gethostname().encode(), b"", b"MIT-MAGIC-COOKIE-1", cookie)  # empty number: any display
    path.write_bytes(struct.pack(">H", 256) + b"".join(struct.pack(">H", len(f)) + f for f in fields))
    return path


@pytest.fixture
def xvfb(tmp_path_factory, monkeypatch):
    """A private Xvfb, handed out only once it accepts clients.

    Access control is on, as on a desktop: the server takes only the cookie in the ``XAUTHORITY`` file
    this fixture sets for the test (every client below, the preview included, must present it).

    ``-displayfd`` makes Xvfb pick a free display number itself and write it to a pipe once it is ready to
    connect: waiting for the socket file instead raced (the file appears before the server answers, and a
    client connecting then got "could not connect to display" and Qt aborted the preview).
    ``-noreset``: by default Xvfb resets itself whenever its last client disconnects, and the readiness
    check below (xdotool) is such a client; a client connecting during a reset can be dropped. CI once saw
    the preview get "could not connect to display :0" here again; the reset is the likely cause (not
    reproduced locally). Xvfb's own log is printed beside a failure if the server went away.
    """
    _need("Xvfb", "xdotool", "xwd")
    read_fd, write_fd = os.pipe()
    home = tmp_path_factory.mktemp("xvfb")
    log, auth = home / "xvfb.log", xauthority(home / "Xauthority", os.urandom(16))
    monkeypatch.setenv("XAUTHORITY", str(auth))
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-noreset", "-auth", str(auth), "-screen", "0", "1024x600x24"]
            + ["-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            pass_fds=(write_fd,),
        )
    os.close(write_fd)
    got = b""
    deadline = time.monotonic() + 20
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while not got.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([pipe], [], [], 0.5)
            if ready:
                chunk = pipe.read(64)
                if not chunk:  # Xvfb exited before it was ready
                    break
                got += chunk
    if not got.strip().isdigit():
        proc.kill()
        proc.wait(5)
        pytest.skip("Xvfb did not start")
    display = f":{int(got)}"
    xdo(display, "getdisplaygeometry")  # answers, or the fixture fails here rather than inside a test
    yield display
    if proc.poll() is not None:  # shown beside a failing test: did the server itself go away?
        print(f"Xvfb {display} exited during the test (code {proc.returncode}):\n{log.read_text(errors='replace')}")
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


def xdo(display: str, *args: str) -> str:
    return subprocess.run(
        ["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True, capture_output=True, text=True
    ).stdout


def until(condition, what: str, timeout: float = 20.0, every: float = 0.1):
    """Poll ``condition()`` until it returns something other than None (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if (got := condition()) is not None:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:g} s")
        time.sleep(every)


@pytest.mark.display
def test_window_shows_both_panes_and_keys_work(media, xvfb, tmp_path):
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    proc = start_cli(
        [
            "preview",
            str(media["still"]),
            "--loop",
            "--max-frames",
            "100000",
            "--backend",
            "torch",
            "--weights",
            str(media["weights"]),
            "--snapshot-dir",
            str(snaps),
        ],
        env={"DISPLAY": xvfb},
    )
    try:
        wait_for_line(proc, r"keys: q/Esc quit")

        def window() -> str:
            found = subprocess.run(
                ["xdotool", "search", "--name", "streamdeblur preview"],
                env={**os.environ, "DISPLAY": xvfb},
                capture_output=True,
                text=True,
            ).stdout.split()
            return found[0] if found else None

        win = until(window, "no preview window appeared", every=0.2)
        expected = np.ascontiguousarray(compose(media["input"], media["deblurred"], "side", labels=False)[BAND])
        shots: list = []

        def on_screen():  # the first frames take a moment on a busy 2-core machine
            shots[:] = [screenshot(xvfb)]
            score, loc = find(shots[0], expected)
            return loc if score > 0.9 else None

        # a wait, not a timing: once (of some thirty runs) the window stayed black for 30 s with a
        # training run beside the suite on the 2 cores; it draws within 5-10 s otherwise
        try:
            x, y = until(on_screen, "the side-by-side picture is not on screen", timeout=90, every=0.5)
        finally:
            cv2.imwrite(str(tmp_path / "screen.png"), cv2.cvtColor(shots[0], cv2.COLOR_RGB2BGR))
        shot = shots[0]
        on = shot[y : y + BAND.stop - BAND.start, x : x + 2 * W].astype(int)
        left, right = on[:, :W], on[:, W:]
        assert np.abs(left - media["input"][BAND].astype(int)).mean() < 6
        assert np.abs(right - media["deblurred"][BAND].astype(int)).mean() < 6
        assert np.abs(left - right).mean() > 20  # two different panes, not one picture twice

        def saved(n: int) -> list[Path]:
            return until(
                lambda: pngs if len(pngs := sorted(snaps.glob("*.png"))) >= n else None,
                f"expected {n} snapshot(s), got {sorted(snaps.iterdir())}",
                timeout=10,
            )

        xdo(xvfb, "key", "--window", win, "s")
        first = cv2.imread(str(saved(1)[0]))
        assert first.shape == (H, 2 * W, 3)  # side by side, as shown
        xdo(xvfb, "key", "--window", win, "v")  # side -> split
        wait_for_line(proc, r"view: split", timeout=20)

        def split_saved():  # a snapshot is of the picture shown: press s until one is in the new view
            before = len(list(snaps.glob("*.png")))
            xdo(xvfb, "key", "--window", win, "s")
            newest = saved(before + 1)[-1]
            img = cv2.imread(str(newest))
            return img if img is not None and img.shape == (H, W, 3) else None

        second = cv2.cvtColor(until(split_saved, "no snapshot in the split view", every=0.2), cv2.COLOR_BGR2RGB).astype(
            int
        )
        assert np.abs(second[BAND, : W // 2 - 2] - media["input"][BAND, : W // 2 - 2].astype(int)).mean() < 6
        assert np.abs(second[BAND, W // 2 + 2 :] - media["deblurred"][BAND, W // 2 + 2 :].astype(int)).mean() < 6
        xdo(xvfb, "key", "--window", win, "q")
        rc, err = finish(proc, sig=None, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0, err
    assert "quit by user" in err and "view: split" in err


@pytest.mark.display
def test_window_max_frames_ends_by_itself(media, xvfb):
    proc = start_cli(
        [
            "preview",
            str(media["still"]),
            "--loop",
            "--max-frames",
            "5",
            "--backend",
            "torch",
            "--weights",
            str(media["weights"]),
        ],
        env={"DISPLAY": xvfb},
    )
    rc, err = finish(proc, sig=None, timeout=120)
    assert rc == 0, err
    assert "5 frames shown" in err


@pytest.mark.display
def test_window_refused_by_the_x_server_is_a_one_line_error(media, xvfb, tmp_path):
    """A display that is there but refuses us (a wrong cookie, as under sudo) is a clear error, not Qt's abort."""
    wrong = xauthority(tmp_path / "wrong", bytes(16))
    proc = start_cli(
        ["preview", str(media["still"]), "--backend", "torch", "--weights", str(media["weights"])],
        env={"DISPLAY": xvfb, "XAUTHORITY": str(wrong)},
    )
    rc, err = finish(proc, sig=None, timeout=120)
    assert rc == 2, err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "refused" in errors[0] and "Invalid MIT-MAGIC-COOKIE-1 key" in errors[0], err
    assert "XAUTHORITY" in err and "--serve" in err and "qt.qpa" not in err and "Traceback" not in err
