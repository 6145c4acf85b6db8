"""What travels between a batch run's schedule and its workers: a task, one class per kind
(deblur a file, plan the cuts of an input, deblur one part, join the parts), and the
:class:`Result` a worker hands back. Each is a few names and numbers, never frames, so it
crosses to a Ray actor cheaply; a worker reads and writes the files a task names itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .segments import Segment, SegmentPlan

#: how a task ended; ``planned``: a plan task's cuts are in :attr:`Result.plan`
Status = Literal["done", "skipped", "failed", "cancelled", "planned"]


@dataclass(frozen=True, kw_only=True)
class Task:
    """What every task names. Paths are absolute: a worker on another node does not share
    this process's current folder."""

    id: int
    item: int  # the input's index in the run (its ItemReport)
    input: str
    output: str
    overwrite: bool
    attempt: int = 1  # 2: run again after the worker running it died
    expected: int | None = None  # frames it will write, for progress (None: unknown)
    #: what differs from the settings its existing output was recorded as made with (batch.records)
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FileTask(Task):
    """Deblur the whole input into the output."""


@dataclass(frozen=True, kw_only=True)
class PlanTask(Task):
    """Check the input and output as a single run would, and cut the input at keyframes
    into up to ``segments`` parts (:func:`~streamdeblur.batch.segments.plan_segments`)."""

    segments: int


@dataclass(frozen=True, kw_only=True)
class PartTask(Task):
    """Deblur one part of the input into ``path`` (video only)."""

    segment: Segment
    path: str


@dataclass(frozen=True, kw_only=True)
class JoinTask(Task):
    """Join the deblurred ``parts`` and the input's other streams into the output."""

    parts: tuple[str, ...]
    frames: int  # what the parts must hold in all


@dataclass(frozen=True)
class Result:
    """What a worker did with a task; :meth:`Worker.run <streamdeblur.batch.worker.Worker.run>`
    never raises for a bad input, it says ``failed`` here."""

    status: Status
    task: int = 0  # the task's id
    frames: int = 0
    seconds: float = 0.0
    backend: str | None = None
    device: str | None = None
    error: str | None = None  # why it failed or was cancelled
    note: str | None = None  # why it was skipped
    signum: int = 2  # the signal that cancelled it (2: Ctrl-C)
    warnings: tuple[str, ...] = ()
    plan: SegmentPlan | None = None  # a plan task's cuts
    kept: tuple[int, ...] = ()  # a plan task's parts that a stopped run of the same input finished
    resumable: bool = True  # a plan task's: its parts, if stopped, can be gone on from (not with --preset auto)


@dataclass(frozen=True)
class TaskProgress:
    """How far the task a worker runs now has got (polled from another thread, or an actor)."""

    task: int
    frames: int
    total: int | None
