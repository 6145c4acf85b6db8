"""`streamdeblur preview`: watch a camera, stream or file deblurred live, in a window or a browser."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import app, fail, user_errors


class View(str, enum.Enum):
    side = "side"
    split = "split"
    deblurred = "deblurred"


def _say(msg: str) -> None:
    sys.stderr.write(f"streamdeblur: {msg}\n")
    sys.stderr.flush()


@app.command()
@user_errors
def preview(
    input: Annotated[Optional[str], typer.Argument(help="A video file or a stream URL (rtsp://, http://, ...). Leave out with --camera.", show_default=False)] = None,
    camera: Annotated[Optional[str], typer.Option("--camera", "-c", help="Camera index (0, 1, ...) or device path (/dev/video2).", show_default=False)] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Play a FILE input again from the start when it ends (a stand-in camera).")] = False,
    view: Annotated[View, typer.Option("--view", help="side: original | deblurred; split: a wipe; deblurred: the result only. 'v' cycles.")] = View.side,
    record: Annotated[Optional[Path], typer.Option("--record", help="Also write the deblurred stream to this file (capture-clock timestamps).", dir_okay=False, show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the --record file if it exists.")] = False,
    serve: Annotated[Optional[str], typer.Option("--serve", help="No window: serve the view as MJPEG + a web page on [HOST:]PORT (default host 127.0.0.1; 0.0.0.0 exposes it).", show_default=False)] = None,
    max_frames: Annotated[Optional[int], typer.Option("--max-frames", min=1, help="Stop after this many frames shown.", show_default=False)] = None,
    backend: Annotated[str, typer.Option("--backend", help="auto, torch, onnxruntime or tensorrt.")] = "auto",
    device: Annotated[Optional[str], typer.Option("--device", help="cuda or cpu (default: the backend's best).", show_default=False)] = None,
    weights: Annotated[Optional[Path], typer.Option("--weights", help="Generator .safetensors (default: the shipped model).", show_default=False)] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for a camera/stream to open or deliver a frame before giving up.")] = 10.0,
    snapshot_dir: Annotated[Path, typer.Option("--snapshot-dir", file_okay=False, help="Where 's' saves PNGs.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the run's figures (FPS, latency median/p99, dropped) as JSON on stdout.")] = False,
) -> None:
    """Show a camera, stream or file deblurred live: original | deblurred, FPS and latency.

    The newest frame always wins: frames that arrive while one is being deblurred are
    dropped before inference (and counted), so delay never builds up. Keys in the window:
    q/Esc quit, space pause, v cycles the view, s saves a PNG. A camera that cannot be
    opened or stops delivering frames is an error (no silent reconnection).

    Examples: streamdeblur preview --camera 0 |
    streamdeblur preview clip.mp4 --loop --view split |
    streamdeblur preview rtsp://cam.local/stream --serve 8080
    """
    from ..backends import create_backend
    from ..models import load_generator
    from ..preview import PreviewConfig, run_preview
    from ..video.camera import open_live, sink_info

    if (input is None) == (camera is None):
        raise fail("give a FILE or URL, or --camera INDEX|DEVICE (exactly one)")
    viewers: list = []
    server = None
    if serve is not None:
        from ..video.mjpeg import parse_serve_address

        try:
            host, port = parse_serve_address(serve)
        except ValueError as e:
            raise fail(str(e)) from None
    else:
        from ..errors import DisplayUnavailableError
        from ..video.preview_window import display_problem

        problem = display_problem()
        if problem:  # before loading a model or opening a camera
            raise DisplayUnavailableError(f"cannot open a preview window: {problem}", "use --serve [HOST:]PORT to watch the preview in a browser instead")
    if record is not None:
        from ..video.sinks import check_output

        check_output(record, overwrite=overwrite)

    generator = load_generator(weights if weights is not None else None)
    source = open_live(input, camera=camera, loop=loop, timeout=timeout)  # a missing camera fails before the backend loads
    try:
        engine = create_backend(backend, generator, device)
    except BaseException:
        source.close()
        raise
    _say(f"backend: {engine.describe()} ({getattr(engine, 'choice_reason', backend)})")
    recorder = None
    owned = False
    try:
        info = source.info
        _say(f"input: {info.name} ({info.kind}, {info.width}x{info.height}" + (f", {info.fps:.2f} fps)" if info.fps else ")"))
        if serve is not None:
            from ..video.mjpeg import MjpegServer

            server = MjpegServer(host, port)
            viewers.append(server)
            _say(f"serving the preview at {server.url} (Ctrl-C stops)")
            if host not in ("127.0.0.1", "localhost", "::1"):
                _say(f"note: listening on {host}, so anyone who can reach this machine can watch; omit the host to keep it on 127.0.0.1")
        else:
            from ..video.preview_window import PreviewWindow

            viewers.append(PreviewWindow())
            _say("keys: q/Esc quit, space pause, v view, s save PNG")
        if record is not None:
            from ..video.sinks import FileSink

            recorder = FileSink(record, sink_info(info), overwrite=overwrite)
        config = PreviewConfig(view=view.value, max_frames=max_frames, timeout=timeout, snapshot_dir=snapshot_dir)
        owned = True  # from here run_preview closes the source (from its capture thread)
        stats = run_preview(
            source,
            lambda im: engine.process(im[None])[0],
            viewers,
            config,
            describe=engine.describe(),
            recorder=recorder,
            on_event=_say,
        )
    except BaseException:
        for v in viewers:
            v.close()
        if recorder is not None:
            recorder.abort()
        if not owned:
            source.close()
        raise
    finally:
        engine.close()
    s = stats.summary()
    _say(
        f"{s['stop_reason']}: {s['frames_shown']} frames shown of {s['frames_in']} captured ({s['dropped']} dropped) in {s['elapsed_s']:.1f} s; "
        f"output {s['output_fps'] or 0:.1f} fps; latency median {s['latency_ms_median'] or 0:.0f} ms, p99 {s['latency_ms_p99'] or 0:.0f} ms"
    )
    if record is not None:
        _say(f"recorded {recorder.frames_written} frames to {record}")  # type: ignore[union-attr]
    if as_json:
        typer.echo(json.dumps(s))
