"""ONNX Runtime backend: the generator's exported core network, on the CPU (or CUDA EP).

The ONNX holds ``forward_padded`` only (see :mod:`streamdeblur.engines`), so this backend
pads each batch with the same ``pad_to_multiple`` PyTorch uses and crops the result.
The ONNX is exported once per generator into the cache (keyed by the weights' sha256),
or taken from ``onnx=PATH``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import BackendUnavailableError, InputError
from ..models import Generator, pad_to_multiple
from .base import Backend


def _providers() -> list[str]:
    try:
        import onnxruntime as ort
    except Exception:
        return []
    return list(ort.get_available_providers())


class OnnxRuntimeBackend(Backend):
    name: ClassVar[str] = "onnxruntime"
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        base = super().unavailable_reason(device)
        if base:
            return base
        providers = _providers()
        if not providers:
            return "onnxruntime is not installed; pip install onnxruntime (or onnxruntime-gpu for CUDA)"
        if device == "cuda" and "CUDAExecutionProvider" not in providers:
            return "--backend onnxruntime --device cuda needs onnxruntime-gpu (this onnxruntime has only " + ", ".join(providers) + "); pip install onnxruntime-gpu on a machine with an NVIDIA GPU, or use --device cpu"
        return None

    def __init__(
        self,
        generator: Generator,
        device: str = "cpu",
        *,
        onnx: str | os.PathLike | None = None,
        precision: str | None = None,
        threads: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(generator, device, **options)
        reason = self.unavailable_reason(device)
        if reason:
            raise BackendUnavailableError(reason)
        import onnxruntime as ort

        from ..engines import cached_onnx, onnx_metadata

        if precision not in (None, "fp32", "fp16"):
            raise BackendUnavailableError(f"the onnxruntime backend runs fp32 or fp16, not {precision!r}", "use --precision fp32 (bf16 is the openvino backend's)")
        # fp16 only where the hardware has fast half kernels; on the CPU fp32 is both faster and exact
        self.precision = precision or ("fp16" if device == "cuda" else "fp32")
        if onnx is None:
            path = cached_onnx(generator, self.precision)
        else:
            path = Path(onnx)
            meta = onnx_metadata(path)
            if meta.get("streamdeblur.arch") not in (None, generator.arch):
                raise InputError(f"{path} is an export of {meta['streamdeblur.arch']!r}, not {generator.arch!r}", "export this generator with `streamdeblur export`")
            self.precision = meta.get("streamdeblur.precision", self.precision)
        self.onnx_path = path
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            so.intra_op_num_threads = int(threads)
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), sess_options=so, providers=providers)
        if device == "cuda" and self.session.get_providers()[0] != "CUDAExecutionProvider":
            raise BackendUnavailableError("onnxruntime could not start its CUDA execution provider (see the log)", "check the CUDA/cuDNN libraries onnxruntime-gpu needs, or use --device cpu")
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.np_dtype = np.float16 if self.precision == "fp16" else np.float32
        self.multiple = generator.size_multiple
        self.min_size = generator.min_size

    def infer(self, batch: torch.Tensor) -> torch.Tensor:
        if self.session is None:
            raise RuntimeError("backend is closed")
        x = batch.detach().to("cpu", torch.float32)
        xp, h, w = pad_to_multiple(x, self.multiple, self.min_size)
        arr = np.ascontiguousarray(xp.numpy(), dtype=self.np_dtype)
        (y,) = self.session.run([self.output_name], {self.input_name: arr})
        out = torch.from_numpy(y[..., :h, :w].astype(np.float32, copy=False))
        return out.to(batch.device, batch.dtype)

    def close(self) -> None:
        self.session = None
