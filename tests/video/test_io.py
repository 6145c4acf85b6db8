"""Reader and writer on real files: an identity model through a lossless codec gives back
exactly the input: same frames, same timestamps, same audio packets."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from videofiles import (
    half_of_a_fast_start_mp4,
    hidden,
    packets,
    random_frames,
    read_video,
    with_captions,
    write_video,
)

from streamdeblur import deblur_video
from streamdeblur.api import RunOptions
from streamdeblur.errors import InputError
from streamdeblur.models import build_model
from streamdeblur.video.containers import NVENC_CODECS, check_encoder_settings
from streamdeblur.video.sinks import FileSink
from streamdeblur.video.sources import open_source


def identity():
    return build_model("deblurgan-lite", width=8, enc_blocks=[1], dec_blocks=[1], middle_blocks=1)


def run(src, dst, **kw):
    kw.setdefault("backend", "torch")
    kw.setdefault("device", "cpu")
    return deblur_video(src, dst, RunOptions(**kw), generator=identity())


@pytest.mark.parametrize(
    "ext,codec,pix_fmt,time_base,pts",
    [
        (".mkv", "ffv1", "bgr0", Fraction(1, 1000), [i * 40 for i in range(12)]),  # constant frame rate
        (".mkv", "ffv1", "bgr0", Fraction(1, 1000), [0, 33, 40, 100, 101, 250, 260, 400, 433, 900]),  # variable
        (
            ".mp4",
            "libx264rgb",
            "rgb24",
            Fraction(1, 90000),
            [0, 3000, 3600, 9000, 9090, 22500, 23400, 36000],
        ),  # variable
    ],
    ids=["cfr-ffv1", "vfr-ffv1", "vfr-x264rgb-qp0"],
)
def test_identity_through_lossless_codec_is_bit_exact_with_same_pts(tmp_path, ext, codec, pix_fmt, time_base, pts):
    frames = random_frames(len(pts), 96, 64)
    src, dst = tmp_path / f"in{ext}", tmp_path / f"out{ext}"
    write_video(
        src,
        frames,
        pts=pts,
        time_base=time_base,
        codec=codec,
        pix_fmt=pix_fmt,
        options={"qp": "0"} if codec == "libx264rgb" else None,
    )
    result = run(src, dst, codec=codec, batch=3)
    a, b = read_video(src), read_video(dst)
    assert result.frames == len(frames) == len(b)
    assert [p * tb for p, tb, _ in a] == [p * tb for p, tb, _ in b]  # every timestamp, exactly
    assert [p * tb for p, tb, _ in b] == [p * time_base for p in pts]
    for (_, _, x), (_, _, y), orig in zip(a, b, frames):
        assert np.array_equal(x, orig) and np.array_equal(y, orig)


def video_ends(path: Path) -> list[tuple[float, float]]:
    """(time, duration) in ms of each video packet, in presentation order."""
    with av.open(str(path)) as c:
        got = sorted((p for p in c.demux(c.streams.video[0]) if p.size), key=lambda p: p.pts)
    return [(float(p.pts * p.time_base * 1000), float(p.duration * p.time_base * 1000)) for p in got]


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".mov"])
def test_a_variable_rate_videos_last_frame_keeps_its_own_duration(tmp_path, ext):
    """A phone's variable-rate MP4 whose last frame shows for 150 ms: the output shows it as long, so it
    plays as long as the input (before, the muxer gave it the mean frame time, 57 ms: 93 ms short)."""
    pts = [0, 40, 80, 100, 200, 240, 260, 300, 400, 420]
    shows = {p: b - p for p, b in zip(pts, [*pts[1:], 570])}
    src = tmp_path / "phone.mp4"
    with av.open(str(src), "w") as out:
        s = out.add_stream("libx264", rate=25, options={"bf": "0"})
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        for img, t in [*zip(random_frames(len(pts), 64, 48), pts), (None, None)]:
            f = None
            if img is not None:
                f = av.VideoFrame.from_ndarray(img, format="rgb24")
                f.pts, f.time_base = t, Fraction(1, 1000)
            for pk in s.encode(f):
                pk.duration = shows[pk.pts]
                out.mux(pk)
    assert video_ends(src)[-1] == (420, 150)
    dst = tmp_path / f"out{ext}"
    run(src, dst)
    got = video_ends(dst)
    assert [t for t, _ in got] == pts
    assert got[-1] == (420, 150)  # the last frame's own 150 ms; the video ends at 570 ms, as the input does


@pytest.mark.parametrize(
    "ext,codec,pix_fmt",
    [(".mp4", "libx264rgb", None), (".mkv", "ffv1", "bgr0"), (".mov", "libx264rgb", None)],
    ids=["x264rgb-mp4", "ffv1-bgr0", "x264rgb-mov"],
)
def test_rgb_output_of_a_bt709_video_decodes_to_the_same_colours(tmp_path, ext, codec, pix_fmt):
    """A camera's or phone's video is YUV tagged BT.709; written losslessly as RGB, its output must not
    carry the YUV matrix tag, or every decoder reads the G/B/R planes as Y/Cb/Cr (colours wrecked)."""
    src, dst = tmp_path / "in.mp4", tmp_path / f"out{ext}"
    write_video(src, random_frames(6, 64, 48), codec="libx264", pix_fmt="yuv420p", colour=(1, 1, 1, 1))
    run(src, dst, codec=codec, pix_fmt=pix_fmt)
    a, b = read_video(src), read_video(dst)
    assert len(a) == len(b) == 6
    for (_, _, x), (_, _, y) in zip(a, b):
        assert np.array_equal(x, y)
    with av.open(str(dst)) as c:
        cc = c.streams.video[0].codec_context
        assert cc.colorspace == 0  # AVCOL_SPC_RGB: no YUV matrix
        assert (cc.color_primaries, cc.color_trc) == (1, 1)  # the source's primaries and transfer are kept


def _with_alpha(path, codec: str, pix_fmt: str, alphas: list[np.ndarray]) -> list[np.ndarray]:
    """A 64x48 clip of ``codec`` in ``pix_fmt`` whose frames have the alpha planes ``alphas``; returns its colour."""
    frames = random_frames(len(alphas), 64, 48)
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, pix_fmt
        for img, alpha in zip(frames, alphas):
            rgba = av.VideoFrame.from_ndarray(np.dstack([img, alpha]), format="rgba")
            for p in s.encode(rgba.reformat(format=pix_fmt)):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return frames


def test_an_input_with_transparency_says_the_output_drops_it(tmp_path, caplog):
    src = tmp_path / "overlay.mov"  # QuickTime Animation with alpha, as motion-graphics tools export
    frames = _with_alpha(src, "qtrle", "argb", [np.full((48, 64), 100, np.uint8)] * 3)
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        run(src, tmp_path / "out.mkv", codec="ffv1")
    said = [r.getMessage() for r in caplog.records if "alpha" in r.getMessage()]
    assert len(said) == 1 and "argb" in said[0] and "transparency is dropped" in said[0]
    assert [y for _, _, y in read_video(tmp_path / "out.mkv")][0].tolist() == frames[0].tolist()  # colour kept
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):  # an opaque input: nothing said
        write_video(tmp_path / "opaque.mkv", frames)
        run(tmp_path / "opaque.mkv", tmp_path / "out2.mkv", codec="ffv1")
    assert not [r for r in caplog.records if "alpha" in r.getMessage()]


@pytest.mark.parametrize("kind", ["gif", "opaque argb"])
def test_an_input_with_an_alpha_channel_but_nothing_transparent_says_nothing_of_transparency(tmp_path, caplog, kind):
    """FFmpeg decodes every GIF as bgra, and screen recorders write RGBA that is opaque everywhere:
    there is no transparency to drop, so no warning that it is dropped."""
    src = tmp_path / ("clip.gif" if kind == "gif" else "capture.mov")
    opaque = [np.full((48, 64), 255, np.uint8)] * 3
    _with_alpha(src, "gif" if kind == "gif" else "qtrle", "rgb8" if kind == "gif" else "argb", opaque)
    with av.open(str(src)) as c:  # what makes the warning a question at all
        assert next(c.decode(video=0)).format.name in ("bgra", "argb")
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        run(src, tmp_path / "out.mkv", codec="ffv1")
    assert not [r for r in caplog.records if "alpha" in r.getMessage()]
    assert len(read_video(tmp_path / "out.mkv")) == 3


@pytest.mark.parametrize("codec,pix_fmt", [("qtrle", "argb"), ("ffv1", "yuva420p"), ("png", "rgba")])
def test_transparency_that_appears_later_is_warned_about_once(tmp_path, caplog, codec, pix_fmt):
    """An overlay opaque at first, a cut-out from frame 2 on: the first frame alone said nothing."""
    src = tmp_path / ("overlay.mkv" if codec == "ffv1" else "overlay.mov")
    alphas = [np.full((48, 64), 255, np.uint8) for _ in range(4)]
    for alpha in alphas[2:]:
        alpha[10:20, 10:20] = 0
    _with_alpha(src, codec, pix_fmt, alphas)
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        run(src, tmp_path / "out.mkv", codec="ffv1")
    said = [r.getMessage() for r in caplog.records if "transparen" in r.getMessage()]
    assert len(said) == 1 and "turns transparent at frame 2" in said[0], said
    assert len(read_video(tmp_path / "out.mkv")) == 4


def test_a_stream_that_changes_resolution_is_scaled_to_its_first_size_with_every_frame_kept(tmp_path, caplog):
    """An adaptive (HLS) stream or recordings joined end to end: MPEG-TS parts of two sizes. As FFmpeg
    does, frames of the new size are scaled to the first, said once; not the whole run refused."""

    def part(w: int, h: int, shades: range) -> bytes:
        path = tmp_path / f"{w}.ts"
        with av.open(str(path), "w", format="mpegts") as out:
            s = out.add_stream("libx264", rate=30)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            encode = [av.VideoFrame.from_ndarray(np.full((h, w, 3), v, np.uint8), format="rgb24") for v in shades]
            for f in encode:
                for p in s.encode(f):
                    out.mux(p)
            for p in s.encode():
                out.mux(p)
        return path.read_bytes()

    src = tmp_path / "adaptive.ts"
    src.write_bytes(part(128, 96, range(20, 120, 10)) + part(160, 120, range(130, 230, 10)))
    seen = []
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        opts = RunOptions(backend="torch", device="cpu", codec="ffv1")
        deblur_video(src, tmp_path / "out.mkv", opts, generator=identity(), on_progress=seen.append)
    said = [r.getMessage() for r in caplog.records if "changes resolution" in r.getMessage()]
    # the header's frame count (18, from the first part's rate) is an estimate: past it, no total
    assert any(p.total for p in seen) and all(p.total is None or p.frames_done <= p.total for p in seen)
    assert seen[-1].frames_done == 20
    assert len(said) == 1 and "at frame 10 (128x96 -> 160x120)" in said[0] and "scaled to 128x96" in said[0]
    got = read_video(tmp_path / "out.mkv")
    assert len(got) == 20 and all(img.shape == (96, 128, 3) for _, _, img in got)
    shades = [int(np.median(img)) for _, _, img in got]
    assert all(abs(a - b) <= 3 for a, b in zip(shades, [*range(20, 120, 10), *range(130, 230, 10)])), shades


def test_a_second_video_stream_is_named_as_left_out(tmp_path, caplog):
    """Two camera angles in one MKV: the first is deblurred, the other is not in the output, and a
    warning says so (FFmpeg's default also keeps one video stream, silently)."""
    src = tmp_path / "two.mkv"
    with av.open(str(src), "w") as out:
        main, other = out.add_stream("ffv1", rate=25), out.add_stream("libx264", rate=25)
        for s, (w, h) in ((main, (64, 48)), (other, (32, 32))):
            s.width, s.height, s.pix_fmt = w, h, "bgr0" if s is main else "yuv420p"
        for i, img in enumerate(random_frames(4, 64, 48)):
            for s, f in (
                (main, av.VideoFrame.from_ndarray(img, format="rgb24")),
                (other, av.VideoFrame(32, 32, "yuv420p")),
            ):
                f.pts = i
                for p in s.encode(f if s is other else f.reformat(format="bgr0")):
                    out.mux(p)
        for s in (main, other):
            for p in s.encode():
                out.mux(p)
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        run(src, tmp_path / "out.mkv", codec="ffv1")
    said = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert said == ["video stream #1 (h264, 32x32) is left out: streamdeblur deblurs one video stream, #0"]
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert [s.type for s in c.streams] == ["video"] and c.streams.video[0].codec_context.width == 64


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_audio_packets_are_copied_untouched(tmp_path, ext):
    src, dst = tmp_path / f"in{ext}", tmp_path / f"out{ext}"
    write_video(src, random_frames(20, 64, 48), audio=True)
    run(src, dst, codec="ffv1" if ext == ".mkv" else "libx264rgb")
    before, after = packets(src, "audio"), packets(dst, "audio")
    assert len(before) > 30
    assert after == before  # bytes and presentation times, packet for packet
    with av.open(str(dst)) as c:
        assert c.streams.audio[0].codec_context.name == "aac" and c.streams.audio[0].codec_context.sample_rate == 48000


def test_subtitles_copied_into_mkv_converted_for_mp4_and_left_out_of_ts_with_a_warning(tmp_path, caplog):
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(20, 64, 48), audio=True, subtitles=True)
    run(src, tmp_path / "out.mkv", codec="ffv1")
    assert [p[0] for p in packets(tmp_path / "out.mkv", "subtitle")] == [b"hello", b"world"]
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / "out.mp4")
    # MP4 takes no SRT: converted to its timed text, each line at its time (mov_text: 2 bytes of length, the text)
    assert [p for p in packets(tmp_path / "out.mp4", "subtitle") if len(p[0]) > 2] == [
        (b"\x00\x05hello", 0),
        (b"\x00\x05world", Fraction(1, 2)),
    ]
    assert packets(tmp_path / "out.mp4", "audio") == packets(src, "audio")
    assert "subtitle" in caplog.text and "converted to MP4 timed text" in caplog.text and ".mkv" in caplog.text
    caplog.clear()
    # MPEG-TS takes no text subtitles at all: left out with a warning (it took SRT as an unreadable data stream)
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / "out.ts")
    with av.open(str(tmp_path / "out.ts")) as c:
        assert sorted(s.type for s in c.streams) == ["audio", "video"]
    assert "subtitle stream #2 (subrip)" in caplog.text and "left out (write .mkv to keep it)" in caplog.text


