#!/usr/bin/env bash
# The demo command: set up (or reuse) <repo>/.venv, make the synthetic dataset if missing,
# train the reduced demo configuration, generate a per-class grid of videos, print the paths.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/misc/setup_env.bash"
EXP_ROOT="${EXP_ROOT:-$ROOT/checkpoints}"
export EXP_ROOT
start=$(date +%s)
bash "$HERE/TwoStreamVAN/DemoTrain.bash" "$@"
bash "$HERE/TwoStreamVAN/DemoEval.bash"
echo
echo "demo finished in $(( $(date +%s) - start )) s (after set-up)"
echo "checkpoint:      $EXP_ROOT/checkpoints/Demo/latest.pth"
echo "TensorBoard run: $EXP_ROOT/logs/Demo   (tensorboard --logdir $EXP_ROOT/logs)"
results="$(ls -d "$EXP_ROOT"/results/Demo/iter_* | sort -t_ -k2 -n | tail -n 1)"
echo "videos (GIF):    $results/unconditional/samples.gif  (one row per class)"
echo "videos (PNG):    $results/unconditional/samples.png"
echo "from test clips: $results/conditional/samples.gif"
