"""The live preview loop: newest frame wins, latency measured from capture to display.

One capture thread reads the live source as fast as it delivers and keeps only the
newest frame in a one-slot mailbox; a frame that is replaced before inference picked it
up is counted as dropped. Dropping happens only there, *before* inference: every frame
that is deblurred is also shown (and recorded). So no queue can build up delay: at worst
a frame waits for the one inference in flight.

The main thread (GUI toolkits want it) takes the newest frame, deblurs it, composes the
view (side by side, split wipe, or deblurred only), draws the overlay (input FPS, output
FPS, latency, dropped, backend and device) and hands the picture to the viewers (a
highgui window, the MJPEG server). Latency of a frame is ``perf_counter()`` after its
viewers returned minus ``Frame.captured_at``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import StreamTimeoutError
from .video.camera import LiveSource
from .video.frame import Frame

log = logging.getLogger(__name__)

VIEWS: tuple[str, ...] = ("side", "split", "deblurred")


@dataclass(frozen=True)
class PreviewConfig:
    """Options of one preview run; each maps onto a CLI option."""

    view: str = "side"
    max_frames: int | None = None  # stop after this many frames shown
    timeout: float = 10.0  # seconds without a new frame before the source counts as dead
    overlay: bool = True
    warmup: bool = True  # run the model once on a blank frame before capture starts
    snapshot_dir: Path = Path(".")

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {self.view!r}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError("max_frames must be >= 1")


class Viewer(Protocol):
    """Where composed pictures go. ``show`` returns the user's commands since the last call."""

    def show(self, image: np.ndarray) -> Iterable[str]:  # "quit" | "pause" | "view" | "save"
        ...

    def close(self) -> None: ...


class Recorder(Protocol):
    """Takes every deblurred frame (same index/pts/time_base as the captured one)."""

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


# -- building blocks ----------------------------------------------------------------


