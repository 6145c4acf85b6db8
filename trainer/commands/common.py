"""What every ``streamdeblur-train`` command shares: the typer ``app``, the error policy
(:data:`user_errors`), the fixed-choice option types and small helpers.

Errors from the library (:class:`~streamdeblur.errors.StreamDeblurError`) become one line
on stderr and a non-zero exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import math
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from streamdeblur.clitools import HELP_LAYOUT, CliErrors, one_line_usage_errors
from streamdeblur.fileio import write_atomic

from ..losses import CONTENT_LOSSES, PIXEL_LOSSES
from ..synth import BLUR_KINDS

PROG = "streamdeblur-train"

app = typer.Typer(
    name=PROG,
    cls=one_line_usage_errors(PROG),
    help="Train, evaluate and export streamdeblur's DeblurGAN generators.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    **HELP_LAYOUT,
)

#: the error policy; as a decorator on every command: library errors -> one line + exit code (see CliErrors)
user_errors = CliErrors(PROG)  # `train` names its own checkpoint in the Ctrl-C line (user_errors.interrupted)


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks and debug logs.")] = False) -> None:
    user_errors.set_debug(debug)


# --------------------------------------------------------------------------- option types
# str enums: typer lists the choices in --help and rejects anything else with exit 2.


class Device(str, Enum):
    """``--device`` of train and eval."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


#: ``--content``: the content losses of :mod:`trainer.losses`
Content = Enum("Content", {k: k for k in CONTENT_LOSSES}, type=str)
#: ``--pixel-loss``: the pixel losses of :mod:`trainer.losses`
PixelLoss = Enum("PixelLoss", {k: k for k in PIXEL_LOSSES}, type=str)


#: ``--kind`` of pool-eval: the blur kinds an eval reports (a set's own recordings are ``real``)
Kind = Enum("Kind", {k: k for k in (*BLUR_KINDS, "real")}, type=str)


# --------------------------------------------------------------------------- helpers


def progress_bar(*columns: Any, transient: bool = False) -> Any:
    """A rich ``Progress`` on stderr that ends with nothing where it showed nothing. rich's ends its
    display with a line break where stderr is no terminal (a pipe, a log file, a test), even a display
    that showed nothing (transient, or before the first task): every error of train and make-data
    began with a blank line, the one-line error two lines."""
    from rich.console import Console
    from rich.progress import Progress

    class Bar(Progress):
        def stop(self) -> None:
            showed = not self.live.transient and bool(self.tasks)  # what rich leaves there when it stops
            if self.disable or showed:
                super().stop()
            else:
                self.live.stop()

    return Bar(*columns, console=Console(stderr=True), transient=transient)


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def finite(param: typer.CallbackParam, value: float | None) -> float | None:
    """``typer.Option(callback=finite)``: NaN or infinity refused as a range refuses a number out of it (NaN
    passes ``min=``/``max=``: every comparison with it is False)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number", param=param)
    return value


def float_pair(text: str, option: str, example: str = "0.5,3") -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r} is not LO,HI (e.g. {example})") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):  # nan passes every range check
        raise typer.BadParameter(f"{option} {text!r} is not LO,HI of finite numbers (e.g. {example})")
    return lo, hi


def write_json(path: Path, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON through a temporary file (replacing any file there), and say so."""
    write_atomic(path, (json.dumps(obj, indent=indent) + "\n").encode(), replace=True)
    typer.echo(f"wrote {path}")


def report(text: str, result: Any, json_out: Path | None) -> None:
    """Print a tool's ``text``; with ``--json``, also write its ``result`` there."""
    typer.echo(text)
    if json_out:
        write_json(json_out, result, indent=1)
