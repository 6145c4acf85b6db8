"""Passwords, passphrases and tokens in URLs never reach what the command lines print or log:
an IP camera's URL carries its password (rtsp://admin:PASSWORD@cam), an SRT URL its passphrase."""

from __future__ import annotations

import subprocess
import sys

from streamdeblur.redact import redact


def test_the_secrets_of_a_url_are_hidden_and_the_rest_kept():
    assert redact("rtsp://admin:pa:ss@10.0.0.2:554/live: refused") == "rtsp://admin:***@10.0.0.2:554/live: refused"
    assert redact("srt://h:9000?mode=caller&passphrase=abc123&latency=200") == (
        "srt://h:9000?mode=caller&passphrase=***&latency=200"
    )
    assert redact("https://cdn/x.m3u8?Token=eyJhbGci: 403") == "https://cdn/x.m3u8?Token=***: 403"
    for kept in ("rtsp://cam/live", "http://user@host/x", "clips/a:b@c.mp4", "rtmp://server/live/stream"):
        assert redact(kept) == kept


def test_an_rtmp_stream_key_is_hidden_and_a_short_stream_name_kept():
    """Whoever has a YouTube, Twitch or Facebook stream key can go live on the channel."""
    assert redact("sending to rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop-qrst failed") == (
        "sending to rtmp://a.rtmp.youtube.com/live2/*** failed"
    )
    assert redact("rtmps://live-api-s.facebook.com:443/rtmp/FB-1234567890-0-AbcDefGhi: refused") == (
        "rtmps://live-api-s.facebook.com:443/rtmp/***: refused"
    )
    assert redact("rtmp://live.twitch.tv/app/live_123456789_AbCdEfGhIjKlMnOp?bandwidthtest=true") == (
        "rtmp://live.twitch.tv/app/***?bandwidthtest=true"
    )
    for kept in ("rtmp://127.0.0.1/live/sharp", "rtmp://ground:1935/live/drone1", "rtmp://server/longapplication"):
        assert redact(kept) == kept


def test_a_camera_password_is_in_no_line_the_cli_prints(tmp_path):
    """The error line and the --reconnect warnings (log records) of a camera that does not answer."""
    url = "tcp://admin:hunter2@127.0.0.1:1/live?token=s3cret"
    res = subprocess.run(
        [sys.executable, "-m", "streamdeblur.cli", "run", url, "-o", str(tmp_path / "o.mp4"), "--timeout", "0.5"]
        + ["--reconnect", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert "hunter2" not in res.stderr + res.stdout and "s3cret" not in res.stderr + res.stdout
    assert "streamdeblur: warning: cannot open stream tcp://admin:***@" in res.stderr  # a --reconnect log record
    assert "tcp://admin:***@127.0.0.1:1/live?token=***" in res.stderr.splitlines()[-1]
