#!/usr/bin/env bash
# Create .venv and install streamdeblur with its test extras.
# TORCH_SPEC picks the PyTorch build: torch==2.13.0 by default, the CPU build this project's development
# machines' pip finds locally (from PyPI alone, Linux gets the CUDA build: for the CPU one pass
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu); on a GPU machine use e.g. TORCH_SPEC=torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}" -e '.[dev]' 2>&1 | grep -v "is ignored" || true
# TensorRT checked without TensorRT (tests/test_tensorrt_api.py): its type stubs, and its bindings wheel alone
# (which cannot import without NVIDIA's libraries), each in a folder of its own, off sys.path, without dependencies
for spec in tensorrt-stubs==10.13.0.35.1:tensorrt-stubs tensorrt-cu12-bindings==11.4.0.106:tensorrt-bindings-only; do
  [ -d ".venv/${spec#*:}" ] || .venv/bin/python -m pip install -q --no-deps --target ".venv/${spec#*:}" "${spec%%:*}" \
    2>&1 | grep -v "is ignored" || true
done
.venv/bin/python -c "import streamdeblur, torch, av; print('streamdeblur', streamdeblur.__version__, '| torch', torch.__version__, '| PyAV', av.__version__)"
