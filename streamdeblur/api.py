"""``deblur_video``: the library form of ``streamdeblur run`` (a file or stream into a file).
Its live twins: ``run --camera`` is :func:`streamdeblur.recording.record_live`, ``preview``
is :func:`streamdeblur.preview.preview_live`.

Order matters for the user: everything that can be refused (output exists or cannot be
written, input missing or unreadable, weights, backend) is checked before the output
file is created, and the output only ever appears under its final name once it is
complete. An interrupted run (Ctrl-C, or ``stop_event``) finalises the frames done
under ``NAME.partial.EXT`` and raises :class:`~streamdeblur.errors.Cancelled` saying so.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .backends.options import BackendOptions
from .errors import Cancelled, InputError, OutputError
from .pipeline import OnProgress, PipelineStats
from .video.audio import check_audio
from .video.containers import MAX_BITRATE, MIN_BITRATE, encoder_name
from .video.deinterlace import check_deinterlace
from .video.trim import check_trim

if TYPE_CHECKING:
    from .backends import Backend
    from .encoding import RunPlan
    from .models import Generator
    from .pipeline import Pipeline
    from .recording import NewestFrames
    from .video.frame import Frame
    from .video.live import LiveSource
    from .video.sinks import FileSink
    from .video.sources import FileSource, SourceInfo

log = logging.getLogger(__name__)

#: after Ctrl-C / SIGTERM, how long the reader and inference stages may take to notice;
#: one still inside an inference call (seconds for a large CPU batch) is left to end alone
_INTERRUPT_GRACE = 0.2
#: ... and how long the encoder may take to finish the frames it still holds (x264's
#: lookahead: ~35 frames, seconds at 720p on a CPU); past that they are dropped, and said so
_FLUSH_BUDGET = 0.5

#: the longest --timeout (a day): FFmpeg's own timeouts are 64-bit microseconds
MAX_TIMEOUT = 86400

#: the exit code of `run` when the output was written but the input stopped before its end (RunResult.input_stopped)
INPUT_STOPPED_EXIT = 3

#: called once the input, the backend and the output are open, before the first frame, with what the run chose
OnReady = Callable[["SourceInfo", "Backend", "RunPlan"], None]


@dataclass(frozen=True)
class RunOptions:
    """One field per ``streamdeblur run`` option, checked when built; the backend's own
    options are :class:`~streamdeblur.backends.options.BackendOptions` (``--max-tile``,
    ``--engine``, ``--openvino-precision``, ``--openvino-hint``)."""

    backend: str = "auto"  # the backend's name, or auto (streamdeblur.backends.choose_backend)
    device: str | None = None
    weights: str | None = None  # a generator .safetensors; None: the shipped model
    batch: int | None = None  # None: auto, per device (streamdeblur.encoding.resolve_batch)
    codec: str | None = None
    crf: int | None = None
    preset: str | None = None  # "auto": the slowest that keeps up (streamdeblur.encoding.plan_encoder)
    encoder_threads: int | None = None  # None: per device (streamdeblur.encoding.encoder_threads)
    pix_fmt: str | None = None
    overwrite: bool = False
    timeout: float = 10.0
    #: the container of output ``-`` (stdout): mkv, ts or nut (video.containers.STREAM_FORMATS)
    format: str | None = None
    #: frames written no faster than the input plays (FFmpeg's -re); None: on for a stream URL output (:func:`paced`)
    realtime: bool | None = None
    #: a stream URL input that ends, breaks off or stalls is opened again for up to this many seconds
    reconnect: float | None = None
    #: only the part of the input from ``start`` seconds (FFmpeg's -ss; the output then starts at 0) for
    #: ``duration`` seconds (-t); a camera given to deblur_frames stops after ``duration``
    start: float | None = None
    duration: float | None = None
    #: which video stream of the input is deblurred (0: the first; FFmpeg's -map 0:v:N)
    video_stream: int = 0
    #: an interlaced input made progressive first (bwdif): "frame" (25i -> 25p) or "field" (25i -> 50p); None: not
    deinterlace: str | None = None
    #: an odd-size input's last column and/or last row dropped, so the frames and the output are even-sized and
    #: every encoder writes 4:2:0 (H.264/HEVC need even sizes for it); an even-size input is left as it is
    crop_even: bool = False
    #: a comparison output: "side" (original | deblurred, twice as wide) or "split" (a wipe); None: deblurred
    view: str | None = None
    #: bits a second the video is held to (a 2 s buffer: what a streaming service asks); with crf, its cap
    bitrate: int | None = None
    #: an HLS/DASH output of a live input keeps only its last ``window`` seconds (a 24/7 camera); None: all
    window: float | None = None
    #: the output's audio: None (copy: untouched where the container takes it, else encoded with its codec),
    #: "aac", "opus", "mp3" or "flac" (every audio stream encoded so: FFmpeg's -c:a), "none" (FFmpeg's -an)
    audio: str | None = None
    #: an image-sequence input's frames a second (FFmpeg's -framerate); None: 25, as FFmpeg
    framerate: Fraction | None = None
    backend_options: BackendOptions = field(default_factory=BackendOptions)

    def __post_init__(self) -> None:
        if self.codec:  # h264 -> libx264, as FFmpeg's -c:v takes a format's name
            object.__setattr__(self, "codec", encoder_name(self.codec))
        if self.batch is not None and (not isinstance(self.batch, int) or self.batch < 1):
            raise InputError(f"batch must be a whole number of frames, 1 or more, got {self.batch!r}")
        rate = self.bitrate
        if rate is not None and (not isinstance(rate, int) or not MIN_BITRATE <= rate <= MAX_BITRATE):
            raise InputError(
                f"bitrate must be whole bits a second from {MIN_BITRATE:_} to {MAX_BITRATE:_}, got {self.bitrate!r}",
                "streamdeblur.video.containers.parse_bitrate('6M') gives one from --bitrate's words",
            )
        if self.encoder_threads is not None and not 0 <= self.encoder_threads <= 256:
            raise InputError(f"encoder threads must be 0 (the encoder's own choice) to 256, got {self.encoder_threads}")
        if self.reconnect is not None and not 0 < self.reconnect <= MAX_TIMEOUT:
            raise InputError(f"--reconnect must be between 0 and {MAX_TIMEOUT} seconds, got {self.reconnect:g}")
        check_trim(self.start, self.duration)
        if self.view not in (None, "side", "split", "deblurred"):
            raise InputError(f"view must be side, split or deblurred, got {self.view!r}")
        if self.window is not None and not 2 <= self.window <= MAX_TIMEOUT:
            raise InputError(f"--window must be 2 seconds or more (a segment is 2 s), got {self.window:g}")
        check_deinterlace(self.deinterlace)
        check_audio(self.audio)
        if self.video_stream < 0:
            raise InputError(f"--video-stream must be 0 or more, got {self.video_stream}")
        if not 0.1 <= self.timeout <= MAX_TIMEOUT:  # inf and 1e300 too: FFmpeg counts microseconds in 64 bits
            raise InputError(f"timeout must be between 0.1 and {MAX_TIMEOUT} seconds, got {self.timeout:g}")


@dataclass(frozen=True)
class RunResult:
    """What a finished run did, for the CLI's final line and for scripts."""

    output: Path | str  # a file (or - for stdout), or a stream URL
    frames: int
    seconds: float
    fps: float
    backend: str
    device: str
    precision: str
    choice_reason: str
    stats: PipelineStats
    #: the batch and encoder settings the run chose (streamdeblur.encoding)
    plan: RunPlan | None = None
    #: seconds the backend spent compiling before its first frames (torch-compile: per shape), else 0
    compile_seconds: float = 0.0
    #: what the user should know about a run that still succeeded (one line each), e.g. an input that ended early
    warnings: tuple[str, ...] = ()
    #: the input stopped before its end (a read error, a stream that broke off or stalled past --timeout): the
    #: output holds the frames before that, and the CLI exits INPUT_STOPPED_EXIT
    input_stopped: bool = False