def test_odd_size_frames_round_trip(tmp_path):
    frames = random_frames(5, 63, 37)
    src, dst = tmp_path / "odd.mkv", tmp_path / "odd_out.mkv"
    write_video(src, frames)
    run(src, dst, codec="ffv1")
    out = read_video(dst)
    assert len(out) == 5 and all(np.array_equal(o[2], f) for o, f in zip(out, frames))
    # and a lossy codec picks a pixel format that takes odd sizes instead of failing
    run(src, tmp_path / "odd.mp4")
    assert [f[2].shape for f in read_video(tmp_path / "odd.mp4")] == [(37, 63, 3)] * 5


def _pix_fmt(path) -> str:
    with av.open(str(path)) as c:
        return c.streams.video[0].codec_context.pix_fmt


@pytest.mark.parametrize("codec,ext", [("libvpx-vp9", ".webm"), ("libsvtav1", ".mp4"), ("ffv1", ".mkv")])
def test_odd_size_4_2_0_stays_4_2_0_where_the_codec_takes_it(tmp_path, caplog, codec, ext):
    """VP9, AV1 and FFV1 take a 65x37 4:2:0 picture as it is; only H.264 and HEVC need even sizes."""
    src = tmp_path / "odd.mkv"
    write_video(src, random_frames(3, 65, 37), codec="ffv1", pix_fmt="yuv420p")
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / f"out{ext}", codec=codec)
    assert _pix_fmt(tmp_path / f"out{ext}") == "yuv420p"
    assert [f[2].shape for f in read_video(tmp_path / f"out{ext}")] == [(37, 65, 3)] * 3
    assert "odd frame size" not in caplog.text


