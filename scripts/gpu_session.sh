#!/usr/bin/env bash
# What a session with a lent GPU runs there, prepared so that its few minutes of device time
# go to measuring and training, not to setting up. Two phases, one device call each:
#
#   bash scripts/gpu_session.sh check            # GPU tests + `streamdeblur bench` on CUDA (~4 min)
#   bash scripts/gpu_session.sh train MINUTES    # train deblurgan-lite on the GPU for MINUTES, export it
#
# Prepare here first (the GPU machine has no Debian photo packages, no PyAV, no network):
#   python scripts/photo_bundle.py .gpu/photos                      # 22.5 MiB of photos, train/ + test/
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .gpu/whl av   # PyAV, for `check`
# and call the device tool with carry [".gpu"] (at most 64 MiB travel; files back from $OUT:
# at most 16 MiB each, so a run's last.pt, with its optimiser state, stays there and only the
# exported .safetensors comes back).
#
# Environment: OUT (results; the device tool sets it), DEVICE (default cuda; cpu to try the
# script on a machine without a GPU), MODEL_ARGS (extra --model-arg flags), TRAIN_FLAGS.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-session}
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if compgen -G ".gpu/whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
{ nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"; "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"; } | tee "$OUT/machine.txt"

phase=${1:-check}
case "$phase" in
  check)
    timeout 150 "$PY" -m pytest -q -m "gpu or tensorrt" -rs tests 2>&1 | tee "$OUT/gpu-tests.log"
    timeout 240 "$PY" -m streamdeblur.cli bench --backend torch --device "$DEVICE" --model deblurgan-lite,deblurgan \
      --resolutions 640x360,1280x720,1920x1080 --batch 1,4 --frames 64 --warmup 16 --json "$OUT/gpu.json" 2>&1 | tee "$OUT/bench.log"
    ;;
  train)
    minutes=${2:?train needs MINUTES}
    photos=.gpu/photos
    [ -d "$photos/train" ] || { echo "gpu_session: error: $photos/train missing; run scripts/photo_bundle.py $photos here first" >&2; exit 2; }
    common=(--package none --photos "$photos" --device "$DEVICE" --workers "${WORKERS:-$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))}" --threads 2
            --gopro-fraction 0.8 --sharp-fraction 0.1 --ema-decay 0.999 --lr 3e-4 --beta1 0.9 --seed 11 ${MODEL_ARGS:-} ${TRAIN_FLAGS:-})
    # 1. a short probe for this machine's steps per second, so the real run's schedule
    #    (constant, then linear decay to 0) ends inside the budget
    probe=${PROBE_STEPS:-150}
    rm -rf /tmp/probe /tmp/run
    "$PY" -m trainer.cli train --out /tmp/probe --steps "$probe" --val-every 100000 --ckpt-every 100000 --log-every $(( probe / 3 > 0 ? probe / 3 : 1 )) \
      --init streamdeblur/weights/deblurgan-lite.safetensors "${common[@]}" 2>&1 | tail -3 || exit 1
    rate=$("$PY" -c 'import json, sys; print([e for e in map(json.loads, open(sys.argv[1])) if e["event"] == "step"][-1]["steps_per_s"])' /tmp/probe/log.jsonl) || exit 1
    steps=$("$PY" -c 'import sys; print(max(100, int(float(sys.argv[1]) * 60 * float(sys.argv[2]) * 0.9)))' "$rate" "$minutes") || exit 1
    echo "probe: $rate steps/s -> $steps steps in $minutes min" | tee "$OUT/plan.txt"
    "$PY" -m trainer.cli train --out /tmp/run --steps "$steps" --decay-start $(( steps / 3 )) --val-every $(( steps / 6 + 1 )) \
      --ckpt-every 500 --log-every 100 --init streamdeblur/weights/deblurgan-lite.safetensors "${common[@]}" 2>&1 | tee "$OUT/train.log" | tail -20 || exit 1
    cp /tmp/run/log.jsonl "$OUT/log.jsonl"
    "$PY" -m trainer.cli export /tmp/run/last.pt -o "$OUT/deblurgan-lite-gpu" --half || exit 1
    ;;
  *)
    echo "gpu_session: error: unknown phase '$phase'; use check or train MINUTES" >&2
    exit 2
    ;;
esac
