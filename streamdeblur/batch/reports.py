"""What a batch run did: one :class:`ItemReport` per input, :class:`BatchProgress`
snapshots for a progress view, a :class:`WorkerInfo` per worker (and :class:`BatchStart`
once they are ready), and the :class:`BatchResult` that ``--report`` writes as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..fileio import write_atomic

#: the statuses an input ends with
FINAL = ("done", "skipped", "failed", "cancelled")


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
    kept_frames: int = 0  # of ``frames``, those in parts a stopped run had finished, used as they were

    @property
    def deblurred(self) -> int:
        """The frames this run deblurred (``frames`` less the kept parts')."""
        return self.frames - self.kept_frames

    @property
    def fps(self) -> float:
        return self.deblurred / self.seconds if self.status == "done" and self.seconds > 0 else 0.0

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
class WorkerInfo:
    """One worker: the backend it opened and where it runs, and what it did."""

    backend: str
    device: str
    describe: str  # the backend's own description (name, device, precision ...)
    reason: str  # why this backend (auto's choice)
    host: str
    pid: int
    threads: int | None  # its share of a machine's cores (None: the library's default)
    worker: str = ""  # its label in the report: "HOST pid PID" (and its GPU)
    tasks: int = 0
    node: str | None = None  # a Ray actor's node id (shortened)
    gpus: list[str] | None = None  # a Ray actor's GPU ids
    died: bool | None = None  # a Ray actor: whether it died during the run

    def as_dict(self) -> dict[str, Any]:
        """For the report; what does not apply (a Ray actor's node, GPUs, death) is left out."""
        return {k: v for k, v in asdict(self).items() if v is not None or k not in ("node", "gpus", "died")}


@dataclass(frozen=True)
class BatchStart:
    """What a progress view says once the first worker is ready."""

    mode: str  # "this process", "ray local", ...
    worker: WorkerInfo  # the first worker ready (they all open the same backend)
    planned: int = 1  # workers asked for
    gpus_each: int = 0
    cpus_each: int | None = None


@dataclass
class BatchResult:
    items: list[ItemReport]
    seconds: float
    mode: str  # "this process", "ray local", "ray auto", "ray ADDRESS"
    workers: list[WorkerInfo]
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

    @property
    def deblurred(self) -> int:
        """The frames this run deblurred: ``frames`` less those of parts kept from a stopped run."""
        return sum(i.deblurred for i in self.items if i.status == "done")

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
            "fps": round(self.deblurred / self.seconds, 3) if self.seconds > 0 else 0.0,
            "workers": [w.as_dict() for w in self.workers],
            "items": [i.as_dict() for i in self.items],
        }

    def write_report(self, path: str | os.PathLike) -> Path:
        """The JSON report, written to a temporary file and renamed (never half-written; it replaces an earlier one)."""
        return write_atomic(path, (json.dumps(self.as_dict(), indent=2) + "\n").encode(), replace=True)
