"""One exception hierarchy for everything a user can get wrong or a machine can lack.

Every class subclasses both :class:`StreamDeblurError` (so the CLI can turn it into a
one-line message and an exit code) and the matching builtin (so library users can catch
``FileNotFoundError``, ``ValueError`` ... as they would anywhere else).

Messages are written for the user: what is wrong, then how to fix it, on one line.
"""

from __future__ import annotations


class StreamDeblurError(Exception):
    """Base class. ``fix`` is an optional hint appended to the message."""

    exit_code: int = 2

    def __init__(self, message: str, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message if fix is None else f"{message}; {fix}")

    def __str__(self) -> str:  # always one line
        text = self.message if self.fix is None else f"{self.message}; {self.fix}"
        return " ".join(text.split())


class InputNotFoundError(StreamDeblurError, FileNotFoundError):
    """An input file (video, weights, engine, dataset) does not exist."""


class InputError(StreamDeblurError, ValueError):
    """An input exists but cannot be used (not a video, zero frames, truncated ...)."""


class OutputExistsError(StreamDeblurError, FileExistsError):
    """The output exists and ``--overwrite`` was not given."""


class OutputError(StreamDeblurError, OSError):
    """The output cannot be written (folder missing or read-only, disk full ...)."""


class WeightsError(StreamDeblurError, ValueError):
    """Generator weights are missing, truncated, or of another architecture."""


class ModelNotFoundError(StreamDeblurError, KeyError):
    """An unknown model name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return StreamDeblurError.__str__(self)


class BackendUnavailableError(StreamDeblurError, RuntimeError):
    """An explicitly requested backend or device cannot run on this machine."""


class EngineMismatchError(StreamDeblurError, RuntimeError):
    """A TensorRT engine was built for another GPU, TensorRT version, model or shape range."""


class ShapeError(StreamDeblurError, ValueError):
    """A frame does not fit the engine's optimization profile."""


class FrameMemoryError(StreamDeblurError, MemoryError):
    """A frame does not fit in the memory this run may use (RAM, ``ulimit -v``, GPU memory)."""


class StreamTimeoutError(StreamDeblurError, TimeoutError):
    """A network stream or camera did not answer in time."""


class CameraError(StreamDeblurError, OSError):
    """A camera cannot be opened or disconnected."""


class DisplayUnavailableError(StreamDeblurError, RuntimeError):
    """No display for a preview window."""


class ClusterError(StreamDeblurError, RuntimeError):
    """Ray is not installed, a cluster cannot be reached, or it has no worker to run on."""


class DataError(StreamDeblurError, ValueError):
    """A training or evaluation dataset is missing, empty or inconsistent."""


class Cancelled(StreamDeblurError, KeyboardInterrupt):
    """The user stopped a run: Ctrl-C (SIGINT), or SIGTERM / SIGHUP under the CLI.

    ``signum`` is the signal that stopped it; ``exit_code`` is 128 + that signal, as a
    shell reports a process it ended (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
    """

    exit_code = 130

    def __init__(self, message: str, fix: str | None = None, *, signum: int = 2) -> None:
        super().__init__(message, fix)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by :func:`streamdeblur.signals.stop_on_signals` for SIGTERM
    or SIGHUP, so that they stop a run exactly as Ctrl-C's ``KeyboardInterrupt`` does."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        super().__init__(f"stopped by {signal_name(self.signum)}")


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15 and so on (the number itself for an unknown one)."""
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
