"""`streamdeblur run` with several inputs and with --segments, in this process (no Ray):
outputs equal to single runs, the report, re-runs that skip what is complete, bad inputs
reported while the rest finish, user mistakes as one line; and --cluster without Ray."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from batchfiles import OPTS, assert_same_video, load_report, make_clips, not_a_video, single_run, truncated_mp4
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner
from videofiles import hidden, packets, random_frames, sound_running_on, write_video

from streamdeblur.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["run", *map(str, args)])


def one_line_error(res, *words):
    assert res.exit_code == 2, (res.exit_code, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr and len(err.splitlines()) == 1, err
    assert err.startswith("streamdeblur: error:"), err
    for w in words:
        assert w.lower() in err.lower(), err


def test_many_inputs_one_after_another_equal_single_runs(tmp_path, tiny_weights):
    clips = make_clips(tmp_path / "clips", {"a.mkv": 14, "b.mp4": 11})
    (c,) = make_clips(tmp_path / "more", {"c.mkv": 9}, seed=5)
    (tmp_path / "clips" / "notes.txt").write_text("not a video, and not picked from the folder")
    out = tmp_path / "out" / "deep"  # created, parents too
    report = tmp_path / "report.json"
    res = invoke(
        tmp_path / "clips", c, "-o", out, "--weights", tiny_weights, *OPTS, "--format", "mkv", "--report", report
    )
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv", "b.mkv", "c.mkv"]  # names kept, --format's extension
    assert "files 3/3" in res.stderr and "fps" in res.stderr and "ETA" in res.stderr  # one progress view
    table = res.stdout.splitlines()
    assert table[0].split()[:5] == ["input", "status", "frames", "seconds", "fps"]
    assert res.stdout.strip().splitlines()[-1].startswith("done: 3 of 3 inputs, 34 frames in")
    rep = load_report(report)
    assert (rep["done"], rep["failed"], rep["mode"]) == (3, 0, "this process")
    for src in [*clips, c]:
        item = rep["by_name"][src.name]
        assert (
            item["status"] == "done"
            and item["backend"] == "torch"
            and item["device"] == "cpu"
            and item["error"] is None
        )
        assert item["seconds"] > 0 and item["output"] == str(out / (src.stem + ".mkv"))
        assert_same_video(out / (src.stem + ".mkv"), single_run(src, tmp_path / f"single-{src.stem}.mkv", tiny_weights))
    assert item["frames"] == 9
    assert hidden(out) == []


def test_rerun_skips_complete_outputs_and_overwrite_redoes_them(tmp_path, tiny_weights):
    make_clips(tmp_path / "clips", {"a.mkv": 8, "b.mkv": 6})
    out = tmp_path / "out"
    args = (tmp_path / "clips", "-o", out, "--weights", tiny_weights, *OPTS, "--report", tmp_path / "r.json")
    assert invoke(*args).exit_code == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    res = invoke(*args)
    assert res.exit_code == 0, res.stderr
    assert [i["status"] for i in load_report(tmp_path / "r.json")["items"]] == ["skipped", "skipped"]
    assert "exists and is complete" in res.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps  # untouched

    # an output that is not a complete copy of its input is not skipped, nor replaced
    write_video(out / "b.mkv", random_frames(3, 64, 48))
    res = invoke(*args)
    assert res.exit_code == 1
    rep = load_report(tmp_path / "r.json")
    assert rep["by_name"]["a.mkv"]["status"] == "skipped"
    b = rep["by_name"]["b.mkv"]
    assert b["status"] == "failed" and "3 frames" in b["error"] and "--overwrite" in b["error"]

    res = invoke(*args, "--overwrite")
    assert res.exit_code == 0, res.stderr
    assert [i["status"] for i in load_report(tmp_path / "r.json")["items"]] == ["done", "done"]
    assert_same_video(out / "b.mkv", single_run(tmp_path / "clips" / "b.mkv", tmp_path / "single-b.mkv", tiny_weights))


def test_a_rerun_with_other_settings_does_not_take_the_old_outputs_as_done(tmp_path, tiny_weights):
    """An output that is complete but was made with another model or other settings (a re-run after
    changing --weights or --crf, or after a new release's model) was skipped as "complete": the old
    pictures under a summary that said all was well. It is reported as failed, naming what changed, and
    left as it is until --overwrite; a re-run with the same settings still skips it."""
    make_clips(tmp_path / "clips", {"a.mkv": 8, "b.mp4": 6})
    out = tmp_path / "out"
    args = (tmp_path / "clips", "-o", out, "--weights", tiny_weights, *OPTS, "--report", tmp_path / "r.json")
    assert invoke(*args).exit_code == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert invoke(*args).exit_code == 0  # the same settings: skipped
    assert [i["status"] for i in load_report(tmp_path / "r.json")["items"]] == ["skipped", "skipped"]

    other = tmp_path / "other.safetensors"  # another model: the same file with one weight changed
    weights = load_file(tiny_weights)
    name = sorted(weights)[0]
    weights[name] = weights[name] + 0.01
    save_file(weights, other)
    shutil.copy(tiny_weights.with_suffix(".json"), other.with_suffix(".json"))
    changed_model = (tmp_path / "clips", "-o", out, "--weights", other, *OPTS, "--report", tmp_path / "r.json")
    res = invoke(*changed_model)
    assert res.exit_code == 1
    for item in load_report(tmp_path / "r.json")["items"]:
        assert item["status"] == "failed" and "made with other settings (the model's weights)" in item["error"]
        assert "--overwrite" in item["error"]
    res = invoke(*args, "--crf", "30", "--codec", "libx264")
    assert res.exit_code == 1
    errors = [i["error"] for i in load_report(tmp_path / "r.json")["items"]]
    assert all("(--codec, --crf)" in e for e in errors), errors
    assert all(len(e) > 90 and e in res.stdout for e in errors), res.stdout  # the summary table's: whole, the fix too
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps  # nothing replaced

    assert invoke(*changed_model, "--overwrite").exit_code == 0
    assert invoke(*changed_model).exit_code == 0  # now recorded with the other model: skipped
    assert [i["status"] for i in load_report(tmp_path / "r.json")["items"]] == ["skipped", "skipped"]
    assert hidden(out) == []  # the records are not among the outputs

    # an input replaced since its output was made: its output is not taken as done either
    make_clips(tmp_path / "clips", {"a.mkv": 8}, seed=5)
    assert invoke(*changed_model).exit_code == 1
    rep = load_report(tmp_path / "r.json")
    assert rep["by_name"]["b.mp4"]["status"] == "skipped"
    assert "(the input file's size or time)" in rep["by_name"]["a.mkv"]["error"]


def test_a_file_no_run_is_recorded_as_making_is_not_taken_as_done(tmp_path, tiny_weights):
    """A file in the output folder with as many frames as its input (here the input itself, copied there)
    was skipped as "exists and is complete": a batch run said done and left the blurry original. With no
    record of a run making it, it fails saying so, untouched, until --overwrite. A single `run IN -o OUT`
    is recorded as a batch's outputs are: a batch run into its folder then skips it."""
    make_clips(tmp_path / "clips", {"a.mkv": 8, "b.mp4": 6})
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(tmp_path / "clips" / "a.mkv", out / "a.mkv")
    res = invoke(tmp_path / "clips" / "b.mp4", "-o", out / "b.mp4", "--weights", tiny_weights, *OPTS)
    assert res.exit_code == 0, res.stderr
    before = (out / "a.mkv").read_bytes()
    args = (tmp_path / "clips", "-o", out, "--weights", tiny_weights, *OPTS, "--report", tmp_path / "r.json")
    res = invoke(*args)
    assert res.exit_code == 1
    rep = load_report(tmp_path / "r.json")
    assert rep["by_name"]["b.mp4"]["status"] == "skipped"
    a = rep["by_name"]["a.mkv"]
    assert a["status"] == "failed" and a["error"] == (
        f"output {out / 'a.mkv'} exists, but no streamdeblur run here is recorded as having made it (by hand, on "
        "another machine, or by an older version); pass --overwrite to redo it, or -o another folder"
    )
    assert (out / "a.mkv").read_bytes() == before
    assert invoke(*args, "--overwrite").exit_code == 0
    assert (out / "a.mkv").read_bytes() != before
    assert invoke(*args).exit_code == 0  # both recorded now: skipped


def test_bad_inputs_are_reported_and_the_others_finish(tmp_path, tiny_weights):
    make_clips(tmp_path / "clips", {"a.mkv": 8, "c.mkv": 6})
    not_a_video(tmp_path / "clips" / "b.mp4")
    truncated_mp4(tmp_path / "clips" / "d.mp4")
    out = tmp_path / "out"
    res = invoke(
        tmp_path / "clips",
        "-o",
        out,
        "--weights",
        tiny_weights,
        *OPTS,
        "--format",
        "mkv",
        "--report",
        tmp_path / "r.json",
    )
    assert res.exit_code == 1  # some inputs failed
    assert "Traceback" not in res.stderr
    rep = load_report(tmp_path / "r.json")
    assert (rep["done"], rep["failed"]) == (2, 2)
    assert "not a video" in rep["by_name"]["b.mp4"]["error"]
    assert "truncated" in rep["by_name"]["d.mp4"]["error"]
    assert "failed  " in res.stderr and "b.mp4" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "a.mkv",
        "c.mkv",
    ]  # nothing under a failed input's name, no temp file


