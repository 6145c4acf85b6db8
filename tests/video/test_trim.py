"""`run --start TIME --duration TIME` (FFmpeg's -ss and -t): a part of a long recording deblurred,
the right frames (seeking lands on a keyframe before the start), the audio cut to the same part,
the output starting at 0; a start past the end or a bad time is one line."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from livefiles import Feed
from typer.testing import CliRunner
from videofiles import hidden, packets, random_frames, read_video, write_video

from streamdeblur import RunOptions, deblur_frames
from streamdeblur.cli import app
from streamdeblur.errors import InputError
from streamdeblur.video.trim import parse_time

runner = CliRunner()
RATE = 30


@pytest.fixture
def recording(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    """3 s at 30 fps with audio, H.264 with a keyframe every 10 frames and B-frames, as a camera writes."""
    frames = random_frames(90, 64, 48, seed=3)
    path = tmp_path / "long.mp4"
    write_video(path, frames, codec="libx264", pix_fmt="yuv444p", rate=RATE, audio=True, time_base=Fraction(1, 90000),
                options={"g": "10", "bf": "2", "qp": "0"})  # fmt: skip
    decoded = [img for _, _, img in read_video(path)]
    return path, decoded


def which(img: np.ndarray, frames: list[np.ndarray]) -> int:
    """The index of the input frame ``img`` is (the tiny model is the identity)."""
    errs = [np.abs(img.astype(int) - f.astype(int)).mean() for f in frames]
    best = int(np.argmin(errs))
    assert errs[best] < 1.0, errs[best]
    return best


def run(*args) -> object:
    return runner.invoke(app, ["run", *map(str, args)])


def test_start_and_duration_keep_exactly_that_part(tmp_path, recording, tiny_weights):
    src, decoded = recording
    _part_of(tmp_path, src, decoded, tiny_weights)


def test_a_transport_stream_whose_seek_lands_late_still_gives_the_right_frames(tmp_path, tiny_weights):
    """MPEG-TS has no index: FFmpeg's seek to 1 s lands on the keyframe at 2.8 s here (x264's only
    other one), which would lose the frames between; they must still be there."""
    frames = random_frames(40, 64, 48)
    ts = tmp_path / "cam.ts"
    write_video(ts, frames, codec="libx264", pix_fmt="yuv420p", rate=10, audio=True, time_base=Fraction(1, 90000))
    decoded = [img for _, _, img in read_video(ts)]
    out = tmp_path / "part.mkv"
    res = run(
        ts, "-o", out, "-w", tiny_weights, "--codec", "ffv1", "--pix-fmt", "bgr0", "--start", "1", "--duration", "1"
    )
    assert res.exit_code == 0, res.stderr
    assert [which(img, decoded) for _, _, img in read_video(out)] == list(range(10, 20))


def _part_of(tmp_path: Path, src: Path, decoded: list[np.ndarray], tiny_weights: Path) -> None:
    out = tmp_path / "part.mkv"
    res = run(src, "-o", out, "-w", tiny_weights, "--codec", "ffv1", "--start", "1.5", "--duration", "0:00.5")
    assert res.exit_code == 0, res.stderr
    assert "from 1.5 s for 0.5 s" in res.stderr
    got = read_video(out)
    # frames 45..59 of the input (1.5 s to 2.0 s), though the seek landed on the keyframe at frame 40
    assert [which(img, decoded) for _, _, img in got] == list(range(45, 60))
    times = [float(p * tb) for p, tb, _ in got]
    # from 0 (within a frame: a file whose audio starts before its video keeps that offset, as FFmpeg's -ss)
    assert 0 <= times[0] < 1 / RATE and times[-1] - times[0] == pytest.approx(14 / RATE, abs=2e-3)
    audio = [t for _, t in packets(out, "audio")]
    assert audio, "the audio was dropped"
    assert min(audio) >= -0.03 and max(audio) < 0.5  # the same half second of audio, from 0
    assert sum(1 for _ in audio) == pytest.approx(0.5 * 48000 / 1024, abs=2)
    assert hidden(tmp_path) == []


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_a_parts_sound_starts_at_its_first_instant(tmp_path, recording, tiny_weights, ext):
    """The AAC packet that begins before --start and ends after it holds the part's first 2.7 ms of
    sound: it is copied, at its negative time, so the sound starts with the picture (before, the sound
    began 2.7 ms late here, up to a packet, 21 ms, in general)."""
    src, _ = recording
    out = tmp_path / f"part{ext}"
    res = run(src, "-o", out, "-w", tiny_weights, "--start", "1", "--duration", "1")
    assert res.exit_code == 0, res.stderr
    step = Fraction(1024, 48000)
    wanted = [data for data, t in packets(src, "audio") if t + step > 1 and t < 2]  # every packet that sounds in it
    got = packets(out, "audio")
    assert [data for data, _ in got] == wanted
    first = got[0][1]
    assert first < 0 < first + step  # the part's first instant is in the first packet


@pytest.mark.parametrize("ext, codec", [(".mkv", "srt"), (".mp4", "mov_text")])
def test_a_subtitle_on_screen_when_the_part_begins_is_shown_from_its_start(tmp_path, tiny_weights, ext, codec):
    """'world' shows from 0.5 s to 0.9 s; the part from 0.6 s for 0.2 s shows it throughout, cut to the part
    (before, it was left out: the seek to 0.6 s passed its packet, and one before the start was dropped)."""
    src = tmp_path / "film.mkv"
    write_video(src, random_frames(30, 64, 48), subtitles=True)
    out = tmp_path / f"part{ext}"
    res = run(src, "-o", out, "-w", tiny_weights, "--start", "0.6", "--duration", "0.2")
    assert res.exit_code == 0, res.stderr
    with av.open(str(out)) as c:
        s = c.streams.subtitles[0]
        assert s.codec_context.name == codec
        lines = [
            (bytes(p)[-5:], float(p.pts * p.time_base), float(p.duration * p.time_base)) for p in c.demux(s) if p.size
        ]
    assert [(text, t, d) for text, t, d in lines if text.strip(b"\0")] == [(b"world", 0.0, 0.2)]


def test_duration_alone_counts_from_the_first_frame_and_keeps_timestamps(tmp_path, recording, tiny_weights):
    src, decoded = recording
    out = tmp_path / "first.mkv"
    res = run(src, "-o", out, "-w", tiny_weights, "--codec", "ffv1", "--duration", "1")
    assert res.exit_code == 0, res.stderr
    assert "30 frames" in res.stderr  # the progress line knows the part's length
    got = read_video(out)
    assert [which(img, decoded) for _, _, img in got] == list(range(30))
    assert not any("cut short" in line for line in res.stderr.splitlines())


def test_deblur_frames_takes_a_part_too(recording, tiny_weights):
    src, decoded = recording
    options = RunOptions(backend="torch", weights=str(tiny_weights), start=2.5)
    with deblur_frames(src, options) as frames:
        got = list(frames)
    assert [which(f.image, decoded) for f in got] == list(range(75, 90))
    assert float(got[0].pts * got[0].time_base) == pytest.approx(0.0, abs=1e-3)


def test_a_start_past_the_end_is_one_line_and_no_file(tmp_path, recording, tiny_weights):
    src, _ = recording
    out = tmp_path / "late.mp4"
    res = run(src, "-o", out, "-w", tiny_weights, "--start", "0:05")
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        f"streamdeblur: error: --start 5 is past the end of {src} (it ends at 3.00 s); give an earlier --start"
    ]
    assert not out.exists() and hidden(tmp_path) == []


@pytest.mark.parametrize("part", [["--duration", "0.01"], ["--end", "1.02"]])
def test_a_part_between_two_frames_says_it_holds_no_frame_and_how_long_one_must_be(
    tmp_path, recording, tiny_weights, part
):
    """--start 1.01 --duration 0.01 falls between the frames at 1.000 and 1.033 s: it said "--start 1.01 is
    past the end of long.mp4 (it ends at 3.00 s)"."""
    src, decoded = recording
    out = tmp_path / "none.mp4"
    res = run(src, "-o", out, "-w", tiny_weights, "--start", "1.01", *part)
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        f"streamdeblur: error: the part from 1.01 s to 1.02 s of {src} holds no frame (its frames are 0.034 s apart, "
        "the next at 1.033 s); give a --duration of at least 0.034 s, or an --end that far past --start"
    ]
    assert not out.exists() and hidden(tmp_path) == []
    res = run(src, "-o", out, "-w", tiny_weights, "--start", "1.01", "--duration", "0.034", "--codec", "ffv1", "-q")
    assert res.exit_code == 0, res.output  # the fix it names: the next frame
    assert [which(img, decoded) for _, _, img in read_video(out)] == [31]