def deblur_video(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: RunOptions = RunOptions(),
    *,
    generator: Generator | None = None,
    backend: Backend | None = None,
    on_progress: OnProgress | None = None,
    on_ready: OnReady | None = None,
    stop_event: threading.Event | None = None,
) -> RunResult:
    """Deblur ``input`` (a file or URL, or ``-``: stdin) into ``output`` (``-``: stdout, in ``options.format``).

    ``generator``: a model object to use instead of ``options.weights`` / the shipped
    one. ``backend``: an open backend to use (and leave open) instead of opening one from
    the options, so that a worker deblurring many files loads its model or engine once
    (streamdeblur.batch). ``on_ready(source_info, backend)`` is called once everything is
    open, before the first frame (the CLI prints the backend, the batch and the encoder it chose there).
    """
    from .encoding import plan_run
    from .pipeline import Pipeline

    out = _check_output(input, output, options.overwrite, options.format)
    _check_encoder(out, options)
    _check_reconnect(input, options, output)
    _check_window(input, out, options)
    # input errors first: the cheapest to fix
    with _open_input(input, options) as source:
        opened = _open_backend(options, generator) if backend is None else backend
        pipe: Pipeline | None = None
        noticed = len(getattr(opened, "notices", ()))
        try:
            plan = plan_run(options, opened, source.info.width, source.info.height, _codec(out, options))
            if _live_to_stream(source, out, plan.codec):
                plan = replace(plan, encoder=replace(plan.encoder, low_latency=True))
            sink = _open_sink(out, source, options, plan)
            pipe = Pipeline(
                source,
                opened,
                sink,
                batch=plan.batch,
                on_progress=on_progress,
                stop_event=stop_event,
                interrupt_grace=_INTERRUPT_GRACE,
                realtime=paced(options, out),
                keep_original=_comparing(options),
            )
            announce = (lambda: on_ready(source.info, opened, plan)) if on_ready is not None else None
            stats = _run_to_file(pipe, sink, out, announce)
        finally:
            left = pipe.abandoned if pipe is not None else ()
            if backend is None and "inference" not in left:  # else still inside backend.process, or the caller's
                opened.close()
            if "reader" in left:  # still inside FFmpeg: closing under it would crash
                source.abandon()
        warnings = tuple(source.warnings()) + tuple(getattr(opened, "notices", ())[noticed:])
        if stats.fell_behind:
            warnings += (
                f"the output fell up to {stats.behind_seconds:.1f} s behind the input's own pace: the model deblurs "
                f"slower than the input plays ({stats.fps:.1f} fps here); a faster backend or device keeps up",
            )
        if sink.reconnects:
            n = len(sink.reconnects)
            lost = (
                f"; {sink.frames_lost} frames still inside the encoder when it dropped were never sent"
                if sink.frames_lost
                else ""
            )
            warnings += (
                f"the stream output {out} dropped {n} time{'s' if n != 1 else ''} and was connected again "
                f"(--reconnect): {'; '.join(sink.reconnects)}{lost}",
            )
        if sink.packets_dropped:
            warnings += (
                f"{sink.packets_dropped} audio/subtitle packet{'s' if sink.packets_dropped != 1 else ''} of the "
                "input went back in time and were left out (a muxer takes none)",
            )
        stopped_early = source.stopped_by is not None
    return RunResult(
        output=out,
        frames=stats.frames_out,
        seconds=stats.seconds,
        fps=stats.fps,
        backend=opened.name,
        device=opened.device,
        precision=opened.precision,
        choice_reason=opened.choice_reason,
        stats=stats,
        plan=plan,
        compile_seconds=sum(getattr(opened, "compile_seconds", {}).values()),
        warnings=warnings,
        input_stopped=stopped_early,
    )