@pytest.mark.parametrize(
    "name,codec",
    [
        ("long.mkv", "ffv1"),  # VFR timestamps, audio, subtitles
        (
            "long.mp4",
            "libx264rgb",
        ),  # x264 with B-frames (each part's encoder restarts its decode timestamps), AAC priming
        # MPEG-TS seeks on decoding times, landing after a part's first keyframe (its B-frames show
        # before it): the parts after the first failed with "only 0 of its frames could be decoded"
        ("long.ts", "libx264rgb"),
    ],
)
def test_segmented_run_equals_single_run(tmp_path, tiny_weights, name, codec):
    (src,) = make_clips(tmp_path, {name: 40})
    out = tmp_path / f"seg{src.suffix}"
    res = invoke(
        src,
        "-o",
        out,
        "--weights",
        tiny_weights,
        "--backend",
        "torch",
        "--codec",
        codec,
        "--segments",
        "3",
        "--report",
        tmp_path / "r.json",
    )
    assert res.exit_code == 0, res.stderr
    item = load_report(tmp_path / "r.json")["items"][0]
    assert item["segments"] == 3 and item["frames"] == 40 and item["status"] == "done"
    assert_same_video(out, single_run(src, tmp_path / f"single{src.suffix}", tiny_weights, codec))
    assert hidden(tmp_path) == []  # the parts are gone


