"""`streamdeblur run`: deblur a video file or stream into a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import InputError
from ..redact import redact
from ..signals import stop_on_signals
from ..video.sequence import is_sequence, is_sequence_output, parse_framerate
from .common import (
    BACKEND_HELP,
    AudioOption,
    BackendName,
    DeinterlaceOption,
    DeviceOption,
    MaxTileOption,
    OpenVINOHint,
    OpenVINOHintOption,
    OpenVINOPrecisionOption,
    ReconnectOption,
    StartOption,
    StatusLine,
    View,
    WeightsOption,
    app,
    check_openvino_options,
    clock,
    say,
    typed,
    user_errors,
    value,
)

if TYPE_CHECKING:
    from ..api import RunOptions
    from ..backends import Backend
    from ..encoding import RunPlan
    from ..pipeline import Progress
    from ..video.live import LiveInfo
    from ..video.sources import SourceInfo


class _ProgressLine(StatusLine):
    """frames done / total, FPS and ETA (see StatusLine for when it is written)."""

    def __call__(self, p: Progress) -> None:
        if not self.due(final=p.total is not None and p.frames_done >= p.total):
            return
        total = f"/{p.total}" if p.total else ""
        pct = f" {100 * p.frames_done / p.total:5.1f}%" if p.total else ""
        self.show(f"{p.frames_done}{total} frames{pct}  {p.fps:6.2f} fps  ETA {clock(p.eta)}")


@app.command(no_args_is_help=True)  # `streamdeblur run` alone: its help, not "Missing option -o"
@user_errors
@stop_on_signals()  # SIGTERM / SIGHUP end a run as Ctrl-C does (exit 143 / 129)
def run(
    ctx: typer.Context,
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(
            help=(
                "A video file, - (stdin, as FFmpeg), or a stream URL (rtsp://, http(s)://, udp://); a picture "
                "(.jpg, .png, .tif, .webp, .bmp) with -o a picture; or several files "
                "and folders (their "
                "video files) with -o a folder. Leave out with --camera."
            ),
            metavar="INPUT",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help=(
                "The deblurred video; its extension picks the container (.mp4, .mkv, .mov, .webm ...); - is stdout "
                "(with --format mkv, ts or nut); rtmp://, rtsp://, rtp://, udp://, tcp://, srt:// send it to a "
                "server as it is made (FLV for RTMP, RTP for RTSP, MPEG-TS in RTP for RTP, else MPEG-TS; --format "
                "changes it). With several inputs or a folder: a folder (created if missing) that gets "
                "OUTPUT/NAME.EXT for each."
            ),
            show_default=False,
        ),
    ] = ...,  # type: ignore[assignment]
    camera: Annotated[
        Optional[str],
        typer.Option(
            "--camera",
            "-c",
            help=(
                "Record a camera (index 0, 1 ... or /dev/videoN) instead of INPUT; newest frame wins, capture-clock "
                "timestamps; Ctrl-C or --duration ends it."
            ),
            show_default=False,
        ),
    ] = None,
    start: StartOption = None,
    duration: Annotated[
        Optional[str],
        typer.Option(
            "--duration",
            help=(
                "Deblur this long (seconds, MM:SS or HH:MM:SS.ms; FFmpeg's -t), from --start or the first frame; "
                "with --camera: stop after it."
            ),
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        Optional[str],
        typer.Option(
            "--end",
            help="Stop at this time of the input (FFmpeg's -to): the same as --duration END minus --start.",
            show_default=False,
        ),
    ] = None,
    video_stream: Annotated[
        int,
        typer.Option(
            "--video-stream",
            min=0,
            help=(
                "Which of the input's video streams to deblur: 0 (the first), 1 ... (FFmpeg's -map 0:v:N; a thermal "
                "and a colour camera's, a second angle). The others are left out, as the start says."
            ),
        ),
    ] = 0,
    deinterlace: DeinterlaceOption = None,
    crop_even: Annotated[
        bool,
        typer.Option(
            "--crop-even",
            help=(
                "Drop an odd-size input's last column and/or last row (641x361 -> 640x360), so H.264/HEVC write "
                "the 4:2:0 every player plays instead of 4:4:4 (an input that is 4:4:4 itself stays so: add "
                "--pix-fmt yuv420p); an even size is left as it is."
            ),
        ),
    ] = False,
    audio: AudioOption = None,
    framerate: Annotated[
        Optional[str],
        typer.Option(
            "--framerate",
            help=(
                "An image-sequence input's frames a second (INPUT like frames/f_%06d.png; FFmpeg's -framerate): "
                "30, 29.97 or 30000/1001. Default 25, as FFmpeg."
            ),
            show_default=False,
        ),
    ] = None,
    view: Annotated[
        View,
        typer.Option(
            "--view",
            help=(
                "deblurred: the output (default); side: the original and the deblurred frame side by side (twice as "
                "wide), split: a wipe, both labelled, 8-bit: a comparison to show or judge."
            ),
        ),
    ] = View.deblurred,
    backend: Annotated[BackendName, typer.Option("--backend", help=BACKEND_HELP)] = BackendName.auto,
    device: DeviceOption = None,
    weights: WeightsOption = None,
    engine: Annotated[
        Optional[Path],
        typer.Option(
            "--engine",
            exists=True,
            dir_okay=False,
            help=(
                "A TensorRT engine from `streamdeblur build-engine` (checked against its sidecar); default with "
                "auto/tensorrt: the one in engines/ built for this GPU and model."
            ),
            show_default=False,
        ),
    ] = None,
    batch: Annotated[
        str,
        typer.Option(
            "--batch",
            help=(
                "Frames per inference call (1-256), or auto: what `streamdeblur bench` found fastest for the "
                "backend's device (on the CPU 1, or 4 for ONNX Runtime and for OpenVINO above 960x540; 4 on CUDA); "
                "the start line says which."
            ),
        ),
    ] = "auto",
    codec: Annotated[
        Optional[str],
        typer.Option(
            "--codec",
            help=(
                "Video encoder: libx264 (default for .mp4/.mkv/.mov), libx265, ffv1 or libx264rgb (lossless), "
                "libvpx-vp9 (.webm), mpeg4 (.avi) ..."
            ),
            show_default=False,
        ),
    ] = None,
    crf: Annotated[
        Optional[int],
        typer.Option(
            "--crf",
            min=0,
            max=63,
            help=(
                "Quality: 0-51 for x264/x265, 0-63 for vp9, 1-63 for SVT-AV1 (lower is better; 0 is lossless). "
                "Default 18 for libx264, 0 for libx264rgb."
            ),
            show_default=False,
        ),
    ] = None,
    bitrate: Annotated[
        Optional[str],
        typer.Option(
            "--bitrate",
            help=(
                "Hold the video to this many bits a second (6M, 4500k): an average kept to it by a 2 s buffer, as "
                "streaming services ask (FFmpeg's -b:v R -maxrate R -bufsize 2R); with --crf, that quality capped "
                "at it. Default: --crf's constant quality."
            ),
            show_default=False,
        ),
    ] = None,
    window: Annotated[
        Optional[float],
        typer.Option(
            "--window",
            min=2,
            help=(
                "SECONDS: an HLS or DASH output (.m3u8, .mpd) of a live input (a stream, --camera) keeps only its "
                "last SECONDS in the playlist and on disk, older segments deleted (a 24/7 camera); default: all."
            ),
            show_default=False,
        ),
    ] = None,
    preset: Annotated[
        Optional[str],
        typer.Option(
            "--preset",
            help=(
                "Encoder speed preset (x264/x265: ultrafast ... veryslow; default fast), or auto: the slowest that "
                "keeps up with the model, measured before the first frame (the start line says what it chose)."
            ),
            show_default=False,
        ),
    ] = None,
    encoder_threads: Annotated[
        Optional[int],
        typer.Option(
            "--encoder-threads",
            min=0,
            max=256,
            help=(
                "Encoder threads; 0: the encoder's own count (x264: 1.5 per core). Default: 0 with the model on a "
                "GPU, one per four cores with the model on the CPU (they share the cores)."
            ),
            show_default=False,
        ),
    ] = None,
    pix_fmt: Annotated[
        Optional[str],
        typer.Option(
            "--pix-fmt",
            help="Encoder pixel format (default: the input's when the encoder takes it, else yuv420p).",
            show_default=False,
        ),
    ] = None,
    max_tile: MaxTileOption = None,
    openvino_precision: OpenVINOPrecisionOption = None,
    openvino_hint: OpenVINOHintOption = OpenVINOHint.auto,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists (only once the new one is complete).")
    ] = False,
    timeout: Annotated[  # max: api.MAX_TIMEOUT (api imports torch: not at the CLI's start)
        float,
        typer.Option("--timeout", min=0.1, max=86400, help="Seconds to wait for a stream URL to answer or send data."),
    ] = 10.0,
    realtime: Annotated[
        Optional[bool],
        typer.Option(
            "--realtime/--no-realtime",
            help=(
                "Write frames no faster than the input plays (FFmpeg's -re). Default: on when -o is a stream "
                "URL (a server must not get a file faster than it plays), off otherwise."
            ),
            show_default=False,
        ),
    ] = None,
    reconnect: ReconnectOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    progress: Annotated[
        Optional[str],
        typer.Option(
            "--progress",
            help=(
                "Also write the run's progress for another program, in FFmpeg's -progress format (key=value blocks: "
                "frame, fps, out_time, speed, progress=continue|end, every 0.5 s) to this file, - (stdout) or pipe:2."
            ),
            metavar="DEST",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        Optional[str],
        typer.Option(
            "--format",
            help=(
                "Several inputs: the outputs' container (mp4, mkv ...); default: each input's own extension. "
                "With -o - (stdout): mkv, ts or nut."
            ),
            show_default=False,
        ),
    ] = None,
    cluster: Annotated[
        Optional[str],
        typer.Option(
            "--cluster",
            help=(
                "Run on Ray (pip install 'streamdeblur[ray]'): local (a cluster on this machine), auto or an address"
                " such as ray://head:10001 (an existing one). One worker per GPU, else CPU workers; docs/SCALE.md."
            ),
            show_default=False,
        ),
    ] = None,
    segments: Annotated[
        Optional[int],
        typer.Option(
            "--segments",
            min=1,
            help=(
                "Cut each input at keyframes into up to N parts, deblur them in parallel (with --cluster), join them: "
                "same frames, timestamps, audio."
            ),
            show_default=False,
        ),
    ] = None,
    cpus_per_worker: Annotated[
        Optional[int],
        typer.Option(
            "--cpus-per-worker",
            min=1,
            help=(
                "With --cluster: cores per worker (without GPUs, workers = cores // N; with GPUs, the cores each GPU "
                "worker reserves for decoding and encoding). Default 1."
            ),
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        Optional[int],
        typer.Option(
            "--workers",
            min=1,
            help="With --cluster: at most N workers (default: one per GPU, or one per --cpus-per-worker cores).",
            show_default=False,
        ),
    ] = None,
    report: Annotated[
        Optional[Path],
        typer.Option(
            "--report",
            help="Write a JSON report: each input's status, frames, seconds, backend and error.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Deblur a video file or stream into OUTPUT, keeping its timestamps, colour tags, rotation, audio and subtitles.

    Frames go through a pipelined reader -> inference -> writer; progress shows frames
    done / total, FPS and ETA, and a final line gives frames, seconds, FPS, backend and
    device. OUTPUT is written to a hidden temporary file and renamed when complete, so
    it never exists half-written, and never replaces a file without --overwrite (one that
    appeared meanwhile included: the work is then kept as NAME.2.EXT, exit code 2).
    Ctrl-C, SIGTERM and SIGHUP stop cleanly within a second: the frames done are finished
    as a playable NAME.partial.EXT beside OUTPUT (never under OUTPUT's own name), and the
    exit code is 128 + the signal (130, 143, 129). Damaged packets are skipped with a warning; an input
    that breaks off or stalls past --timeout keeps the frames received in OUTPUT (exit 3). Several files and
    folders go into -o as a folder, one after another or on a Ray cluster (--cluster), long files in parts
    (--segments), with a summary table and --report (docs/SCALE.md).

    Examples: streamdeblur run samples/mountains.mp4 -o out.mp4 |
    streamdeblur run photo.jpg -o sharp.png |
    streamdeblur run in.mkv -o out.mkv --codec ffv1 |
    streamdeblur run rtsp://127.0.0.1:8554/cam -o cam.mp4 --timeout 5 |
    streamdeblur run a.mp4 b.mp4 clips/ -o out/ --report report.json |
    streamdeblur run clips/ -o out/ --cluster local |
    streamdeblur run long.mkv -o out.mkv --cluster local --segments 8
    """
    from ..api import RunOptions
    from ..backends import BackendOptions
    from ..batch import BatchOptions, is_batch
    from ..video.containers import parse_bitrate
    from ..video.trim import part_length

    check_openvino_options(ctx, value(backend))
    backend_options = BackendOptions(
        max_tile=max_tile,
        engine=engine,
        openvino_precision=value(openvino_precision),
        openvino_hint=openvino_hint.value,
    )
    begin, length = part_length(start, duration, end)
    options = RunOptions(
        backend=value(backend) or "auto", device=value(device), weights=str(weights) if weights is not None else None,
        batch=parse_batch(batch), codec=codec, crf=crf, preset=preset, encoder_threads=encoder_threads,
        pix_fmt=pix_fmt, overwrite=overwrite, timeout=timeout, realtime=realtime, reconnect=reconnect,
        start=begin, duration=length,
        video_stream=video_stream, deinterlace=value(deinterlace), crop_even=crop_even, view=view.value,
        audio=value(audio),
        framerate=None if framerate is None else parse_framerate(framerate),
        bitrate=None if bitrate is None else parse_bitrate(bitrate),
        window=window,
        backend_options=backend_options,
    )  # fmt: skip
    many = (format, cluster, segments, cpus_per_worker, workers, report)
    if camera is not None:
        if any(v is not None for v in many):
            raise InputError(
                "--format, --cluster, --segments, --cpus-per-worker, --workers and --report apply to files, "
                "not --camera"
            )
        if inputs:
            raise InputError("give INPUT (a file or URL) or --camera INDEX|DEVICE (exactly one)")
        if realtime is not None:
            raise InputError("--realtime and --no-realtime apply to a file or stream input; a camera is live already")
        if start is not None:
            raise InputError("--start applies to a file or stream input; a camera is live (--duration stops it)")
        if video_stream:
            raise InputError("--video-stream applies to a file or stream input; a camera has one")
        if deinterlace is not None:
            raise InputError("--deinterlace applies to a file or stream input; a camera gives progressive frames")
        if crop_even:
            raise InputError("--crop-even applies to a file or stream input; a camera's frames are left as they are")
        if audio is not None:
            raise InputError("--audio applies to a file or stream input; a camera records no sound")
        if framerate is not None:
            raise InputError("--framerate applies to an image-sequence input; a camera has its own rate")
        if view is not View.deblurred:
            raise InputError("--view applies to a file or stream input; `preview --camera` shows a camera side by side")
        if progress is not None:
            raise InputError("--progress applies to a file or stream input", "leave it out with --camera")
        return _record_camera(camera, output, options, duration=options.duration, quiet=quiet)
    if not inputs:
        raise InputError("give INPUT (a file or URL) or --camera INDEX|DEVICE (exactly one)")
    if engine is not None and backend not in (BackendName.auto, BackendName.tensorrt):
        raise InputError(f"--engine is a TensorRT engine; it cannot run with --backend {value(backend)}")
    _refuse_unreadable(inputs)
    from ..batch.jobs import refuse_file_name_for_folder

    refuse_file_name_for_folder(inputs, output)
    pictures = _picture_jobs(inputs, output)
    batch_options = BatchOptions(
        format=format,
        cluster=cluster,
        segments=segments,
        cpus_per_worker=cpus_per_worker,
        workers=workers,
        report=report,
    )
    if pictures is not None or (len(inputs) == 1 and _is_still(output) and not is_sequence_output(output)):
        video_only = typed(ctx, *(_VIDEO_ONLY + _BATCH_ONLY if pictures is None else _VIDEO_ONLY))
        if video_only:
            what = f"{output} is a picture" if pictures is None else "the inputs are pictures"
            raise InputError(
                f"{', '.join(video_only)} {'applies' if len(video_only) == 1 else 'apply'} to video; {what} "
                f"(JPEG and WebP are written at quality {_still_quality()}, PNG and TIFF losslessly)",
                "leave " + ("it" if len(video_only) == 1 else "them") + " out, or write a video file (.mp4, .mkv ...)",
            )
        if pictures is not None and batch_options.given:  # --cluster, --report: the batch runs them
            from .run_many import run_many

            return run_many(inputs, output, options, batch_options, quiet=quiet)
        if pictures is not None:
            return _run_stills(pictures, output, options, quiet=quiet)
        return _run_still(inputs[0], output, options, quiet=quiet, say_backend=backend == BackendName.auto)
    if len(inputs) == 1 and _is_still(inputs[0]) and not _is_folder(output) and not is_sequence(inputs[0]):
        if not os.path.exists(inputs[0]):  # a typo, or an image-sequence pattern: say so, not "is a picture"
            from ..video.opening import input_not_found

            raise input_not_found(inputs[0])
        stem = os.path.splitext(os.path.basename(inputs[0]))[0]
        raise InputError(
            f"{inputs[0]} is a picture and {output} is not a picture name",
            f"write it to a picture: -o {stem}-sharp.png (or .jpg, .tif, .webp)",
        )
    if progress is not None:
        from ..progress_file import check_progress_destination

        check_progress_destination(progress, output, inputs)
    if output == _STDIO or _streamed(output) or any(_piped(i) for i in inputs):
        return _run_pipe(
            inputs, output, options, many, quiet=quiet, say_backend=backend == BackendName.auto, progress_to=progress
        )
    if is_batch(inputs, output, batch_options):
        from .run_many import run_many

        if any(is_sequence(i) for i in inputs) or is_sequence_output(output):
            raise InputError(
                "an image sequence is read or written as a video by a run of its own; several inputs, --segments and "
                "--cluster take video files (or folders of pictures, deblurred as pictures)",
                "run the sequence alone: streamdeblur run frames/f_%06d.png -o out.mp4 --framerate 30",
            )

        if progress is not None:
            raise InputError(
                "--progress applies to one input run on its own; several inputs, --segments and --cluster report "
                "each input's progress in --report",
                "leave --progress out, or run the file alone",
            )
        if reconnect is not None:
            raise InputError(
                "--reconnect applies to one stream URL input; files (several inputs, --segments, --cluster) do not "
                "come back once they end",
                "leave --reconnect out",
            )
        if segments and typed(ctx, "view"):
            raise InputError(
                "--view with --segments: a comparison is written in one piece", "leave --segments out for it"
            )
        timeless = next((e for e in (".avi", ".gif") if str(output).lower().endswith(e)), None) if segments else None
        if timeless:
            raise InputError(
                f"--segments into {timeless}: {timeless[1:].upper()} keeps no start times, so parts of it cannot "
                "be joined",
                "write .mkv, .mp4 or .ts, or leave --segments out",
            )
        if segments and deinterlace is not None:
            raise InputError(
                "--deinterlace with --segments: the parts are cut by the input's own frames",
                "leave --segments out for it (several inputs and --cluster take it)",
            )
        if typed(ctx, "window"):
            raise InputError(
                "--window applies to one live input run on its own; several inputs, --segments and --cluster "
                "deblur files",
                "run the stream alone (streamdeblur run URL -o OUT.m3u8 --window S)",
            )
        whole = typed(ctx, "start", "duration", "end", "video_stream") if segments else []
        if whole:
            raise InputError(
                f"{' and '.join(whole)} with --segments: the parts are cut from whole files, their first video stream",
                "leave --segments out (several inputs and --cluster take them)",
            )
        return run_many(inputs, output, options, batch_options, quiet=quiet)
    _run_file(inputs[0], output, options, quiet=quiet, say_backend=backend == BackendName.auto, progress_to=progress)


