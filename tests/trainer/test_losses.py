from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from streamdeblur.errors import InputNotFoundError, WeightsError
from trainer.critic import PatchCritic, receptive_field
from trainer.losses import ContentLoss, PixelLoss, fft_amplitude_loss, gradient_penalty, load_vgg19_conv3_3, psnr_loss


def test_patch_critic_shape_and_receptive_field() -> None:
    critic = PatchCritic(width=8)
    assert receptive_field() == 70
    assert critic(torch.rand(2, 3, 128, 128)).shape == (2, 1, 14, 14)
    # the receptive field, measured: which input pixels move one output value
    # (InstanceNorm mixes the whole image, so measure the conv stack without it)
    probe = copy.deepcopy(critic)
    probe.net = nn.Sequential(*[nn.Identity() if isinstance(m, nn.InstanceNorm2d) else m for m in probe.net])
    x = torch.rand(1, 3, 160, 160, requires_grad=True)
    y = probe(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows = x.grad[0].abs().sum((0, 2)).nonzero()
    assert int(rows.max() - rows.min() + 1) == 70


def test_conditional_critic_needs_the_blurry_input() -> None:
    critic = PatchCritic(width=8, conditional=True)
    x = torch.rand(1, 3, 64, 64)
    assert critic(x, x).shape == (1, 1, 6, 6)
    with pytest.raises(ValueError, match="blurry"):
        critic(x)


class _Square(nn.Module):
    """D(x) = sum(x^2) per patch: grad = 2x, so the penalty is computable by hand."""

    def forward(self, x: torch.Tensor, blurry: torch.Tensor | None = None) -> torch.Tensor:
        return (x**2).sum((1, 2, 3)).view(-1, 1, 1, 1)


def test_gradient_penalty_per_sample_alpha_and_norm() -> None:
    real = torch.rand(3, 3, 4, 4)
    fake = torch.rand(3, 3, 4, 4)
    torch.manual_seed(5)
    gp = gradient_penalty(_Square(), real, fake, weight=10.0)
    torch.manual_seed(5)
    alpha = torch.rand(3, 1, 1, 1)
    x_hat = alpha * real + (1 - alpha) * fake
    norms = (2 * x_hat).reshape(3, -1).norm(dim=1)
    assert gp.item() == pytest.approx(10 * ((norms - 1) ** 2).mean().item(), rel=1e-5)
    # one alpha for the whole batch would give another value
    same = alpha[:1].expand(3, 1, 1, 1)
    norms_same = (2 * (same * real + (1 - same) * fake)).reshape(3, -1).norm(dim=1)
    assert gp.item() != pytest.approx(10 * ((norms_same - 1) ** 2).mean().item(), rel=1e-3)


def test_gradient_penalty_trains_the_critic_towards_unit_gradients() -> None:
    torch.manual_seed(0)
    critic = PatchCritic(width=4)
    real, fake = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    opt = torch.optim.Adam(critic.parameters(), 1e-2)
    first = None
    for _ in range(8):
        gp = gradient_penalty(critic, real, fake)
        first = first if first is not None else gp.item()
        opt.zero_grad()
        gp.backward()
        opt.step()
    assert gp.item() < first


def test_pixel_and_fft_losses() -> None:
    x = torch.rand(2, 3, 32, 32)
    assert PixelLoss("l1")(x, x).item() == 0
    assert PixelLoss("charbonnier")(x, x).item() == pytest.approx(1e-3, rel=1e-3)
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    assert fft_amplitude_loss(blurred, x).item() > 0.01
    with pytest.raises(ValueError):
        PixelLoss("l2")


def test_perceptual_needs_a_real_vgg19_file(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="needs --vgg-weights"):
        ContentLoss("perceptual")
    with pytest.raises(InputNotFoundError, match="not found"):
        load_vgg19_conv3_3(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="not a PyTorch state dict"):
        load_vgg19_conv3_3(junk)
    other = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, other)
    with pytest.raises(WeightsError, match="not a VGG-19 state dict"):
        load_vgg19_conv3_3(other)


def test_perceptual_loss_from_a_vgg19_shaped_file(tmp_path: Path) -> None:
    # the shapes of torchvision's vgg19 (conv3_3 and the two layers VGG-16 lacks);
    # random values only to exercise the loading path
    shapes = {
        0: (64, 3),
        2: (64, 64),
        5: (128, 64),
        7: (128, 128),
        10: (256, 128),
        12: (256, 256),
        14: (256, 256),
        32: (512, 512),
        34: (512, 512),
    }
    g = torch.Generator().manual_seed(0)
    state = {}
    for i, (o, c) in shapes.items():
        state[f"features.{i}.weight"] = torch.randn(o, c, 3, 3, generator=g) * 0.05
        state[f"features.{i}.bias"] = torch.zeros(o)
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    loss = ContentLoss("both", vgg_weights=path)
    x = torch.rand(1, 3, 32, 32)
    assert loss(x, x).item() == pytest.approx(0, abs=1e-7)
    assert loss(torch.rand(1, 3, 32, 32), x).item() > 0
    assert not any(p.requires_grad for p in loss.perceptual.vgg.parameters())


def test_psnr_loss_is_minus_the_mean_psnr_and_weighs_nearly_sharp_samples_up() -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    # sample 0 off by 1 level everywhere (48.1 dB), sample 1 by 16 levels (24.0 dB)
    out = target.clone()
    out[0] += 1 / 255
    out[1] += 16 / 255
    mse = [float(np.mean((out[i] - target[i]).numpy().astype(np.float64) ** 2)) for i in range(2)]
    psnrs = [10 * np.log10(1 / m) for m in mse]
    # far above the floor: exactly minus the mean PSNR / 100
    assert psnr_loss(out, target, floor_db=120).item() == pytest.approx(-np.mean(psnrs) / 100, rel=1e-4)
    # the floor caps PSNR: an exact copy scores floor_db, not infinity
    assert psnr_loss(target, target, floor_db=50).item() == pytest.approx(-0.5, rel=1e-5)
    # per-sample gradient: L1 pulls both samples equally; the PSNR loss pulls the nearly
    # sharp one harder, by the ratio of (error / (MSE + eps)): 16x without a floor, less with
    grads = {}
    for kind in ("l1", "psnr"):
        o = out.clone().requires_grad_(True)
        PixelLoss(kind, fft_weight=0)(o, target).backward()
        g = o.grad.abs().reshape(2, -1).mean(1)
        grads[kind] = (g[0] / g[1]).item()
    eps = 1e-5  # the default 50 dB floor
    assert grads["l1"] == pytest.approx(1.0)
    assert grads["psnr"] == pytest.approx((1 / (mse[0] + eps)) / (16 / (mse[1] + eps)), rel=1e-3)
    assert 5 < grads["psnr"] < 16
