#!/usr/bin/env bash
# The miniature of the published schedule and its branches (README, "The published schedule in
# miniature"): trains ScheduleTrain.bash (timed) and evaluates it, then continues copies of its checkpoint
# at the start of the ε ramp as branches, each to the same final iteration, each evaluated the same way:
#   eps1    ε held at 1 (exp_name Schedule_eps1; the video KL weight then stays at its start value too,
#           since TRAINING.md §3 ties it to ε's window)
#   detach  the stabiliser --detach_feedback from the ramp's start (exp_name Schedule_detach)
# All runs are scored free-running (test-time generation is ε = 0) with the demo classifier, and their
# learning curves are drawn into one PNG.
# Its own EXP_ROOT (default <repo>/checkpoints/schedule_check). Arguments go to every train.py run.
# Usage: [EXP_ROOT=...] [DATAROOT=...] [SCHEDULE_SCALE=1000] [SCHEDULE_PRETRAIN=2000] [SCHEDULE_BRANCHES="eps1 detach"]
#        bash bashes/misc/schedule_check.bash [train.py options]
#   DEMO_CLASSIFIER_ARGS, DEMO_EVAL_ARGS  as in demo.bash
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/setup_env.bash"
EXP_ROOT="${EXP_ROOT:-$ROOT/checkpoints/schedule_check}"
export EXP_ROOT
read -r -a eval_args <<< "${DEMO_EVAL_ARGS:-}"
read -r -a branches <<< "${SCHEDULE_BRANCHES-eps1 detach}"
never=1000000000
for branch in ${branches[@]+"${branches[@]}"}; do
  case "$branch" in
    eps1|detach) ;;
    *) echo "schedule_check.bash: SCHEDULE_BRANCHES: unknown branch '$branch' (expected eps1, detach)" >&2; exit 2 ;;
  esac
done
bash "$HERE/../classifier/Demo_ensure.bash"
start=$(date +%s)
bash "$HERE/../TwoStreamVAN/ScheduleTrain.bash" "$@"
trained=$(( $(date +%s) - start ))
bash "$HERE/../TwoStreamVAN/DemoEval.bash" --exp_name Schedule ${eval_args[@]+"${eval_args[@]}"}
total=$(( $(date +%s) - start ))

ramp_start="$("$PYTHON" -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["pretrain_iters"] + c["video_iter_start"])' \
  "$EXP_ROOT/checkpoints/Schedule/options.json")"
runs=(Schedule)
for branch in ${branches[@]+"${branches[@]}"}; do
  name="Schedule_$branch"
  case "$branch" in
    eps1) options=(--video_iter_start "$never" --video_iter_end "$never") ;;
    detach) options=(--detach_feedback) ;;
  esac
  mkdir -p "$EXP_ROOT/checkpoints/$name" "$EXP_ROOT/logs/$name"
  cp "$EXP_ROOT/checkpoints/Schedule/$ramp_start.pth" "$EXP_ROOT/checkpoints/$name/$ramp_start.pth"
  cp "$EXP_ROOT/logs/Schedule/learning_curve.jsonl" "$EXP_ROOT/logs/$name/learning_curve.jsonl"
  bash "$HERE/../TwoStreamVAN/ScheduleTrain.bash" --exp_name "$name" --resume --which_iter "$ramp_start" \
    --force_resume_config "${options[@]}" "$@"
  bash "$HERE/../TwoStreamVAN/DemoEval.bash" --exp_name "$name" ${eval_args[@]+"${eval_args[@]}"}
  runs+=("$name")
done

echo
echo "miniature trained in $trained s, with its evaluation $total s (after set-up)"
for run in "${runs[@]}"; do
  echo "learning curve ($run): $EXP_ROOT/logs/$run/learning_curve.png"
done
if [ "${#runs[@]}" -gt 1 ]; then
  others=()
  for run in "${runs[@]:1}"; do others+=("$EXP_ROOT/logs/$run"); done
  "$PYTHON" -m utils.evaluation.learning_curves "$EXP_ROOT/logs/Schedule" --compare "${others[@]}" \
    --out "$EXP_ROOT/logs/schedule_runs.png"
fi
for run in "${runs[@]}"; do
  results="$(ls -td "$EXP_ROOT"/results/$run/iter_* | head -n 1)"
  echo "== $run ($results)"
  "$PYTHON" -m utils.evaluation.reports "$results"
done
