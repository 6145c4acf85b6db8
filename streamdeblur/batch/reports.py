"""What a batch run did: one :class:`ItemReport` per input, :class:`BatchProgress`
snapshots for a progress view, and the :class:`BatchResult` that ``--report`` writes as JSON."""

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
        """The JSON report, written to a temporary file and renamed (never half-written; it replaces an earlier one)."""
        return write_atomic(path, (json.dumps(self.as_dict(), indent=2) + "\n").encode(), replace=True)
