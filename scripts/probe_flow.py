"""Probe: does the motion between neighbouring frames, given as optical flow, help the generator?

Two arms start from the same weights and train side by side on the same batches:

* ``one``: the generator as shipped (the blurry frame in);
* ``flow``: its first conv also takes the optical flow from the frame to the one before and to
  the one after (OpenCV DIS on the blurry frames, 4 channels, px / 10); the new weights start
  at zero, so it starts as the shipped model.

Their data: windows of three frames from ``trainer.camera.camera_video`` over training photos
(the two train-split panel photos left out), the neighbours ``k`` frames away (k 1-4: the
exposure is 1/k of the time between the frames the flow sees, as a 360/180/120/90-degree
shutter), H.264 on half of them, and one window in eight with its neighbours repeated (flow 0:
a still picture, a stream's first frame). Scored on clip-like rows made as the train-split
panel's (seeding 0.8/11 and fallenleaf 1.0/5, 640x360, 7-13 renders, H.264 CRF 22, every 4th
frame) at a 360-degree shutter (the samples' own) and at a 180-degree one (twice the frames,
every other kept), and with the neighbours repeated. Nothing held out is looked at.

    python scripts/probe_flow.py --init runs/cand34/stage34.safetensors --minutes 40 --out runs/probe-flow
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamdeblur.models import load_generator, pad_to_multiple  # noqa: E402
from trainer import blur  # noqa: E402
from trainer.camera import CLIP_CRF, CLIP_FPS, CLIP_SIZE, CLIP_SUBFRAMES, camera_video  # noqa: E402
from trainer.images import read_image  # noqa: E402
from trainer.losses import psnr_loss  # noqa: E402
from trainer.metrics import psnr  # noqa: E402
from trainer.photos import find_photos  # noqa: E402

HELD = ("seeding", "fallenleaf")  # the train-split panel's clip-like photos
EVAL_CLIPS = (("seeding", 0.8, 11), ("fallenleaf", 1.0, 5))
FLOW_SCALE = 10.0
_DIS = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)


def flows(prev: np.ndarray, cur: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """HxWx4 float32: DIS flow from ``cur`` to ``prev`` and from ``cur`` to ``nxt``, px / FLOW_SCALE."""
    g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (prev, cur, nxt)]
    a = _DIS.calc(g[1], g[0], None)
    b = _DIS.calc(g[1], g[2], None)
    return np.concatenate([a, b], axis=2).astype(np.float32) / FLOW_SCALE


def window(photo: np.ndarray, rng: np.random.Generator, crop: int, crops: int = 2):
    k = int(rng.integers(1, 5))
    motion = float(math.exp(rng.uniform(math.log(0.3), math.log(3.0))))
    frames = list(
        camera_video(
            photo,
            CLIP_SIZE,
            2 * k + 1,
            subframes=CLIP_SUBFRAMES,
            motion=motion,
            seed=int(rng.integers(1 << 30)),
            objects=int(rng.random() < 0.3),
            continuous=bool(rng.random() < 0.5),
        )
    )
    b = [frames[0][0], frames[k][0], frames[2 * k][0]]
    s = frames[k][1]
    if rng.random() < 0.5:
        b = blur.h264_sequence(b, int(rng.integers(18, 31)), fps=CLIP_FPS)
    if rng.random() < 0.125:
        b = [b[1], b[1], b[1]]
    f = flows(*b)
    h, w = s.shape[:2]
    out = []
    for _ in range(crops):
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        sl = (slice(y, y + crop), slice(x, x + crop))
        out.append((b[1][sl], f[sl], s[sl]))
    return out


def batch(photos, rng, n, crop):
    """``n`` crops, two from each window."""
    items = [c for _ in range(n // 2) for c in window(photos[int(rng.integers(len(photos)))], rng, crop)]
    b = torch.from_numpy(np.stack([i[0] for i in items])).permute(0, 3, 1, 2).float() / 255
    f = torch.from_numpy(np.stack([i[1] for i in items])).permute(0, 3, 1, 2)
    s = torch.from_numpy(np.stack([i[2] for i in items])).permute(0, 3, 1, 2).float() / 255
    return b, f, s


class FlowArm(torch.nn.Module):
    """The generator with the flows (4 channels) added to its first conv's output by a conv of their own, from 0."""

    def __init__(self, gen) -> None:
        super().__init__()
        self.gen = gen
        self.flow_in = torch.nn.Conv2d(4, gen.intro.out_channels, 3, padding=1, bias=False)
        torch.nn.init.zeros_(self.flow_in.weight)

    def forward(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        g = self.gen
        xin, h, w = pad_to_multiple(torch.cat([x, f], 1), g.size_multiple, g.min_size)
        hid = g.unet(g.intro(xin[:, :3]) + self.flow_in(xin[:, 3:]))
        return torch.clamp(xin[:, :3] + g.ending(hid), 0.0, 1.0)[..., :h, :w]


class OneArm(torch.nn.Module):
    def __init__(self, gen) -> None:
        super().__init__()
        self.gen = gen

    def forward(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return self.gen(x)


def eval_rows() -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """(blurry, flows, sharp) per scored frame, per row."""
    by_name = {p.name: p for p in find_photos(None, allow_missing=True)}
    rows: dict[str, list] = {}
    for name, motion, seed in EVAL_CLIPS:
        img = read_image(by_name[name].path)
        for shutter, step in (("360", 1), ("180", 2)):
            fr = list(camera_video(img, CLIP_SIZE, 60 * step, subframes=CLIP_SUBFRAMES, motion=motion, seed=seed))
            fr = fr[::step]
            bl, sh = (
                blur.h264_sequence([f[k] for f in fr], CLIP_CRF, preset="slow", tune=None, fps=CLIP_FPS) for k in (0, 1)
            )
            idx = range(2, len(fr) - 1, 4)
            row = [(bl[i], flows(bl[i - 1], bl[i], bl[i + 1]), sh[i]) for i in idx]
            rows[f"{name}, {shutter}-degree shutter"] = row
            if step == 1:
                rows[f"{name}, neighbours repeated"] = [(bl[i], flows(bl[i], bl[i], bl[i]), sh[i]) for i in idx]
    return rows


@torch.no_grad()
def score(arm: torch.nn.Module, rows) -> dict[str, float]:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    arm.eval()
    out = {}
    for name, items in rows.items():
        gains = []
        for b, f, s in items:
            x = torch.from_numpy(b).permute(2, 0, 1)[None].float() / 255
            ft = torch.from_numpy(f).permute(2, 0, 1)[None]
            y = arm(x, ft)[0].permute(1, 2, 0).numpy()
            y8 = np.clip(np.rint(y * 255), 0, 255).astype(np.uint8)
            gains.append(psnr(y8, s) - psnr(b, s))
        out[name] = float(np.mean(gains))
    arm.train()
    torch.set_num_threads(threads)
    return out


def producer(paths: list[str], seed: int, n: int, crop: int, q) -> None:
    """Batches into ``q`` for ever (a process of its own: one core renders while the other trains)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    photos = [read_image(p) for p in paths]
    rng = np.random.default_rng(seed)
    while True:
        q.put(batch(photos, rng, n, crop))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=40)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--flow-lr-mult", type=float, default=10.0, help="the new flow weights' learning rate, x --lr")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train = [p for p in find_photos(None, allow_missing=True) if p.split == "train" and p.name not in HELD]
    # started before torch computes anything: a child forked after OpenMP has run hangs in it
    q = mp.get_context("fork").Queue(maxsize=6)
    worker = mp.get_context("fork").Process(
        target=producer, args=([p.path for p in train], args.seed, args.batch, args.crop, q), daemon=True
    )
    worker.start()
    arms = {"one": OneArm(load_generator(args.init)), "flow": FlowArm(load_generator(args.init))}
    flow_w = arms["flow"].flow_in.weight
    opts = {
        "one": torch.optim.Adam(arms["one"].parameters(), lr=args.lr),
        "flow": torch.optim.Adam(
            [
                {"params": [p for p in arms["flow"].parameters() if p is not flow_w]},
                {"params": [flow_w], "lr": args.lr * args.flow_lr_mult},
            ],
            lr=args.lr,
        ),
    }
    rows = eval_rows()
    log = out / "log.jsonl"
    start = score(arms["one"], rows)
    print(json.dumps({"start": start}), flush=True)
    t0, step = time.time(), 0
    losses = {k: [] for k in arms}
    while time.time() - t0 < args.minutes * 60:
        b, f, s = q.get()
        for k, arm in arms.items():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = arm(b, f)
            loss = psnr_loss(y.float(), s)
            opts[k].zero_grad(set_to_none=True)
            loss.backward()
            opts[k].step()
            losses[k].append(-100 * float(loss.detach()))
        step += 1
        if step % 50 == 0:
            rec = {"step": step, "min": round((time.time() - t0) / 60, 1)} | {
                k: round(float(np.mean(v[-50:])), 3) for k, v in losses.items()
            }
            with log.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
    worker.terminate()
    result = {"steps": step, "minutes": args.minutes, "start": start} | {k: score(a, rows) for k, a in arms.items()}
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
