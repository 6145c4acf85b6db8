"""`streamdeblur run URL --reconnect S`: a stream input that drops (a drone's or a camera's link)
is opened again and its frames go on in the same output, timestamps running on; a real TCP
server here sends an MPEG-TS recording per connection and hangs up, as a feed that drops does."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import av
from livefiles import Feed
from typer.testing import CliRunner
from videofiles import random_frames, write_video

from streamdeblur.cli import app

runner = CliRunner()


def recording(tmp_path: Path, name: str, n: int, seed: int) -> bytes:
    path = tmp_path / f"{name}.ts"
    write_video(path, random_frames(n, 48, 32, seed=seed), codec="libx264", pix_fmt="yuv420p", audio=True)
    return path.read_bytes()


def test_a_feed_that_drops_goes_on_in_the_same_output(tmp_path, tiny_weights):
    feed = Feed([recording(tmp_path, "a", 10, 1), recording(tmp_path, "b", 8, 2)])
    feed.start()
    out = tmp_path / "out.mkv"
    args = ["-w", str(tiny_weights), "--backend", "torch", "--reconnect", "2", "--timeout", "2"]
    res = runner.invoke(app, ["run", feed.url, "-o", str(out), *args])
    feed.join(30)
    assert feed.served == 2
    # the feed never came back after the second drop: the input stopped before an end (exit 3), every frame kept
    assert res.exit_code == 3, res.output
    assert "dropped 1 time and was opened again (--reconnect)" in res.stderr
    assert "did not come back within 2 s (--reconnect)" in res.stderr
    with av.open(str(out)) as c:
        times = [float(f.pts * f.time_base) for f in c.decode(video=0)]
        c.seek(0)
        audio = [p for p in c.demux(audio=0) if p.size]
    assert len(times) == 18
    steps = [b - a for a, b in zip(times, times[1:])]
    assert min(steps) > 0 and max(steps) < 0.1, steps  # the second connection follows the first, no jump back
    assert audio and float(audio[-1].pts * audio[-1].time_base) > times[10]  # the audio of both connections


def test_the_time_a_feed_was_away_stays_a_gap_in_the_timestamps(tmp_path, tiny_weights):
    """A feed away for 1.2 s: the recording's timeline keeps that gap (a robot's log syncs it with
    its other sensors by time), instead of joining the connections as if nothing was missed."""
    feed = Feed([recording(tmp_path, "a", 10, 1), recording(tmp_path, "b", 10, 2)], gap=1.2)
    feed.start()
    out = tmp_path / "out.mkv"
    args = ["-w", str(tiny_weights), "--backend", "torch", "--reconnect", "3", "--timeout", "3"]
    res = runner.invoke(app, ["run", feed.url, "-o", str(out), *args])
    feed.join(30)
    assert res.exit_code == 3, res.output
    assert "the time it was away kept as a gap in the timestamps" in res.stderr
    with av.open(str(out)) as c:
        times = [float(f.pts * f.time_base) for f in c.decode(video=0)]
    steps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) == 20 and min(steps) > 0
    assert 1.1 < steps[9] < 3.0, steps  # the drop: the 1.2 s away (and the reconnection's own time)
    assert max(steps[:9] + steps[10:]) < 0.1  # each connection at its own pace


def test_reconnect_is_for_stream_urls(tmp_path, tiny_weights):
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(2, 48, 32))
    res = runner.invoke(app, ["run", str(src), "-o", str(tmp_path / "o.mkv"), "--reconnect", "5"])
    assert res.exit_code == 2 and "--reconnect applies to a stream URL" in res.stderr, res.output
    assert not (tmp_path / "o.mkv").exists()
    res = runner.invoke(app, ["run", str(src), str(src), "-o", str(tmp_path / "many"), "--reconnect", "5"])
    assert res.exit_code == 2 and "--reconnect applies to one stream URL input" in res.stderr, res.output
    assert not (tmp_path / "many").exists()


def test_a_feed_that_is_not_up_yet_is_waited_for(tmp_path, tiny_weights, caplog):
    """A service started before its camera: with --reconnect the first connection is tried again
    too, instead of failing at once."""
    blob = recording(tmp_path, "a", 6, 1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def late() -> None:
        import time

        time.sleep(1.5)
        server = socket.create_server(("127.0.0.1", port))
        with server:
            conn, _ = server.accept()
            with conn:
                conn.sendall(blob)

    threading.Thread(target=late, daemon=True).start()
    out = tmp_path / "out.mkv"
    args = ["-w", str(tiny_weights), "--backend", "torch", "--reconnect", "3", "--timeout", "1"]
    res = runner.invoke(app, ["run", f"tcp://127.0.0.1:{port}", "-o", str(out), *args])
    assert res.exit_code == 3, res.output  # it came, then ended for good
    assert "Connection refused; trying again for up to " in caplog.text
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6


def test_preview_of_a_feed_that_drops_goes_on(tmp_path, tiny_weights):
    """`preview URL --reconnect S`: the live view of a drone's feed keeps going through a drop
    (it ended the preview before), and says so at the end."""
    feed = Feed([recording(tmp_path, "a", 10, 1), recording(tmp_path, "b", 10, 2)])
    feed.start()
    args = ["--serve", "127.0.0.1:0", "--reconnect", "2", "--timeout", "2", "-w", str(tiny_weights)]
    res = runner.invoke(app, ["preview", feed.url, *args, "--backend", "torch"])
    feed.join(30)
    assert feed.served == 2
    assert res.exit_code == 0, res.output
    captured = int(res.stderr.split(" captured")[0].rsplit(" of ", 1)[1])
    assert captured == 20, res.stderr  # every frame of both connections reached the preview (newest shown)
    assert "the input dropped 1 time and was opened again (--reconnect)" in res.stderr


def test_a_live_recording_goes_on_through_a_drop(tmp_path, tiny_weights):
    """`run --camera 0 --reconnect S` (record_live): the recording goes on when the source comes
    back; a stream stands in for the camera here."""
    from streamdeblur.recording import record_live
    from streamdeblur.video.live import open_live

    feed = Feed([recording(tmp_path, "a", 10, 1), recording(tmp_path, "b", 10, 2)])
    feed.start()
    source = open_live(feed.url, timeout=2, reconnect=2)
    out = tmp_path / "rec.mkv"
    rec = record_live(source, out, backend="torch", weights=str(tiny_weights))
    feed.join(30)
    assert feed.served == 2 and len(source.reconnects) == 1
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == rec.frames >= 2


class _Flaky:
    """An HTTP server for one file that breaks the first transfer off halfway and honours a
    Range request after it, as a CDN behind a flaky link does."""

    def __init__(self, data: bytes) -> None:
        import http.server

        outer = self
        self.requests: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                rng = self.headers.get("Range")
                outer.requests.append(rng or "")
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                self.send_response(206 if rng else 200)
                self.send_header("Content-Type", "video/x-matroska")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if len(outer.requests) == 1:  # the first transfer breaks off halfway
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data[start:])

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/clip.mkv"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_download_that_breaks_off_resumes_where_it_stopped(tmp_path, tiny_weights):
    """An http(s) recording (it announces its length) is not started over, which would put frames
    in twice: FFmpeg's own reconnection resumes the transfer at its byte offset."""
    src = tmp_path / "clip.mkv"
    write_video(src, random_frames(30, 48, 32, seed=3), audio=True)
    tiny = ["-w", str(tiny_weights), "--backend", "torch"]

    flaky = _Flaky(src.read_bytes())
    res = runner.invoke(app, ["run", flaky.url, "-o", str(tmp_path / "cut.mkv"), *tiny])
    assert res.exit_code == 3, res.output  # without --reconnect: the frames before the break, exit 3

    flaky = _Flaky(src.read_bytes())
    out = tmp_path / "out.mkv"
    res = runner.invoke(app, ["run", flaky.url, "-o", str(out), *tiny, "--reconnect", "5"])
    assert res.exit_code == 0, res.output
    assert any(r.startswith("bytes=") and r != "bytes=0-" for r in flaky.requests), flaky.requests
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30


