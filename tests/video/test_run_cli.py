"""`streamdeblur run` as a user meets it: progress and a final line, and every bad input as one
line with a non-zero exit and nothing under the output's name (Ctrl-C and the other signals:
test_stop_and_publish.py)."""

from __future__ import annotations

import socket
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import hidden, random_frames, read_video, sound_running_on, write_video

from streamdeblur.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["run", *map(str, args)])


def assert_one_line_error(res, *words: str, code_nonzero: bool = True) -> None:
    assert res.exit_code != 0 if code_nonzero else True
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("streamdeblur: error:"), err
    for w in words:
        assert w.lower() in err.lower(), err


def no_output(folder: Path, name: str = "out.mp4") -> None:
    """Nothing under the output's name, and no temporary file left beside it."""
    assert not (folder / name).exists()
    assert hidden(folder) == []


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    p = tmp_path / "clip.mp4"
    write_video(p, random_frames(12, 64, 48), codec="libx264", pix_fmt="yuv420p", audio=True)
    return p


def test_run_writes_output_with_progress_and_final_line(tmp_path, clip, tiny_weights):
    out = tmp_path / "out.mp4"
    res = invoke(clip, "-o", out, "--weights", tiny_weights, "--batch", "3")
    assert res.exit_code == 0, res.stderr
    assert "backend: auto:" in res.stderr  # auto says what it chose
    assert "12/12 frames" in res.stderr and "fps" in res.stderr and "ETA" in res.stderr
    final = res.stdout.strip().splitlines()[-1]
    assert final.startswith("done: 12 frames in") and "fps" in final and "on cpu" in final and "backend" in final
    assert len(read_video(out)) == 12
    assert hidden(tmp_path) == []


def test_a_matroska_whose_sound_runs_on_counts_its_own_frames(tmp_path, tiny_weights):
    """A Matroska's length is its longest track's: with the sound running on past the picture, the start
    line and the progress counted 61 frames of a 60-frame video (done at 60/61, as if one were lost); the
    video track's own DURATION tag counts it."""
    src = tmp_path / "talk.mkv"
    sound_running_on(src)
    res = invoke(src, "-o", tmp_path / "out.mkv", "--weights", tiny_weights)
    assert res.exit_code == 0, res.stderr
    assert "25 fps, 10 frames -> " in res.stderr and "10/10 frames" in res.stderr and "/11 frames" not in res.stderr


def test_quiet_prints_nothing(tmp_path, clip, tiny_weights):
    res = invoke(clip, "-o", tmp_path / "out.mkv", "--weights", tiny_weights, "--backend", "torch", "--quiet")
    assert res.exit_code == 0 and res.stdout == "" and res.stderr == ""
    assert len(read_video(tmp_path / "out.mkv")) == 12


def test_existing_output_is_refused_without_overwrite(tmp_path, clip, tiny_weights):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    res = invoke(clip, "-o", out, "--weights", tiny_weights)
    assert_one_line_error(res, "already exists", "--overwrite")
    assert out.read_bytes() == b"precious"
    res = invoke(clip, "-o", out, "--weights", tiny_weights, "--overwrite", "--quiet")
    assert res.exit_code == 0 and len(read_video(out)) == 12


def _silence(out) -> None:
    """Ten AAC frames of silence into the open container ``out``."""
    a = out.add_stream("aac", rate=48000)
    for k in range(10):
        af = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        af.sample_rate, af.pts = 48000, k * 1024
        for p in a.encode(af):
            out.mux(p)
    for p in a.encode():
        out.mux(p)


