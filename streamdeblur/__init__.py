"""streamdeblur: real-time video deblurring.

Library API (stable): ``streamdeblur.models.MODELS``, ``build_model``, ``load_generator``;
``streamdeblur.backends.BACKENDS``, ``create_backend``, ``BackendOptions``;
``streamdeblur.deblur_video`` with its ``RunOptions``; ``streamdeblur.deblur_frames`` (the
deblurred frames, for your own code).
"""

from __future__ import annotations

from typing import Any

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
