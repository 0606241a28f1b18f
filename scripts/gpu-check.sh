#!/usr/bin/env bash
# The CUDA path on a GPU machine: installs the `gpu` extra (onnxruntime-gpu in place of onnxruntime),
# runs the GPU tests with AXIOM_REQUIRE_GPU=1 (a missing CUDA provider fails instead of skipping),
# then the batching benchmark on CUDA and on CPU in the same run, for docs/performance.md.
# Needs the package registry (pip) unless .venv already holds onnxruntime-gpu.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
if ! .venv/bin/python -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())" 2>/dev/null; then
  # Both wheels install the same `onnxruntime` module: the CPU one must go first.
  .venv/bin/python -m pip uninstall -q -y onnxruntime || true
  .venv/bin/python -m pip install -q -e ".[gpu,test]"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

AXIOM_REQUIRE_GPU=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/unit/ai/test_cuda.py
model=(--size 224 --hidden 32 --layers 4)
.venv/bin/python -m bench.ai_batching --provider cuda "${model[@]}" --images 1024 --batcher-threads 64
.venv/bin/python -m bench.ai_batching --provider cpu "${model[@]}" --images 128 --batcher-threads 0