#: deblurred frames a slow consumer of deblur_frames may leave waiting before the pipeline pauses
_FRAMES_AHEAD = 8
#: the RunOptions fields that only an output file uses: refused by deblur_frames
_ENCODING_FIELDS = ("codec", "crf", "preset", "encoder_threads", "pix_fmt", "format", "view", "bitrate", "audio")


class DeblurredFrames:
    """The deblurred frames of one input, in order, as they are made: an iterator of
    :class:`~streamdeblur.video.frame.Frame` (``image`` RGB uint8, or uint16 for deep colour;
    the input's ``pts`` and ``time_base``), from :func:`deblur_frames`.

    The reader, the model and this iterator's consumer overlap (the run's pipeline, with this
    iterator as its writer); a consumer slower than the model holds the pipeline back (nothing
    is dropped). Close it (or use ``with``, or read to the end) to stop early: the threads end
    and the input and the backend it opened are closed. A failure in the pipeline is raised
    from ``next()``.
    """

    def __init__(
        self,
        source: FileSource | NewestFrames,
        backend: Backend,
        *,
        own_backend: bool,
        batch: int,
        realtime: bool,
        live: LiveSource | None = None,
    ) -> None:
        import queue

        from .pipeline import Pipeline

        #: the input's size, rate ... (a file's or stream's SourceInfo; a camera's LiveInfo)
        self.info = source.info
        self.backend = backend
        self._source, self._own_backend, self._live = source, own_backend, live
        self._queue: queue.Queue = queue.Queue(_FRAMES_AHEAD)
        self._stop = threading.Event()
        self._done = False
        self._pipe = Pipeline(source, backend, self, batch=batch, stop_event=self._stop, realtime=realtime)
        self._thread = threading.Thread(target=self._run, name="streamdeblur-frames", daemon=True)
        self._thread.start()

    # the pipeline's sink (its writer thread)
    def write(self, frame: Frame) -> None:
        self._put(frame)

    def _put(self, item: object) -> None:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            self._pipe.run()
            self._end(_FramesEnd(None))
        except BaseException as e:  # noqa: BLE001 - raised in the consumer's thread
            self._end(_FramesEnd(e))

    def _end(self, end: _FramesEnd) -> None:
        """How the run ended, for the consumer: put even though a failed pipeline has set the stop
        event (a consumer waiting in ``next()`` would wait forever); only a closed iterator has none."""
        import queue

        while not self._done:
            try:
                self._queue.put(end, timeout=0.05)
                return
            except queue.Full:
                continue

    # the consumer's side
    def __iter__(self) -> DeblurredFrames:
        return self

    def __next__(self) -> Frame:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _FramesEnd):
            self.close()
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    @property
    def warnings(self) -> list[str]:
        """What the user should know of the input once it has ended (as a run's warnings)."""
        if self._live is not None:
            n = self._source.received - self._pipe.stats.frames_out  # type: ignore[union-attr]
            return [f"{n} captured frames were skipped for newer ones (newest frame wins)"] if n > 0 else []
        return self._source.warnings()  # type: ignore[union-attr]

    def close(self) -> None:
        """Stop the pipeline (if still running) and close the input and the backend it opened."""
        if self._done:
            return
        self._done = True
        self._stop.set()
        self._thread.join()
        if self._live is not None:  # the capture thread closes a live source once iteration began
            if not self._source.started:  # type: ignore[union-attr]
                self._live.close()
        else:
            self._source.close()  # type: ignore[union-attr]
        if self._own_backend:
            self.backend.close()

    def __enter__(self) -> DeblurredFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class _FramesEnd:
    error: BaseException | None


