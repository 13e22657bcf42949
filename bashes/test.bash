#!/usr/bin/env bash
# The test command: set up (or reuse) <repo>/.venv, then run the test suite.
# Extra arguments go to pytest (e.g. `-m "not slow"`, `-k sepconv`).
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/misc/setup_env.bash"
cd "$ROOT"
exec "$PYTHON" -m pytest -q "$@"
