"""The preview window (OpenCV highgui): shows pictures and turns keys into commands.

Keys: q or Esc quit, space pause/resume, v cycles the view, s saves a PNG of what is
shown. Closing the window quits too.

Before any highgui call we connect to the display as a client would (socket, then the
X11 handshake with the user's cookie): OpenCV's Qt and GTK builds abort the whole process
when they cannot connect to X or are refused, which no ``except`` can catch. Without a
display, :class:`~streamdeblur.errors.DisplayUnavailableError` says why (and, for a
refusal, to run as the display's owner or set ``XAUTHORITY``) and to use ``--serve``.

Environment: it reads ``DISPLAY``, ``WAYLAND_DISPLAY``, ``XDG_RUNTIME_DIR`` (where a Wayland display's
socket is) and ``XAUTHORITY``, what every X or Wayland client opens its display with (not settings of
ours), and sets ``QT_QPA_FONTDIR`` for OpenCV's Qt when unset (the wheels ship no fonts). A Wayland
display without an X one is refused the same way where OpenCV's Qt has no Wayland plugin (the
opencv-python wheels ship X11's only), as Qt would abort there too.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import struct
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


_FAMILY_INTERNET, _FAMILY_INTERNET6, _FAMILY_LOCAL, _FAMILY_WILD = 0, 6, 256, 65535
_COOKIE = b"MIT-MAGIC-COOKIE-1"


def _xauth_cookie(family: int, address: bytes, number: str) -> bytes | None:
    """The MIT-MAGIC-COOKIE-1 for this display in ``$XAUTHORITY`` (or ``~/.Xauthority``), chosen as
    libXau does for libxcb (first entry of the family and address, or a wildcard one, whose display
    number is this one or empty); None if there is none."""
    path = os.environ.get("XAUTHORITY") or os.path.join(os.path.expanduser("~"), ".Xauthority")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    pos = 0
    while pos + 2 <= len(data):
        fam = struct.unpack_from(">H", data, pos)[0]
        pos += 2
        fields = []
        for _ in range(4):  # address, display number, auth name, auth data: each a CARD16 length + bytes
            if pos + 2 > len(data):
                return None
            n = struct.unpack_from(">H", data, pos)[0]
            fields.append(data[pos + 2 : pos + 2 + n])
            pos += 2 + n
        addr, num, name, cookie = fields
        if (fam == _FAMILY_WILD or (fam == family and addr == address)) and num in (b"", number.encode()):
            if name == _COOKIE:
                return cookie
    return None


def _recv(s: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return got


def _handshake(s: socket.socket, family: int, address: bytes, number: str) -> str | None:
    """The X11 connection setup, as any client opens it; the server's reason if it refuses."""
    cookie = _xauth_cookie(family, address, number)
    name, data = (_COOKIE, cookie) if cookie is not None else (b"", b"")

    def pad(b: bytes) -> bytes:
        return b + b"\0" * (-len(b) % 4)

    s.sendall(struct.pack("<BxHHHHxx", 0x6C, 11, 0, len(name), len(data)) + pad(name) + pad(data))
    head = _recv(s, 8)
    if len(head) < 8:
        return "the server closed the connection during the X11 handshake"
    if head[0] == 1:  # Success (the setup data that follows is left unread)
        return None
    if head[0] == 0:  # Failed: byte 1 is the reason's length
        reason = _recv(s, head[1])
    else:  # Authenticate: the reason fills the additional data
        reason = _recv(s, 4 * struct.unpack_from("<H", head, 6)[0])
    why = reason.decode("latin-1", "replace").strip().rstrip("\0").strip() or "no reason given"
    return (
        f"the X server refused this client ({why}); run it as the user who owns the display (not through "
        "sudo) or set XAUTHORITY to that user's cookie file"
    )


