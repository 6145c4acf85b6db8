#!/usr/bin/env bash
# What a GPU host runs, prepared so that its few minutes go to proving and measuring, not to setting up.
# Two phases:
#
#   bash scripts/gpu_session.sh check            # the GPU path proven and measured (< 8 min on one GPU)
#   bash scripts/gpu_session.sh train MINUTES    # train deblurgan-lite on the GPU for MINUTES, export it
#   bash scripts/gpu_session.sh all [MINUTES]    # both in one device call (check bounded by CHECK_SECONDS,
#                                                # training gets what BUDGET leaves, at most MINUTES), results
#                                                # packed into <= 5 files
#
# `check` writes every result under $OUT, in order: machine.txt + doctor.json (the environment);
# gpu-tests.log (the gpu/tensorrt-marked tests); for each backend in BACKENDS, run-BACKEND.nut (the
# sample through `run`) and compare-BACKEND.json (against the CPU reference run-cpu.nut: frame count
# and timestamps equal, PSNR >= 45 dB); bench.json + bench.log (`bench`: SIZES x BATCHES, BACKENDS side
# by side, per-stage FPS and efficiency); encoders.json + encoders.log (`bench --encoders`: the CPU's
# x264 per PRESETS x ENCODER_THREADS x SIZES) and run-auto.log (`run --preset auto`: what it chose); where `import tensorrt` works, an engine built under
# $OUT/engines, run and compared the same way; summary.txt (one PASS/FAIL/SKIP line per step). It exits
# 1 if any step failed. `DEVICE=cpu` rehearses it on a machine without a GPU (tests/test_gpu_script.py
# does, with tiny sizes), so a broken script is caught before a GPU is there.
#
# A host without PyAV or the photo packages: prepare here first
#   python scripts/photo_bundle.py .gpu/photos                      # 22.5 MiB of photos, train/ + test/
#   mkdir -p .gpu/gopro-real && cp -r GOPRO/train .gpu/gopro-real/  # train: the real pairs (~24 MiB)
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .gpu/whl av   # PyAV, for `check`
# and bring .gpu along (wheels in .gpu/whl are installed into /tmp/site at the start). The tree that
# travels is at most 64 MiB: PyAV's wheel (40 MB) fits better as .gpu/av.tar.xz (the wheel unzipped, then
# `tar cf - -C DIR . | xz -8`: 25 MB), unpacked into /tmp/site; bring a subset of the real recordings.
#
# Environment: OUT (results; default /tmp/gpu-session), DEVICE (cuda; cpu to rehearse), PY (python3);
# check: SAMPLE (samples/mountains.mp4), WEIGHTS (a generator; default the shipped one),
# BACKENDS (torch,torch-compile), SIZES (1280x720,1920x1080), BATCHES (1,4,8), FRAMES (64), WARMUP (16),
# PRESETS (ultrafast,superfast,veryfast,faster,fast,medium), ENCODER_THREADS (4,8,16,auto),
# GPU_TESTS (1; 0 skips them); train: REAL (real pairs root, .gpu/gopro-real; only its train/ is read),
# REAL_FRACTION (0.15), SCENE_FRACTION (0.8: stage 27's whole-scene views), SCENE_COMPRESS (0.5: stage 28's share of them stored as video), BATCH (8), LR (1.5e-4), SEED (11), WORKERS, PROBE_STEPS (150), MODEL_ARGS (extra
# --model-arg flags), TRAIN_FLAGS (more train flags, last so they win), INIT (the generator it starts from),
# PHOTOS (.gpu/photos); all: BUDGET (570 s), CHECK_SECONDS (240), COMPILE_BENCH (1; 0 leaves it out),
# COMPILE_SIZES (1280x720), COMPILE_BATCHES (4).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-session}
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -f .gpu/av.tar.xz ] && [ ! -d /tmp/site/av ]; then  # PyAV unpacked from its wheel, xz-packed (40 -> 25 MB)
  mkdir -p /tmp/site && tar xJf .gpu/av.tar.xz -C /tmp/site && export PYTHONPATH="$PYTHONPATH:/tmp/site"
