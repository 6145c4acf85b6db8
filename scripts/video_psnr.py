"""Frame-by-frame PSNR of videos against a sharp reference (the model card's real-video figure).

    python scripts/video_psnr.py samples/mountains_sharp.mp4 samples/mountains.mp4 out.mp4

Prints, for each video after the reference, its mean PSNR over the frames (8-bit RGB), and
for the last one how many frames it improves over the first. All videos must have the same
number of frames and the same size: anything else is an error, not a partial score.
"""

from __future__ import annotations

import argparse
import sys

import av
import numpy as np

from trainer.metrics import psnr


def frames(path: str) -> list[np.ndarray]:
    with av.open(path) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def capped_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """The trainer's PSNR, with identical frames at 99 dB instead of inf (so means stay finite)."""
    return min(psnr(a, b), 99.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reference")
    ap.add_argument("videos", nargs="+")
    args = ap.parse_args()
    ref = frames(args.reference)
    scores = {}
    for v in args.videos:
        fr = frames(v)
        if len(fr) != len(ref) or fr[0].shape != ref[0].shape:
            print(f"error: {v} has {len(fr)} frames of {fr[0].shape[1]}x{fr[0].shape[0]}, the reference {len(ref)} of {ref[0].shape[1]}x{ref[0].shape[0]}", file=sys.stderr)
            return 1
        scores[v] = np.array([capped_psnr(a, b) for a, b in zip(fr, ref)])
        print(f"{v}: {scores[v].mean():.2f} dB over {len(fr)} frames")
    if len(args.videos) > 1:
        first, last = scores[args.videos[0]], scores[args.videos[-1]]
        print(f"{args.videos[-1]} vs {args.videos[0]}: {last.mean() - first.mean():+.2f} dB, {int((last > first).sum())}/{len(last)} frames improved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
