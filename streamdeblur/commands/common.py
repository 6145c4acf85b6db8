"""What every ``streamdeblur`` command shares: the typer ``app`` it registers on, the
error policy (:data:`user_errors`, :func:`fail`) and the option types.

``streamdeblur/cli.py`` imports this module and then each command module; nothing here
imports ``cli.py``, and no library module imports ``commands/``.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from .. import __version__
from ..clitools import CliErrors

app = typer.Typer(
    name="streamdeblur",
    help="Real-time video deblurring: files, streams and cameras through a DeblurGAN generator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

state = CliErrors("streamdeblur")
#: decorator for every command: library errors -> one line + exit code (see CliErrors)
user_errors = state
fail = state.fail


def _version(value: bool) -> None:
    if value:
        typer.echo(f"streamdeblur {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks and debug logs.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    state.set_debug(debug)


# --------------------------------------------------------------------------- option types
# str enums: typer lists the choices in --help and rejects anything else with exit 2.


class BackendName(str, Enum):
    """``--backend`` (one backend; ``bench`` takes a comma-separated list instead)."""

    auto = "auto"
    tensorrt = "tensorrt"
    torch = "torch"
    onnxruntime = "onnxruntime"
    openvino = "openvino"


class DeviceName(str, Enum):
    """``--device``; left out, each backend takes its best."""

    cuda = "cuda"
    cpu = "cpu"


BACKEND_HELP = "auto (the fastest that runs here; says which and why), tensorrt, torch, onnxruntime or openvino."
DEVICE_HELP = "cuda or cpu (default: the backend's best)."


def value(choice: Enum | None) -> str | None:
    """An enum option's string (``None`` stays ``None``), for the library calls."""
    return None if choice is None else str(choice.value)
