"""Audio and subtitles the output's container cannot hold as they are (a webcam's PCM or an IP
camera's G.711 into MP4 or MPEG-TS, AAC into WebM; SRT into MP4, MP4's timed text into Matroska)
are encoded again with the container's codec, as FFmpeg does, and stay in sync with the picture:
`streamdeblur run` on real files written by PyAV, read back and decoded by PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import packets, random_frames, read_video

from streamdeblur.cli import app

runner = CliRunner()
FPS = 25
FRAMES = 30  # 1.2 s
#: the sound: silence, then a 1 kHz tone from this moment on (seconds after the first frame)
ONSET = 0.48


def run(*args: object):
    return runner.invoke(app, ["run", *map(str, args)])


def with_sound(path: Path, fmt: str, vcodec: str, pix_fmt: str, acodec: str, rate: int, layout: str) -> None:
    """``FRAMES`` frames and a sound that starts at ``ONSET`` s, the way a camera or an editor writes them."""
    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream(vcodec, rate=FPS)
        v.width, v.height, v.pix_fmt = 64, 48, pix_fmt
        a = out.add_stream(acodec, rate=rate)
        a.layout = layout
        for i, img in enumerate(random_frames(FRAMES, 64, 48)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
            f.pts = i
            for p in v.encode(f):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        t = np.arange(int(rate * FRAMES / FPS)) / rate
        tone = (np.sin(2 * np.pi * 1000 * t) * 0.5 * (t >= ONSET)).astype(np.float32)
        channels = av.AudioLayout(layout).nb_channels
        convert = av.AudioResampler(format=a.format.name, layout=layout, rate=rate, frame_size=1024)
        for k in range(0, len(t), 1024):
            chunk = np.repeat(tone[None, k : k + 1024], channels, 0)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, k, Fraction(1, rate)
            for g in convert.resample(frame):
                for p in a.encode(g):
                    out.mux(p)
        for g in convert.resample(None):
            for p in a.encode(g):
                out.mux(p)
        for p in a.encode():
            out.mux(p)


def sound(path: Path) -> tuple[str, float, float]:
    """(audio codec, when the tone starts after the first frame, how long the sound lasts), in seconds."""
    with av.open(str(path)) as c:
        (a,) = c.streams.audio
        name, rate = a.codec_context.name, a.codec_context.sample_rate
        first_frame = min(float(p.pts * p.time_base) for p in c.demux(c.streams.video[0]) if p.size)
        c.seek(0)
        start, chunks = None, []
        for f in c.decode(a):
            if start is None:
                start = float(f.pts * f.time_base)
            chunks.append(np.abs(f.to_ndarray().astype(np.float64)).reshape(len(f.layout.channels), -1).max(0))
    level = np.concatenate(chunks)
    loud = np.flatnonzero(level > 0.5 * level.max())[0]
    return name, start + loud / rate - first_frame, len(level) / rate


@pytest.mark.parametrize(
    ("made", "output", "codec", "untouched_in"),
    [
        # a webcam's recording: MJPEG and 16-bit PCM in AVI, wanted as MP4
        (("avi", "mjpeg", "yuvj420p", "pcm_s16le", 48000, "stereo"), "out.mp4", "aac", ".mkv"),
        # an IP camera's G.711 (mu-law, 8 kHz mono), wanted as MPEG-TS: before, the TS muxer took it as a
        # data stream with no codec and the output had no sound
        (("mov", "libx264", "yuv420p", "pcm_mulaw", 8000, "mono"), "out.ts", "aac", ".mov"),
        # a phone's AAC, wanted as WebM for a web page
        (("mp4", "libx264", "yuv420p", "aac", 44100, "stereo"), "out.webm", "opus", ".mkv"),
        # a film's AC-3 5.1 (FFmpeg names its layout 5.1(side)), wanted as WebM: was refused, Opus having
        # no 5.1(side); FFmpeg maps it onto Opus's 5.1
        (("mp4", "libx264", "yuv420p", "ac3", 48000, "5.1(side)"), "out.webm", "opus", ".mkv"),
    ],
)
def test_audio_the_container_cannot_hold_is_encoded_again_in_sync(
    tmp_path, tiny_weights, caplog, made, output, codec, untouched_in
):
    src = tmp_path / f"in.{made[0]}"
    with_sound(src, *made)
    out = tmp_path / output
    res = run(src, "-o", out, "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    assert len(read_video(out)) == FRAMES
    name, onset, length = sound(out)
    assert name == codec
    assert onset == pytest.approx(ONSET, abs=0.025)  # in sync with the picture, within a video frame
    assert length >= FRAMES / FPS - 0.05  # none of the sound lost (encoders add a little at the ends)
    (warn,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert f"audio stream #1 ({made[3]})" in warn and "encoded again as" in warn, warn
    assert f"write {untouched_in} instead to keep it untouched" in warn, warn
    # and the container it names keeps it untouched: every packet as it was
    kept = tmp_path / f"kept{untouched_in}"
    assert run(src, "-o", kept, "--weights", tiny_weights, "-q").exit_code == 0
    assert [p for p, _ in packets(kept, "audio")] == [p for p, _ in packets(src, "audio")]


def test_encoded_audio_follows_a_trim_and_a_segmented_run(tmp_path, tiny_weights):
    src = tmp_path / "cam.avi"
    with_sound(src, "avi", "mjpeg", "yuvj420p", "pcm_s16le", 48000, "stereo")
    # --start: the sound moves with the picture
    part = tmp_path / "part.mp4"
    assert run(src, "-o", part, "--weights", tiny_weights, "--start", "0.2", "-q").exit_code == 0
    assert len(read_video(part)) == FRAMES - 5
    name, onset, _ = sound(part)
    assert name == "aac" and onset == pytest.approx(ONSET - 0.2, abs=0.025)
    # --segments: the parts are joined with the input's sound, encoded once
    joined = tmp_path / "joined.mp4"
    res = run(src, "-o", joined, "--weights", tiny_weights, "--segments", "2", "-q")
    assert res.exit_code == 0, res.output
    assert len(read_video(joined)) == FRAMES
    name, onset, length = sound(joined)
    assert name == "aac" and onset == pytest.approx(ONSET, abs=0.025)
    assert length >= FRAMES / FPS - 0.05


def with_lines(path: Path, fmt: str, codec: str) -> None:
    """Two seconds of picture and two subtitle lines (one in italics, one on two rows), as an editor exports them."""
    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        s = out.add_stream(codec)
        s.codec_context.subtitle_header = HEADER
        s.codec_context.time_base = Fraction(1, 1000)
        for i, img in enumerate(random_frames(2 * FPS, 64, 48)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in v.encode(f):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        for start, length, text in LINES:
            q = s.codec_context.encode_subtitle(
                av.subtitles.subtitle.SubtitleSet.create(text=b"0,0,Default,,0,0,0,," + text, start=0, end=length)
            )
            q.stream, q.time_base = s, Fraction(1, 1000)
            q.pts = q.dts = start
            q.duration = length
            out.mux(q)


HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\nFormat: Name, Fontname, "
    b"Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, "
    b"ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\nStyle: "
    b"Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n[Events]\nFormat: Layer, "
    b"Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)
#: (start ms, duration ms, ASS text)
LINES = [(200, 800, b"hello {\\i1}world{\\i0}"), (1200, 600, b"two\\Nrows")]


def lines(path: Path) -> tuple[str, list[tuple[Fraction, Fraction, str]]]:
    """(subtitle codec, [(start s, duration s, the words as ASS text)]) of the output's subtitle stream."""
    with av.open(str(path)) as c:
        (s,) = c.streams.subtitles
        got = []
        for p in c.demux(s):
            for e in s.codec_context.decode(p) if p.size else []:
                text = bytes(e.ass).decode().split(",", 8)[8]
                got.append((p.pts * p.time_base, p.duration * p.time_base, text))
        return s.codec_context.name, got


