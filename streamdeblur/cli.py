"""The ``streamdeblur`` command line. The only layer that prints, exits or draws progress.

Commands live in ``streamdeblur/commands/`` (one module each) and register on ``app``
here; every command is wrapped by :func:`user_errors`, which turns a
:class:`~streamdeblur.errors.StreamDeblurError` into one line on stderr and a non-zero
exit code (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from . import __version__
from .errors import StreamDeblurError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="streamdeblur",
    help="Real-time video deblurring: files, streams and cameras through a DeblurGAN generator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _State:
    debug = False


state = _State()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    sys.stderr.write(f"streamdeblur: error: {' '.join(message.split())}\n")
    sys.stderr.flush()
    return typer.Exit(code=code)


def user_errors(fn: F) -> F:
    """Turn library errors into one line and an exit code; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except StreamDeblurError as e:
            if state.debug:
                raise
            raise fail(str(e), e.exit_code) from None
        except KeyboardInterrupt:
            if state.debug:
                raise
            raise fail("interrupted", 130) from None
        except Exception as e:  # an internal error: still one line unless --debug
            if state.debug:
                raise
            raise fail(f"internal error: {e.__class__.__name__}: {e} (run with --debug for the traceback and report it)", 1) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"streamdeblur {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks and debug logs.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    state.debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# Command modules register themselves on `app` when imported.
from .commands import doctor  # noqa: E402,F401
from .commands import run  # noqa: E402,F401
from .commands import engine  # noqa: E402,F401
from .commands import preview  # noqa: E402,F401
from .commands import bench  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
