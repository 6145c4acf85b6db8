"""What FFmpeg keeps by default, a run keeps: the file's tags (title, creation date, a phone's GPS
location), each stream's language, title and handler, and the chapters, through a single run and
a run in parts; never the tags that describe the input's own encoding."""

from __future__ import annotations

import logging
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
        if fmt == "mkv":  # what the track is for, which players choose by (Matroska's FlagCommentary ...)
            a.disposition = av.stream.Disposition.comment | av.stream.Disposition.hearing_impaired
        # a MOV's chapters are a text track, which FFmpeg reads as a bin_data stream beside them
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
def test_tags_and_chapters_survive_a_run(tmp_path, tiny_weights, caplog, src_fmt, out_ext, extra):
    src, out = tmp_path / f"in.{src_fmt}", tmp_path / f"out{out_ext}"
    tagged_clip(src, src_fmt)
    with caplog.at_level(logging.WARNING):
        res = CliRunner().invoke(app, ["run", str(src), "-o", str(out), "-w", str(tiny_weights), "--backend", "torch",
                                       "-q", *extra])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "left out" not in caplog.text  # was: data stream #2 (bin_data) ... left out: the chapters' own track
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
            d = av.stream.Disposition
            assert c.streams.audio[0].disposition == d.comment | d.hearing_impaired  # kept, none added
        got = [(ch["metadata"]["title"], float(ch["start"] * ch["time_base"])) for ch in c.chapters()]
        assert got == [(t, s / 50) for t, s, _ in CHAPTERS]


def timecoded_clip(path, timecode: str, rate: Fraction, n: int = 30) -> None:
    """A camera's MOV with its SMPTE timecode (FFmpeg writes a tmcd track from the tag)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=rate)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.metadata["timecode"] = timecode
        rng = np.random.default_rng(0)
        frames = [av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for _ in range(n)]
        for i, f in enumerate(frames):
            f.pts = i
        encode_all(out, v, frames)


def timecodes(path) -> list[str]:
    with av.open(str(path)) as c:
        return [v for s in c.streams for k, v in s.metadata.items() if k.lower() == "timecode"]


@pytest.mark.parametrize("out_ext", [".mov", ".mp4", ".mkv"])
def test_timecode_survives_and_a_part_starts_at_its_own(tmp_path, tiny_weights, caplog, out_ext):
    src = tmp_path / "cam.mov"
    timecoded_clip(src, "10:00:00:00", Fraction(25))
    with av.open(str(src)) as c:
        assert [s.type for s in c.streams] == ["video", "data"]  # the tmcd track
    out = tmp_path / f"out{out_ext}"
    res = CliRunner().invoke(app, ["run", str(src), "-o", str(out), "-w", str(tiny_weights), "-q"])
    assert res.exit_code == 0, res.output
    assert set(timecodes(out)) == {"10:00:00:00"}
    # the tmcd track is the timecode, kept: no warning that a data stream was left out
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    # a part from 0.5 s: its first frame is the first at or after it, frame 13 (0.52 s), and so is its timecode
    part = tmp_path / f"part{out_ext}"
    res = CliRunner().invoke(app, ["run", str(src), "-o", str(part), "-w", str(tiny_weights), "--start", "0.5", "-q"])
    assert res.exit_code == 0, res.output
    with av.open(str(part)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30 - 13
    assert set(timecodes(part)) == {"10:00:00:13"}


def test_a_parts_timecode_counts_from_the_video_when_the_sound_starts_first(tmp_path, tiny_weights):
    """A camera's MOV whose sound starts 0.2 s before its first frame: the part from 0.5 s begins at the
    video's frame 8 (0.52 s), so its timecode is 10:00:00:08 (before, 13 frames on: counted from the sound)."""
    src = tmp_path / "cam.mov"
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.metadata["timecode"] = "10:00:00:00"
        a = out.add_stream("aac", rate=48000)
        made = []
        for i in range(25):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 9 * i, np.uint8))
            f.pts = 5 + i  # 0.2 s in
            made += v.encode(f)
        made += v.encode()
        for t in range(0, 48000, 1024):
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 48000, t
            made += a.encode(sound)
        made += a.encode()
        for p in sorted(made, key=lambda p: p.dts * p.time_base):
            out.mux(p)
    part = tmp_path / "part.mov"
    res = CliRunner().invoke(app, ["run", str(src), "-o", str(part), "-w", str(tiny_weights), "--start", "0.5", "-q"])
    assert res.exit_code == 0, res.output
    with av.open(str(part)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 25 - 8
    assert set(timecodes(part)) == {"10:00:00:08"}


def test_drop_frame_timecode_of_a_part_skips_the_dropped_labels(tmp_path, tiny_weights):
    from streamdeblur.video.timecode import shift

    ntsc = Fraction(30000, 1001)
    assert shift("01:00:00;00", 1800, ntsc) == "01:01:00;02"  # ;00 and ;01 do not exist at minute 1
    assert shift("01:00:00;00", 17982, ntsc) == "01:10:00;00"  # ten minutes: nothing dropped at minute 10
    assert shift("00:00:59;59", 1, Fraction(60000, 1001)) == "00:01:00;04"
    assert shift("23:59:59:24", 1, Fraction(25)) == "00:00:00:00"
    src, part = tmp_path / "ntsc.mov", tmp_path / "part.mov"
    timecoded_clip(src, "00:00:59;28", ntsc, n=10)
    res = CliRunner().invoke(app, ["run", str(src), "-o", str(part), "-w", str(tiny_weights), "--start", "0.1", "-q"])
    assert res.exit_code == 0, res.output
    assert set(timecodes(part)) == {"00:01:00;03"}  # 3 frames on: ;29, then ;02 and ;03 of the next minute


def test_chapters_of_a_part_are_moved_and_cut_to_it(tmp_path, tiny_weights):
    src, part = tmp_path / "in.mkv", tmp_path / "part.mkv"
    tagged_clip(src, "mkv")  # Intro 0-2 s, Climb 2-4 s; 40 frames at 25 fps (1.6 s)
    res = CliRunner().invoke(app, ["run", str(src), "-o", str(part), "-w", str(tiny_weights), "--start", "0.4",
                                   "--duration", "0.8", "-q"])  # fmt: skip
    assert res.exit_code == 0, res.output
    with av.open(str(part)) as c:
        got = [(ch["metadata"]["title"], float(ch["start"] * ch["time_base"]), float(ch["end"] * ch["time_base"]))
               for ch in c.chapters()]  # fmt: skip
    assert got == [("Intro", 0.0, 0.8)]
