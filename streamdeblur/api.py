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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Cancelled, OutputError
from .pipeline import PipelineStats, Progress

log = logging.getLogger(__name__)

#: after Ctrl-C / SIGTERM, how long the reader and inference stages may take to notice;
#: one still inside an inference call (seconds for a large CPU batch) is left to end alone
_INTERRUPT_GRACE = 0.2
#: ... and how long the encoder may take to finish the frames it still holds (x264's
#: lookahead: ~35 frames, seconds at 720p on a CPU); past that they are dropped, and said so
_FLUSH_BUDGET = 0.5


@dataclass(frozen=True)
class RunOptions:
    """One field per ``streamdeblur run`` option."""

    backend: str = "auto"
    device: str | None = None
    weights: str | None = None
    batch: int = 4
    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    max_tile: int | None = None
    overwrite: bool = False
    timeout: float = 10.0
    engine: str | None = None  # a TensorRT engine file (implies --backend tensorrt under auto)
    engines_dir: str | None = None  # where auto looks for an engine built for this GPU and model


@dataclass(frozen=True)
class RunResult:
    """What a finished run did, for the CLI's final line and for scripts."""

    output: Path
    frames: int
    seconds: float
    fps: float
    backend: str
    device: str
    precision: str
    choice_reason: str
    stats: PipelineStats
    #: what the user should know about a run that still succeeded (one line each), e.g. an input that ended early
    warnings: tuple[str, ...] = ()


def _same_file(a: str, b: Path) -> bool:
    try:
        return os.path.exists(a) and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def deblur_video(
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    generator: Any = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_ready: Callable[[Any, Any], None] | None = None,
    stop_event: threading.Event | None = None,
    processor: Any = None,
    **options: Any,
) -> RunResult:
    """Deblur ``input`` (a file or URL) into ``output``; options as :class:`RunOptions`.

    ``generator``: a model object to use instead of ``options["weights"]`` / the shipped
    one. ``on_ready(source_info, backend)`` is called once everything is open, before
    the first frame (the CLI prints the backend it chose there). ``processor``: an open
    backend to use (and leave open) instead of making one from the options, so that a
    worker deblurring many files loads its model or engine once (streamdeblur.batch).
    """
    from .backends import create_backend
    from .models import load_generator
    from .pipeline import Pipeline
    from .video.sinks import FileSink, check_output, partial_name
    from .video.sources import open_source

    opts = RunOptions(**options)
    if opts.batch < 1:
        raise ValueError(f"batch must be >= 1, got {opts.batch}")
    out, _, _ = check_output(output, overwrite=opts.overwrite)
    if _same_file(str(input), out):
        raise OutputError(f"the output {out} is the input", "write to another file")

    with open_source(input, timeout=opts.timeout) as source:  # input errors first: the cheapest to fix
        if processor is not None:
            backend = processor
        else:
            model = generator if generator is not None else load_generator(opts.weights)
            backend = create_backend(
                opts.backend, model, opts.device, max_tile=opts.max_tile, engine=opts.engine, engines_dir=opts.engines_dir
            )
        pipe = None
        try:
            sink = FileSink(
                out,
                source.info,
                codec=opts.codec,
                crf=opts.crf,
                preset=opts.preset,
                pix_fmt=opts.pix_fmt,
                overwrite=opts.overwrite,
                copy_from=source,
            )
            pipe = None
            try:
                if on_ready is not None:
                    on_ready(source.info, backend)
                pipe = Pipeline(
                    source, backend, sink, batch=opts.batch, on_progress=on_progress, stop_event=stop_event, interrupt_grace=_INTERRUPT_GRACE
                )
                stats = pipe.run()
            except Cancelled as c:
                _finish_partial(sink, pipe.stats.frames_out if pipe is not None else 0, partial_name(out), c.signum)
                raise  # pragma: no cover - _finish_partial always raises
            except BaseException:
                sink.abort()
                raise
            if stats.stopped:
                _finish_partial(sink, stats.frames_out, partial_name(out))
            warnings = tuple(w for w in [source.ended_early()] if w)
            try:
                sink.close()
            except BaseException:
                sink.abort()
                raise
        finally:
            abandoned = pipe.abandoned if pipe is not None else ()
            if "inference" not in abandoned and processor is None:  # else it is still inside backend.process, or the caller's
                backend.close()
            if "reader" in abandoned:  # still inside FFmpeg: closing under it would crash
                source.abandon()
    return RunResult(
        output=out,
        frames=stats.frames_out,
        seconds=stats.seconds,
        fps=stats.fps,
        backend=backend.name,
        device=backend.device,
        precision=backend.precision,
        choice_reason=backend.choice_reason,
        stats=stats,
        warnings=warnings,
    )


def _finish_partial(sink: Any, frames: int, where: Path, signum: int = 2) -> None:
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
    dropped = getattr(sink, "frames_dropped", 0)
    note = f" ({dropped} still inside the encoder were dropped to stop at once)" if dropped else ""
    if written is None:
        raise Cancelled(f"{how} after {frames} frames; nothing was written{note}", signum=signum)
    kept = getattr(sink, "frames_written", frames)
    raise Cancelled(f"{how} after {frames} frames; the {kept} frames done are in {written}{note}", signum=signum)
