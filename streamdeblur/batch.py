"""Many inputs, and long inputs in segments: ``streamdeblur run a.mp4 clips/ -o out/``.

:func:`deblur_many` is the library form. It resolves the inputs (files, and the video
files of folders) to outputs (``OUT/NAME.EXT``: the input's name, the extension of
``format`` or the input's own), checks everything a user can get wrong before any work
starts, and then runs the work as *tasks* on *workers*:

* a task deblurs one file (``file``), or, with ``segments``, plans the cuts of one input
  (``plan``), deblurs one part (``part``, :mod:`streamdeblur.segments`) or joins the
  parts (``join``); tasks name files, never carry frames;
* a :class:`Worker` loads the generator and opens its backend once, then runs any
  number of tasks. Without a cluster one worker runs them one after another in this
  process; with ``cluster`` (:mod:`streamdeblur.cluster`) each Ray actor holds one, and
  tasks are handed out as workers become free.

What happens to an input is its :class:`ItemReport` (status, frames, seconds, backend,
error), all of which :class:`BatchResult` writes as the ``--report`` JSON.

Re-running skips outputs that are complete. *Complete* means: a file exists under the
output's final name (which only a finished run writes: the sinks publish by renaming a
hidden temporary file) and it holds as many video frames as the input (both counted
from their packets, without decoding). An output that exists but is not complete is
reported as a failure and left alone; ``overwrite`` redoes every output.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import Cancelled, InputError, InputNotFoundError, OutputError, StreamDeblurError

log = logging.getLogger(__name__)

#: what a folder's video files end with (a file named on the command line may end in anything)
VIDEO_EXTENSIONS = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".nut",
    ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv", ".mxf", ".y4m",
)  # fmt: skip

#: the statuses an input ends with
FINAL = ("done", "skipped", "failed", "cancelled")


# --------------------------------------------------------------------------- reports


@dataclass
class ItemReport:
    """What happened to one input."""

    input: str
    output: str
    status: str = "pending"  # pending, running, then one of FINAL
    frames: int = 0
    seconds: float = 0.0
    backend: str | None = None
    device: str | None = None
    error: str | None = None
    note: str | None = None  # why it was skipped
    attempts: int = 0  # tasks started for it, retries included
    segments: int | None = None  # parts it was cut into (--segments)
    workers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    expected_frames: int | None = None  # from the header, for progress only

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.status == "done" and self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fps"] = round(self.fps, 3)
        d["seconds"] = round(self.seconds, 3)
        return d


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot for a progress view: files and frames done, FPS and ETA."""

    files: int
    finished: int
    failed: int
    skipped: int
    running: int
    frames_done: int
    frames_total: int | None
    elapsed: float
    workers: int

    @property
    def fps(self) -> float:
        return self.frames_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if not self.frames_total or self.fps <= 0:
            return None
        return max(0.0, (self.frames_total - self.frames_done) / self.fps)


@dataclass
class BatchResult:
    items: list[ItemReport]
    seconds: float
    mode: str  # "this process", "ray local", "ray auto", "ray ADDRESS"
    workers: list[dict[str, Any]]
    cancelled: bool = False
    signum: int = 2  # the signal that cancelled it (2: Ctrl-C)

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def ok(self) -> bool:
        return not self.cancelled and all(i.status in ("done", "skipped") for i in self.items)

    @property
    def frames(self) -> int:
        return sum(i.frames for i in self.items if i.status == "done")

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "seconds": round(self.seconds, 3),
            "cancelled": self.cancelled,
            "inputs": len(self.items),
            "done": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "not_done": self.count("cancelled") + self.count("pending"),
            "frames": self.frames,
            "fps": round(self.frames / self.seconds, 3) if self.seconds > 0 else 0.0,
            "workers": self.workers,
            "items": [i.as_dict() for i in self.items],
        }

    def write_report(self, path: str | os.PathLike) -> Path:
        """The JSON report, written to a temporary file and renamed (never half-written)."""
        p = Path(path)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        os.replace(tmp, p)
        return p


# --------------------------------------------------------------------------- inputs and outputs


def is_batch(inputs: list[str], output: str | os.PathLike, **flags: Any) -> bool:
    """Whether a ``run`` command line is a batch: several inputs, a folder among them or as
    ``-o``, or any of the batch options (``cluster``, ``segments``, ``report``, ``format``)."""
    out = str(output)
    return (
        len(inputs) > 1
        or any(os.path.isdir(i) for i in inputs)
        or out.endswith(("/", os.sep))
        or os.path.isdir(out)
        or any(v not in (None, False) for v in flags.values())
    )