def _stopped_after_part_0(src, out, options):
    """A segmented run stopped (as Ctrl-C stops it) once it has written its first part."""
    import threading

    from streamdeblur.batch import BatchOptions, deblur_many
    from streamdeblur.batch.segments import segment_dir

    stop = threading.Event()
    part0 = segment_dir(out) / "part-0000.mkv"
    before = stamp(part0) if part0.exists() else None

    def progress(_):
        if part0.exists() and stamp(part0) != before:
            stop.set()

    return deblur_many([src], out, options, BatchOptions(segments=3), on_progress=progress, stop_event=stop)


def stamp(path):
    """A file's identity and modification time: a file written again has another."""
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def test_a_stopped_segmented_run_goes_on_from_its_finished_parts(tmp_path, tiny_weights):
    from streamdeblur.api import RunOptions
    from streamdeblur.batch import BatchOptions, deblur_many
    from streamdeblur.batch.segments import segment_dir

    (src,) = make_clips(tmp_path, {"long.mkv": 40})
    out = tmp_path / "seg.mkv"
    parts, part0 = segment_dir(out), segment_dir(out) / "part-0000.mkv"
    ffv1 = RunOptions(weights=str(tiny_weights), backend="torch", codec="ffv1", batch=2)
    rgb = RunOptions(weights=str(tiny_weights), backend="torch", codec="libx264rgb", batch=2)

    first = _stopped_after_part_0(src, out, ffv1)
    (item,) = first.items
    assert first.cancelled and item.status == "cancelled" and not out.exists()
    assert f"1 of 3 parts are kept in {parts}: the same command again goes on from them" in item.error
    assert sorted(os.listdir(parts)) == ["part-0000.mkv", "plan.json"]  # the part cut short is gone
    made = stamp(part0)

    # other settings (another codec): the kept part is not theirs, so it is made again
    second = _stopped_after_part_0(src, out, rgb)
    assert not any("went on from" in w for w in second.items[0].warnings)
    assert stamp(part0) != made
    made = stamp(part0)

    # the same settings again: part 0 is used as it is, parts 1 and 2 are made, and the whole equals a single run
    seen = set()
    third = deblur_many(
        [src], out, rgb, BatchOptions(segments=3), on_progress=lambda _: part0.exists() and seen.add(stamp(part0))
    )
    (item,) = third.items
    assert item.status == "done" and item.frames == 40 and not third.cancelled
    assert item.kept_frames == 16 and third.deblurred == 24  # what it did this time: what its FPS counts
    assert item.warnings == [f"went on from 1 of 3 parts a stopped run of it had finished ({parts})"]
    assert seen == {made}  # never rewritten
    assert_same_video(out, single_run(src, tmp_path / "single.mkv", tiny_weights, "libx264rgb"))
    assert hidden(tmp_path) == []  # the parts and their plan are gone after the join


