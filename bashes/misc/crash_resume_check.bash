#!/usr/bin/env bash
# Crash-and-resume acceptance check: train the demo configuration (DemoTrain.bash, 40 iterations,
# saves every 5) once uninterrupted and once killed with SIGKILL at 5 seeded random moments (some
# during checkpoint writes) and resumed each time; prints `identical` (exit 0) or the first
# difference (exit 1). About five minutes on 2 CPU cores. Arguments go to `python -m utils.tools.crash_check`
# (--total_iters, --kills, --seed, --threads, --workdir DIR to keep the runs, ...).
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup_env.bash"
cd "$ROOT"
exec "$PYTHON" -m utils.tools.crash_check "$@"
