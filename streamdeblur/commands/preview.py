"""`streamdeblur preview`: watch a camera, stream or file deblurred live, in a window or a browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from ..signals import stop_on_signals
from .common import (
    BACKEND_HELP,
    BackendName,
    DeinterlaceOption,
    DeviceOption,
    OpenVINOHint,
    OpenVINOHintOption,
    OpenVINOPrecisionOption,
    ReconnectOption,
    View,
    WeightsOption,
    app,
    check_openvino_options,
    say,
    user_errors,
    value,
)


@app.command()
@user_errors
@stop_on_signals()  # SIGTERM / SIGHUP (systemd, docker stop) end a preview as Ctrl-C does: the recording kept
def preview(
    ctx: typer.Context,
    input: Annotated[
        Optional[str],
        typer.Argument(
            help=(
                "A video file, a picture (.jpg, .png ...: shown upright until you quit), an image sequence "
                "(shot_%04d.png, played at 25 fps) or a stream URL (rtsp://, http://, ...). Leave out with --camera."
            ),
            show_default=False,
        ),
    ] = None,
    camera: Annotated[
        Optional[str],
        typer.Option(
            "--camera", "-c", help="Camera index (0, 1, ...) or device path (/dev/video2).", show_default=False
        ),
    ] = None,
    loop: Annotated[
        bool, typer.Option("--loop", help="Play a FILE input again from the start when it ends (a stand-in camera).")
    ] = False,
    start: Annotated[
        Optional[str],
        typer.Option(
            "--start",
            help=(
                "Begin at this time of a file (seconds, MM:SS or HH:MM:SS.ms; FFmpeg's -ss): it seeks to the "
                "keyframe before and shows from there (each --loop too). Not a live stream or a picture."
            ),
            show_default=False,
        ),
    ] = None,
    deinterlace: DeinterlaceOption = None,
    view: Annotated[
        View,
        typer.Option(
            "--view", help="side: original | deblurred; split: a wipe; deblurred: the result only. 'v' cycles."
        ),
    ] = View.side,
    record: Annotated[
        Optional[str],
        typer.Option(
            "--record",
            help=(
                "Also write the deblurred stream to this file (capture-clock timestamps), or send it to a stream "
                "URL (rtmp://, udp://, tcp://, srt://): the frames shown, video only (run keeps the audio)."
            ),
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the --record file if it exists.")] = False,
    serve: Annotated[
        Optional[str],
        typer.Option(
            "--serve",
            help=(
                "No window: serve the view as MJPEG + a web page on [HOST:]PORT (default host 127.0.0.1; "
                "0.0.0.0 exposes it)."
            ),
            show_default=False,
        ),
    ] = None,
    max_frames: Annotated[
        Optional[int],
        typer.Option("--max-frames", min=1, help="Stop after this many frames shown.", show_default=False),
    ] = None,
    backend: Annotated[BackendName, typer.Option("--backend", help=BACKEND_HELP)] = BackendName.auto,
    device: DeviceOption = None,
    weights: WeightsOption = None,
    openvino_precision: OpenVINOPrecisionOption = None,
    openvino_hint: OpenVINOHintOption = OpenVINOHint.auto,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Seconds to wait for a camera/stream to open or deliver a frame before giving up.",
        ),
    ] = 10.0,
    reconnect: ReconnectOption = None,
    snapshot_dir: Annotated[Path, typer.Option("--snapshot-dir", file_okay=False, help="Where 's' saves PNGs.")] = Path(
        "."
    ),
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the run's figures (FPS, latency median/p99, dropped) as JSON on stdout."),
    ] = False,
) -> None:
    """Show a camera, stream or file deblurred live: original | deblurred, FPS and latency.

    The newest frame always wins: frames that arrive while one is being deblurred are
    dropped before inference (and counted), so delay never builds up. Keys in the window:
    q/Esc quit, space pause, v cycles the view, s saves a PNG. A camera that cannot be
    opened or stops delivering frames is an error, unless --reconnect (then it is opened again,
    and said so).

    Examples: streamdeblur preview --camera 0 |
    streamdeblur preview clip.mp4 --loop --view split |
    streamdeblur preview rtsp://cam.local/stream --serve 8080
    """
    from ..backends import BackendOptions
    from ..preview import preview_live
    from ..video.trim import parse_time

    if (input is None) == (camera is None):
        raise InputError("give a FILE or URL, or --camera INDEX|DEVICE (exactly one)")
    check_openvino_options(ctx, value(backend))
    backend_options = BackendOptions(openvino_precision=value(openvino_precision), openvino_hint=openvino_hint.value)
    result = preview_live(
        input, camera=camera, loop=loop, start=None if start is None else parse_time(start, "--start"),
        deinterlace=value(deinterlace),
        view=view.value, record=record, overwrite=overwrite, serve=serve,
        max_frames=max_frames, backend=value(backend) or "auto", device=value(device), backend_options=backend_options,
        weights=weights, timeout=timeout, reconnect=reconnect, snapshot_dir=snapshot_dir, on_event=say,
    )  # fmt: skip
    s = result.stats.summary()
    say(
        f"{s['stop_reason']}: {s['frames_shown']} frames shown of {s['frames_in']} captured ({s['dropped']} dropped) "
        f"in {s['elapsed_s']:.1f} s; output {s['output_fps'] or 0:.1f} fps; "
        f"latency median {s['latency_ms_median'] or 0:.0f} ms, p99 {s['latency_ms_p99'] or 0:.0f} ms"
    )
    if result.record is not None:
        say(f"recorded {result.recorded} frames to {record}")
    if as_json:
        typer.echo(json.dumps(s))
