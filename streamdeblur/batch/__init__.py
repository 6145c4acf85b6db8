"""Many inputs, and long inputs in segments: ``streamdeblur run a.mp4 clips/ -o out/``.

:func:`deblur_many` is the library form. It resolves the inputs (files, and the video
files of folders) to outputs (``OUT/NAME.EXT``: the input's name, the extension of
``format`` or the input's own; :mod:`streamdeblur.batch.jobs`), checks everything a user can get
wrong before any work starts, and then hands the :class:`~streamdeblur.schedule.Schedule`'s
tasks to workers (:class:`~streamdeblur.worker.Worker`): without a cluster one worker runs
them one after another in this process; with ``cluster`` (:mod:`streamdeblur.batch.cluster`)
each Ray actor holds one, and tasks are handed out as workers become free.

What happens to an input is its :class:`~streamdeblur.reports.ItemReport` (status,
frames, seconds, backend, error), all of which the
:class:`~streamdeblur.reports.BatchResult` writes as the ``--report`` JSON.

Re-running skips outputs that are complete. *Complete* means: a file exists under the
output's final name (which only a finished run writes: the sinks publish by renaming a
hidden temporary file) and it holds as many video frames as the input (both counted
from their packets, without decoding). An output that exists but is not complete is
reported as a failure and left alone; ``overwrite`` redoes every output.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError
from .jobs import output_is_folder, probe_frames, resolve_jobs
from .reports import FINAL, BatchProgress, BatchResult, ItemReport
from .schedule import Schedule
from .worker import Worker


def is_batch(inputs: list[str], output: str | os.PathLike, **flags: Any) -> bool:
    """Whether a ``run`` command line is a batch: several inputs, a folder among them or as
    ``-o``, or any of the batch options (``cluster``, ``segments``, ``report``, ``format``)."""
    return output_is_folder(inputs, output) or any(v not in (None, False) for v in flags.values())


def _run_here(schedule: Schedule, options: dict[str, Any], stop_event: threading.Event | None, on_start: Callable[[dict[str, Any]], None] | None) -> tuple[list[dict[str, Any]], int | None]:
    """One worker in this process, the tasks one after another. Returns (workers, signum if stopped)."""
    worker = Worker(options, stop_event=stop_event)
    info = worker.setup()  # a backend that cannot run here is the user's error: raised, exit 2
    label = f"{info['host']} pid {info['pid']}"
    info = dict(info, worker=label, tasks=0)
    worker.listener = lambda tid, n, total: schedule.live(tid, n, total)
    worker.capture_logs = True
    if on_start is not None:
        on_start({"mode": "this process", "workers": [info]})
    schedule.begin(1)
    signum = None
    try:
        while True:
            if stop_event is not None and stop_event.is_set():
                signum = 2
                break
            task = schedule.next_task()
            if task is None:
                break
            schedule.start(task, label)
            try:
                res = worker.run(task)
            except KeyboardInterrupt as e:  # between frames: outside a pipeline run
                schedule.finish(task, {"status": "cancelled", "error": "interrupted"})
                signum = getattr(e, "signum", 2)
                break
            info["tasks"] += 1
            schedule.finish(task, res)
            if res["status"] == "cancelled":
                signum = res.get("signum", 2)
                break
    finally:
        worker.close()
    if signum is not None:
        schedule.stopped(signum)
    return [info], signum


def deblur_many(
    inputs: list[str | os.PathLike],
    output: str | os.PathLike,
    *,
    format: str | None = None,
    cluster: str | None = None,
    segments: int | None = None,
    cpus_per_worker: int | None = None,
    workers: int | None = None,
    report: str | os.PathLike | None = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    on_item: Callable[[ItemReport], None] | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
    stop_event: threading.Event | None = None,
    **options: Any,
) -> BatchResult:
    """Deblur several inputs (files, folders' video files) into ``output``.

    ``output``: a folder (created if missing) for several inputs or when it is one; a file
    for a single input file. ``options``: :class:`~streamdeblur.api.RunOptions` fields, as
    for a single run. ``cluster``: None (here, one file after another), ``"local"`` (a
    Ray cluster on this machine), ``"auto"`` or an address (an existing one).
    ``segments``: cut each input at keyframes into up to N parts, run them in parallel,
    join. ``report``: write the JSON report there. Bad inputs are reported in the
    result, not raised; errors that stop everything before it starts (a bad option, an
    output that cannot be written, Ray missing) are raised.
    """
    from ..api import RunOptions

    opts = RunOptions(**options)  # unknown options: TypeError, as deblur_video
    if opts.batch < 1:
        raise ValueError(f"batch must be >= 1, got {opts.batch}")
    if segments is not None and segments < 1:
        raise InputError(f"--segments must be 1 or more, got {segments}")
    if cluster is None and (cpus_per_worker is not None or workers is not None):
        raise InputError("--cpus-per-worker and --workers apply to --cluster", "add --cluster local, or leave them out")
    cpus_per_worker = cpus_per_worker or 1
    if cpus_per_worker < 1:
        raise InputError(f"--cpus-per-worker must be 1 or more, got {cpus_per_worker}")
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be 1 or more, got {workers}")
    if cluster is not None:
        from .cluster import require_ray

        require_ray()  # before anything is read: a missing extra is a one-line error
    jobs, is_folder = resolve_jobs(inputs, output, format=format)
    if report is not None:
        rp = Path(report)
        if rp.is_dir():
            raise OutputError(f"--report {rp} is a folder", "name a file, such as report.json")
        parent = rp.parent if str(rp.parent) else Path(".")
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write the report {rp}: its folder {parent} does not exist or is not writable", "create it first or choose another path")
    if not is_folder:
        from ..video.sinks import check_output

        target = jobs[0][1]
        if not (target.exists() and not opts.overwrite):  # an existing output is checked for completeness by the worker
            check_output(target, overwrite=opts.overwrite)
    conn = None
    made: list[Path] = []  # folders this call creates: removed again if nothing could run
    if cluster is not None:
        from .cluster import connect

        conn = connect(cluster)  # an unreachable cluster: an error before any folder is created
    try:
        if is_folder:
            outdir = Path(str(output))
            made = [p for p in [outdir, *outdir.parents] if not p.exists()]
            try:
                outdir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OutputError(f"cannot create the output folder {outdir}: {e.strerror or e}", "choose another -o") from None
            if not os.access(outdir, os.W_OK | os.X_OK):
                raise OutputError(f"output folder {outdir} is not writable", "choose another folder or fix its permissions")
    except BaseException:
        if conn is not None and conn.owned:
            conn.ray.shutdown()
        raise
    items = [ItemReport(input=str(i), output=str(o), expected_frames=probe_frames(i)) for i, o in jobs]
    schedule = Schedule(items, segments=segments, overwrite=opts.overwrite, on_progress=on_progress, on_item=on_item)
    run_opts = asdict(opts)
    t0 = time.perf_counter()
    result: BatchResult | None = None
    try:
        if cluster is None:
            winfo, signum = _run_here(schedule, run_opts, stop_event, on_start)
            mode = "this process"
        else:
            from .cluster import run_on_cluster

            winfo, signum, mode = run_on_cluster(
                schedule, conn, run_opts, cpus_per_worker=cpus_per_worker, max_workers=workers, stop_event=stop_event, on_start=on_start
            )
        result = BatchResult(items=items, seconds=time.perf_counter() - t0, mode=mode, workers=winfo, cancelled=signum is not None, signum=signum or 2)
    finally:
        if result is None:
            for d in made:  # deepest first; only while empty (a worker that could not start wrote nothing)
                try:
                    d.rmdir()
                except OSError:
                    break
        if report is not None and result is None:  # an error stopped everything: still say what was done
            for it in items:
                if it.status not in FINAL:
                    it.status, it.error = "cancelled", "not finished: the run stopped with an error"
            BatchResult(items=items, seconds=time.perf_counter() - t0, mode=cluster or "this process", workers=[], cancelled=True).write_report(report)
    if report is not None:
        result.write_report(report)
    return result
