"""`streamdeblur run --cluster` on a real local Ray cluster (2 CPUs, so 2 workers), started
once for this module and stopped after: several inputs equal to single runs, bad inputs
reported while the rest finish, a segmented run equal to a single run, a worker that
dies retried once on another worker, and a stop that reports what finished."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import av
import pytest
from batchfiles import OPTS, assert_same_video, load_report, make_clips, not_a_video, single_run, truncated_mp4
from typer.testing import CliRunner
from videofiles import hidden

from streamdeblur.cli import app

ray = pytest.importorskip("ray", reason="needs the ray extra: pip install 'streamdeblur[ray]'")
runner = CliRunner()


@pytest.fixture(scope="module")
def kill_list(tmp_path_factory):
    """A real Ray cluster for the module; yields the file the workers' fault hook reads."""
    hook = tmp_path_factory.mktemp("faults") / "kill.txt"
    old = os.environ.get("STREAMDEBLUR_TEST_KILL_WORKER")
    os.environ["STREAMDEBLUR_TEST_KILL_WORKER"] = str(hook)  # the workers inherit it
    ray.init(
        address="local",  # its own, even where `ray start` runs on this machine
        num_cpus=2,
        object_store_memory=100 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        namespace="streamdeblur-tests",
    )
    try:
        yield hook
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("STREAMDEBLUR_TEST_KILL_WORKER", None)
        else:
            os.environ["STREAMDEBLUR_TEST_KILL_WORKER"] = old


def invoke(*args):
    return runner.invoke(app, ["run", *map(str, args)])


def test_cluster_deblurs_many_inputs_like_single_runs_and_reports_bad_ones(tmp_path, tiny_weights, kill_list):
    good = make_clips(tmp_path / "clips", {"a.mkv": 12, "b.mp4": 9, "c.mkv": 7})
    not_a_video(tmp_path / "clips" / "bad.mkv")
    truncated_mp4(tmp_path / "clips" / "cut.mp4")
    out = tmp_path / "out"
    res = invoke(
        tmp_path / "clips",
        "-o",
        out,
        "--cluster",
        "local",
        "--weights",
        tiny_weights,
        *OPTS,
        "--format",
        "mkv",
        "--report",
        tmp_path / "r.json",
    )
    assert res.exit_code == 1, res.stderr  # two inputs failed
    assert "Traceback" not in res.stderr
    rep = load_report(tmp_path / "r.json")
    assert rep["mode"].startswith("ray") and "2 workers (1 CPU each)" in res.stderr  # 2 CPUs, 1 per worker
    # the report lists the workers that were ready: on a busy machine the first may do all the work
    assert 1 <= len(rep["workers"]) <= 2 and all(w["backend"] == "torch" and w["threads"] == 1 for w in rep["workers"])
    assert (rep["done"], rep["failed"]) == (3, 2)
    assert "not a video" in rep["by_name"]["bad.mkv"]["error"]
    assert "truncated" in rep["by_name"]["cut.mp4"]["error"]
    for src in good:
        item = rep["by_name"][src.name]
        assert item["status"] == "done" and item["workers"] and item["backend"] == "torch"
        assert_same_video(out / f"{src.stem}.mkv", single_run(src, tmp_path / f"single-{src.stem}.mkv", tiny_weights))
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv", "b.mkv", "c.mkv"]


