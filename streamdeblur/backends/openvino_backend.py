"""OpenVINO backend: the generator's exported ONNX, compiled for the CPU.

The same ONNX as ONNX Runtime (``forward_padded`` only, exported once per generator into
the cache by :func:`streamdeblur.onnx_export.cached_onnx`, or ``BackendOptions.onnx``):
each batch is padded as PyTorch pads it, and the result cropped (:meth:`Backend.run_padded`).
Reads ``precision`` / ``openvino_precision``, ``openvino_hint``, ``threads``,
``openvino_max_shapes``, ``openvino_cpu_pinning`` and ``onnx``.

Shapes: OpenVINO's CPU plugin runs a model compiled for one static shape faster than the
same model left dynamic (measured, docs/BENCHMARKS.md), so each padded input shape
(N, 3, H, W) gets its own compiled model, kept in a small least-recently-used cache
(``openvino_max_shapes``, default 8). A video has one frame size (plus a shorter last batch);
``--max-tile`` gives at most four tile shapes per frame size (full tiles and the shorter
ones at the right and bottom edges): each shape compiles once (well under a second for
deblurgan-lite), never once per frame or tile.

Precision: ``bf16`` where the CPU has native bfloat16 (AVX512_BF16 or AMX; OpenVINO
reports it as the ``BF16`` optimization capability), else ``fp32``. On this project's
2-core AMD EPYC (AVX512_BF16) bf16 ran 1.4-3x faster than fp32 and changed the shipped
model's PSNR against the sample clips' sharp references by at most 0.004 dB
(docs/BENCHMARKS.md); ``precision="fp32"`` gives the exact path (within 1e-6 of PyTorch).
``openvino_precision`` sets OpenVINO's alone where ``precision`` (every backend's) is not
given; ``streamdeblur run`` reads it, and the hint, from ``STREAMDEBLUR_OPENVINO_PRECISION``
and ``STREAMDEBLUR_OPENVINO_HINT`` too.

Performance hint: ``latency`` compiles for one stream using every core and runs a
batch as one request; ``throughput`` compiles for OpenVINO's own number of streams (2 on
2 cores) and splits a batch into single frames run in parallel over them (so a shorter
last batch reuses the same batch-1 model). ``auto``, the default, uses ``latency`` for a
single frame (``preview``, ``--batch 1``) and ``throughput`` for a batch (``run``'s
default ``--batch 4``): measured at batch 1 and 4, 640x360 and 1280x720
(docs/BENCHMARKS.md), throughput won at batch 4 and latency at batch 1 (end to end, and
alone at a quiet moment).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import BackendUnavailableError
from ..machine import PIP_OPENVINO, cpu_has_bf16, openvino_version
from ..models import Generator
from ..tensors import as_array
from .base import HostOnnxBackend
from .options import OPENVINO_PRECISIONS, BackendOptions

_OV_PRECISION = {"fp32": "f32", "bf16": "bf16"}


class OpenVINOBackend(HostOnnxBackend):
    name: ClassVar[str] = "openvino"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)

    @classmethod
    def missing(cls, device: str) -> str | None:
        if openvino_version() is None:
            return f"openvino is not installed; {PIP_OPENVINO}"
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
        import openvino as ov

        from ..onnx_export import onnx_for

        precision = options.precision or options.openvino_precision or ("bf16" if cpu_has_bf16() else "fp32")
        # the option it came from: bench's --precision, run's and preview's --openvino-precision
        option = "--precision" if options.precision else "--openvino-precision"
        if precision not in OPENVINO_PRECISIONS:
            raise BackendUnavailableError(
                f"the openvino backend runs fp32 or bf16 on the CPU, not {precision!r}",
                f"use {option} fp32 (or bf16 on a CPU with AVX512_BF16/AMX)",
            )
        if precision == "bf16" and not cpu_has_bf16():
            raise BackendUnavailableError(
                "bf16 needs a CPU with AVX512_BF16 or AMX, which this one lacks", f"use {option} fp32"
            )
        self.precision = precision
        self.hint = options.openvino_hint
        # bf16 is OpenVINO's own inference precision, over the fp32 graph
        self.onnx_path, _ = onnx_for(generator, "fp32", options.onnx)
        self.core = ov.Core()
        self._model = self.core.read_model(str(self.onnx_path))
        #: what every compiled shape is compiled with (besides its performance hint)
        self.config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": _OV_PRECISION[self.precision]}
        if options.threads:
            self.config["INFERENCE_NUM_THREADS"] = options.threads
        if options.openvino_cpu_pinning is not None:
            self.config["ENABLE_CPU_PINNING"] = options.openvino_cpu_pinning
        self.max_shapes = options.openvino_max_shapes
        self._compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        #: how many shapes were compiled so far (a cache miss each); tiles and videos keep it small
        self.compiles = 0
        self._ov = ov

    # -- compiled shapes ---------------------------------------------------------
    def _entry(self, mode: str, shape: tuple[int, ...]) -> Any:
        """(compiled model, infer request or async queue) for a mode and padded input shape; compiled once."""
        key = (mode, *shape)
        hit = self._compiled.get(key)
        if hit is not None:
            self._compiled.move_to_end(key)
            return hit
        model = self._model.clone()
        model.reshape(list(shape))
        compiled = self.core.compile_model(model, "CPU", {**self.config, "PERFORMANCE_HINT": mode.upper()})
        if mode == "throughput":
            n = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
            runner = self._ov.AsyncInferQueue(compiled, n)
        else:
            runner = compiled.create_infer_request()
        self.compiles += 1
        self._compiled[key] = (compiled, runner)
        while len(self._compiled) > self.max_shapes:
            self._compiled.popitem(last=False)
        return self._compiled[key]

    def _run(self, xp: torch.Tensor) -> torch.Tensor:
        arr = as_array(xp)
        mode = self.hint if self.hint != "auto" else ("latency" if arr.shape[0] == 1 else "throughput")
        if mode == "throughput":
            # single frames in parallel over the streams: compiled for batch 1
            _, queue = self._entry(mode, (1, *arr.shape[1:]))
            out = np.empty_like(arr)

            def done(request: Any, i: int) -> None:
                out[i] = request.get_output_tensor(0).data[0]

            queue.set_callback(done)
            for i in range(arr.shape[0]):
                queue.start_async({0: arr[i : i + 1]}, i)
            queue.wait_all()
            return torch.from_numpy(out)
        _, request = self._entry(mode, tuple(arr.shape))
        return torch.from_numpy(request.infer({0: arr})[0])  # a copy (share_outputs=False)

    def describe(self) -> str:
        return f"{self.name} ({self.device}, {self.precision}, {self.hint})"

    def close(self) -> None:
        super().close()
        self._compiled.clear()
        self._model = None
