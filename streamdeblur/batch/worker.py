"""The worker of a batch run: it loads the generator and opens its backend once, then
runs *tasks*, each of which names files, never carries frames: deblur one file (``file``),
plan the cuts of one input (``plan``), deblur one part (``part``) or join the parts
(``join``, :mod:`streamdeblur.batch.segments`). The same class runs in this process and inside
a Ray actor (:mod:`streamdeblur.batch.cluster`)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from ..errors import Cancelled, StreamDeblurError
from .jobs import count_video_packets, output_complete

log = logging.getLogger(__name__)


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
        from ..api import RunOptions

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
        from ..backends import create_backend
        from ..models import load_generator

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
            "reason": self.backend.choice_reason,
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
            n = count_video_packets(task["output"]) or 0
            return {"status": "skipped", "frames": n, "note": f"{task['output']} exists and is complete ({why})"}
        return _failed(f"output {task['output']} already exists but is not complete ({why}); pass --overwrite to redo it")

    def _file(self, task: dict[str, Any]) -> dict[str, Any]:
        from ..api import deblur_video

        skip = self._existing(task)
        if skip is not None:
            return skip
        options = asdict(self.opts) | {"overwrite": task["overwrite"]}
        r = deblur_video(task["input"], task["output"], processor=self.backend, on_progress=self._on_progress, stop_event=self.stop_event, **options)
        return {"status": "done", "frames": r.frames, "seconds": r.seconds, "backend": r.backend, "device": r.device, "warnings": list(getattr(r, "warnings", ()))}

    def _plan(self, task: dict[str, Any]) -> dict[str, Any]:
        from ..video.sinks import check_output
        from ..video.sources import open_source
        from .segments import plan_segments, remove_parts

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
