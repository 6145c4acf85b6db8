"""An image sequence (``frames/f_%04d.png``, FFmpeg's pattern) read as a video by `streamdeblur run`:
the pictures a logger, a render or a high-speed camera leaves, written by PyAV and read back."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner
from videofiles import random_frames, read_video

from streamdeblur.cli import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, ["run", *map(str, args)])


def write_pictures(folder: Path, names: list[str], frames: list[np.ndarray], pix_fmt: str = "rgb24") -> None:
    folder.mkdir(exist_ok=True)
    for name, img in zip(names, frames):
        with av.open(str(folder / name), "w", format="image2") as c:
            s = c.add_stream("png")
            s.width, s.height, s.pix_fmt = img.shape[1], img.shape[0], pix_fmt
            f = av.VideoFrame.from_ndarray(img, format="rgb48le" if img.dtype == np.uint16 else "rgb24")
            for p in [*s.encode(f.reformat(format=pix_fmt)), *s.encode()]:
                c.mux(p)


def test_a_sequence_numbered_from_1001_is_every_picture_in_order_at_its_framerate(tmp_path, tiny_weights):
    """FFmpeg's image2 reader alone finds a sequence's start only within 0-4 (a render numbered from
    1001 would not open) and reads f_9 before f_10 only with the pattern; the run finds the start."""
    frames = random_frames(12, 64, 48)
    write_pictures(tmp_path / "render", [f"shot_{1001 + i:04d}.png" for i in range(12)], frames)
    out = tmp_path / "shot.nut"  # FFV1, and the exact time base (Matroska's is milliseconds)
    res = run(tmp_path / "render" / "shot_%04d.png", "-o", out, "-w", tiny_weights, "--framerate", "30000/1001",
              "-q")  # fmt: skip
    assert res.exit_code == 0, res.output
    got = read_video(out)
    assert len(got) == 12
    assert all(np.array_equal(g, f) for (_, _, g), f in zip(got, frames))  # lossless, the identity model: in order
    assert [p * tb for p, tb, _ in got] == [Fraction(1001 * i, 30000) for i in range(12)]


def test_an_unpadded_pattern_and_deep_pictures(tmp_path, tiny_weights):
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 65536, (32, 48, 3), dtype=np.uint16) for _ in range(11)]
    write_pictures(tmp_path / "log", [f"f_{i}.png" for i in range(1, 12)], frames, pix_fmt="rgb48be")
    out = tmp_path / "log.mkv"
    res = run(tmp_path / "log" / "f_%d.png", "-o", out, "-w", tiny_weights, "--codec", "ffv1", "-q")
    assert res.exit_code == 0, res.output
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.average_rate == 25  # FFmpeg's default
        got = [f.to_ndarray(format="rgb48le") for f in c.decode(v)]
    assert len(got) == 11  # f_1 ... f_9, then f_10, f_11
    assert all(np.array_equal(g, f) for g, f in zip(got, frames))  # 16 bits a channel, kept


def test_deep_pictures_into_8_bit_pictures_are_told_to_write_png_not_another_codec(tmp_path, tiny_weights, caplog):
    """16-bit pictures written as .jpg pictures were told '--codec ffv1 (.mkv, .nut) keeps it', a video codec
    that is no answer for someone who wants pictures; the fix named is now 16-bit .png or .tif pictures."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 65536, (32, 48, 3), dtype=np.uint16) for _ in range(2)]
    write_pictures(tmp_path / "deep", ["f_1.png", "f_2.png"], frames, pix_fmt="rgb48be")
    with caplog.at_level("WARNING", logger="streamdeblur"):
        res = run(tmp_path / "deep" / "f_%d.png", "-o", tmp_path / "j_%02d.jpg", "-w", tiny_weights)
    assert res.exit_code == 0, res.output
    (line,) = [r.getMessage() for r in caplog.records if "loses depth" in r.getMessage()]
    assert ".png or .tif pictures" in line and "--codec" not in line, line


