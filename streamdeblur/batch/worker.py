"""The worker of a batch run: it loads the generator and opens its backend once, then
runs *tasks* (:mod:`streamdeblur.batch.tasks`), each of which names files, never carries
frames: deblur one file, plan the cuts of one input, deblur one part or join the parts
(:mod:`streamdeblur.batch.segments`). The same class runs in this process and inside a Ray
actor (:mod:`streamdeblur.batch.cluster`)."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..api import RunOptions
from ..errors import Cancelled, Interrupted, StreamDeblurError
from ..stills import is_still
from . import records
from .jobs import Part, count_video_packets, output_complete
from .reports import WorkerInfo
from .tasks import FileTask, JoinTask, PartTask, PlanTask, Result, Task, TaskProgress

if TYPE_CHECKING:
    from ..backends import Backend
    from ..pipeline import Progress

log = logging.getLogger(__name__)

#: called with how far the running task has got, from the thread that writes its frames
OnTaskProgress = Callable[[TaskProgress], None]


class _Collect(logging.Handler):
    """The library's warnings during one task, for the report."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = " ".join(record.getMessage().split())
        except Exception:  # pragma: no cover
            return
        if msg not in self.messages:
            self.messages.append(msg)


def interrupt_signal(e: KeyboardInterrupt) -> int:
    """The signal that stopped a run: SIGTERM/SIGHUP carry theirs (or, where Ray raised a plain
    ``KeyboardInterrupt`` in place of the handler's, :func:`~streamdeblur.signals.received_stop_signal`
    knows it), Ctrl-C is 2."""
    if isinstance(e, (Interrupted, Cancelled)):
        return e.signum
    from ..signals import received_stop_signal

    return received_stop_signal() or 2


def share_options(options: RunOptions, threads: int) -> RunOptions:
    """``options`` for a worker given ``threads`` cores of a machine it shares with others:
    every CPU backend runs that many threads, and OpenVINO does not pin them (workers
    pinned to the same first cores: two 1-thread workers at 6 fps each, 11 unpinned)."""
    backend_options = dataclasses.replace(options.backend_options, threads=threads, openvino_cpu_pinning=False)
    return dataclasses.replace(options, backend_options=backend_options)


