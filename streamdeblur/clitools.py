"""What both command lines (``streamdeblur`` and ``streamdeblur-train``) share: turning
errors into one line and an exit code. CLI layer: it may print and exit."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from .errors import StreamDeblurError

F = TypeVar("F", bound=Callable[..., Any])


class CliErrors:
    """Per-program error policy: a ``user_errors`` decorator, ``fail()``, and the ``--debug`` flag.

    Library errors (:class:`StreamDeblurError`) become one line on stderr and their exit
    code; Ctrl-C exits 130 (SIGTERM 143, SIGHUP 129); anything else is an internal error, still one line, unless
    ``debug`` is set, which shows the traceback instead.
    """

    def __init__(self, prog: str, interrupted: str = "interrupted") -> None:
        self.prog = prog
        self.interrupted = interrupted
        self.debug = False

    def fail(self, message: str, code: int = 2) -> typer.Exit:
        """Print one error line and return the Exit to raise."""
        sys.stderr.write(f"{self.prog}: error: {' '.join(message.split())}\n")
        sys.stderr.flush()
        return typer.Exit(code=code)

    def set_debug(self, debug: bool) -> None:
        self.debug = debug
        logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except typer.Exit:
                raise
            except typer.BadParameter as e:  # a bad option value found in the command's body
                raise self.fail(e.format_message(), 2) from None
            except StreamDeblurError as e:
                if self.debug:
                    raise
                raise self.fail(str(e), e.exit_code) from None
            except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP as streamdeblur.signals.Interrupted
                if self.debug:
                    raise
                code = getattr(e, "exit_code", 130)
                raise self.fail(self.interrupted if code == 130 else f"{self.interrupted} ({e})", code) from None
            except Exception as e:  # an internal error: still one line unless --debug
                if self.debug:
                    raise
                raise self.fail(f"internal error: {e.__class__.__name__}: {e} (run with --debug for the traceback and report it)", 1) from None

        return wrapper  # type: ignore[return-value]