def test_cluster_deblurs_a_folder_of_pictures_like_single_runs(tmp_path, tiny_weights, kill_list):
    """`run shots/ -o sharp/ --cluster local`: each picture a task, upright and with its profile as a
    single run writes it, a picture that cannot be read failing alone, a rerun skipping what is done."""
    import numpy as np
    from PIL import Image

    shots = tmp_path / "shots"
    shots.mkdir()
    rng = np.random.default_rng(8)
    exif = Image.Exif()
    exif[0x0112] = 6
    for name in ("a.jpg", "b.png", "c.webp"):
        Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(
            shots / name, exif=exif.tobytes(), icc_profile=b"not a real profile but kept"
        )
    (shots / "d.jpg").write_bytes(b"not a picture")
    out = tmp_path / "sharp"
    args = ("--cluster", "local", "--weights", tiny_weights, "--backend", "torch", "--report", tmp_path / "r.json")
    res = invoke(shots, "-o", out, *args)
    assert res.exit_code == 1, res.stderr  # d.jpg failed
    assert "Traceback" not in res.stderr
    rep = load_report(tmp_path / "r.json")
    assert rep["mode"].startswith("ray") and (rep["done"], rep["failed"]) == (3, 1)
    assert "not a picture OpenCV can read" in rep["by_name"]["d.jpg"]["error"]
    for name in ("a.jpg", "b.png", "c.webp"):
        single = tmp_path / f"single-{name}"
        assert invoke(shots / name, "-o", single, "--weights", tiny_weights, "--backend", "torch").exit_code == 0
        got = Image.open(out / name)
        assert got.size == (32, 48) and got.info.get("icc_profile") == b"not a real profile but kept"
        assert np.array_equal(np.asarray(got), np.asarray(Image.open(single)))
    assert not (out / "d.jpg").exists() and hidden(out) == []
    res = invoke(shots, "-o", out, *args)  # again: the three are skipped, the bad one fails again
    rep = load_report(tmp_path / "r.json")
    assert (rep["skipped"], rep["failed"]) == (3, 1), rep


def test_cluster_segmented_run_equals_single_run(tmp_path, tiny_weights, kill_list):
    (src,) = make_clips(tmp_path, {"long.mkv": 48})
    out = tmp_path / "out.mkv"
    res = invoke(
        src,
        "-o",
        out,
        "--cluster",
        "local",
        "--segments",
        "4",
        "--weights",
        tiny_weights,
        *OPTS,
        "--report",
        tmp_path / "r.json",
    )
    assert res.exit_code == 0, res.stderr
    item = load_report(tmp_path / "r.json")["items"][0]
    assert item["segments"] == 4 and item["frames"] == 48
    assert_same_video(out, single_run(src, tmp_path / "single.mkv", tiny_weights))  # frames, VFR pts, audio, subtitles
    assert hidden(tmp_path) == []


def test_dead_worker_is_retried_once_on_another_and_the_others_finish(tmp_path, tiny_weights, kill_list):
    clips = make_clips(tmp_path / "clips", {"a.mkv": 6, "once.mkv": 6, "always.mkv": 6})
    kill_list.write_text("once once.mkv\nalways always.mkv\n")
    out = tmp_path / "out"
    try:
        res = invoke(
            tmp_path / "clips",
            "-o",
            out,
            "--cluster",
            "local",
            "--weights",
            tiny_weights,
            *OPTS,
            "--report",
            tmp_path / "r.json",
        )
    finally:
        kill_list.write_text("")
    assert res.exit_code == 1, res.stderr
    rep = load_report(tmp_path / "r.json")
    a, once, always = (rep["by_name"][p.name] for p in clips)
    assert a["status"] == "done"
    assert once["status"] == "done" and once["attempts"] == 2 and any("died" in w for w in once["warnings"])
    assert len(set(once["workers"])) == 2  # the retry ran on another worker
    assert always["status"] == "failed" and "died" in always["error"] and "twice" in always["error"]
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv", "once.mkv"]  # nothing under the failed one's name
    assert_same_video(out / "once.mkv", single_run(clips[1], tmp_path / "single.mkv", tiny_weights))


def test_a_worker_lost_mid_encode_leaves_no_temporary_file(tmp_path, tiny_weights, kill_list):
    """A worker killed while its output's hidden temporary file exists (on any node: the name carries
    the worker's host and pid): the driver, told by Ray that the worker is gone, removes it."""
    make_clips(tmp_path / "clips", {"a.mkv": 6, "lost.mkv": 6})
    kill_list.write_text("midway lost.mkv\n")
    out = tmp_path / "out"
    try:
        res = invoke(tmp_path / "clips", "-o", out, "--cluster", "local", "--weights", tiny_weights, *OPTS,
                     "--report", tmp_path / "r.json")  # fmt: skip
    finally:
        kill_list.write_text("")
    assert res.exit_code == 1, res.stderr
    lost = load_report(tmp_path / "r.json")["by_name"]["lost.mkv"]
    assert lost["status"] == "failed" and "twice" in lost["error"], lost
    assert "removed its temporary file .lost." in lost["error"], lost  # the second worker's, by the driver
    assert any("removed its temporary file .lost." in w for w in lost["warnings"]), lost  # the first's
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv"]
    assert hidden(out) == []