elif [ -d /tmp/site/av ]; then
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
if compgen -G ".gpu/whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
{ nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"; "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"; } | tee "$OUT/machine.txt"

# --------------------------------------------------------------------------- check
SAMPLE=${SAMPLE:-samples/mountains.mp4}
BACKENDS=${BACKENDS:-torch,torch-compile}
SIZES=${SIZES:-1280x720,1920x1080}
BATCHES=${BATCHES:-1,4,8}
PRESETS=${PRESETS:-ultrafast,superfast,veryfast,faster,fast,medium}
ENCODER_THREADS=${ENCODER_THREADS:-4,8,16,auto}
FRAMES=${FRAMES:-64}
WARMUP=${WARMUP:-16}
GPU_TESTS=${GPU_TESTS:-1}
failed=0
result() {  # STEP STATUS [DETAIL]: one line in summary.txt
  echo "$1: $2${3:+ ($3)}" | tee -a "$OUT/summary.txt"
  [ "$2" = FAIL ] && failed=1
  return 0
}
sd() { "$PY" -m streamdeblur.cli "$@"; }
weights=(); [ -n "${WEIGHTS:-}" ] && weights=(--weights "$WEIGHTS")

compare() {  # NAME OUTPUT: frame count, timestamps and PSNR against the CPU reference -> compare-NAME.json
  "$PY" - "$OUT/run-cpu.nut" "$2" "$OUT/compare-$1.json" <<'PYEOF'
import json, math, sys
import av, numpy as np
def frames(path):
    with av.open(path) as c:
        s = c.streams.video[0]
        return [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(s)]
ref, out = frames(sys.argv[1]), frames(sys.argv[2])
mse = [float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) for (_, a), (_, b) in zip(ref, out)]
psnr = [99.0 if m == 0 else 10 * math.log10(255.0**2 / m) for m in mse]
res = {"frames": [len(ref), len(out)], "timestamps_equal": [p for p, _ in ref] == [p for p, _ in out],
       "psnr_min": min(psnr) if psnr else None, "psnr_mean": sum(psnr) / len(psnr) if psnr else None}
res["pass"] = bool(len(ref) == len(out) > 0 and res["timestamps_equal"] and res["psnr_min"] >= 45)
json.dump(res, open(sys.argv[3], "w"), indent=1)
print(json.dumps(res))
sys.exit(0 if res["pass"] else 1)
PYEOF
}