def parse_batch(text: str) -> int | None:
    """``--batch``: ``auto`` (None) or a whole number of frames from 1 to 256."""
    if text.strip().lower() == "auto":
        return None
    if not text.strip().isdigit() or not 1 <= int(text) <= 256:
        raise InputError(f"--batch {text!r} is not auto or a number of frames from 1 to 256", "e.g. --batch 4")
    return int(text)


#: video.urls.STDIO (not imported here: it imports PyAV, and the CLI starts without it)
_STDIO = "-"


def _streamed(output: str) -> bool:
    """``-o rtmp://...``, ``udp://`` ...: sent as it is made, as ``-o -`` is."""
    from ..video.urls import is_stream_output

    return is_stream_output(output)


def _piped(input: str) -> bool:
    from ..video.urls import is_pipe

    return is_pipe(input)


def _run_pipe(
    inputs: list[str],
    output: str,
    options: RunOptions,
    many: tuple[object, ...],
    *,
    quiet: bool,
    say_backend: bool,
    progress_to: str | None = None,
) -> None:
    """`run - -o OUT`, `run IN -o - --format mkv`, `run IN -o rtmp://...`: one input, read or
    written once, front to back."""
    from dataclasses import replace

    format, cluster, segments, cpus_per_worker, workers, report = many
    if len(inputs) > 1:
        raise InputError(
            "a pipe (- or /dev/stdin), -o - or a stream URL takes one input; several inputs need -o a folder"
        )
    if any(v is not None for v in (cluster, segments, cpus_per_worker, workers, report)):
        raise InputError(
            "--cluster, --segments, --cpus-per-worker, --workers and --report need files; "
            "they cannot read a pipe (- or /dev/stdin) or write -o - or a stream URL"
        )
    if format is not None and output != _STDIO and not _streamed(output):
        raise InputError(
            f"--format applies to -o - (stdout), a stream URL or several inputs; {output}'s extension names its "
            "container",
            "leave --format out",
        )
    options = replace(options, format=format)
    _run_file(inputs[0], output, options, quiet=quiet, say_backend=say_backend, progress_to=progress_to)


