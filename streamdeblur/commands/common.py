"""What every ``streamdeblur`` command shares: the typer ``app`` it registers on, the
error policy (:data:`user_errors`) and the options more than one command declares.

``streamdeblur/cli.py`` imports this module and then each command module; nothing here
imports ``cli.py``, and no library module imports ``commands/``. A command function is as
long as its options (typer reads them from its signature); its body stays short, the work
being one library call.
"""

from __future__ import annotations

import enum
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import __version__
from ..clitools import HELP_LAYOUT, CliErrors, one_line_usage_errors
from ..redact import redact

app = typer.Typer(
    name="streamdeblur",
    cls=one_line_usage_errors("streamdeblur"),
    help="Real-time video deblurring: files, streams and cameras through a DeblurGAN generator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    **HELP_LAYOUT,
)

#: the error policy; as a decorator on every command: library errors -> one line + exit code (see CliErrors)
user_errors = CliErrors("streamdeblur")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"streamdeblur {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks and debug logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    user_errors.set_debug(debug)


# --------------------------------------------------------------------------- option types
# str enums: typer lists the choices in --help and rejects anything else with exit 2.


class BackendName(str, Enum):
    """``--backend`` (one backend; ``bench`` takes a comma-separated list instead)."""

    auto = "auto"
    tensorrt = "tensorrt"
    torch = "torch"
    torch_compile = "torch-compile"
    onnxruntime = "onnxruntime"
    openvino = "openvino"


class DeviceName(str, Enum):
    """``--device``; left out, each backend takes its best."""

    cuda = "cuda"
    cpu = "cpu"


class PrecisionName(str, Enum):
    """``bench --precision`` (left out, each backend's own)."""

    fp16 = "fp16"
    fp32 = "fp32"
    bf16 = "bf16"


class FilePrecision(str, Enum):
    """``export`` and ``build-engine``: ONNX files and TensorRT engines are fp16 or fp32 (bf16 is
    OpenVINO's own, chosen when it compiles)."""

    fp16 = "fp16"
    fp32 = "fp32"


class OpenVINOPrecision(str, Enum):
    """``--openvino-precision``; left out, bf16 where the CPU runs it natively, else fp32."""

    fp32 = "fp32"
    bf16 = "bf16"


class OpenVINOHint(str, Enum):
    """``--openvino-hint``: OpenVINO's performance hint."""

    auto = "auto"
    latency = "latency"
    throughput = "throughput"


BACKEND_HELP = (
    "auto (the fastest that runs here; says which and why), tensorrt, torch, torch-compile (torch.compile), "
    "onnxruntime or openvino."
)
DEVICE_HELP = "cuda or cpu (default: the backend's best)."

# --------------------------------------------------------------------------- shared options

DeviceOption = Annotated[Optional[DeviceName], typer.Option("--device", help=DEVICE_HELP, show_default=False)]
MaxTileOption = Annotated[
    Optional[int],
    typer.Option(
        "--max-tile",
        min=16,
        help="Run frames larger than N pixels (height or width) as overlapping N x N tiles, blended without seams.",
        show_default=False,
    ),
]
ReconnectOption = Annotated[
    Optional[float],
    typer.Option(
        "--reconnect",
        min=0.1,
        max=86400,
        help=(
            "SECONDS: a stream or camera input that ends, breaks off or stops delivering frames (past --timeout), "
            "or a stream output whose server goes away, is opened again, every second for up to this long, and "
            "goes on (a drone's link that drops, a server that restarts)."
        ),
        show_default=False,
    ),
]


class View(str, enum.Enum):
    """What a picture of the run shows: the original and the deblurred frame side by side, a split wipe, or the
    deblurred frame only (``streamdeblur.video.compose``)."""

    side = "side"
    split = "split"
    deblurred = "deblurred"


class Deinterlace(str, enum.Enum):
    """``--deinterlace``: one progressive frame per interlaced frame, or one per field
    (``streamdeblur.video.deinterlace``)."""

    frame = "frame"
    field = "field"


DeinterlaceOption = Annotated[
    Optional[Deinterlace],
    typer.Option(
        "--deinterlace",
        help=(
            "Make interlaced video (1080i, 576i broadcast, camcorders) progressive before deblurring, with FFmpeg's "
            "bwdif: frame: one frame per frame (25i -> 25p); field: one per field (25i -> 50p, smoother motion, "
            "twice the frames). A progressive input is left as it is."
        ),
        show_default=False,
    ),
]


class Audio(str, enum.Enum):
    """``--audio``: what the output's audio is (``streamdeblur.video.audio.AUDIO_MODES``)."""

    copy = "copy"
    aac = "aac"
    opus = "opus"
    mp3 = "mp3"
    flac = "flac"
    none = "none"


