"""One generator's scores pooled over several ``streamdeblur-train eval`` results, frame by
frame, as if they were one test set (``streamdeblur-train pool-eval``; the model card's
pooled figures)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamdeblur.errors import DataError, InputError, InputNotFoundError

from .evaluate import mean


def read_evals(args: Sequence[str]) -> list[tuple[dict, str | None]]:
    """``EVAL.json[@LABEL]`` arguments -> (eval result, generator label or None) pairs."""
    items = []
    for arg in args:
        path, _, label = arg.partition("@")
        p = Path(path)
        if not p.is_file():
            raise InputNotFoundError(
                f"eval JSON not found: {p}", "pass the --json file written by `streamdeblur-train eval`"
            )
        try:
            items.append((json.loads(p.read_text()), label or None))
        except (OSError, ValueError) as e:
            raise InputError(
                f"cannot read {p}: {e}", "pass the --json file written by `streamdeblur-train eval`"
            ) from None
    return items


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
                raise ValueError(
                    f"{result['root']}: name the generator to pool, one of {gens}"
                    if gens
                    else f"{result['root']}: no generator was scored"
                )
            label = gens[0]
        elif label not in gens:
            raise ValueError(f"{result['root']}: no generator {label!r}; it scored {gens}")
        frames = [f for f in result["per_frame"] if f["kind"] == kind]
        if not frames:
            raise ValueError(f"{result['root']}: no {kind!r} frames")
        g = [f["psnr"][label] - f["psnr"]["input"] for f in frames]
        t = [f["psnr_on_sharp"][label] for f in result["per_frame"] if np.isfinite(f["psnr_on_sharp"][label])]
        sets.append(
            {
                "root": result["root"],
                "label": label,
                "frames": len(frames),
                "gain": mean(g),
                "pass_through_worst": min(t) if t else float("inf"),
            }
        )
        gains += g
        model_psnr += [f["psnr"][label] for f in frames]
        input_psnr += [f["psnr"]["input"] for f in frames]
        through += t
    return {
        "kind": kind,
        "frames": len(gains),
        "input_psnr": mean(input_psnr),
        "model_psnr": mean(model_psnr),
        "gain": mean(gains),
        "pass_through": mean(through) if through else float("inf"),
        "pass_through_worst": min(through) if through else float("inf"),
        "sets": sets,
    }


def pool_files(args: Sequence[str], kind: str = "gopro") -> dict[str, Any]:
    """:func:`pool` over ``EVAL.json[@LABEL]`` arguments; a bad one is a one-line error."""
    items = read_evals(args)
    try:
        return pool(items, kind=kind)
    except ValueError as e:
        raise DataError(str(e)) from None
    except (KeyError, TypeError) as e:
        raise DataError(
            f"an argument is not a `streamdeblur-train eval` JSON with per-frame scores (no {e})",
            "rerun `streamdeblur-train eval` to write one",
        ) from None


def format_pool(r: dict[str, Any]) -> str:
    """Each set's gain and worst pass-through frame, then the pooled figures."""
    kind = r["kind"]
    lines = [
        f"{s['root']:<24} {s['label'][-36:]:<36} {s['frames']:>4} {kind} frames  gain {s['gain']:+.2f} dB  "
        f"worst pass-through {s['pass_through_worst']:.1f} dB"
        for s in r["sets"]
    ]
    lines.append(
        f"pooled: {r['frames']} {kind} frames, input {r['input_psnr']:.2f} dB, model {r['model_psnr']:.2f} dB, "
        f"gain {r['gain']:+.2f} dB; "
        f"pass-through {r['pass_through']:.2f} dB (worst frame {r['pass_through_worst']:.1f})"
    )
    return "\n".join(lines)
