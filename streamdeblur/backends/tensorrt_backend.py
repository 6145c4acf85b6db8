"""TensorRT backend: runs an engine built by `streamdeblur build-engine`.

Before anything is deserialized, the engine's sidecar is checked against this GPU, this
TensorRT and the generator asked for; a mismatch is an
:class:`~streamdeblur.errors.EngineMismatchError` naming each difference and the
`build-engine` command that fixes it (engines do not move between GPU models or TensorRT
versions).

I/O buffers are torch CUDA tensors: the padded input and a preallocated output are
handed to TensorRT by address (``set_tensor_address``) and the engine is enqueued on
the current torch CUDA stream (``execute_async_v3``), so there is no host round trip and
no extra copy. The engine sees padded sizes; this backend pads on the GPU and crops.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..engines import (
    DEFAULT_ENGINES_DIR,
    EngineSidecar,
    Expected,
    ModelInfo,
    check_frame,
    current_gpu,
    require_engine,
    round_up,
    sha256_file,
    tensorrt_requirements,
    tensorrt_version,
    validate_sidecar,
)
from ..errors import BackendUnavailableError, InputNotFoundError
from ..models import Generator, pad_to_multiple
from .base import Backend

log = logging.getLogger(__name__)


class TensorRTBackend(Backend):
    name: ClassVar[str] = "tensorrt"
    devices: ClassVar[tuple[str, ...]] = ("cuda",)

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        base = super().unavailable_reason(device)
        if base:
            return base
        return tensorrt_requirements()

    def __init__(
        self,
        generator: Generator,
        device: str = "cuda",
        *,
        engine: str | os.PathLike | None = None,
        engines_dir: str | os.PathLike = DEFAULT_ENGINES_DIR,
        onnx: str | os.PathLike | None = None,
        **options: Any,
    ) -> None:
        """``onnx``: the ONNX the engine must have been built from (its sha256 is checked too)."""
        super().__init__(generator, device, **options)
        reason = self.unavailable_reason(device)
        if reason:
            raise BackendUnavailableError(reason)
        info = ModelInfo.of(generator)
        if engine is None:
            engine = require_engine(generator, engines_dir)[0]
        self.engine_path = Path(engine)
        if not self.engine_path.exists():
            raise InputNotFoundError(f"engine not found: {self.engine_path}", "check the path, or leave --engine out to use the one in engines/")
        self.sidecar = EngineSidecar.read(self.engine_path)
        expected = Expected(
            tensorrt_version=tensorrt_version(),
            gpu=current_gpu(),
            arch=info.arch,
            args=info.args,
            weights_sha256=info.weights_sha256,
            onnx_sha256=sha256_file(onnx) if onnx is not None else None,
            source=info.source,
        )
        validate_sidecar(self.sidecar, expected, self.engine_path, Path(engines_dir))
        self.precision = self.sidecar.precision
        self.dtype = torch.float16 if self.precision == "fp16" else torch.float32
        self.torch_device = torch.device("cuda")
        self.multiple = self.sidecar.size_multiple
        self.min_size = self.sidecar.min_size
        if self.sidecar.compiler == "tensorrt":
            self._load_tensorrt()
        else:
            self._load_torch_tensorrt()

    # -- loading ---------------------------------------------------------------
    def _load_tensorrt(self) -> None:
        import tensorrt as trt  # type: ignore[import-not-found]

        from ..engines import _trt_logger

        self._trt = trt
        self._logger = _trt_logger(trt)
        self.runtime = trt.Runtime(self._logger)
        self.engine = self.runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise BackendUnavailableError(
                f"TensorRT could not deserialize {self.engine_path} (corrupt, or built by another TensorRT)",
                f"rebuild it: {self.sidecar.rebuild_command()}",
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise BackendUnavailableError(f"{self.engine_path} has inputs {inputs} and outputs {outputs}; a streamdeblur engine has one of each")
        self.input_name, self.output_name = inputs[0], outputs[0]
        dtypes = {trt.DataType.HALF: torch.float16, trt.DataType.FLOAT: torch.float32}
        self.dtype = dtypes[self.engine.get_tensor_dtype(self.input_name)]
        self.out_dtype = dtypes[self.engine.get_tensor_dtype(self.output_name)]
        self.module = None

    def _load_torch_tensorrt(self) -> None:
        try:
            import torch_tensorrt  # type: ignore[import-not-found]  # noqa: F401
        except Exception:
            raise BackendUnavailableError("this engine was built with torch-tensorrt, which is not installed; pip install 'streamdeblur[tensorrt]'") from None
        self.module = torch.export.load(str(self.engine_path)).module()
        self.context = None

    # -- running ---------------------------------------------------------------
    def infer_tiled(self, x: torch.Tensor) -> torch.Tensor:
        """Frames above the profile's max go through overlapping tiles that fit it.

        Tiles are squares of the profile's smaller max side (or ``max_tile``, if smaller);
        ``tiling=False`` turns this off and such frames raise a ShapeError instead.
        """
        h, w = x.shape[-2], x.shape[-1]
        (_, _), (hi_h, hi_w) = self.sidecar.hw_range()
        fits = round_up(max(h, self.min_size), self.multiple) <= hi_h and round_up(max(w, self.min_size), self.multiple) <= hi_w
        if fits or not self.options.get("tiling", True):
            return self.infer(x)
        check_frame(self.sidecar, (h, w), tiling=True, engine_path=self.engine_path)  # still above the min?
        from ..tiling import default_overlap, tiled_infer

        tile = min(hi_h, hi_w) // self.multiple * self.multiple
        if self.max_tile:
            tile = min(tile, self.max_tile)
        overlap = self.tile_overlap if self.tile_overlap is not None else default_overlap(tile, self.multiple)
        return tiled_infer(self.infer, x, tile, overlap, align=self.multiple)

    def infer(self, batch: torch.Tensor) -> torch.Tensor:
        n, _, h, w = batch.shape
        check_frame(self.sidecar, (h, w), tiling=False, engine_path=self.engine_path)
        max_batch = self.sidecar.max_shape[0]
        if n > max_batch:  # the profile's batch range is a hard limit: run in slices
            return torch.cat([self.infer(batch[i : i + max_batch]) for i in range(0, n, max_batch)])
        x = batch.to(self.torch_device, self.dtype, non_blocking=True)
        xp, h, w = pad_to_multiple(x, self.multiple, self.min_size)
        xp = xp.contiguous()
        if self.module is not None:
            with torch.inference_mode():
                y = self.module(xp)
        else:
            stream = torch.cuda.current_stream(self.torch_device)
            if not self.context.set_input_shape(self.input_name, tuple(xp.shape)):
                check_frame(self.sidecar, (h, w), engine_path=self.engine_path)  # names the profile
                raise RuntimeError(f"TensorRT refused input shape {tuple(xp.shape)} for {self.engine_path.name}")
            y = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), dtype=self.out_dtype, device=self.torch_device)
            self.context.set_tensor_address(self.input_name, xp.data_ptr())
            self.context.set_tensor_address(self.output_name, y.data_ptr())
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError(f"TensorRT failed to run {self.engine_path.name} on a {tuple(xp.shape)} batch")
            # xp and y were allocated on this same stream, so the caching allocator cannot hand
            # their memory to anyone before this enqueued run has finished with it
        y = y[..., :h, :w]
        return y.to(batch.device, batch.dtype)

    def to_device(self, frames: Any) -> torch.Tensor:
        """uint8 frames cross the bus as uint8 and become half on the GPU."""
        import numpy as np

        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.torch_device, non_blocking=True)
        return x.permute(0, 3, 1, 2).to(self.dtype).div_(255.0)

    def close(self) -> None:
        self.context = None
        self.engine = None  # type: ignore[assignment]
        self.module = None