def test_a_start_within_the_last_frames_time_says_where_the_last_frame_is(tmp_path, recording, tiny_weights):
    src, _ = recording
    res = run(src, "-o", tmp_path / "late.mp4", "-w", tiny_weights, "--start", "2.98")
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        f"streamdeblur: error: --start 2.98 is past the last frame of {src} (at 2.97 s; it ends at 3.00 s); "
        "give an earlier --start"
    ]


@pytest.mark.parametrize("args, words", [
    (["--start", "1:2:3:4"], "--start '1:2:3:4' is not a time"),
    (["--duration", "0"], "--duration must be more than 0 seconds"),
    (["--duration", "1:75"], "seconds must be under 60"),
    (["--start", "99999999999"], "--start must be 0 or more seconds and under 1e+09, got 1e+11"),  # said "0 or more"
])  # fmt: skip
def test_bad_times_are_one_line(tmp_path, recording, args, words):
    src, _ = recording
    res = run(src, "-o", tmp_path / "x.mp4", *args)
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines


def test_several_inputs_each_give_the_same_part(tmp_path, recording, tiny_weights):
    """A look at a folder before the long run: the same part of each file; a re-run skips the outputs
    that hold all of their part (not "not complete" for lacking the rest); --segments cuts whole files."""
    src, decoded = recording
    other = tmp_path / "other.mp4"
    frames = random_frames(90, 64, 48, seed=4)
    write_video(other, frames, codec="libx264", pix_fmt="yuv444p", rate=RATE, audio=True, time_base=Fraction(1, 90000),
                options={"g": "10", "bf": "2", "qp": "0"})  # fmt: skip
    other_decoded = [img for _, _, img in read_video(other)]
    out, report = tmp_path / "out", tmp_path / "report.json"
    args = ["-o", out, "-w", tiny_weights, "--codec", "ffv1", "--start", "1.5", "--duration", "0.5", "--report", report]
    res = run(src, other, *args)
    assert res.exit_code == 0, res.stderr
    for name, frames in (("long.mp4", decoded), ("other.mp4", other_decoded)):
        got = read_video(out / name)
        assert [which(img, frames) for _, _, img in got] == list(range(45, 60)), name
        assert 0 <= float(got[0][0] * got[0][1]) < 1 / RATE
    stamps = [p.stat().st_mtime_ns for p in sorted(out.iterdir())]
    res = run(src, other, *args)
    assert res.exit_code == 0, res.stderr
    assert [i["status"] for i in json.loads(report.read_text())["items"]] == ["skipped", "skipped"]
    assert [p.stat().st_mtime_ns for p in sorted(out.iterdir())] == stamps
    res = run(src, other, "-o", tmp_path / "seg", "--start", "1", "--segments", "2")
    assert res.exit_code == 2 and "--start with --segments" in res.stderr


