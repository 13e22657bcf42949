#!/usr/bin/env bash
# The demo command: set up (or reuse) <repo>/.venv, make the synthetic dataset if missing, train the demo
# evaluation classifier (reused when its best.pth exists), train the reduced demo configuration, generate
# and score videos, print the paths and, per protocol, accuracy, IS, intra/inter entropy and Fréchet distance.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/demo.bash [more train.py options for DemoTrain.bash]
#   DEMO_CLASSIFIER_ARGS  extra options for bashes/classifier/Demo_train.bash (e.g. "--total_iters 20")
#   DEMO_EVAL_ARGS        extra options for bashes/TwoStreamVAN/DemoEval.bash (e.g. "--num_per_class 2")
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/misc/setup_env.bash"
EXP_ROOT="${EXP_ROOT:-$ROOT/checkpoints}"
export EXP_ROOT
start=$(date +%s)
read -r -a eval_args <<< "${DEMO_EVAL_ARGS:-}"
classifier_run="$EXP_ROOT/classifiers/checkpoints/Demo"
bash "$HERE/classifier/Demo_ensure.bash"
bash "$HERE/TwoStreamVAN/DemoTrain.bash" "$@"
bash "$HERE/TwoStreamVAN/DemoEval.bash" ${eval_args[@]+"${eval_args[@]}"}
echo
echo "demo finished in $(( $(date +%s) - start )) s (after set-up)"
echo "checkpoint:      $EXP_ROOT/checkpoints/Demo/latest.pth"
echo "TensorBoard run: $EXP_ROOT/logs/Demo   (tensorboard --logdir $EXP_ROOT/logs)"
echo "learning curve:  $EXP_ROOT/logs/Demo/learning_curve.png  (python -m utils.evaluation.learning_curves $EXP_ROOT/logs/Demo redraws it)"
results="$(ls -td "$EXP_ROOT"/results/Demo/iter_* | head -n 1)"  # the one DemoEval.bash just wrote
echo "videos (GIF):    $results/unconditional/samples.gif  (one row per class)"
echo "videos (PNG):    $results/unconditional/samples.png"
echo "from test clips: $results/conditional/samples.gif"
echo "classifier:      $classifier_run/best.pth"
echo "metrics:         $EXP_ROOT/logs/Demo/results.txt, metrics.json and confusion.png beside the videos"
"$PYTHON" -m utils.evaluation.reports "$results"