@pytest.mark.parametrize("pix_fmt,written", [("yuv420p", "yuv444p"), ("yuv420p10le", "yuv444p10le")])
def test_odd_size_into_h264_warns_that_4_4_4_plays_in_few_players(tmp_path, caplog, pix_fmt, written):
    """An odd-size 10-bit source once got nv20le (4:2:2 in another spelling), which x264 then refused."""
    src = tmp_path / "odd.mkv"
    write_video(src, random_frames(3, 65, 37), codec="ffv1", pix_fmt=pix_fmt)
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / "out.mp4")
    assert _pix_fmt(tmp_path / "out.mp4") == written
    assert [f[2].shape for f in read_video(tmp_path / "out.mp4")] == [(37, 65, 3)] * 3
    line = next(r.getMessage() for r in caplog.records if "odd frame size" in r.getMessage())
    assert f"65x37: libx264's {pix_fmt} needs even sizes, so it writes {written}" in line
    assert "do not play" in line and "--codec libvpx-vp9" in line and "--crop-even" in line


def test_ten_bit_input_is_read_and_colour_tags_are_kept(tmp_path):
    frames = random_frames(6, 4, 3)
    smooth = [np.repeat(np.repeat(f, 16, 0), 16, 1) for f in frames]  # saturated 16x16 patches: survive 4:2:0
    src, dst = tmp_path / "ten.mkv", tmp_path / "ten_out.mkv"
    bt709_limited = (1, 1, 1, 1)  # primaries, transfer, matrix, range
    write_video(src, smooth, codec="ffv1", pix_fmt="yuv420p10le", colour=bt709_limited)
    with open_source(src) as s:
        assert s.info.bit_depth == 10 and s.info.pix_fmt == "yuv420p10le"
        deep = [f.image for f in s]
    assert all(g.dtype == np.uint16 for g in deep)  # 10 bits kept, not crushed to 8 (issue 27)
    got = [np.round(g / 257.0) for g in deep]  # on the 8-bit scale of `smooth`
    # decoded with the file's own matrix and range (BT.601 or full range would be off by far more)
    # (patch centres, away from chroma interpolation at patch edges)
    assert all(np.abs(g - f)[8::16, 8::16].max() <= 4 for g, f in zip(got, smooth))
    run(src, dst, codec="ffv1")
    with av.open(str(dst)) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == bt709_limited
        assert cc.pix_fmt == "yuv420p10le"  # the source's format is kept when the encoder takes it
    out = [f[2] for f in read_video(dst)]
    assert all(np.abs(o.astype(int) - g)[8::16, 8::16].max() <= 4 for o, g in zip(out, got))