class _Ground(threading.Thread):
    """A TCP listener that takes the stream for ``first`` seconds, hangs up (a ground station
    restarting), then takes it again to its end; what each connection received."""

    def __init__(self, first: float, comes_back: bool = True) -> None:
        super().__init__(daemon=True)
        self.first, self.comes_back = first, comes_back
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        self.received: list[bytes] = []

    def run(self) -> None:
        import time

        self.server.settimeout(60)
        with self.server:
            conn, _ = self.server.accept()
            data, t0 = b"", time.monotonic()
            conn.settimeout(0.1)
            while time.monotonic() - t0 < self.first:
                try:
                    data += conn.recv(65536)
                except TimeoutError:
                    pass
            conn.close()
            self.received.append(data)
            if not self.comes_back:
                return
            conn, _ = self.server.accept()
            data = b""
            with conn:
                while chunk := conn.recv(65536):
                    data += chunk
            self.received.append(data)


def frames_in(ts: bytes) -> list[bool]:
    """Whether each decodable frame of an MPEG-TS byte stream is a keyframe."""
    import io

    with av.open(io.BytesIO(ts), format="mpegts") as c:
        return [f.key_frame for f in c.decode(video=0)]


def test_a_stream_output_whose_server_restarts_is_sent_again(tmp_path, tiny_weights):
    """`run IN -o tcp://ground --reconnect S`: the receiving end hangs up midway (a server
    restarting) and the run connects again and goes on, a fresh stream starting at a keyframe."""
    src = tmp_path / "feed.mkv"
    write_video(src, random_frames(30, 48, 32, seed=4), rate=10)  # 3 s, sent at its pace
    ground = _Ground(first=1.0)
    ground.start()
    args = ["-w", str(tiny_weights), "--backend", "torch", "--preset", "ultrafast", "--encoder-threads", "1"]
    res = runner.invoke(app, ["run", str(src), "-o", ground.url, *args, "--reconnect", "5"])
    ground.join(30)
    assert res.exit_code == 0, res.output
    assert "dropped 1 time and was connected again (--reconnect)" in res.stderr
    first, second = (frames_in(b) for b in ground.received)
    assert first and second and second[0]  # each connection a stream of its own, the second from a keyframe
    # lost: only what was in flight to the server that went away (a frame or two here)
    assert len(first) + len(second) >= 26 and len(second) >= 10