def deblur_frames(
    input: str | os.PathLike[str] | LiveSource | None = None,
    options: RunOptions = RunOptions(),
    *,
    camera: str | int | None = None,
    generator: Generator | None = None,
    backend: Backend | None = None,
) -> DeblurredFrames:
    """Deblur ``input`` (a file, a stream URL, ``-``) into frames for your own code (a detector, a
    tracker), not a file: ``for frame in deblur_frames("rtsp://drone/live"): detect(frame.image)``.
    Every frame, in order; a consumer slower than the input holds it back.

    ``camera`` (an index or /dev path), or ``input`` an open
    :class:`~streamdeblur.video.live.LiveSource`: newest frame wins, as ``run --camera``: a
    model or consumer slower than the camera skips frames (``warnings`` counts them) and the
    delay never builds up; timestamps are the capture clock's.

    Everything that can be refused (the input, the weights, the backend, an option that only an
    output file uses) is refused here, before the first frame; ``options.reconnect`` and
    ``options.realtime`` apply as to a run. ``generator`` / ``backend``: as :func:`deblur_video`
    (a backend given is left open).
    """
    from .encoding import resolve_batch
    from .video.live import LiveSource

    if (input is None) == (camera is None):
        raise InputError("give an input (a file, URL or live source) or camera=INDEX|DEVICE (exactly one)")
    given = [f for f in _ENCODING_FIELDS if getattr(options, f) is not None]
    if given:
        raise InputError(
            f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to an output file; "
            "deblur_frames writes none"
        )
    if camera is not None or isinstance(input, LiveSource):
        return _deblur_live(input, camera, options, generator, backend)
    _check_reconnect(input, options)
    source = _open_input(input, options)
    try:
        opened = _open_backend(options, generator) if backend is None else backend
    except BaseException:
        source.close()
        raise
    batch, _ = resolve_batch(options.batch, opened.name, opened.device, source.info.width, source.info.height)
    return DeblurredFrames(source, opened, own_backend=backend is None, batch=batch, realtime=bool(options.realtime))


