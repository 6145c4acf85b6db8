"""Ray: the tasks of a batch run (:mod:`streamdeblur.batch.schedule`) on long-lived actors, one per GPU.

``pip install 'streamdeblur[ray]'``. ``--cluster local`` starts a Ray cluster on this
machine (and stops it at the end); ``auto`` or an address (``ray://head:10001``,
``head:6379``) connects to a running one (``ray start --head``; docs/SCALE.md).

* Workers: one actor per GPU (``num_gpus=1``) when the cluster has GPUs; else
  ``CPUs // --cpus-per-worker`` actors of ``--cpus-per-worker`` cores each (inference
  threads limited to that). ``--workers N`` caps the number. Each actor loads the
  generator and opens its backend (TensorRT engine, CUDA model, ONNX session) once in
  :meth:`~streamdeblur.batch.worker.Worker.setup`, then runs any number of tasks.
* Work is handed out as workers become free (``ray.wait`` on the running tasks), so a
  long file does not hold the others back. A task is a few names and numbers: each
  actor reads its input and writes its output itself, at the paths the user gave,
  which every node must see (a shared filesystem); no frame goes through the object
  store.
* Faults: a bad input is that input's failure (the worker goes on). A worker that dies
  (killed, out of memory, node lost) fails only its task, which is run once more on
  another worker; a replacement actor is started (at most as many as there were
  workers). Ctrl-C (or SIGTERM) asks every running task to stop (each finishes the
  frames it has as ``NAME.partial.EXT``, as a single run does), waits a few seconds,
  then ends the actors; the result says what finished.

Test hook (used by the tests, harmless otherwise): if ``$STREAMDEBLUR_TEST_KILL_WORKER``
names a file with lines ``once NAME`` or ``always NAME``, an actor that starts a task on
an input named NAME exits at once (``os._exit``), as a crashed worker would; a ``once``
line is removed first; ``midway NAME`` exits once the task's output has its temporary file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ClusterError, StreamDeblurError
from ..fileio import remove_temporaries_of
from .reports import BatchStart, WorkerInfo
from .schedule import Schedule
from .tasks import FileTask, PartTask, PlanTask, Result, Task
from .worker import Worker, interrupt_signal

if TYPE_CHECKING:
    from ..api import RunOptions

log = logging.getLogger(__name__)

#: how long stopped tasks get to finish their partial files after Ctrl-C
STOP_GRACE_S = 15.0
#: object store of a local cluster: only task descriptions and results travel through it
LOCAL_OBJECT_STORE = 100 * 1024 * 1024
_FAULT_ENV = "STREAMDEBLUR_TEST_KILL_WORKER"
_POLL = 0.25
#: how often a running task's progress is asked for
_PROGRESS_EVERY_S = 0.5


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ClusterError("--cluster needs Ray, which is not installed", "pip install 'streamdeblur[ray]'") from None
    return ray


@contextlib.contextmanager
def _keep_signal_handlers() -> Iterator[None]:
    """Within the block, whatever replaces this process's handlers of SIGTERM, SIGHUP and SIGINT is undone.

    ``ray.init`` sets its own SIGTERM handler (``sys.exit``) and Ray's core its C++ one (a stack dump): a
    SIGTERM to ``streamdeblur run --cluster`` then skipped the stop that ``streamdeblur.signals`` sets up (the
    running tasks asked to finish their partial files, the report, exit 143), exited 1 after a stack dump
    and left the parts' temporary files behind. The handlers set in Python before (the command line's, a
    library user's) come back; where there was none, Ray's stays."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = ("SIGTERM", "SIGHUP", "SIGINT")
    before = {s: signal.getsignal(s) for s in (getattr(signal, n) for n in names if hasattr(signal, n))}
    try:
        yield
    finally:
        for s, handler in before.items():
            if handler is not None and handler is not signal.SIG_DFL:  # set again: Ray's C++ one is not seen
                try:
                    signal.signal(s, handler)
                except (OSError, ValueError):  # pragma: no cover
                    log.debug("could not restore the handler of signal %s", s, exc_info=True)


