"""Run a model over a frame too large for it, tile by tile, with no visible seam.

Tiles overlap; each tile's output is weighted by a window that is 1 in its interior
and ramps smoothly (raised cosine) to near 0 across the overlap wherever a neighbour
tile takes over, then the weighted sum is normalised. Tile origins are aligned to the
model's size multiple (``align``), so a tile's strided convolutions see the same pixel
grid as the whole frame's, and the tile's padded border falls in the faded-out band.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


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
