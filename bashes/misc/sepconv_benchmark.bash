#!/usr/bin/env bash
# Time the SepConv CUDA kernel against the PyTorch reference on the TwoStreamVAN
# fusion shapes. Arguments go to `python -m sepconv.benchmark` (--device, --batch,
# --kernel-size, --iters). Uses the project's .venv when present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3 || command -v python)"
cd "$ROOT"
exec "$PY" -m sepconv.benchmark "$@"
