"""Write docs/sidebyside.png: blurry | deblurred | sharp crops from a GoPro-layout test set.

    python scripts/side_by_side.py data/synth --weights streamdeblur/weights/deblurgan-lite.safetensors \
        --out docs/sidebyside.png

Shows two held-out frames (real recordings, e.g. ../shared/data/gopro-real, or a synthetic set's GoPro-style ones): the one the model improves most and a median one
(so the picture is not only the best case), crops the same detailed region of all three,
and labels each panel with its whole-frame PSNR.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from streamdeblur.models import load_generator


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def run(model: torch.nn.Module, img: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        y = model(x)
    return (y[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--out", type=Path, default=Path("docs/sidebyside.png"))
    ap.add_argument("--crop", type=int, default=256)
    a = ap.parse_args()
    model = load_generator(a.weights)
    cands = []
    # real recordings (any name) or the GoPro-style kind of a synthetic set; PNG or WebP
    seqs = [p for p in sorted((a.root / "test").iterdir()) if p.is_dir() and not p.name.startswith(("traj_", "sharp_"))]
    for seq in seqs:
        for bp in sorted(p for p in (seq / "blur").iterdir() if p.suffix.lower() in (".png", ".webp")):
            blur = cv2.cvtColor(cv2.imread(str(bp)), cv2.COLOR_BGR2RGB)
            sharp = cv2.cvtColor(cv2.imread(str(seq / "sharp" / bp.name)), cv2.COLOR_BGR2RGB)
            out = run(model, blur)
            cands.append((psnr(out, sharp) - psnr(blur, sharp), seq.name, bp.name, blur, out, sharp))
    cands.sort(key=lambda c: -c[0])
    picks = [cands[0], cands[len(cands) // 2]]
    rows = []
    for kind, (_gain, seq, name, blur, out, sharp) in zip(("best", "median"), picks):
        # the crop with the most detail in the sharp frame
        g = cv2.Laplacian(cv2.cvtColor(sharp, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F) ** 2
        c = a.crop
        integ = cv2.integral(g)
        best, by, bx = -1.0, 0, 0
        for y in range(0, sharp.shape[0] - c + 1, 16):
            for x in range(0, sharp.shape[1] - c + 1, 16):
                e = integ[y + c, x + c] - integ[y, x + c] - integ[y + c, x] + integ[y, x]
                if e > best:
                    best, by, bx = e, y, x
        sl = np.s_[by : by + c, bx : bx + c]
        p_in, p_out = psnr(blur, sharp), psnr(out, sharp)
        rows.append(np.concatenate([
            label(blur[sl], f"{kind}: blurry {p_in:.1f} dB"),
            label(out[sl], f"deblurred {p_out:.1f} dB"),
            label(sharp[sl], f"sharp: {seq.split('_', 1)[-1] if seq.startswith('gopro_') else seq[:14]}"),  # the name fits the panel
        ], axis=1))
        print(f"{kind}: {seq}/{name}: blurry {p_in:.2f} dB -> deblurred {p_out:.2f} dB (whole frame)")
    img = np.concatenate(rows, axis=0)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(a.out.name + ".tmp.png")
    cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    tmp.replace(a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
