"""`streamdeblur run IN -o tcp://... / udp://... / rtmp://...`: the deblurred video sent to a server
or a listener as it is made (restreaming a drone's or a camera's feed), received here by a real
FFmpeg listener (PyAV) in a thread; a server that is down is one line before the first frame."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import random_frames, write_video

from streamdeblur.cli import app

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Listener(threading.Thread):
    """An FFmpeg TCP listener reading one stream in ``fmt``: what a receiving server gets."""

    def __init__(self, fmt: str) -> None:
        super().__init__(daemon=True)
        self.port, self.fmt = free_port(), fmt
        self.frames: list[tuple[int, int]] = []
        self.keyframes: list[float] = []  # the presentation times of the keyframes, in seconds
        self.reordered = 0  # video packets sent out of display order (B-frames: the encoder held frames back)
        self.audio = 0
        self.error: Exception | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            self.ready.set()
            with av.open(f"tcp://127.0.0.1:{self.port}?listen=1", format=self.fmt, timeout=(60, 60)) as c:
                for packet in c.demux():
                    if packet.stream.type == "video":
                        if packet.size and packet.pts != packet.dts:
                            self.reordered += 1
                        if packet.is_keyframe and packet.pts is not None:
                            self.keyframes.append(float(packet.pts * packet.time_base))
                        self.frames += [(f.width, f.height) for f in packet.decode()]
                    elif packet.stream.type == "audio" and packet.size:
                        self.audio += 1
        except Exception as e:  # reported by the test
            self.error = e


def clip(tmp_path: Path) -> Path:
    src = tmp_path / "feed.mkv"
    write_video(src, random_frames(12, 48, 32), audio=True)
    return src


@pytest.mark.parametrize(("fmt", "args"), [("mpegts", []), ("flv", ["--format", "flv"])], ids=["ts", "flv-as-rtmp"])
def test_every_frame_and_the_audio_reach_the_listener(tmp_path, tiny_weights, fmt, args):
    """MPEG-TS (tcp/udp/srt's default) and FLV (RTMP's container, sent over TCP here: the same muxer
    and encoder settings an rtmp:// output gets)."""
    rx = Listener(fmt)
    rx.start()
    rx.ready.wait()
    url = f"tcp://127.0.0.1:{rx.port}"
    res = runner.invoke(
        app, ["run", str(clip(tmp_path)), "-o", url, "-w", str(tiny_weights), "--backend", "torch", *args]
    )
    rx.join(60)
    assert res.exit_code == 0, res.output
    assert f"-> {url}" in res.stdout
    assert rx.error is None, rx.error
    assert rx.frames == [(48, 32)] * 12 and rx.audio > 0


def listen(fmt: str = "mpegts") -> tuple[Listener, str]:
    rx = Listener(fmt)
    rx.start()
    rx.ready.wait()
    return rx, f"tcp://127.0.0.1:{rx.port}"


def moving(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    """A smooth picture panning one pixel a frame: no scene cut anywhere (noise would be one at every frame)."""
    y, x = np.mgrid[0:h, 0 : w + n]
    base = (128 + 60 * np.sin(x / 7.0) * np.cos(y / 5.0)).astype(np.uint8)
    return [np.repeat(base[:, i : i + w, None], 3, axis=2) for i in range(n)]


class Socket(threading.Thread):
    """A plain TCP server noting when each piece of the stream reaches it (an FFmpeg listener
    reads seconds ahead before its first packet, to learn the streams: it cannot tell)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self.received: list[tuple[float, int]] = []

    def run(self) -> None:
        self.server.settimeout(60)
        conn, _ = self.server.accept()
        with conn, self.server:
            while data := conn.recv(65536):
                self.received.append((time.monotonic(), len(data)))


def test_a_file_goes_out_at_its_own_pace(tmp_path, tiny_weights):
    """A file sent to a server leaves no faster than it plays (FFmpeg's -re): 20 frames at 10 fps
    reach it over about 2 s, not in the fraction of a second the tiny model takes (an encoder with
    no lookahead, so that what it is given goes out at once)."""
    src = tmp_path / "feed.mkv"
    write_video(src, moving(20), rate=10)
    rx = Socket()
    rx.start()
    fast = ["--preset", "ultrafast", "--encoder-threads", "1"]
    res = runner.invoke(app, ["run", str(src), "-o", rx.url, "-w", str(tiny_weights), "--backend", "torch", *fast])
    rx.join(60)
    assert res.exit_code == 0, res.output
    assert "sending at the input's own pace" in res.stderr
    assert "s held to the input's pace" in res.stdout  # the fps on the done line is the input's, not the model's
    times = [t for t, _ in rx.received]
    # 1.9 s of video: never sent faster than it plays (a loaded machine makes frames late, never early)
    assert times[-1] - times[0] >= 1.5, rx.received


def test_no_realtime_and_realtime_are_the_users_choice(tmp_path, tiny_weights):
    src = tmp_path / "feed.mkv"
    write_video(src, moving(6), rate=2)  # 2.5 s of video
    rx, url = listen()
    tiny = ["-w", str(tiny_weights), "--backend", "torch"]
    res = runner.invoke(app, ["run", str(src), "-o", url, *tiny, "--no-realtime"])
    rx.join(60)
    assert res.exit_code == 0, res.output
    assert "own pace" not in res.stderr and len(rx.frames) == 6
    out = tmp_path / "paced.mkv"  # a file output paced on request (a live run rehearsed)
    res = runner.invoke(app, ["run", str(src), "-o", str(out), *tiny, "--realtime"])
    assert res.exit_code == 0, res.output
    assert "sending at the input's own pace" in res.stderr
    res = runner.invoke(app, ["run", "--camera", "0", "-o", str(tmp_path / "c.mp4"), "--realtime"])
    assert res.exit_code == 2 and "a camera is live already" in res.stderr


def test_a_stream_gets_a_keyframe_every_two_seconds(tmp_path, tiny_weights):
    """A viewer or a server's transcoder can only join at a keyframe: x264's default (one in 250
    frames, 10 s at 25 fps) makes a stream's viewers wait; streaming services ask for 2 s."""
    src = tmp_path / "feed.mkv"
    write_video(src, moving(70), rate=10)  # 7 s, no scene cut
    rx, url = listen("flv")
    args = ["--format", "flv", "--no-realtime"]
    res = runner.invoke(app, ["run", str(src), "-o", url, "-w", str(tiny_weights), "--backend", "torch", *args])
    rx.join(60)
    assert res.exit_code == 0, res.output
    assert rx.error is None and len(rx.frames) == 70
    first, last = rx.keyframes[0], rx.keyframes[0] + 6.9  # FLV times start at the encoder's delay
    assert len(rx.keyframes) >= 4, rx.keyframes
    assert max(b - a for a, b in zip(rx.keyframes, [*rx.keyframes[1:], last])) <= 2.0 + 1e-6, (first, rx.keyframes)


def test_a_server_that_is_down_is_one_line_before_the_first_frame(tmp_path, tiny_weights):
    url = f"tcp://127.0.0.1:{free_port()}"  # nobody listens
    res = runner.invoke(app, ["run", str(clip(tmp_path)), "-o", url, "-w", str(tiny_weights), "--backend", "torch"])
    assert res.exit_code != 0
    err = res.stderr.strip().splitlines()
    assert err[-1].startswith(f"streamdeblur: error: cannot send to {url}:") and "Traceback" not in res.output
    assert not any("frames " in line and "/12" in line for line in err)  # no frame was deblurred


@pytest.mark.parametrize(
    ("output", "args", "words"),
    [
        ("http://server/live.ts", [], "http:// outputs are not written directly"),
        ("ftp://server/live.ts", [], "ftp:// outputs are not written directly"),
        ("rtp://239.0.0.1:5004", ["--format", "ts"], "rtp:// sends MPEG-TS in RTP"),
        ("udp://127.0.0.1:9", ["--format", "mp4"], "a stream needs a container written front to back"),
        ("udp://127.0.0.1:9", ["--segments", "2"], "cannot read a pipe (- or /dev/stdin) or write -o - or a stream"),
    ],
)
def test_stream_outputs_that_cannot_be_are_one_line_naming_the_way(tmp_path, tiny_weights, output, args, words):
    res = runner.invoke(app, ["run", str(clip(tmp_path)), "-o", output, "-w", str(tiny_weights), *args])
    assert res.exit_code == 2, res.output
    assert len(res.stderr.strip().splitlines()) == 1 and words in res.stderr, res.stderr


def test_a_live_source_restreamed(tmp_path, tiny_weights):
    """`run --camera 0 -o rtmp://...` goes through record_live: a live source (a file played as a
    camera here) sent to the listener frame by frame."""
    from streamdeblur.recording import record_live
    from streamdeblur.video.live import FilePlayback

    rx = Listener("mpegts")
    rx.start()
    rx.ready.wait()
    url = f"tcp://127.0.0.1:{rx.port}"
    rec = record_live(FilePlayback(clip(tmp_path)), url, backend="torch", weights=str(tiny_weights))
    rx.join(60)
    assert rx.error is None, rx.error
    assert str(rec.output) == url and rec.frames == len(rx.frames) > 0
    assert set(rx.frames) == {(48, 32)}


def test_preview_record_sends_what_it_shows_to_a_stream(tmp_path, tiny_weights):
    """Watching a drone's feed deblurred while restreaming it: `preview IN --record udp://...`."""
    rx = Listener("mpegts")
    rx.start()
    rx.ready.wait()
    url = f"tcp://127.0.0.1:{rx.port}"
    args = ["preview", str(clip(tmp_path)), "--loop", "--serve", "127.0.0.1:0", "--max-frames", "4"]
    res = runner.invoke(app, [*args, "--record", url, "-w", str(tiny_weights), "--backend", "torch"])
    rx.join(60)
    assert res.exit_code == 0, res.output
    assert f"recorded 4 frames to {url}" in res.stderr
    assert rx.error is None and len(rx.frames) == 4


RTMP_SERVER = """
import av, sys
packets = 0
print("ready", flush=True)
try:  # FFmpeg's RTMP protocol as a server: what nginx-rtmp or a ground station is to the sender
    with av.open(sys.argv[1], format="flv", options={"listen": "1"}, timeout=(60, 60)) as c:
        for p in c.demux(video=0):
            packets += bool(p.size)
except OSError:  # the sender closing the connection at the end
    pass
print(packets)
"""


def test_rtmp_output_reaches_an_rtmp_server(tmp_path, tiny_weights):
    """The RTMP handshake and FLV, end to end, with FFmpeg's own RTMP server mode in another process."""
    import subprocess
    import sys
    import time

    url = f"rtmp://127.0.0.1:{free_port()}/live/key"
    server = subprocess.Popen([sys.executable, "-c", RTMP_SERVER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"  # imported; it listens a moment later
        time.sleep(0.5)
        res = runner.invoke(app, ["run", str(clip(tmp_path)), "-o", url, "-w", str(tiny_weights), "--backend", "torch"])
        out, _ = server.communicate(timeout=60)  # the packet count
    finally:
        server.kill()
    assert res.exit_code == 0, res.output
    assert int(out.strip()) == 12  # every frame's packet


RTSP_SERVER = """
import av, sys
frames = audio = 0
print("ready", flush=True)
# FFmpeg's RTSP server mode: a server taking a published stream (ANNOUNCE/RECORD), as MediaMTX does
with av.open(sys.argv[1], format="rtsp", options={"rtsp_flags": "listen", "listen_timeout": "60"}) as c:
    for p in c.demux():
        if p.stream.type == "video":
            frames += len(p.decode())
        elif p.stream.type == "audio" and p.size:
            audio += 1
print(frames, audio)
"""


def test_rtsp_output_publishes_to_an_rtsp_server(tmp_path, tiny_weights):
    """`-o rtsp://server/path` publishes to an RTSP server (MediaMTX's usual way in), video and
    audio as RTP over the RTSP connection, every frame received."""
    import subprocess
    import sys

    url = f"rtsp://127.0.0.1:{free_port()}/live/sharp"
    server = subprocess.Popen([sys.executable, "-c", RTSP_SERVER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        args = ["-w", str(tiny_weights), "--backend", "torch", "--no-realtime"]
        res = runner.invoke(app, ["run", str(clip(tmp_path)), "-o", url, *args])
        out, _ = server.communicate(timeout=60)
    finally:
        server.kill()
    assert res.exit_code == 0, res.output
    frames, audio = map(int, out.split())
    assert frames == 12 and audio > 0


def test_rtsp_takes_no_format(tmp_path, tiny_weights):
    res = runner.invoke(app, ["run", str(clip(tmp_path)), "-o", "rtsp://127.0.0.1:9/x", "--format", "ts"])
    assert res.exit_code == 2 and "sends each stream as RTP, in no container" in res.stderr, res.output


def test_a_live_input_is_restreamed_with_no_frames_held_back(tmp_path, tiny_weights):
    """Live in, stream out (a drone's feed restreamed to the ground): the encoder is tuned for zero
    latency, no B-frames and no lookahead holding frames back (about a second at 30 fps); a file
    sent to a server keeps the encoder's usual settings (smaller for the same quality)."""
    from livefiles import Feed

    src = tmp_path / "feed.ts"
    write_video(src, moving(30), rate=10, codec="libx264", pix_fmt="yuv420p")
    feed = Feed([src.read_bytes()])
    feed.start()
    rx, url = listen()
    tiny = ["-w", str(tiny_weights), "--backend", "torch", "--no-realtime"]
    res = runner.invoke(app, ["run", feed.url, "-o", url, *tiny])
    rx.join(60)
    assert res.exit_code == 0, res.output
    assert "tune zerolatency (live in, stream out)" in res.stderr
    assert len(rx.frames) == 30 and rx.reordered == 0

    rx, url = listen()  # the same frames from a file
    res = runner.invoke(app, ["run", str(src), "-o", url, *tiny])
    rx.join(60)
    assert res.exit_code == 0, res.output
    assert "zerolatency" not in res.stderr and len(rx.frames) == 30 and rx.reordered > 0


def test_a_run_slower_than_its_input_says_it_cannot_keep_up(tmp_path, tiny_weights, monkeypatch):
    """Paced to its input (a stream out), a model slower than the input plays falls behind more
    and more, and a stream's viewers see it stall: said once while it happens and at the end.
    An input of 90,000 frames a second, and the threshold lowered from 3 s, make a tiny model fall
    behind here."""
    import streamdeblur.pipeline

    monkeypatch.setattr(streamdeblur.pipeline, "LATE_WARNING", 0.01)
    src = tmp_path / "fast.mkv"
    # 60 frames in 0.7 ms of video: any machine takes longer than that to deblur and encode them
    write_video(src, moving(60), pts=list(range(60)), time_base=Fraction(1, 90000), rate=1000)
    out = tmp_path / "out.mkv"
    tiny = ["-w", str(tiny_weights), "--backend", "torch", "--realtime"]
    res = runner.invoke(app, ["run", str(src), "-o", str(out), *tiny])
    assert res.exit_code == 0, res.output
    assert "behind the input's own pace: the model deblurs slower than the input plays" in res.stderr


class Datagrams(threading.Thread):
    """A UDP receiver on 127.0.0.1 keeping every datagram, until 5 s pass without one."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.datagrams: list[bytes] = []
        self.start()

    def run(self) -> None:
        with self.sock:
            try:
                while True:
                    self.datagrams.append(self.sock.recvfrom(65536)[0])
            except OSError:  # the timeout after the last datagram
                pass

    def collected(self) -> list[bytes]:
        self.join(30)
        return self.datagrams


def test_udp_datagrams_carry_whole_transport_stream_packets(tmp_path, tiny_weights):
    """MPEG-TS over UDP: 7 TS packets (1316 bytes) a datagram, as IPTV receivers and hardware
    decoders expect; FFmpeg's default (1472 bytes) splits TS packets across datagrams."""
    rx = Datagrams()
    tiny = ["-w", str(tiny_weights), "--backend", "torch", "--no-realtime"]
    res = runner.invoke(app, ["run", str(clip(tmp_path)), "-o", f"udp://{rx.address}", *tiny])
    sizes = [len(d) for d in rx.collected()]
    assert res.exit_code == 0, res.output
    assert sizes and all(n % 188 == 0 and n <= 1316 for n in sizes), sorted(set(sizes))


def test_rtp_output_is_mpeg_ts_in_rtp(tmp_path, tiny_weights):
    """`-o rtp://239.0.0.1:5004`: video and audio as MPEG-TS in RTP (IPTV's way): each datagram an
    RTP header and 7 TS packets, the payloads together a stream with every frame and the audio."""
    import io

    rx = Datagrams()
    url = f"rtp://{rx.address}"
    res = runner.invoke(app, ["run", str(clip(tmp_path)), "-o", url, "-w", str(tiny_weights), "--backend", "torch"])
    datagrams = rx.collected()
    assert res.exit_code == 0, res.output
    assert datagrams and all(d[0] >> 6 == 2 and (len(d) - 12) % 188 == 0 for d in datagrams)  # RTP v2, whole TS
    with av.open(io.BytesIO(b"".join(d[12:] for d in datagrams)), format="mpegts") as c:
        kinds = {s.type for s in c.streams}
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == 12 and kinds == {"video", "audio"}


class Mute(threading.Thread):
    """A server that takes connections and never answers (a firewall's or another service's port,
    a server that hangs): what was sent is never read."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []

    def run(self) -> None:
        self.server.settimeout(30)
        with contextlib.suppress(OSError):
            while True:
                self.held.append(self.server.accept()[0])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept
        self.server.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize("url", ["rtmp://127.0.0.1:{port}/live/sharp", "rtsp://127.0.0.1:{port}/sharp"])
def test_a_server_that_takes_the_connection_and_never_answers_is_one_line_not_a_hang(
    tmp_path, tiny_weights, monkeypatch, url
):
    """`-o rtmp://host:PORT/...` (or rtsp://) to a port that takes the connection but never answers (an
    RTMP handshake, an RTSP ANNOUNCE that never comes back) waited for ever, before the first frame; now
    it gives up after sinks.STREAM_SEND_TIMEOUT seconds (shortened here) in one line, as a down server does."""
    from streamdeblur.video import sinks

    monkeypatch.setattr(sinks, "STREAM_SEND_TIMEOUT", 1)
    server = Mute()
    server.start()
    url = url.format(port=server.port)
    done: list = []
    run = threading.Thread(
        target=lambda: done.append(
            runner.invoke(app, ["run", str(clip(tmp_path)), "-o", url, "-w", str(tiny_weights)])
        ),
        daemon=True,
    )
    run.start()
    run.join(15)
    server.close()  # a run still waiting ends now
    run.join(30)
    assert done, "the run was still waiting for the server after 15 s"
    res = done[0]
    assert res.exit_code == 2, res.output
    err = res.stderr.strip().splitlines()
    assert err[-1].startswith(f"streamdeblur: error: cannot send to {url}: "), err  # RTMP: Connection timed out
    assert "Traceback" not in res.output
