"""``preview --serve`` under hostile clients and a taken port: the port is bound before the model
loads, so a taken one fails at once in one line; a browser that resets mid-request costs no
traceback (a real server and real sockets)."""

from __future__ import annotations

import socket
import struct
import time
import urllib.request

from typer.testing import CliRunner

from streamdeblur.cli import app
from streamdeblur.video.mjpeg import MjpegServer


def test_a_taken_port_fails_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # weights that do not exist: were the model loaded first, the error would name them
        r = CliRunner().invoke(
            app, ["preview", "--camera", "99", "--serve", str(port), "--weights", str(tmp_path / "none.safetensors")]
        )
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and f"cannot serve on 127.0.0.1:{port}" in err, err


def test_clients_that_reset_mid_request_cost_no_traceback(capfd):
    server = MjpegServer("127.0.0.1", 0)
    try:
        for request in (b"", b"GET / HT", b"GET /stream.mjpg HTTP/1.1\r\n"):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(request)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
            s.close()
        time.sleep(0.5)
        with urllib.request.urlopen(server.url, timeout=5) as page:  # still serving
            assert page.status == 200
    finally:
        server.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception" not in err, err
