#!/usr/bin/env bash
# Set up analogc in ./.venv (Python 3.11+): the CPU build of PyTorch first, so that no
# other package pulls a multi-GB CUDA build, then analogc with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==${ANALOGC_TORCH:-2.13.0}"
TORCH_VERSION=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('torch').split('+')[0])")
echo "torch==${TORCH_VERSION}" > .venv/torch-constraint.txt
.venv/bin/python -m pip install -q -c .venv/torch-constraint.txt -e ".[test]"
# onnx2torch (ONNX -> torch for deploy) declares torchvision, which it only needs for two
# detection ops; installing it without dependencies keeps the CPU torch build in place.
.venv/bin/python -m pip install -q --no-deps "onnx2torch>=1.5"
echo "analogc installed in .venv (torch ${TORCH_VERSION})"