def _zero_frame_video(path: Path) -> None:
    """A video stream that never gets a frame (only audio packets are muxed)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 32, 32, "bgr0"
        _silence(out)


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w") as out:
        _silence(out)


def _truncated_mp4(path: Path, tmp: Path) -> None:
    full = tmp / "full.mp4"
    write_video(full, random_frames(20, 64, 48), codec="libx264", pix_fmt="yuv420p")
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    full.unlink()


@pytest.mark.parametrize(
    "case,words",
    [
        ("missing", ["not found"]),
        ("not_video", ["not a video"]),
        ("truncated", ["truncated"]),
        ("zero_frames", ["no frames"]),
        ("audio_only", ["audio only"]),
        ("folder", ["folder"]),
    ],
)
def test_bad_input_gives_one_line_error_and_no_output(tmp_path, tiny_weights, case, words):
    src_dir = tmp_path / "in"
    src_dir.mkdir()
    src = src_dir / "input.mp4"
    if case == "not_video":
        src.write_text("these are not the frames you are looking for\n" * 50)
    elif case == "truncated":
        _truncated_mp4(src, src_dir)
    elif case == "zero_frames":
        src = src_dir / "input.mkv"
        _zero_frame_video(src)
    elif case == "audio_only":
        src = src_dir / "input.m4a"
        _audio_only(src)
    elif case == "folder":
        src = src_dir
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    res = invoke(src, "-o", out_dir / "out.mp4", "--weights", tiny_weights)
    assert_one_line_error(res, *words)
    assert str(src.name) in res.stderr
    no_output(out_dir)


@pytest.mark.parametrize("where", ["missing_folder", "parent_is_a_file"])
def test_unwritable_output_folder(tmp_path, clip, tiny_weights, where):
    if where == "missing_folder":
        out = tmp_path / "no" / "such" / "out.mp4"
    else:
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "out.mp4"
    res = invoke(clip, "-o", out, "--weights", tiny_weights)
    assert_one_line_error(res, "folder")
    assert not out.exists()


def test_unknown_container_extension(tmp_path, clip, tiny_weights):
    res = invoke(clip, "-o", tmp_path / "out.xyz", "--weights", tiny_weights)
    assert_one_line_error(res, "container", ".mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "weights"]


def test_url_nobody_listens_on(tmp_path, tiny_weights):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # now nothing listens there
    res = invoke(
        f"rtsp://127.0.0.1:{port}/cam", "-o", tmp_path / "out.mp4", "--weights", tiny_weights, "--timeout", "2"
    )
    assert_one_line_error(res, f"127.0.0.1:{port}", "refused")
    no_output(tmp_path)


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_url_that_accepts_but_never_speaks_times_out(tmp_path, tiny_weights, scheme):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    conns: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                c, _ = server.accept()
                conns.append(c)  # hold it open, say nothing
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    try:
        t0 = time.monotonic()
        res = invoke(
            f"{scheme}://127.0.0.1:{port}/live", "-o", tmp_path / "out.mp4", "--weights", tiny_weights, "--timeout", "1"
        )
        elapsed = time.monotonic() - t0
    finally:
        server.close()
        for c in conns:
            c.close()
    assert_one_line_error(res, "did not answer within 1 s")
    assert elapsed < 8
    no_output(tmp_path)


def test_explicit_backend_that_cannot_run_is_an_error(tmp_path, clip, tiny_weights):
    res = invoke(clip, "-o", tmp_path / "out.mp4", "--weights", tiny_weights, "--device", "cuda", "--backend", "torch")
    if res.exit_code == 0:
        pytest.skip("this machine has CUDA")
    assert_one_line_error(res, "cuda")
    no_output(tmp_path)


@pytest.mark.parametrize(("name", "tag"), [("phone.mp4", "hvc1"), ("edit.mov", "hvc1"), ("archive.mkv", "")])
def test_hevc_in_mp4_and_mov_is_tagged_for_apple_players(tmp_path, tiny_weights, name, tag):
    """QuickTime, iOS and Safari play HEVC in MP4/MOV only tagged hvc1; FFmpeg writes hev1 unless told
    (-tag:v hvc1), so a creator's HEVC export did not play on an iPhone. Matroska has no such tag."""
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(4, 64, 48), rate=10)
    out = tmp_path / name
    res = invoke(src, "-o", out, "-w", tiny_weights, "--codec", "libx265")
    assert res.exit_code == 0, res.stderr
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "hevc" and (v.codec_tag or "").strip("\x00") == tag
        assert len(list(c.decode(video=0))) == 4


def _top_boxes(path: Path) -> list[str]:
    import struct

    data, names, i = path.read_bytes(), [], 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        names.append(kind.decode("latin1"))
        if size < 8:
            break
        i += size
    return names


@pytest.mark.parametrize("name", ["web.mp4", "edit.mov"])
def test_mp4_and_mov_have_their_index_first_for_web_players(tmp_path, tiny_weights, name):
    """A browser or a progressive download starts playing once it has the index (moov): written at the
    end (FFmpeg's default), the whole file must arrive first ("web optimized": -movflags +faststart)."""
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(4, 64, 48), rate=10, audio=True)
    out = tmp_path / name
    res = invoke(src, "-o", out, "-w", tiny_weights)
    assert res.exit_code == 0, res.stderr
    boxes = _top_boxes(out)
    assert "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat"), boxes
    assert len(read_video(out)) == 4


