"""TensorRT backend: runs an engine built by `streamdeblur build-engine`.

Before anything is deserialized, the engine's sidecar is checked against this GPU, this
TensorRT and the generator asked for; a mismatch is an
:class:`~streamdeblur.errors.EngineMismatchError` naming each difference and the
`build-engine` command that fixes it (engines do not move between GPU models or TensorRT
versions).

I/O buffers are torch CUDA tensors: the padded input and a preallocated output are
handed to TensorRT by address (``set_tensor_address``) and the engine is enqueued on
the current torch CUDA stream (``execute_async_v3``), so there is no host round trip and
no extra copy. The engine sees padded sizes; this backend pads on the GPU and crops
(:meth:`Backend.run_padded`). Only engines built with the TensorRT Python API
(``build-engine``) load. Reads ``engine``, ``engines_dir``, ``onnx`` and ``tensorrt_tiling``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..engine_cache import DEFAULT_ENGINES_DIR, EngineSidecar, Expected, check_frame, require_engine, validate_sidecar
from ..errors import BackendUnavailableError, InputNotFoundError
from ..identity import ModelInfo
from ..machine import current_gpu, tensorrt_requirements, tensorrt_version
from ..models import Generator, pad_to
from ..onnx_export import sha256_file
from ..tensors import as_tensor, to_float
from .base import Backend
from .options import BackendOptions

log = logging.getLogger(__name__)


class TensorRTBackend(Backend):
    name: ClassVar[str] = "tensorrt"
    devices: ClassVar[tuple[str, ...]] = ("cuda",)

    @classmethod
    def missing(cls, device: str) -> str | None:
        return tensorrt_requirements()

    def __init__(
        self,
        generator: Generator,
        device: str = "cuda",
        options: BackendOptions = BackendOptions(),
        *,
        choice_reason: str | None = None,
    ) -> None:
        """``options.engine``: the engine to run (default: the one in ``engines_dir`` built for
        this GPU and generator); ``options.onnx``: the ONNX it must have been built from (its
        sha256 is checked too); ``tensorrt_tiling=False``: a frame above the profile's max
        raises a ShapeError instead of being tiled."""
        super().__init__(generator, device, options, choice_reason=choice_reason)
        self.tiling = options.tensorrt_tiling
        engines_dir = Path(options.engines_dir or DEFAULT_ENGINES_DIR)
        info = ModelInfo.of(generator)
        self.engine_path = Path(
            options.engine if options.engine is not None else require_engine(generator, engines_dir)[0]
        )
        if not self.engine_path.exists():
            raise InputNotFoundError(
                f"engine not found: {self.engine_path}",
                "check the path, or leave --engine out to use the one in engines/",
            )
        self.sidecar = EngineSidecar.read(self.engine_path)
        expected = Expected(
            tensorrt_version=tensorrt_version(),
            gpu=current_gpu(),
            arch=info.arch,
            args=info.args,
            weights_sha256=info.weights_sha256,
            onnx_sha256=sha256_file(options.onnx) if options.onnx is not None else None,
            source=info.source,
        )
        validate_sidecar(self.sidecar, expected, self.engine_path, engines_dir)
        self.precision = self.sidecar.precision
        self.dtype = torch.float16 if self.precision == "fp16" else torch.float32
        self.torch_device = torch.device("cuda")
        self.multiple = self.sidecar.size_multiple
        self.min_size = self.sidecar.min_size
        self._load()

    # -- loading ---------------------------------------------------------------
    def _load(self) -> None:
        import tensorrt as trt  # type: ignore[import-not-found]

        from ..engine_build import trt_logger

        self._trt = trt
        self._logger = trt_logger()
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
            raise BackendUnavailableError(
                f"{self.engine_path} has inputs {inputs} and outputs {outputs}; a streamdeblur engine has one of each"
            )
        self.input_name, self.output_name = inputs[0], outputs[0]
        dtypes = {trt.DataType.HALF: torch.float16, trt.DataType.FLOAT: torch.float32}
        self.dtype = dtypes[self.engine.get_tensor_dtype(self.input_name)]
        self.out_dtype = dtypes[self.engine.get_tensor_dtype(self.output_name)]

    # -- running ---------------------------------------------------------------
    def infer_tiled(self, x: torch.Tensor) -> torch.Tensor:
        """Frames above the profile's max go through overlapping tiles that fit it, and frames larger
        than ``max_tile`` (``--max-tile``) through tiles of that size, as on every backend.

        Tiles are squares of the profile's smaller max side (or ``max_tile``, if smaller);
        ``tiling=False`` turns the profile's tiling off and such frames raise a ShapeError instead.
        """
        frame_hw = (x.shape[-2], x.shape[-1])
        tile = None
        if not self.sidecar.fits(frame_hw) and self.tiling:
            tile = min(self.sidecar.max_shape[2:]) // self.multiple * self.multiple
        if self.max_tile and max(frame_hw) > self.max_tile:  # else --max-tile did nothing to a frame the profile fits
            tile = min(tile, self.max_tile) if tile else self.max_tile
        return self.infer(x) if tile is None else self._tiled(x, tile)

    def _at_least_min(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        """The size a frame runs at on the engine: raised to the profile's min where below it."""
        return max(frame_hw[0], self.sidecar.min_shape[2]), max(frame_hw[1], self.sidecar.min_shape[3])

    def infer(self, batch: torch.Tensor) -> torch.Tensor:
        n, _, h, w = batch.shape
        hw = self._at_least_min((h, w))
        if hw != (h, w):  # below the profile's min (a 240p clip, a thumbnail): padded up to it, cropped back
            return self.infer(pad_to(batch, *hw))[..., :h, :w]
        check_frame(self.sidecar, (h, w), tiling=False, engine_path=self.engine_path)
        max_batch = self.sidecar.max_shape[0]
        if n > max_batch:  # the profile's batch range is a hard limit: run in slices
            return torch.cat([self.infer(batch[i : i + max_batch]) for i in range(0, n, max_batch)])
        x = batch.to(self.torch_device, self.dtype, non_blocking=True)
        return self.run_padded(x, self._execute).to(batch.device, batch.dtype)

    def _execute(self, xp: torch.Tensor) -> torch.Tensor:
        """The engine on a padded batch (its shape within the profile: checked by ``infer``)."""
        xp = xp.contiguous()
        stream = torch.cuda.current_stream(self.torch_device)
        if not self.context.set_input_shape(self.input_name, tuple(xp.shape)):
            raise RuntimeError(f"TensorRT refused input shape {tuple(xp.shape)} for {self.engine_path.name}")
        dims = self.context.get_tensor_shape(self.output_name)
        shape: tuple[int, ...] = tuple(dims)  # type: ignore[arg-type]  # Dims iterates (not in the stubs)
        y = torch.empty(shape, dtype=self.out_dtype, device=self.torch_device)
        self.context.set_tensor_address(self.input_name, xp.data_ptr())
        self.context.set_tensor_address(self.output_name, y.data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT failed to run {self.engine_path.name} on a {tuple(xp.shape)} batch")
        # xp and y were allocated on this same stream, so the caching allocator cannot hand
        # their memory to anyone before this enqueued run has finished with it
        return y

    def to_device(self, frames: np.ndarray) -> torch.Tensor:
        """Frames cross the bus as they are (uint8, or uint16 for deep colour) and become half on the GPU."""
        return to_float(as_tensor(frames).to(self.torch_device, non_blocking=True), self.dtype)

    def close(self) -> None:
        self.context = None  # type: ignore[assignment]
        self.engine = None  # type: ignore[assignment]