class LatestFrame:
    """A one-slot mailbox: ``put`` replaces an unread frame (counted in ``dropped``)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._ended = False
        self._error: BaseException | None = None
        self.received = 0
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.received += 1
            self._cond.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._ended = True
            self._error = error
            self._cond.notify_all()

    def take(self, timeout: float) -> Frame | None:
        """The newest unread frame; None once the source ended and nothing is left.

        Raises the capture thread's error, or StreamTimeoutError after ``timeout`` seconds
        without a frame.
        """
        with self._cond:
            deadline = time.monotonic() + timeout
            while self._frame is None and not self._ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StreamTimeoutError(f"no frame from the source for {timeout:g} s (disconnected or stalled?)", "check the camera or stream and start again")
                self._cond.wait(left)
            if self._frame is not None:
                frame, self._frame = self._frame, None
                return frame
            if self._error is not None:
                raise self._error
            return None

    def discard(self) -> int:
        """Drop an unread frame (pause); returns how many were dropped (0 or 1)."""
        with self._cond:
            if self._frame is None:
                return 0
            self._frame = None
            self.dropped += 1
            return 1


class RateMeter:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, t: float | None = None) -> None:
        t = time.perf_counter() if t is None else t
        with self._lock:
            self._times.append(t)
            while self._times and t - self._times[0] > self.window:
                self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.perf_counter() if now is None else now
        with self._lock:
            while self._times and now - self._times[0] > self.window:
                self._times.popleft()
            n = len(self._times)
            if n < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (n - 1) / span if span > 0 else 0.0


@dataclass
class PreviewStats:
    """What a run measured. Latencies are per shown frame, capture to display, in ms."""

    frames_in: int = 0
    frames_shown: int = 0
    dropped: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    inference_ms: list[float] = field(default_factory=list)  # the model's share of each latency
    snapshots: list[Path] = field(default_factory=list)
    stop_reason: str = ""

    def summary(self) -> dict:
        lat = np.asarray(self.latencies_ms, dtype=np.float64)
        return {
            "frames_in": self.frames_in,
            "frames_shown": self.frames_shown,
            "dropped": self.dropped,
            "elapsed_s": round(self.elapsed_s, 3),
            "input_fps": round(self.frames_in / self.elapsed_s, 2) if self.elapsed_s > 0 else None,
            "output_fps": round(self.frames_shown / self.elapsed_s, 2) if self.elapsed_s > 0 else None,
            "latency_ms_median": round(float(np.median(lat)), 1) if lat.size else None,
            "latency_ms_p99": round(float(np.percentile(lat, 99)), 1) if lat.size else None,
            "latency_ms_max": round(float(lat.max()), 1) if lat.size else None,
            "inference_ms_median": round(float(np.median(self.inference_ms)), 1) if self.inference_ms else None,
            "stop_reason": self.stop_reason,
        }


# -- composition ----------------------------------------------------------------------


def _label(image: np.ndarray, text: str, x: int, y: int, scale: float = 0.5) -> None:
    import cv2

    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x0, y0 = max(x, 0), max(y - th - 4, 0)
    x1, y1 = min(x + tw + 6, image.shape[1]), min(y + base + 2, image.shape[0])
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = (image[y0:y1, x0:x1] * 0.35).astype(np.uint8)
    cv2.putText(image, text, (x + 3, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def compose(original: np.ndarray, deblurred: np.ndarray, view: str, *, labels: bool = True) -> np.ndarray:
    """The picture for a view: ``side`` (2W x H), ``split`` (W x H wipe), ``deblurred`` (W x H)."""
    if view == "side":
        out = np.concatenate([original, deblurred], axis=1)
        if labels:
            h, w = original.shape[:2]
            _label(out, "original", 4, h - 8)
            _label(out, "deblurred", w + 4, h - 8)
        return out
    if view == "split":
        w = original.shape[1]
        mid = w // 2
        out = original.copy()
        out[:, mid:] = deblurred[:, mid:]
        out[:, max(mid - 1, 0) : mid + 1] = 255
        if labels:
            h = original.shape[0]
            _label(out, "original", 4, h - 8)
            _label(out, "deblurred", mid + 4, h - 8)
        return out
    if view == "deblurred":
        return np.ascontiguousarray(deblurred).copy()
    raise ValueError(f"view must be one of {VIEWS}, got {view!r}")


def draw_overlay(image: np.ndarray, lines: Sequence[str]) -> None:
    """Status lines in the top-left corner, white on a darkened band (in place)."""
    scale = min(0.55, max(0.35, image.shape[1] / 1100))
    step = round(40 * scale)
    y = step - 2
    for line in lines:
        _label(image, line, 4, y, scale)
        y += step


# -- the loop -------------------------------------------------------------------------


class _Capture(threading.Thread):
    """Reads the source as fast as it delivers into the mailbox; errors end the mailbox.

    The source is closed by this thread when it leaves its loop, never by another one
    while a ``read()`` is in flight (PyAV and OpenCV crash on a concurrent close).
    """

    def __init__(self, source: LiveSource, slot: LatestFrame, rate: RateMeter) -> None:
        super().__init__(name="preview-capture", daemon=True)  # daemon: a wedged driver call cannot block exit
        self.source, self.slot, self.rate = source, slot, rate
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                self.rate.tick(frame.captured_at)
                self.slot.put(frame)
        except BaseException as e:  # handed to the main thread, which raises it
            self.slot.end(e)
            return
        finally:
            try:
                self.source.close()
            except Exception:  # pragma: no cover - closing must not hide the real error
                log.exception("closing the source failed")
        self.slot.end()


def run_preview(
    source: LiveSource,
    process: Callable[[np.ndarray], np.ndarray],
    viewers: Sequence[Viewer],
    config: PreviewConfig = PreviewConfig(),
    *,
    describe: str = "",
    recorder: Recorder | None = None,
    on_event: Callable[[str], None] | None = None,
) -> PreviewStats:
    """Run the live loop until the source ends, ``max_frames`` are shown, or a viewer says quit.

    ``process`` maps one uint8 (H, W, 3) RGB frame to its deblurred twin (for a backend:
    ``lambda im: backend.process(im[None])[0]``). ``describe`` names backend and device
    for the overlay. ``on_event`` gets one-line notices (snapshot saved, paused ...).
    Errors from the source or the backend stop the loop and are raised. The loop owns
    ``source`` from here on and closes it (from its capture thread).
    """
    notify = on_event or (lambda msg: None)
    slot = LatestFrame()
    in_rate, out_rate = RateMeter(), RateMeter()
    stats = PreviewStats()
    view = config.view
    paused = False
    shown_image: np.ndarray | None = None
    last_latency: float | None = None
    capture = _Capture(source, slot, in_rate)
    if config.warmup:  # the first inference is slow (allocations, kernel choice): not a frame's latency
        try:
            process(np.zeros((source.info.height, source.info.width, 3), np.uint8))
        except BaseException:
            source.close()
            raise
    t_start = time.perf_counter()
    capture.start()
    ok = False
    try:
        while True:
            if paused:
                slot.discard()
                commands = _show(viewers, shown_image) if shown_image is not None else []
                time.sleep(0.02)
            else:
                frame = slot.take(config.timeout)
                if frame is None:
                    stats.stop_reason = "end of input"
                    break
                t_infer = time.perf_counter()
                out = process(frame.image)
                stats.inference_ms.append((time.perf_counter() - t_infer) * 1000.0)
                if recorder is not None:
                    recorder.write(Frame(frame.index, frame.pts, frame.time_base, out, frame.captured_at, dict(frame.meta)))
                picture = compose(frame.image, out, view)
                if config.overlay:
                    lat = f"{last_latency:.0f} ms" if last_latency is not None else "-- ms"
                    draw_overlay(
                        picture,
                        [
                            f"in {in_rate.rate():.1f} fps  out {out_rate.rate():.1f} fps  latency {lat}  dropped {slot.dropped}",
                            f"{describe}  [{view}]" if describe else f"[{view}]",
                        ],
                    )
                commands = _show(viewers, picture)
                now = time.perf_counter()
                out_rate.tick(now)
                last_latency = (now - frame.captured_at) * 1000.0
                stats.latencies_ms.append(last_latency)
                stats.frames_shown += 1
                shown_image = picture  # kept for "save" and for redisplay while paused
                figures = {
                    "input_fps": round(in_rate.rate(now), 1),
                    "output_fps": round(out_rate.rate(now), 1),
                    "latency_ms": round(last_latency, 1),
                    "dropped": slot.dropped,
                    "frames_shown": stats.frames_shown,
                    "backend": describe,
                    "view": view,
                }
                for v in viewers:
                    update = getattr(v, "update_stats", None)  # optional: viewers that show figures apart
                    if update is not None:
                        update(figures)
            stop = False
            for cmd in commands:
                if cmd == "quit":
                    stats.stop_reason = "quit by user"
                    stop = True
                elif cmd == "pause":
                    paused = not paused
                    notify("paused (space resumes)" if paused else "resumed")
                elif cmd == "view":
                    view = VIEWS[(VIEWS.index(view) + 1) % len(VIEWS)]
                    notify(f"view: {view}")
                elif cmd == "save" and shown_image is not None:
                    path = save_png(shown_image, config.snapshot_dir)
                    stats.snapshots.append(path)
                    notify(f"saved {path}")
            if stop:
                break
            if config.max_frames is not None and stats.frames_shown >= config.max_frames:
                stats.stop_reason = "frame limit reached"
                break
        ok = True
    except KeyboardInterrupt:  # Ctrl-C is how a live preview normally ends: keep the recording
        stats.stop_reason = "interrupted (Ctrl-C)"
        ok = True
    finally:
        capture.stop.set()
        stats.elapsed_s = time.perf_counter() - t_start
        stats.frames_in = slot.received
        capture.join(timeout=2.0)  # it closes the source; a read blocked in a driver is left behind (daemon)
        if capture.is_alive():
            log.warning("the source is still blocked in a read; leaving it to close itself when the read returns")
        slot.discard()  # a frame left unread at the end never reached inference: dropped too
        stats.dropped = slot.dropped
        for v in viewers:
            try:
                v.close()
            except Exception:  # closing must not hide the real error
                log.exception("closing a viewer failed")
        if recorder is not None:
            if ok:
                recorder.close()
            else:
                recorder.abort()
    return stats


def _show(viewers: Sequence[Viewer], image: np.ndarray) -> list[str]:
    commands: list[str] = []
    for v in viewers:
        commands.extend(v.show(image))
    return commands


def save_png(image: np.ndarray, folder: Path) -> Path:
    """Write an RGB picture as PNG (temporary name, then a no-replace rename); returns the path."""
    import cv2

    from .errors import OutputError
    from .fileio import publish

    folder = Path(folder)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 0
    while (path := folder / f"streamdeblur-preview-{stamp}-{n:03d}.png").exists():
        n += 1
    tmp = path.with_name(f".{path.name}.tmp")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    try:
        if not ok:
            raise OSError("PNG encoding failed")
        tmp.write_bytes(buf.tobytes())
        while True:  # never over a snapshot taken meanwhile (another preview, the same second)
            try:
                publish(tmp, path)
                break
            except FileExistsError:
                n += 1
                path = folder / f"streamdeblur-preview-{stamp}-{n:03d}.png"
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write snapshot {path}: {e.strerror or e}", "check that --snapshot-dir exists and is writable") from None
    return path


__all__ = [
    "VIEWS",
    "LatestFrame",
    "LatestFrames",
    "LiveRecording",
    "record_live",
    "PreviewConfig",
    "PreviewStats",
    "RateMeter",
    "Recorder",
    "Viewer",
    "compose",
    "draw_overlay",
    "run_preview",
    "save_png",
]


# -- recording a live source without a view (`streamdeblur run --camera`) -------------


class LatestFrames:
    """Iterate a live source newest-frame-first, for the file Pipeline.

    A capture thread reads the source at its own pace; iteration hands out the newest
    frame each time the pipeline asks, so a model slower than the camera skips frames
    (counted in ``dropped``) instead of falling behind. Timestamps stay those of the
    capture clock. Iteration ends at the end of the source, after ``duration`` seconds
    of capture, or when ``stop()`` is called; a stalled source raises after ``timeout``.
    """

    def __init__(self, source: LiveSource, *, duration: float | None = None, timeout: float = 10.0) -> None:
        self.source = source
        self.info = source.info
        self.duration = duration
        self.timeout = timeout
        self._slot = LatestFrame()
        self._capture = _Capture(source, self._slot, RateMeter())
        self._stop = threading.Event()
        self.ended_by = ""  # "end of input" | "duration" | "stopped"

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    @property
    def received(self) -> int:
        return self._slot.received

    def stop(self) -> None:
        self._stop.set()

    @property
    def started(self) -> bool:
        """Whether iteration began (from then on the capture thread closes the source)."""
        return self._capture.ident is not None

    def __iter__(self):  # type: ignore[no-untyped-def]
        self._capture.start()
        try:
            while not self._stop.is_set():
                frame = self._slot.take(self.timeout)
                if frame is None:
                    self.ended_by = "end of input"
                    return
                # frame.time: the capture clock, zero at the first frame the source delivered
                if self.duration is not None and (frame.time or 0.0) >= self.duration:
                    self.ended_by = "duration"  # this frame was captured past the end: not recorded
                    return
                yield frame
            self.ended_by = "stopped"
        finally:
            self._capture.stop.set()  # the capture thread closes the source
            self._capture.join(timeout=2.0)


@dataclass(frozen=True)
class LiveRecording:
    output: Path
    frames: int
    captured: int
    dropped: int
    seconds: float
    backend: str
    stop_reason: str


def record_live(
    source: LiveSource,
    output: str | Path,
    *,
    backend: str = "auto",
    device: str | None = None,
    weights: str | None = None,
    duration: float | None = None,
    timeout: float = 10.0,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    overwrite: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> LiveRecording:
    """Deblur a live source into a file with the same Pipeline and FileSink as ``run``.

    Newest frame wins (see :class:`LatestFrames`); timestamps are the capture clock.
    Ctrl-C, the end of ``duration`` or the end of the source all finish a playable file
    under ``output``'s own name: for a live source, stopping *is* the normal end.
    """
    from .backends import create_backend
    from .errors import Cancelled
    from .models import load_generator
    from .pipeline import Pipeline
    from .video.camera import sink_info
    from .video.sinks import FileSink, check_output

    out, _, _ = check_output(output, overwrite=overwrite)
    try:
        engine = create_backend(backend, load_generator(weights), device)
    except BaseException:
        source.close()
        raise
    frames = LatestFrames(source, duration=duration, timeout=timeout)
    try:
        sink = FileSink(out, sink_info(source.info), codec=codec, crf=crf, preset=preset, overwrite=overwrite)
    except BaseException:
        source.close()
        engine.close()
        raise
    reason = "end of input"
    try:
        engine.process(np.zeros((source.info.height, source.info.width, 3), np.uint8)[None])  # warm-up
        if on_ready is not None:
            on_ready(engine.describe())
        pipe = Pipeline(frames, engine, sink, batch=1)
        try:
            stats = pipe.run()
            if frames.ended_by == "duration":
                reason = f"{duration:g} s recorded"
        except Cancelled:  # Ctrl-C: the normal way to end a live recording
            stats = pipe.stats
            reason = "interrupted (Ctrl-C)"
        sink.close()
    except BaseException:
        sink.abort()
        raise
    finally:
        if not frames.started:
            source.close()  # iteration never began: nobody else will close it
        engine.close()
    return LiveRecording(out, stats.frames_out, frames.received, max(frames.received - stats.frames_out, 0), stats.seconds, engine.describe(), reason)

