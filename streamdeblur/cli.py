"""The ``streamdeblur`` command line. The only layer that prints, exits or draws progress.

Commands live in ``streamdeblur/commands/`` (one module each) and register on ``app``
here; every command is wrapped by :func:`user_errors`, which turns a
:class:`~streamdeblur.errors.StreamDeblurError` into one line on stderr and a non-zero
exit code (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import __version__
from .clitools import CliErrors

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


# Command modules register themselves on `app` when imported.
from .commands import doctor  # noqa: E402,F401
from .commands import run  # noqa: E402,F401
from .commands import engine  # noqa: E402,F401
from .commands import preview  # noqa: E402,F401
from .commands import bench  # noqa: E402,F401
from .commands import models  # noqa: E402,F401


def main() -> None:
    try:
        app()
    except SystemExit as e:
        # an interrupted run is finished and synced: exit now, not after a stage still
        # inside one inference call or the interpreter's teardown (streamdeblur.signals)
        from .signals import exit_now_if_interrupted

        exit_now_if_interrupted(e.code)
        raise


if __name__ == "__main__":
    main()
