#!/usr/bin/env bash
# Time TwoStreamVAN's training steps and test-time generation; prints one JSON line
# (see README, "Speed"). Arguments go to `python -m utils.tools.benchmark`: --dataset
# (MUG | Weizmann | SynAction launcher model, default MUG), --batch_size (16),
# --threads (2), --device (cpu | cuda[:N]), --implementation (fast | reference),
# --amp (off | bf16), --repeats (3), --reduced, --no_flops.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3 || command -v python)"
cd "$ROOT"
exec "$PY" -m utils.tools.benchmark "$@"