def test_rotation_is_carried(tmp_path):
    src, dst = tmp_path / "rot.mp4", tmp_path / "rot_out.mp4"
    write_video(src, random_frames(4, 64, 48), codec="libx264", pix_fmt="yuv420p", rotation=90)
    with open_source(src) as s:
        assert s.info.rotation == 90 and (s.info.width, s.info.height) == (64, 48)
    run(src, dst)
    with av.open(str(dst)) as c:
        f = next(c.decode(video=0))
        assert f.rotation == 90 and (f.width, f.height) == (64, 48)


def test_truncated_mp4_with_index_first_is_an_error(tmp_path):
    """A 'fast start' MP4 (index first) cut short still opens in FFmpeg; the missing frames must not pass silently."""
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(half_of_a_fast_start_mp4(tmp_path))
    with pytest.raises(InputError, match="truncated"):
        open_source(cut)  # refused up front, before any frame is processed


def test_sink_refuses_existing_output_and_close_renames(tmp_path):
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(3, 32, 32))
    dst = tmp_path / "out.mkv"
    with open_source(src) as s:
        sink = FileSink(dst, s.info, codec="ffv1")
        assert not dst.exists()  # nothing under the final name while writing
        for f in s:
            sink.write(f)
        assert not dst.exists()
        assert sink.close() == dst
    assert dst.exists() and len(read_video(dst)) == 3
    assert hidden(tmp_path) == []  # no temp left
    with open_source(src) as s:
        with pytest.raises(FileExistsError, match="--overwrite"):
            FileSink(dst, s.info)
        sink = FileSink(dst, s.info, overwrite=True)
        sink.abort()
    assert len(read_video(dst)) == 3  # an aborted overwrite leaves the old file alone


