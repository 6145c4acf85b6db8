"""The live preview: :func:`run_preview`, the loop (newest frame wins, latency measured from
capture to display), and :func:`preview_live`, the whole of ``streamdeblur preview``
(source, backend, window or MJPEG server, optional recording) in one call.

A capture thread (:class:`~streamdeblur.video.live.CaptureThread`) reads the live source
as fast as it delivers and keeps only the newest frame in a one-slot mailbox; a frame
that is replaced before inference picked it up is counted as dropped. Dropping happens
only there, *before* inference: every frame that is deblurred is also shown (and
recorded). So no queue can build up delay: at worst a frame waits for the one inference
in flight.

The main thread (GUI toolkits want it) takes the newest frame, deblurs it, composes the
view (:mod:`streamdeblur.video.compose`), draws the overlay (input FPS, output FPS,
latency, dropped, backend and device) and hands the picture to the viewers (a highgui
window, the MJPEG server). Latency of a frame is ``perf_counter()`` after its viewers
returned minus ``Frame.captured_at``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .errors import InputError, Interrupted, OutputError, signal_name
from .pipeline import FrameSink, Notify
from .video.compose import VIEWS, compose, draw_overlay, save_png
from .video.frame import Frame
from .video.live import CaptureThread, FrameSlot, LiveSource

if TYPE_CHECKING:
    from .backends.base import Backend
    from .backends.options import BackendOptions
    from .video.mjpeg import MjpegServer
    from .video.sinks import FileSink

log = logging.getLogger(__name__)


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


@runtime_checkable
class FiguresViewer(Viewer, Protocol):
    """A viewer that also shows the overlay's figures apart from the picture (the MJPEG
    server's /stats.json): ``update_stats`` gets them after each frame shown."""

    def update_stats(self, figures: dict[str, Any]) -> None: ...


class Recorder(FrameSink, Protocol):
    """Takes every deblurred frame (same index/pts/time_base as the captured one): a
    :class:`~streamdeblur.pipeline.FrameSink` that is finished (``close``) or dropped
    (``abort``) at the end (:func:`~streamdeblur.recording.live_sink`)."""

    def close(self) -> object: ...

    def abort(self) -> None: ...


# -- building blocks ----------------------------------------------------------------


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

    def summary(self) -> dict[str, Any]:
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


# -- the loop -------------------------------------------------------------------------


def run_preview(
    source: LiveSource,
    process: Callable[[np.ndarray], np.ndarray],
    viewers: Sequence[Viewer],
    config: PreviewConfig = PreviewConfig(),
    *,
    describe: str = "",
    recorder: Recorder | None = None,
    on_event: Notify | None = None,
) -> PreviewStats:
    """Run the live loop until the source ends, ``max_frames`` are shown, or a viewer says quit.

    ``process`` maps one uint8 (H, W, 3) RGB frame to its deblurred twin (for a backend:
    ``lambda im: backend.process(im[None])[0]``). ``describe`` names backend and device
    for the overlay. ``on_event`` gets one-line notices (snapshot saved, paused ...).
    Errors from the source or the backend stop the loop and are raised. The loop owns
    ``source`` from here on and closes it (from its capture thread).
    """
    loop = _PreviewLoop(source, process, viewers, config, describe, recorder, on_event or (lambda msg: None))
    if config.warmup:  # the first inference is slow (allocations, kernel choice): not a frame's latency
        try:
            process(np.zeros((source.info.height, source.info.width, 3), np.uint8))
        except BaseException:
            source.close()
            raise
    loop.start()
    ok = False
    try:
        while True:
            commands = loop.show_paused() if loop.paused else loop.show_newest()
            if commands is None:
                loop.stats.stop_reason = "end of input"
                break
            if loop.obey(commands) or loop.frame_limit_reached():
                break
        ok = True
    except KeyboardInterrupt as e:  # Ctrl-C (SIGTERM, SIGHUP) is how a live preview normally ends: keep the recording
        loop.stats.stop_reason = f"interrupted ({signal_name(e.signum) if isinstance(e, Interrupted) else 'Ctrl-C'})"
        ok = True
    except BaseException as e:
        if e is loop.source_error and recorder is not None:  # the input died: what came before it is kept, as run
            ok = True  # keeps a stream's frames received
            loop.notify(
                f"the {getattr(recorder, 'frames_written', loop.stats.frames_shown)} frames recorded before the "
                "input stopped are kept"
            )
        raise
    finally:
        loop.finish(keep_recording=ok)
    return loop.stats


