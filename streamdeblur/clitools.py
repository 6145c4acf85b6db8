"""What both command lines (``streamdeblur`` and ``streamdeblur-train``) share: turning
errors into one line and an exit code, the library's (:class:`CliErrors`) and typer's own
usage errors (:func:`one_line_usage_errors`). CLI layer: it may print and exit."""

from __future__ import annotations

import functools
import inspect
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from .errors import Interrupted, StreamDeblurError
from .redact import redact

F = TypeVar("F", bound=Callable[..., Any])


class _Redacting(logging.Formatter):
    """Log lines with the URLs' passwords and tokens hidden (:func:`streamdeblur.redact.redact`). With
    ``prog`` (no --debug), this project's own warnings read as its other messages do,
    ``PROG: warning: ...``; with --debug, and for other libraries, ``LEVEL logger: ...``."""

    def __init__(self, prog: str | None = None) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        if self.prog and record.name.split(".")[0] in ("streamdeblur", "trainer"):
            return redact(f"{self.prog}: {record.levelname.lower()}: {record.getMessage()}")
        return redact(super().format(record))


class CliErrors:
    """Per-program error policy: a ``user_errors`` decorator, ``fail()``, and the ``--debug`` flag.

    Library errors (:class:`StreamDeblurError`) become one line on stderr and their exit
    code; Ctrl-C exits 130 (SIGTERM 143, SIGHUP 129); anything else is an internal error, still one line, unless
    ``debug`` is set, which shows the traceback instead.
    """

    def __init__(self, prog: str, interrupted: str | Callable[[], str] = "interrupted") -> None:
        self.prog = prog
        self.interrupted = interrupted
        self.debug = False

    def fail(self, message: str, code: int = 2) -> typer.Exit:
        """Print one error line and return the Exit to raise."""
        sys.stderr.write(f"{self.prog}: error: {redact(' '.join(message.split()))}\n")
        sys.stderr.flush()
        return typer.Exit(code=code)

    def set_debug(self, debug: bool) -> None:
        self.debug = debug
        handler = logging.StreamHandler()
        handler.setFormatter(_Redacting(None if debug else self.prog))
        logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler])

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
                code = e.exit_code if isinstance(e, Interrupted) else 130
                said = self.interrupted() if callable(self.interrupted) else self.interrupted  # as things are then
                raise self.fail(said if code == 130 else f"{said} ({e})", code) from None
            except Exception as e:  # an internal error: still one line unless --debug
                if self.debug:
                    raise
                raise self.fail(
                    f"internal error: {e.__class__.__name__}: {e} (run with --debug for the traceback and report it)", 1
                ) from None

        return wrapper  # type: ignore[return-value]


#: --help in click's plain layout, not typer's boxes: with 45 options, the boxes leave an option's help 17
#: columns in an 80-column terminal (one word a line) and 46 in 140; plain gives it 46 in 80 and 66 from 100
HELP_LAYOUT: dict[str, Any] = {
    "rich_markup_mode": None,
    "context_settings": {"help_option_names": ["-h", "--help"], "max_content_width": 100},
}


def one_line_usage_errors(prog: str) -> type[TyperGroup]:
    """The click group class for a typer app whose usage errors (a value not among an
    option's choices, a missing argument, an unknown option) are one line on stderr,
    ``PROG: error: WHAT; see PROG CMD --help``, and exit 2, as the library's errors are,
    instead of typer's boxed usage text. Pass it as ``typer.Typer(cls=..., **HELP_LAYOUT)``."""

    class OneLineUsageGroup(TyperGroup):
        def main(
            self,
            args: Any = None,
            prog_name: str | None = None,
            complete_var: str | None = None,
            standalone_mode: bool = True,
            **extra: Any,
        ) -> Any:
            for cmd in self.commands.values():  # typer keeps a docstring's line breaks: reflowed once
                if cmd.help and not getattr(cmd, "_reflowed", False):
                    cmd.help = reflow_help(cmd.help)
                    cmd._reflowed = True  # type: ignore[attr-defined]
                    if cmd.short_help is None:  # --help's command list: the first paragraph
                        cmd.short_help = cmd.help.split("\n\n")[0]
            if not standalone_mode:
                return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            try:
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            except typer.Abort:
                sys.stderr.write(f"{prog}: error: aborted\n")
                sys.exit(1)
            except Exception as e:
                # click's exceptions (typer bundles its own copy of click, so matched by what
                # they carry, not by class): a usage error also knows its command
                if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
                    raise
                if type(e).__name__ == "NoArgsIsHelpError":  # no command given: the help, as typer shows it
                    return super().main(args, prog_name, complete_var, standalone_mode=True, **extra)
                ctx = getattr(e, "ctx", None)
                hint = f"; see {ctx.command_path} --help" if ctx is not None else ""
                if ctx is not None:
                    hint = _output_without_o(e, sys.argv[1:] if args is None else args, ctx.command_path) or hint
                what = " ".join(e.format_message().replace("Value error, ", "").split()).rstrip(".")
                sys.stderr.write(f"{prog}: error: {what}{hint}\n")
                sys.exit(e.exit_code)
            sys.exit(rv if isinstance(rv, int) else 0)

    return OneLineUsageGroup


def reflow_help(text: str) -> str:
    """A command's docstring as its --help shows it: each paragraph one line, for the terminal to wrap
    (typer keeps a docstring's line breaks, which cut an 80-column help into ragged half lines), and an
    ``Examples:`` paragraph (examples separated by ``|``) one example a line, indented (click's ``\\b``
    keeps its lines)."""
    paragraphs = []
    for para in inspect.cleandoc(text).split("\n\n"):
        head, colon, rest = para.partition(":")
        if colon and head in ("Example", "Examples"):
            examples = [" ".join(e.split()) for e in rest.split("|")]
            paragraphs.append("\b\n" + head + ":\n" + "\n".join(f"  {e}" for e in examples if e))
        else:
            paragraphs.append(" ".join(para.split()))
    return "\n\n".join(p for p in paragraphs if p)


def _output_without_o(e: Exception, args: Sequence[str], command_path: str) -> str | None:
    """``run in.mp4 out.mp4``, FFmpeg's order without its ``-o``: the fix, spelled out. Only where ``-o``
    is the option missing and the last word names no existing file but looks like an output (a file
    name with an extension, a URL, or a folder ending in ``/``)."""
    param = getattr(e, "param", None)
    if type(e).__name__ != "MissingParameter" or "-o" not in getattr(param, "opts", ()):
        return None
    words = [str(w) for w in args]
    if len(words) < 3 or words[-1].startswith("-") or os.path.exists(words[-1]):
        return None
    last = words[-1]
    if not (os.path.splitext(last)[1] or "://" in last or last.endswith("/")):
        return None
    name = command_path.split()[-1]  # the words after the command's own name, as typed
    if name not in words[:-1]:
        return None
    given = words[words.index(name) + 1 :]
    fixed = " ".join(shlex.quote(w) for w in [*given[:-1], "-o", last])
    return f"; to write {last}, put -o before it: {command_path} {fixed}"
