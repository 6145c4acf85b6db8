"""SIGTERM and SIGHUP end a run as Ctrl-C does.

``docker stop``, systemd, job schedulers and a closed terminal send SIGTERM or SIGHUP,
whose default action kills the process at once, leaving the sink's hidden temporary file
behind. Inside :func:`stop_on_signals` they raise :class:`~streamdeblur.errors.Interrupted`
(a ``KeyboardInterrupt``) in the main thread instead, so every ``except KeyboardInterrupt``
path that makes Ctrl-C clean (the pipeline stops its stages, the frames done are
finished into ``NAME.partial.EXT``) serves them too, and the exit code is 128 + the signal.

:func:`exit_now_if_interrupted` is for the very end of the command line: after an
interrupted run, a pipeline stage may still be inside one inference call (seconds, on a
CPU, for a large batch) that nothing can cut short, and tearing the interpreter down
takes longer than the promised second; the output is already finished and synced, so
the process exits without waiting for either.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

from .errors import Interrupted

#: the signals that stop a run like Ctrl-C (SIGINT itself is Python's KeyboardInterrupt)
STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


#: the stop signals received inside :func:`stop_on_signals` (emptied as it starts): Ray's ``ray.wait`` and
#: ``ray.get`` raise a plain ``KeyboardInterrupt`` in place of the handler's :class:`Interrupted`, so the
#: signal that stopped a ``--cluster`` run is found here (it exited 130 for a SIGTERM)
_received: list[int] = []


def received_stop_signal() -> int | None:
    """The first SIGTERM or SIGHUP that :func:`stop_on_signals` turned into :class:`Interrupted`, if any."""
    return _received[0] if _received else None


def _raise_interrupted(signum: int, frame: object) -> None:
    _received.append(signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_on_signals(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Within the block, ``signals`` raise :class:`Interrupted` in the main thread.

    Outside the main thread (where Python cannot install handlers) it does nothing. The
    previous handlers come back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    _received.clear()
    try:
        for s in signals:
            previous[s] = signal.signal(s, _raise_interrupted)
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


#: exit codes of a run stopped by a signal (128 + SIGHUP, SIGINT, SIGTERM)
INTERRUPTED_CODES = (129, 130, 143)


def exit_now_if_interrupted(code: int | str | None) -> None:
    """At the very end of the command line: after an interrupted run, exit at once.

    The output is finished and synced and the last line printed; what remains is the
    interpreter's teardown (PyTorch, ONNX Runtime, OpenVINO and their thread pools:
    0.5-2 s on a loaded machine) and possibly a stage still inside one long inference
    call. README promises that Ctrl-C ends a run within a second, so: flush, run the
    atexit handlers, and ``os._exit``. Returns (does nothing) for any other exit code.
    """
    if code not in INTERRUPTED_CODES:
        return
    import atexit

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)  # type: ignore[arg-type]
