"""Scoring generators on a GoPro-layout test set (``streamdeblur-train eval``).

Every method is scored per blur kind (the ``<kind>_`` prefix of a sequence name:
``gopro``, ``traj``; anything else counts as ``real``) and overall:

* ``input``: the blurry frame itself, the bar to clear;
* ``unsharp``: the classical baseline (unsharp masking, sigma 1.5, amount 1);
* each generator: PSNR/SSIM of its output, PSNR(model(sharp), sharp) (a deblurrer should
  leave sharp frames alone) and the mean per-channel colour shift output - sharp.

``per_frame`` holds each frame's PSNR per method and each generator's pass-through PSNR,
so the frames a model damages can be found (the means hide a few bad frames).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_any_generator, weight_labels
from .datasets import GoProPairs
from .metrics import color_shift, psnr, ssim, unsharp_mask
from .validation import run_generator


def mean(values: list[float]) -> float:
    """The mean, NaN for no values (a kind a set lacks)."""
    return float(np.mean(values)) if values else float("nan")


def evaluate(
    root: str | os.PathLike,
    weights: Sequence[str],
    *,
    split: str = "test",
    max_frames: int | None = None,
    device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Scores of the input, unsharp masking and each generator, per kind; JSON-ready."""
    device = torch.device(device)
    ds = GoProPairs(root, split, max_frames=max_frames)
    models = [(label, load_any_generator(w, device)) for label, w in zip(weight_labels(weights), weights)]
    labels = ["input", "unsharp"] + [label for label, _ in models]
    # acc[label][kind] -> lists
    acc: dict[str, dict[str, dict[str, list]]] = {label: {} for label in labels}

    frames: list[dict[str, Any]] = []  # each frame's PSNR per method: which frames gain, which lose

    def add(label: str, kind: str, key: str, value: Any) -> None:
        if key in ("psnr", "psnr_on_sharp"):
            frames[-1].setdefault(key, {})[label] = value
        for k in (kind, "all"):
            acc[label].setdefault(k, {}).setdefault(key, []).append(value)

    n = len(ds)
    for i in range(n):
        b, s, kind, seq = ds.read(i)
        frames.append({"sequence": seq, "frame": Path(ds.pairs[i][2]).name, "kind": kind})
        add("input", kind, "psnr", psnr(b, s))
        add("input", kind, "ssim", ssim(b, s))
        u = unsharp_mask(b)
        add("unsharp", kind, "psnr", psnr(u, s))
        add("unsharp", kind, "ssim", ssim(u, s))
        for label, m in models:
            out = run_generator(m, b, device)
            add(label, kind, "psnr", psnr(out, s))
            add(label, kind, "ssim", ssim(out, s))
            add(label, kind, "psnr_on_sharp", psnr(run_generator(m, s, device), s))
            add(label, kind, "color_shift", color_shift(out, s))
        if progress:
            progress(i + 1, n)
    results: dict[str, Any] = {}
    for label in labels:
        results[label] = {}
        for kind, vals in acc[label].items():
            r: dict[str, Any] = {"psnr": mean(vals["psnr"]), "ssim": mean(vals["ssim"]), "n": len(vals["psnr"])}
            if "psnr_on_sharp" in vals:
                finite = [v for v in vals["psnr_on_sharp"] if np.isfinite(v)]
                r["psnr_on_sharp"] = mean(finite) if finite else float("inf")
                r["color_shift"] = [float(v) for v in np.mean(np.array(vals["color_shift"]), axis=0)]
            results[label][kind] = r
    # real blur first: it is the measure; synthetic kinds after it
    kinds = sorted({k for lab in results.values() for k in lab if k != "all"}, key=lambda k: (k != "real", k)) + ["all"]
    return {
        "root": str(root),
        "split": split,
        "frames": n,
        "kinds": kinds,
        "methods": labels,
        "results": results,
        "per_frame": frames,
    }


def format_table(result: dict) -> str:
    """A plain-text table: one row per method, PSNR / SSIM per kind."""
    kinds = result["kinds"]
    head = f"{'method':<40}" + "".join(f"{k + ' PSNR':>13}{k + ' SSIM':>12}" for k in kinds)
    lines = [f"{result['frames']} frames of {result['root']} ({result['split']})", head, "-" * len(head)]
    for label in result["methods"]:
        row = f"{label[-40:]:<40}"
        for k in kinds:
            r = result["results"][label].get(k)
            row += f"{r['psnr']:>13.2f}{r['ssim']:>12.4f}" if r else f"{'-':>13}{'-':>12}"
        lines.append(row)
    extra = [
        (label, result["results"][label]["all"])
        for label in result["methods"]
        if "psnr_on_sharp" in result["results"][label].get("all", {})
    ]
    if extra:
        lines.append("")
        lines.append(f"{'generator':<40}{'PSNR(model(sharp), sharp)':>28}{'colour shift R/G/B (levels)':>32}")
        for label, r in extra:
            cs = "/".join(f"{v:+.2f}" for v in r["color_shift"])
            lines.append(f"{label[-40:]:<40}{r['psnr_on_sharp']:>28.2f}{cs:>32}")
    return "\n".join(lines)