def test_a_drop_is_not_taken_for_a_slow_model(tmp_path, tiny_weights, monkeypatch):
    """Paced (--realtime), a feed that is away for 1.5 s comes back 1.5 s "late": the pacing
    starts its clock again there instead of warning that the model cannot keep up."""
    import streamdeblur.pipeline

    monkeypatch.setattr(streamdeblur.pipeline, "LATE_WARNING", 0.8)
    feed = Feed([recording(tmp_path, "a", 10, 1), recording(tmp_path, "b", 10, 2)], gap=1.5)
    feed.start()
    args = ["-w", str(tiny_weights), "--backend", "torch", "--reconnect", "3", "--timeout", "3", "--realtime"]
    res = runner.invoke(app, ["run", feed.url, "-o", str(tmp_path / "out.mkv"), *args])
    feed.join(30)
    assert res.exit_code == 3, res.output
    assert "dropped 1 time and was opened again" in res.stderr
    assert "behind the input's own pace" not in res.stderr


def test_a_stream_output_whose_server_does_not_come_back_fails_in_one_line(tmp_path, tiny_weights):
    src = tmp_path / "feed.mkv"
    write_video(src, random_frames(30, 48, 32, seed=4), rate=10)
    ground = _Ground(first=0.8, comes_back=False)  # without --reconnect: the line says how to keep going
    ground.start()
    args = ["-w", str(tiny_weights), "--backend", "torch", "--preset", "ultrafast"]
    res = runner.invoke(app, ["run", str(src), "-o", ground.url, *args])
    ground.join(30)
    last = res.stderr.strip().splitlines()[-1]
    assert res.exit_code != 0 and f"sending to {ground.url} failed after" in last and "--reconnect SECONDS" in last
    ground = _Ground(first=0.8, comes_back=False)
    ground.start()
    args = ["-w", str(tiny_weights), "--backend", "torch", "--preset", "ultrafast", "--reconnect", "1.5"]
    res = runner.invoke(app, ["run", str(src), "-o", ground.url, *args])
    ground.join(30)
    assert res.exit_code != 0
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(f"streamdeblur: error: the stream output {ground.url} dropped after") and (
        "did not come back within 1.5 s (--reconnect)" in last
    ), res.stderr


class PacedFeed(threading.Thread):
    """A TCP server that sends each MPEG-TS recording at its own pace (a live feed: 0.4 s of video over
    0.4 s), hangs up, and is away ``gap`` seconds before it takes the next connection."""

    def __init__(self, recordings: list[bytes], gap: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.recordings, self.gap, self.seconds = recordings, gap, seconds
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"

    def run(self) -> None:
        self.server.settimeout(30)
        with self.server:
            for k, blob in enumerate(self.recordings):
                if k:
                    time.sleep(self.gap)  # away: not even listening
                conn, _ = self.server.accept()
                with conn:
                    chunks = [blob[i : i + 188 * 7] for i in range(0, len(blob), 188 * 7)]
                    for chunk in chunks:
                        conn.sendall(chunk)
                        time.sleep(self.seconds / len(chunks))


def test_a_live_feed_read_behind_keeps_the_time_it_was_away(tmp_path):
    """When the model is slower than a live feed, its frames wait in the socket and are read late; the
    gap was measured from when the last frame was read, so a feed away 1 s came back as a 0.1 s step.
    The feed's own clock (its first frame and the wall clock since) keeps the second away."""
    from streamdeblur.video.sources import FileSource

    feed = PacedFeed([recording(tmp_path, "a", 10, 1), recording(tmp_path, "b", 10, 2)], gap=1.0, seconds=0.4)
    feed.start()
    src = FileSource(feed.url, timeout=2, reconnect=3)
    times = []
    try:
        for frame in src:
            times.append(frame.time)
            if len(times) <= 10:
                time.sleep(0.15)  # a model at 6-7 fps behind a 25 fps feed: 1.5 s to read 0.4 s of it
    finally:
        src.close()
    feed.join(30)
    steps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) == 20 and max(steps[:9] + steps[10:]) < 0.1, steps
    assert 0.9 < steps[9] < 2.5, steps  # away 1 s (and the 0.4 s it took to send the first connection)
