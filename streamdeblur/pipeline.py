"""reader -> inference -> writer, one thread each, joined by bounded queues.

Why threads: decoding and encoding run inside FFmpeg and inference inside PyTorch,
all of which release the GIL, so three threads overlap the three stages while the
queues bound memory whatever the video's length (backpressure, as vidgear's CamGear).

Guarantees:

* order is preserved and no frame is dropped (a file is not a live camera);
* a sentinel ends the stream; every ``put``/``get`` waits in short slices and checks
  the stop event, so an exception in any stage stops every stage within a fraction of
  a second (plus, at worst, the batch inference already running) and ``run()``
  re-raises it once all threads have ended;
* Ctrl-C (or any ``KeyboardInterrupt``, such as the SIGTERM of
  :mod:`streamdeblur.signals`) in the thread that called ``run()`` stops the stages the
  same way and is raised as :class:`~streamdeblur.errors.Cancelled` carrying the signal;
  ``stop()`` from another thread ends the run early and normally (``stats.stopped``).
  The writer is always waited for (the sink is then the caller's to finish); with
  ``interrupt_grace`` the reader and inference stages get that many seconds, and one
  still busy (inside a long inference call, or a stream read) is left behind, named in
  ``abandoned``: the caller must then not close the backend or source it is using.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .errors import Cancelled, FrameMemoryError, Interrupted, StreamDeblurError
from .pacing import Pacer
from .pacing import Stopped as PacerStopped
from .video.frame import Frame

if TYPE_CHECKING:
    from av.packet import Packet

    from .video.sources import SourceInfo

log = logging.getLogger(__name__)

_END = object()  # the sentinel that ends the stream
_POLL = 0.05  # seconds between checks of the stop event while a queue is full/empty
#: ``realtime``: how far behind the input's pace the output may fall before a warning says it cannot keep up
LATE_WARNING = 3.0


# -- the seams: what the pipeline takes and what it reports -----------------------------


class FrameSource(Protocol):
    """Frames in order: any iterable of :class:`Frame` (a generator, a
    :class:`~streamdeblur.video.live.LiveSource`, a
    :class:`~streamdeblur.video.sources.FileSource`)."""

    def __iter__(self) -> Iterator[Frame]: ...


@runtime_checkable
class PacketSource(FrameSource, Protocol):
    """A demuxed input (:class:`~streamdeblur.video.sources.FileSource`): ``items()`` yields
    its frames and the packets of the streams a sink copies untouched, in demux order;
    ``info`` says how many frames to expect."""

    @property
    def info(self) -> SourceInfo: ...

    def items(self) -> Iterator[Frame | Packet]: ...


class FrameSink(Protocol):
    """Where processed frames go, in order (a :class:`~streamdeblur.video.sinks.FileSink`,
    a :class:`~streamdeblur.video.sinks.NullSink`, a test's list)."""

    def write(self, frame: Frame) -> None: ...


@runtime_checkable
class PacketSink(FrameSink, Protocol):
    """A sink that also takes the packets of a :class:`PacketSource` (FileSink, NullSink)."""

    def write_packet(self, packet: Packet) -> None: ...


class BatchBackend(Protocol):
    """What the pipeline needs of a backend: ``process(uint8 or uint16 (N, H, W, 3)) -> same
    shape and dtype`` (every :class:`~streamdeblur.backends.base.Backend` has it)."""

    def process(self, frames: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Progress:
    """What the writer reports after each frame, for progress bars."""

    frames_done: int
    total: int | None
    elapsed: float
    fps: float
    #: seconds of the input written, from the first frame's timestamp to this one's (None: no timestamps)
    media_time: float | None = None

    @property
    def eta(self) -> float | None:
        if not self.total or self.fps <= 0 or self.frames_done >= self.total:
            return None if not self.total else 0.0
        return (self.total - self.frames_done) / self.fps


#: The progress callback of every run over frames (``deblur_video``, ``record_live``, a
#: batch's parts): called from the writer thread after each frame written.
OnProgress = Callable[[Progress], None]

#: A one-line notice for the user (what was chosen, how far a long job is, a key pressed);
#: the command line prints it. ``run_bench``'s progress lines and the preview's events.
Notify = Callable[[str], None]


@dataclass
class PipelineStats:
    """Counts and times of one run. ``stage_seconds`` is time each stage spent working
    (not waiting on a queue); the slowest stage bounds the end-to-end rate."""

    frames_in: int = 0
    frames_out: int = 0
    packets_copied: int = 0
    batches: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "infer": 0.0, "write": 0.0})
    stopped: bool = False
    #: seconds the writer held frames back to their presentation times (``realtime``)
    paced_seconds: float = 0.0
    #: ``realtime``: the output fell more than LATE_WARNING seconds behind the input's pace (said once)
    fell_behind: bool = False
    #: ``realtime``: the furthest the output fell behind the input's pace, in seconds
    behind_seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames_out / self.seconds if self.seconds > 0 else 0.0