#: the options of `run` that a still picture has no use for
_VIDEO_ONLY = (
    "batch", "codec", "crf", "preset", "encoder_threads", "pix_fmt", "timeout", "format", "segments", "realtime",
    "reconnect", "start", "duration", "end", "video_stream", "deinterlace", "crop_even", "bitrate", "window",
    "progress", "audio", "framerate",
)  # fmt: skip
#: the batch's, which several pictures into a folder take (a cluster deblurs them too) and one picture does not
_BATCH_ONLY = ("cluster", "cpus_per_worker", "workers", "report")


def _is_still(output: str) -> bool:
    from ..stills import is_still

    return is_still(output)


def _is_folder(output: str) -> bool:
    return output.endswith(("/", os.sep)) or os.path.isdir(output)


def _refuse_unreadable(inputs: list[str]) -> None:
    """A HEIC or camera RAW file named: one line saying how to convert it. In a folder named: a
    warning that they are left out (the folder's other files go on)."""
    from ..stills import UNREADABLE_STILLS, refuse_unreadable

    for spec in inputs:
        p = Path(spec)
        if not p.is_dir():
            refuse_unreadable(p)
            continue
        left = sorted(q.name for q in p.iterdir() if q.suffix.lower() in UNREADABLE_STILLS and q.is_file())
        if left:
            say(
                f"warning: folder {spec}: {len(left)} HEIC/RAW picture{'s' if len(left) != 1 else ''} left out "
                f"({', '.join(left[:3])}{' ...' if len(left) > 3 else ''}): they cannot be read here; "
                "convert them to JPEG, PNG or 16-bit TIFF first"
            )