def test_duration_ends_a_stream_and_start_is_refused_on_one(tmp_path, recording, tiny_weights):
    """A live feed (a TCP server sending MPEG-TS): --duration records that long of it; --start
    has nothing to seek in."""
    src, decoded = recording
    ts = tmp_path / "feed.ts"
    write_video(ts, decoded, codec="libx264", pix_fmt="yuv444p", rate=RATE, time_base=Fraction(1, 90000),
                options={"qp": "0"})  # fmt: skip
    feed = Feed([ts.read_bytes()])
    feed.start()
    out = tmp_path / "rec.mkv"
    res = run(feed.url, "-o", out, "-w", tiny_weights, "--codec", "ffv1", "--duration", "0.5", "--timeout", "5")
    assert res.exit_code == 0, res.stderr
    assert [which(img, decoded) for _, _, img in read_video(out)] == list(range(15))
    feed = Feed([ts.read_bytes()])
    feed.start()
    res = run(feed.url, "-o", tmp_path / "no.mkv", "-w", tiny_weights, "--start", "1", "--timeout", "5")
    assert res.exit_code == 2
    assert "--start needs an input that can be sought in" in res.stderr and "is a live stream" in res.stderr


def test_parse_time_reads_ffmpegs_forms():
    assert parse_time("90", "--start") == 90
    assert parse_time("1:30", "--start") == 90
    assert parse_time("01:02:03.5", "--start") == 3723.5
    assert parse_time(".25", "--start") == 0.25
    for bad in ("", "-1", "1e3", "1:", "a:b"):
        with pytest.raises(InputError):
            parse_time(bad, "--start")
    assert Fraction(parse_time("0:00.5", "--duration")) == Fraction(1, 2)


