"""PyTorch backend: float32 on the CPU; half precision and channels-last on CUDA.

It runs its own copy of the generator (moved, cast and laid out for the device), so the
caller's generator is never changed. On CUDA, frames cross the bus as they are, uint8 (a
quarter of the bytes of float32) or uint16 (deep colour: half), through a reusable pinned
host buffer, copied on a side stream so the copy of batch k+1 can overlap the compute of
batch k; conversion to half happens on the GPU.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..errors import BackendUnavailableError, OutputError
from ..models import Generator
from ..tensors import frame_dtype, to_float, to_frames
from .base import Backend
from .options import BackendOptions

log = logging.getLogger(__name__)


class TorchBackend(Backend):
    name: ClassVar[str] = "torch"
    devices: ClassVar[tuple[str, ...]] = ("cuda", "cpu")

    @classmethod
    def missing(cls, device: str) -> str | None:
        if device == "cuda" and not torch.cuda.is_available():
            build = "a CPU-only build of PyTorch" if torch.version.cuda is None else "no CUDA GPU is visible"
            return (
                f"--device cuda asked for, but this machine has {build}; "
                "install a CUDA build of torch on a machine with an NVIDIA GPU, or use --device cpu"
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
        """Reads ``options.precision``: fp16 or fp32; None: fp16 on CUDA, fp32 on the CPU."""
        precision = options.precision or ("fp16" if device == "cuda" else "fp32")
        if precision not in ("fp16", "fp32"):
            raise BackendUnavailableError(
                f"the torch backend runs fp16 or fp32, not {precision!r}", "choose fp16 or fp32"
            )
        super().__init__(generator, device, options, choice_reason=choice_reason)
        if precision == "fp16" and device == "cpu":
            raise BackendUnavailableError(
                "half precision (fp16) on the CPU is not supported by the torch backend",
                "use fp32 on the CPU, or --device cuda",
            )
        self.precision = precision
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.torch_device = torch.device(device)
        # a copy: .to() and channels-last would otherwise change the caller's module in place
        model = copy.deepcopy(generator).to(self.torch_device, dtype=self.dtype).eval()
        if device == "cuda":
            model = model.to(memory_format=torch.channels_last)
            self.copy_stream = torch.cuda.Stream(device=self.torch_device)
            self._pinned_in: torch.Tensor | None = None
            self._pinned_out: torch.Tensor | None = None
        self.model = model

    def infer(self, batch: torch.Tensor) -> torch.Tensor:
        if self.model is None:  # else "'NoneType' object is not callable"
            raise RuntimeError("backend is closed")
        x = batch.to(self.torch_device, dtype=self.dtype)
        if self.device == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            y = self._forward(x)
        return y.to(batch.dtype) if batch.device == y.device else y

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The generator on a batch already on the device, in its dtype and layout."""
        return self.model(x)

    # -- CUDA transfer path --------------------------------------------------
    @staticmethod
    def _pinned(buf: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """``buf`` if it has ``shape`` and ``dtype``, else a new pinned host buffer of them."""
        if buf is None or tuple(buf.shape) != shape or buf.dtype != dtype:
            buf = torch.empty(shape, dtype=dtype, pin_memory=True)
        return buf

    def to_device(self, frames: np.ndarray) -> torch.Tensor:
        if self.device != "cuda":
            return super().to_device(frames)
        host = self._pinned_in = self._pinned(self._pinned_in, tuple(frames.shape), frame_dtype(frames.dtype))
        host.numpy()[...] = frames
        with torch.cuda.stream(self.copy_stream):
            dev = host.to(self.torch_device, non_blocking=True)
        torch.cuda.current_stream(self.torch_device).wait_stream(self.copy_stream)
        dev.record_stream(torch.cuda.current_stream(self.torch_device))
        return to_float(dev, self.dtype).contiguous(memory_format=torch.channels_last)

    def from_device(self, y: torch.Tensor, dtype: type[np.unsignedinteger] = np.uint8) -> np.ndarray:
        if self.device != "cuda":
            return super().from_device(y, dtype)
        out = to_frames(y, frame_dtype(dtype))
        host = self._pinned_out = self._pinned(self._pinned_out, tuple(out.shape), out.dtype)
        host.copy_(out, non_blocking=True)
        torch.cuda.current_stream(self.torch_device).synchronize()
        return host.numpy().copy()

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
        if self.device == "cuda":
            self._pinned_in = self._pinned_out = None
            torch.cuda.empty_cache()


class TorchCompileBackend(TorchBackend):
    """PyTorch with ``torch.compile`` (Inductor): the fast GPU path that needs no TensorRT.

    The core network (``forward_padded``) is compiled with static shapes, once per padded
    input shape (a video has one: its resolution and batch), channels-last on CUDA; on the CPU
    frames run one at a time (one compile per resolution; batching gains nothing there); each
    first call at a shape is timed and kept in ``compile_seconds`` (``describe()`` shows it).
    Inductor's compiled kernels are cached on disk in ``$STREAMDEBLUR_CACHE_DIR/inductor``
    (default ``~/.cache/streamdeblur/inductor``), so the next run at a shape compiles faster.
    Reads ``options.compile_mode`` (None: ``reduce-overhead``, CUDA graphs, on CUDA;
    ``default`` on the CPU) and ``options.precision`` as the torch backend does.
    """

    name: ClassVar[str] = "torch-compile"

    @classmethod
    def missing(cls, device: str) -> str | None:
        import importlib.util
        import shutil

        reason = TorchBackend.missing(device)
        if reason is None and device == "cuda" and importlib.util.find_spec("triton") is None:
            reason = "torch.compile on CUDA needs Triton (pip install triton; CUDA builds of torch bring it)"
        if reason is None and device == "cpu":
            # Inductor compiles C++ with $CXX, else g++ (torch._inductor.config.cpp.cxx): a C compiler alone
            # (gcc without g++) passed here, then failed at the first frame with InvalidCxxCompiler
            cxx = os.environ.get("CXX") or "g++"
            if not shutil.which(cxx):
                reason = (
                    f"torch.compile on the CPU needs a C++ compiler ({cxx} is not on PATH); "
                    "install g++ (e.g. apt install g++) or set CXX to one, or use --backend torch"
                )
        return reason

    def __init__(
        self,
        generator: Generator,
        device: str = "cpu",
        options: BackendOptions = BackendOptions(),
        *,
        choice_reason: str | None = None,
    ) -> None:
        super().__init__(generator, device, options, choice_reason=choice_reason)
        self.compile_mode = options.compile_mode or ("reduce-overhead" if device == "cuda" else "default")
        from ..onnx_export import cache_dir

        inductor = Path(os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "inductor")))
        try:  # else Inductor fails at the first batch with its own traceback
            inductor.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=inductor).close()
        except OSError as e:
            raise OutputError(
                f"cannot write torch.compile's kernel cache {inductor} ({e.strerror or e})",
                "make it writable, or set STREAMDEBLUR_CACHE_DIR (or TORCHINDUCTOR_CACHE_DIR) to a writable folder",
            ) from None
        self._compiled = torch.compile(self.model.forward_padded, mode=self.compile_mode, dynamic=False)
        #: (N, H, W) of each padded input shape compiled -> seconds its first call took (compile included)
        self.compile_seconds: dict[tuple[int, int, int], float] = {}

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run_padded(x, self._run)

    def _run(self, xp: torch.Tensor) -> torch.Tensor:
        if self.device == "cpu" and xp.shape[0] > 1:
            return torch.cat([self._run(xp[i : i + 1]) for i in range(xp.shape[0])])
        shape = (xp.shape[0], xp.shape[2], xp.shape[3])
        first = shape not in self.compile_seconds
        t0 = time.perf_counter()
        if self.device == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # a new step: earlier graph outputs may be reused
        y = self._compiled(xp).clone()  # a CUDA graph's output buffer is overwritten by its next replay
        if first:
            if self.device == "cuda":
                torch.cuda.synchronize(self.torch_device)
            self.compile_seconds[shape] = time.perf_counter() - t0
            log.info("torch.compile (%s): %dx%d batch %d in %.1f s", self.compile_mode, shape[2], shape[1],
                     shape[0], self.compile_seconds[shape])  # fmt: skip
        return y

    def describe(self) -> str:
        done = ", ".join(f"{w}x{h} b{n} in {s:.1f} s" for (n, h, w), s in self.compile_seconds.items())
        return f"{self.name} ({self.device}, {self.precision}, {self.compile_mode}" + (
            f"; compiled {done})" if done else ")"
        )

    def close(self) -> None:
        self._compiled = None  # type: ignore[assignment]
        super().close()
