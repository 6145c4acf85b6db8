"""deblurgan-lite: the real-time generator the runtime uses by default.

A small NAFNet-style U-Net (Chen et al. 2022): gated depthwise blocks without
activations, strided 2x2 convs down, pixel-shuffle up, additive skips and a global
residual. Two deliberate departures from NAFNet:

* no simplified channel attention: its global average pool makes a tile's output depend
  on the whole frame, which breaks seamless tiling of large frames;
* it starts as the identity (every block's residual scales and the output conv are
  zero), so training never makes a frame worse before it makes it better.

Normalisation is a per-pixel LayerNorm over channels, which exports to ONNX and TensorRT
as plain reductions.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import Arg, Generator


class LayerNorm2d(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias


class SimpleGate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    def __init__(self, c: int, expand: int = 2) -> None:
        super().__init__()
        dw = c * expand
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.gate = SimpleGate()
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, c * expand, 1)
        self.conv5 = nn.Conv2d(c * expand // 2, c, 1)
        # residual scales start at zero: the block is the identity until it learns otherwise
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(self.gate(self.conv2(self.conv1(self.norm1(x)))))
        x = x + y * self.beta
        y = self.conv5(self.gate(self.conv4(self.norm2(x))))
        return x + y * self.gamma


class DeblurGANLite(Generator):
    arch = "deblurgan-lite"
    #: what a model card's args may hold (models.common.check_args)
    ARGS = {
        "width": Arg(int, 1, 512),
        "enc_blocks": Arg(int, 0, 64, levels=(1, 8)),
        "middle_blocks": Arg(int, 0, 64),
        "dec_blocks": Arg(int, 0, 64, levels=(1, 8)),
    }

    def __init__(
        self,
        width: int = 16,
        enc_blocks: tuple[int, ...] | list[int] = (1, 1, 1, 2),
        middle_blocks: int = 2,
        dec_blocks: tuple[int, ...] | list[int] = (1, 1, 1, 1),
    ) -> None:
        super().__init__()
        enc_blocks, dec_blocks = list(enc_blocks), list(dec_blocks)
        if len(enc_blocks) != len(dec_blocks):
            raise ValueError("enc_blocks and dec_blocks must have the same length")
        self.arch_args = {
            "width": width,
            "enc_blocks": enc_blocks,
            "middle_blocks": middle_blocks,
            "dec_blocks": dec_blocks,
        }
        self.size_multiple = 2 ** len(enc_blocks)
        self.intro = nn.Conv2d(3, width, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        c = width
        for n in enc_blocks:
            self.encoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
            self.downs.append(nn.Conv2d(c, c * 2, 2, stride=2))
            c *= 2
        self.middle = nn.Sequential(*[NAFBlock(c) for _ in range(middle_blocks)])
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for n in dec_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(c, c * 2, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
        self.ending = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.ending.weight)
        nn.init.zeros_(self.ending.bias)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x + self.ending(self.unet(self.intro(x))), 0.0, 1.0)

    def unet(self, h: torch.Tensor) -> torch.Tensor:
        """The encoders, middle and decoders on the first conv's features (``width`` channels)."""
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.middle(h)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips)):
            h = dec(up(h) + skip)
        return h