def _container_ext(fmt: str) -> str:
    from .video.sinks import CONTAINERS

    ext = fmt.lower() if fmt.startswith(".") else "." + fmt.lower()
    if ext not in CONTAINERS:
        raise OutputError(f"unknown --format {fmt!r}", f"choose one of: {', '.join(e[1:] for e in sorted(CONTAINERS))}")
    return ext


def collect_inputs(inputs: list[str | os.PathLike]) -> list[Path]:
    """Files as given, folders as their video files (sorted, not recursive); no duplicates."""
    from .video.sources import is_url

    if not inputs:
        raise InputError("no input given", "name video files or folders")
    out: list[Path] = []
    seen: set[str] = set()
    for spec in inputs:
        s = str(spec)
        if is_url(s):
            raise InputError(f"{s} is a stream URL; several inputs, --cluster and --segments take files", "run a stream on its own: streamdeblur run URL -o OUT")
        p = Path(s)
        if not p.exists():
            raise InputNotFoundError(f"input not found: {s}", "check the path")
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith(".") and q.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                raise InputError(f"folder {s} has no video files", f"put videos in it (files ending in {', '.join(VIDEO_EXTENSIONS[:6])} ...)")
        else:
            found = [p]
        for q in found:
            key = os.path.realpath(q)
            if key not in seen:
                seen.add(key)
                out.append(q)
    return out


def resolve_jobs(inputs: list[str | os.PathLike], output: str | os.PathLike, *, format: str | None = None) -> tuple[list[tuple[Path, Path]], bool]:
    """(input, output) pairs, and whether ``output`` is a folder (to be created)."""
    from .video.sinks import CONTAINERS

    files = collect_inputs(inputs)
    ext = _container_ext(format) if format else None
    out = str(output)
    folder = len(files) > 1 or any(Path(str(i)).is_dir() for i in inputs) or out.endswith(("/", os.sep)) or os.path.isdir(out)
    if not folder:
        target = Path(out)
        if ext and target.suffix.lower() != ext:
            raise OutputError(f"--format {format} does not match the output name {target.name}", f"name it {target.stem}{ext}, or leave --format out")
        return [(files[0], target)], False
    outdir = Path(out)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"output {outdir} is a file; with several inputs -o names a folder", "give a folder, such as out/")
    if not outdir.exists() and outdir.suffix.lower() in CONTAINERS:
        raise OutputError(f"with several inputs -o names a folder, and {outdir} looks like a video file name", f"give a folder, such as {outdir.with_suffix('')}/")
    jobs: list[tuple[Path, Path]] = []
    by_out: dict[str, Path] = {}
    for f in files:
        e = ext or f.suffix.lower()
        if e not in CONTAINERS:
            raise OutputError(f"cannot write {f.name} as {e or 'a file without an extension'}", f"pass --format with one of: {', '.join(x[1:] for x in sorted(CONTAINERS))}")
        target = outdir / f"{f.stem}{e}"
        key = os.path.abspath(target)
        if key in by_out:
            raise OutputError(f"{by_out[key]} and {f} would both be written to {target}", "rename one, or run them separately")
        if os.path.abspath(f) == key:
            raise OutputError(f"the output of {f} would replace it", "choose another -o folder")
        by_out[key] = f
        jobs.append((f, target))
    return jobs, True


def _count_video_packets(path: str | os.PathLike) -> int | None:
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return None
            return sum(1 for p in c.demux(c.streams.video[0]) if p.size)
    except Exception:  # not a video, truncated ...: not complete
        return None


def output_complete(input: str | os.PathLike, output: str | os.PathLike) -> tuple[bool, str]:
    """(whether ``output`` is a complete deblurred copy of ``input``, why not / what it holds)."""
    got = _count_video_packets(output)
    if got is None:
        return False, "it is not a readable video"
    want = _count_video_packets(input)
    if want is None:
        return False, "the input cannot be read to count its frames"
    if got != want:
        return False, f"it has {got} frames and the input {want}"
    return True, f"it has all {got} frames"


def probe_frames(path: str | os.PathLike) -> int | None:
    """The frame count a header announces (for progress only); None if it says nothing."""
    import av

    try:
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            if v.frames:
                return int(v.frames)
            rate = v.average_rate or v.guessed_rate
            dur = float(v.duration * v.time_base) if v.duration and v.time_base else (c.duration / 1e6 if c.duration else None)
            return max(1, round(dur * float(rate))) if dur and rate else None
    except Exception:
        return None


# --------------------------------------------------------------------------- the worker


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


def _failed(error: str) -> dict[str, Any]:
    return {"status": "failed", "error": error}


