"""The model card's picture (``streamdeblur-train side-by-side``): blurry | deblurred | sharp
crops of two held-out frames of a GoPro-layout test set.

Of the test frames (real recordings, e.g. ../shared/data/gopro-real, or a synthetic set's
GoPro-style ones) it shows the one the model improves most and a median one (so the
picture is not only the best case), crops the same detailed region of all three, and
labels each panel with its whole-frame PSNR.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from streamdeblur.errors import DataError, InputNotFoundError
from streamdeblur.models import load_generator

from .images import read_image, write_image
from .metrics import capped_psnr
from .validation import run_generator


def label(img: np.ndarray, text: str) -> np.ndarray:
    """``img`` with ``text`` on a black band along its top."""
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def detail_crop(sharp: np.ndarray, crop: int) -> tuple[int, int]:
    """(y, x) of the ``crop`` x ``crop`` window (on a 16-pixel grid) with the most detail."""
    g = cv2.Laplacian(cv2.cvtColor(sharp, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F) ** 2
    integ = cv2.integral(g)
    best, by, bx = -1.0, 0, 0
    for y in range(0, sharp.shape[0] - crop + 1, 16):
        for x in range(0, sharp.shape[1] - crop + 1, 16):
            e = integ[y + crop, x + crop] - integ[y, x + crop] - integ[y + crop, x] + integ[y, x]
            if e > best:
                best, by, bx = e, y, x
    return by, bx


def side_by_side(root: str | os.PathLike, weights: str | os.PathLike | None, out: str | os.PathLike, *, crop: int = 256) -> list[dict[str, Any]]:
    """Write the picture to ``out``; returns the two frames shown (kind, sequence, frame, PSNRs)."""
    root = Path(root).expanduser()
    if not (root / "test").is_dir():
        raise InputNotFoundError(f"{root} has no test/ folder", "pass a GoPro-layout set, e.g. ../shared/data/gopro-real")
    model = load_generator(weights)
    device = torch.device("cpu")
    cands = []
    # real recordings (any name) or the GoPro-style kind of a synthetic set; PNG or WebP
    seqs = [p for p in sorted((root / "test").iterdir()) if p.is_dir() and not p.name.startswith(("traj_", "sharp_"))]
    for seq in seqs:
        for bp in sorted(p for p in (seq / "blur").iterdir() if p.suffix.lower() in (".png", ".webp")):
            blur, sharp = read_image(bp), read_image(seq / "sharp" / bp.name)
            restored = run_generator(model, blur, device)
            cands.append((capped_psnr(restored, sharp) - capped_psnr(blur, sharp), seq.name, bp.name, blur, restored, sharp))
    if not cands:
        raise DataError(f"no GoPro-style or real test frames in {root / 'test'}", "pass a set with real recordings or gopro_* sequences")
    cands.sort(key=lambda c: -c[0])
    rows, shown = [], []
    for kind, (_gain, seq, name, blur, restored, sharp) in zip(("best", "median"), (cands[0], cands[len(cands) // 2])):
        by, bx = detail_crop(sharp, crop)
        sl = np.s_[by : by + crop, bx : bx + crop]
        p_in, p_out = capped_psnr(blur, sharp), capped_psnr(restored, sharp)
        rows.append(np.concatenate([
            label(blur[sl], f"{kind}: blurry {p_in:.1f} dB"),
            label(restored[sl], f"deblurred {p_out:.1f} dB"),
            label(sharp[sl], f"sharp: {seq.split('_', 1)[-1] if seq.startswith('gopro_') else seq[:14]}"),  # the name fits the panel
        ], axis=1))
        shown.append({"kind": kind, "sequence": seq, "frame": name, "psnr_blurry": p_in, "psnr_deblurred": p_out})
    write_image(out, np.concatenate(rows, axis=0))
    return shown