@dataclass
class Connection:
    ray: Any
    owned: bool  # this call connected (or started the local cluster) and must shut it down
    mode: str

    def close(self) -> None:
        """Shut the session down if this call started it."""
        if self.owned:
            try:
                self.ray.shutdown()
            except Exception:  # pragma: no cover
                log.debug("ray.shutdown failed", exc_info=True)
            _quiet_raylet_messages(False)  # as Ray has it, for a session made after this one


#: how long a cluster's address gets to accept a connection before it is taken as wrong
PROBE_TIMEOUT_S = 10.0


def _nothing_answers(address: str) -> str | None:
    """Why nothing can be reached at ``address`` (``host:port``, ``ray://host:port``), or None: it answers, or
    is not of that form (Ray says what is wrong with it). ray.init retries an address where nothing listens
    for about 14 minutes (20 tries of 40 s each, a warning line every few seconds) before it gives up."""
    hostport = address.removeprefix("ray://").split("/")[0]
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        return None
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else e.strerror or e.__class__.__name__
        return f"nothing answers at {hostport} ({why})"


def connect(spec: str) -> Connection:
    """Start (``local``) or join (``auto``, an address) a Ray cluster."""
    ray = require_ray()
    if ray.is_initialized():  # a library user (or a test) already has a session: use it
        return Connection(ray, False, "ray (this session)")
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR, "namespace": "streamdeblur"}
    spec = spec.strip()
    if not spec:
        raise ClusterError(
            "--cluster needs local, auto or an address", "e.g. --cluster local or --cluster ray://head:10001"
        )
    hint = "start one with `ray start --head` (docs/SCALE.md), check the address{}, or use --cluster local"
    auth = " (a cluster with token authentication, Ray >= 2.59, also needs RAY_AUTH_MODE=token and its token here)"
    target = os.environ.get("RAY_ADDRESS", "").strip() if spec == "auto" else spec
    silent = _nothing_answers(target) if target and target != "local" else None
    if silent is not None:
        raise ClusterError(f"cannot connect to the Ray cluster at {spec}: {silent}", hint.format("")) from None
    try:
        # Ray Client warns, over several lines, before it raises; ray.init takes over SIGTERM
        with warnings.catch_warnings(), _keep_signal_handlers():
            warnings.simplefilter("ignore")
            if spec == "local":  # a new cluster, even where `ray start` or $RAY_ADDRESS names one (ray.init's default)
                ray.init(address="local", include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE, **common)
            else:
                ray.init(address=spec, **common)
    except Exception as e:  # ConnectionError, ValueError for a bad address, a timeout ...
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
        if spec == "local":
            raise ClusterError(f"cannot start a local Ray cluster: {first}") from None
        # an address given (not `auto`, which finds the token itself): a cluster that wants a token times out
        raise ClusterError(
            f"cannot connect to the Ray cluster at {spec}: {first}", hint.format(auth if spec != "auto" else "")
        ) from None
    _quiet_raylet_messages()
    return Connection(ray, True, "ray local" if spec == "local" else f"ray cluster {spec}")


def _quiet_raylet_messages(quiet: bool = True) -> None:
    """Keep Ray's own messages off stdout, which holds the summary table, in a session this run made.

    ``log_to_driver=False`` keeps the workers' output away, but the driver still printed the raylet's
    error messages to stdout ("(raylet) A worker died or was killed while executing a task ...", one
    paragraph, in colour): a dead worker is already said, on stderr, by the input's warning or error.
    Ray has no option for it; the switch its debugger uses does it (a Ray without it: nothing changes)."""
    try:
        import ray._private.worker as ray_worker

        if hasattr(ray_worker, "_worker_logs_enabled"):
            ray_worker._worker_logs_enabled = not quiet
    except Exception:  # pragma: no cover - another Ray
        log.debug("could not quiet Ray's messages", exc_info=True)


@dataclass(frozen=True)
class WorkerShape:
    """How many actors a cluster gets, what each reserves, and its inference threads."""

    count: int
    gpus: int  # each: 0 or 1
    cpus: int  # each
    threads: int

    def ray_resources(self) -> dict[str, int]:
        """The actor options that reserve them."""
        return {"num_gpus": self.gpus, "num_cpus": self.cpus} if self.gpus else {"num_cpus": self.cpus}


