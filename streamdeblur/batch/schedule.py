"""The schedule of a batch run: the tasks still to run, handed out to whichever worker
(this process, or a Ray actor) is free, and what their results did to each input's
:class:`~streamdeblur.reports.ItemReport`, with progress snapshots and the retry of a task
whose worker died."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from . import records
from .reports import FINAL, BatchProgress, ItemReport
from .tasks import FileTask, JoinTask, PartTask, PlanTask, Result, Task, TaskProgress

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Task)


@dataclass
class _Parts:
    """A segmented input's parts: their files, how many are still to finish, and frames."""

    paths: tuple[str, ...]
    left: int
    frames: int  # the input's, all parts together
    frames_done: int = 0
    keep: bool = True  # finished parts outlive a stop or a failure (not a failed join: they are what failed)


class Schedule:
    """The tasks still to run, and what they did to each input. Executors (this process,
    or a Ray cluster) take tasks with :meth:`next_task` and hand back results; follow-up
    tasks of a segmented input (its parts, then the join) go to the front of the queue,
    so an input that has started finishes before new ones start."""

    def __init__(
        self,
        items: list[ItemReport],
        *,
        segments: int | None,
        overwrite: bool,
        on_progress: Callable[[BatchProgress], None] | None = None,
        on_item: Callable[[ItemReport], None] | None = None,
        made_with: list[dict[str, Any] | None] | None = None,
    ) -> None:
        """``made_with``: each input's output settings (:func:`.records.settings`; None for a picture): an
        existing output recorded as made otherwise is not skipped, and each output done is recorded."""
        self.items = items
        self.made_with = made_with or [None] * len(items)
        self.segments = segments
        self.overwrite = overwrite
        self.on_progress = on_progress
        self.on_item = on_item
        self.queue: deque[Task] = deque()
        self._ids = 0
        self._lock = threading.RLock()
        self._live: dict[int, int] = {}  # task id -> frames done so far
        self._inflight: dict[int, int] = {i: 0 for i in range(len(items))}
        self._parts: dict[int, _Parts] = {}
        #: segmented inputs that failed or stopped while other parts of them were running: their line
        #: (``on_item``) waits for those to stop, so that it says which parts are kept (a `-q` run shows no table)
        self._tell_later: set[int] = set()
        self._started: dict[int, float] = {}
        self.t0: float | None = None
        self.workers = 0
        self.notes: list[str] = []
        for i, it in enumerate(items):
            made = self.made_with[i]
            changed = ()
            if made is not None and not overwrite and os.path.exists(it.output):
                changed = tuple(records.changed(it.output, made))
            if segments:
                self.queue.append(
                    self._task(PlanTask, i, expected=it.expected_frames, segments=segments, changed=changed)
                )
            else:
                self.queue.append(self._task(FileTask, i, expected=it.expected_frames, changed=changed))

    def _task(self, kind: type[T], item: int, **specific: Any) -> T:
        """A new task of ``kind`` for input ``item`` (``specific``: the fields of that kind)."""
        self._ids += 1
        it = self.items[item]
        # absolute: a worker on another node does not share this process's current folder
        return kind(
            id=self._ids,
            item=item,
            input=os.path.abspath(it.input),
            output=os.path.abspath(it.output),
            overwrite=self.overwrite,
            **specific,
        )

    def begin(self, workers: int) -> None:
        """The workers are ready: the clock for FPS and ETA starts."""
        self.t0 = time.perf_counter()
        self.workers = workers
        self._emit()

    # -- handing out -------------------------------------------------------------------
    def next_task(self) -> Task | None:
        with self._lock:
            while self.queue:
                t = self.queue.popleft()
                if self.items[t.item].status not in FINAL:
                    return t
            return None

    def has_work(self) -> bool:
        with self._lock:
            return any(self.items[t.item].status not in FINAL for t in self.queue)

    def start(self, task: Task, worker: str) -> None:
        with self._lock:
            i = task.item
            it = self.items[i]
            it.status = "running"
            it.attempts += 1
            if worker not in it.workers:
                it.workers.append(worker)
            self._inflight[i] += 1
            self._started.setdefault(i, time.perf_counter())
            self._live[task.id] = 0
        self._emit()

    def live(self, p: TaskProgress) -> None:
        """How far a running task has got (for the progress snapshots)."""
        with self._lock:
            if p.task in self._live:
                self._live[p.task] = p.frames
        self._emit()

    # -- results -----------------------------------------------------------------------
    def _ended(self, task: Task) -> tuple[int, ItemReport]:
        """``task`` is no longer running (called with the lock held): (its input's index, report)."""
        i = task.item
        self._live.pop(task.id, None)
        self._inflight[i] -= 1
        return i, self.items[i]

    def finish(self, task: Task, res: Result) -> None:
        with self._lock:
            i, it = self._ended(task)
            for w in res.warnings:
                if w not in it.warnings:
                    it.warnings.append(w)
            if it.status in FINAL:  # a part that was still running when its input failed
                self._cleanup(i)
                return
            if res.backend:
                it.backend, it.device = res.backend, res.device
            if res.status in ("failed", "cancelled"):
                if isinstance(task, JoinTask) and res.status == "failed":
                    self._parts[i].keep = False
                where = ""
                if isinstance(task, PartTask):
                    where = f"part {task.segment.index + 1} of {len(self._parts[i].paths)}: "
                self._final(i, res.status, error=where + (res.error or res.status))
            elif res.status == "skipped":
                self._final(i, "skipped", frames=res.frames, note=res.note)
            elif isinstance(task, PlanTask):
                self._plan_done(i, res)
            elif isinstance(task, PartTask):
                self._part_done(i, res)
            else:  # file or join: done
                if self.made_with[i] is not None:
                    records.write(it.output, self.made_with[i])
                self._final(i, "done", frames=res.frames)
        self._emit()

    def _plan_done(self, i: int, res: Result) -> None:
        """The plan of input ``i``: its parts go to the front of the queue, in order."""
        from .segments import segment_dir, segment_path

        assert res.plan is not None, "a planned result carries its plan"
        it = self.items[i]
        parts = res.plan.segments
        it.segments = len(parts)
        it.expected_frames = res.plan.frames
        paths = tuple(str(segment_path(os.path.abspath(it.output), p.index)) for p in parts)
        kept = set(res.kept)
        self._parts[i] = _Parts(paths=paths, left=len(parts) - len(kept), frames=res.plan.frames, keep=res.resumable)
        it.kept_frames = sum(p.frames for p in parts if p.index in kept)
        if kept:
            it.warnings.append(
                f"went on from {len(kept)} of {len(parts)} parts a stopped run of it had finished "
                f"({segment_dir(it.output)})"
            )
        if len(kept) == len(parts):
            self.queue.appendleft(self._task(JoinTask, i, parts=paths, frames=res.plan.frames))
        for p, path in reversed(list(zip(parts, paths))):
            if p.index not in kept:
                self.queue.appendleft(self._task(PartTask, i, segment=p, path=path, expected=p.frames))

    def _part_done(self, i: int, res: Result) -> None:
        """A part of input ``i`` is done; after the last one, the join goes to the front of the queue."""
        parts = self._parts[i]
        parts.frames_done += res.frames
        parts.left -= 1
        if parts.left == 0:
            self.queue.appendleft(self._task(JoinTask, i, parts=parts.paths, frames=parts.frames))

    def died(self, task: Task, why: str) -> None:
        """The worker running ``task`` died: run it once more on another worker, or fail it."""
        with self._lock:
            i, it = self._ended(task)
            if it.status in FINAL:
                self._cleanup(i)
            elif task.attempt < 2:
                it.warnings.append(f"{why}; retrying it on another worker")
                self.queue.appendleft(replace(task, attempt=task.attempt + 1))
            else:
                self._final(i, "failed", error=f"{why}, twice (it was retried once on another worker)")
        self._emit()

    def cancel_rest(self, why: str) -> None:
        """Everything not finished is ``cancelled`` (Ctrl-C, or no worker left)."""
        self._end_rest("cancelled", why)

    def fail_rest(self, why: str) -> None:
        """Everything not finished is ``failed`` (every worker died)."""
        self._end_rest("failed", why)

    def stopped(self, signum: int = 2) -> None:
        """The run was stopped (Ctrl-C, or signal ``signum``): what has not started is ``cancelled``."""
        self.cancel_rest(
            "not started: the run was stopped" if signum == 2 else f"not started: the run was stopped (signal {signum})"
        )

    def _end_rest(self, status: str, why: str) -> None:
        with self._lock:
            for i, it in enumerate(self.items):
                if it.status not in FINAL:
                    self._final(i, status, error=why)
            self.queue.clear()
        self._emit()

    def _final(
        self, i: int, status: str, *, frames: int = 0, error: str | None = None, note: str | None = None
    ) -> None:
        it = self.items[i]
        it.status = status
        it.frames = frames
        it.error = error
        it.note = note
        if i in self._started:
            it.seconds = time.perf_counter() - self._started[i]
        self._cleanup(i)
        if i in self._parts and self._inflight[i] > 0:  # said once its other parts stop, with what is kept
            self._tell_later.add(i)
        else:
            self._tell(it)

    def _tell(self, it: ItemReport) -> None:
        if self.on_item is not None:
            try:
                self.on_item(it)
            except Exception:  # pragma: no cover - a broken progress view must not stop the work
                log.debug("on_item failed", exc_info=True)

    def _cleanup(self, i: int) -> None:
        """A segmented input that did not finish: once no part is being written, its finished parts are
        kept for the same command to go on from (its error says so), or, with none, the parts' folder is
        removed; then its line is said, if :meth:`_final` left it for then."""
        it = self.items[i]
        if i in self._tell_later and self._inflight[i] <= 0:
            self._tell_later.discard(i)
            try:
                self._cleanup(i)
            finally:
                self._tell(it)
            return
        if i in self._parts and self._inflight[i] <= 0 and it.status in ("failed", "cancelled"):
            from .segments import remove_parts, segment_dir

            parts = self._parts[i]
            finished = len(parts.paths) - parts.left
            if parts.keep and finished:
                said = f"{finished} of {len(parts.paths)} parts are kept in {segment_dir(it.output)}"
                if it.error and said not in it.error:
                    it.error += f"; {said}: the same command again goes on from them"
            else:
                remove_parts(it.output)

    # -- progress ----------------------------------------------------------------------
    def snapshot(self) -> BatchProgress:
        with self._lock:
            # the frames this run deblurs: parts kept from a stopped run count in neither
            done_frames = sum(it.deblurred for it in self.items if it.status == "done")
            done_frames += sum(st.frames_done for i, st in self._parts.items() if self.items[i].status not in FINAL)
            done_frames += sum(self._live.values())
            total = 0
            unknown = False
            for it in self.items:
                if it.status == "done":
                    total += it.deblurred
                elif it.status not in FINAL:
                    if it.expected_frames:
                        total += it.expected_frames - it.kept_frames
                    else:
                        unknown = True
            return BatchProgress(
                files=len(self.items),
                finished=sum(1 for it in self.items if it.status in FINAL),
                failed=sum(1 for it in self.items if it.status == "failed"),
                skipped=sum(1 for it in self.items if it.status == "skipped"),
                running=sum(1 for it in self.items if it.status == "running"),
                frames_done=done_frames,
                frames_total=None if unknown and not total else max(total, done_frames),
                elapsed=time.perf_counter() - self.t0 if self.t0 is not None else 0.0,
                workers=self.workers,
            )

    def _emit(self) -> None:
        if self.on_progress is not None and self.t0 is not None:
            try:
                self.on_progress(self.snapshot())
            except Exception:  # pragma: no cover
                log.debug("on_progress failed", exc_info=True)
