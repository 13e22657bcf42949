#!/usr/bin/env bash
# Make sure the demo evaluation classifier exists under $EXP_ROOT: reuse its best.pth, finish an interrupted
# run (latest.pth only), or train it (Demo_train.bash). Used by demo.bash and misc/learning_check.bash.
# Usage: [EXP_ROOT=...] [DATAROOT=...] [DEMO_CLASSIFIER_ARGS="..."] bash bashes/classifier/Demo_ensure.bash
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXP_ROOT="${EXP_ROOT:-$(cd "$HERE/../.." && pwd)/checkpoints}"
read -r -a classifier_args <<< "${DEMO_CLASSIFIER_ARGS:-}"
classifier_run="$EXP_ROOT/classifiers/checkpoints/Demo"
if [ -f "$classifier_run/best.pth" ]; then
  echo "reusing the demo classifier $classifier_run/best.pth"
elif [ -f "$classifier_run/latest.pth" ]; then  # an interrupted classifier run: finish it
  bash "$HERE/Demo_train.bash" --resume ${classifier_args[@]+"${classifier_args[@]}"}
else
  bash "$HERE/Demo_train.bash" ${classifier_args[@]+"${classifier_args[@]}"}
fi
