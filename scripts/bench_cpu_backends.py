"""ONNX Runtime vs PyTorch on the CPU: frames per second of one generator, batch 1.

Weights do not change the speed, so freshly initialised generators are used. Each
(model, size, backend) runs a warm-up frame and then ``--frames`` timed frames through
``Backend.infer`` (float NCHW in, float out; the uint8 conversion is not timed); the
backends alternate frame by frame and the median frame time is reported.

    python scripts/bench_cpu_backends.py --models deblurgan-lite deblurgan --sizes 360x640 720x1280
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch

from streamdeblur.backends import BACKENDS
from streamdeblur.engines import parse_hw
from streamdeblur.models import build_model, count_macs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["deblurgan-lite", "deblurgan"])
    ap.add_argument("--sizes", nargs="+", default=["360x640", "720x1280"], help="HxW")
    ap.add_argument("--backends", nargs="+", default=["onnxruntime", "torch"])
    ap.add_argument("--frames", type=int, default=5, help="timed frames per case")
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads for both backends (default: each library's own)")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="stop a case after this long (each backend runs at least 1 timed frame)")
    args = ap.parse_args()
    os.environ.setdefault("STREAMDEBLUR_CACHE_DIR", tempfile.mkdtemp(prefix="sdbench-"))
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps({"torch_threads": torch.get_num_threads(), "threads_arg": args.threads, "loadavg_before": os.getloadavg()}), flush=True)
    rows = []
    for model_name in args.models:
        gen = build_model(model_name).eval()
        for size in args.sizes:
            h, w = parse_hw(size)
            gmacs = count_macs(gen, h, w) / 1e9
            x = torch.rand(1, 3, h, w)
            # Backends take turns frame by frame, and each reports its median frame time, so
            # load from other processes on a shared machine hits both alike.
            bes = {b: BACKENDS[b](gen, "cpu", **({"threads": args.threads} if b == "onnxruntime" and args.threads else {})) for b in args.backends}
            times: dict[str, list[float]] = {b: [] for b in args.backends}
            for be in bes.values():
                be.infer(x)  # warm-up (ONNX Runtime's one-time export happened at construction)
            t_case = time.perf_counter()
            while min(len(t) for t in times.values()) < args.frames:
                for b, be in bes.items():
                    t0 = time.perf_counter()
                    be.infer(x)
                    times[b].append(time.perf_counter() - t0)
                if time.perf_counter() - t_case > args.max_seconds:
                    break
            for b, be in bes.items():
                be.close()
                med = statistics.median(times[b])
                row = {"model": model_name, "size": f"{h}x{w}", "backend": b, "frames": len(times[b]), "median_s": round(med, 4), "fps": round(1 / med, 3), "gmacs": round(gmacs, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(json.dumps({"loadavg_after": os.getloadavg()}))
    print("| model | HxW | GMACs | " + " | ".join(f"{b} FPS" for b in args.backends) + " |")
    print("|---|---|---|" + "---|" * len(args.backends))
    for model_name in args.models:
        for size in args.sizes:
            rs = {r["backend"]: r for r in rows if r["model"] == model_name and r["size"] == "x".join(map(str, parse_hw(size)))}
            first = next(iter(rs.values()))
            print(f"| {model_name} | {first['size']} | {first['gmacs']} | " + " | ".join(f"{rs[b]['fps']:.2f} ({rs[b]['frames']} frames)" for b in args.backends) + " |")


if __name__ == "__main__":
    main()
