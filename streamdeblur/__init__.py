"""streamdeblur: real-time video deblurring.

Library API (stable): ``streamdeblur.models.MODELS``, ``build_model``, ``load_generator``;
``streamdeblur.backends.BACKENDS``, ``create_backend``, ``BackendOptions``;
``streamdeblur.deblur_video`` with its ``RunOptions``; ``streamdeblur.deblur_frames`` (the
deblurred frames, for your own code).
"""

from __future__ import annotations

import sys
from typing import Any

# Importing OpenVINO sends a usage event (openvino_telemetry) from a child process it forks off a thread.
# Forked while a reader thread holds PyAV's (18.1.1+) per-thread swscale context, that child hangs in its
# after-fork cleanup; it inherits `run`'s SIGTERM handler, so the telemetry's terminate() cannot end it,
# and the process then waited for it at exit for ever. streamdeblur sends nothing: with the module
# blocked, OpenVINO uses its own no-op stub (openvino.tools.ovc.telemetry_stub).
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]

__version__ = "0.1.0"

__all__ = ["BackendOptions", "RunOptions", "__version__", "deblur_frames", "deblur_video"]


def __getattr__(name: str) -> Any:  # lazy: importing the package must not import torch/av
    if name in ("deblur_video", "deblur_frames", "RunOptions"):
        from . import api

        return getattr(api, name)
    if name == "BackendOptions":
        from .backends.options import BackendOptions

        return BackendOptions
    raise AttributeError(name)
