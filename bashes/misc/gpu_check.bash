#!/usr/bin/env bash
# The GPU check (issue 16): on a machine with CUDA, in one call of at most 8 minutes, run the CUDA tests,
# install.bash for the GPU's architecture with the precompiled and NVRTC kernel paths checked active, the
# SepConv benchmark, the training benchmark (float32, --amp bf16, --tf32), a demo training run on the GPU
# that resumes once and torchrun over all GPUs; then print a summary table (also summary.json/.txt and
# one log per step in --out, default $OUT or a temporary folder). See README, "GPU check".
#
#   [PYTHON=python3] bash bashes/misc/gpu_check.bash [--only STEP]... [--skip STEP]... [--timeout STEP=SECONDS]...
#                                                   [--deadline SECONDS] [--out DIR] [--keep] [--no-wheels]
#                                                   [--strict-goals] [--list]
#
# The interpreter: $PYTHON, else <repo>/.venv/bin/python when it exists, else python3; nothing is
# installed into it and no .venv is created: modules it lacks that bashes/misc/wheels provides
# (tensorboardX, protobuf) are unpacked into a temporary folder on PYTHONPATH. Exit status: 0 passed,
# 1 a step failed, 2 usage error, 3 no CUDA device (the GPU steps skipped, nothing verified on a GPU).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -n "${PYTHON:-}" ]; then
  PY="$PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then
  PY="$ROOT/.venv/bin/python"
else
  PY=python3
fi
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "gpu_check.bash: error: PYTHON=$PY is not an executable interpreter" >&2
  exit 2
fi
cd "$ROOT"
exec "$PY" -m utils.tools.gpu_check "$@"
