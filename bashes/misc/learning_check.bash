#!/usr/bin/env bash
# The one-hour learning check (README, "The demo"): the demo configuration trained for longer, with a larger
# share of motion steps, on the synthetic data, both protocols generated and scored, and the result compared with the goals
# (`python -m utils.tools.learning_goals`): unconditional accuracy >= 80 % with IS >= 2.5, conditional >= 70 %,
# the evaluation classifier >= 90 % on the real test clips. Exit status 0 when every goal is met, 1 when
# one is not (the numbers are printed either way).
# Its own EXP_ROOT (default <repo>/checkpoints/learning_check): its classifier, run and results do not
# touch the demo's. Arguments go to train.py after the demo's options (later options win).
# Usage: [EXP_ROOT=...] [DATAROOT=...] [CHECK_ITERS=6500] bash bashes/misc/learning_check.bash [train.py options]
#   DEMO_CLASSIFIER_ARGS, DEMO_EVAL_ARGS  extra options for the classifier training and for DemoEval.bash (as in demo.bash)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/setup_env.bash"
EXP_ROOT="${EXP_ROOT:-$ROOT/checkpoints/learning_check}"
export EXP_ROOT
start=$(date +%s)
read -r -a eval_args <<< "${DEMO_EVAL_ARGS:-}"
classifier_run="$EXP_ROOT/classifiers/checkpoints/Demo"
bash "$HERE/../classifier/Demo_ensure.bash"
bash "$HERE/../classifier/Demo_eval.bash"     # the real test clips' accuracy and IS, appended to its results.txt
# what the classifier reads: a motion reader labels time-reversed clips as the opposite direction (~0 %)
bash "$HERE/../classifier/Demo_eval.bash" --clip_transform reversed
# after the demo's 2000 pre-training steps, 80 % motion steps (the demo: 50 %), 90 % of them frame tasks: the
# kernel generator needs thousands of motion steps to make its kernels class-specific (README, "The demo")
bash "$HERE/../TwoStreamVAN/DemoTrain.bash" --total_iters "${CHECK_ITERS:-6500}" --val_freq 500 --save_freq 1000 \
  --cont_ratio_start 0.8 --cont_ratio_end 0.8 --motion_ratio_start 0.1 --motion_ratio_end 0.1 "$@"
bash "$HERE/../TwoStreamVAN/DemoEval.bash" --num_per_class 32 --eval_batch 32 ${eval_args[@]+"${eval_args[@]}"}
results="$(ls -td "$EXP_ROOT"/results/Demo/iter_* | head -n 1)"
echo
echo "learning check finished in $(( $(date +%s) - start )) s (after set-up)"
echo "videos (PNG):    $results/unconditional/samples.png  (one row per class)"
echo "from test clips: $results/conditional/samples.png"
echo "learning curve:  $EXP_ROOT/logs/Demo/learning_curve.png"
"$PYTHON" -m utils.evaluation.reports "$results"
"$PYTHON" -m utils.tools.learning_goals "$results" --classifier_results "$classifier_run/results.txt"
