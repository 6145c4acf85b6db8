"""How much of a sample clip's blur can be undone at all: a model's gain beside non-blind
deconvolution that knows the clip's exact blur (its camera path), on the frames as rendered
and on the same frames as the clip stores them (H.264).

The sample clips are made by samples/make_samples.py from a camera path this script replays
(trainer.camera.camera_video_warps), so each frame's blur is known exactly; trainer.ceiling
inverts it with a smoothness prior of weight LAM (each weight reported: the best is an oracle's
choice, made on the clip itself). PSNR on the interior (32 px in from each edge, where the
sharp frame shows what the blurred one saw). Needs the photo the clip was made from (Debian's
lomiri-wallpapers-16.04, as make_samples.py does).

    python scripts/clip_ceiling.py mountains --json docs/eval/ceiling-mountains.json
    python scripts/clip_ceiling.py wine -w runs/STAGE8.safetensors --lam 0.03 --stride 4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "samples"))

from make_samples import CLIPS, FPS, SIZE  # noqa: E402

from trainer.camera import CLIP_SUBFRAMES, camera_video, camera_video_warps  # noqa: E402
from trainer.ceiling import deconvolve  # noqa: E402
from trainer.evaluate import load_any_generator, run_generator  # noqa: E402
from trainer.images import read_image  # noqa: E402
from trainer.metrics import psnr  # noqa: E402
from trainer.video_score import read_frames  # noqa: E402

MARGIN = 32


def _inner_psnr(a: np.ndarray, b: np.ndarray) -> float:
    m = MARGIN
    return psnr(a[m:-m, m:-m], b[m:-m, m:-m])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", choices=[c.name for c in CLIPS])
    ap.add_argument("-w", "--weights", default=str(ROOT / "streamdeblur/weights/deblurgan-lite.safetensors"))
    ap.add_argument("--samples", type=Path, default=ROOT / "samples", help="folder with NAME.mp4 and NAME_sharp.mp4")
    ap.add_argument("--lam", default="0.01,0.03,0.1,0.3", help="prior weights to try, comma-separated")
    ap.add_argument("--stride", type=int, default=8, help="every Nth frame")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clip = next(c for c in CLIPS if c.name == args.clip)
    stored_blurred = read_frames(args.samples / f"{clip.name}.mp4")
    stored_sharp = read_frames(args.samples / f"{clip.name}_sharp.mp4")
    n = len(stored_blurred)
    photo = read_image(clip.photo)
    options = {"subframes": CLIP_SUBFRAMES, "motion": clip.motion, "seed": clip.seed}
    rendered = list(camera_video(photo, SIZE, n, **options))
    warps = camera_video_warps(photo.shape, SIZE, n, **options)
    lams = [float(v) for v in args.lam.split(",")]
    model = load_any_generator(args.weights, "cpu")
    versions = {"rendered": rendered, "stored (H.264)": list(zip(stored_blurred, stored_sharp))}
    rows: dict[str, dict[str, list[float]]] = {v: {} for v in versions}
    for i in range(0, n, args.stride):
        for version, frames in versions.items():
            blurred, sharp = frames[i]
            base = _inner_psnr(blurred, sharp)
            got = rows[version]
            got.setdefault("input_psnr", []).append(base)
            got.setdefault("model", []).append(_inner_psnr(run_generator(model, blurred, "cpu"), sharp) - base)
            for lam in lams:
                gain = _inner_psnr(deconvolve(blurred, warps[i], lam), sharp) - base
                got.setdefault(f"blur known, lam {lam:g}", []).append(gain)
        print(f"frame {i}: {len(warps[i])} renders", flush=True)
    summary = {v: {k: float(np.mean(x)) for k, x in got.items()} for v, got in rows.items()}
    frames_scored = len(rows["rendered"]["model"])
    print(f"\n{clip.name}: {frames_scored} frames (every {args.stride}th), {SIZE[0]}x{SIZE[1]} at {FPS} fps")
    print(f"{'':34s}" + "".join(f"{v:>18s}" for v in versions))
    for key in summary["rendered"]:
        fmt = "{:18.2f}" if key == "input_psnr" else "{:+18.2f}"
        label = "blurry input, dB" if key == "input_psnr" else f"gain: {key}"
        print(f"{label:34s}" + "".join(fmt.format(summary[v][key]) for v in versions))
    if args.json:
        record = {
            "clip": clip.name,
            "weights": Path(args.weights).name,
            "stride": args.stride,
            "margin": MARGIN,
            "summary": summary,
            "per_frame": rows,
        }
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
