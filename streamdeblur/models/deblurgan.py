"""DeblurGAN generator (Kupyn et al., CVPR 2018), built as the paper describes it.

Reflection pad + 7x7 conv to 64 channels, two stride-2 3x3 convs to 128 and 256,
nine ResBlocks of *two* 3x3 convs each (the reference code's operator-precedence slip
leaves one), two transposed convs back to 64, a 7x7 conv to 3, tanh, and the global
residual: the network predicts a correction that is added to the blurry input.
InstanceNorm and ReLU throughout; dropout 0.5 after the first conv of each ResBlock
(active in training only).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import Arg, Generator


class ResBlock(nn.Module):
    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(inplace=True),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DeblurGANGenerator(Generator):
    """The paper's generator. ~11.4M parameters."""

    arch = "deblurgan"
    size_multiple = 4
    min_size = 8  # the ResBlocks' reflection pad needs 2 pixels at 1/4 resolution
    #: what a model card's args may hold (models.common.check_args)
    ARGS = {"base_channels": Arg(int, 1, 512), "n_blocks": Arg(int, 0, 64), "dropout": Arg(float, 0, 1)}

    def __init__(self, base_channels: int = 64, n_blocks: int = 9, dropout: float = 0.5) -> None:
        super().__init__()
        self.arch_args = {"base_channels": base_channels, "n_blocks": n_blocks, "dropout": dropout}
        c = base_channels
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, c, 7),
            nn.InstanceNorm2d(c),
            nn.ReLU(inplace=True),
        ]
        for mult in (1, 2):  # 64 -> 128 -> 256
            layers += [
                nn.Conv2d(c * mult, c * mult * 2, 3, stride=2, padding=1),
                nn.InstanceNorm2d(c * mult * 2),
                nn.ReLU(inplace=True),
            ]
        layers += [ResBlock(c * 4, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):  # 256 -> 128 -> 64
            layers += [
                nn.ConvTranspose2d(c * mult, c * mult // 2, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(c * mult // 2),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, 3, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        # The paper works in [-1, 1]: I_S = clamp(I_B + G(I_B)). In [0, 1] that is x + r / 2.
        r = self.body(x * 2 - 1)
        return torch.clamp(x + r * 0.5, 0.0, 1.0)
