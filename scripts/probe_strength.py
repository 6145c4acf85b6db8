"""Probe: is the shipped model's correction too timid (or too bold) by a constant factor?

A generator trained with a PSNR loss under uncertainty moves each pixel part of the way from the
blurry input towards what it believes sharp. If it is systematically timid, scaling its
correction, ``clip(x + a * (G(x) - x))``, gains on the rows where it does too little at no cost
(a = 1 is the model as shipped). One run of the model per frame; every ``a`` scored from it.

Rows: the **train split's** panel only (the real train pairs under every condition of the panel,
the synthetic rows of six training photos and the clip-like rows made as the sample clips are);
nothing held out is looked at. The rule, fixed before this ran (training-log.md, "A probe: the
correction's strength"): a factor other than 1 goes into ``run`` (as the default of a
``--strength`` option) only if, on these rows, it gains >= 0.1 dB on both clip-like rows and
loses nothing (>= -0.02 dB) on any row.

    python scripts/probe_strength.py ../shared/data/gopro-real --json runs/probe-strength.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamdeblur.models import load_generator  # noqa: E402
from trainer.images import from_tensor, to_tensor  # noqa: E402
from trainer.metrics import psnr  # noqa: E402
from trainer.panel import panel_sets  # noqa: E402

FACTORS = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gopro", help="GoPro-layout set (its train/ split is used)")
    ap.add_argument("--weights", default=None, help="generator (default: the shipped one)")
    ap.add_argument("--max-frames", type=int, default=8, help="real train pairs per row")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load_generator(args.weights).eval()
    rows, notes = panel_sets(args.gopro, split="train", max_frames=args.max_frames, samples=None)
    result: dict = {"factors": FACTORS, "weights": args.weights or "shipped", "rows": {}, "notes": notes}
    t0 = time.time()
    for name, pairs in rows:
        gains = {a: [] for a in FACTORS}
        for blurry, sharp in pairs:
            x = to_tensor([blurry])
            with torch.inference_mode():
                y = model(x)
            base = psnr(blurry, sharp)
            for a in FACTORS:
                out = from_tensor((x + a * (y - x)).clamp(0, 1))[0]
                gains[a].append(psnr(out, sharp) - base)
        result["rows"][name] = {str(a): float(np.mean(g)) for a, g in gains.items()} | {"n": len(pairs)}
        print(f"{time.time() - t0:6.0f} s  {name:52s} " + " ".join(f"{np.mean(gains[a]):+.3f}" for a in FACTORS))
        sys.stdout.flush()
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
