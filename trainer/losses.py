"""Losses: WGAN-GP for the critic and the generator, and the content losses.

* WGAN-GP (Gulrajani et al. 2017): one interpolation factor per *sample* and the norm of
  each sample's flattened gradient (not one alpha per batch and a per-pixel norm, as
  DeblurGAN-v2 does), penalised towards 1 with weight lambda = 10.
* Content: DeblurGAN's perceptual loss (MSE between VGG-19 conv3_3 features; weights
  only from a local torchvision state dict: never random VGG weights), or a pixel loss
  (L1, Charbonnier or NAFNet's PSNR loss) plus an FFT-amplitude term, which rewards restored high
  frequencies that a pixel loss alone averages away.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from streamdeblur.errors import InputNotFoundError, WeightsError

# ---------------------------------------------------------------- adversarial (WGAN-GP)


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Wasserstein critic loss: push real scores up and fake scores down."""
    return fake_scores.mean() - real_scores.mean()


def generator_adv_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, blurry: torch.Tensor | None = None, weight: float = 10.0
) -> torch.Tensor:
    """``weight * E[(||grad_x D(x_hat)||_2 - 1)^2]`` with a per-sample alpha and per-sample norm."""
    n = real.shape[0]
    alpha = torch.rand(n, 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat, blurry) if blurry is not None else critic(x_hat)
    # each sample's critic value is the mean of its patch scores (what the losses use);
    # summing over samples keeps the samples' gradients separate
    value = scores.reshape(n, -1).mean(1)
    (grad,) = torch.autograd.grad(value.sum(), x_hat, create_graph=True)
    norms = grad.reshape(n, -1).norm(2, dim=1)
    return weight * ((norms - 1) ** 2).mean()


# ---------------------------------------------------------------- pixel and frequency


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((x - y) ** 2 + eps * eps).mean()


