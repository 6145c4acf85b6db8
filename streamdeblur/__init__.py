"""streamdeblur: real-time video deblurring.

Library API (stable): ``streamdeblur.models.MODELS``, ``build_model``, ``load_generator``;
``streamdeblur.backends.BACKENDS``, ``create_backend``; ``streamdeblur.deblur_video``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "deblur_video"]


def __getattr__(name: str):  # lazy: importing the package must not import torch/av
    if name == "deblur_video":
        from .api import deblur_video

        return deblur_video
    raise AttributeError(name)
