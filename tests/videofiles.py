"""Real video files written with PyAV for the video and batch tests, and what a run left beside
its output (imported by name, ``from videofiles import ...``: pytest puts tests/ on sys.path for
tests/conftest.py, as for livefiles.py)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def random_frames(n: int, w: int, h: int, seed: int = 0) -> list[np.ndarray]:
    """Noise plus a moving gradient: every frame differs, every bit matters."""
    rng = np.random.default_rng(seed)
    out = []
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        base = ((xx + yy + 7 * i) % 256).astype(np.uint8)
        noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img = noise.copy()
        img[..., 1] = base
        out.append(img)
    return out


def write_video(
    path: Path,
    frames: list[np.ndarray],
    *,
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, 1000),
    codec: str = "ffv1",
    pix_fmt: str = "bgr0",
    rate: int = 25,
    audio: bool = False,
    subtitles: bool = False,
    rotation: int = 0,
    colour: tuple[int, int, int, int] | None = None,
    options: dict[str, str] | None = None,
) -> list[int]:
    """Write ``frames`` (RGB uint8) with the given pts; returns the pts used."""
    h, w = frames[0].shape[:2]
    pts = pts if pts is not None else [i * round(1 / (rate * time_base)) for i in range(len(frames))]
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=rate, options=options or {})
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        s.time_base = time_base
        s.codec_context.time_base = time_base
        if colour:
            cc = s.codec_context
            cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = colour
        if rotation:
            s.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream("aac", rate=48000)
            a.layout = "stereo"
        sub = out.add_mux_stream("subrip") if subtitles else None
        for img, p in zip(frames, pts):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pix_fmt not in ("rgb24", "bgr0", "gbrp", "bgr24"):
                f = f.reformat(
                    format=pix_fmt,
                    dst_colorspace="itu709" if colour and colour[2] == 1 else None,
                    dst_color_range=colour[3] if colour else None,
                )
            f.pts, f.time_base = p, time_base
            for pk in s.encode(f):
                out.mux(pk)
        for pk in s.encode():
            out.mux(pk)
        if a is not None:
            rng = np.random.default_rng(1)
            seconds = float((pts[-1] + 40) * time_base)
            t = 0
            while t < seconds * 48000:
                samples = (rng.standard_normal((2, 1024)) * 0.1).astype(np.float32)
                af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
                af.sample_rate, af.pts = 48000, t
                t += 1024
                for pk in a.encode(af):
                    out.mux(pk)
            for pk in a.encode():
                out.mux(pk)
        if sub is not None:
            for k, text in enumerate(["hello", "world"]):
                pk = av.Packet(f"{text}".encode())
                pk.stream = sub
                pk.time_base = Fraction(1, 1000)
                pk.pts = pk.dts = k * 500
                pk.duration = 400
                out.mux(pk)
    return pts


def half_of_a_fast_start_mp4(folder: Path, n: int = 30) -> bytes:
    """The first half of a 'fast start' MP4 (its index first, announcing ``n`` frames, lossless x264):
    a file cut short that still opens, as a download or a copy broken off gives."""
    src = folder / "fast-start.mp4"
    with av.open(str(src), "w", options={"movflags": "faststart"}) as out:
        s = out.add_stream("libx264", rate=25, options={"qp": "0"})
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        frames = [av.VideoFrame.from_ndarray(img, format="rgb24") for img in random_frames(n, 64, 48)]
        for i, f in enumerate(frames):
            f.pts = i
        encode_all(out, s, frames)
    data = src.read_bytes()
    return data[: len(data) // 2]


def encode_all(out: av.container.OutputContainer, stream: av.stream.Stream, frames: Iterable[av.frame.Frame]) -> None:
    """Encode ``frames`` on ``stream``, flush it, and mux every packet into ``out``."""
    for f in [*frames, None]:
        for p in stream.encode(f):
            out.mux(p)


def read_video(path: Path) -> list[tuple[int, Fraction, np.ndarray]]:
    """(pts, time_base, RGB) of every decoded frame."""
    with av.open(str(path)) as c:
        return [(f.pts, f.time_base, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def packets(path: Path, kind: str) -> list[tuple[bytes, Fraction | None]]:
    """Payload and presentation time of every packet of the first stream of ``kind``."""
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        if not streams:
            return []
        return [(bytes(p), p.pts * p.time_base if p.pts is not None else None) for p in c.demux(streams[0]) if p.size]


def hidden(folder: Path) -> list[str]:
    """The hidden (temporary) files in ``folder``: a finished or stopped run leaves none."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def with_attachment_and_data(path: Path, fmt: str) -> None:
    """Six frames and, in Matroska, a font attachment, else a telemetry data stream (a packet a frame)."""
    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 32, 32, "yuv420p"
        d = None
        if fmt == "matroska":
            out.add_attachment("font.ttf", "application/x-truetype-font", b"FAKEFONT" * 10)
        else:
            d = out.add_data_stream(codec_name="bin_data")
        for i, img in enumerate(random_frames(6, 32, 32)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in v.encode(f):
                out.mux(p)
            if d is not None:
                pk = av.Packet(b"telemetry %d" % i)
                pk.stream, pk.time_base = d, Fraction(1, 25)
                pk.pts = pk.dts = i
                out.mux(pk)
        for p in v.encode():
            out.mux(p)


def with_captions(path: Path, n: int = 8, w: int = 64, h: int = 48) -> list[bytes]:
    """A raw H.264 file (Annex B) whose pictures carry closed captions, as ATSC broadcasts and some
    cameras do: an SEI (ITU-T T.35, "GA94") before each picture with two CEA-608 byte pairs that
    differ per picture. Returns each picture's caption bytes (FFmpeg's A53 side data)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="h264") as out:
        s = out.add_stream("libx264", rate=25, options={"bf": "0"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        encode_all(out, s, (av.VideoFrame.from_ndarray(f, format="rgb24") for f in random_frames(n, w, h)))
    data = buf.getvalue()
    starts = [i for i in range(len(data) - 3) if data[i : i + 3] == b"\x00\x00\x01"]
    captions, pictures = [], bytearray()
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(data)
        if data[start + 3] & 0x1F in (1, 5):  # a picture's slice: its captions before it
            cc = bytes([0xFC, 0x80 | len(captions), 0x94, 0xFC, 0x2C, 0x80 | len(captions)])
            payload = b"\xb5\x00\x31GA94\x03" + bytes([0x40 | 2, 0xFF]) + cc + b"\xff"
            pictures += b"\x00\x00\x01\x06" + bytes([4, len(payload)]) + payload + b"\x80"
            captions.append(cc)
        pictures += data[start:end]
    path.write_bytes(bytes(pictures))
    return captions


def sound_running_on(path: Path, frames: int = 10, seconds: float = 1.0) -> None:
    """A Matroska (or other) file of ``frames`` H.264 frames at 25 fps under ``seconds`` of silent sound that
    runs on past the picture: the container's length is the sound's."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=48000)
        for i, img in enumerate(random_frames(frames, 64, 48)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            out.mux(v.encode(f))
        out.mux(v.encode())
        for k in range(0, int(48000 * seconds), 1024):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, k
            out.mux(a.encode(af))
        out.mux(a.encode())
