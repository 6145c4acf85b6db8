"""Run a model over a frame too large for it, tile by tile, with no visible seam.

Tiles overlap; each tile's output is weighted by a window that is 1 in its interior
and ramps smoothly (raised cosine) to near 0 across the overlap wherever a neighbour
tile takes over, then the weighted sum is normalised. Tile origins are aligned to the
model's size multiple (``align``), so a tile's strided convolutions see the same pixel
grid as the whole frame's, and the tile's padded border falls in the faded-out band.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import torch

from .errors import FrameMemoryError

#: Peak host memory the generator's activations take per pixel of a frame (per frame of a
#: batch). Measured for deblurgan-lite (shipped width) on the CPU with PyTorch: peak RSS
#: growth of ~1000 bytes/px for 256x256 and 512x512 frames (654 at 1024x1024); 1.5x that,
#: to stay conservative for other backends and models.
ACTIVATION_BYTES_PER_PIXEL = 1536
#: What the whole frame costs even when the model runs tile by tile, per pixel: the frames
#: (decoded, stacked, out: 9 bytes uint8, 18 uint16 for deep colour), the float input, the
#: blend's sum, weights and result (~58 bytes for uint16 frames, rounded up).
FRAME_BYTES_PER_PIXEL = 64
#: the smallest tile picked automatically: below this the overlap would be most of the work
MIN_AUTO_TILE = 128
#: the share of the available memory an estimate may plan to use
_MEMORY_SHARE = 0.75


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Origins (multiples of ``align``) of tiles of at most ``tile`` pixels covering ``[0, length)``.

    Neighbours share at least ``overlap`` pixels; the last tile may be shorter so that
    every origin stays on the model's grid.
    """
    align = max(1, align)
    if length <= tile:
        return [0]
    if tile < align:
        raise ValueError(f"tile size {tile} is smaller than the model's size multiple {align}")
    stride = max(align, (tile - overlap) // align * align)
    last = -(-(length - tile) // align) * align  # on the grid; that tile may end up shorter
    n = -(-last // stride) + 1
    # spread evenly: consecutive origins stay at most `stride` apart, so overlaps stay >= overlap
    return sorted({(i * last // (n - 1)) // align * align for i in range(n)})


def default_overlap(tile: int, align: int = 1) -> int:
    """A third of the tile (at least 32 px), on the model's grid: wide enough that each
    tile's padded border is faded out before it can show."""
    align = max(1, align)
    ov = max(32, tile // 3)
    return min(tile // 2 // align * align, -(-ov // align) * align) if tile >= 2 * align else 0


def _ramp(tile_len: int, lo_overlap: int, hi_overlap: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """1-D window: raised-cosine ramps of the given widths at each end, 1 between."""
    w = torch.ones(tile_len, device=device, dtype=torch.float32)
    if lo_overlap > 0:
        t = (torch.arange(lo_overlap, device=device, dtype=torch.float32) + 0.5) / lo_overlap
        w[:lo_overlap] = 0.5 - 0.5 * torch.cos(math.pi * t)
    if hi_overlap > 0:
        t = (torch.arange(hi_overlap, device=device, dtype=torch.float32) + 0.5) / hi_overlap
        w[tile_len - hi_overlap :] = torch.minimum(w[tile_len - hi_overlap :], (0.5 + 0.5 * torch.cos(math.pi * t)))
    return w.to(dtype)


def _windows(starts: list[int], tile_len: list[int]) -> list[tuple[int, int]]:
    """For each tile along one axis, the widths of its (leading, trailing) blend bands."""
    out = []
    for i, (s, n) in enumerate(zip(starts, tile_len)):
        lo = (starts[i - 1] + tile_len[i - 1] - s) if i > 0 else 0
        hi = (s + n - starts[i + 1]) if i + 1 < len(starts) else 0
        out.append((max(0, lo), max(0, hi)))
    return out


def tiled_infer(
    infer_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    overlap: int,
    align: int = 1,
) -> torch.Tensor:
    """``infer_fn`` applied to ``x`` (N, C, H, W) through overlapping ``tile``-sized tiles, blended.

    ``infer_fn`` must return a tensor of its input's shape. Frames no larger than
    ``tile`` go through in one call.
    """
    if tile <= 0:
        raise ValueError(f"tile size must be positive, got {tile}")
    n, c, h, w = x.shape
    if h <= tile and w <= tile:
        return infer_fn(x)
    overlap = max(0, min(overlap, tile // 2))
    ys = tile_starts(h, tile, overlap, align)
    xs = tile_starts(w, tile, overlap, align)
    th = [min(tile, h - s) for s in ys]
    tw = [min(tile, w - s) for s in xs]
    wy = _windows(ys, th)
    wx = _windows(xs, tw)
    acc = None
    norm = torch.zeros(1, 1, h, w, device=x.device, dtype=torch.float32)
    for y0, hh, (ylo, yhi) in zip(ys, th, wy):
        ry = _ramp(hh, ylo, yhi, x.device, torch.float32)
        for x0, ww, (xlo, xhi) in zip(xs, tw, wx):
            rx = _ramp(ww, xlo, xhi, x.device, torch.float32)
            out = infer_fn(x[:, :, y0 : y0 + hh, x0 : x0 + ww])
            if acc is None:
                acc = torch.zeros(n, out.shape[1], h, w, device=out.device, dtype=torch.float32)
            win = (ry[:, None] * rx[None, :])[None, None]
            acc[:, :, y0 : y0 + hh, x0 : x0 + ww] += out.float() * win
            norm[:, :, y0 : y0 + hh, x0 : x0 + ww] += win
    assert acc is not None
    return (acc / norm.to(acc.device)).to(x.dtype)


try:  # looked up once: available_memory() runs for every batch, and a failed import searches sys.path each time
    import psutil as _psutil
except ImportError:
    _psutil = None


def available_memory() -> int | None:
    """Bytes this process may still allocate on the host, or None if unknown: the system's
    available memory (psutil, else free pages), and under a ``ulimit -v`` (RLIMIT_AS) what
    is left of that limit, whichever is smaller."""
    found: list[int] = []
    try:
        found.append(int(_psutil.virtual_memory().available))  # type: ignore[union-attr]
    except Exception:  # not installed (None), or no /proc
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            found.append(max(0, soft - _address_space_used()))
    except (ImportError, ValueError, OSError):
        pass
    return min(found) if found else None


def _address_space_used() -> int:
    """This process's virtual size (what RLIMIT_AS counts), 0 where unknown."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _gb(n: float) -> str:
    return f"{n / 2**30:.1f} GB"


def auto_tile(n: int, h: int, w: int, align: int = 1, available: int | None = None) -> int | None:
    """The tile size that lets ``n`` frames of ``h`` x ``w`` fit in ``available`` bytes
    (default: :func:`available_memory`), or None when the whole frames fit (or nothing is known).

    Raises :class:`FrameMemoryError` when even tiles of ``MIN_AUTO_TILE`` would not fit.
    """
    if available is None:
        available = available_memory()
        if available is None:
            return None
    budget = available * _MEMORY_SHARE
    whole = n * h * w * (ACTIVATION_BYTES_PER_PIXEL + FRAME_BYTES_PER_PIXEL)
    if whole <= budget:
        return None
    left = budget - n * h * w * FRAME_BYTES_PER_PIXEL
    align = max(1, align)
    tile = int(math.sqrt(max(0.0, left) / (n * ACTIVATION_BYTES_PER_PIXEL))) // align * align if left > 0 else 0
    if tile < max(MIN_AUTO_TILE, align):
        least = n * (h * w * FRAME_BYTES_PER_PIXEL + MIN_AUTO_TILE**2 * ACTIVATION_BYTES_PER_PIXEL)
        raise FrameMemoryError(
            f"a {w}x{h} frame needs about {_gb(least)} of memory even in tiles, and {_gb(available)} is available",
            "free memory or raise the limit (ulimit -v), use --batch 1, or downscale the input;"
            " --max-tile sets the tile size",
        )
    return min(tile, max(h, w))