def test_parts_made_with_preset_auto_are_not_gone_on_from(tmp_path, tiny_weights):
    """--preset auto picks its preset per run; parts of two presets cannot be joined, so a stopped run's
    parts are not kept for the next one (which would fail at the join after all its work)."""
    from streamdeblur.api import RunOptions
    from streamdeblur.batch.segments import plan_segments, resume_parts, segment_dir

    (src,) = make_clips(tmp_path, {"long.mkv": 24})
    out = tmp_path / "seg.mp4"
    plan = plan_segments(src, 3)
    fixed = RunOptions(weights=str(tiny_weights), codec="libx264", preset="veryfast")
    assert resume_parts(out, src, plan, fixed) == {} and (segment_dir(out) / "plan.json").exists()
    auto = RunOptions(weights=str(tiny_weights), codec="libx264", preset="auto")
    assert resume_parts(out, src, plan, auto) is None and not segment_dir(out).exists()


def test_segmented_run_keeps_attachments_and_data_streams(tmp_path, tiny_weights):
    import av
    from videofiles import with_attachment_and_data

    for fmt, ext in (("matroska", ".mkv"), ("mp4", ".mp4")):
        src = tmp_path / f"in{ext}"
        with_attachment_and_data(src, fmt)
        codec = "ffv1" if ext == ".mkv" else "libx264rgb"
        res = invoke(
            src,
            "-o",
            tmp_path / f"seg{ext}",
            "--weights",
            tiny_weights,
            "--backend",
            "torch",
            "--codec",
            codec,
            "--segments",
            "2",
            "-q",
        )
        assert res.exit_code == 0, res.stderr
        single = single_run(src, tmp_path / f"single{ext}", tiny_weights, codec)
        assert_same_video(tmp_path / f"seg{ext}", single)
        with av.open(str(tmp_path / f"seg{ext}")) as a, av.open(str(single)) as b:
            assert [(s.name, bytes(s.data)) for s in a.streams.attachments] == [
                (s.name, bytes(s.data)) for s in b.streams.attachments
            ]
        assert packets(tmp_path / f"seg{ext}", "data") == packets(single, "data")


def test_segments_cut_at_keyframes_into_about_equal_parts(tmp_path):
    from streamdeblur.batch.segments import plan_segments

    (src,) = make_clips(tmp_path, {"k.mkv": 40})  # keyframes every 8 frames
    plan = plan_segments(src, 3)
    assert [s.frames for s in plan.segments] == [16, 16, 8] or [s.frames for s in plan.segments] == [16, 8, 16]
    assert sum(s.frames for s in plan.segments) == 40 and all(s.first_frame % 8 == 0 for s in plan.segments)
    assert len(plan_segments(src, 100).segments) == 5  # no more parts than keyframes