class Worker:
    """Loads the generator and opens a backend once (:meth:`setup`), then runs tasks.

    The same class runs in this process and inside a Ray actor (streamdeblur.cluster).
    ``options``: :class:`~streamdeblur.api.RunOptions` fields. ``threads``: CPU threads
    for inference (a cluster worker's share of its node), None for the library default.
    """

    def __init__(self, options: dict[str, Any], threads: int | None = None, stop_event: threading.Event | None = None) -> None:
        from .api import RunOptions

        self.opts = RunOptions(**options)
        self.threads = threads
        self.backend: Any = None
        self.info: dict[str, Any] = {}
        self.stop_event = stop_event or threading.Event()
        self.listener: Callable[[int, int, int | None], None] | None = None
        #: keep the library's warnings for the report only (the CLI prints them per input), not also on the log
        self.capture_logs = False
        self._current: tuple[int, int, int | None] | None = None

    def setup(self) -> dict[str, Any]:
        from .backends import create_backend
        from .models import load_generator

        opts = self.opts
        extra: dict[str, Any] = {}
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
            extra["threads"] = self.threads
        gen = load_generator(opts.weights)
        self.backend = create_backend(opts.backend, gen, opts.device, max_tile=opts.max_tile, engine=opts.engine, engines_dir=opts.engines_dir, **extra)
        config = getattr(self.backend, "config", None)
        if self.threads and self.backend.name == "openvino" and isinstance(config, dict):
            # several workers share a machine: OpenVINO would pin each one's threads to the
            # same first cores (measured: two 1-thread workers at 6 fps each, 11 unpinned)
            config.setdefault("ENABLE_CPU_PINNING", False)
        self.info = {
            "backend": self.backend.name,
            "device": self.backend.device,
            "describe": self.backend.describe(),
            "reason": getattr(self.backend, "choice_reason", ""),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "threads": self.threads,
        }
        return self.info

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    # -- progress and stopping (called from another thread in an actor) --------------
    def progress(self) -> tuple[int, int, int | None] | None:
        """(task id, frames done, frames expected) of the task running now."""
        return self._current

    def stop(self) -> None:
        self.stop_event.set()

    def _on_progress(self, p: Any) -> None:
        if self._current is not None:
            self._current = (self._current[0], p.frames_done, p.total)
            if self.listener is not None:
                self.listener(*self._current)

    # -- tasks -------------------------------------------------------------------------
    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        """Run one task; never raises for a bad input (the result says ``failed``).

        A stop (``stop_event``, or Ctrl-C in this process) is ``cancelled``; any other
        ``KeyboardInterrupt`` than :class:`Cancelled` is re-raised."""
        self._current = (task["id"], 0, task.get("expected"))
        collect = _Collect()
        root = logging.getLogger("streamdeblur")
        root.addHandler(collect)
        propagate = root.propagate
        if self.capture_logs and not root.isEnabledFor(logging.DEBUG):
            root.propagate = False
        t0 = time.perf_counter()
        try:
            res = getattr(self, "_" + task["kind"])(task)
        except Cancelled as e:
            res = {"status": "cancelled", "error": str(e), "signum": e.signum}
        except StreamDeblurError as e:
            res = _failed(str(e))
        except Exception as e:  # an internal error (MemoryError included): reported for this input, the others go on
            res = _failed(f"internal error: {e.__class__.__name__}: {' '.join(str(e).split())}")
        finally:
            root.removeHandler(collect)
            root.propagate = propagate
            self._current = None
        res.setdefault("seconds", time.perf_counter() - t0)
        res["warnings"] = list(dict.fromkeys([*res.get("warnings", []), *collect.messages]))
        res["task"] = task["id"]
        res.setdefault("backend", self.info.get("backend"))
        res.setdefault("device", self.info.get("device"))
        return res

    def _existing(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """The result for an output that exists (skipped, or failed), or None to go on."""
        if task["overwrite"] or not os.path.exists(task["output"]):
            return None
        ok, why = output_complete(task["input"], task["output"])
        if ok:
            n = _count_video_packets(task["output"]) or 0
            return {"status": "skipped", "frames": n, "note": f"{task['output']} exists and is complete ({why})"}
        return _failed(f"output {task['output']} already exists but is not complete ({why}); pass --overwrite to redo it")

    def _run_options(self, overwrite: bool) -> dict[str, Any]:
        d = {f.name: getattr(self.opts, f.name) for f in fields(self.opts)}
        d["overwrite"] = overwrite
        return d

    def _file(self, task: dict[str, Any]) -> dict[str, Any]:
        from .api import deblur_video

        skip = self._existing(task)
        if skip is not None:
            return skip
        r = deblur_video(task["input"], task["output"], processor=self.backend, on_progress=self._on_progress, stop_event=self.stop_event, **self._run_options(task["overwrite"]))
        return {"status": "done", "frames": r.frames, "seconds": r.seconds, "backend": r.backend, "device": r.device, "warnings": list(getattr(r, "warnings", ()))}

    def _plan(self, task: dict[str, Any]) -> dict[str, Any]:
        from .segments import plan_segments, remove_parts
        from .video.sinks import check_output
        from .video.sources import open_source

        skip = self._existing(task)
        if skip is not None:
            return skip
        check_output(task["output"], overwrite=task["overwrite"])
        with open_source(task["input"], timeout=self.opts.timeout):  # the same checks and messages as a single run
            pass
        remove_parts(task["output"])  # what an interrupted run left
        plan = plan_segments(task["input"], task["segments"])
        return {"status": "planned", "frames": plan.frames, "keyframes": plan.keyframes, "parts": [asdict(s) for s in plan.segments]}

    def _part(self, task: dict[str, Any]) -> dict[str, Any]:
        from .segments import Segment, deblur_segment

        o = self.opts
        n = deblur_segment(
            task["input"], Segment(**task["part"]), task["path"], self.backend, batch=o.batch, codec=o.codec, crf=o.crf, preset=o.preset,
            pix_fmt=o.pix_fmt, timeout=o.timeout, on_progress=self._on_progress, stop_event=self.stop_event,
        )  # fmt: skip
        return {"status": "done", "frames": n}

    def _join(self, task: dict[str, Any]) -> dict[str, Any]:
        from .segments import join_segments, remove_parts

        join_segments(task["input"], task["parts"], task["output"], frames=task["frames"], overwrite=task["overwrite"], timeout=self.opts.timeout)
        remove_parts(task["output"])
        return {"status": "done", "frames": task["frames"]}


# --------------------------------------------------------------------------- the schedule


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
    ) -> None:
        self.items = items
        self.segments = segments
        self.overwrite = overwrite
        self.on_progress = on_progress
        self.on_item = on_item
        self.queue: deque[dict[str, Any]] = deque()
        self._ids = 0
        self._lock = threading.RLock()
        self._live: dict[int, int] = {}  # task id -> frames done so far
        self._inflight: dict[int, int] = {i: 0 for i in range(len(items))}
        self._parts: dict[int, dict[str, Any]] = {}
        self._started: dict[int, float] = {}
        self.t0: float | None = None
        self.workers = 0
        self.notes: list[str] = []
        for i, it in enumerate(items):
            self.queue.append(self._task("plan" if segments else "file", i, expected=it.expected_frames, **({"segments": segments} if segments else {})))

    def _task(self, kind: str, item: int, **extra: Any) -> dict[str, Any]:
        self._ids += 1
        it = self.items[item]
        # absolute: a worker on another node does not share this process's current folder
        return {"id": self._ids, "kind": kind, "item": item, "input": os.path.abspath(it.input), "output": os.path.abspath(it.output), "overwrite": self.overwrite, "attempt": 1, **extra}

    def begin(self, workers: int) -> None:
        """The workers are ready: the clock for FPS and ETA starts."""
        self.t0 = time.perf_counter()
        self.workers = workers
        self._emit()

    # -- handing out -------------------------------------------------------------------
    def next_task(self) -> dict[str, Any] | None:
        with self._lock:
            while self.queue:
                t = self.queue.popleft()
                if self.items[t["item"]].status not in FINAL:
                    return t
            return None

    def has_work(self) -> bool:
        with self._lock:
            return any(self.items[t["item"]].status not in FINAL for t in self.queue)

    def start(self, task: dict[str, Any], worker: str) -> None:
        with self._lock:
            i = task["item"]
            it = self.items[i]
            it.status = "running"
            it.attempts += 1
            if worker not in it.workers:
                it.workers.append(worker)
            self._inflight[i] += 1
            self._started.setdefault(i, time.perf_counter())
            self._live[task["id"]] = 0
        self._emit()

    def live(self, task_id: int, frames: int, total: int | None = None) -> None:
        with self._lock:
            if task_id in self._live:
                self._live[task_id] = frames
        self._emit()

    # -- results -----------------------------------------------------------------------
    def finish(self, task: dict[str, Any], res: dict[str, Any]) -> None:
        with self._lock:
            i = task["item"]
            it = self.items[i]
            self._live.pop(task["id"], None)
            self._inflight[i] -= 1
            for w in res.get("warnings") or []:
                if w not in it.warnings:
                    it.warnings.append(w)
            if it.status in FINAL:  # a part that was still running when its input failed
                self._cleanup(i)
                return
            status = res["status"]
            if res.get("backend"):
                it.backend, it.device = res.get("backend"), res.get("device")
            kind = task["kind"]
            if status in ("failed", "cancelled"):
                where = f"part {task['part']['index']} of {len(self._parts[i]['paths'])}: " if kind == "part" else ""
                self._final(i, status, error=where + (res.get("error") or status))
            elif status == "skipped":
                self._final(i, "skipped", frames=res.get("frames", 0), note=res.get("note"))
            elif kind == "plan":
                self._plan_done(i, task, res)
            elif kind == "part":
                st = self._parts[i]
                st["frames_done"] += res.get("frames", 0)
                st["left"] -= 1
                if st["left"] == 0:
                    self.queue.appendleft(self._task("join", i, parts=st["paths"], frames=st["frames"]))
            else:  # file or join: done
                self._final(i, "done", frames=res.get("frames", 0))
        self._emit()

    def _plan_done(self, i: int, task: dict[str, Any], res: dict[str, Any]) -> None:
        from .segments import segment_path

        it = self.items[i]
        parts = res["parts"]
        it.segments = len(parts)
        it.expected_frames = res["frames"]
        paths = [str(segment_path(os.path.abspath(it.output), p["index"])) for p in parts]
        self._parts[i] = {"paths": paths, "left": len(parts), "frames": res["frames"], "frames_done": 0}
        for p, path in reversed(list(zip(parts, paths))):
            self.queue.appendleft(self._task("part", i, part=p, path=path, expected=p["frames"]))

    def died(self, task: dict[str, Any], why: str) -> None:
        """The worker running ``task`` died: run it once more on another worker, or fail it."""
        with self._lock:
            i = task["item"]
            it = self.items[i]
            self._live.pop(task["id"], None)
            self._inflight[i] -= 1
            if it.status in FINAL:
                self._cleanup(i)
            elif task["attempt"] < 2:
                note = f"{why}; retrying it on another worker"
                it.warnings.append(note)
                retry = dict(task, attempt=task["attempt"] + 1)
                self.queue.appendleft(retry)
            else:
                self._final(i, "failed", error=f"{why}, twice (it was retried once on another worker)")
        self._emit()

    def cancel_rest(self, why: str) -> None:
        """Everything not finished is ``cancelled`` (Ctrl-C, or no worker left)."""
        with self._lock:
            for i, it in enumerate(self.items):
                if it.status not in FINAL:
                    self._final(i, "cancelled", error=why)
            self.queue.clear()
        self._emit()

    def fail_rest(self, why: str) -> None:
        with self._lock:
            for i, it in enumerate(self.items):
                if it.status not in FINAL:
                    self._final(i, "failed", error=why)
            self.queue.clear()
        self._emit()

    def _final(self, i: int, status: str, *, frames: int = 0, error: str | None = None, note: str | None = None) -> None:
        it = self.items[i]
        it.status = status
        it.frames = frames
        it.error = error
        it.note = note
        if i in self._started:
            it.seconds = time.perf_counter() - self._started[i]
        self._cleanup(i)
        if self.on_item is not None:
            try:
                self.on_item(it)
            except Exception:  # pragma: no cover - a broken progress view must not stop the work
                log.debug("on_item failed", exc_info=True)

    def _cleanup(self, i: int) -> None:
        """A segmented input that did not finish: remove its parts once none is being written."""
        if i in self._parts and self._inflight[i] <= 0 and self.items[i].status in ("failed", "cancelled"):
            from .segments import remove_parts

            remove_parts(self.items[i].output)

    # -- progress ----------------------------------------------------------------------
    def snapshot(self) -> BatchProgress:
        with self._lock:
            done_frames = sum(it.frames for it in self.items if it.status == "done")
            done_frames += sum(st["frames_done"] for i, st in self._parts.items() if self.items[i].status not in FINAL)
            done_frames += sum(self._live.values())
            total = 0
            unknown = False
            for it in self.items:
                if it.status == "done":
                    total += it.frames
                elif it.status not in FINAL:
                    if it.expected_frames:
                        total += it.expected_frames
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


# --------------------------------------------------------------------------- running


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
        schedule.cancel_rest("not started: the run was stopped" if signum == 2 else f"not started: the run was stopped (signal {signum})")
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
    from .api import RunOptions

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
        from .video.sinks import check_output

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
    run_opts = {f.name: getattr(opts, f.name) for f in fields(opts)}
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