def test_a_damaged_picture_in_a_sequence_is_named(tmp_path, tiny_weights):
    """A render with one broken picture said only 'damaged (after frame 3, at 0.20 s)', a time two pictures
    off (the threaded decoder reports the error on a later packet): the warning now names the picture."""
    write_pictures(tmp_path / "render", [f"f_{i:03d}.png" for i in range(1, 7)], random_frames(6, 32, 24))
    (tmp_path / "render" / "f_004.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    res = run(tmp_path / "render" / "f_%03d.png", "-o", tmp_path / "out.mkv", "-w", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    (said,) = [ln for ln in res.output.splitlines() if "damaged" in ln]
    assert "(f_004.png:" in said and "1 frame was not decodable" in said, said
    assert len(read_video(tmp_path / "out.mkv")) == 5


@pytest.mark.parametrize(
    ("setup", "args", "words"),
    [
        ("gap", [], ["has a gap: shot_0003.png is followed by shot_0005.png", "would end at the gap"]),
        ("none", [], ["no picture matches the image-sequence pattern", "files like shot_0001.png"]),
        ("video", ["--framerate", "30"], ["--framerate applies to an image-sequence input", "leave --framerate out"]),
        ("gap", ["--framerate", "fast"], ["--framerate 'fast' is not a rate"]),
        # a render node that died mid-frame leaves an empty file: the video ended there, 'cut short'
        ("empty", [], ["shot_0003.png is empty (0 bytes) and 1 more", "read as a video it would end there"]),
    ],
)
def test_mistakes_with_sequences_are_one_line_and_nothing_is_written(tmp_path, tiny_weights, setup, args, words):
    if setup == "gap":  # a dropped frame: read as a video it would have ended at shot_0003, silently short
        write_pictures(tmp_path / "s", [f"shot_{i:04d}.png" for i in (1, 2, 3, 5, 6)], random_frames(5, 32, 32))
        src = tmp_path / "s" / "shot_%04d.png"
    elif setup == "empty":
        write_pictures(tmp_path / "s", [f"shot_{i:04d}.png" for i in range(1, 6)], random_frames(5, 32, 32))
        (tmp_path / "s" / "shot_0003.png").write_bytes(b"")
        (tmp_path / "s" / "shot_0005.png").write_bytes(b"")
        src = tmp_path / "s" / "shot_%04d.png"
    elif setup == "none":
        (tmp_path / "s").mkdir()
        src = tmp_path / "s" / "shot_%04d.png"
    else:
        src = tmp_path / "clip.mkv"
        from videofiles import write_video

        write_video(src, random_frames(3, 32, 32))
    res = run(src, "-o", tmp_path / "out.mp4", "-w", tiny_weights, *args)
    assert res.exit_code != 0
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("streamdeblur: error:"), line
    for w in words:
        assert w in line, line
    assert not (tmp_path / "out.mp4").exists()


def test_a_sequence_output_in_a_format_it_cannot_be_written_in_names_those_it_can(tmp_path, tiny_weights):
    """``-o sharp/f_%04d.webp``: a WebP sequence is not written here; the line said the video 'is not a
    picture', as if a sequence were one picture. It now names the extensions a sequence is written in."""
    from videofiles import write_video

    write_video(tmp_path / "clip.mkv", random_frames(3, 32, 32))
    res = run(tmp_path / "clip.mkv", "-o", tmp_path / "f_%04d.webp", "-w", tiny_weights)
    assert res.exit_code == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("streamdeblur: error: f_%04d.webp: an image sequence is not written as .webp"), line
    assert ".png, .jpg, .jpeg, .tif, .tiff, .bmp" in line and "f_%04d.png" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv", "weights"]


def test_a_video_written_as_a_sequence_of_pictures_one_a_frame(tmp_path, tiny_weights, caplog):
    """-o frames/f_%04d.png: what a labelling tool or a detector's training set takes, FFmpeg's image2."""
    from videofiles import hidden, write_video

    frames = random_frames(12, 64, 48)
    src = tmp_path / "drone.mkv"
    write_video(src, frames, audio=True)  # lossless video, and sound a picture cannot hold
    (tmp_path / "frames").mkdir()
    pattern = tmp_path / "frames" / "f_%04d.png"
    res = run(src, "-o", pattern, "-w", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    # FFmpeg's numbering, from 1, and the frames' times beside (test_sequence_timestamps.py); nothing hidden left
    assert names == [*(f"f_{i:04d}.png" for i in range(1, 13)), "f_timestamps.csv"]
    assert hidden(tmp_path / "frames") == [] and hidden(tmp_path) == []
    for name, f in zip(names, frames):  # each picture whole and exact (the identity model, PNG)
        with av.open(str(tmp_path / "frames" / name)) as c:
            assert np.array_equal(next(c.decode(video=0)).to_ndarray(format="rgb24"), f)
    (warn,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "audio is left out: an image sequence holds pictures only" in warn
    # a second run does not write over them unless asked
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "frames").iterdir()}
    res = run(src, "-o", pattern, "-w", tiny_weights)
    assert res.exit_code != 0 and "already holds 12 pictures of f_%04d.png" in res.stderr, res.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "frames").iterdir()} == stamps
    assert run(src, "-o", pattern, "-w", tiny_weights, "--overwrite", "-q").exit_code == 0
    # read back as a sequence, the pictures are the video again
    back = tmp_path / "back.nut"
    assert run(pattern, "-o", back, "-w", tiny_weights, "-q").exit_code == 0
    assert all(np.array_equal(g, f) for (_, _, g), f in zip(read_video(back), frames))