@pytest.mark.parametrize(
    "case,words",
    [
        ("output_looks_like_a_file", ["-o names a folder"]),
        ("output_is_a_file", ["is a file"]),
        ("collision", ["both be written"]),
        ("unknown_format", ["--format"]),
        ("no_container_for_extension", ["--format"]),
        ("missing", ["not found"]),
        ("empty_folder", ["no video files"]),
        ("url", ["stream url"]),
        ("workers_without_cluster", ["--cluster"]),
        ("segments_zero", ["--segments"]),
    ],
)
def test_user_mistakes_are_one_line_and_nothing_is_created(tmp_path, tiny_weights, case, words):
    make_clips(tmp_path / "clips", {"a.mkv": 3})
    a = tmp_path / "clips" / "a.mkv"
    out = tmp_path / "out"
    args: list = [a, tmp_path / "clips" / "a.mkv", "-o", out]
    if case == "output_looks_like_a_file":
        (tmp_path / "x").mkdir()
        make_clips(tmp_path / "x", {"b.mkv": 3})
        args = [a, tmp_path / "x" / "b.mkv", "-o", tmp_path / "out.mp4"]
    elif case == "output_is_a_file":
        (tmp_path / "afile").write_text("x")
        args = [tmp_path / "clips", "-o", tmp_path / "afile"]
    elif case == "collision":
        make_clips(tmp_path / "x", {"a.mp4": 3})
        args = [a, tmp_path / "x" / "a.mp4", "-o", out, "--format", "mkv"]
    elif case == "unknown_format":
        args = [tmp_path / "clips", "-o", out, "--format", "wmv"]
    elif case == "no_container_for_extension":
        odd = tmp_path / "clips" / "odd.wmv"
        odd.write_bytes(a.read_bytes())
        args = [tmp_path / "clips", "-o", out]
    elif case == "missing":
        args = [a, tmp_path / "nope.mkv", "-o", out]
    elif case == "empty_folder":
        (tmp_path / "empty").mkdir()
        args = [tmp_path / "empty", "-o", out]
    elif case == "url":
        args = [a, "rtsp://127.0.0.1:9/cam", "-o", out]
    elif case == "workers_without_cluster":
        args = [tmp_path / "clips", "-o", out, "--workers", "2"]
    elif case == "segments_zero":
        args = [a, "-o", tmp_path / "s.mkv", "--segments", "0"]
    before = sorted(p.name for p in tmp_path.iterdir())
    res = invoke(*args, "--weights", tiny_weights, *OPTS)
    if case == "segments_zero":  # typer's own range check: a usage error, exit 2
        assert res.exit_code == 2 and "--segments" in res.stderr and "Traceback" not in res.stderr
    else:
        one_line_error(res, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


BLOCK_RAY = """
import sys
class NoRay:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError("No module named 'ray'", name="ray")
        return None
sys.meta_path.insert(0, NoRay())
for m in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
    del sys.modules[m]
from streamdeblur.cli import main
sys.argv = ["streamdeblur", *sys.argv[1:]]
main()
"""


def test_cluster_without_ray_is_a_one_line_error_naming_the_extra(tmp_path, tiny_weights):
    make_clips(tmp_path / "clips", {"a.mkv": 3})
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_RAY, "run", str(tmp_path / "clips"), "-o", str(out), "--cluster", "local"]
        + ["--weights", str(tiny_weights)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "ray" in err.lower() and "pip install 'streamdeblur[ray]'" in err, err
    assert not out.exists()  # checked before anything is created


def test_a_backend_that_cannot_run_is_one_line_and_leaves_no_folder(tmp_path, tiny_weights):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    make_clips(tmp_path / "clips", {"a.mkv": 3})
    res = invoke(
        tmp_path / "clips",
        "-o",
        tmp_path / "out" / "deep",
        "--weights",
        tiny_weights,
        "--backend",
        "torch",
        "--device",
        "cuda",
    )
    one_line_error(res, "cuda")
    assert not (tmp_path / "out").exists()


def test_the_frames_expected_of_a_matroska_whose_sound_runs_on_are_its_pictures(tmp_path):
    """The batch's progress and report expect a file's frames from its header: a Matroska's length is its
    longest track's, so 10 frames under 1 s of sound were expected as 26 (a report's expected_frames)."""
    from streamdeblur.batch.jobs import probe_frames

    src = tmp_path / "talk.mkv"
    sound_running_on(src)
    assert probe_frames(src) == 10