def test_an_rgb_master_stays_rgb_in_a_lossless_encoder(tmp_path):
    """A PNG-in-MOV (or QuickTime Animation) master is RGB: FFV1 took it as 4:2:0 YUV, losing colour."""
    frames = random_frames(4, 64, 48)
    src, dst = tmp_path / "master.mov", tmp_path / "out.mkv"
    write_video(src, frames, codec="png", pix_fmt="rgb24")
    run(src, dst, codec="ffv1")
    with av.open(str(dst)) as c:
        assert c.streams.video[0].codec_context.pix_fmt in ("bgr0", "gbrp", "rgb24")
    assert all(np.array_equal(o[2], f) for o, f in zip(read_video(dst), frames))


def _anamorphic(path, sar=Fraction(4, 3)):
    """A 64x48 H.264 clip whose pixels are 4:3 wide (shown 85x48, 16:9: as DV, DVD and HDV 1440x1080 are)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.sample_aspect_ratio = sar
        for f in random_frames(3, 64, 48):
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.mark.parametrize("name,codec", [("out.mp4", None), ("out.mkv", None), ("out.mp4", "libvpx-vp9")])
def test_non_square_pixels_stay_non_square(tmp_path, caplog, name, codec):
    """A DV or HDV clip's output is shown 16:9 as its input is, not squeezed to 4:3."""
    src = tmp_path / "dv.mp4"
    _anamorphic(src)
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / name, codec=codec)
    with av.open(str(tmp_path / name)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height, v.sample_aspect_ratio) == (64, 48, Fraction(4, 3))
    assert "not square" not in caplog.text


def test_non_square_pixels_where_the_output_cannot_say_so_warn(tmp_path, caplog):
    src = tmp_path / "dv.mp4"
    _anamorphic(src)
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / "out.mkv", codec="ffv1")
    line = next(r.getMessage() for r in caplog.records if "not square" in r.getMessage())
    assert "4:3, shown 85x48" in line and "ffv1 in .mkv" in line and "libx264" in line


def _captions(path) -> list[bytes | None]:
    with av.open(str(path)) as c:
        return [
            bytes(sd) if (sd := f.side_data.get(av.sidedata.sidedata.Type.A53_CC)) is not None else None
            for f in c.decode(video=0)
        ]


@pytest.mark.parametrize("name", ["out.mp4", "out.ts"])
def test_closed_captions_in_the_video_are_kept_on_every_frame(tmp_path, caplog, name):
    """CEA-608/708 captions ride in the H.264 pictures (SEI): re-encoding the pictures must write
    them again, each with its own frame, as FFmpeg does (libx264's a53cc)."""
    src = tmp_path / "broadcast.h264"
    sent = with_captions(src, n=8)
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / name)
    assert _captions(tmp_path / name) == sent
    assert "closed captions" not in caplog.text


def test_closed_captions_an_encoder_cannot_write_are_warned_about(tmp_path, caplog):
    src = tmp_path / "broadcast.h264"
    with_captions(src, n=3)
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / "out.webm")
    assert _captions(tmp_path / "out.webm") == [None] * 3
    line = next(r.getMessage() for r in caplog.records if "closed captions" in r.getMessage())
    assert "libvpx-vp9 cannot write them" in line and "libx264" in line


