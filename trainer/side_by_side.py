"""The model card's picture (``streamdeblur-train side-by-side``): blurry | deblurred | sharp
crops of two held-out frames of a GoPro-layout test set.

Of the test frames (real recordings, e.g. GOPRO_Large, or a synthetic set's
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


def side_by_side(
    root: str | os.PathLike,
    weights: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    crop: int = 256,
    replace: bool = True,
) -> list[dict[str, Any]]:
    """Write the picture to ``out`` (``replace``: as :func:`trainer.images.write_image`); returns the two
    frames shown (kind, sequence, frame, PSNRs)."""
    root = Path(root).expanduser()
    if not (root / "test").is_dir():
        raise InputNotFoundError(f"{root} has no test/ folder", "pass a GoPro-layout set, e.g. GOPRO_Large")
    model = load_generator(weights)
    device = torch.device("cpu")
    cands = []
    # real recordings (any name) or the GoPro-style kind of a synthetic set; PNG or WebP
    seqs = [p for p in sorted((root / "test").iterdir()) if p.is_dir() and not p.name.startswith(("traj_", "sharp_"))]
    for seq in seqs:
        for bp in sorted(p for p in (seq / "blur").iterdir() if p.suffix.lower() in (".png", ".webp")):
            blur, sharp = read_image(bp), read_image(seq / "sharp" / bp.name)
            restored = run_generator(model, blur, device)
            cands.append(
                (capped_psnr(restored, sharp) - capped_psnr(blur, sharp), seq.name, bp.name, blur, restored, sharp)
            )
    if not cands:
        raise DataError(
            f"no GoPro-style or real test frames in {root / 'test'}",
            "pass a set with real recordings or gopro_* sequences",
        )
    cands.sort(key=lambda c: -c[0])
    rows, shown = [], []
    for kind, (_gain, seq, name, blur, restored, sharp) in zip(("best", "median"), (cands[0], cands[len(cands) // 2])):
        by, bx = detail_crop(sharp, crop)
        sl = np.s_[by : by + crop, bx : bx + crop]
        p_in, p_out = capped_psnr(blur, sharp), capped_psnr(restored, sharp)
        rows.append(
            np.concatenate(
                [
                    label(blur[sl], f"{kind}: blurry {p_in:.1f} dB"),
                    label(restored[sl], f"deblurred {p_out:.1f} dB"),
                    label(
                        sharp[sl], f"sharp: {seq.split('_', 1)[-1] if seq.startswith('gopro_') else seq[:14]}"
                    ),  # the name fits the panel
                ],
                axis=1,
            )
        )
        shown.append({"kind": kind, "sequence": seq, "frame": name, "psnr_blurry": p_in, "psnr_deblurred": p_out})
    write_image(out, np.concatenate(rows, axis=0), replace=replace)
    return shown


def clip_side_by_side(
    video: str | os.PathLike,
    weights: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    frame: int | None = None,
    zoom: int = 2,
    replace: bool = True,
) -> dict[str, Any]:
    """The README's picture of a clip: one frame blurry | deblurred, whole on top and its most
    detailed region enlarged ``zoom`` times below; PSNR on the labels where ``NAME_sharp.EXT``
    (the clip's sharp reference) lies beside it. Returns what was shown."""
    from .video_score import read_frames

    video = Path(video)
    frames = read_frames(video)
    i = len(frames) // 2 if frame is None else frame
    if not 0 <= i < len(frames):
        raise DataError(
            f"{video} has {len(frames)} frames; there is no frame {i}", f"pass --frame 0 to {len(frames) - 1}"
        )
    blur = frames[i]
    restored = run_generator(load_generator(weights), blur, torch.device("cpu"))
    ref_path = video.with_name(f"{video.stem}_sharp{video.suffix}")
    sharp = read_frames(ref_path)[i] if ref_path.is_file() else None
    h, w = blur.shape[:2]
    ch, cw = h // zoom // 16 * 16, w // zoom // 16 * 16
    by, bx = detail_crop(sharp if sharp is not None else blur, min(ch, cw))
    sl = np.s_[by : by + ch, bx : bx + cw]
    shown: dict[str, Any] = {"video": str(video), "frame": i, "crop": [bx, by, cw, ch]}
    texts = ["blurry", "deblurred"]
    if sharp is not None:
        shown["psnr_blurry"], shown["psnr_deblurred"] = capped_psnr(blur, sharp), capped_psnr(restored, sharp)
        texts = [f"blurry {shown['psnr_blurry']:.1f} dB", f"deblurred {shown['psnr_deblurred']:.1f} dB"]
    top = np.concatenate([label(im, f"{t} (frame {i})") for im, t in zip((blur, restored), texts)], axis=1)
    big = [cv2.resize(im[sl], (cw * zoom, ch * zoom), interpolation=cv2.INTER_NEAREST) for im in (blur, restored)]
    bottom = np.concatenate(
        [
            label(cv2.copyMakeBorder(b, 0, h - b.shape[0], 0, w - b.shape[1], cv2.BORDER_CONSTANT), f"{t}, {zoom}x")
            for b, t in zip(big, ("blurry", "deblurred"))
        ],
        axis=1,
    )
    write_image(
        out,
        np.concatenate([top, bottom], axis=0),
        [cv2.IMWRITE_JPEG_QUALITY, 90] if Path(out).suffix.lower() in (".jpg", ".jpeg") else [],
        replace=replace,
    )
    return shown