@pytest.mark.parametrize(
    ("name", "codec", "words"),
    [
        # the container refuses the codec (FFmpeg's mov muxer writes VP9 only into .mp4)
        ("edit.mov", "libvpx-vp9", ["the mov format cannot hold libvpx-vp9 video", "vp9 only supported in mp4",
                                    ".mkv"]),
        # the muxer has no such codec at all (it was "cannot add a libx265 stream to a avi file", no fix)
        ("edit.avi", "libx265", ["the avi format cannot hold libx265 video", "does not support", "write .mkv"]),
        # MPEG-TS takes VP9, but writes it as private data: a file with sound and no picture, said before any work
        ("edit.ts", "libvpx-vp9", ["libvpx-vp9 video in mpeg-ts is read back as data", "write .mkv"]),
        # the encoder refuses the picture (DNxHR: 256x120 and larger)
        ("edit.mov", "dnxhd", ["the dnxhd encoder cannot encode this video (64x48", "at least 256x120",
                               "choose another --codec", "libx264"]),
    ],
)  # fmt: skip
def test_an_encoder_or_container_that_refuses_is_one_line_with_ffmpegs_reason(tmp_path, clip, tiny_weights, name,
                                                                              codec, words):  # fmt: skip
    """Before: `copying a audio packet to edit.mov failed: Invalid argument` (the first packet writes the
    header, so the audio was blamed) or `encoding frame 0 ... failed: Invalid argument`."""
    res = invoke(clip, "-o", tmp_path / name, "-w", tiny_weights, "--codec", codec)
    assert_one_line_error(res, *words)
    assert "audio" not in res.stderr
    no_output(tmp_path, name)


@pytest.mark.parametrize(
    ("given", "encoder", "stream"),
    [("h264", "libx264", "h264"), ("HEVC", "libx265", "hevc"), ("vp9", "libvpx-vp9", "vp9")],
)
def test_codec_takes_a_formats_name_as_ffmpeg_does(tmp_path, clip, tiny_weights, given, encoder, stream):
    """`--codec h264` (FFmpeg's -c:v h264) was "'h264' is not a video encoder": a format's name is its
    encoder here, said in the start line, with that encoder's --crf."""
    out = tmp_path / ("out.webm" if stream == "vp9" else "out.mkv")
    res = invoke(clip, "-o", out, "-w", tiny_weights, "--codec", given, "--crf", "30")
    assert res.exit_code == 0, res.output
    assert f"encoder {encoder}" in res.output and "crf 30" in res.output
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == stream
    assert_one_line_error(invoke(clip, "-o", tmp_path / "x.mkv", "--codec", "aac"), "'aac' is not a video encoder")