def _qt_platforms() -> list[str] | None:
    """The Qt platform plugins OpenCV's wheel ships (``libqxcb.so`` ...); None where its build brings none
    (a system OpenCV on GTK, say). Found without importing cv2, which must come before av (CV2_BEFORE_AV)."""
    import importlib.util

    spec = importlib.util.find_spec("cv2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for d in spec.submodule_search_locations:
        platforms = os.path.join(d, "qt", "plugins", "platforms")
        if os.path.isdir(platforms):
            return sorted(os.listdir(platforms))
    return None


def _wayland_problem(name: str) -> str | None:
    """Why a window cannot open on the Wayland display ``name`` with no X display beside it (None: let
    OpenCV try): its socket does not answer, or OpenCV's Qt has no Wayland plugin (the opencv-python
    wheels ship X11's only) and would abort the process."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    path = name if os.path.isabs(name) else os.path.join(runtime, name)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(path)
    except OSError as e:
        return f"cannot connect to the Wayland display {name!r} ({e.strerror or e}), and DISPLAY (X11) is not set"
    finally:
        s.close()
    platforms = _qt_platforms()
    if platforms is not None and not any("wayland" in p for p in platforms):
        return (
            f"OpenCV's window speaks X11 only (its Qt has no Wayland plugin) and DISPLAY is not set, only "
            f"WAYLAND_DISPLAY={name!r}: set DISPLAY to the session's XWayland display (often :0)"
        )
    return None


def _connect_display() -> tuple[str | None, socket.socket | None]:
    """(why no window can open here, or None; the open X connection when there is one).

    It connects as a real client does, X11 handshake and cookie included, because OpenCV's Qt and GTK
    builds abort the process when theirs is refused (a wrong cookie under sudo, say).
    """
    if not (sys.platform.startswith("linux") or "bsd" in sys.platform):
        return None, None
    if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
        return _wayland_problem(os.environ["WAYLAND_DISPLAY"]), None
    disp = os.environ.get("DISPLAY", "")
    if not disp:
        return "no display (DISPLAY is not set)", None
    host, _, rest = disp.rpartition(":")
    num = rest.split(".")[0]
    if not num.isdigit():
        return f"DISPLAY={disp!r} is not a valid X display", None
    s: socket.socket | None = None
    try:
        if host in ("", "unix") or host.startswith("/"):
            path = host if host.startswith("/") else f"/tmp/.X11-unix/X{num}"
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2.0)
            try:
                s.connect(path)
            except OSError:
                s.close()
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(2.0)
                s.connect("\0" + path)  # Linux abstract socket (what Xorg also listens on)
            family, address = _FAMILY_LOCAL, socket.gethostname().encode()
        else:  # the user's configured TCP display, e.g. ssh -X's localhost:10
            s = socket.create_connection((host, 6000 + int(num)), timeout=2.0)
            ip = s.getpeername()[0]
            if ipaddress.ip_address(ip).is_loopback:  # libxcb names a local peer by host name
                family, address = _FAMILY_LOCAL, socket.gethostname().encode()
            elif ":" in ip:
                family, address = _FAMILY_INTERNET6, socket.inet_pton(socket.AF_INET6, ip)
            else:
                family, address = _FAMILY_INTERNET, socket.inet_aton(ip)
        refused = _handshake(s, family, address, num)
    except OSError as e:
        if s is not None:
            s.close()
        return f"cannot connect to the X display {disp!r} ({e.strerror or e})", None
    if refused:
        s.close()
        return refused, None
    return None, s


def display_problem() -> str | None:
    """Why no window can be opened here (None if the X display accepts a client: checked, then closed)."""
    problem, conn = _connect_display()
    if conn is not None:
        conn.close()
    return problem


class PreviewWindow:
    """One highgui window; ``show`` draws a picture and returns the commands typed since."""

    def __init__(self, title: str = "streamdeblur preview") -> None:
        # The probe's connection stays open until the window exists: a bare Xvfb resets itself when its
        # last client leaves, and a window connecting during that reset is dropped.
        problem, probe = _connect_display()
        if problem:
            raise DisplayUnavailableError(f"cannot open a preview window: {problem}", _HINT)
        try:
            self._create(title)
        finally:
            if probe is not None:
                probe.close()

    def _create(self, title: str) -> None:
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
