#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment at <repo>/.venv and install the pinned
# requirements and the project itself (editable). Idempotent: a stamp file records what was
# installed, and nothing is reinstalled while requirements.txt and setup.py are unchanged.
# Source it (`source bashes/misc/setup_env.bash`) to get $ROOT and $PYTHON; or run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
BASE_PYTHON="${BASE_PYTHON:-python3}"
stamp="$VENV/.twostreamvan-installed"
want="$(cat "$ROOT/requirements.txt" "$ROOT/setup.py" | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setting up $VENV (first run: about two minutes)" >&2
  "$BASE_PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" 2>&1 \
    | { grep -v -e "^WARNING: Location" -e "^$" || true; } >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$ROOT" 2>&1 \
    | { grep -v -e "^WARNING: Location" -e "^$" || true; } >&2
  echo "$want" > "$stamp"
fi
PYTHON="$VENV/bin/python"
export ROOT PYTHON
