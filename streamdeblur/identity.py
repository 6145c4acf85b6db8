"""A generator's identity: what it *is* (architecture, arguments, every tensor: the
digest :func:`weights_sha256`), what to pass to ``--model`` / ``--weights`` to load it
again (:func:`model_source`), and :class:`ModelInfo`, the facts an ONNX export or a
TensorRT engine records about the generator it was made from.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import InputError
from .models import Generator


def weights_sha256(generator: Generator) -> str:
    """A digest of the architecture, its args and every tensor: what the generator *is*.

    Independent of where (or whether) the weights live on disk, so an in-memory
    generator gets a cache key too.
    """
    h = hashlib.sha256()
    h.update(json.dumps({"arch": generator.arch, "args": generator.arch_args}, sort_keys=True).encode())
    for name, t in sorted(generator.state_dict().items()):
        t = t.detach().to("cpu", torch.float32).contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def model_source(generator: Generator) -> str:
    """What to pass to ``--model`` / ``--weights`` to rebuild for ``generator``."""
    src = generator.source  # set by models.load_generator for a file
    if not src:
        return generator.arch
    from .models import shipped_weights

    if Path(src).resolve() == shipped_weights(generator.arch).resolve():
        return generator.arch
    return str(src)


@dataclass(frozen=True)
class ModelInfo:
    """What an engine needs to know of its generator (from the generator or an ONNX's metadata)."""

    arch: str
    args: dict[str, Any]
    size_multiple: int
    min_size: int
    weights_sha256: str
    source: str  # what to pass to --model / --weights to rebuild

    @classmethod
    def of(cls, generator: Generator) -> ModelInfo:
        return cls(
            generator.arch,
            dict(generator.arch_args),
            generator.size_multiple,
            generator.min_size,
            weights_sha256(generator),
            model_source(generator),
        )

    @classmethod
    def from_metadata(cls, meta: dict[str, str], path: str | os.PathLike[str]) -> ModelInfo:
        """From the metadata of the ONNX export at ``path`` (:func:`~streamdeblur.onnx_export.onnx_metadata`)."""
        need = ("arch", "args", "size_multiple", "min_size", "weights_sha256")
        if any(f"streamdeblur.{k}" not in meta for k in need):
            raise InputError(
                f"{path} is not a streamdeblur export (its metadata lacks the generator's arch, args and padding)",
                "export it with `streamdeblur export --format onnx`, or pass --model / --weights",
            )
        return cls(
            meta["streamdeblur.arch"],
            json.loads(meta["streamdeblur.args"]),
            int(meta["streamdeblur.size_multiple"]),
            int(meta["streamdeblur.min_size"]),
            meta["streamdeblur.weights_sha256"],
            meta["streamdeblur.arch"],
        )