class _PreviewLoop:
    """One preview run's state and its steps, in the order :func:`run_preview` takes them."""

    def __init__(
        self, source: LiveSource, process: Callable[[np.ndarray], np.ndarray], viewers: Sequence[Viewer],
        config: PreviewConfig, describe: str, recorder: Recorder | None, notify: Notify,
    ) -> None:  # fmt: skip
        self.process, self.viewers, self.config = process, viewers, config
        self.describe, self.recorder, self.notify = describe, recorder, notify
        self.figure_viewers = [v for v in viewers if isinstance(v, FiguresViewer)]
        self.slot = FrameSlot()
        self.in_rate, self.out_rate = RateMeter(), RateMeter()
        self.capture = CaptureThread(source, self.slot, self.in_rate.tick)
        self.stats = PreviewStats()
        self.view = config.view
        self.paused = False
        self.shown: np.ndarray | None = None  # the last picture shown: for "save" and while paused
        self.last_latency: float | None = None
        self.t_start = 0.0
        self.source_error: BaseException | None = None  # what ended the source, raised from the slot
        #: a picture (preview photo.jpg) is offered again and again: its deblurred twin is kept, so the model
        #: runs once and the view, the keys and the CPU are free (a large photo takes seconds on a CPU)
        self.picture = getattr(source.info, "kind", None) == "picture"
        self.still: tuple[np.ndarray, np.ndarray] | None = None

    def start(self) -> None:
        self.t_start = time.perf_counter()
        self.capture.start()

    def show_paused(self) -> list[str]:
        """While paused: drop what arrives, show the last picture again; the viewers' commands."""
        self.slot.discard()
        commands = _show(self.viewers, self.shown) if self.shown is not None else []
        time.sleep(0.02)
        return commands

    def show_newest(self) -> list[str] | None:
        """Deblur the newest frame, record it, show it with the overlay; the viewers'
        commands, or None once the source has ended."""
        try:
            frame = self.slot.take(self.config.timeout)
        except BaseException as e:  # the source's error, or its stall: the recording so far is kept
            self.source_error = e
            raise
        if frame is None:
            return None
        if self.still is not None and np.array_equal(self.still[0], frame.image):
            out = self.still[1]  # the picture again: deblurred once, shown again
        else:
            t_infer = time.perf_counter()
            out = self.process(frame.image)
            self.stats.inference_ms.append((time.perf_counter() - t_infer) * 1000.0)
            if self.picture:
                self.still = (frame.image, out)
        if self.recorder is not None:
            self.recorder.write(
                Frame(frame.index, frame.pts, frame.time_base, out, frame.captured_at, dict(frame.meta))
            )
        picture = compose(frame.image, out, self.view)
        if self.config.overlay:
            draw_overlay(picture, self._overlay_lines())
        commands = _show(self.viewers, picture)
        now = time.perf_counter()
        self.out_rate.tick(now)
        self.last_latency = (now - frame.captured_at) * 1000.0
        self.stats.latencies_ms.append(self.last_latency)
        self.stats.frames_shown += 1
        self.shown = picture
        if self.figure_viewers:
            figures = self._figures(now, self.last_latency)
            for v in self.figure_viewers:
                v.update_stats(figures)
        return commands

    def _overlay_lines(self) -> list[str]:
        lat = f"{self.last_latency:.0f} ms" if self.last_latency is not None else "-- ms"
        rates = f"in {self.in_rate.rate():.1f} fps  out {self.out_rate.rate():.1f} fps"
        return [
            f"{rates}  latency {lat}  dropped {self.slot.dropped}",
            f"{self.describe}  [{self.view}]" if self.describe else f"[{self.view}]",
        ]

    def _figures(self, now: float, latency: float) -> dict[str, Any]:
        return {
            "input_fps": round(self.in_rate.rate(now), 1),
            "output_fps": round(self.out_rate.rate(now), 1),
            "latency_ms": round(latency, 1),
            "dropped": self.slot.dropped,
            "frames_shown": self.stats.frames_shown,
            "backend": self.describe,
            "view": self.view,
        }

    def obey(self, commands: Iterable[str]) -> bool:
        """Act on the viewers' commands (pause, next view, save a PNG); whether one said quit."""
        quit_ = False
        for cmd in commands:
            if cmd == "quit":
                self.stats.stop_reason = "quit by user"
                quit_ = True
            elif cmd == "pause":
                self.paused = not self.paused
                self.notify("paused (space resumes)" if self.paused else "resumed")
            elif cmd == "view":
                self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
                self.notify(f"view: {self.view}")
            elif cmd == "save" and self.shown is not None:
                self._save(self.shown)
        return quit_

    def _save(self, picture: np.ndarray) -> None:
        """A snapshot of what is shown; one that cannot be written is a notice, never the end of the preview
        (which would drop its recording)."""
        folder = self.config.snapshot_dir
        try:
            path = save_png(picture, folder)
        except OutputError as e:
            self.notify(f"warning: {e}; the preview goes on")
            return
        self.stats.snapshots.append(path)
        self.notify(f"saved {path}")

    def frame_limit_reached(self) -> bool:
        if self.config.max_frames is not None and self.stats.frames_shown >= self.config.max_frames:
            self.stats.stop_reason = "frame limit reached"
            return True
        return False

    def finish(self, *, keep_recording: bool) -> None:
        """Stop the capture (it closes the source), count the drops, close the viewers, and
        finish the recording (or drop it, after an error)."""
        self.capture.stop.set()
        self.stats.elapsed_s = time.perf_counter() - self.t_start
        self.capture.join(timeout=2.0)  # it closes the source; a read blocked in a driver is left behind (daemon)
        if self.capture.is_alive():
            log.warning("the source is still blocked in a read; leaving it to close itself when the read returns")
        self.slot.discard()  # a frame left unread at the end never reached inference: dropped too
        self.stats.frames_in, self.stats.dropped = self.slot.counts()  # once the capture put its last frame
        for v in self.viewers:
            try:
                v.close()
            except Exception:  # closing must not hide the real error
                log.exception("closing a viewer failed")
        if self.recorder is not None:
            if keep_recording:
                self.recorder.close()
            else:
                self.recorder.abort()


