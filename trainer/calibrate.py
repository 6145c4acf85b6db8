"""How strong is a blur? Real pairs against synthetic ones, at the crop size the model trains on.

For each (blurred, sharp) crop two numbers:

* ``psnr``: PSNR of the blurry crop against its sharp one (lower = stronger blur);
* ``sigma``: the blur's extent in pixels, as the sigma of the Gaussian blur that takes the
  sharp crop's mean gradient magnitude down to the blurry crop's (0: as sharp as the target).

``calibrate`` summarises both over the real pairs of a GoPro-layout set and over synthetic
pairs made with each candidate ``motion`` range, so the synthesis can be set to match real
blur (``streamdeblur-train calibrate``; the model card shows the table).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from .datasets import GoProPairs, SyntheticPairs
from .metrics import psnr
from .photos import find_photos
from .synth import SynthConfig

_SIGMAS = np.concatenate([[0.0], np.geomspace(0.3, 40.0, 48)])


def _grad_energy(img: np.ndarray) -> float:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(np.hypot(gx, gy)))


def blur_sigma(blurred: np.ndarray, sharp: np.ndarray) -> float:
    """The Gaussian sigma (px) at which the sharp crop's mean gradient falls to the blurry crop's."""
    target = _grad_energy(blurred)
    g = cv2.cvtColor(sharp, cv2.COLOR_RGB2GRAY)
    prev_s, prev_e = 0.0, _grad_energy(sharp)
    if target >= prev_e:
        return 0.0
    for s in _SIGMAS[1:]:
        e = _grad_energy(cv2.cvtColor(cv2.GaussianBlur(g, (0, 0), float(s)), cv2.COLOR_GRAY2RGB))
        if e <= target:  # interpolate between the two sigmas that bracket it
            return float(prev_s + (s - prev_s) * (prev_e - target) / max(prev_e - e, 1e-9))
        prev_s, prev_e = float(s), e
    return float(_SIGMAS[-1])


def crop_stats(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Mean and percentiles of PSNR and blur sigma over ``pairs``; the values themselves too."""
    p = np.array([min(psnr(b, s), 60.0) for b, s in pairs])
    sg = np.array([blur_sigma(b, s) for b, s in pairs])

    def summary(v: np.ndarray) -> dict[str, float]:
        return {
            "mean": float(v.mean()),
            "p10": float(np.percentile(v, 10)),
            "p50": float(np.percentile(v, 50)),
            "p90": float(np.percentile(v, 90)),
        }

    return {
        "n": len(pairs),
        "psnr": summary(p),
        "sigma": summary(sg),
        "psnr_values": p.round(3).tolist(),
        "sigma_values": sg.round(3).tolist(),
    }


def calibrate(
    real_root: str | os.PathLike,
    motions: Sequence[tuple[float, float]],
    *,
    crop: int = 256,
    samples: int = 96,
    split: str = "train",
    object_fraction: float = 0.0,
    continuous: bool = True,
    seed: int = 0,
    packages: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Blur statistics of ``samples`` real crops and, per motion range, of as many synthetic GoPro-style crops."""
    real = GoProPairs(real_root, split, crop=crop, seed=seed)
    rng = np.random.default_rng([seed, 5])
    out: dict[str, Any] = {"real_root": str(real_root), "split": split, "crop": crop, "samples": samples, "rows": []}
    out["rows"].append({"source": f"real {split}", **crop_stats([real.sample(rng) for _ in range(samples)])})
    photos = find_photos(packages, allow_missing=True)
    for lo, hi in motions:
        cfg = SynthConfig(
            gopro_fraction=1.0,
            motion=(lo, hi),
            object_fraction=object_fraction,
            continuous=continuous,
            color_jitter=0.0,
        )
        synth = SyntheticPairs(photos, crop=crop, batch_size=1, seed=seed, synth=cfg)
        r = np.random.default_rng([seed, 6])
        label = (
            f"synthetic motion {lo:g}-{hi:g}"
            + (f", objects {object_fraction:g}" if object_fraction else "")
            + (", continuous" if continuous else ", sub-frames only")
        )
        out["rows"].append(
            {
                "source": label,
                "motion": [lo, hi],
                "object_fraction": object_fraction,
                **crop_stats([synth.sample(r) for _ in range(samples)]),
            }
        )
    return out


def plot(result: dict[str, Any], path: str | os.PathLike) -> None:
    """Histograms of PSNR and blur sigma, real against each synthetic row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for row in result["rows"]:
        style = {"histtype": "step", "linewidth": 2.5 if row["source"].startswith("real") else 1.2, "density": True}
        axes[0].hist(row["psnr_values"], bins=np.arange(10, 46, 1.5), label=row["source"], **style)
        axes[1].hist(row["sigma_values"], bins=np.arange(0, 16, 0.5), label=row["source"], **style)
    axes[0].set_xlabel("blurry vs sharp PSNR (dB), per crop")
    axes[1].set_xlabel("blur extent: equivalent Gaussian sigma (px), per crop")
    for ax in axes:
        ax.set_ylabel("density")
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"real vs synthetic blur, {result['crop']}x{result['crop']} crops at the model's scale "
        f"({result['samples']} each)"
    )
    fig.tight_layout()
    fig.savefig(str(path), dpi=90)
    plt.close(fig)
