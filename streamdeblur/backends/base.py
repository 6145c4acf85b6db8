"""The backend contract, and what every backend shares.

A backend runs one generator on one device. ``infer`` is the contract every backend
passes the conformance test on: NCHW float in [0, 1] -> same shape, same range.
``process`` is what the pipeline calls: a batch of RGB frames (N, H, W, 3) in, uint8 or
uint16 (deep colour: 10-, 12-, 16-bit video), the same shape and dtype out, with the
frames <-> float conversion done on the backend's device (:func:`streamdeblur.tensors.to_float`,
:func:`~streamdeblur.tensors.to_frames`); the model runs in float either way. Backends that
run the exported core network (ONNX Runtime, OpenVINO, TensorRT) pad, run and crop through
:meth:`Backend.run_padded`; the two that take host arrays share :class:`HostOnnxBackend`.

Every backend is made from a generator, a device and the request's
:class:`~streamdeblur.backends.options.BackendOptions`, and reads the fields it takes.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch

from ..errors import BackendUnavailableError, FrameMemoryError, InputError
from ..models import Generator, pad_to_multiple
from ..tensors import as_tensor, frame_dtype, to_float, to_frames
from .options import BackendOptions

# --------------------------------------------------------------------------- the contract

#: what ``Backend.process`` takes, and how to get it from what a user may have
_FRAMES = "expected a NumPy array of uint8 or uint16 RGB frames of shape (N, H, W, 3), H and W 1 or more"
_FRAMES_FIX = "one picture is picture[None]; a grey, RGBA or float picture is converted to RGB uint8 first"


class Backend(ABC):
    name: ClassVar[str] = ""
    #: devices this backend can run on, in preference order
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    #: the precision it runs at (set by each backend from its options)
    precision: str = "fp32"
    #: why this backend runs (``create_backend`` passes what ``choose_backend`` said)
    choice_reason: str = ""

    def __init__(
        self,
        generator: Generator,
        device: str = "cpu",
        options: BackendOptions = BackendOptions(),
        *,
        choice_reason: str | None = None,
    ) -> None:
        """Raises :class:`BackendUnavailableError` where this backend cannot run on ``device``."""
        reason = self.unavailable_reason(device)
        if reason:
            raise BackendUnavailableError(reason)
        self.generator = generator
        self.device = device
        self.choice_reason = choice_reason or f"{self.name} on {device} (asked for)"
        #: frames larger than this (H or W) go through overlapping tiles (streamdeblur.tiling)
        self.max_tile: int | None = options.max_tile
        self.tile_overlap: int | None = options.tile_overlap
        #: one-line notices for the user (a frame tiled automatically to fit in memory); the caller shows them
        self.notices: list[str] = []
        #: one ``process`` at a time: OpenVINO's infer requests and the CUDA path's pinned buffers are one per
        #: backend, so two threads sharing it (two pipelines, two cameras) failed ("Infer Request is busy") or
        #: could overwrite each other's frames
        self._process_lock = threading.Lock()
        #: how the core network wants its input padded (see :meth:`run_padded`)
        self.multiple = int(generator.size_multiple)
        self.min_size = int(generator.min_size)
        if self.max_tile is not None and self.max_tile < self.multiple:  # else a tiler's ValueError mid-run
            raise InputError(
                f"max_tile {self.max_tile} is smaller than the model's size multiple {self.multiple}",
                f"give max_tile {2 * self.multiple} or more",
            )
        if self.max_tile is not None and self.max_tile < 2 * self.multiple:
            # tile origins sit on the model's grid: tiles one grid step wide cannot overlap, and butted tiles
            # show their seams (a lattice of edges every max_tile pixels)
            raise InputError(
                f"max_tile {self.max_tile} leaves no room for tiles to overlap on the model's {self.multiple}-pixel "
                "grid, so their seams would show",
                f"give max_tile {2 * self.multiple} or more",
            )

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        """None if this backend can run on ``device`` here; else a one-line reason with the fix."""
        if device not in cls.devices:
            runs = ", ".join(cls.devices)
            return (
                f"backend {cls.name!r} does not run on {device!r} (it runs on: {runs}); "
                f"pass --device {cls.devices[0]}, or another --backend for {device}"
            )
        return cls.missing(device)

    @classmethod
    def missing(cls, device: str) -> str | None:
        """What this machine lacks to run the backend on ``device`` (a supported one), or None."""
        return None

    @abstractmethod
    def infer(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float in [0, 1] -> same shape, float in [0, 1]. Any H and W."""

    def run_padded(self, x: torch.Tensor, run: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``run`` (the core network, which takes H and W multiples of ``multiple``) on
        ``x`` padded as PyTorch pads it (:func:`~streamdeblur.models.pad_to_multiple`), cropped back."""
        xp, h, w = pad_to_multiple(x, self.multiple, self.min_size)
        return run(xp)[..., :h, :w]

    def infer_tiled(self, x: torch.Tensor) -> torch.Tensor:
        """``infer``, through overlapping tiles when the frame exceeds ``max_tile``; without
        ``max_tile``, through tiles that fit when the whole frame would not fit in host memory."""
        tile = self.tile_for(x.shape[0], x.shape[-2], x.shape[-1])
        return self.infer(x) if tile is None else self._tiled(x, tile)

    def tile_for(self, n: int, h: int, w: int) -> int | None:
        """The tile size ``infer_tiled`` runs ``n`` frames of ``w`` x ``h`` in (None: whole): ``max_tile``
        where they exceed it; without it, what fits in host memory (a model on a GPU: whole, its memory not
        estimated here), which is said once per size in ``notices``. Asked before a long run, it says so then."""
        if self.max_tile:
            return self.max_tile if h > self.max_tile or w > self.max_tile else None
        if self.device != "cpu":
            return None
        from ..tiling import auto_tile

        tile = auto_tile(n, h, w, self.multiple)
        if tile is not None:
            note = f"{w}x{h} frames do not fit in memory whole: deblurring them in {tile}x{tile} tiles (--max-tile)"
            if note not in self.notices:
                self.notices.append(note)
        return tile

    def _tiled(self, x: torch.Tensor, tile: int) -> torch.Tensor:
        from ..tiling import default_overlap, tiled_infer

        overlap = self.tile_overlap if self.tile_overlap is not None else default_overlap(tile, self.multiple)
        return tiled_infer(self.infer, x, tile, overlap, align=self.multiple)

    def to_device(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 or uint16 (N, H, W, 3) host frames -> float NCHW in [0, 1] on this backend's device."""
        return to_float(as_tensor(frames))

    def from_device(self, y: torch.Tensor, dtype: type[np.unsignedinteger] = np.uint8) -> np.ndarray:
        """float NCHW in [0, 1] -> (N, H, W, 3) host frames of ``dtype`` (uint8 or uint16)."""
        return to_frames(y.float(), frame_dtype(dtype)).cpu().numpy()

    def process(self, frames: np.ndarray) -> np.ndarray:
        """uint8 or uint16 (N, H, W, 3) RGB frames -> deblurred frames of the same shape and dtype.

        Safe to call from several threads: the calls run one at a time."""
        if not isinstance(frames, np.ndarray):
            raise InputError(f"{_FRAMES}, got a {type(frames).__name__}", _FRAMES_FIX)
        if (
            frames.ndim != 4
            or frames.shape[-1] != 3
            or frames.dtype not in (np.uint8, np.uint16)
            or 0 in frames.shape[1:3]
        ):
            raise InputError(f"{_FRAMES}, got {frames.dtype} {frames.shape}", _FRAMES_FIX)
        with self._process_lock, torch.inference_mode():
            try:
                return self.from_device(self.infer_tiled(self.to_device(frames)), frames.dtype.type)
            except FrameMemoryError:
                raise
            except (MemoryError, RuntimeError) as e:
                if not is_out_of_memory(e):
                    raise
                raise self._out_of_memory(frames.shape) from e

    def _out_of_memory(self, shape: tuple[int, ...]) -> FrameMemoryError:
        """The one-line error for a batch that ran out of memory, naming ``--max-tile``."""
        n, h, w = shape[0], shape[1], shape[2]
        # never below two grid steps: the smallest tile that overlaps its neighbours, the least max_tile takes
        smaller = max(2 * self.multiple, min(h, w, self.max_tile or 1024) // 2 // self.multiple * self.multiple)
        where = "GPU memory" if self.device != "cpu" else "host memory"
        tiles = f" in {self.max_tile}px tiles" if self.max_tile else ""
        batch = f" (a batch of {n})" if n > 1 else ""
        return FrameMemoryError(
            f"a {w}x{h} frame{batch} ran out of {where}{tiles}",
            f"deblur it in smaller tiles with --max-tile {smaller} (or --batch 1)",
        )

    def describe(self) -> str:
        return f"{self.name} ({self.device}, {self.precision})"

    def close(self) -> None:
        """Release device memory and sessions. Safe to call twice."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_OOM_WORDS = ("out of memory", "can't allocate memory", "cannot allocate memory", "bad_alloc", "failed to allocate")


def is_out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an allocation failure: Python's MemoryError, or a runtime's own
    (PyTorch's CPU allocator and CUDA, OpenVINO's ``std::bad_alloc``, ONNX Runtime)."""
    if isinstance(e, MemoryError):
        return True
    text = str(e).lower()
    return any(word in text for word in _OOM_WORDS)


class HostOnnxBackend(Backend):
    """A backend whose runtime takes the exported ONNX's input as a host array (ONNX
    Runtime, OpenVINO): ``infer`` brings the batch to the CPU as float32, pads it, runs
    :meth:`_run` and crops. :meth:`close` marks it closed; ``infer`` then refuses."""

    closed: bool = False

    @abstractmethod
    def _run(self, xp: torch.Tensor) -> torch.Tensor:
        """The core network on a padded float32 CPU batch."""

    def infer(self, batch: torch.Tensor) -> torch.Tensor:
        if self.closed:
            raise RuntimeError("backend is closed")
        y = self.run_padded(batch.detach().to("cpu", torch.float32), self._run)
        return y.contiguous().to(batch.device, batch.dtype)

    def close(self) -> None:
        self.closed = True