def _show(viewers: Sequence[Viewer], image: np.ndarray) -> list[str]:
    commands: list[str] = []
    for v in viewers:
        commands.extend(v.show(image))
    return commands


# -- the whole of `streamdeblur preview` ------------------------------------------------


@dataclass(frozen=True)
class PreviewResult:
    """What :func:`preview_live` did: the loop's figures, and the recording if one was asked for."""

    stats: PreviewStats
    recorded: int | None = None  # frames written to ``record``
    record: Path | str | None = None  # a file, or a stream URL


def preview_live(
    input: str | os.PathLike | None = None,
    *,
    camera: str | int | None = None,
    loop: bool = False,
    start: float | None = None,
    deinterlace: str | None = None,
    view: str = "side",
    record: str | os.PathLike | None = None,
    overwrite: bool = False,
    serve: str | None = None,
    max_frames: int | None = None,
    backend: str = "auto",
    device: str | None = None,
    backend_options: BackendOptions | None = None,
    weights: str | os.PathLike | None = None,
    timeout: float = 10.0,
    reconnect: float | None = None,
    snapshot_dir: str | os.PathLike = ".",
    on_event: Notify | None = None,
) -> PreviewResult:
    """Show ``input`` (a file or URL) or ``camera`` deblurred live, in a window or, with
    ``serve="[HOST:]PORT"``, as MJPEG for a browser; optionally recorded to ``record``. ``start``: a
    file from that many seconds in (each ``loop`` from there too); ``deinterlace`` ("frame" or
    "field"): an interlaced file made progressive first, as ``run --deinterlace``.
    ``backend`` names the backend to open (``auto``, ``torch`` ...), as ``preview --backend``;
    ``backend_options`` are what it opens with.

    Everything that can be refused (the serve address, no display, an existing ``record``
    file, the weights, the camera, the backend) is checked before the first frame, in that
    order. ``on_event`` gets the one-line notices (backend chosen, input, the URL served,
    keys, pause ...).
    """
    from .backends import create_backend
    from .models import load_generator
    from .video.live import open_live
    from .video.sinks import check_destination
    from .video.urls import is_stream_output

    say = on_event or (lambda msg: None)
    config = PreviewConfig(view=view, max_frames=max_frames, timeout=timeout, snapshot_dir=Path(snapshot_dir))
    address = _check_where_to_show(serve)
    if record is not None:
        check_destination(record, overwrite=overwrite)  # a file, or a stream URL (rtmp://, udp:// ...)
    _check_reconnect(input, camera, record, reconnect)
    _check_picture(input, deinterlace)
    if Path(snapshot_dir).exists() and not Path(snapshot_dir).is_dir():
        raise InputError(f"--snapshot-dir {snapshot_dir} is a file", "give a folder (it is made if missing)")
    if record is not None and (note := _audio_left_out(input)):
        say(f"warning: {note}")
    server = _bind(address)  # a port taken fails here, before the model loads
    try:
        generator = load_generator(weights)
        # a missing camera fails before the backend loads
        source = open_live(
            input, camera=camera, loop=loop, start=start, timeout=timeout, reconnect=reconnect, deinterlace=deinterlace
        )
        try:
            opened = create_backend(backend, generator, device, backend_options)  # the open backend: `backend` names it
        except BaseException:
            source.close()
            raise
    except BaseException:
        if server is not None:
            server.close()
        raise
    say(f"backend: {opened.describe()} ({opened.choice_reason})")
    try:
        stats, recorder = _preview(source, opened, config, server, record, overwrite, say, reconnect)
    finally:
        opened.close()
    drops = getattr(source, "reconnects", [])
    if drops:
        times = f"{len(drops)} time{'s' if len(drops) != 1 else ''}"
        say(f"the input dropped {times} and was opened again (--reconnect): {'; '.join(drops)}")
    return PreviewResult(
        stats,
        recorder.frames_written if recorder is not None else None,
        None if record is None else str(record) if is_stream_output(str(record)) else Path(record),
    )


