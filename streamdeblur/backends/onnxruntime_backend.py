"""ONNX Runtime backend: the generator's exported core network, on the CPU (or CUDA EP).

The ONNX holds ``forward_padded`` only (see :mod:`streamdeblur.onnx_export`), so each batch
is padded as PyTorch pads it and the result cropped (:meth:`Backend.run_padded`). The ONNX
is exported once per generator into the cache (keyed by the weights' sha256), or taken
from ``BackendOptions.onnx``. Reads ``precision`` (fp32 or fp16), ``threads`` and ``onnx``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from ..errors import BackendUnavailableError
from ..machine import onnxruntime_providers
from ..models import Generator
from ..tensors import as_array
from .base import HostOnnxBackend
from .options import BackendOptions


class OnnxRuntimeBackend(HostOnnxBackend):
    name: ClassVar[str] = "onnxruntime"
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")

    @classmethod
    def missing(cls, device: str) -> str | None:
        providers = onnxruntime_providers()
        if not providers:
            return "onnxruntime is not installed; pip install onnxruntime (or onnxruntime-gpu for CUDA)"
        if device == "cuda" and "CUDAExecutionProvider" not in providers:
            return (
                "--backend onnxruntime --device cuda needs onnxruntime-gpu (this onnxruntime has only "
                + ", ".join(providers)
                + "); pip install onnxruntime-gpu on a machine with an NVIDIA GPU, or use --device cpu"
            )
        return None

    def __init__(
        self,
        generator: Generator,
        device: str = "cpu",
        options: BackendOptions = BackendOptions(),
        *,
        choice_reason: str | None = None,
    ) -> None:
        super().__init__(generator, device, options, choice_reason=choice_reason)
        import onnxruntime as ort

        from ..onnx_export import onnx_for

        precision, threads = options.precision, options.threads
        if precision not in (None, "fp32", "fp16"):
            raise BackendUnavailableError(
                f"the onnxruntime backend runs fp32 or fp16, not {precision!r}",
                "use --precision fp32 (bf16 is the openvino backend's)",
            )
        # fp16 only where the hardware has fast half kernels; on the CPU fp32 is both faster and exact
        self.onnx_path, self.precision = onnx_for(
            generator, precision or ("fp16" if device == "cuda" else "fp32"), options.onnx
        )
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            so.intra_op_num_threads = int(threads)
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(self.onnx_path), sess_options=so, providers=providers)
        if device == "cuda" and self.session.get_providers()[0] != "CUDAExecutionProvider":
            raise BackendUnavailableError(
                "onnxruntime could not start its CUDA execution provider (see the log)",
                "check the CUDA/cuDNN libraries onnxruntime-gpu needs, or use --device cpu",
            )
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.np_dtype = np.float16 if self.precision == "fp16" else np.float32

    def _run(self, xp: torch.Tensor) -> torch.Tensor:
        (y,) = self.session.run([self.output_name], {self.input_name: as_array(xp, self.np_dtype)})
        return torch.from_numpy(y)

    def close(self) -> None:
        super().close()
        self.session = None