def _picture_jobs(inputs: list[str], output: str) -> list[tuple[Path, Path]] | None:
    """(picture, OUT/NAME) when -o names a folder and every input is a picture or a folder of them."""
    from ..batch.jobs import output_is_folder
    from ..stills import picture_jobs

    if output == _STDIO or not output_is_folder(inputs, output):
        return None
    return picture_jobs(inputs, output)


def _run_stills(jobs: list[tuple[Path, Path]], output: str, options: RunOptions, *, quiet: bool) -> None:
    """`run photos/ -o sharp/`: :func:`streamdeblur.stills.deblur_stills`, a line per picture; exit 1 if any failed."""
    from ..stills import PictureOutcome, deblur_stills

    def item(o: PictureOutcome) -> None:
        if o.status == "done" and not quiet:
            say(f"done    {o.input} -> {o.output} ({o.seconds:.1f} s)")
        elif o.status != "done" and (o.status == "failed" or not quiet):
            say(f"{o.status:<7} {o.input}: {o.error}")
        for w in o.warnings:
            say(f"warning: {o.input}: {w}")

    outcomes = deblur_stills(jobs, options, on_item=item)
    failed = sum(o.status == "failed" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    if not quiet:
        extra = ", ".join(
            x for x in (f"{skipped} skipped" if skipped else "", f"{failed} failed" if failed else "") if x
        )
        typer.echo(
            f"done: {len(outcomes) - failed} of {len(outcomes)} pictures{f' ({extra})' if extra else ''} -> {output}"
        )
    if failed:
        raise typer.Exit(code=1)


def _still_quality() -> int:
    from ..stills import QUALITY

    return QUALITY


def _run_still(input: str, output: str, options: RunOptions, *, quiet: bool, say_backend: bool) -> None:
    """`run photo.jpg -o sharp.png`: :func:`streamdeblur.stills.deblur_still`, with its final line."""
    from ..stills import deblur_still

    result = deblur_still(input, output, options, on_start=None if quiet else say)
    for w in result.warnings:
        say(f"warning: {w}")
    if not quiet:
        if say_backend:
            say(f"backend: {result.choice_reason or result.backend}")
        typer.echo(
            f"done: {result.width}x{result.height} picture in {result.seconds:.1f} s, backend {result.backend} on "
            f"{result.device} ({result.precision}) -> {result.output}"
        )


def _run_file(
    input: str, output: str, options: RunOptions, *, quiet: bool, say_backend: bool, progress_to: str | None = None
) -> None:
    """`run FILE`: :func:`streamdeblur.api.deblur_video`, with its progress line and final line, and
    with ``progress_to`` an FFmpeg-style progress report (:mod:`streamdeblur.progress_file`)."""
    from ..api import INPUT_STOPPED_EXIT, deblur_video, paced
    from ..errors import Cancelled
    from ..progress_file import ProgressFile, to_stdout

    line = None if quiet else _ProgressLine()
    report = ProgressFile(progress_to) if progress_to is not None else None
    shown = [f for f in (line, report) if f is not None]

    def progress(p: Progress) -> None:
        for f in shown:
            f(p)

    def ready(info: SourceInfo, be: Backend, plan: RunPlan) -> None:
        if quiet:
            return
        if say_backend:
            say(f"backend: {be.choice_reason or be.describe()}")
        total = info.expected_frames
        frames = f"{rate_text(info.fps)} fps, {total if total else 'unknown number of'} frames"
        if info.still:
            frames = "1 frame (the input's only video is a still picture, such as cover art)"
        part = _part(options)
        say(f"{info.width}x{info.height} {frames}{part} -> {output} ({be.describe()}, {plan.describe()})")
        if paced(options, output):
            say("sending at the input's own pace (--no-realtime: as fast as it is deblurred)")

    try:
        result = deblur_video(input, output, options, on_progress=progress if shown else None, on_ready=ready)
    except Cancelled as e:
        if line is not None:
            line.end()  # the progress line stays; the message goes below it
        say(str(e))
        raise typer.Exit(code=e.exit_code) from None
    finally:
        if line is not None:
            line.end()
        if report is not None:
            report.close()  # progress=end, whatever ended the run
    for w in result.warnings:
        say(f"warning: {w}")
    if not quiet:  # stdout carries the video with -o -: the line goes to stderr then
        typer.echo(
            f"done: {result.frames} frame{'s' if result.frames != 1 else ''} in {result.seconds:.1f} s "
            f"({result.fps:.2f} fps"
            + (f"; {result.stats.paced_seconds:.1f} s held to the input's pace" if result.stats.paced_seconds else "")
            + "), "
            + f"backend {result.backend} on {result.device} ({result.precision}"
            + (f"; compiled in {result.compile_seconds:.1f} s" if result.compile_seconds else "")
            + f") -> {redact(str(result.output))}",
            err=output == _STDIO or to_stdout(progress_to),  # stdout carries something else
        )
    if result.input_stopped:  # the output holds what was received; say so to scripts too
        raise typer.Exit(code=INPUT_STOPPED_EXIT)
    _record(input, result.output, options)


def _record(input: str, written: Path | str, options: RunOptions) -> None:
    """A file made whole from a file is recorded as a batch run's outputs are (:mod:`streamdeblur.batch.records`),
    so a batch run into its folder later takes it as done, not as a file made by hand."""
    from ..batch import records
    from ..video.urls import is_pipe, is_stream_output, is_url

    if any(f(str(s)) for s in (input, written) for f in (is_url, is_pipe, is_stream_output, is_sequence_output)):
        return
    records.write(written, records.settings(input, options), warn=False)  # a batch run would say it


def _part(options: RunOptions) -> str:
    """``, from 90 s for 10 s``: the part of the input a run deblurs, for its start line."""
    if options.start is None and options.duration is None:
        return ""
    begin = f" from {options.start:g} s" if options.start is not None else ""
    length = f" for {options.duration:g} s" if options.duration is not None else " to the end"
    return "," + begin + length


def _record_camera(camera: str, output: str, options: RunOptions, *, duration: float | None, quiet: bool) -> None:
    """`run --camera`: :func:`streamdeblur.recording.record_live`, with its lines."""
    from ..recording import record_live

    def opened(info: LiveInfo) -> None:
        if not quiet:
            say(
                f"recording {info.name} ({info.width}x{info.height}) -> {output}; Ctrl-C stops"
                + (f" (or after {duration:g} s)" if duration else "")
            )

    rec = record_live(
        None, output, camera=camera, duration=duration, on_open=opened,
        on_ready=None if quiet else lambda d: say(f"backend: {d}"),
        backend=options.backend, device=options.device, weights=options.weights,
        backend_options=options.backend_options, timeout=options.timeout, reconnect=options.reconnect,
        codec=options.codec, crf=options.crf, preset=options.preset, overwrite=options.overwrite,
        bitrate=options.bitrate, window=options.window,
    )  # fmt: skip
    if not quiet:
        typer.echo(
            f"done ({rec.stop_reason}): {rec.frames} frames of {rec.captured} captured ({rec.dropped} dropped) "
            f"in {rec.seconds:.1f} s, backend {rec.backend} -> {redact(str(rec.output))}"
        )


def rate_text(fps: float | None) -> str:
    """A frame rate as FFmpeg prints it: 29.97, 23.98, 59.94, 25, 120 (never 29.97 rounded to 30)."""
    v = round((fps or 0) * 100)
    if not v:
        return f"{fps or 0:.4f}"
    return f"{v / 100:.2f}" if v % 100 else f"{v // 100}"