def test_mjpeg_output_is_full_range_as_jpeg_is(tmp_path, tiny_weights):
    """An AVI of MJPEG (what old editing tools, webcams and some robot stacks take): FFmpeg's encoder
    refuses limited-range YUV, so it is written full range, and the picture comes back as it went in."""
    _, xx = np.mgrid[0:48, 0:64]
    ramp = np.repeat((xx * 255 // 63).astype(np.uint8)[..., None], 3, -1)  # black to white
    src, out = tmp_path / "ramp.mkv", tmp_path / "robot.avi"
    write_video(src, [ramp] * 6)  # lossless
    res = invoke(src, "-o", out, "-w", tiny_weights, "--codec", "mjpeg", "-q")
    assert res.exit_code == 0, res.stderr
    got = read_video(out)
    assert len(got) == 6
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.color_range == 2  # full (JPEG) range
    for _, _, g in got:  # every level where it was, black and white included (no range squeezed or stretched)
        assert np.abs(g.astype(int) - ramp.astype(int)).mean() < 3
        assert g.min() <= 8 and g.max() >= 245  # squeezed into limited range: 16 and 235


def test_an_animated_gif_keeps_every_frame_its_time_and_its_colours(tmp_path, tiny_weights, caplog):
    """-o clip.gif: what a creator posts. Each frame gets its own 256 colours (FFmpeg's default palette is
    a fixed 3-3-2 one), the delays are the frames' times in hundredths of a second, and it loops."""
    yy, xx = np.mgrid[0:48, 0:64]
    frames = [np.stack([(xx * 4 + 9 * i) % 256, yy * 5, 255 - xx * 4], -1).astype(np.uint8) for i in range(10)]
    src, out = tmp_path / "clip.mkv", tmp_path / "clip.gif"
    write_video(src, frames, audio=True)  # 25 fps, lossless, and sound a GIF cannot hold
    res = invoke(src, "-o", out, "-w", tiny_weights, "-q")
    assert res.exit_code == 0, res.stderr
    got = read_video(out)
    assert [float(p * tb) for p, tb, _ in got] == [i * 0.04 for i in range(10)]
    for (_, _, g), f in zip(got, frames):  # the identity model: each frame's colours, within a palette's dither
        fixed = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="rgb8").to_ndarray(format="rgb24")
        err, fixed_err = (np.abs(x.astype(int) - f.astype(int)).mean() for x in (g, fixed))
        assert err < 6 and err < fixed_err / 2, (err, fixed_err)  # less than half a fixed 3-3-2 palette's error
    assert b"NETSCAPE2.0" in out.read_bytes()  # loops forever
    assert "audio is left out: a GIF holds pictures only" in caplog.text


def test_a_gif_made_from_a_gif_plays_as_often_as_it_did(tmp_path, tiny_weights):
    """A GIF made to play once (a reaction that ends on its last frame) or three times came out looping for
    ever: the gif muxer's default. The input's loop count is now carried."""
    src = tmp_path / "clip.mkv"
    write_video(src, random_frames(3, 64, 48))
    forever = tmp_path / "forever.gif"
    assert invoke(src, "-o", forever, "-w", tiny_weights, "-q").exit_code == 0
    block = b"\x21\xff\x0bNETSCAPE2.0\x03\x01"
    data = forever.read_bytes()
    at = data.index(block) + len(block)
    assert data[at : at + 2] == b"\x00\x00"  # a video into a GIF: for ever
    (tmp_path / "three.gif").write_bytes(data[:at] + b"\x03\x00" + data[at + 2 :])
    (tmp_path / "once.gif").write_bytes(data[: at - len(block)] + data[at + 3 :])  # no block: plays once
    for name, want in (("three", block + b"\x03\x00"), ("once", None), ("forever", block + b"\x00\x00")):
        out = tmp_path / f"out-{name}.gif"
        res = invoke(tmp_path / f"{name}.gif", "-o", out, "-w", tiny_weights, "-q")
        assert res.exit_code == 0, res.stderr
        assert len(read_video(out)) == 3
        got = out.read_bytes()
        assert (want in got) if want else (b"NETSCAPE2.0" not in got), name


def test_a_gif_of_a_clip_above_50_fps_says_it_will_not_play_at_its_rate(tmp_path, tiny_weights, caplog):
    """A 60 fps clip into a GIF gets delays of 0.01 and 0.02 s, and browsers show 0.01 s as 0.1 s: it played
    unevenly and slow with no word."""
    fast, slow = tmp_path / "fast.mkv", tmp_path / "slow.mkv"
    write_video(fast, random_frames(4, 32, 24), rate=60, time_base=Fraction(1, 60))
    write_video(slow, random_frames(4, 32, 24))
    with caplog.at_level("WARNING", logger="streamdeblur"):
        assert invoke(slow, "-o", tmp_path / "slow.gif", "-w", tiny_weights, "-q").exit_code == 0
        assert "hundredths" not in caplog.text
        assert invoke(fast, "-o", tmp_path / "fast.gif", "-w", tiny_weights, "-q").exit_code == 0
    (said,) = [r.getMessage() for r in caplog.records if "hundredths" in r.getMessage()]
    assert "at 60 fps" in said and "write .mp4 or .webm" in said
    assert len(read_video(tmp_path / "fast.gif")) == 4  # every frame still there


def test_the_header_says_the_rate_as_ffmpeg_does(tmp_path, tiny_weights):
    """NTSC's 29.97 fps is not 30: a video engineer checks the rate on the first line."""
    src = tmp_path / "ntsc.mkv"
    write_video(src, random_frames(3, 64, 48), rate=Fraction(30000, 1001), time_base=Fraction(1001, 30000))
    res = invoke(src, "-o", tmp_path / "out.mkv", "--weights", tiny_weights)
    assert res.exit_code == 0, res.stderr
    assert "64x48 29.97 fps, 3 frames ->" in res.stderr, res.stderr
