"""Streams besides the video, timestamps, and inputs that end early, as a user meets them
through `streamdeblur run`: real files written by PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import packets, random_frames, read_video, with_attachment_and_data, write_video

from streamdeblur.cli import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, ["run", *map(str, args)])


def only_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def pcm24_mkv(path: Path, n: int = 10) -> None:
    """Video plus 24-bit PCM audio, as a camera or an editor writes it into Matroska."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "bgr0"
        v.time_base = v.codec_context.time_base = Fraction(1, 1000)
        a = out.add_stream("pcm_s24le", rate=48000)
        a.layout = "stereo"
        for i, img in enumerate(random_frames(n, 64, 48)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i * 40, Fraction(1, 1000)
            for p in v.encode(f):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        rng = np.random.default_rng(3)
        for k in range(n * 2):
            samples = (rng.integers(-(2**23), 2**23, (1, 2 * 960)) << 8).astype(np.int32)
            af = av.AudioFrame.from_ndarray(samples, format="s32", layout="stereo")
            af.sample_rate, af.pts = 48000, k * 960
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode():
            out.mux(p)


def test_deep_pcm_the_container_cannot_hold_is_encoded_again_and_kept_untouched_where_it_fits(
    tmp_path, tiny_weights, caplog
):
    src = tmp_path / "pcm.mkv"
    pcm24_mkv(src)
    res = run(src, "-o", tmp_path / "out.mp4", "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    (warn,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    for word in ("audio stream #1", "pcm_s24le", ".mp4", "encoded again as AAC", "write .mkv instead"):
        assert word in warn, warn
    with av.open(str(tmp_path / "out.mp4")) as c:
        (a,) = c.streams.audio
        assert (a.codec_context.name, a.codec_context.sample_rate, a.codec_context.layout.name) == (
            "aac",
            48000,
            "stereo",
        )
        seconds = sum(f.samples for f in c.decode(a)) / 48000
    assert seconds >= 0.4 - 0.01  # 20 x 960 samples: none lost
    assert len(read_video(tmp_path / "out.mp4")) == 10
    # and the container it names takes it: every audio packet copied untouched
    ok = run(src, "-o", tmp_path / "out.mkv", "--weights", tiny_weights, "--codec", "ffv1", "--quiet")
    assert ok.exit_code == 0, ok.output
    assert [p for p, _ in packets(tmp_path / "out.mkv", "audio")] == [p for p, _ in packets(src, "audio")]
    assert len(read_video(tmp_path / "out.mkv")) == 10


def test_attachment_and_data_streams_are_copied_where_they_fit_else_left_out_with_a_warning(
    tmp_path, tiny_weights, caplog
):
    mkv, mp4 = tmp_path / "fonts.mkv", tmp_path / "telemetry.mp4"
    with_attachment_and_data(mkv, "matroska")
    with_attachment_and_data(mp4, "mp4")
    # where the container holds them: copied
    assert run(mkv, "-o", tmp_path / "a.mkv", "--weights", tiny_weights, "-q").exit_code == 0
    with av.open(str(tmp_path / "a.mkv")) as c:
        assert [(s.name, bytes(s.data)) for s in c.streams.attachments] == [("font.ttf", b"FAKEFONT" * 10)]
    assert run(mp4, "-o", tmp_path / "d.mp4", "--weights", tiny_weights, "-q").exit_code == 0
    assert [p for p, _ in packets(tmp_path / "d.mp4", "data")] == [p for p, _ in packets(mp4, "data")] != []

    # where it cannot: one warning line naming the stream, its codec and a container that takes it
    def warnings() -> list[str]:
        got = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        caplog.clear()
        return got

    warnings()
    res = run(mkv, "-o", tmp_path / "a.mp4", "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    (warn,) = warnings()
    assert (
        "attachment stream #1 (font.ttf" in warn and ".mp4 file" in warn and "left out (write .mkv to keep it)" in warn
    ), warn
    assert len(read_video(tmp_path / "a.mp4")) == 6
    res = run(mp4, "-o", tmp_path / "d.mkv", "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    (warn,) = warnings()
    assert "data stream #1 (bin_data)" in warn and ".mkv file" in warn and "to keep it" in warn, warn
    assert len(read_video(tmp_path / "d.mkv")) == 6


@pytest.mark.parametrize("ext", [".mkv", ".mp4", ".mov"])
def test_aac_priming_does_not_move_any_timestamp(tmp_path, tiny_weights, ext):
    """An MP4's AAC starts 21.3 ms before the video (encoder priming); the output keeps
    every video and audio timestamp where the input has it, whatever the container."""
    src = tmp_path / "in.mp4"
    write_video(src, random_frames(12, 64, 48), codec="libx264", pix_fmt="yuv420p", audio=True)
    in_audio = [t for _, t in packets(src, "audio")]
    assert in_audio[0] < 0  # the priming this test is about
    out = tmp_path / f"out{ext}"
    res = run(src, "-o", out, "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    ms = Fraction(1, 1000)
    assert [round(p * tb / ms) for p, tb, _ in read_video(out)] == [round(p * tb / ms) for p, tb, _ in read_video(src)]
    out_audio = [t for _, t in packets(out, "audio")]
    assert len(out_audio) == len(in_audio)
    assert all(abs(a - b) <= ms for a, b in zip(out_audio, in_audio)), (
        out_audio[:3],
        in_audio[:3],
    )  # Matroska counts in ms


def test_matroska_cut_short_is_deblurred_to_its_end_with_a_warning(tmp_path, tiny_weights):
    full = tmp_path / "full.mkv"
    write_video(full, random_frames(60, 64, 48), audio=True)
    cut = tmp_path / "cut.mkv"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) * 22 // 100])
    res = run(cut, "-o", tmp_path / "out.mkv", "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    frames = len(read_video(tmp_path / "out.mkv"))
    assert 0 < frames < 60
    warn = res.stderr.strip()
    assert len(warn.splitlines()) == 1, warn
    assert warn.startswith("streamdeblur: warning:") and "cut.mkv" in warn and "cut short" in warn
    assert f"ended after {frames} frames" in warn and "about 60 frames" in warn and "2.40 s" in warn, warn
    # the whole file: no warning
    res = run(full, "-o", tmp_path / "whole.mkv", "--weights", tiny_weights, "-q")
    assert res.exit_code == 0 and res.stderr == "", res.stderr


def sound_late_ms(src: Path, out: Path, start: float | None = None, at: float = 0.1) -> float:
    """How late (ms) the output's first audio stream plays its sound against its picture, compared with the
    input: a stretch of the output's sound found in the input's, each timed from its file's first frame
    (the input's: from ``start``, the time of the input's frame that is the output's first)."""

    def timed(path: Path, start: float | None = None) -> tuple[float, int, np.ndarray]:
        with av.open(str(path)) as c:
            first = next(f for f in c.decode(video=0))
            v0 = float(first.pts * first.time_base) if start is None else start
        with av.open(str(path)) as c:
            frames = list(c.decode(audio=0))
        t0 = float(frames[0].pts * frames[0].time_base) if frames[0].pts is not None else 0.0
        sound = np.concatenate([f.to_ndarray()[0] if f.format.is_planar else f.to_ndarray()[0, ::2] for f in frames])
        return t0 - v0, frames[0].sample_rate, sound.astype(np.float64)

    (a0, rate, a), (b0, rate_out, b) = timed(src, start), timed(out)
    assert rate == rate_out
    w = int((at - b0) * rate)
    stretch = b[w : w + int(0.3 * rate)]
    k = int(np.argmax(np.abs(np.correlate(a, stretch, mode="valid"))))
    return ((b0 + w / rate) - (a0 + k / rate)) * 1000


@pytest.mark.parametrize("audio, within_ms", [("copy", 11), ("mp3", 0.1)])
def test_avi_plays_sound_that_starts_before_the_picture_in_sync(tmp_path, tiny_weights, caplog, audio, within_ms):
    """A camera's MP4 whose sound starts 0.5 s before its first frame, into AVI, which plays every stream
    from 0: the sound before the picture is left out, with a warning, so the rest plays in sync (before,
    it was kept and all the sound played 521 ms late; MP3's encoder delay made an MP4's sound 23 ms late).
    Copied AAC can be cut only between packets: within half of one."""
    src = tmp_path / "camera.mp4"
    write_video(src, random_frames(25, 64, 48), pts=[500 + 40 * i for i in range(25)], codec="libx264",
                pix_fmt="yuv420p", audio=True)  # fmt: skip
    out = tmp_path / "out.avi"
    res = run(src, "-o", out, "--audio", audio, "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    assert abs(sound_late_ms(src, out)) <= within_ms
    (warn,) = [r.getMessage() for r in caplog.records if "before its first frame" in r.getMessage()]
    assert "sound starts 0.5" in warn and "write .mkv or .mp4 to keep it" in warn, warn
    caplog.clear()
    plain = tmp_path / "plain.mp4"  # sound from the first frame (AAC's priming only): nothing to say, and in sync
    write_video(plain, random_frames(25, 64, 48), codec="libx264", pix_fmt="yuv420p", audio=True)
    res = run(plain, "-o", tmp_path / "plain.avi", "--audio", audio, "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    assert not [r for r in caplog.records if "before its first frame" in r.getMessage()]
    assert abs(sound_late_ms(plain, tmp_path / "plain.avi")) <= 0.1


@pytest.mark.parametrize("audio, within_ms", [("copy", 11), ("mp3", 0.1)])
def test_avi_of_a_part_plays_its_sound_in_sync(tmp_path, tiny_weights, audio, within_ms):
    """--start into AVI: its clock starts at the part's first frame, not at its video stream's start (which
    left the sound before the part's first frame and the encoder's delay in: 33 ms late with MP3 here)."""
    src = tmp_path / "camera.mp4"
    write_video(src, random_frames(60, 64, 48), codec="libx264", pix_fmt="yuv420p", rate=30, audio=True,
                time_base=Fraction(1, 90000), options={"g": "10", "bf": "2"})  # fmt: skip
    out = tmp_path / "part.avi"
    res = run(src, "-o", out, "--audio", audio, "--start", "0.51", "--duration", "1", "--weights", tiny_weights)
    assert res.exit_code == 0, res.output
    assert abs(sound_late_ms(src, out, start=16 / 30)) <= within_ms  # frame 16, the first at or after 0.51 s


@pytest.mark.parametrize("audio", ["copy", "mp3"])
def test_avi_plays_sound_that_starts_after_the_picture_in_sync(tmp_path, tiny_weights, caplog, audio):
    """Sound that starts 0.3 s after the first frame, into AVI (which plays every stream from 0): silence
    before it, so it plays in sync (before, it played 278 ms early copied, 255 ms as MP3). Copied AAC cannot
    be preceded by silence: it is encoded again, with a warning saying why and that .mkv keeps it."""
    src = tmp_path / "late-sound.mp4"
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=48000)
        a.layout = "stereo"
        made = []
        for i, img in enumerate(random_frames(40, 64, 48)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            made += v.encode(f)
        made += v.encode()
        rng = np.random.default_rng(0)
        for t in range(14400, 76800, 1024):  # 0.3 s to 1.6 s
            sound = av.AudioFrame.from_ndarray((rng.standard_normal((2, 1024)) * 0.1).astype(np.float32),
                                               format="fltp", layout="stereo")  # fmt: skip
            sound.sample_rate, sound.pts = 48000, t
            made += a.encode(sound)
        made += a.encode()
        for p in sorted(made, key=lambda p: p.dts * p.time_base):
            out.mux(p)
    out = tmp_path / "out.avi"
    res = run(src, "-o", out, "--audio", audio, "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    assert abs(sound_late_ms(src, out, at=0.6)) <= 0.1
    if audio == "copy":
        (warn,) = [r.getMessage() for r in caplog.records if "after the first frame" in r.getMessage()]
        assert "starts 0.28 s after" in warn and "encoded again as MP3" in warn and ".mkv" in warn, warn


def test_warnings_name_the_codec_as_ffprobe_does(tmp_path, tiny_weights, caplog):
    """An MP3 track WebM cannot hold is named 'mp3', as ffprobe names it, not by FFmpeg's decoder ('mp3float')."""
    src = tmp_path / "talk.mkv"
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("libmp3lame", rate=44100)
        a.layout = "mono"
        for i, img in enumerate(random_frames(5, 64, 48)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            out.mux(v.encode(f))
        out.mux(v.encode())
        for t in range(0, 8820, 1152):
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.float32), format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 44100, t
            out.mux(a.encode(sound))
        out.mux(a.encode())
    res = run(src, "-o", tmp_path / "out.webm", "--weights", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    (warn,) = [r.getMessage() for r in caplog.records if "audio stream #1" in r.getMessage()]
    assert "audio stream #1 (mp3) cannot be stored in a .webm file" in warn and "mp3float" not in warn, warn