def fft_amplitude_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 between the 2-D FFT amplitudes (orthonormal, so independent of the crop size)."""
    fx = torch.fft.rfft2(x.float(), norm="ortho").abs()
    fy = torch.fft.rfft2(y.float(), norm="ortho").abs()
    return (fx - fy).abs().mean()


def psnr_loss(x: torch.Tensor, y: torch.Tensor, floor_db: float = 50.0) -> torch.Tensor:
    """Minus the batch's mean per-sample PSNR in dB, divided by 100 (images in [0, 1]).

    NAFNet's PSNR loss (Chen et al. 2022), with a floor. Its gradient on each sample is the
    MSE gradient divided by that sample's ``MSE + eps``, so a nearly sharp pair, whose
    error is small, weighs more than with L1 (about 6x at 47 dB against a 28 dB pair): the
    loss follows the eval's mean PSNR. ``eps`` puts PSNR at most ``floor_db``: without it
    (NAFNet's 1e-8, 80 dB) an unblurred pair's exact identity is worth 30 dB more than a
    barely touched output, and the model learns to leave mild blur alone (tried: a
    fine-tune lost 0.5 dB on GoPro validation pairs in 1,000 steps). The 1/100 keeps it on
    L1's scale (``content_weight`` 100 makes the logged total minus the mean PSNR in dB).
    """
    eps = 10.0 ** (-floor_db / 10.0)
    mse = ((x.float() - y.float()) ** 2).reshape(x.shape[0], -1).mean(1)
    return (10.0 / 100.0) * torch.log10(mse + eps).mean()


PIXEL_LOSSES = {"l1": F.l1_loss, "charbonnier": charbonnier, "psnr": psnr_loss}


class PixelLoss(nn.Module):
    """L1 or Charbonnier plus ``fft_weight`` times the FFT-amplitude term."""

    def __init__(self, kind: str = "l1", fft_weight: float = 0.05) -> None:
        super().__init__()
        if kind not in PIXEL_LOSSES:
            raise ValueError(f"pixel loss must be one of {', '.join(PIXEL_LOSSES)}, got {kind!r}")
        self.kind, self.fft_weight = kind, fft_weight

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        base = PIXEL_LOSSES[self.kind](out, target)
        if self.fft_weight > 0:
            base = base + self.fft_weight * fft_amplitude_loss(out, target)
        return base


# ---------------------------------------------------------------- perceptual (VGG-19)

# torchvision's vgg19().features indices up to conv3_3 (index 14): conv, relu, ... pool
_VGG_CONVS = {0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128), 10: (128, 256), 12: (256, 256), 14: (256, 256)}
# layers that exist in VGG-19's features but not in VGG-16's, with their shapes: the check
# that a file really is VGG-19 (16 convs, features.0 ... features.34)
_VGG19_ONLY = {"features.34.weight": (512, 512, 3, 3), "features.32.weight": (512, 512, 3, 3)}


def _vgg19_to_conv3_3() -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(15):
        if i in _VGG_CONVS:
            cin, cout = _VGG_CONVS[i]
            layers.append(nn.Conv2d(cin, cout, 3, padding=1))
        elif i in (4, 9):
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


def load_vgg19_conv3_3(path: str | os.PathLike) -> nn.Sequential:
    """VGG-19 features up to conv3_3 from a torchvision ``vgg19`` state dict file, frozen."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputNotFoundError(
            f"--vgg-weights file not found: {path}",
            "pass a torchvision vgg19 state dict (e.g. vgg19-dcbb9e9d.pth), or use --content pixel",
        )
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors all mean the same thing to the user
        raise WeightsError(
            f"--vgg-weights {path} is not a PyTorch state dict ({e.__class__.__name__})",
            "pass torchvision's vgg19 weights file",
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(
            f"--vgg-weights {path} holds a {type(state).__name__}, not a state dict",
            "pass torchvision's vgg19 weights file",
        )
    state = {k.removeprefix("module."): v for k, v in state.items()}
    problems = []
    for i, (cin, cout) in _VGG_CONVS.items():
        w = state.get(f"features.{i}.weight")
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != (cout, cin, 3, 3):
            problems.append(f"features.{i}.weight")
    for k, shape in _VGG19_ONLY.items():
        w = state.get(k)
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != shape:
            problems.append(k)
    if problems:
        raise WeightsError(
            f"--vgg-weights {path} is not a VGG-19 state dict (missing or misshapen: {', '.join(problems[:3])})",
            "pass torchvision's vgg19 weights (a VGG-16 or other network will not do)",
        )
    net = _vgg19_to_conv3_3()
    net.load_state_dict(
        {f"{i}.{p}": state[f"features.{i}.{p}"].float() for i in _VGG_CONVS for p in ("weight", "bias")}
    )
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


class PerceptualLoss(nn.Module):
    """MSE between VGG-19 conv3_3 features of output and target (ImageNet normalisation)."""

    def __init__(self, vgg_weights: str | os.PathLike) -> None:
        super().__init__()
        self.vgg = load_vgg19_conv3_3(vgg_weights)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> PerceptualLoss:  # the VGG stays frozen in eval mode
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fo = self.vgg((out - self.mean) / self.std)
        with torch.no_grad():
            ft = self.vgg((target - self.mean) / self.std)
        return F.mse_loss(fo, ft)


CONTENT_LOSSES = ("pixel", "perceptual", "both")


class ContentLoss(nn.Module):
    """What the generator is asked to reproduce: ``perceptual``, ``pixel``, or ``both`` (summed)."""

    def __init__(
        self,
        kind: str = "pixel",
        *,
        pixel: str = "l1",
        fft_weight: float = 0.05,
        vgg_weights: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        if kind not in CONTENT_LOSSES:
            raise ValueError(f"content loss must be pixel, perceptual or both, got {kind!r}")
        self.kind = kind
        self.pixel = PixelLoss(pixel, fft_weight) if kind in ("pixel", "both") else None
        if kind in ("perceptual", "both"):
            if vgg_weights is None:
                raise InputNotFoundError(
                    f"--content {kind} needs --vgg-weights PATH "
                    "(a local torchvision vgg19 state dict; nothing is downloaded)",
                    "pass the file, or use --content pixel",
                )
            self.perceptual: PerceptualLoss | None = PerceptualLoss(vgg_weights)
        else:
            self.perceptual = None

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = out.new_zeros(())
        if self.pixel is not None:
            total = total + self.pixel(out, target)
        if self.perceptual is not None:
            total = total + self.perceptual(out, target)
        return total