class _Stopped(Exception):
    """Internal: a stage noticed the stop event."""


class Pipeline:
    """Run ``source`` through ``backend.process`` in batches into ``sink``.

    ``source``: a :class:`FrameSource`; a :class:`PacketSource` is read through
    ``items()``, and its packets go to a :class:`PacketSink`'s ``write_packet`` untouched
    (to any other sink, nowhere). ``total`` (for :class:`Progress`) defaults to a packet
    source's expected frame count. The caller opens and closes source, backend and sink;
    the pipeline only moves frames.
    """

    def __init__(
        self,
        source: FrameSource,
        backend: BatchBackend,
        sink: FrameSink,
        *,
        batch: int = 4,
        queue_size: int | None = None,
        on_progress: OnProgress | None = None,
        stop_event: threading.Event | None = None,
        total: int | None = None,
        interrupt_grace: float | None = None,
        realtime: bool = False,
        keep_original: bool = False,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.source = source
        self.backend = backend
        self.sink = sink
        self.batch = batch
        self.queue_size = queue_size or max(8, 2 * batch)
        self.on_progress = on_progress
        self.stop_event = stop_event or threading.Event()
        if total is None and isinstance(source, PacketSource):
            total = source.info.expected_frames
        self.total = total
        self.stats = PipelineStats()
        self._error: BaseException | None = None
        self._error_stage = ""
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.interrupt_grace = interrupt_grace
        #: stages still running when run() gave up waiting after an interrupt
        self.abandoned: tuple[str, ...] = ()
        #: frames written no faster than their presentation times (FFmpeg's -re): a file sent to a server
        self.realtime = realtime
        #: each deblurred frame carries its input picture in ``meta["original"]`` (a comparison output)
        self.keep_original = keep_original

    # -- control ---------------------------------------------------------------
    def stop(self) -> None:
        """End the run early from another thread; ``run()`` returns with ``stats.stopped``."""
        self.stats.stopped = True
        self.stop_event.set()

    def _fail(self, stage: str, exc: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error, self._error_stage = exc, stage
        self.stop_event.set()

    def _put(self, q: queue.Queue, item: Any) -> None:
        while True:
            if self.stop_event.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def _get(self, q: queue.Queue) -> Any:
        while True:
            if self.stop_event.is_set():
                raise _Stopped
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                continue

    # -- stages ------------------------------------------------------------------
    def _reader(self, out: queue.Queue) -> None:
        it: Iterator[Any] = self.source.items() if isinstance(self.source, PacketSource) else iter(self.source)
        busy = 0.0
        try:
            while True:
                t0 = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    break
                finally:
                    busy += time.perf_counter() - t0
                if isinstance(item, Frame):
                    self.stats.frames_in += 1
                self._put(out, item)
            self._put(out, _END)
        finally:
            self.stats.stage_seconds["read"] = busy
            if isinstance(it, Generator):  # end a suspended generator in this thread
                try:
                    it.close()
                except Exception:  # pragma: no cover
                    log.debug("closing the source iterator failed", exc_info=True)

    def _infer(self, inq: queue.Queue, out: queue.Queue) -> None:
        busy = 0.0
        frames: list[Frame] = []
        held: list[Any] = []  # packets that arrived while a batch was filling

        def flush() -> None:
            nonlocal busy
            if frames:
                t0 = time.perf_counter()
                stacked = np.stack([f.image for f in frames])
                result = self.backend.process(stacked)
                busy += time.perf_counter() - t0
                if result.shape != stacked.shape:
                    raise RuntimeError(f"the backend returned shape {result.shape} for a batch of {stacked.shape}")
                self.stats.batches += 1
                for f, img in zip(frames, result):
                    meta = {**f.meta, "original": f.image} if self.keep_original else f.meta
                    self._put(out, replace(f, image=img, meta=meta))
                frames.clear()
            for p in held:
                self._put(out, p)
            held.clear()

        try:
            while True:
                item = self._get(inq)
                if item is _END:
                    flush()
                    self._put(out, _END)
                    return
                if isinstance(item, Frame):
                    first = frames[0].image if frames else None
                    if first is not None and (item.image.shape, item.image.dtype) != (first.shape, first.dtype):
                        flush()
                    frames.append(item)
                    if len(frames) >= self.batch:
                        flush()
                elif frames:
                    held.append(item)
                else:
                    self._put(out, item)
        finally:
            self.stats.stage_seconds["infer"] = busy

    def _writer(self, inq: queue.Queue) -> None:
        busy = 0.0
        write_packet = self.sink.write_packet if isinstance(self.sink, PacketSink) else None
        pacer = Pacer() if self.realtime else None
        t_start = time.perf_counter()
        first_time: float | None = None
        try:
            while True:
                item = self._get(inq)
                if item is _END:
                    return
                if pacer is not None and isinstance(item, Frame) and item.time is not None:
                    if item.meta.get("reconnected"):  # the input dropped and came back: its gap is no lateness
                        pacer.restart()
                    try:
                        self.stats.paced_seconds += pacer.wait(item.time, self.stop_event)
                    except PacerStopped:
                        raise _Stopped from None
                    self.stats.behind_seconds = max(self.stats.behind_seconds, pacer.late)
                    if pacer.late > LATE_WARNING and not self.stats.fell_behind:
                        self.stats.fell_behind = True
                        log.warning(
                            "the output is %.1f s behind the input's own pace at frame %d: the model deblurs slower "
                            "than the input plays, and a stream's viewers see it stall (`streamdeblur bench` says how "
                            "fast each backend is here)", pacer.late, self.stats.frames_out,
                        )  # fmt: skip
                t0 = time.perf_counter()
                if isinstance(item, Frame):
                    self.sink.write(item)
                    busy += time.perf_counter() - t0
                    self.stats.frames_out += 1
                    if self.on_progress is not None:
                        elapsed = time.perf_counter() - t_start
                        done = self.stats.frames_out
                        # the total is the header's estimate: past it, unknown (not 105 %, nor a line a frame)
                        total = self.total if self.total is not None and done <= self.total else None
                        t = item.time
                        if first_time is None:
                            first_time = t
                        media = t - first_time if t is not None and first_time is not None else None
                        self.on_progress(Progress(done, total, elapsed, done / elapsed if elapsed > 0 else 0.0, media))
                else:
                    if write_packet is not None:
                        write_packet(item)
                        self.stats.packets_copied += 1
                    busy += time.perf_counter() - t0
        finally:
            self.stats.stage_seconds["write"] = busy

    def _stage(self, name: str, fn: Callable[..., None], *args: Any) -> threading.Thread:
        def body() -> None:
            try:
                fn(*args)
            except _Stopped:
                pass
            except BaseException as e:  # noqa: BLE001 - every error must reach run()
                self._fail(name, _one_line_memory_error(name, e))

        return threading.Thread(target=body, name=f"streamdeblur-{name}", daemon=True)

    # -- running ---------------------------------------------------------------
    def run(self) -> PipelineStats:
        """Run to the end of the source; returns stats, or raises the first stage error."""
        q_in: queue.Queue = queue.Queue(self.queue_size)
        q_out: queue.Queue = queue.Queue(self.queue_size)
        self._threads = [
            self._stage("reader", self._reader, q_in),
            self._stage("inference", self._infer, q_in, q_out),
            self._stage("writer", self._writer, q_out),
        ]
        t0 = time.perf_counter()
        interrupted: KeyboardInterrupt | None = None
        for t in self._threads:
            t.start()
        try:
            self._join_all()
        except KeyboardInterrupt as e:
            interrupted = e
            self.stop_event.set()
            self._join_after_interrupt()
        self.stats.seconds = time.perf_counter() - t0
        if self._error is not None:
            raise self._error
        if interrupted is not None:
            signum = interrupted.signum if isinstance(interrupted, (Interrupted, Cancelled)) else 2  # 2: Ctrl-C
            raise Cancelled(f"interrupted after {self.stats.frames_out} frames", signum=signum)
        if self.stop_event.is_set():
            self.stats.stopped = True
        return self.stats

    def _join_all(self) -> None:
        for t in self._threads:
            while t.is_alive():
                t.join(timeout=0.1)

    def _join_after_interrupt(self) -> None:
        """The writer to its end (it holds the sink); the others up to ``interrupt_grace``.

        A second Ctrl-C (or signal) while waiting changes nothing: the wait goes on."""
        grace = self.interrupt_grace
        deadline = None if grace is None else time.monotonic() + grace
        writer_first = sorted(self._threads, key=lambda t: not t.name.endswith("-writer"))
        for t in writer_first:
            while t.is_alive():
                try:
                    if deadline is None or t.name.endswith("-writer"):
                        t.join(timeout=0.05)
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    t.join(timeout=min(0.05, left))
                except KeyboardInterrupt:
                    continue
        self.abandoned = tuple(t.name.removeprefix("streamdeblur-") for t in self._threads if t.is_alive())
        if self.abandoned:
            log.debug("stopped waiting for the %s stage(s) after the interrupt", ", ".join(self.abandoned))


def _one_line_memory_error(stage: str, e: BaseException) -> BaseException:
    """A MemoryError while decoding or encoding (a huge frame) as a one-line
    :class:`FrameMemoryError`; any other error, or one from inference (the backend's
    ``process`` says what to do about its own), as it is."""
    if stage not in ("reader", "writer") or not isinstance(e, MemoryError) or isinstance(e, StreamDeblurError):
        return e
    doing = "decoding" if stage == "reader" else "encoding"
    detail = f" ({e})" if str(e) else ""
    err = FrameMemoryError(
        f"out of memory {doing} a frame{detail}",
        "free memory or raise the limit (ulimit -v); --max-tile N tiles the model's work",
    )
    err.__cause__ = e
    return err
