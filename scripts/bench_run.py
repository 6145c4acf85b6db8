"""Benchmark (not a test): `run` end to end vs inference alone, same model, same frames.

Inference alone: backend.process on batches of the clip's frames already decoded in
memory (no decode, no encode, no queues), in a worker thread as in the pipeline (and,
for reference, in the main thread). End to end: deblur_video on the same clip
into an H.264 file (decode + inference + encode + audio copy on three threads).
The ratio says what the pipeline costs; the target is >= 0.9. ``infer_busy_share`` (the
inference stage's busy time over the end-to-end wall time) says the same thing without
depending on other jobs' load changing between the two measurements.

    python scripts/bench_run.py [--clip samples/mountains.mp4] [--frames 60] [--batch 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from streamdeblur import deblur_video
from streamdeblur.backends import create_backend
from streamdeblur.models import DEFAULT_MODEL, build_model
from streamdeblur.video.sources import open_source


def _infer_fps(backend, frames: list[np.ndarray], batch: int) -> float:
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(frames), batch):
        n += len(backend.process(np.stack(frames[i : i + batch])))
    return n / (time.perf_counter() - t0)


def _in_thread(fn, *args):
    """Run fn in a worker thread, as the pipeline's inference stage does (CPU PyTorch runs
    measurably faster off the main thread here, so this is the fair baseline)."""
    out = []
    t = threading.Thread(target=lambda: out.append(fn(*args)))
    t.start()
    t.join()
    return out[0]


def _write_clip(path: Path, frames: list[np.ndarray], rate) -> None:
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=rate, options={"crf": "18"})
        v.width, v.height, v.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in v.encode(f):
                out.mux(p)
        for p in v.encode():
            out.mux(p)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default="samples/mountains.mp4")
    ap.add_argument("--frames", type=int, default=48, help="frames of the clip used by both measurements")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default=None)
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(DEFAULT_MODEL)  # default config; random init (speed does not depend on the weights)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    with open_source(args.clip) as s:
        info = s.info
        frames = [f.image for _, f in zip(range(args.frames), s)]
    tmpdir = tempfile.TemporaryDirectory()
    clip = Path(tmpdir.name) / "clip.mp4"
    _write_clip(clip, frames, info.rate or 30)  # the same frames, as a file for the end-to-end run
    backend = create_backend(args.backend, model, args.device)
    backend.process(np.stack(frames[: args.batch]))  # warm-up

    alone, alone_main, e2e, busy = [], [], [], []
    for _ in range(args.repeats):
        alone.append(_in_thread(_infer_fps, backend, frames, args.batch))
        alone_main.append(_infer_fps(backend, frames, args.batch))
        with tempfile.TemporaryDirectory() as d:
            r = deblur_video(clip, Path(d) / "out.mp4", generator=model, backend=args.backend, device=args.device,
                             batch=args.batch, preset=args.preset)
        e2e.append(r.fps)
        busy.append(r.stats.stage_seconds["infer"] / r.stats.seconds)  # share of the wall time inference ran
        stages = {k: round(v, 2) for k, v in r.stats.stage_seconds.items()}
    out = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "torch_threads": torch.get_num_threads(),
        "model": DEFAULT_MODEL,
        "size": f"{info.width}x{info.height}",
        "batch": args.batch,
        "backend": backend.describe(),
        "inference_alone_fps": [round(x, 2) for x in alone],  # in a worker thread, like the pipeline
        "inference_alone_main_thread_fps": [round(x, 2) for x in alone_main],
        "end_to_end_fps": [round(x, 2) for x in e2e],
        "last_run_stage_seconds": stages,
        "last_run_frames": r.frames,
        "ratio_median": round(statistics.median(e2e) / statistics.median(alone), 3),
        # robust to other jobs' load: how much of the end-to-end wall time the model was running
        "infer_busy_share": [round(x, 3) for x in busy],
    }
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