def _deblur_live(
    live: LiveSource | None,
    camera: str | int | None,
    options: RunOptions,
    generator: Generator | None,
    backend: Backend | None,
) -> DeblurredFrames:
    """:func:`deblur_frames` of a camera or an open live source: newest frame wins, one at a time."""
    from .recording import NewestFrames
    from .video.live import open_live

    if options.realtime is not None:
        raise InputError("realtime applies to a file or stream input; a camera is live already")
    if options.start is not None:
        raise InputError("start applies to a file or stream input; a camera is live (duration stops it)")
    if options.crop_even:
        raise InputError("crop_even applies to a file or stream input; a camera's frames are left as they are")
    if live is None:
        live = open_live(camera=camera, timeout=options.timeout, reconnect=options.reconnect)
    try:
        opened = _open_backend(options, generator) if backend is None else backend
    except BaseException:
        live.close()
        raise
    frames = NewestFrames(live, duration=options.duration, timeout=options.timeout)
    return DeblurredFrames(frames, opened, own_backend=backend is None, batch=1, realtime=False, live=live)


def _open_input(input: str | os.PathLike[str], options: RunOptions) -> FileSource:
    """The input opened with the run's timeout, reconnection, part (start, duration), video stream,
    deinterlacing and even-size crop."""
    from .video.sources import open_source

    return open_source(
        input, timeout=options.timeout, reconnect=options.reconnect, start=options.start, duration=options.duration,
        video_stream=options.video_stream, deinterlace=options.deinterlace, framerate=options.framerate,
        crop_even=options.crop_even,
    )  # fmt: skip


def paced(options: RunOptions, output: str | os.PathLike[str]) -> bool:
    """Whether a run writes its frames at the input's own pace: ``options.realtime``, else on
    when the output is a stream URL (a file sent to a server as fast as it is deblurred makes the
    server buffer, drop or disconnect; a live input arrives at its pace anyway)."""
    if options.realtime is not None:
        return options.realtime
    from .video.urls import is_stream_output

    return is_stream_output(str(output))


def _check_output(
    input: str | os.PathLike[str], output: str | os.PathLike[str], overwrite: bool, format: str | None = None
) -> Path:
    """The output's path, refused before anything opens: it exists (without ``overwrite``),
    cannot be written, or is the input itself; ``-`` (stdout) without a streamable ``format``."""
    from .video.sinks import check_destination

    if str(output) != "-" and _same_file(str(input), Path(output)):  # before "exists: pass --overwrite"
        raise OutputError(f"the output {output} is the input", "write to another file")
    return check_destination(output, overwrite=overwrite, format=format)  # type: ignore[return-value]


def _codec(out: Path, options: RunOptions) -> str:
    from .video.containers import output_codec

    return output_codec(out, options.codec, options.format)


def _check_encoder(out: Path, options: RunOptions) -> None:
    """``--preset``, ``--crf`` or ``--bitrate`` refused before anything opens when the output's encoder does not
    take it."""
    from .video.containers import check_bitrate, check_codec_in_container, check_encoder_settings

    codec = _codec(out, options)
    check_codec_in_container(out, codec, options.format)
    check_encoder_settings(codec, options.preset, options.crf)
    check_bitrate(codec, options.bitrate)


def _check_window(input: str | os.PathLike[str], out: Path | str, options: RunOptions) -> None:
    """``--window`` is a live HLS/DASH output's: a file's playlist keeps every segment."""
    from .video.adaptive import check_window_output
    from .video.urls import is_url

    if options.window is None:
        return
    check_window_output(out)
    if not is_url(str(input)):
        raise InputError(
            f"--window keeps the last seconds of a live input (a stream, a camera); {input} is a file, whose "
            "playlist keeps every segment",
            "leave --window out",
        )


def _check_reconnect(input: str | os.PathLike[str], options: RunOptions, output: str | os.PathLike[str] = "") -> None:
    """``--reconnect`` is for stream URLs (in or out): a file or a pipe that ends does not come back."""
    from .video.urls import is_stream_output, is_url

    if options.reconnect is not None and not is_url(str(input)) and not is_stream_output(str(output)):
        raise InputError(
            f"--reconnect applies to a stream URL (rtsp://, srt:// ...) in or out; {input} is not one and does not "
            "come back once it ends",
            "leave --reconnect out",
        )