@pytest.mark.parametrize("out", ["out.ts", "out.mkv"])
def test_mpeg2_video_keeps_every_frame_its_time_and_its_captions(tmp_path, caplog, out):
    """MPEG-2, the broadcast codec (DVB, ATSC, DVD), signals one of a few frame rates: on the input's
    clock (1/1200000 for raw H.264, 1/1000 for Matroska) the encoder refused every input. It runs on the
    frame rate now, each frame at its time, and writes the pictures' closed captions again (ATSC's A53)."""
    src = tmp_path / "broadcast.h264"
    sent = with_captions(src, n=8)  # 25 fps
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / out, codec="mpeg2video")
    assert "closed captions" not in caplog.text and "moved onto its grid" not in caplog.text
    assert _captions(tmp_path / out) == sent
    with av.open(str(tmp_path / out)) as c:
        assert c.streams.video[0].codec_context.name == "mpeg2video"
        times = [f.time for f in c.decode(video=0)]
    assert np.allclose(np.diff(times), 0.04) and len(times) == 8


def test_mpeg2_video_moves_a_variable_rate_inputs_frames_onto_its_rate_and_says_so(tmp_path, caplog):
    vfr = tmp_path / "vfr.mkv"
    write_video(vfr, random_frames(6, 64, 48), pts=[0, 33, 40, 100, 101, 250])  # 25 fps on average
    with caplog.at_level(logging.WARNING):
        run(vfr, tmp_path / "out.ts", codec="mpeg2video")
    assert "MPEG-1/2 video runs on one frame rate (25 fps)" in caplog.text
    assert "encode with --codec libx264" in caplog.text
    assert len(read_video(tmp_path / "out.ts")) == 6


def test_mpeg4_takes_an_input_on_a_fine_clock(tmp_path, caplog):
    """MPEG-4 part 2 counts at most 65535 ticks a second: a transport stream's 1/90000 clock (or raw
    H.264's) was refused; its frames keep their times on a 1/60000 clock."""
    src = tmp_path / "in.ts"
    write_video(src, random_frames(6, 64, 48), codec="libx264", pix_fmt="yuv420p")
    with av.open(str(src)) as c:
        assert c.streams.video[0].time_base == Fraction(1, 90000)
        before = [f.time for f in c.decode(video=0)]
    run(src, tmp_path / "out.mp4", codec="mpeg4")
    with av.open(str(tmp_path / "out.mp4")) as c:
        after = [f.time for f in c.decode(video=0)]
    assert np.allclose(np.diff(after), np.diff(before)) and len(after) == 6


def _psnr(src, out) -> float:
    """PSNR of ``out``'s frames against the first of ``src``'s (an identity model: the encoder's loss)."""
    got = [rgb for _, _, rgb in read_video(out)]
    with av.open(str(src)) as c:
        sent = [f.to_ndarray(format="rgb24") for f, _ in zip(c.decode(video=0), got, strict=False)]
    mse = np.mean([np.mean((a.astype(float) - b.astype(float)) ** 2) for a, b in zip(sent, got, strict=True)])
    return float(10 * np.log10(255**2 / mse))


@pytest.mark.parametrize("codec,ext", [("mpeg4", ".mp4"), ("mpeg2video", ".ts"), ("libvpx", ".webm")])
def test_encoders_with_a_low_default_bitrate_keep_the_picture(tmp_path, codec, ext):
    """FFmpeg's own MPEG encoders hold 200 kb/s unless told otherwise (8 dB below libx264's default on
    a 640x360 clip), VP8 256 kb/s: sharpness the model adds would be lost again. The MPEG ones get
    FFmpeg's -q:v 2, VP8 its --crf 10 under a cap that leaves it the say."""
    src = Path(__file__).parents[2] / "samples" / "wine.mp4"
    out = tmp_path / f"out{ext}"
    run(src, out, codec=codec, duration=1.0)
    assert _psnr(src, out) > 37  # an identity model: what is lost is the encoder's


@pytest.mark.parametrize(
    "codec,pix_fmt,profile", [("ffv1", "bgr0", "DNXHR HQ"), ("libx265", "yuv420p10le", "DNXHR HQX")]
)
def test_dnxhd_writes_dnxhr_at_any_size_for_editors(tmp_path, codec, pix_fmt, profile):
    """DNxHD's own profiles take 1080p/720p at fixed bitrates only: without --bitrate, every input was
    refused. DNxHR (what Resolve and Avid take) holds any size, 10-bit input in its 10-bit profile."""
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(4, 320, 240), codec=codec, pix_fmt=pix_fmt)
    run(src, tmp_path / "out.mov", codec="dnxhd")
    with av.open(str(tmp_path / "out.mov")) as c:
        assert c.streams.video[0].codec_context.profile == profile
        assert len(list(c.decode(video=0))) == 4


def _opens(codec: str) -> bool:
    """Whether this machine can open ``codec`` (NVENC: an NVIDIA card that has it; H100/H200 have none)."""
    try:
        cc = av.codec.CodecContext.create(codec, "w")
        cc.width, cc.height, cc.pix_fmt, cc.time_base = 256, 256, "yuv420p", Fraction(1, 25)
        cc.open()
        return True
    except Exception:
        return False


