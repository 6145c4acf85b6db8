"""`run IN -o OUT --progress DEST`: the run's progress for another program (a GUI, a job queue), in
FFmpeg's -progress format, so parsers written for FFmpeg read it: key=value blocks, each ending in
progress=continue, the last in progress=end with every frame counted and the media time written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner
from videofiles import random_frames, write_video

from streamdeblur.cli import app

runner = CliRunner()
FFMPEG_KEYS = [
    "frame",
    "fps",
    "out_time_us",
    "out_time_ms",
    "out_time",
    "dup_frames",
    "drop_frames",
    "speed",
    "progress",
]


def blocks(text: str) -> list[dict[str, str]]:
    """FFmpeg -progress output parsed as its readers do: a block ends at its progress= line."""
    out, block = [], {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        block[key] = value
        if key == "progress":
            out.append(block)
            block = {}
    return out


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mkv"
    write_video(path, random_frames(12, 64, 48), rate=10)
    return path


def test_a_file_gets_ffmpeg_progress_blocks_ending_in_end(tmp_path, clip, tiny_weights):
    report = tmp_path / "progress.txt"
    res = runner.invoke(app, ["run", str(clip), "-o", str(tmp_path / "o.mkv"), "-w", str(tiny_weights),
                              "--codec", "ffv1", "--progress", str(report)])  # fmt: skip
    assert res.exit_code == 0, res.stderr
    got = blocks(report.read_text())
    assert got and all(list(b) == FFMPEG_KEYS for b in got)
    assert [b["progress"] for b in got] == ["continue"] * (len(got) - 1) + ["end"]
    last = got[-1]
    assert last["frame"] == "12"  # every frame, as the output holds
    assert last["out_time_us"] == last["out_time_ms"] == "1100000" and last["out_time"] == "00:00:01.100000"
    assert last["speed"].endswith("x") and float(last["fps"]) > 0
    frames = [int(b["frame"]) for b in got]
    assert frames == sorted(frames)


def test_to_stdout_the_blocks_are_alone_there(tmp_path, clip, tiny_weights):
    res = runner.invoke(app, ["run", str(clip), "-o", str(tmp_path / "o.mkv"), "-w", str(tiny_weights),
                              "--progress", "-"])  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert all("=" in line for line in res.stdout.splitlines())  # the "done:" line went to stderr
    assert blocks(res.stdout)[-1]["progress"] == "end" and "done: 12 frames" in res.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["-o", "-", "--format", "mkv", "--progress", "-"], "--progress - writes to stdout, which carries the video"),
    (["-o", "{tmp}/o.mkv", "--progress", "{tmp}/missing/p.txt"], "does not exist"),
    (["-o", "{tmp}/o.mkv", "--progress", "tcp://127.0.0.1:9/p"], "not a URL"),
    (["{clip}", "-o", "{tmp}/many", "--progress", "{tmp}/p.txt"], "--progress applies to one input run on its own"),
])  # fmt: skip
def test_what_cannot_take_a_report_is_one_line(tmp_path, clip, args, words):
    args = [a.format(tmp=tmp_path, clip=clip) for a in args]
    res = runner.invoke(app, ["run", str(clip), *args])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert not (tmp_path / "o.mkv").exists()


def test_a_run_that_fails_still_ends_its_report(tmp_path, clip, tiny_weights):
    """A reader waiting for progress=end is not left hanging by a run that stops with an error."""
    report = tmp_path / "progress.txt"
    res = runner.invoke(app, ["run", str(clip), "-o", str(tmp_path / "o.mkv"), "-w", str(tiny_weights),
                              "--start", "99", "--progress", str(report)])  # fmt: skip
    assert res.exit_code == 2 and "--start 99 is past the end" in res.stderr
    assert [(b["frame"], b["progress"]) for b in blocks(report.read_text())] == [("0", "end")]
