"""The preview window (OpenCV highgui): shows pictures and turns keys into commands.

Keys: q or Esc quit, space pause/resume, v cycles the view, s saves a PNG of what is
shown. Closing the window quits too.

Before any highgui call we check that a display is reachable: OpenCV's Qt and GTK
builds abort the whole process when they cannot connect to X, which no ``except`` can
catch. Without one, :class:`~streamdeblur.errors.DisplayUnavailableError` says to use
``--serve`` instead.

Environment: it reads ``DISPLAY`` and ``WAYLAND_DISPLAY``, the display every X or Wayland
client opens on (not a setting of ours), and sets ``QT_QPA_FONTDIR`` for OpenCV's Qt when
unset (the wheels ship no fonts).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterable

import numpy as np

from ..errors import DisplayUnavailableError

log = logging.getLogger(__name__)

KEYS: dict[int, str] = {
    ord("q"): "quit",
    ord("Q"): "quit",
    27: "quit",
    ord(" "): "pause",
    ord("v"): "view",
    ord("V"): "view",
    ord("s"): "save",
    ord("S"): "save",
}

_HINT = "run on a machine with a screen, or use --serve [HOST:]PORT to watch the preview in a browser"


def display_problem() -> str | None:
    """Why no window can be opened here (None if a display looks reachable)."""
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
            return None  # Qt/GTK builds may speak Wayland; let them try
        disp = os.environ.get("DISPLAY", "")
        if not disp:
            return "no display (DISPLAY is not set)"
        host, _, rest = disp.rpartition(":")
        num = rest.split(".")[0]
        if not num.isdigit():
            return f"DISPLAY={disp!r} is not a valid X display"
        try:
            if host in ("", "unix") or host.startswith("/"):
                path = host if host.startswith("/") else f"/tmp/.X11-unix/X{num}"
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(2.0)
                try:
                    try:
                        s.connect(path)
                    except OSError:
                        s.close()
                        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        s.settimeout(2.0)
                        s.connect("\0" + path)  # Linux abstract socket (what Xorg also listens on)
                finally:
                    s.close()
            else:  # the user's configured TCP display, e.g. ssh -X's localhost:10
                with socket.create_connection((host, 6000 + int(num)), timeout=2.0):
                    pass
        except OSError as e:
            return f"cannot connect to the X display {disp!r} ({e.strerror or e})"
    return None


class PreviewWindow:
    """One highgui window; ``show`` draws a picture and returns the commands typed since."""

    def __init__(self, title: str = "streamdeblur preview") -> None:
        problem = display_problem()
        if problem:
            raise DisplayUnavailableError(f"cannot open a preview window: {problem}", _HINT)
        # Qt wheels of opencv-python ship no fonts and complain on every window; use the system's.
        if "QT_QPA_FONTDIR" not in os.environ:
            for d in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
                if os.path.isdir(d):
                    os.environ["QT_QPA_FONTDIR"] = d
                    break
        from . import CV2_BEFORE_AV

        if not CV2_BEFORE_AV:
            raise DisplayUnavailableError(
                "cannot open a preview window: PyAV was imported before OpenCV in this process, "
                "and OpenCV's window would hang (both bundle libxcb)",
                "import streamdeblur (or cv2) before av, or use --serve",
            )
        import cv2

        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as e:  # a headless OpenCV build
            why = str(e).strip().splitlines()[-1][:120]
            raise DisplayUnavailableError(
                f"cannot open a preview window: this OpenCV has no GUI support ({why})",
                _HINT,
            ) from None
        self._open = True
        self._shown = False

    def show(self, image: np.ndarray) -> Iterable[str]:
        import cv2

        if not self._open:
            return ["quit"]
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1)
        commands: list[str] = []
        if key != -1 and (key & 0xFF) in KEYS:
            commands.append(KEYS[key & 0xFF])
        if self._shown and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            commands.append("quit")  # the user closed the window
        self._shown = True
        return commands

    def close(self) -> None:
        if self._open:
            import cv2

            self._open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass
