"""The PatchGAN critic of DeblurGAN (pix2pix's 70x70 discriminator, without the sigmoid).

Five 4x4 convolutions (three with stride 2), LeakyReLU 0.2 and InstanceNorm: each output
value judges one ~70x70 patch, so the critic scores texture and sharpness rather than
global layout. No sigmoid: under WGAN-GP it is a critic returning unbounded scores.
InstanceNorm (not BatchNorm) keeps each sample independent, as the per-sample gradient
penalty requires. With ``conditional=True`` it also sees the blurry input (6 channels),
so it judges "is this a plausible sharp version of *this* frame".
"""

from __future__ import annotations

import torch
from torch import nn


class PatchCritic(nn.Module):
    def __init__(self, width: int = 64, n_layers: int = 3, conditional: bool = False) -> None:
        super().__init__()
        self.conditional = conditional
        self.args = {"width": width, "n_layers": n_layers, "conditional": conditional}
        c_in = 6 if conditional else 3
        layers: list[nn.Module] = [nn.Conv2d(c_in, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for i in range(1, n_layers):
            c_next = width * min(2**i, 8)
            layers += [
                nn.Conv2d(c, c_next, 4, stride=2, padding=1),
                nn.InstanceNorm2d(c_next, affine=True),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            c = c_next
        c_next = width * min(2**n_layers, 8)
        layers += [
            nn.Conv2d(c, c_next, 4, stride=1, padding=1),
            nn.InstanceNorm2d(c_next, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        layers += [nn.Conv2d(c_next, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, blurry: torch.Tensor | None = None) -> torch.Tensor:
        """Per-patch scores (N, 1, h, w) for images in [0, 1] (mapped to [-1, 1] inside)."""
        x = image * 2 - 1
        if self.conditional:
            if blurry is None:
                raise ValueError("a conditional critic needs the blurry input too")
            x = torch.cat([x, blurry * 2 - 1], dim=1)
        return self.net(x)


def receptive_field(n_layers: int = 3) -> int:
    """The receptive field of one output value in input pixels (70 for the default)."""
    rf = 1
    # walk back from the output: last two layers stride 1, then n_layers stride-2 layers
    for stride in [1, 1] + [2] * n_layers:
        rf = (rf - 1) * stride + 4
    return rf
