"""What FFmpeg keeps by default, a run keeps: the file's tags (title, creation date, a phone's GPS
location), each stream's language, title and handler, and the chapters, through a single run and
a run in parts; never the tags that describe the input's own encoding."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import encode_all

from streamdeblur.cli import app

CHAPTERS = [("Intro", 0, 100), ("Climb", 100, 200)]  # in 1/50 s


def tagged_clip(path, fmt: str) -> None:
    with av.open(str(path), "w") as out:
        out.metadata.update({"title": "Ride", "creation_time": "2026-05-01T10:00:00.000000Z"})
        if fmt == "mov":
            out.metadata["location"] = "+48.8577+002.2950/"
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.metadata.update({"language": "eng", "handler_name": "Core Media Video", "BPS": "12345"})
        a = out.add_stream("aac", rate=48000)
        a.layout = "stereo"
        a.metadata.update({"language": "fra", "title": "commentary"})
        if fmt == "mkv":
            out.set_chapters(
                [
                    {"id": i + 1, "start": s, "end": e, "time_base": Fraction(1, 50), "metadata": {"title": t}}
                    for i, (t, s, e) in enumerate(CHAPTERS)
                ]
            )
        rng = np.random.default_rng(0)
        frames = [av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for _ in range(40)]
        for i, f in enumerate(frames):
            f.pts = i
        encode_all(out, v, frames)
        silence = [av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), "fltp", "stereo") for _ in range(80)]
        for i, af in enumerate(silence):
            af.sample_rate, af.pts = 48000, i * 1024
        encode_all(out, a, silence)


@pytest.mark.parametrize(
    ("src_fmt", "out_ext", "extra"),
    [("mov", ".mp4", []), ("mov", ".mov", []), ("mkv", ".mkv", []), ("mkv", ".mkv", ["--segments", "2"])],
    ids=["mov-to-mp4", "mov-to-mov", "mkv-to-mkv", "mkv-in-parts"],
)
def test_tags_and_chapters_survive_a_run(tmp_path, tiny_weights, src_fmt, out_ext, extra):
    src, out = tmp_path / f"in.{src_fmt}", tmp_path / f"out{out_ext}"
    tagged_clip(src, src_fmt)
    res = CliRunner().invoke(app, ["run", str(src), "-o", str(out), "-w", str(tiny_weights), "--backend", "torch",
                                   "-q", *extra])  # fmt: skip
    assert res.exit_code == 0, res.output
    with av.open(str(out)) as c:
        tags = dict(c.metadata)
        assert tags["title"] == "Ride"
        if src_fmt == "mov":
            assert tags["creation_time"].startswith("2026-05-01T10:00:00")
            assert tags["location"] == "+48.8577+002.2950/"
        assert tags.get("encoder", tags.get("ENCODER", "")).startswith("Lavf")  # this muxer's, not copied
        video, audio = dict(c.streams.video[0].metadata), dict(c.streams.audio[0].metadata)
        assert video.get("language") == "eng" and "BPS" not in video
        assert audio["language"] == "fra" and "commentary" in (audio.get("title"), audio.get("name"))
        if src_fmt == "mkv":
            got = [(ch["metadata"]["title"], float(ch["start"] * ch["time_base"])) for ch in c.chapters()]
            assert got == [(t, s / 50) for t, s, _ in CHAPTERS]