@pytest.mark.gpu
@pytest.mark.parametrize("codec", NVENC_CODECS)
def test_nvenc_holds_a_constant_quality_that_crf_sets(tmp_path, codec):
    """NVENC without settings holds 2 Mb/s at any size (1080p60 of fine detail smeared again): it runs
    at a constant quality instead, --crf its level (-rc vbr -cq N -b:v 0)."""
    if not _opens(codec):
        pytest.skip(f"{codec} needs an NVIDIA card with NVENC (H100/H200 have none)")
    src = Path(__file__).parents[2] / "samples" / "wine.mp4"
    run(src, tmp_path / "q.mp4", codec=codec, duration=1.0, device="cuda")
    run(src, tmp_path / "q35.mp4", codec=codec, crf=35, duration=1.0, device="cuda")
    assert _psnr(src, tmp_path / "q.mp4") > 37
    assert (tmp_path / "q35.mp4").stat().st_size < (tmp_path / "q.mp4").stat().st_size / 2


def test_crf_for_an_mpeg_encoder_is_refused_with_what_it_does_instead():
    with pytest.raises(InputError, match=r"no --crf; leave --crf out \(mpeg2video encodes at .*-q:v 2.*--bitrate"):
        check_encoder_settings("mpeg2video", None, 18)


@pytest.mark.parametrize("codec", NVENC_CODECS)
def test_nvenc_settings_out_of_its_range_are_refused_before_any_work(codec):
    check_encoder_settings(codec, "p7", 19)  # its presets and quality levels are taken
    with pytest.raises(InputError, match=f"--crf 0 is outside {codec}'s range 1-51"):
        check_encoder_settings(codec, None, 0)
    with pytest.raises(InputError, match=f"unknown --preset 'slow' for {codec}"):
        check_encoder_settings(codec, "slow", None)


@pytest.mark.parametrize(
    ("name", "fmt", "video", "audio", "packet"),
    [
        ("sharp.MTS", "mpegts", "h264", "aac", 192),  # a camcorder's AVCHD name, as it came
        ("sharp.m2ts", "mpegts", "h264", "aac", 192),  # Blu-ray's
        ("sharp.mpg", "mpeg", "mpeg2video", "mp2", None),  # a program stream, for DVD tools and old players
    ],
)
def test_camcorder_and_program_stream_outputs(tmp_path, name, fmt, video, audio, packet):
    """`run clip.MTS -o sharp.MTS` was "cannot tell the container from the output name"; an AVCHD or
    Blu-ray transport stream has 192-byte packets (188 and a 4-byte arrival time), which FFmpeg writes
    only for the name .m2ts. An MPEG program stream gets MPEG-2 video and MP2 audio, as FFmpeg's."""
    src = tmp_path / "in.mp4"
    write_video(src, random_frames(10, 64, 48), codec="libx264", pix_fmt="yuv420p", audio=True)
    out = tmp_path / name
    run(src, out)
    with av.open(str(out)) as c:
        assert c.format.name == fmt
        assert [(s.type, s.codec_context.name) for s in c.streams] == [("video", video), ("audio", audio)]
        assert len(list(c.decode(video=0))) == 10
    if packet:
        data = out.read_bytes()
        assert len(data) % packet == 0 and all(data[i + 4] == 0x47 for i in range(0, len(data), packet))


def test_h264_in_avi_reads_back_in_order(tmp_path):
    """AVI stores no presentation times: H.264 with B-frames in it read back with its frames' times out
    of order (0.04, 0.08, 0.2, 0.16, ...), and a second run over that file moved frames to make them
    increasing. Its frames are stored in the order they show, so their times read back in order."""
    src = tmp_path / "in.mp4"
    frames = [np.full((48, 64, 3), 12 * i, np.uint8) for i in range(12)]  # each frame brighter than the last
    write_video(src, frames, codec="libx264", pix_fmt="yuv420p")
    run(src, tmp_path / "out.avi", codec="libx264")
    with av.open(str(tmp_path / "out.avi")) as c:
        got = [(f.pts, float(f.to_ndarray(format="gray").mean())) for f in c.decode(video=0)]
    assert len(got) == 12
    times = [t for t, _ in got]
    assert times == sorted(times) and len(set(times)) == 12
    levels = [v for _, v in got]
    assert levels == sorted(levels)


