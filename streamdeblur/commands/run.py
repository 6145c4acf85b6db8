"""`streamdeblur run`: deblur a video file or stream into a file."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..signals import stop_on_signals
from .common import app, fail, user_errors


def _say(msg: str) -> None:
    try:
        sys.stderr.write(f"streamdeblur: {msg}\n")
        sys.stderr.flush()
    except OSError:  # a terminal closed under the run (SIGHUP): the exit code still tells
        pass


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class _ProgressLine:
    """frames done / total, FPS and ETA on stderr: one rewritten line on a terminal,
    a plain line every few seconds otherwise (logs stay readable)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.interval = 0.25 if self.tty else 5.0
        self.last = 0.0
        self.width = 0

    def __call__(self, p) -> None:  # p: pipeline.Progress
        now = time.monotonic()
        final = p.total is not None and p.frames_done >= p.total
        if now - self.last < self.interval and not final:
            return
        self.last = now
        total = f"/{p.total}" if p.total else ""
        pct = f" {100 * p.frames_done / p.total:5.1f}%" if p.total else ""
        line = f"{p.frames_done}{total} frames{pct}  {p.fps:6.2f} fps  ETA {_clock(p.eta)}"
        try:
            if self.tty:
                pad = max(0, self.width - len(line))
                sys.stderr.write("\r" + line + " " * pad)
                self.width = len(line)
            else:
                sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except OSError:  # a closed terminal (SIGHUP) must not fail the writer and lose the partial
            pass

    def end(self) -> None:
        if self.tty and self.width:
            self.width = 0
            try:
                sys.stderr.write("\n")
                sys.stderr.flush()
            except OSError:
                pass