def test_stop_ends_the_cluster_work_and_reports_what_finished(tmp_path, tiny_weights, kill_list):
    from streamdeblur.api import RunOptions
    from streamdeblur.batch import BatchOptions, deblur_many

    make_clips(tmp_path / "clips", {"a.mkv": 4, "b.mkv": 300, "c.mkv": 300, "d.mkv": 300})
    stop = threading.Event()

    def on_item(it):
        if it.status == "done":
            stop.set()  # as Ctrl-C does in the CLI

    out = tmp_path / "out"
    options = RunOptions(weights=str(tiny_weights), backend="torch", codec="ffv1", batch=1)
    result = deblur_many(
        [tmp_path / "clips"], out, options, BatchOptions(cluster="local"), on_item=on_item, stop_event=stop
    )
    assert result.cancelled and not result.ok
    status = {Path(i.input).name: i.status for i in result.items}
    assert "done" in status.values() and "cancelled" in status.values()
    for it in result.items:
        if it.status == "cancelled":
            assert not Path(it.output).exists()  # at most NAME.partial.mkv, never the final name
    assert not any(p.name.endswith(".tmp.mkv") for p in out.iterdir())


def test_workers_that_cannot_start_are_one_line_error(tmp_path, tiny_weights, kill_list):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    make_clips(tmp_path / "clips", {"a.mkv": 3})
    res = invoke(
        tmp_path / "clips",
        "-o",
        tmp_path / "out",
        "--cluster",
        "local",
        "--weights",
        tiny_weights,
        "--backend",
        "torch",
        "--device",
        "cuda",
    )
    assert res.exit_code == 2, res.stderr
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("streamdeblur: error: the workers cannot start:") and "cuda" in err[0], (
        err
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("name", "codec"), [("out.mkv", "libx264"), ("out.ts", "libx264"), ("out.mkv", "libsvtav1")])
def test_segmented_h264_into_matroska_or_mpeg_ts_joins_its_parts(tmp_path, tiny_weights, kill_list, name, codec):
    """H.264 with B-frames, the default codec: Matroska stores no decode timestamps, so each part's first
    packets read back without one, and the join failed ("non monotonically increasing dts"); MPEG-TS
    shifted the first part alone (its B-frames start before 0), so two frames overlapped at each join;
    AV1's parts could not be joined at all (an internal error naming its decoder, libdav1d)."""
    (src,) = make_clips(tmp_path, {"phone.mp4": 30})  # x264, B-frames, a keyframe every 10 frames
    out = tmp_path / name
    res = invoke(src, "-o", out, "--cluster", "local", "--segments", "3", "--weights", tiny_weights,
                 "--backend", "torch", "--codec", codec, "--report", tmp_path / "r.json")  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert load_report(tmp_path / "r.json")["items"][0]["segments"] == 3
    with av.open(str(src)) as c:
        want = sorted(float(f.time) for f in c.decode(video=0))
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        got = [float(f.time) for f in c.decode(video=0)]
    # MPEG-TS starts its clock where its muxer likes: the times from the first frame on are the input's
    assert [round(t - got[0], 3) for t in got] == [round(t - want[0], 3) for t in want]


@pytest.mark.parametrize("ext", [".avi", ".gif"])
def test_segments_into_avi_or_gif_are_refused_before_any_work(tmp_path, ext):
    (src,) = make_clips(tmp_path, {"a.mp4": 4})
    res = invoke(src, "-o", tmp_path / f"out{ext}", "--cluster", "local", "--segments", "2")
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        f"streamdeblur: error: --segments into {ext}: {ext[1:].upper()} keeps no start times, so parts of it "
        "cannot be joined; write .mkv, .mp4 or .ts, or leave --segments out"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