def worker_shape(resources: dict[str, float], cpus_per_worker: int, max_workers: int | None) -> WorkerShape:
    """The actors for a cluster with ``resources`` (Ray's ``cluster_resources()``)."""
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 0))
    if gpus >= 1:
        n, shape = gpus, WorkerShape(0, 1, min(cpus_per_worker, cpus // gpus), cpus_per_worker)
    else:
        n = cpus // cpus_per_worker
        if n < 1:
            raise ClusterError(
                f"the cluster has {cpus} CPUs, fewer than --cpus-per-worker {cpus_per_worker}",
                "lower --cpus-per-worker",
            )
        shape = WorkerShape(0, 0, cpus_per_worker, cpus_per_worker)
    return replace(shape, count=min(n, max_workers) if max_workers else n)


def _fault_hook(task: Task) -> None:
    path = os.environ.get(_FAULT_ENV)
    if not path or not isinstance(task, (FileTask, PartTask, PlanTask)):
        return
    name = Path(task.input).name
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return
    for k, line in enumerate(lines):
        how, _, who = line.partition(" ")
        if who.strip() != name:
            continue
        if how == "once":
            Path(path).write_text("".join(x + "\n" for j, x in enumerate(lines) if j != k))
        if how in ("once", "always"):
            os._exit(1)
        if how == "midway":  # once this task's output has a temporary file, as a worker lost mid-encode
            target = Path(task.path if isinstance(task, PartTask) else task.output)

            def die_once_written(target: Path = target) -> None:
                while not any(target.parent.glob(f".{target.stem}.*.tmp{target.suffix}")):
                    time.sleep(0.01)
                os._exit(1)

            threading.Thread(target=die_once_written, daemon=True).start()


@dataclass(frozen=True)
class SetupFailed:
    """An actor's setup error, as a value (so a bad option is one line, not a remote traceback)."""

    error: str


class ActorWorker(Worker):
    """A :class:`~streamdeblur.batch.worker.Worker` inside a Ray actor: setup reports
    errors as values, and says which node and GPUs it got."""

    def setup(self) -> WorkerInfo | SetupFailed:  # type: ignore[override]
        try:
            info = super().setup()
        except StreamDeblurError as e:
            return SetupFailed(str(e))
        except Exception as e:  # noqa: BLE001
            return SetupFailed(f"internal error: {e.__class__.__name__}: {e}")
        try:
            import ray

            ctx = ray.get_runtime_context()
            info.node = ctx.get_node_id()[:12]
            info.gpus = [str(g) for g in ray.get_gpu_ids()]
        except Exception:  # pragma: no cover
            pass
        return info

    def run(self, task: Task) -> Result:
        _fault_hook(task)
        return super().run(task)


@dataclass
class _Actor:
    handle: Any
    label: str = "starting"
    info: WorkerInfo | None = None
    task: Task | None = None
    tasks: int = 0
    dead: bool = False
    progress_ref: Any = None
    polled: float = 0.0

    def summary(self) -> WorkerInfo | None:
        """For the report: None for an actor that never started."""
        return None if self.info is None else replace(self.info, worker=self.label, tasks=self.tasks, died=self.dead)


def _sweep(task: Task, info: WorkerInfo | None) -> list[Path]:
    """The temporary output a lost worker left (its host and pid are in the name), removed from here: the
    output folder is shared, the worker is known to be gone, and no later run on its host may come by."""
    if info is None:
        return []
    paths = [task.path] if isinstance(task, PartTask) else [] if isinstance(task, PlanTask) else [task.output]
    removed = []
    for p in paths:
        try:
            removed += remove_temporaries_of(p, info.host, info.pid)
        except OSError as e:  # pragma: no cover - an unreachable folder: the next run there sweeps it
            log.warning("could not remove the temporary files of %s: %s", p, e)
    return removed


def _first_line(e: BaseException) -> str:
    for line in str(e).splitlines():
        line = line.strip()
        if line:
            return line[:200]
    return e.__class__.__name__


def run_on_cluster(
    schedule: Schedule,
    spec: str | Connection,
    options: RunOptions,
    *,
    cpus_per_worker: int = 1,
    max_workers: int | None = None,
    stop_event: threading.Event | None = None,
    on_start: Callable[[BatchStart], None] | None = None,
) -> tuple[list[WorkerInfo], int | None, str]:
    """Run ``schedule``'s tasks on Ray actors; ``spec`` as :func:`connect` takes it, or a
    connection it made (shut down here at the end if it owns it). Returns (workers,
    signum if stopped, mode)."""
    conn = spec if isinstance(spec, Connection) else connect(spec)
    fleet = _Fleet(conn, schedule, options, on_start)
    try:
        signum = fleet.run(cpus_per_worker, max_workers, stop_event)
    finally:
        fleet.kill()
        conn.close()
    return [s for s in (a.summary() for a in fleet.actors) if s is not None], signum, conn.mode


class _Fleet:
    """The actors of one run, seen from this process: started, handed tasks as they become
    free, their results and deaths passed to the schedule, replaced when they die."""

    def __init__(
        self, conn: Connection, schedule: Schedule, options: RunOptions, on_start: Callable[[BatchStart], None] | None
    ) -> None:
        from ray.exceptions import RayActorError

        try:
            from ray.exceptions import ActorUnavailableError
        except ImportError:  # pragma: no cover - older Ray
            ActorUnavailableError = RayActorError  # type: ignore[misc,assignment]  # noqa: N806
        self.dead_errors: tuple[type[BaseException], ...] = (RayActorError, ActorUnavailableError)
        self.ray = conn.ray
        self.mode = conn.mode
        self.schedule = schedule
        self.options = options
        self.on_start = on_start
        self.actors: list[_Actor] = []
        self.setups: dict[Any, _Actor] = {}  # object ref of a setup call -> its actor
        self.runs: dict[Any, _Actor] = {}  # object ref of a run call -> its actor
        self.idle: list[_Actor] = []
        self.began = False
        self.last_death = ""
        self.replacements = 0
        self.shape = WorkerShape(0, 0, 1, 1)

    def run(self, cpus_per_worker: int, max_workers: int | None, stop_event: threading.Event | None) -> int | None:
        """Start the actors and run every task; the signal number if stopped, else None."""
        self.shape = worker_shape(self.ray.cluster_resources(), cpus_per_worker, max_workers)
        self.replacements = self.shape.count
        self._remote = self.ray.remote(max_concurrency=2, max_restarts=0)(ActorWorker)
        for _ in range(self.shape.count):
            self._spawn()
        try:
            while True:
                if stop_event is not None and stop_event.is_set():
                    raise KeyboardInterrupt
                if not self._step():
                    break
        except KeyboardInterrupt as e:
            signum = interrupt_signal(e)
            self._stop(signum)
            return signum
        return None

    def _step(self) -> bool:
        """Hand out tasks, wait a moment for results; False once everything is done."""
        self._hand_out()
        if not self.runs and not self.schedule.has_work():
            return False
        if not self.runs and not self.setups and not self.idle:
            self.schedule.fail_rest(f"no worker left: every worker died (the last: {self.last_death})")
            return False
        done, _ = self.ray.wait([*self.setups, *self.runs], num_returns=1, timeout=_POLL)
        for ref in done:
            if ref in self.setups:
                self._set_up(ref, self.setups.pop(ref))
            else:
                self._finished(ref, self.runs.pop(ref))
        self._poll_progress()
        return True

    def _spawn(self) -> None:
        a = _Actor(
            self._remote.options(**self.shape.ray_resources(), scheduling_strategy="SPREAD").remote(
                self.options, self.shape.threads
            )
        )
        self.actors.append(a)
        self.setups[a.handle.setup.remote()] = a

    def _hand_out(self) -> None:
        while self.idle:
            task = self.schedule.next_task()
            if task is None:
                return
            a = self.idle.pop(0)
            a.task = task
            self.schedule.start(task, a.label)
            self.runs[a.handle.run.remote(task)] = a

    def _set_up(self, ref: Any, a: _Actor) -> None:
        """An actor's setup ended: it is idle now (and the run begins with the first one)."""
        try:
            info = self.ray.get(ref)
        except self.dead_errors as e:
            self._died(a, e)
            return
        if isinstance(info, SetupFailed):
            raise ClusterError(f"the workers cannot start: {info.error}")
        a.info = info
        gpu = f" GPU {','.join(info.gpus)}" if info.gpus else ""
        a.label = f"{info.host} pid {info.pid}{gpu}"
        self.idle.append(a)
        if not self.began:
            self.began = True
            if self.on_start is not None:
                self.on_start(BatchStart(self.mode, info, self.shape.count, self.shape.gpus, self.shape.cpus))
            self.schedule.begin(self.shape.count)

    def _finished(self, ref: Any, a: _Actor) -> None:
        """A task ended on ``a``: its result goes to the schedule, the actor back to idle."""
        task, a.task = a.task, None
        assert task is not None
        try:
            res = self.ray.get(ref)
        except self.dead_errors as e:
            a.task = task
            self._died(a, e)
            return
        except Exception as e:  # noqa: BLE001 - Worker.run returns failures; this is Ray's own
            res = Result("failed", error=f"internal error on worker {a.label}: {_first_line(e)}")
        a.tasks += 1
        self.idle.append(a)
        self.schedule.finish(task, res)

    def _died(self, a: _Actor, e: BaseException) -> None:
        """``a`` is gone: its task is retried (or failed) and, while there is work, a new actor starts."""
        a.dead = True
        self.last_death = _first_line(e)
        if a in self.idle:
            self.idle.remove(a)
        if a.task is not None:
            swept = _sweep(a.task, a.info)
            note = f"; removed its temporary file {', '.join(p.name for p in swept)}" if swept else ""
            self.schedule.died(a.task, f"worker {a.label} died ({_first_line(e)}){note}")
            a.task = None
        if self.replacements > 0 and self.schedule.has_work():
            self.replacements -= 1
            self._spawn()

    def _poll_progress(self) -> None:
        """Ask the busy actors how far their tasks have got (at most every half second each)."""
        now = time.monotonic()
        for a in self.actors:
            if not a.dead and a.task is not None and a.progress_ref is None and now - a.polled >= _PROGRESS_EVERY_S:
                a.progress_ref = a.handle.progress.remote()
                a.polled = now
        refs = [a.progress_ref for a in self.actors if a.progress_ref is not None]
        if not refs:
            return
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        ready_set = set(ready)
        for a in self.actors:
            if a.progress_ref is not None and a.progress_ref in ready_set:
                ref, a.progress_ref = a.progress_ref, None
                try:
                    p = self.ray.get(ref)
                except Exception:  # a dead worker: its run ref says so
                    continue
                if p is not None and a.task is not None and p.task == a.task.id:
                    self.schedule.live(p)

    def _stop(self, signum: int = 2) -> None:
        """Ctrl-C (or signal ``signum``): ask the running tasks to stop, give them a few seconds, report the rest."""
        runs = dict(self.runs)
        for a in runs.values():
            try:
                a.handle.stop.remote()
            except Exception:  # pragma: no cover
                pass
        deadline = time.monotonic() + STOP_GRACE_S
        while runs and time.monotonic() < deadline:
            try:
                done, _ = self.ray.wait(list(runs), num_returns=1, timeout=_POLL)
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
                break
            for ref in done:
                a = runs.pop(ref)
                task, a.task = a.task, None
                assert task is not None
                try:
                    res = self.ray.get(ref)
                except Exception as e:  # noqa: BLE001 - a worker killed by the same Ctrl-C
                    res = Result("cancelled", error=f"stopped ({_first_line(e)})")
                self.schedule.finish(task, res)
        for a in runs.values():
            if a.task is not None:
                self.schedule.finish(a.task, Result("cancelled", error="stopped while running"))
                a.task = None
        self.schedule.stopped(signum)

    def kill(self) -> None:
        """End every actor still alive."""
        for a in self.actors:
            if not a.dead:
                try:
                    self.ray.kill(a.handle)
                except Exception:  # pragma: no cover
                    pass
