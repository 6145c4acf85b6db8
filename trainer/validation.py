"""Scoring during a run: the fixed validation pairs (never trained on), one frame through
the generator, and the mean PSNR/SSIM per blur kind of the model and of the blurry input."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import numpy as np
import torch

from streamdeblur.errors import DataError

from .config import TrainConfig
from .datasets import GoProPairs
from .images import from_tensor, to_tensor
from .metrics import psnr, ssim
from .photos import find_photos, load_photo
from .synth import BLUR_KINDS, SynthConfig, synth_pair


def validation_pairs(cfg: TrainConfig) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Fixed (blurred, sharp, kind) pairs the model is scored on; never trained on."""
    if cfg.val_data:
        ds = GoProPairs(cfg.val_data, "test", max_frames=cfg.val_frames)
        return [(b, s, k) for b, s, k, _ in ds]
    if cfg.data:
        # a user's GoPro set: its test split, if it has one
        try:
            ds = GoProPairs(cfg.data, "test", max_frames=cfg.val_frames)
        except DataError:
            return []
        return [(b, s, k) for b, s, k, _ in ds]
    photos = [
        p
        for p in find_photos(cfg.packages, extra_dirs=[cfg.photos] if cfg.photos else (), allow_missing=True)
        if p.split == "test"
    ]
    if not photos:
        return []
    rng = np.random.default_rng([cfg.seed, 999_983])
    pairs = []
    images: dict[int, np.ndarray] = {}
    for i in range(cfg.val_frames):
        kind = BLUR_KINDS[i % len(BLUR_KINDS)]
        photo = images.setdefault(
            i // len(BLUR_KINDS) % len(photos), load_photo(photos[i // len(BLUR_KINDS) % len(photos)])
        )
        synth = SynthConfig(color_jitter=0.0)
        b, s, k = synth_pair(photo, (cfg.val_size, cfg.val_size), rng, synth, kind=kind)
        pairs.append((b, s, k))
    return pairs


@torch.no_grad()
def run_generator(model: torch.nn.Module, img: np.ndarray, device: torch.device, amp: bool = False) -> np.ndarray:
    """One HxWx3 uint8 frame through the generator, back to uint8."""
    x = to_tensor([img]).to(device)
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if (amp and device.type == "cuda") else contextlib.nullcontext()
    with ctx:
        y = model(x)
    return from_tensor(y.float())[0]


def scores(pairs: Iterable[tuple[np.ndarray, np.ndarray, str]]) -> dict:
    """Mean PSNR/SSIM of (image, sharp, kind) triples, per kind and overall."""
    per: dict[str, list[tuple[float, float]]] = {}
    for img, s, k in pairs:
        m = (psnr(img, s), ssim(img, s))
        per.setdefault(k, []).append(m)
        per.setdefault("all", []).append(m)
    return {
        k: {"psnr": float(np.mean([m[0] for m in v])), "ssim": float(np.mean([m[1] for m in v])), "n": len(v)}
        for k, v in per.items()
    }


def validate(model: torch.nn.Module, pairs: list, device: torch.device, amp: bool) -> dict:
    """Mean PSNR/SSIM of the model's output per blur kind and overall."""
    was = model.training
    model.eval()
    try:
        return scores((run_generator(model, b, device, amp), s, k) for b, s, k in pairs)
    finally:
        model.train(was)


def input_scores(pairs: list) -> dict:
    """The same numbers for the blurry input itself: the bar a model has to clear."""
    return scores(pairs)