def test_a_raw_h264_stream_without_timestamps_is_cut_by_its_frame_rate(tmp_path, tiny_weights):
    """A drone's or a Raspberry Pi camera's raw .h264 has no timestamps (FFmpeg reads it at 25 fps):
    the part is counted in frames at that rate, not ignored."""
    raw = tmp_path / "cam.h264"
    write_video(raw, random_frames(40, 64, 48), codec="libx264", pix_fmt="yuv420p", rate=25)
    decoded = [img for _, _, img in read_video(raw)]
    out = tmp_path / "part.mkv"
    args = ["-w", tiny_weights, "--codec", "ffv1", "--pix-fmt", "bgr0", "--start", "0.4", "--duration", "0.8"]
    res = run(raw, "-o", out, *args)
    assert res.exit_code == 0, res.stderr
    got = read_video(out)
    assert [which(img, decoded) for _, _, img in got] == list(range(10, 30))
    # each a frame's time (1/25 s) after the one before: the count in the stream's 1/1200000 s time
    # base was 1 tick a frame, every frame at 0 in the output
    assert [float(p * tb) for p, tb, _ in got] == pytest.approx([i / 25 for i in range(20)], abs=1e-3)


@pytest.mark.parametrize("rate", [25, 30])
def test_a_whole_raw_h264_stream_plays_at_its_frame_rate(tmp_path, tiny_weights, rate):
    """Its rate is the one its SPS gives (x264 writes it), as FFmpeg times it; not the raw demuxer's
    default 25 (a 30 fps drone dump came out slowed to 25)."""
    raw = tmp_path / "cam.h264"  # a camera's encoder clock ticks at its frame rate: the SPS says it
    write_video(raw, random_frames(10, 64, 48), codec="libx264", pix_fmt="yuv420p", rate=rate,
                time_base=Fraction(1, rate))  # fmt: skip
    for out in (tmp_path / "whole.mkv", tmp_path / "whole.mp4"):
        res = run(raw, "-o", out, "-w", tiny_weights)
        assert res.exit_code == 0, res.stderr
        times = [float(p * tb) for p, tb, _ in read_video(out)]
        assert times == pytest.approx([i / rate for i in range(10)], abs=1e-3), out.name


def test_preview_plays_a_file_from_start_and_loops_back_to_it(tmp_path):
    """`preview long.mp4 --start 1:00 --loop`: the live view of a file begins at the start asked for, and
    each loop begins there again."""
    from streamdeblur.video.live import FilePlayback, open_live

    frames = random_frames(20, 64, 48, seed=7)
    path = tmp_path / "clip.mkv"
    write_video(path, frames, rate=10, time_base=Fraction(1, 1000))
    play = FilePlayback(path, loop=True, realtime=False, start=1.5)
    shown = [play.read() for _ in range(8)]
    play.close()
    assert [which(f.image, frames) for f in shown] == [15, 16, 17, 18, 19, 15, 16, 17]
    with pytest.raises(InputError, match="--start applies to a file input"):
        open_live("rtsp://127.0.0.1:1/cam", start=1.0)
    res = runner.invoke(app, ["preview", str(path), "--start", "9", "--serve", "127.0.0.1:0"])
    assert res.exit_code == 2 and "--start 9 is past the end of" in res.stderr


def test_end_is_a_time_of_the_input_as_ffmpegs_to(tmp_path, recording, tiny_weights):
    src, decoded = recording
    out = tmp_path / "to.mkv"
    res = run(src, "-o", out, "-w", tiny_weights, "--codec", "ffv1", "--start", "1.5", "--end", "0:02")
    assert res.exit_code == 0, res.stderr
    assert "from 1.5 s for 0.5 s" in res.stderr
    assert [which(img, decoded) for _, _, img in read_video(out)] == list(range(45, 60))
    for args, words in (
        (["--start", "2", "--end", "1"], "--end 1 is not after --start 2"),
        (["--duration", "1", "--end", "2"], "give --duration or --end, not both"),
    ):
        res = run(src, "-o", tmp_path / "x.mkv", *args)
        assert res.exit_code == 2 and words in res.stderr, res.stderr