def _same_file(a: str, b: Path) -> bool:
    try:
        return os.path.exists(a) and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _open_backend(options: RunOptions, generator: Generator | None) -> Backend:
    """The generator (``options.weights`` or the shipped one, unless given) on the backend the options ask for."""
    from .backends import create_backend
    from .models import load_generator

    model = generator if generator is not None else load_generator(options.weights)
    return create_backend(options.backend, model, options.device, options.backend_options)


def _live_to_stream(source: FileSource, out: Path | str, codec: str) -> bool:
    """A live input (a URL) restreamed (``-o rtmp://`` ...) through an encoder that can be tuned for zero latency."""
    from .video.sinks import ZERO_LATENCY_CODECS
    from .video.urls import is_stream_output

    return source.info.is_live and is_stream_output(str(out)) and codec in ZERO_LATENCY_CODECS


def _open_sink(out: Path, source: FileSource, options: RunOptions, plan: RunPlan) -> FileSink:
    """The output file, under a hidden temporary name until it is published."""
    from .video.sinks import FileSink, comparison_format

    view = options.view if _comparing(options) else None
    info = comparison_format(source.info, view) if view else source.info
    return FileSink(
        out, info, view=view, bitrate=options.bitrate, window=options.window, codec=options.codec, crf=options.crf,
        preset=plan.encoder.preset, pix_fmt=options.pix_fmt, overwrite=options.overwrite, copy_from=source,
        format=options.format, threads=plan.encoder.threads, low_latency=plan.encoder.low_latency,
        reconnect=options.reconnect, audio=options.audio,
    )  # fmt: skip


def _comparing(options: RunOptions) -> bool:
    """Whether the output shows the original beside the deblurred picture (``view`` side or split)."""
    from .video.compose import COMPARISONS

    return options.view in COMPARISONS


def _run_to_file(pipe: Pipeline, sink: FileSink, out: Path, announce: Callable[[], None] | None) -> PipelineStats:
    """Announce the run, run the pipeline to its end and publish the file under its name.

    A stop or an interrupt keeps the frames done as NAME.partial.EXT and raises
    :class:`Cancelled`; any other failure leaves no file behind."""
    from .video.sinks import partial_name

    try:
        if announce is not None:
            announce()
        stats = pipe.run()
    except Cancelled as c:
        _finish_partial(sink, pipe.stats.frames_out, partial_name(Path(out)), c.signum)
        raise  # pragma: no cover - _finish_partial always raises
    except BaseException:
        sink.abort()
        raise
    if stats.stopped:
        _finish_partial(sink, stats.frames_out, partial_name(Path(out)))
    try:
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return stats


def _finish_partial(sink: FileSink, frames: int, where: Path, signum: int = 2) -> None:
    """Keep the frames done under NAME.partial.EXT (never the final name), then raise Cancelled.

    ``where`` is the name asked for; if a file already has it (an earlier interrupted run),
    the sink picks NAME.partial.2.EXT and so on: no earlier work is replaced."""
    from .errors import signal_name

    how = "interrupted" if signum == 2 else f"stopped by {signal_name(signum)}"
    try:
        written = sink.close(partial=True, flush_budget=_FLUSH_BUDGET)
    except BaseException:  # a second Ctrl-C or a broken encoder: leave nothing behind
        sink.abort()
        written = None
    dropped = sink.frames_dropped
    note = f" ({dropped} still inside the encoder were dropped to stop at once)" if dropped else ""
    after = f"{how} after {frames} frame{'s' if frames != 1 else ''}"
    if written is None:
        raise Cancelled(f"{after}; nothing was written{note}", signum=signum)
    kept = sink.frames_written
    done = f"the {kept} frames done" if kept != 1 else "the 1 frame done"
    where = f"{'went' if sink.to_stdout or sink.to_stream else 'is' if kept == 1 else 'are'} "
    where += "to stdout" if sink.to_stdout else f"to {written}" if sink.to_stream else f"in {written}"
    raise Cancelled(f"{after}; {done} {where}{note}", signum=signum)