check() {
  : > "$OUT/summary.txt"
  sd doctor --json > "$OUT/doctor.json" 2>&1 && result environment PASS || result environment FAIL "doctor"
  "$PY" -c "import torch; print('cudnn', torch.backends.cudnn.version() if torch.cuda.is_available() else None)" \
    >> "$OUT/machine.txt" 2>&1
  if [ "$GPU_TESTS" = 1 ]; then
    timeout 150 "$PY" -m pytest -q -m "gpu or tensorrt" -rs tests > "$OUT/gpu-tests.log" 2>&1
    rc=$?; [ $rc = 0 ] || [ $rc = 5 ] && result gpu-tests PASS "$(tail -1 "$OUT/gpu-tests.log")" \
      || result gpu-tests FAIL "$(tail -1 "$OUT/gpu-tests.log")"
  else
    result gpu-tests SKIP "GPU_TESTS=0"
  fi
  # the reference: PyTorch fp32 on the CPU, lossless (FFV1 in NUT), as every GPU run below
  if timeout 240 "$PY" -m streamdeblur.cli run "$SAMPLE" -o "$OUT/run-cpu.nut" --backend torch --device cpu \
      "${weights[@]}" --overwrite > "$OUT/run-cpu.log" 2>&1; then
    result run-cpu PASS "$(tail -1 "$OUT/run-cpu.log")"
  else
    result run-cpu FAIL "$(tail -1 "$OUT/run-cpu.log")"
  fi
  for b in ${BACKENDS//,/ }; do
    if timeout 240 "$PY" -m streamdeblur.cli run "$SAMPLE" -o "$OUT/run-$b.nut" --backend "$b" --device "$DEVICE" \
        "${weights[@]}" --overwrite > "$OUT/run-$b.log" 2>&1 && compare "$b" "$OUT/run-$b.nut" >> "$OUT/run-$b.log"; then
      result "run-$b" PASS "$(cat "$OUT/compare-$b.json" | tr -d '\n ')"
    else
      result "run-$b" FAIL "$(tail -1 "$OUT/run-$b.log")"
    fi
  done
  if timeout 300 "$PY" -m streamdeblur.cli bench "$SAMPLE" --backend "${BENCH_BACKENDS:-$BACKENDS}" --device "$DEVICE" "${weights[@]}" \
      --resolutions "$SIZES" --batch "$BATCHES" --frames "$FRAMES" --warmup "$WARMUP" --json "$OUT/bench.json" \
      > "$OUT/bench.log" 2>&1; then
    result bench PASS
  else
    result bench FAIL "$(tail -1 "$OUT/bench.log")"
  fi
  # the CPU's encoder (H100/H200 have no NVENC): per preset x threads at SIZES, then `run --preset auto`
  if timeout 150 "$PY" -m streamdeblur.cli bench --encoders --resolutions "$SIZES" --presets "$PRESETS" \
      --encoder-threads "$ENCODER_THREADS" --frames "$FRAMES" --warmup "$WARMUP" --json "$OUT/encoders.json" \
      > "$OUT/encoders.log" 2>&1 \
    && timeout 120 "$PY" -m streamdeblur.cli run "$SAMPLE" -o "$OUT/run-auto.mp4" --device "$DEVICE" "${weights[@]}" \
      --preset auto --overwrite > "$OUT/run-auto.log" 2>&1; then
    result encoders PASS "$(grep -o 'encoder libx264 preset [a-z]*' "$OUT/run-auto.log" | head -1)"
  else
    result encoders FAIL "see encoders.log, run-auto.log"
  fi
  if "$PY" -c "import tensorrt" 2>/dev/null; then
    if timeout 300 "$PY" -m streamdeblur.cli build-engine "${weights[@]}" --min-shape 256x256 --opt-shape 640x360 \
        --max-shape 1920x1088 --batch 4 --opt-level 1 -o "$OUT/engines" > "$OUT/build-engine.log" 2>&1 \
      && timeout 120 "$PY" -m streamdeblur.cli run "$SAMPLE" -o "$OUT/run-tensorrt.nut" --backend tensorrt \
        --engine "$(ls "$OUT"/engines/*.engine | head -1)" "${weights[@]}" --overwrite > "$OUT/run-tensorrt.log" 2>&1 \
      && compare tensorrt "$OUT/run-tensorrt.nut" >> "$OUT/run-tensorrt.log"; then
      result tensorrt PASS "$(cat "$OUT/compare-tensorrt.json" | tr -d '\n ')"
    else
      result tensorrt FAIL "see build-engine.log, run-tensorrt.log"
    fi
  else
    result tensorrt SKIP "import tensorrt fails here"
  fi
  return $failed
}

phase=${1:-check}
case "$phase" in
  check)
    check
    ;;
  train)
    minutes=${2:?train needs MINUTES}
    photos=${PHOTOS:-.gpu/photos}
    [ -d "$photos/train" ] || { echo "gpu_session: error: $photos/train missing; run scripts/photo_bundle.py $photos here first" >&2; exit 2; }
    # the shipped model's recipe (docs/training-log.md, stages 13-16): synthetic GoPro-style and continuous
    # blur over a log-uniform speed range, degraded inputs, sharp pass-through; plus the real GoPro train
    # pairs when REAL/train is there (bring only train/: the test recordings stay for scoring at home)
    real=${REAL:-.gpu/gopro-real}
    realflags=()
    [ -d "$real/train" ] && realflags=(--real-data "$real" --real-fraction "${REAL_FRACTION:-0.15}" --real-augment --real-scale 0.35,1)
    echo "gpu_session: real pairs: ${realflags[*]:-none ($real/train missing)}" | tee "$OUT/recipe.txt"
    common=(--package none --photos "$photos" --device "$DEVICE" --workers "${WORKERS:-$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))}" --threads 2
            "${realflags[@]}" --degrade-fraction 0.6 --h264-fraction 0.5 --gamma 0.25 --gopro-fraction 0.8
            --sharp-fraction 0.1 --motion 0.3,8 --motion-log --object-fraction 0.3 --continuous-blur --ghost-fraction 0.5
            --scene-fraction "${SCENE_FRACTION:-0.8}" --scene-compress "${SCENE_COMPRESS:-0.5}"
            --batch-size "${BATCH:-8}" --crop 256 --pixel-loss psnr --ema-decay 0.999 --lr "${LR:-1.5e-4}" --beta1 0.9
            --seed "${SEED:-11}" ${MODEL_ARGS:-} ${TRAIN_FLAGS:-})
    # 1. a short probe for this machine's steps per second, so the real run's schedule
    #    (constant, then linear decay to 0) ends inside the budget
    probe=${PROBE_STEPS:-150}
    # the probe's and the run's folders are the script's own, under OUT (never a fixed /tmp path it would wipe)
    rm -rf "$OUT/probe" "$OUT/run"
    init=${INIT:-streamdeblur/weights/deblurgan-lite.safetensors}
    "$PY" -m trainer.cli train --out "$OUT/probe" --steps "$probe" --val-every 100000 --ckpt-every 100000 --log-every $(( probe / 3 > 0 ? probe / 3 : 1 )) \
      --init "$init" "${common[@]}" 2>&1 | tail -3 || exit 1
    rate=$("$PY" -c 'import json, sys; print([e for e in map(json.loads, open(sys.argv[1])) if e["event"] == "step"][-1]["steps_per_s"])' "$OUT/probe/log.jsonl") || exit 1
    steps=$("$PY" -c 'import sys; print(max(100, int(float(sys.argv[1]) * 60 * float(sys.argv[2]) * 0.9)))' "$rate" "$minutes") || exit 1
    echo "probe: $rate steps/s -> $steps steps in $minutes min" | tee "$OUT/plan.txt"
    "$PY" -m trainer.cli train --out "$OUT/run" --steps "$steps" --decay-start $(( steps / 3 )) --val-every $(( steps / 6 + 1 )) \
      --ckpt-every 500 --log-every 100 --init "$init" "${common[@]}" 2>&1 | tee "$OUT/train.log" | tail -20 || exit 1
    cp "$OUT/run/log.jsonl" "$OUT/log.jsonl"
    "$PY" -m trainer.cli export "$OUT/run/last.pt" -o "$OUT/deblurgan-lite-gpu" --half || exit 1
    ;;
  all)
    # one device call: `check` (bounded), `train MINUTES`, then a torch-compile bench if time is left;
    # everything lands under a scratch folder and comes back as at most 5 files (the tool returns 8):
    # results.tgz (logs, JSON; no videos), the exported generator (.safetensors + .json), log.jsonl, machine.txt
    budget=${BUDGET:-570}  # seconds for the whole phase
    final=$OUT; scratch=$(mktemp -d); start=$SECONDS
    OUT=$scratch/check BENCH_BACKENDS=${BENCH_BACKENDS:-torch} timeout "${CHECK_SECONDS:-240}" bash "$0" check
    echo "check: rc $? after $(( SECONDS - start )) s"; cat "$scratch/check/summary.txt" 2>/dev/null
    left=$(( budget - (SECONDS - start) ))
    # what is left, less ~100 s for the probe, start-up and export, at most MINUTES
    minutes=$("$PY" -c 'import sys; m = max(0.5, (int(sys.argv[1]) - 100) / 60); print(round(min(m, float(sys.argv[2] or m)), 2))' "$left" "${2:-}")
    echo "train: $minutes min"
    OUT=$scratch/train timeout $(( left - 30 > 60 ? left - 30 : 60 )) bash "$0" train "$minutes"
    echo "train: rc $? after $(( SECONDS - start )) s"
    left=$(( budget - (SECONDS - start) ))
    if [ "${COMPILE_BENCH:-1}" = 1 ] && [ "$left" -gt 75 ]; then
      OUT=$scratch/compile timeout $(( left - 15 )) "$PY" -m streamdeblur.cli bench "$SAMPLE" --backend torch-compile \
        --device "$DEVICE" "${weights[@]}" --resolutions "${COMPILE_SIZES:-1280x720}" --batch "${COMPILE_BATCHES:-4}" \
        --frames "$FRAMES" --warmup "$WARMUP" --json "$scratch/bench-compile.json" > "$scratch/bench-compile.log" 2>&1
      echo "bench torch-compile: rc $? after $(( SECONDS - start )) s"
    fi
    find "$scratch" \( -name '*.nut' -o -name '*.mp4' -o -name '*.pt' \) -delete
    mkdir -p "$final"
    mv "$scratch"/train/deblurgan-lite-gpu.* "$final/" 2>/dev/null
    [ -f "$scratch/train/log.jsonl" ] && cp "$scratch/train/log.jsonl" "$final/"
    tar czf "$final/results.tgz" -C "$scratch" .
    ls -la "$final"
    ;;
  *)
    echo "gpu_session: error: unknown phase '$phase'; use check or train MINUTES" >&2
    exit 2
    ;;
esac