class Worker:
    """Loads the generator and opens a backend once (:meth:`setup`), then runs tasks.

    The same class runs in this process and inside a Ray actor (streamdeblur.batch.cluster).
    ``threads``: this worker's share of its machine's cores (:func:`share_options`); None:
    the libraries' defaults.
    """

    def __init__(
        self, options: RunOptions, threads: int | None = None, stop_event: threading.Event | None = None
    ) -> None:
        self.options = share_options(options, threads) if threads else options
        self.threads = threads
        self.backend: Backend | None = None
        self.info: WorkerInfo | None = None
        self.stop_event = stop_event or threading.Event()
        self.listener: OnTaskProgress | None = None
        #: keep the library's warnings for the report only (the CLI prints them per input), not also on the log
        self.capture_logs = False
        self._current: TaskProgress | None = None

    def setup(self) -> WorkerInfo:
        """Load the generator and open the backend; raises what a single run would."""
        from ..backends import create_backend
        from ..models import load_generator

        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        opts = self.options
        self.backend = create_backend(opts.backend, load_generator(opts.weights), opts.device, opts.backend_options)
        self.info = WorkerInfo(
            backend=self.backend.name,
            device=self.backend.device,
            describe=self.backend.describe(),
            reason=self.backend.choice_reason,
            host=socket.gethostname(),
            pid=os.getpid(),
            threads=self.threads,
        )
        return self.info

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    # -- progress and stopping (called from another thread in an actor) --------------
    def progress(self) -> TaskProgress | None:
        """How far the task running now has got (None: no task is running)."""
        return self._current

    def stop(self) -> None:
        self.stop_event.set()

    def _on_progress(self, p: Progress) -> None:
        if self._current is not None:
            self._current = dataclasses.replace(self._current, frames=p.frames_done, total=p.total)
            if self.listener is not None:
                self.listener(self._current)

    # -- tasks -------------------------------------------------------------------------
    def run(self, task: Task) -> Result:
        """Run one task; never raises for a bad input (the result says ``failed``).

        A stop (``stop_event``, or Ctrl-C in this process) is ``cancelled``; any other
        ``KeyboardInterrupt`` than :class:`Cancelled` is re-raised."""
        self._current = TaskProgress(task.id, 0, task.expected)
        collect = _Collect()
        root = logging.getLogger("streamdeblur")
        root.addHandler(collect)
        propagate = root.propagate
        if self.capture_logs and not root.isEnabledFor(logging.DEBUG):
            root.propagate = False
        t0 = time.perf_counter()
        try:
            res = self._do(task)
        except Cancelled as e:
            res = Result("cancelled", error=str(e), signum=e.signum)
        except StreamDeblurError as e:
            res = Result("failed", error=str(e))
        except Exception as e:  # an internal error (MemoryError included): reported for this input, the others go on
            res = Result("failed", error=f"internal error: {e.__class__.__name__}: {' '.join(str(e).split())}")
        finally:
            root.removeHandler(collect)
            root.propagate = propagate
            self._current = None
        return dataclasses.replace(
            res,
            task=task.id,
            seconds=res.seconds or time.perf_counter() - t0,
            warnings=tuple(dict.fromkeys([*res.warnings, *collect.messages])),
            backend=res.backend or (self.info.backend if self.info else None),
            device=res.device or (self.info.device if self.info else None),
        )

    def _do(self, task: Task) -> Result:
        match task:
            case FileTask():
                return self._existing(task) or self._file(task)
            case PlanTask():
                return self._existing(task) or self._plan(task)
            case PartTask():
                return self._part(task)
            case JoinTask():
                return self._join(task)
        raise TypeError(f"a worker runs FileTask, PlanTask, PartTask or JoinTask, not {type(task).__name__}")

    def _existing(self, task: Task) -> Result | None:
        """The result for an output that exists (skipped, or failed), or None to go on."""
        if task.overwrite or not os.path.exists(task.output):
            return None
        if is_still(task.input):  # a picture is published whole under its name, or not at all
            return Result("skipped", frames=1, note=f"{task.output} exists")
        ok, why = output_complete(task.input, task.output, Part.of(self.options))
        if ok and task.changed == (records.NO_RECORD,):
            return Result(
                "failed",
                error=f"output {task.output} exists, but no streamdeblur run here is recorded as having made it (by "
                "hand, on another machine, or by an older version); pass --overwrite to redo it, or -o another folder",
            )
        if ok and task.changed:
            return Result(
                "failed",
                error=f"output {task.output} exists but was made with other settings ({', '.join(task.changed)}); "
                "pass --overwrite to redo it, or -o another folder",
            )
        if ok:
            n = count_video_packets(task.output) or 0
            return Result("skipped", frames=n, note=f"{task.output} exists and is complete ({why})")
        return Result(
            "failed",
            error=f"output {task.output} already exists but is not complete ({why}); pass --overwrite to redo it",
        )

    def _file(self, task: FileTask) -> Result:
        from ..api import deblur_video

        if is_still(task.input):
            return self._picture(task)
        options = dataclasses.replace(self.options, overwrite=task.overwrite)
        r = deblur_video(
            task.input,
            task.output,
            options,
            backend=self.backend,
            on_progress=self._on_progress,
            stop_event=self.stop_event,
        )
        return Result(
            "done", frames=r.frames, seconds=r.seconds, backend=r.backend, device=r.device, warnings=r.warnings
        )

    def _picture(self, task: FileTask) -> Result:
        from ..stills import deblur_picture

        assert self.backend is not None, "setup() opens the backend"
        seconds, said = deblur_picture(self.backend, task.input, task.output, task.overwrite, self.options.view)
        return Result("done", frames=1, seconds=seconds, warnings=said)

    def _plan(self, task: PlanTask) -> Result:
        from ..video.sinks import check_output
        from ..video.sources import open_source
        from .segments import plan_segments, resume_parts

        check_output(task.output, overwrite=task.overwrite)
        with open_source(task.input, timeout=self.options.timeout):  # the same checks and messages as a single run
            pass
        plan = plan_segments(task.input, task.segments)
        kept = resume_parts(task.output, task.input, plan, self.options)  # what a stopped run of it finished
        return Result(
            "planned", frames=plan.frames, plan=plan, kept=tuple(sorted(kept or ())), resumable=kept is not None
        )

    def _part(self, task: PartTask) -> Result:
        from .segments import deblur_segment

        assert self.backend is not None, "setup() opens the backend"
        n = deblur_segment(
            task.input,
            task.segment,
            task.path,
            self.backend,
            self.options,
            on_progress=self._on_progress,
            stop_event=self.stop_event,
        )
        return Result("done", frames=n)

    def _join(self, task: JoinTask) -> Result:
        from .segments import join_segments, remove_parts

        join_segments(
            task.input,
            task.parts,
            task.output,
            frames=task.frames,
            overwrite=task.overwrite,
            timeout=self.options.timeout,
            audio=self.options.audio,
        )
        remove_parts(task.output)
        return Result("done", frames=task.frames)