def test_sigterm_stops_a_cluster_run_as_ctrl_c_does(tmp_path, tiny_weights, kill_list):
    """`kill PID` (SIGTERM: docker stop, a job scheduler) to `run --cluster local`: ray.init took SIGTERM
    over (its handler and Ray's C++ one), so the run printed a stack dump, exited 1 without the stop the
    command line sets up and left its workers' temporary files; then Ray's ray.wait turned the signal into
    a plain KeyboardInterrupt (exit 130). Now: exit 143, the partial files, the report, and a re-run
    finishes the rest."""
    import signal
    import subprocess
    import sys
    import time

    from streamdeblur.batch.jobs import count_video_packets

    clips = make_clips(tmp_path / "clips", {"a.mkv": 600, "b.mkv": 600})
    out = tmp_path / "out"
    report = tmp_path / "r.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env.pop("STREAMDEBLUR_TEST_KILL_WORKER", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from streamdeblur.cli import main; main()", "run", str(tmp_path / "clips"), "-o",
         str(out), "--cluster", "local", "--weights", str(tiny_weights), "--backend", "torch", "--codec", "ffv1",
         "--batch", "1", "--report", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if out.is_dir() and any(".tmp." in p.name and p.stat().st_size > 20_000 for p in out.iterdir()):
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "SIGTERM received" not in stderr and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith("streamdeblur: stopped:"), stderr
    rep = load_report(report)
    assert rep["cancelled"] and rep["done"] < 2, rep
    assert not any(".tmp." in p.name for p in out.iterdir())  # finished as NAME.partial.mkv, never left half
    assert not any((out / p.name).exists() for p in clips if rep["by_name"][p.name]["status"] != "done")
    res = invoke(tmp_path / "clips", "-o", out, "--cluster", "local", "--weights", tiny_weights, *OPTS,
                 "--report", report)  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert {i["status"] for i in load_report(report)["items"]} <= {"done", "skipped"}
    for p in clips:
        assert count_video_packets(out / p.name) == 600


def test_cluster_local_starts_its_own_cluster_where_another_is_named(tmp_path, tiny_weights):
    """`--cluster local` on a machine where `ray start` runs (or $RAY_ADDRESS names a cluster): ray.init()
    joined that one instead, and refused the local cluster's object store size: "cannot start a local Ray
    cluster: When connecting to an existing cluster, object_store_memory must not be provided"."""
    import subprocess
    import sys

    make_clips(tmp_path / "clips", {"a.mkv": 3})
    env = dict(os.environ, OMP_NUM_THREADS="1", RAY_ADDRESS="127.0.0.1:9")  # nothing there
    env.pop("STREAMDEBLUR_TEST_KILL_WORKER", None)
    res = subprocess.run(
        [sys.executable, "-c", "from streamdeblur.cli import main; main()", "run", str(tmp_path / "clips"), "-o",
         str(tmp_path / "out"), "--cluster", "local", "--weights", str(tiny_weights), *OPTS, "-q"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mkv"]


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_nothing_listens_is_one_line_at_once(tmp_path, scheme):
    """`--cluster head:6390` (a wrong port): ray.init retried for about 14 minutes, a warning line every few
    seconds (Ray Client: 30 s); now one line at once, exit 2, nothing written."""
    import socket
    import subprocess
    import sys

    (src,) = make_clips(tmp_path, {"a.mkv": 3})
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    res = subprocess.run(
        [sys.executable, "-c", "from streamdeblur.cli import main; main()", "run", str(src), "-o",
         str(tmp_path / "out") + "/", "--cluster", f"{scheme}127.0.0.1:{port}"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"streamdeblur: error: cannot connect to the Ray cluster at {scheme}127.0.0.1:{port}: nothing answers at "
        f"127.0.0.1:{port} (Connection refused); start one with `ray start --head` (docs/SCALE.md), check the "
        "address, or use --cluster local"
    ]
    assert not (tmp_path / "out").exists()


def test_a_dead_worker_leaves_stdout_to_the_summary_table(tmp_path, tiny_weights):
    """A worker lost in `run --cluster local`: Ray's driver printed the raylet's paragraph about it ("(raylet)
    A worker died or was killed while executing a task ...", in colour) on stdout, in the summary table a
    script reads; the input's warning on stderr says it already."""
    import subprocess
    import sys

    make_clips(tmp_path / "clips", {"a.mkv": 4, "b.mkv": 4})
    hook = tmp_path / "kill.txt"
    hook.write_text("once b.mkv\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", STREAMDEBLUR_TEST_KILL_WORKER=str(hook))
    res = subprocess.run(
        [sys.executable, "-c", "from streamdeblur.cli import main; main()", "run", str(tmp_path / "clips"), "-o",
         str(tmp_path / "out"), "--cluster", "local", "--weights", str(tiny_weights), *OPTS],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "died" in res.stderr  # the input's warning: retried on another worker
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["input", "status", "frames"] and len(lines) == 4, res.stdout