AudioOption = Annotated[
    Optional[Audio],
    typer.Option(
        "--audio",
        help=(
            "copy (default): each audio stream untouched where the container takes it, else encoded again with the "
            "container's codec (AAC for MP4, Opus for WebM), with a warning; aac, opus, mp3, flac: every audio "
            "stream encoded so (FFmpeg's -c:a: AAC for an RTMP service from a G.711 camera); none: no audio (-an)."
        ),
        show_default=False,
    ),
]
StartOption = Annotated[
    Optional[str],
    typer.Option(
        "--start",
        help=(
            "Begin at this time of the input (seconds, MM:SS or HH:MM:SS.ms; FFmpeg's -ss): it seeks to the "
            "keyframe before, and what is kept, audio included, starts at 0. A file or recording, not a live stream."
        ),
        show_default=False,
    ),
]
WeightsOption = Annotated[
    Optional[Path],
    typer.Option(
        "--weights",
        "-w",
        help="A generator .safetensors, with its .json beside it (default: the shipped model).",
        dir_okay=False,
        show_default=False,
    ),
]
OpenVINOPrecisionOption = Annotated[
    Optional[OpenVINOPrecision],
    typer.Option(
        "--openvino-precision", envvar="STREAMDEBLUR_OPENVINO_PRECISION", case_sensitive=False, show_default=False,
        help="OpenVINO's precision: bf16 (default where the CPU has AVX512_BF16 or AMX) or fp32 (exact).",
    ),
]  # fmt: skip
OpenVINOHintOption = Annotated[
    OpenVINOHint,
    typer.Option(
        "--openvino-hint", envvar="STREAMDEBLUR_OPENVINO_HINT", case_sensitive=False,
        help="OpenVINO's performance hint: auto (latency for one frame, throughput for a batch), latency, throughput.",
    ),
]  # fmt: skip


def value(choice: Enum | None) -> str | None:
    """An enum option's string (``None`` stays ``None``), for the library calls."""
    return None if choice is None else str(choice.value)


def check_openvino_options(ctx: typer.Context, backend: str | None) -> None:
    """An :class:`InputError` for ``--openvino-precision`` / ``--openvino-hint`` typed on the command
    line with a ``--backend`` other than openvino (or auto, which may pick it): they would do nothing.
    Their environment variables stay quiet preferences."""
    if backend in (None, "auto", "openvino"):
        return
    from ..errors import InputError

    given = typed(ctx, "openvino_precision", "openvino_hint")
    if given:
        names = " and ".join(given)
        raise InputError(
            f"{names} {'is an OpenVINO setting' if len(given) == 1 else 'are OpenVINO settings'}; "
            f"--backend {backend} does not use {'it' if len(given) == 1 else 'them'}",
            f"drop {names}, or pass --backend openvino",
        )


def typed(ctx: typer.Context, *names: str) -> list[str]:
    """Of the parameters ``names``, those typed on the command line (not defaults, not environment
    variables), as their options: ``--openvino-hint``."""
    # (typer's own copy of click: its ParameterSource matched by name)
    sources = {n: ctx.get_parameter_source(n) for n in names}
    return ["--" + n.replace("_", "-") for n, s in sources.items() if s is not None and s.name == "COMMANDLINE"]


# --------------------------------------------------------------------------- what commands print


def say(msg: str) -> None:
    """One ``streamdeblur: MESSAGE`` line on stderr."""
    try:
        sys.stderr.write(f"streamdeblur: {redact(msg)}\n")
        sys.stderr.flush()
    except OSError:  # a terminal closed under the run (SIGHUP): the exit code still tells
        pass


def clock(seconds: float | None) -> str:
    """``75`` -> ``01:15``, ``3725`` -> ``1:02:05``; unknown -> ``--:--``."""
    if seconds is None:
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class StatusLine:
    """A progress line on stderr: one line rewritten in place on a terminal (4 times a
    second at most), a plain line every 5 s otherwise (logs stay readable)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.interval = 0.25 if self.tty else 5.0
        self.last = 0.0
        self.width = 0

    def due(self, final: bool = False) -> bool:
        """Whether a new line is due now (always for the ``final`` one); if so, the clock restarts."""
        now = time.monotonic()
        if now - self.last < self.interval and not final:
            return False
        self.last = now
        return True

    def show(self, line: str) -> None:
        try:
            if self.tty:
                sys.stderr.write("\r" + line + " " * max(0, self.width - len(line)))
                self.width = len(line)
            else:
                sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except OSError:  # a closed terminal (SIGHUP) must not fail the run and lose the partial
            pass

    def clear(self) -> None:
        """Erase the line (before a line of its own is printed); the next line is due at once."""
        self.last = 0.0
        if self.tty and self.width:
            self._write("\r" + " " * self.width + "\r")

    def end(self) -> None:
        """Leave the last line standing and move below it."""
        if self.tty and self.width:
            self._write("\n")

    def _write(self, text: str) -> None:
        self.width = 0
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except OSError:
            pass