@app.command()
@user_errors
@stop_on_signals()  # SIGTERM / SIGHUP end a run as Ctrl-C does (exit 143 / 129)
def run(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="A video file, or a stream URL (rtsp://, http(s)://, udp://); or several files and folders (their video files) with -o a folder. Leave out with --camera.", metavar="INPUT", show_default=False)] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="The deblurred video; its extension picks the container (.mp4, .mkv, .mov, .webm ...). With several inputs or a folder: a folder (created if missing) that gets OUTPUT/NAME.EXT for each.", show_default=False)] = ...,  # type: ignore[assignment]
    camera: Annotated[Optional[str], typer.Option("--camera", "-c", help="Record a camera (index 0, 1 ... or /dev/videoN) instead of INPUT; newest frame wins, capture-clock timestamps; Ctrl-C or --duration ends it.", show_default=False)] = None,
    duration: Annotated[Optional[float], typer.Option("--duration", min=0.1, help="With --camera: stop after this many seconds.", show_default=False)] = None,
    backend: Annotated[str, typer.Option("--backend", help="auto (the fastest that runs here; says which), torch, onnxruntime or tensorrt.")] = "auto",
    device: Annotated[Optional[str], typer.Option("--device", help="cuda or cpu (default: the backend's best).", show_default=False)] = None,
    weights: Annotated[Optional[Path], typer.Option("--weights", help="A generator .safetensors (with its .json beside it); default: the shipped model.", show_default=False)] = None,
    engine: Annotated[Optional[Path], typer.Option("--engine", exists=True, dir_okay=False, help="A TensorRT engine from `streamdeblur build-engine` (checked against its sidecar); default with auto/tensorrt: the one in engines/ built for this GPU and model.", show_default=False)] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, max=256, help="Frames per inference call.")] = 4,
    codec: Annotated[Optional[str], typer.Option("--codec", help="Video encoder: libx264 (default for .mp4/.mkv/.mov), libx265, ffv1 or libx264rgb (lossless), libvpx-vp9 (.webm) ...", show_default=False)] = None,
    crf: Annotated[Optional[int], typer.Option("--crf", min=0, max=63, help="Quality for x264/x265/vp9 (lower is better; 0 is lossless). Default 18 for libx264, 0 for libx264rgb.", show_default=False)] = None,
    preset: Annotated[Optional[str], typer.Option("--preset", help="Encoder speed preset (x264/x265: ultrafast ... veryslow; default fast).", show_default=False)] = None,
    pix_fmt: Annotated[Optional[str], typer.Option("--pix-fmt", help="Encoder pixel format (default: the input's when the encoder takes it, else yuv420p).", show_default=False)] = None,
    max_tile: Annotated[Optional[int], typer.Option("--max-tile", min=16, help="Run frames larger than N pixels (height or width) as overlapping N x N tiles, blended without seams.", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists (only once the new one is complete).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for a stream URL to answer or send data.")] = 10.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    format: Annotated[Optional[str], typer.Option("--format", help="Several inputs: the outputs' container (mp4, mkv ...); default: each input's own extension.", show_default=False)] = None,
    cluster: Annotated[Optional[str], typer.Option("--cluster", help="Run on Ray (pip install 'streamdeblur\\[ray]'): local (a cluster on this machine), auto or an address such as ray://head:10001 (an existing one). One worker per GPU, else CPU workers; docs/SCALE.md.", show_default=False)] = None,
    segments: Annotated[Optional[int], typer.Option("--segments", min=1, help="Cut each input at keyframes into up to N parts, deblur them in parallel (with --cluster), join them: same frames, timestamps, audio.", show_default=False)] = None,
    cpus_per_worker: Annotated[Optional[int], typer.Option("--cpus-per-worker", min=1, help="With --cluster: cores per worker (without GPUs, workers = cores // N; with GPUs, the cores each GPU worker reserves for decoding and encoding). Default 1.", show_default=False)] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="With --cluster: at most N workers (default: one per GPU, or one per --cpus-per-worker cores).", show_default=False)] = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write a JSON report: each input's status, frames, seconds, backend and error.", show_default=False)] = None,
) -> None:
    """Deblur a video file or stream into OUTPUT, keeping its timestamps, colour tags, rotation, audio and subtitles.

    Frames go through a pipelined reader -> inference -> writer; progress shows frames
    done / total, FPS and ETA, and a final line gives frames, seconds, FPS, backend and
    device. OUTPUT is written to a hidden temporary file and renamed when complete, so
    it never exists half-written, and never replaces a file without --overwrite (one that
    appeared meanwhile included: the work is then kept as NAME.2.EXT, exit code 2).
    Ctrl-C, SIGTERM and SIGHUP stop cleanly within a second: the frames done are finished
    as a playable NAME.partial.EXT beside OUTPUT (never under OUTPUT's own name), and the
    exit code is 128 + the signal (130, 143, 129). Several files and folders go into -o as
    a folder, one after another or on a Ray cluster (--cluster), long files in parts
    (--segments), with a summary table and --report (docs/SCALE.md).

    Examples: streamdeblur run samples/mountains.mp4 -o out.mp4 |
    streamdeblur run in.mkv -o out.mkv --codec ffv1 |
    streamdeblur run rtsp://127.0.0.1:8554/cam -o cam.mp4 --timeout 5 |
    streamdeblur run a.mp4 b.mp4 clips/ -o out/ --report report.json |
    streamdeblur run clips/ -o out/ --cluster local |
    streamdeblur run long.mkv -o out.mkv --cluster local --segments 8
    """
    from ..api import deblur_video
    from ..batch import is_batch
    from ..errors import Cancelled

    many = {"format": format, "cluster": cluster, "segments": segments, "cpus_per_worker": cpus_per_worker, "workers": workers, "report": report}
    if inputs and camera is None and is_batch(inputs, output, **many):
        from .run_many import run_many

        if duration is not None:
            raise fail("--duration applies to --camera only")
        if engine is not None and backend not in ("auto", "tensorrt"):
            raise fail(f"--engine is a TensorRT engine; it cannot run with --backend {backend}", 2)
        run_many(
            inputs, output, quiet=quiet, **many, backend=backend, device=device, weights=str(weights) if weights is not None else None, batch=batch, codec=codec,
            crf=crf, preset=preset, pix_fmt=pix_fmt, max_tile=max_tile, overwrite=overwrite, timeout=timeout, engine=str(engine) if engine is not None else None,
        )  # fmt: skip
        return
    input = inputs[0] if inputs else None
    if camera is not None and any(v is not None for v in many.values()):
        raise fail("--format, --cluster, --segments, --cpus-per-worker, --workers and --report apply to files, not --camera")
    if (input is None) == (camera is None):
        raise fail("give INPUT (a file or URL) or --camera INDEX|DEVICE (exactly one)")
    if camera is not None:
        _record_camera(camera, output, backend=backend, device=device, weights=weights, duration=duration, timeout=timeout, codec=codec, crf=crf, preset=preset, overwrite=overwrite, quiet=quiet)
        return
    if duration is not None:
        raise fail("--duration applies to --camera only")
    if engine is not None and backend not in ("auto", "tensorrt"):
        raise fail(f"--engine is a TensorRT engine; it cannot run with --backend {backend}", 2)

    progress = None if quiet else _ProgressLine()

    def ready(info, be) -> None:
        if quiet:
            return
        reason = getattr(be, "choice_reason", "")
        if backend == "auto":
            _say(f"backend: {reason or be.describe()}")
        total = info.expected_frames
        _say(
            f"{info.width}x{info.height} {info.fps or 0:.3g} fps, {total if total else 'unknown number of'} frames"
            f" -> {output} ({be.describe()}, batch {batch})"
        )

    try:
        result = deblur_video(
            input,
            output,
            on_progress=progress,
            on_ready=ready,
            backend=backend,
            device=device,
            weights=str(weights) if weights is not None else None,
            batch=batch,
            codec=codec,
            crf=crf,
            preset=preset,
            pix_fmt=pix_fmt,
            max_tile=max_tile,
            overwrite=overwrite,
            timeout=timeout,
            engine=str(engine) if engine is not None else None,
        )
    except Cancelled as e:
        if progress is not None:
            progress.end()
        _say(str(e))
        raise typer.Exit(code=e.exit_code) from None
    except BaseException:
        if progress is not None:
            progress.end()
        raise
    if progress is not None:
        progress.end()
    for w in result.warnings:
        _say(f"warning: {w}")
    if not quiet:
        typer.echo(
            f"done: {result.frames} frames in {result.seconds:.1f} s ({result.fps:.2f} fps), "
            f"backend {result.backend} on {result.device} ({result.precision}) -> {result.output}"
        )


def _record_camera(camera: str, output: Path, *, quiet: bool, weights: Optional[Path], **options) -> None:  # type: ignore[no-untyped-def]
    """`run --camera`: the live recorder (see streamdeblur.preview.record_live)."""
    from ..preview import record_live
    from ..video.camera import open_live

    source = open_live(camera=camera, timeout=options["timeout"])
    if not quiet:
        _say(f"recording {source.info.name} ({source.info.width}x{source.info.height}) -> {output}; Ctrl-C stops" + (f" (or after {options['duration']:g} s)" if options["duration"] else ""))
    rec = record_live(source, output, weights=str(weights) if weights is not None else None, on_ready=(None if quiet else lambda d: _say(f"backend: {d}")), **options)
    if not quiet:
        typer.echo(f"done ({rec.stop_reason}): {rec.frames} frames of {rec.captured} captured ({rec.dropped} dropped) in {rec.seconds:.1f} s, backend {rec.backend} -> {rec.output}")
