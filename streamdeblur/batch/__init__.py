"""Many inputs, and long inputs in segments: ``streamdeblur run a.mp4 clips/ -o out/``; many
pictures too (``run shots/ -o sharp/ --cluster auto``: a picture is one task, one frame).

:func:`deblur_many` is the library form. It resolves the inputs (files, and the video
files of folders) to outputs (``OUT/NAME.EXT``: the input's name, the extension of
``format`` or the input's own; :mod:`streamdeblur.batch.jobs`), checks everything a user can get
wrong before any work starts, and then hands the
:class:`~streamdeblur.batch.schedule.Schedule`'s tasks to workers
(:class:`~streamdeblur.batch.worker.Worker`): without a cluster one worker runs them one
after another in this process; with ``cluster`` (:mod:`streamdeblur.batch.cluster`) each
Ray actor holds one, and tasks are handed out as workers become free. The run's options
are the single run's :class:`~streamdeblur.api.RunOptions` and the :class:`BatchOptions`.

What happens to an input is its :class:`~streamdeblur.batch.reports.ItemReport` (status,
frames, seconds, backend, error), all of which the
:class:`~streamdeblur.batch.reports.BatchResult` writes as the ``--report`` JSON.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..api import RunOptions
from ..errors import InputError, OutputError
from ..fileio import check_writable
from ..stills import is_still
from . import records
from .jobs import Part, output_is_folder, probe_frames, resolve_jobs
from .reports import FINAL, BatchProgress, BatchResult, BatchStart, ItemReport, WorkerInfo
from .schedule import Schedule
from .tasks import Result
from .worker import Worker, interrupt_signal

if TYPE_CHECKING:
    from .cluster import Connection

__all__ = ["BatchOptions", "BatchResult", "ItemReport", "deblur_many", "is_batch"]


@dataclass(frozen=True)
class BatchOptions:
    """The options of a run over many inputs (``run`` with several inputs, folders,
    ``--cluster`` or ``--segments``), checked when built."""

    format: str | None = None  # the outputs' container; None: each input's own extension
    cluster: str | None = None  # None: here, one file after another; "local", "auto" or an address: Ray
    segments: int | None = None  # cut each input at keyframes into up to N parts
    cpus_per_worker: int | None = None  # with a cluster: cores per worker (None: 1)
    workers: int | None = None  # with a cluster: at most N workers
    report: str | os.PathLike[str] | None = None  # write the JSON report there

    def __post_init__(self) -> None:
        if self.segments is not None and self.segments < 1:
            raise InputError(f"--segments must be 1 or more, got {self.segments}")
        if self.cluster is None and (self.cpus_per_worker is not None or self.workers is not None):
            raise InputError(
                "--cpus-per-worker and --workers apply to --cluster", "add --cluster local, or leave them out"
            )
        if self.cpus_per_worker is not None and self.cpus_per_worker < 1:
            raise InputError(f"--cpus-per-worker must be 1 or more, got {self.cpus_per_worker}")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"--workers must be 1 or more, got {self.workers}")

    @property
    def given(self) -> bool:
        """Whether any of them is set (which makes even one input a batch run)."""
        return any(
            v is not None
            for v in (self.format, self.cluster, self.segments, self.cpus_per_worker, self.workers, self.report)
        )


def is_batch(inputs: Sequence[str], output: str | os.PathLike[str], options: BatchOptions) -> bool:
    """Whether a ``run`` command line is a batch: several inputs, a folder among them or as
    ``-o``, or any of the batch options."""
    return output_is_folder(inputs, output) or options.given


def deblur_many(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    options: RunOptions = RunOptions(),
    batch_options: BatchOptions = BatchOptions(),
    *,
    on_progress: Callable[[BatchProgress], None] | None = None,
    on_item: Callable[[ItemReport], None] | None = None,
    on_start: Callable[[BatchStart], None] | None = None,
    stop_event: threading.Event | None = None,
) -> BatchResult:
    """Deblur several inputs (files, folders' video files) into ``output``.

    ``output``: a folder (created if missing) for several inputs or when it is one; a file
    for a single input file. ``options``: as for a single run. ``batch_options.cluster``:
    None (here, one file after another), ``"local"`` (a Ray cluster on this machine),
    ``"auto"`` or an address (an existing one). ``segments``: cut each input at keyframes
    into up to N parts, run them in parallel, join. ``report``: write the JSON report
    there. Bad inputs are reported in the result, not raised; errors that stop everything
    before it starts (an output that cannot be written, Ray missing) are raised.
    """
    many = batch_options
    if many.cluster is not None:
        from .cluster import require_ray

        require_ray()  # before anything is read: a missing extra is a one-line error
    jobs, is_folder = resolve_jobs(inputs, output, format=many.format)
    if many.segments is not None and any(str(o).lower().endswith((".m3u8", ".mpd")) for _, o in jobs):
        raise OutputError(
            "--segments joins an input's parts into one file; an HLS or DASH output (.m3u8, .mpd) is segments already",
            "leave --segments out, or write .mp4/.mkv",
        )
    _check_report_path(many.report, [*(str(i) for i, _ in jobs), *(str(o) for _, o in jobs), str(output)])
    if not is_folder:
        _check_single_output(jobs[0][1], options.overwrite)
    conn = _connect(many.cluster)  # an unreachable cluster: an error before any folder is created
    made = _make_output_folder(Path(str(output)), conn) if is_folder else []
    items = [
        ItemReport(input=str(i), output=str(o), expected_frames=1 if is_still(i) else probe_frames(i, Part.of(options)))
        for i, o in jobs
    ]
    made_with = [None if is_still(i) else records.settings(i, options) for i, _ in jobs]
    schedule = Schedule(
        items,
        segments=many.segments,
        overwrite=options.overwrite,
        on_progress=on_progress,
        on_item=on_item,
        made_with=made_with,
    )
    t0 = time.perf_counter()
    try:
        workers, signum, mode = _run_schedule(schedule, conn, options, many, stop_event, on_start)
    except BaseException:
        _remove_empty(made)  # a worker that could not start wrote nothing
        if many.report is not None:  # an error stopped everything: still say what was done
            _unfinished(items, time.perf_counter() - t0, many.cluster or "this process").write_report(many.report)
        raise
    result = BatchResult(
        items=items,
        seconds=time.perf_counter() - t0,
        mode=mode,
        workers=workers,
        cancelled=signum is not None,
        signum=signum or 2,
    )
    if many.report is not None:
        result.write_report(many.report)
    return result


# -- the checks before any work --------------------------------------------------------


def _check_report_path(report: str | os.PathLike[str] | None, not_these: Sequence[str]) -> None:
    """``--report``: a file that can be written, not one of the run's inputs or outputs, and not an
    existing file other than a JSON (an earlier run's report is replaced)."""
    if report is None:
        return
    rp = Path(report)
    parent = rp.parent if str(rp.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"cannot write the report {rp}: its folder {parent} does not exist", "create it first")
    # a folder, a file as its folder, /sys, the input itself: before any work
    check_writable(rp, "--report", "report.json", kind="json", not_these=not_these)


def _check_single_output(target: Path, overwrite: bool) -> None:
    """One input into a file: refused as a single run refuses it (an existing output is
    checked for completeness by the worker instead)."""
    from ..video.sinks import check_output

    if not (target.exists() and not overwrite):
        check_output(target, overwrite=overwrite)


def _connect(cluster: str | None) -> Connection | None:
    if cluster is None:
        return None
    from .cluster import connect

    return connect(cluster)


def _make_output_folder(outdir: Path, conn: Connection | None) -> list[Path]:
    """Create ``outdir`` (and its parents); returns the folders made, deepest first. A
    failure disconnects from a cluster this run started."""
    try:
        made = [p for p in [outdir, *outdir.parents] if not p.exists()]
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(
                f"cannot create the output folder {outdir}: {e.strerror or e}", "choose another -o"
            ) from None
        if not os.access(outdir, os.W_OK | os.X_OK):
            raise OutputError(f"output folder {outdir} is not writable", "choose another folder or fix its permissions")
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return made


# -- running -----------------------------------------------------------------------------


def _run_schedule(
    schedule: Schedule,
    conn: Connection | None,
    options: RunOptions,
    many: BatchOptions,
    stop_event: threading.Event | None,
    on_start: Callable[[BatchStart], None] | None,
) -> tuple[list[WorkerInfo], int | None, str]:
    """(workers, signum if stopped, mode): here, or on the cluster ``conn``."""
    if conn is None:
        workers, signum = _run_here(schedule, options, stop_event, on_start)
        return workers, signum, "this process"
    from .cluster import run_on_cluster

    return run_on_cluster(
        schedule,
        conn,
        options,
        cpus_per_worker=many.cpus_per_worker or 1,
        max_workers=many.workers,
        stop_event=stop_event,
        on_start=on_start,
    )


def _run_here(
    schedule: Schedule,
    options: RunOptions,
    stop_event: threading.Event | None,
    on_start: Callable[[BatchStart], None] | None,
) -> tuple[list[WorkerInfo], int | None]:
    """One worker in this process, the tasks one after another. Returns (workers, signum if stopped)."""
    worker = Worker(options, stop_event=stop_event)
    info = worker.setup()  # a backend that cannot run here is the user's error: raised, exit 2
    info.worker = f"{info.host} pid {info.pid}"
    worker.listener = schedule.live
    worker.capture_logs = True
    if on_start is not None:
        on_start(BatchStart("this process", info))
    schedule.begin(1)
    try:
        signum = _run_tasks(schedule, worker, stop_event)
    finally:
        worker.close()
    if signum is not None:
        schedule.stopped(signum)
    return [info], signum


def _run_tasks(schedule: Schedule, worker: Worker, stop_event: threading.Event | None) -> int | None:
    """Every task of ``schedule`` on ``worker``; the signal number if the run was stopped."""
    assert worker.info is not None
    while True:
        if stop_event is not None and stop_event.is_set():
            return 2
        task = schedule.next_task()
        if task is None:
            return None
        schedule.start(task, worker.info.worker)
        try:
            res = worker.run(task)
        except KeyboardInterrupt as e:  # between frames: outside a pipeline run
            schedule.finish(task, Result("cancelled", error="interrupted"))
            return interrupt_signal(e)
        worker.info.tasks += 1
        schedule.finish(task, res)
        if res.status == "cancelled":
            return res.signum


# -- after an error ----------------------------------------------------------------------


def _remove_empty(made: list[Path]) -> None:
    """The folders this run created, deepest first, while they are empty."""
    for d in made:
        try:
            d.rmdir()
        except OSError:
            break


def _unfinished(items: list[ItemReport], seconds: float, mode: str) -> BatchResult:
    """The report of a run an error stopped: what is not final is marked cancelled."""
    for it in items:
        if it.status not in FINAL:
            it.status, it.error = "cancelled", "not finished: the run stopped with an error"
    return BatchResult(items=items, seconds=seconds, mode=mode, workers=[], cancelled=True)
