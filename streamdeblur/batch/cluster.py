"""Ray: the tasks of a batch run (:mod:`streamdeblur.batch.schedule`) on long-lived actors, one per GPU.

``pip install 'streamdeblur[ray]'``. ``--cluster local`` starts a Ray cluster on this
machine (and stops it at the end); ``auto`` or an address (``ray://head:10001``,
``head:6379``) connects to a running one (``ray start --head``; docs/SCALE.md).

* Workers: one actor per GPU (``num_gpus=1``) when the cluster has GPUs; else
  ``CPUs // --cpus-per-worker`` actors of ``--cpus-per-worker`` cores each (inference
  threads limited to that). ``--workers N`` caps the number. Each actor loads the
  generator and opens its backend (TensorRT engine, CUDA model, ONNX session) once in
  :meth:`~streamdeblur.worker.Worker.setup`, then runs any number of tasks.
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
line is removed first.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ClusterError, StreamDeblurError
from .schedule import Schedule
from .worker import Worker

log = logging.getLogger(__name__)

#: how long stopped tasks get to finish their partial files after Ctrl-C
STOP_GRACE_S = 15.0
#: object store of a local cluster: only task descriptions and results travel through it
LOCAL_OBJECT_STORE = 100 * 1024 * 1024
_FAULT_ENV = "STREAMDEBLUR_TEST_KILL_WORKER"
_POLL = 0.25


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ClusterError("--cluster needs Ray, which is not installed", "pip install 'streamdeblur[ray]'") from None
    return ray


@dataclass
class Connection:
    ray: Any
    owned: bool  # this call connected (or started the local cluster) and must shut it down
    mode: str


def connect(spec: str) -> Connection:
    """Start (``local``) or join (``auto``, an address) a Ray cluster."""
    ray = require_ray()
    if ray.is_initialized():  # a library user (or a test) already has a session: use it
        return Connection(ray, False, "ray (this session)")
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR, "namespace": "streamdeblur"}
    spec = spec.strip()
    if not spec:
        raise ClusterError("--cluster needs local, auto or an address", "e.g. --cluster local or --cluster ray://head:10001")
    try:
        with warnings.catch_warnings():  # Ray Client warns, over several lines, before it raises
            warnings.simplefilter("ignore")
            if spec == "local":
                ray.init(include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE, **common)
            else:
                ray.init(address=spec, **common)
    except Exception as e:  # ConnectionError, ValueError for a bad address, a timeout ...
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
        if spec == "local":
            raise ClusterError(f"cannot start a local Ray cluster: {first}") from None
        auth = " (a cluster with token authentication, Ray >= 2.59, also needs RAY_AUTH_MODE=token and its token here)" if spec.startswith("ray://") else ""
        raise ClusterError(
            f"cannot connect to the Ray cluster at {spec}: {first}",
            f"start one with `ray start --head` (docs/SCALE.md), check the address{auth}, or use --cluster local",
        ) from None
    return Connection(ray, True, "ray local" if spec == "local" else f"ray cluster {spec}")


def worker_shape(resources: dict[str, float], cpus_per_worker: int, max_workers: int | None) -> tuple[int, dict[str, Any], int]:
    """(number of actors, resources of each, inference threads of each) for a cluster."""
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 0))
    if gpus >= 1:
        n = gpus
        res: dict[str, Any] = {"num_gpus": 1, "num_cpus": min(cpus_per_worker, cpus // gpus)}
    else:
        n = cpus // cpus_per_worker
        if n < 1:
            raise ClusterError(f"the cluster has {cpus} CPUs, fewer than --cpus-per-worker {cpus_per_worker}", "lower --cpus-per-worker")
        res = {"num_cpus": cpus_per_worker}
    if max_workers:
        n = min(n, max_workers)
    return n, res, cpus_per_worker


def _fault_hook(task: dict[str, Any]) -> None:
    path = os.environ.get(_FAULT_ENV)
    if not path or task.get("kind") not in ("file", "part", "plan"):
        return
    name = Path(task["input"]).name
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


class ActorWorker(Worker):
    """A :class:`~streamdeblur.worker.Worker` inside a Ray actor: setup reports errors as
    values (so a bad option is one line, not a remote traceback)."""

    def setup(self) -> dict[str, Any]:  # type: ignore[override]
        try:
            info = super().setup()
        except StreamDeblurError as e:
            return {"ok": False, "error": str(e)}
        except Exception as e:  # noqa: BLE001
            return {"ok": False, "error": f"internal error: {e.__class__.__name__}: {e}"}
        try:
            import ray

            ctx = ray.get_runtime_context()
            info["node"] = ctx.get_node_id()[:12]
            info["gpus"] = [str(g) for g in ray.get_gpu_ids()]
        except Exception:  # pragma: no cover
            pass
        return {"ok": True, **info}

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        _fault_hook(task)
        return super().run(task)


@dataclass
class _Actor:
    handle: Any
    label: str = "starting"
    info: dict[str, Any] = field(default_factory=dict)
    task: dict[str, Any] | None = None
    tasks: int = 0
    dead: bool = False
    progress_ref: Any = None
    polled: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.info.items() if k != "ok"}, "worker": self.label, "tasks": self.tasks, "died": self.dead}


def _first_line(e: BaseException) -> str:
    for line in str(e).splitlines():
        line = line.strip()
        if line:
            return line[:200]
    return e.__class__.__name__


def run_on_cluster(
    schedule: Schedule,
    spec: str | Connection,
    run_options: dict[str, Any],
    *,
    cpus_per_worker: int = 1,
    max_workers: int | None = None,
    stop_event: threading.Event | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], int | None, str]:
    """Run ``schedule``'s tasks on Ray actors; ``spec`` as :func:`connect` takes it, or a
    connection it made (shut down here at the end if it owns it). Returns (workers,
    signum if stopped, mode)."""
    conn = spec if isinstance(spec, Connection) else connect(spec)
    ray = conn.ray
    from ray.exceptions import RayActorError

    try:
        from ray.exceptions import ActorUnavailableError
    except ImportError:  # pragma: no cover - older Ray
        ActorUnavailableError = RayActorError  # type: ignore[misc,assignment]  # noqa: N806
    dead_errors = (RayActorError, ActorUnavailableError)

    actors: list[_Actor] = []
    pending: dict[Any, tuple[str, _Actor]] = {}  # object ref -> ("setup" | "run", actor)
    idle: list[_Actor] = []
    signum: int | None = None
    try:
        n, resources, threads = worker_shape(ray.cluster_resources(), cpus_per_worker, max_workers)
        cls = ray.remote(max_concurrency=2, max_restarts=0)(ActorWorker)
        replacements = n

        def spawn() -> None:
            a = _Actor(cls.options(**resources, scheduling_strategy="SPREAD").remote(run_options, threads))
            actors.append(a)
            pending[a.handle.setup.remote()] = ("setup", a)

        for _ in range(n):
            spawn()
        began = False
        last_death = ""

        def on_dead(a: _Actor, e: BaseException) -> None:
            nonlocal replacements, last_death
            a.dead = True
            last_death = _first_line(e)
            if a in idle:
                idle.remove(a)
            if a.task is not None:
                schedule.died(a.task, f"worker {a.label} died ({_first_line(e)})")
                a.task = None
            if replacements > 0 and schedule.has_work():
                replacements -= 1
                spawn()

        def handle(ref: Any) -> None:
            nonlocal began
            kind, a = pending.pop(ref)
            if kind == "setup":
                try:
                    info = ray.get(ref)
                except dead_errors as e:
                    on_dead(a, e)
                    return
                if not info.get("ok"):
                    raise ClusterError(f"the workers cannot start: {info.get('error')}")
                a.info = info
                gpu = f" GPU {','.join(info['gpus'])}" if info.get("gpus") else ""
                a.label = f"{info.get('host')} pid {info.get('pid')}{gpu}"
                idle.append(a)
                if not began:
                    began = True
                    if on_start is not None:
                        on_start({"mode": conn.mode, "planned": n, "resources": resources, "workers": [a.summary()]})
                    schedule.begin(n)
                return
            task, a.task = a.task, None
            try:
                res = ray.get(ref)
            except dead_errors as e:
                a.task = task
                on_dead(a, e)
                return
            except Exception as e:  # noqa: BLE001 - Worker.run returns failures; this is Ray's own
                res = {"status": "failed", "error": f"internal error on worker {a.label}: {_first_line(e)}"}
            a.tasks += 1
            idle.append(a)
            schedule.finish(task, res)

        def poll_progress() -> None:
            now = time.monotonic()
            for a in actors:
                if a.dead or a.task is None:
                    continue
                if a.progress_ref is None and now - a.polled >= 0.5:
                    a.progress_ref = a.handle.progress.remote()
                    a.polled = now
            refs = [a.progress_ref for a in actors if a.progress_ref is not None]
            if not refs:
                return
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            ready_set = set(ready)
            for a in actors:
                if a.progress_ref is not None and a.progress_ref in ready_set:
                    ref, a.progress_ref = a.progress_ref, None
                    try:
                        p = ray.get(ref)
                    except Exception:  # a dead worker: its run ref says so
                        continue
                    if p and a.task is not None and p[0] == a.task["id"]:
                        schedule.live(p[0], p[1], p[2])

        try:
            while True:
                if stop_event is not None and stop_event.is_set():
                    raise KeyboardInterrupt
                while idle:
                    task = schedule.next_task()
                    if task is None:
                        break
                    a = idle.pop(0)
                    a.task = task
                    schedule.start(task, a.label)
                    pending[a.handle.run.remote(task)] = ("run", a)
                running = any(k == "run" for k, _ in pending.values())
                starting = any(k == "setup" for k, _ in pending.values())
                if not running and not schedule.has_work():
                    break
                if not running and not starting and not idle:
                    schedule.fail_rest(f"no worker left: every worker died (the last: {last_death})")
                    break
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL)
                for ref in done:
                    handle(ref)
                poll_progress()
        except KeyboardInterrupt as e:
            signum = getattr(e, "signum", 2)
            _stop(ray, schedule, pending, dead_errors)
    finally:
        for a in actors:
            if not a.dead:
                try:
                    ray.kill(a.handle)
                except Exception:  # pragma: no cover
                    pass
        if conn.owned:
            try:
                ray.shutdown()
            except Exception:  # pragma: no cover
                log.debug("ray.shutdown failed", exc_info=True)
    return [a.summary() for a in actors if a.info], signum, conn.mode


def _stop(ray: Any, schedule: Schedule, pending: dict[Any, tuple[str, _Actor]], dead_errors: tuple[type, ...]) -> None:
    """Ctrl-C: ask the running tasks to stop, give them a few seconds, report the rest."""
    runs = {ref: a for ref, (k, a) in pending.items() if k == "run"}
    for a in runs.values():
        try:
            a.handle.stop.remote()
        except Exception:  # pragma: no cover
            pass
    deadline = time.monotonic() + STOP_GRACE_S
    while runs and time.monotonic() < deadline:
        try:
            done, _ = ray.wait(list(runs), num_returns=1, timeout=_POLL)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            break
        for ref in done:
            a = runs.pop(ref)
            task, a.task = a.task, None
            try:
                res = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - a worker killed by the same Ctrl-C
                res = {"status": "cancelled", "error": f"stopped ({_first_line(e)})"}
            schedule.finish(task, res)
    for a in runs.values():
        if a.task is not None:
            schedule.finish(a.task, {"status": "cancelled", "error": "stopped while running"})
            a.task = None
    schedule.stopped()