@pytest.mark.parametrize(
    ("made", "output", "codec", "untouched_in"),
    [
        (("matroska", "subrip"), "out.mp4", "mov_text", ".mkv"),  # an SRT in Matroska, wanted as MP4
        (("mp4", "mov_text"), "out.mkv", "ssa", ".mov"),  # a phone's or editor's MP4 subtitles, wanted in Matroska
        (("matroska", "subrip"), "out.webm", "webvtt", ".mkv"),  # for a web page
    ],
)
def test_text_subtitles_the_container_cannot_hold_are_converted_line_for_line(
    tmp_path, tiny_weights, caplog, made, output, codec, untouched_in
):
    src = tmp_path / f"in.{'mkv' if made[0] == 'matroska' else made[0]}"
    with_lines(src, *made)
    out = tmp_path / output
    res = run(src, "-o", out, "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    name, got = lines(out)
    assert name == codec
    # every line at its time, for as long, with its words, its row break and its italics
    assert [(t, d) for t, d, _ in got] == [(Fraction(a, 1000), Fraction(b, 1000)) for a, b, _ in LINES]
    assert [w.replace("{\\i0}", "") for _, _, w in got] == ["hello {\\i1}world", "two\\Nrows"]
    (warn,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert f"subtitle stream #1 ({made[1]})" in warn and "converted to" in warn, warn
    assert f"write {untouched_in} instead to keep it as it is" in warn, warn
    # a segmented run joins the converted lines too
    joined = tmp_path / f"joined{out.suffix}"
    assert run(src, "-o", joined, "--weights", tiny_weights, "--segments", "2", "-q").exit_code == 0
    assert lines(joined) == (name, got)


def test_audio_option_encodes_every_audio_stream_or_none_as_ffmpegs_c_a_and_an(tmp_path, tiny_weights, caplog):
    src = tmp_path / "ipcam.mov"  # an IP camera's G.711, wanted on an RTMP service (FLV), which takes AAC
    with_sound(src, "mov", "libx264", "yuv420p", "pcm_mulaw", 8000, "mono")
    out = tmp_path / "live.flv"
    res = run(src, "-o", out, "--weights", tiny_weights, "--audio", "aac", "-q")
    assert res.exit_code == 0, res.output
    name, onset, length = sound(out)
    assert name == "aac" and onset == pytest.approx(ONSET, abs=0.025) and length >= FRAMES / FPS - 0.05
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # asked for: nothing to warn about
    # the same in a segmented run
    joined = tmp_path / "joined.mkv"
    assert run(src, "-o", joined, "--weights", tiny_weights, "--audio", "opus", "--segments", "2", "-q").exit_code == 0
    name, onset, _ = sound(joined)
    assert name == "opus" and onset == pytest.approx(ONSET, abs=0.025)
    # none: the picture only (FFmpeg's -an)
    silent = tmp_path / "silent.mp4"
    assert run(src, "-o", silent, "--weights", tiny_weights, "--audio", "none", "-q").exit_code == 0
    with av.open(str(silent)) as c:
        assert [s.type for s in c.streams] == ["video"]
    assert len(read_video(silent)) == FRAMES
    # a container that cannot hold what was asked for: one line with FFmpeg's reason, nothing written
    res = run(src, "-o", tmp_path / "edit.mov", "--weights", tiny_weights, "--audio", "opus")
    assert res.exit_code != 0
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("streamdeblur: error: --audio opus: a .mov file cannot hold Opus"), line
    assert "opus only supported in MP4" in line and "choose another --audio" in line, line
    assert not (tmp_path / "edit.mov").exists()


def test_surround_sound_keeps_its_channels_when_encoded_again(tmp_path, tiny_weights):
    """A film's 5.1 PCM into WebM: Opus takes 5.1 (its surround mapping); it was mixed down to stereo."""
    src = tmp_path / "film.mov"
    with_sound(src, "mov", "libx264", "yuv420p", "pcm_s16le", 48000, "5.1")
    out = tmp_path / "film.webm"
    assert run(src, "-o", out, "--weights", tiny_weights, "-q").exit_code == 0
    with av.open(str(out)) as c:
        (a,) = c.streams.audio
        assert (a.codec_context.name, a.codec_context.layout.name) == ("opus", "5.1")
    name, onset, _ = sound(out)
    assert onset == pytest.approx(ONSET, abs=0.025)


def test_sound_no_encoder_here_can_put_in_the_container_names_audio_none(tmp_path, tiny_weights):
    """5.1 AAC into .mpg: MPEG-PS takes MP2, which is stereo at most, so the sound cannot go in. The one
    line names the container that takes it and --audio none, which then writes the video alone."""
    src = tmp_path / "film.mp4"
    with_sound(src, "mp4", "libx264", "yuv420p", "aac", 48000, "5.1")
    res = run(src, "-o", tmp_path / "film.mpg", "--weights", tiny_weights, "-q")
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1, res.stderr
    assert "audio stream #1 (aac) cannot be stored in a .mpg file" in res.stderr
    assert res.stderr.rstrip().endswith(", or pass --audio none to leave the sound out"), res.stderr
    res = run(src, "-o", tmp_path / "film.mpg", "--weights", tiny_weights, "-q", "--audio", "none")
    assert res.exit_code == 0, res.stderr
    with av.open(str(tmp_path / "film.mpg")) as c:
        assert not c.streams.audio and sum(1 for _ in c.decode(video=0)) == FRAMES