def test_a_space_padded_pattern_is_numbered_as_ffmpeg_numbers_it(tmp_path, tiny_weights):
    """FFmpeg pads ``%4d`` with zeros, as ``%04d`` (printf would pad it with spaces): ``-o f_%4d.png`` said
    'done: 3 frames' and left the folder empty (the pictures FFmpeg wrote, f_0001.png ..., were looked for
    as 'f_   1.png' and never moved in), and ``f_%4d.png`` as an input found no picture."""
    from videofiles import write_video

    frames = random_frames(3, 32, 32)
    write_video(tmp_path / "clip.mkv", frames)
    (tmp_path / "out").mkdir()
    res = run(tmp_path / "clip.mkv", "-o", tmp_path / "out" / "f_%4d.png", "-w", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["f_0001.png", "f_0002.png", "f_0003.png", "f_timestamps.csv"]
    assert (tmp_path / "out" / "f_timestamps.csv").read_text().splitlines()[1] == "1,f_0001.png,0.000000"
    back = tmp_path / "back.nut"
    res = run(tmp_path / "out" / "f_%4d.png", "-o", back, "-w", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    assert all(np.array_equal(g, f) for (_, _, g), f in zip(read_video(back), frames, strict=True))


def test_overwriting_a_longer_sequence_leaves_none_of_its_pictures(tmp_path, tiny_weights):
    """``--overwrite`` into a folder holding a longer sequence of the same name: its pictures past the new
    run's last stayed, so the folder read back as one sequence of both runs' frames (the CSV listing the
    new ones only); as an HLS output's extra segments, they are now removed."""
    from videofiles import write_video

    write_video(tmp_path / "long.mkv", random_frames(5, 32, 32))
    short = random_frames(2, 32, 32, seed=9)
    write_video(tmp_path / "short.mkv", short)
    (tmp_path / "out").mkdir()
    pattern = tmp_path / "out" / "f_%02d.png"
    assert run(tmp_path / "long.mkv", "-o", pattern, "-w", tiny_weights, "-q").exit_code == 0
    (tmp_path / "out" / "notes.txt").write_text("mine")  # not a picture of the sequence: left alone
    res = run(tmp_path / "short.mkv", "-o", pattern, "-w", tiny_weights, "-q", "--overwrite")
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["f_01.png", "f_02.png", "f_timestamps.csv", "notes.txt"]
    back = tmp_path / "back.nut"
    assert run(pattern, "-o", back, "-w", tiny_weights, "-q").exit_code == 0
    assert all(np.array_equal(g, f) for (_, _, g), f in zip(read_video(back), short, strict=True))


def test_a_killed_sequence_runs_hidden_folder_is_removed_by_the_next_run(tmp_path, tiny_weights, caplog):
    """The pictures are made in a hidden folder named as a temporary file is (the writer's host and
    process id): a run killed before it could move them in leaves it, and the next run removes it."""
    import os

    from videofiles import hidden, write_video

    from streamdeblur.fileio import temp_name

    src = tmp_path / "clip.mkv"
    write_video(src, random_frames(3, 32, 32))
    pattern = tmp_path / "f_%04d.png"
    mine = temp_name(tmp_path / "f_04d.png")  # the folder's name leaves the pattern's % out (FFmpeg would read it)
    stale = mine.with_name(mine.name.replace(f".{os.getpid()}.", ".999999."))
    stale.mkdir()
    (stale / "f_0001.png").write_bytes(b"half")
    res = run(src, "-o", pattern, "-w", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    assert hidden(tmp_path) == []
    assert sorted(p.name for p in tmp_path.glob("f_*.png")) == ["f_0001.png", "f_0002.png", "f_0003.png"]
    assert "removed" in caplog.text and stale.name in caplog.text


def test_framerates_are_read_as_ffmpeg_users_write_them():
    from streamdeblur.video.sequence import parse_framerate

    assert parse_framerate("30") == 30 and parse_framerate("12.5") == Fraction(25, 2)
    assert parse_framerate("29.97") == parse_framerate("30000/1001") == parse_framerate("30000:1001")
    assert parse_framerate("23.976") == Fraction(24000, 1001) and parse_framerate("59.94") == Fraction(60000, 1001)
