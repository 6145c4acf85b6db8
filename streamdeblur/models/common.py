"""Pieces shared by every generator: padding to the model's multiple, a MAC counter, and the schema a
model card's architecture arguments are checked against before anything is allocated (:func:`check_args`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ..sizes import padded_size

#: the most parameters a generator may have (the shipped one has 1.9 M, the paper's 11.4 M): past this a card is
#: damaged or absurd, and building it would try to allocate gigabytes
MAX_PARAMS = 200_000_000


@dataclass(frozen=True)
class Arg:
    """One architecture argument: a number (``int`` or ``float``) in [lo, hi], or with ``levels`` a list of
    such ints, one per level, of a length in that range."""

    kind: type
    lo: float
    hi: float
    levels: tuple[int, int] | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value``, or None."""
        if self.levels is not None:
            lo, hi = self.levels
            if not isinstance(value, (list, tuple)) or not lo <= len(value) <= hi:
                return f"must be a list of {lo} to {hi} integers, got {value!r}"
            return next((f"entries {p}" for p in map(Arg(int, self.lo, self.hi).problem, value) if p), None)
        ok = isinstance(value, self.kind) or (self.kind is float and isinstance(value, int))
        if isinstance(value, bool) or not ok:
            return f"must be {'an integer' if self.kind is int else 'a number'}, got {value!r}"
        if not self.lo <= value <= self.hi:
            return f"must be between {self.lo:g} and {self.hi:g}, got {value!r}"
        return None


def check_args(arch: str, schema: dict[str, Arg], args: dict[str, Any]) -> None:
    """Refuse, in one line, architecture arguments the schema does not name or admit."""
    for name, value in args.items():
        if name not in schema:
            raise WeightsError(f"model {arch!r} has no argument {name!r}", f"its arguments: {', '.join(schema)}")
        problem = schema[name].problem(value)
        if problem:
            raise WeightsError(f"model {arch!r}: {name} {problem}", "the model card is damaged or was edited")


def pad_to_multiple(x: torch.Tensor, multiple: int, min_size: int = 1) -> tuple[torch.Tensor, int, int]:
    """Pad H and W (bottom/right) up to a multiple (and at least ``min_size``), so any frame size works.

    Reflection where the frame is large enough (no dark border for the convs to see),
    replication otherwise (reflect needs pad < size).
    """
    h, w = x.shape[-2], x.shape[-1]
    return pad_to(x, *padded_size(h, w, multiple, min_size)), h, w


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``x`` padded (bottom/right) to at least ``height`` x ``width``, as :func:`pad_to_multiple` pads:
    reflection where the frame is large enough, replication otherwise."""
    h, w = x.shape[-2], x.shape[-1]
    ph, pw = max(0, height - h), max(0, width - w)
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


class Generator(nn.Module):
    """Base for generators: RGB in [0, 1] (N, 3, H, W) -> RGB in [0, 1], same shape.

    Subclasses implement ``forward_padded`` on inputs whose H and W are multiples of
    ``size_multiple``; ``forward`` pads and crops so callers can pass any size.
    ``arch`` and ``arch_args`` are what a checkpoint stores to rebuild the model.
    """

    arch: str = ""
    size_multiple: int = 1
    #: smallest padded H and W the architecture accepts (reflection pads need room)
    min_size: int = 1
    #: the weights file it was loaded from (``models.load_generator``); None: built in memory
    source: str | None = None
    #: the checkpoint's JSON card (arch, args, trained_on, metrics) when loaded from a file
    card: dict[str, Any] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.arch_args: dict = {}

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, h, w = pad_to_multiple(x, self.size_multiple, self.min_size)
        y = self.forward_padded(xp)
        return y[..., :h, :w]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, height: int, width: int, channels: int = 3) -> int:
    """Multiply-accumulates of one forward pass on a (1, C, H, W) input.

    Counts convolutions, transposed convolutions and linear layers (everything else is
    a rounding error for these networks). Runs on a weightless "meta" copy of the model:
    only shapes are computed, so counting at 1280x720 takes a second, not a forward pass.
    """
    import copy

    model = copy.deepcopy(model).to("meta")
    total = 0

    def conv_hook(m: nn.Module, inp, out) -> None:
        nonlocal total
        if isinstance(m, nn.ConvTranspose2d):
            # each input position multiplies the whole kernel into the output
            x = inp[0]
            total += x.numel() // x.shape[0] * m.out_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Conv2d):
            total += out.numel() // out.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += out.numel() // out.shape[0] * m.in_features

    hooks = [
        m.register_forward_hook(conv_hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    was_training = model.training
    model.eval()
    try:
        p = next(model.parameters())
        model(torch.zeros(1, channels, height, width, device=p.device, dtype=p.dtype))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total
