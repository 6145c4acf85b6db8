"""The ``streamdeblur`` command line. The only layer that prints, exits or draws progress.

Commands live in ``streamdeblur/commands/`` (one module each); importing a module
registers its command on :data:`~streamdeblur.commands.common.app`, and this file imports
them all. Every command is wrapped by ``user_errors``, which turns a
:class:`~streamdeblur.errors.StreamDeblurError` into one line on stderr and a non-zero
exit code (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

# each import registers its command (used for that alone); this order is the order `--help` lists them in
from .commands import bench, doctor, engine, models, preview, run  # noqa: F401
from .commands.common import app, user_errors

__all__ = ["app", "main", "user_errors"]


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
