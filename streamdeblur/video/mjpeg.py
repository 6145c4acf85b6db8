"""``preview --serve``: the preview as an MJPEG stream plus a small HTML page.

For a GPU server without a screen: the user opens ``http://HOST:PORT/`` in a browser.
Routes: ``/`` (the page), ``/stream.mjpg`` (multipart/x-mixed-replace JPEGs, the newest
picture each time), ``/frame.jpg`` (one JPEG), ``/stats.json`` (the overlay's figures).

The server listens on 127.0.0.1 unless a host is given explicitly (``--serve
0.0.0.0:8080`` exposes it to the network). A slow browser never slows the preview: each
client gets the newest picture when it is ready for one; pictures in between are skipped.
"""

from __future__ import annotations

import html
import json
import logging
import socket
import sys
import threading
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from ..errors import InputError, OutputError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
BOUNDARY = "streamdeblurframe"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
 body {{ background:#111; color:#ddd; font:14px system-ui, sans-serif; margin:0; padding:12px; }}
 h1 {{ font-size:16px; font-weight:600; margin:0 0 8px; }}
 img {{ max-width:100%; image-rendering:auto; border:1px solid #333; display:block; }}
 #stats {{ margin-top:8px; font-family:ui-monospace, monospace; color:#9c9; }}
</style></head>
<body>
<h1>{title}</h1>
<img id="view" src="stream.mjpg" alt="live preview">
<div id="stats">waiting for frames...</div>
<script>
async function poll() {{
  try {{
    const s = await (await fetch('stats.json', {{cache: 'no-store'}})).json();
    if (s.frames_shown === undefined) {{ setTimeout(poll, 500); return; }}
    document.getElementById('stats').textContent =
      `in ${{s.input_fps}} fps | out ${{s.output_fps}} fps | latency ${{s.latency_ms}} ms | ` +
      `dropped ${{s.dropped}} | ${{s.backend}}`;
  }} catch (e) {{ document.getElementById('stats').textContent = 'preview ended'; return; }}
  setTimeout(poll, 1000);
}}
poll();
</script>
</body></html>
"""


def parse_serve_address(text: str) -> tuple[str, int]:
    """``"8080"`` -> (127.0.0.1, 8080); ``"0.0.0.0:8080"``, ``"[::1]:8080"`` -> as given."""
    s = str(text).strip()
    host, sep, port = s.rpartition(":")
    if not sep:
        host, port = DEFAULT_HOST, s
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif not host:
        host = DEFAULT_HOST
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"--serve expects [HOST:]PORT (e.g. 8080 or 0.0.0.0:8080), got {text!r}")
    return host, int(port)


class _Handler(BaseHTTPRequestHandler):
    """The routes of the module's docstring, answered from the :class:`MjpegServer`."""

    protocol_version = "HTTP/1.1"

    @property
    def preview(self) -> MjpegServer:
        assert isinstance(self.server, _Server)
        return self.server.preview

    def log_message(self, fmt: str, *args: object) -> None:  # quiet: debug log only
        log.debug("%s %s", self.address_string(), fmt % args)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(
                HTTPStatus.OK, "text/html; charset=utf-8", _PAGE.format(title=html.escape(self.preview.title)).encode()
            )
        elif path == "/stream.mjpg":
            self._stream()
        elif path == "/frame.jpg":
            jpeg = self.preview.wait_jpeg(0, timeout=10.0)[1]
            if jpeg is None:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n")
            else:
                self._send(HTTPStatus.OK, "image/jpeg", jpeg)
        elif path == "/stats.json":
            self._send(HTTPStatus.OK, "application/json", json.dumps(self.preview.stats).encode())
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def _send(self, status: HTTPStatus, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        self.close_connection = True
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        preview, seq = self.preview, 0
        try:
            while True:
                seq, jpeg = preview.wait_jpeg(seq, timeout=1.0)
                if jpeg is None:
                    if preview.closed:
                        return
                    continue
                self.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                self.wfile.flush()
                preview.frames_sent += 1
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            return  # the browser went away


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], preview: MjpegServer) -> None:
        self.preview = preview
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: Any) -> None:
        """A browser that resets or goes away mid-request is no news (debug log); any other error is one line,
        never socketserver's traceback on stderr. The server goes on serving either way."""
        e = sys.exception()
        if isinstance(e, (ConnectionError, TimeoutError)):
            log.debug("preview client %s went away: %s", client_address, e)
        else:
            log.warning("preview: a request from %s failed: %s: %s", client_address[0], type(e).__name__, e)


class _Server6(_Server):
    address_family = socket.AF_INET6


class MjpegServer:
    """Serves the newest published picture; a viewer for :func:`~streamdeblur.preview.run_preview`."""

    def __init__(
        self, host: str = DEFAULT_HOST, port: int = 8080, *, quality: int = 80, title: str = "streamdeblur preview"
    ) -> None:
        import cv2  # noqa: F401  (fail here, not in a handler thread)

        self.quality = int(quality)
        self.title = title
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._closed = False
        self.stats: dict[str, Any] = {}
        self.frames_sent = 0
        server_class = _Server6 if ":" in host else _Server
        try:
            self._httpd = server_class((host, port), self)
        except OSError as e:
            raise OutputError(
                f"cannot serve on {host}:{port} ({e.strerror or e})",
                "pick another port, e.g. --serve 8090, or free this one",
            ) from None
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="mjpeg-server", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{h}:{self.port}/"

    @property
    def closed(self) -> bool:
        return self._closed

    def wait_jpeg(self, after: int, timeout: float) -> tuple[int, bytes | None]:
        """(sequence, jpeg) of a picture newer than ``after``, or (after, None) on timeout/close."""
        with self._cond:
            if self._seq <= after and not self._closed:
                self._cond.wait_for(lambda: self._seq > after or self._closed, timeout)
            if self._seq > after and self._jpeg is not None:
                return self._seq, self._jpeg
            return after, None

    def publish(self, image: np.ndarray) -> None:
        """Encode an RGB picture as JPEG and make it the newest."""
        import cv2

        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:  # pragma: no cover - cv2 encodes any uint8 RGB
            raise OutputError("JPEG encoding of a preview frame failed")
        with self._cond:
            self._jpeg = buf.tobytes()
            self._seq += 1
            self._cond.notify_all()

    def update_stats(self, figures: dict[str, Any]) -> None:
        """The overlay's figures, served as /stats.json for the page."""
        self.stats = dict(figures)

    # Viewer protocol
    def show(self, image: np.ndarray) -> Iterable[str]:
        self.publish(image)
        return ()

    def close(self) -> None:
        if self._closed:
            return
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=2.0)