def _audio_left_out(input: str | os.PathLike | None) -> str | None:
    """What ``--record`` does not carry: the input's sound. Preview shows the newest frame and skips the
    others to stay live, so there is no timeline to keep audio on; ``run`` keeps it. A file is looked at
    (one without audio gets no note); a stream cannot be without opening it twice, so it gets the note."""
    import av

    from .stills import is_still
    from .video.urls import is_url

    if input is None:  # a camera: OpenCV captures no sound
        return None
    if is_url(input):
        whose = f"the audio of {input}, if it has any,"
    else:
        try:
            if is_still(input):
                return None
            with av.open(str(input)) as c:
                if not c.streams.audio:
                    return None
        except (av.error.FFmpegError, OSError):  # opening it says what is wrong, in its place
            return None
        whose = f"{input}'s audio"
    return (
        f"--record writes the deblurred video only: {whose} is not recorded (preview skips frames to stay live); "
        "to keep it, deblur with `streamdeblur run INPUT -o OUT`"
    )


def _check_picture(input: str | os.PathLike | None, deinterlace: str | None) -> None:
    """A phone's HEIC or a camera's RAW file is refused by name, as ``run`` refuses it (FFmpeg would show one
    tile of a HEIC); ``--deinterlace`` is for video: a picture is one frame (``--start`` is refused for it
    where it opens)."""
    from .stills import is_still, refuse_unreadable
    from .video.urls import is_url

    if input is None or is_url(str(input)):
        return
    refuse_unreadable(input)
    if deinterlace is not None and is_still(input):
        raise InputError("--deinterlace applies to a video file; a picture has one frame", "leave it out")


