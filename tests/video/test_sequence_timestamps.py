"""An image-sequence output (``-o out/f_%06d.png``) keeps its frames' times in a CSV beside the pictures
(``out/f_timestamps.csv``): pictures hold no time, so a variable-rate input's, a ``--start`` part's or a
stream's frames could not be lined up with other sensors. Real videos written with PyAV, the real CLI."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner
from videofiles import hidden, random_frames, read_video, write_video

from streamdeblur.cli import app
from streamdeblur.errors import OutputExistsError
from streamdeblur.video.sinks import FileSink
from streamdeblur.video.sources import open_source

runner = CliRunner()

#: a phone's variable frame rate: frames 33, 67, 33 and 167 ms apart (Matroska's millisecond clock)
VFR_PTS = [0, 33, 100, 133, 300]


def run(*args: object):
    return runner.invoke(app, ["run", *map(str, args)])


def vfr_clip(path: Path) -> Path:
    write_video(path, random_frames(len(VFR_PTS), 32, 32), pts=VFR_PTS, time_base=Fraction(1, 1000))
    return path


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def video_times(path: Path) -> list[str]:
    """Each frame's time in a video output, as the CSV writes it."""
    return [f"{float(p * tb):.6f}" for p, tb, _ in read_video(path)]


def test_a_variable_rate_input_written_as_pictures_keeps_each_frames_time_as_a_video_would(tmp_path, tiny_weights):
    src = vfr_clip(tmp_path / "phone.mkv")
    (tmp_path / "out").mkdir()
    res = run(src, "-o", tmp_path / "out" / "f_%06d.png", "-w", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    pictures = [f"f_{i:06d}.png" for i in range(1, 6)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [*pictures, "f_timestamps.csv"]
    assert hidden(tmp_path) == []
    times = ["0.000000", "0.033000", "0.100000", "0.133000", "0.300000"]
    assert rows(tmp_path / "out" / "f_timestamps.csv") == [
        ["frame", "file", "pts_time"],
        *([str(i), name, t] for i, (name, t) in enumerate(zip(pictures, times), start=1)),
    ]
    res = run(src, "-o", tmp_path / "sharp.mkv", "-w", tiny_weights, "-q")  # the same run, to a video
    assert res.exit_code == 0, res.output
    assert video_times(tmp_path / "sharp.mkv") == times


@pytest.mark.parametrize("start", ["0.1", "0.05"])  # on a frame, and between two (the part's first is 0.1)
def test_a_start_part_written_as_pictures_has_the_times_its_video_would(tmp_path, tiny_weights, start):
    src = vfr_clip(tmp_path / "phone.mkv")
    res = run(src, "-o", tmp_path / "shot_%04d.tif", "--start", start, "-w", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    res = run(src, "-o", tmp_path / "sharp.mp4", "--start", start, "-w", tiny_weights, "-q")
    assert res.exit_code == 0, res.output
    got = rows(tmp_path / "shot_timestamps.csv")
    assert [r[:2] for r in got] == [["frame", "file"], ["1", "shot_0001.tif"], ["2", "shot_0002.tif"],
                                    ["3", "shot_0003.tif"]]  # fmt: skip
    assert [r[2] for r in got[1:]] == video_times(tmp_path / "sharp.mp4")
    if start == "0.1":
        assert [r[2] for r in got[1:]] == ["0.000000", "0.033000", "0.200000"]  # from 0, as the part's video


def test_an_existing_times_file_is_refused_without_overwrite_and_replaced_with_it(tmp_path, tiny_weights):
    src = vfr_clip(tmp_path / "phone.mkv")
    out = tmp_path / "out"
    out.mkdir()
    (out / "timestamps.csv").write_text("frame,file,pts_time\n1,000001.png,9.000000\n")
    (out / "notes.txt").write_text("mine")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    res = run(src, "-o", out / "%06d.png", "-w", tiny_weights)
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("streamdeblur: error:") and f"{out} already holds timestamps.csv" in line, line
    assert "--overwrite" in line, line
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before
    assert hidden(out) == [] and hidden(tmp_path) == []
    res = run(src, "-o", out / "%06d.png", "-w", tiny_weights, "--overwrite", "-q")
    assert res.exit_code == 0, res.output
    got = rows(out / "timestamps.csv")
    assert got[0] == ["frame", "file", "pts_time"] and len(got) == 6
    assert got[1] == ["1", "000001.png", "0.000000"] and got[5] == ["5", "000005.png", "0.300000"]
    assert (out / "notes.txt").read_text() == "mine"
    # pictures and their times there: one line naming both
    res = run(src, "-o", out / "%06d.png", "-w", tiny_weights)
    assert res.exit_code == 2
    (line,) = res.stderr.strip().splitlines()
    assert "already holds 5 pictures of %06d.png (000001.png ...) and timestamps.csv" in line, line


def test_a_stopped_run_publishes_the_times_of_exactly_the_pictures_it_moves_in(tmp_path):
    """An interrupted run moves in the pictures done (those still inside the encoder dropped); a picture
    that appears meanwhile (another run) stops the moving part way: the CSV lists the pictures moved in."""
    src = vfr_clip(tmp_path / "phone.mkv")
    (tmp_path / "a").mkdir()
    with open_source(src) as s:
        sink = FileSink(tmp_path / "a" / "f_%02d.png", s.info)
        for f in s:
            sink.write(f)
        sink.close(partial=True, flush_budget=0)
    pictures = sorted(p.name for p in (tmp_path / "a").glob("*.png"))
    assert len(pictures) == sink.frames_written >= 1
    got = rows(tmp_path / "a" / "f_timestamps.csv")
    assert got[1:] == [[str(i), name, f"{t / 1000:.6f}"] for i, (name, t) in enumerate(zip(pictures, VFR_PTS), 1)]

    (tmp_path / "b").mkdir()
    theirs = tmp_path / "b" / "f_03.png"
    with open_source(src) as s:
        sink = FileSink(tmp_path / "b" / "f_%02d.png", s.info)
        for f in s:
            sink.write(f)
        theirs.write_bytes(b"another run's")
        with pytest.raises(OutputExistsError, match="f_03.png appeared while this run was writing"):
            sink.close()
        sink.abort()
    assert theirs.read_bytes() == b"another run's"
    shown = sorted(p.name for p in (tmp_path / "b").iterdir() if not p.name.startswith("."))
    assert shown == ["f_01.png", "f_02.png", "f_03.png", "f_timestamps.csv"]
    assert rows(tmp_path / "b" / "f_timestamps.csv") == [
        ["frame", "file", "pts_time"],
        ["1", "f_01.png", "0.000000"],
        ["2", "f_02.png", "0.033000"],
    ]
    (kept,) = hidden(tmp_path / "b")  # this run's f_03 ... f_05, where the error says
    assert sorted(p.name for p in (tmp_path / "b" / kept).iterdir()) == ["f_03.png", "f_04.png", "f_05.png"]


def test_the_times_file_is_named_from_the_pattern():
    from streamdeblur.video.sequence import timestamps_name

    assert timestamps_name("f_%06d.png") == "f_timestamps.csv"
    assert timestamps_name("render/shot_%04d.tif") == "shot_timestamps.csv"
    assert timestamps_name("%06d.png") == "timestamps.csv"
    assert timestamps_name("cam_%d_left.jpg") == "cam_timestamps_left.csv"
