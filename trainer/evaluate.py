"""Scoring generators on a GoPro-layout test set, and exporting checkpoints for the runtime.

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

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamdeblur.errors import InputNotFoundError, WeightsError
from streamdeblur.models import save_generator

from .data import GoProPairs
from .metrics import color_shift, psnr, ssim, unsharp_mask
from .train import generator_from_checkpoint, load_any_generator, load_checkpoint, run_generator


def _mean(values: list[float]) -> float:
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
    models = []
    for w in weights:
        m = load_any_generator(w, device)
        models.append((Path(w).name if Path(w).suffix == ".safetensors" else str(w), m))
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
            r: dict[str, Any] = {"psnr": _mean(vals["psnr"]), "ssim": _mean(vals["ssim"]), "n": len(vals["psnr"])}
            if "psnr_on_sharp" in vals:
                finite = [v for v in vals["psnr_on_sharp"] if np.isfinite(v)]
                r["psnr_on_sharp"] = _mean(finite) if finite else float("inf")
                r["color_shift"] = [float(v) for v in np.mean(np.array(vals["color_shift"]), axis=0)]
            results[label][kind] = r
    # real blur first: it is the measure; synthetic kinds after it
    kinds = sorted({k for lab in results.values() for k in lab if k != "all"}, key=lambda k: (k != "real", k)) + ["all"]
    return {"root": str(root), "split": split, "frames": n, "kinds": kinds, "methods": labels, "results": results, "per_frame": frames}


def generator_labels(result: dict) -> list[str]:
    """The generators an eval result scored (every method but the input and unsharp masking)."""
    return [m for m in result["methods"] if m not in ("input", "unsharp")]


def pool(evals: Sequence[tuple[dict, str | None]], kind: str = "gopro") -> dict[str, Any]:
    """One generator over several eval results, frame by frame, as if they were one test set.

    Each item is ``(eval result, generator label)``; a label of ``None`` means the result's
    only generator. The gain is the mean over every ``kind`` frame of all sets of
    PSNR(model) - PSNR(input), so a 144-frame set weighs twice a 72-frame one; pass-through is
    pooled over every frame (all kinds), with its worst frame, as ``evaluate`` reports it per set.
    """
    if not evals:
        raise ValueError("nothing to pool: give at least one eval result")
    sets: list[dict[str, Any]] = []
    gains: list[float] = []
    model_psnr: list[float] = []
    input_psnr: list[float] = []
    through: list[float] = []
    for result, label in evals:
        gens = generator_labels(result)
        if label is None:
            if len(gens) != 1:
                raise ValueError(f"{result['root']}: name the generator to pool, one of {gens}" if gens else f"{result['root']}: no generator was scored")
            label = gens[0]
        elif label not in gens:
            raise ValueError(f"{result['root']}: no generator {label!r}; it scored {gens}")
        frames = [f for f in result["per_frame"] if f["kind"] == kind]
        if not frames:
            raise ValueError(f"{result['root']}: no {kind!r} frames")
        g = [f["psnr"][label] - f["psnr"]["input"] for f in frames]
        t = [f["psnr_on_sharp"][label] for f in result["per_frame"] if np.isfinite(f["psnr_on_sharp"][label])]
        sets.append({"root": result["root"], "label": label, "frames": len(frames), "gain": _mean(g), "pass_through_worst": min(t) if t else float("inf")})
        gains += g
        model_psnr += [f["psnr"][label] for f in frames]
        input_psnr += [f["psnr"]["input"] for f in frames]
        through += t
    return {
        "kind": kind, "frames": len(gains), "input_psnr": _mean(input_psnr), "model_psnr": _mean(model_psnr), "gain": _mean(gains),
        "pass_through": _mean(through) if through else float("inf"), "pass_through_worst": min(through) if through else float("inf"), "sets": sets,
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
    extra = [(label, result["results"][label]["all"]) for label in result["methods"] if "psnr_on_sharp" in result["results"][label].get("all", {})]
    if extra:
        lines.append("")
        lines.append(f"{'generator':<40}{'PSNR(model(sharp), sharp)':>28}{'colour shift R/G/B (levels)':>32}")
        for label, r in extra:
            cs = "/".join(f"{v:+.2f}" for v in r["color_shift"])
            lines.append(f"{label[-40:]:<40}{r['psnr_on_sharp']:>28.2f}{cs:>32}")
    return "\n".join(lines)


def export_checkpoint(
    checkpoint: str | os.PathLike, out: str | os.PathLike, *, metrics_json: str | os.PathLike | None = None, half: bool = False
) -> tuple[Path, Path]:
    """A training checkpoint's generator -> ``NAME.safetensors`` + ``NAME.json`` (``half``: float16 tensors)."""
    ck = load_checkpoint(checkpoint)
    model = generator_from_checkpoint(ck, str(checkpoint)).eval()
    cfg = ck.get("config", {})
    metrics: dict[str, Any] = {}
    best = ck.get("best") or {}
    if best:
        metrics["validation"] = {"step": best.get("step"), "psnr": best.get("psnr"), "ssim": best.get("ssim"), "per_kind": best.get("per_kind"), "input": ck.get("input_scores")}
    if metrics_json is not None:
        p = Path(metrics_json)
        if not p.is_file():
            raise InputNotFoundError(f"--metrics file not found: {p}", "pass the JSON written by `streamdeblur-train eval`")
        try:
            ev = json.loads(p.read_text())
            res = ev["results"]
        except (ValueError, KeyError, TypeError):
            raise WeightsError(f"--metrics {p} is not a `streamdeblur-train eval` JSON") from None
        mine = [k for k in res if k == str(checkpoint) or Path(k).name == Path(checkpoint).name]
        metrics["eval"] = {"root": ev.get("root"), "split": ev.get("split"), "input": res.get("input"), "unsharp": res.get("unsharp")}
        if mine:
            metrics["eval"]["model"] = res[mine[0]]
    trained_on = {
        "data": ck.get("trained_on"),
        "steps": ck.get("step"),
        # init: the weights this run started from (its steps come on top of theirs)
        "recipe": {k: cfg.get(k) for k in ("init", "steps", "decay_start", "batch_size", "crop", "lr", "betas", "content", "pixel_loss", "fft_weight", "content_weight", "adv_start_step", "critic_steps", "seed", "gopro_fraction", "sharp_fraction", "ema_decay")},
        # which weights were written: the run's moving average, or the last optimiser step's
        "weights": "ema" if ck.get("ema") else "raw",
    }
    return save_generator(model, out, trained_on=trained_on, metrics=metrics, half=half)