def _check_reconnect(
    input: str | os.PathLike | None, camera: str | int | None, record: str | os.PathLike | None, reconnect: float | None
) -> None:
    """``--reconnect`` is for a stream or camera in, or a stream URL out (``--record``): a file does not come back."""
    from .video.urls import is_stream_output, is_url

    if reconnect is None or camera is not None or is_url(str(input)):
        return
    if record is not None and is_stream_output(str(record)):
        return
    raise InputError(
        f"--reconnect applies to a stream or camera, or to --record a stream URL; {input} is a file and does not "
        "come back once it ends",
        "leave --reconnect out",
    )


def _check_where_to_show(serve: str | None) -> tuple[str, int] | None:
    """The (host, port) of ``--serve``; without it, that a window can open (before a model
    loads or a camera opens). Either refusal is a one-line error."""
    if serve is not None:
        from .video.mjpeg import parse_serve_address

        return parse_serve_address(serve)
    from .errors import DisplayUnavailableError
    from .video.preview_window import display_problem

    problem = display_problem()
    if problem:
        raise DisplayUnavailableError(
            f"cannot open a preview window: {problem}",
            "use --serve [HOST:]PORT to watch the preview in a browser instead",
        )
    return None


def _bind(address: tuple[str, int] | None) -> MjpegServer | None:
    """The MJPEG server listening at ``address`` (it serves the page; the stream waits for the first frame)."""
    if address is None:
        return None
    from .video.mjpeg import MjpegServer

    return MjpegServer(*address)


def _preview(
    source: LiveSource, backend: Backend, config: PreviewConfig, server: MjpegServer | None,
    record: str | os.PathLike | None, overwrite: bool, say: Notify, reconnect: float | None = None,
) -> tuple[PreviewStats, FileSink | None]:  # fmt: skip
    """Open the viewer (the MJPEG ``server``, already listening, or a window) and the recording, and run
    the loop; the loop's figures and the recording's sink."""
    from .recording import live_sink

    viewers: list[Viewer] = []
    recorder = None
    owned = False
    try:
        info = source.info
        say(
            f"input: {info.name} ({info.kind}, {info.width}x{info.height}"
            + (f", {info.fps:.2f} fps)" if info.fps else ")")
        )
        viewers.append(_open_viewer(server, say))
        if record is not None:
            recorder = live_sink(record, info, overwrite=overwrite, reconnect=reconnect)
        owned = True  # from here run_preview closes the source (from its capture thread)
        stats = run_preview(
            source,
            lambda im: backend.process(im[None])[0],
            viewers,
            config,
            describe=backend.describe(),
            recorder=recorder,
            on_event=say,
        )
    except BaseException:
        if server is not None and not viewers:
            server.close()
        for v in viewers:
            v.close()
        if recorder is not None:
            recorder.abort()
        if not owned:
            source.close()
        raise
    return stats, recorder


def _open_viewer(server: MjpegServer | None, say: Notify) -> Viewer:
    """The MJPEG server, or (None) the preview window; says how to use it."""
    if server is None:
        from .video.preview_window import PreviewWindow

        window = PreviewWindow()
        say("keys: q/Esc quit, space pause, v view, s save PNG")
        return window
    host = server.host
    say(f"serving the preview at {server.url} (Ctrl-C stops)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        say(
            f"note: listening on {host}, so anyone who can reach this machine can watch; "
            "omit the host to keep it on 127.0.0.1"
        )
    return server
