"""A run killed with SIGKILL (or a Ray worker lost with its machine's process) cannot remove its
hidden temporary file; the next run writing the same output removes it, and says so, once the
process that wrote it is gone. One still being written is never touched."""

from __future__ import annotations

import logging
import os

from testkit import dead_pid
from typer.testing import CliRunner
from videofiles import hidden, random_frames, read_video, write_video

from streamdeblur.cli import app
from streamdeblur.fileio import remove_stale_temporaries, temp_name

runner = CliRunner()


def test_a_killed_runs_temporary_is_removed_by_the_next_run_and_said(tmp_path, tiny_weights, caplog):
    clip, out = tmp_path / "in.mkv", tmp_path / "out.mkv"
    write_video(clip, random_frames(3, 64, 48))
    mine = temp_name(out)
    assert f".{os.getpid()}." in mine.name and mine.name.startswith(".out.") and mine.name.endswith(".tmp.mkv")
    stale = mine.with_name(mine.name.replace(f".{os.getpid()}.", f".{dead_pid()}."))
    stale.write_bytes(b"half a video")
    alive = mine.with_name(mine.name.replace(f".{os.getpid()}.", f".{os.getppid()}."))  # a run still writing
    alive.write_bytes(b"being written")
    other_host = tmp_path / f".out.elsewhere.{dead_pid()}.tmp.mkv"  # a shared folder: not ours to judge
    other_host.write_bytes(b"another machine's")
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        res = runner.invoke(app, ["run", str(clip), "-o", str(out), "--weights", str(tiny_weights), "-q"])
    assert res.exit_code == 0, res.output
    assert len(read_video(out)) == 3
    assert hidden(tmp_path) == sorted([alive.name, other_host.name])
    assert any(str(stale) in r.getMessage() and "killed" in r.getMessage() for r in caplog.records), caplog.text


def test_old_style_and_mkstemp_names_are_recognised(tmp_path):
    target = tmp_path / "model.engine"
    old = tmp_path / f".model.{dead_pid()}.tmp.engine"
    made = tmp_path / f".model.{temp_name(target).name.split('.')[2]}.{dead_pid()}.k2j_x9.tmp.engine"
    unrelated = tmp_path / ".modelx.1.tmp.engine"
    for p in (old, made, unrelated):
        p.write_bytes(b"x")
    assert sorted(remove_stale_temporaries(target)) == sorted([old, made])
    assert unrelated.exists()
