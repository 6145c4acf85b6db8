"""scripts/gpu_session.sh check, rehearsed on the CPU (DEVICE=cpu, a tiny clip and model, one size and
batch), so that a broken script is caught before a GPU host runs it. The GPU-only steps (the gpu tests,
TensorRT) report SKIP here; every other step must PASS and leave its file under $OUT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _clip(path: Path, n: int = 4, w: int = 64, h: int = 48) -> Path:
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for _ in range(n):
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode())
    return path


def test_gpu_check_rehearsed_on_the_cpu(tmp_path, tiny_weights):
    out = tmp_path / "out"
    env = {
        **os.environ, "OUT": str(out), "DEVICE": "cpu", "PY": sys.executable, "SAMPLE": str(_clip(tmp_path / "c.mp4")),
        "WEIGHTS": str(tiny_weights), "BACKENDS": "torch", "SIZES": "64x48", "BATCHES": "1", "FRAMES": "2",
        "WARMUP": "1", "GPU_TESTS": "0", "OMP_NUM_THREADS": "1", "PRESETS": "ultrafast,fast",
        "ENCODER_THREADS": "1,auto",
    }  # fmt: skip
    res = subprocess.run(
        ["bash", "scripts/gpu_session.sh", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    summary = (out / "summary.txt").read_text()
    assert res.returncode == 0, res.stdout + res.stderr
    status = dict(line.split(": ", 1)[0:2] for line in summary.splitlines())
    assert {k: v.split(" ")[0] for k, v in status.items()} == {
        "environment": "PASS", "gpu-tests": "SKIP", "run-cpu": "PASS", "run-torch": "PASS", "bench": "PASS",
        "encoders": "PASS", "tensorrt": "SKIP",
    }, summary  # fmt: skip
    assert status["encoders"].startswith("PASS (encoder libx264 preset "), summary
    encoders = json.loads((out / "encoders.json").read_text())
    assert [(r["preset"], r["threads"]) for r in encoders["rows"]] == [("ultrafast", 1), ("ultrafast", 0), ("fast", 1),
                                                                       ("fast", 0)]  # fmt: skip
    assert json.loads((out / "doctor.json").read_text())["cpu_cores"] >= 1
    cmp = json.loads((out / "compare-torch.json").read_text())
    assert cmp["frames"] == [4, 4] and cmp["timestamps_equal"] and cmp["psnr_min"] >= 45 and cmp["pass"]
    bench = json.loads((out / "bench.json").read_text())
    assert [(r["backend"], r["width"], r["batch"]) for r in bench["results"]] == [("torch", 64, 1)]


def test_one_device_call_rehearsed_on_the_cpu(tmp_path, tiny_weights, photo):
    """`gpu_session.sh all`: check, train for what the budget leaves, export, and everything back
    in at most 5 files (the device tool returns 8, and nothing from deeper folders or videos), so
    that a rare GPU session is not spent finding a broken script."""
    import cv2

    photos = tmp_path / "photos"
    for split, names in (("train", ("a", "b", "c")), ("test", ("d",))):
        (photos / split).mkdir(parents=True)
        for k, name in enumerate(names):
            cv2.imwrite(str(photos / split / f"{name}.jpg"), np.roll(photo, 40 * k, axis=1)[..., ::-1])
    out = tmp_path / "out"
    env = {
        **os.environ, "OUT": str(out), "DEVICE": "cpu", "PY": sys.executable, "SAMPLE": str(_clip(tmp_path / "c.mp4")),
        "WEIGHTS": str(tiny_weights), "INIT": str(tiny_weights), "PHOTOS": str(photos), "REAL": str(tmp_path / "none"),
        "BACKENDS": "torch", "SIZES": "64x48", "BATCHES": "1", "FRAMES": "2", "WARMUP": "1", "GPU_TESTS": "0",
        "OMP_NUM_THREADS": "1", "PRESETS": "ultrafast", "ENCODER_THREADS": "1", "PROBE_STEPS": "3", "WORKERS": "1",
        "TRAIN_FLAGS": "--crop 32 --batch-size 1 --val-frames 1", "BUDGET": "300", "CHECK_SECONDS": "150",
        "COMPILE_BENCH": "0",
    }  # fmt: skip
    res = subprocess.run(
        ["bash", "scripts/gpu_session.sh", "all", "0.05"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["deblurgan-lite-gpu.json", "deblurgan-lite-gpu.safetensors", "log.jsonl", "machine.txt",
                     "results.tgz"], files  # fmt: skip
    import tarfile

    with tarfile.open(out / "results.tgz") as tar:
        names = {n.lstrip("./") for n in tar.getnames()}
        summary = tar.extractfile("./check/summary.txt").read().decode()
    assert {"check/bench.json", "check/compare-torch.json", "train/plan.txt", "train/train.log"} <= names, names
    # the probe and the run trained in the script's own folders (they once were /tmp/probe and /tmp/run, wiped
    # at each rehearsal, whoever's they were)
    assert {"train/probe/log.jsonl", "train/run/log.jsonl"} <= names, names
    assert not any(n.endswith((".nut", ".mp4", ".pt")) for n in names), names  # videos and checkpoints stay there
    assert "run-torch: PASS" in summary and "bench: PASS" in summary, summary
    steps = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in steps if e["event"] == "step"][-1] >= 100  # the planned run, not the probe
