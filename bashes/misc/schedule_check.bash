#!/usr/bin/env bash
# The miniature of the published schedule and its ε = 1 twin (README, "The published schedule in
# miniature"): trains ScheduleTrain.bash (timed), then continues a copy of its checkpoint at the ramp's
# start with ε held at 1 for the same number of iterations (the twin: exp_name Schedule_eps1; the video
# KL weight then stays at its start value too, since TRAINING.md §3 ties it to ε's window), generates and
# scores both free-running (test-time generation is ε = 0) with the demo classifier, and draws both
# learning curves in one PNG.
# Its own EXP_ROOT (default <repo>/checkpoints/schedule_check). Arguments go to both train.py runs.
# Usage: [EXP_ROOT=...] [DATAROOT=...] [SCHEDULE_SCALE=1000] [SCHEDULE_PRETRAIN=2000] bash bashes/misc/schedule_check.bash
#        [train.py options, e.g. --detach_feedback]
#   DEMO_CLASSIFIER_ARGS, DEMO_EVAL_ARGS  as in demo.bash
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/setup_env.bash"
EXP_ROOT="${EXP_ROOT:-$ROOT/checkpoints/schedule_check}"
export EXP_ROOT
read -r -a eval_args <<< "${DEMO_EVAL_ARGS:-}"
bash "$HERE/../classifier/Demo_ensure.bash"
start=$(date +%s)
bash "$HERE/../TwoStreamVAN/ScheduleTrain.bash" "$@"
trained=$(( $(date +%s) - start ))
bash "$HERE/../TwoStreamVAN/DemoEval.bash" --exp_name Schedule ${eval_args[@]+"${eval_args[@]}"}
total=$(( $(date +%s) - start ))

# The twin: the miniature's checkpoint at the start of the ε ramp (its save_freq), continued with ε = 1.
ramp_start="$("$PYTHON" -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["pretrain_iters"] + c["video_iter_start"])' \
  "$EXP_ROOT/checkpoints/Schedule/options.json")"
mkdir -p "$EXP_ROOT/checkpoints/Schedule_eps1" "$EXP_ROOT/logs/Schedule_eps1"
cp "$EXP_ROOT/checkpoints/Schedule/$ramp_start.pth" "$EXP_ROOT/checkpoints/Schedule_eps1/$ramp_start.pth"
cp "$EXP_ROOT/logs/Schedule/learning_curve.jsonl" "$EXP_ROOT/logs/Schedule_eps1/learning_curve.jsonl"
never=1000000000
bash "$HERE/../TwoStreamVAN/ScheduleTrain.bash" --exp_name Schedule_eps1 --resume --which_iter "$ramp_start" \
  --force_resume_config --video_iter_start "$never" --video_iter_end "$never" "$@"
bash "$HERE/../TwoStreamVAN/DemoEval.bash" --exp_name Schedule_eps1 ${eval_args[@]+"${eval_args[@]}"}

"$PYTHON" -m utils.learning_curves "$EXP_ROOT/logs/Schedule" --compare "$EXP_ROOT/logs/Schedule_eps1" \
  --out "$EXP_ROOT/logs/schedule_vs_eps1.png"
echo
echo "miniature trained in $trained s, with its evaluation $total s (after set-up)"
echo "learning curves: $EXP_ROOT/logs/Schedule/learning_curve.png, $EXP_ROOT/logs/Schedule_eps1/learning_curve.png"
echo "both runs:       $EXP_ROOT/logs/schedule_vs_eps1.png"
for run in Schedule Schedule_eps1; do
  results="$(ls -td "$EXP_ROOT"/results/$run/iter_* | head -n 1)"
  echo "== $run ($results)"
  "$PYTHON" -m utils.eval_reports "$results"
done