def test_rotation_a_container_cannot_hold_is_warned(tmp_path, caplog):
    """MPEG-TS and AVI take a phone video's rotation and write none of it: the output played turned,
    nothing said. It is warned, with the containers that keep it."""
    src = tmp_path / "phone.mp4"
    write_video(src, random_frames(6, 64, 48), codec="libx264", pix_fmt="yuv420p", rotation=90)
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / "out.ts")
    assert "shown turned 90 degrees" in caplog.text and "a .ts output cannot say so" in caplog.text
    assert "write .mp4, .mov or .mkv to keep the rotation" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / "out.mkv")
    assert "turned" not in caplog.text
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert next(c.decode(video=0)).rotation == 90


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_a_transport_stream_whose_clock_wrapped_keeps_every_frame(tmp_path, ext):
    """MPEG-TS counts time in 33 bits at 90 kHz, wrapping every 26.5 hours: a recording across the wrap
    reads as starting 0.3 s before 0. An MP4's edit list then hid the 8 frames before 0, Matroska wrote
    them with no timestamp. The input is moved on to start at 0."""
    src = tmp_path / "wrap.ts"
    first = 2**33 - 27000  # 0.3 s before the wrap
    write_video(
        src, random_frames(25, 64, 48), codec="libx264", pix_fmt="yuv420p", time_base=Fraction(1, 90000),
        pts=[first + 3600 * i for i in range(25)], options={"bf": "0"},
    )  # fmt: skip
    with av.open(str(src)) as c:
        assert float(c.streams.video[0].start_time * c.streams.video[0].time_base) < -0.25  # as FFmpeg reads it
    out = tmp_path / f"out{ext}"
    run(src, out)
    with av.open(str(out)) as c:
        times = [float(f.pts * f.time_base) for f in c.decode(video=0)]
    assert len(times) == 25 and times[0] == 0 and times == sorted(times)
    assert times[-1] == pytest.approx(0.96, abs=0.002)
    if ext == ".mkv":  # cut into parts, whose join keeps the input's times, it would not start at 0: refused
        from streamdeblur.batch.segments import plan_segments

        with pytest.raises(InputError, match="starts before 0 s"):
            plan_segments(src, 2)


def _late_start(path, start_s, n=10):
    """A Matroska clip whose video and sound both start ``start_s`` seconds in (a cut from a recording)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "bgr0"
        a = out.add_stream("pcm_s16le", rate=48000)
        a.layout = "stereo"
        for i, img in enumerate(random_frames(n, 64, 48)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = round((start_s + i / 25) * 1000), Fraction(1, 1000)
            for pk in v.encode(f):
                out.mux(pk)
        for pk in v.encode():
            out.mux(pk)
        for k in range(n * 2):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 960 * 2), np.int16), format="s16", layout="stereo")
            af.sample_rate, af.pts = 48000, round(start_s * 48000) + 960 * k
            for pk in a.encode(af):
                out.mux(pk)
        for pk in a.encode():
            out.mux(pk)


@pytest.mark.parametrize("kind", ["starts at 10 s", "AAC starts before the video"])
def test_avi_starts_at_zero_with_every_frame_in_its_slot(tmp_path, kind):
    """AVI has no start times: an input starting at 10 s made an AVI showing its first frame for 10 s
    with the sound at 0, and an MP4's AAC (whose priming starts 21 ms before the video) moved every
    frame after the first a frame later, a hole after frame 0. And H.264 in AVI read back a frame late,
    so .avi gets FFmpeg's own choice, MPEG-4."""
    if kind == "starts at 10 s":
        src = tmp_path / "cut.mkv"
        _late_start(src, 10.0)
    else:
        src = tmp_path / "phone.mp4"
        write_video(src, random_frames(10, 64, 48), codec="libx264", pix_fmt="yuv420p", audio=True)
    out = tmp_path / "out.avi"
    run(src, out)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "mpeg4"
        assert [f.pts for f in c.decode(video=0)] == list(range(10))
    with av.open(str(out)) as c:
        first_sound = next(p for p in c.demux(audio=0) if p.size)
        assert abs(float(first_sound.pts * first_sound.time_base)) < 0.03


def test_avi_gets_the_inputs_frame_rate_not_its_millisecond_clock(tmp_path, caplog):
    """AVI has no timestamps: its time base is its frame rate. A Matroska input's 1/1000 clock made a
    1000 fps AVI with 39 of every 40 frames missing; a variable-rate input is warned about."""
    src = tmp_path / "cfr.mkv"
    write_video(src, random_frames(10, 64, 48))  # 25 fps on a 1/1000 clock
    with caplog.at_level(logging.WARNING):
        run(src, tmp_path / "out.avi")
    with av.open(str(tmp_path / "out.avi")) as c:
        v = c.streams.video[0]
        assert (v.time_base, v.average_rate) == (Fraction(1, 25), 25)
        assert len([p for p in c.demux(v) if p.size]) == 10
    assert "AVI holds one frame rate" not in caplog.text
    vfr = tmp_path / "vfr.mkv"
    write_video(vfr, random_frames(6, 64, 48), pts=[0, 33, 40, 100, 101, 250])
    with caplog.at_level(logging.WARNING):
        run(vfr, tmp_path / "vfr.avi")
    assert "AVI holds one frame rate (25 fps)" in caplog.text and "write .mkv or .mp4" in caplog.text
    assert len(read_video(tmp_path / "vfr.avi")) == 6
