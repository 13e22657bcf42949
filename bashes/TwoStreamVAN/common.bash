#!/usr/bin/env bash
# Shared by the launchers: sets up the venv, the default locations and the published settings.
#   DATAROOT  the dataset folder            (default: <repo>/data/<Dataset>)
#   EXP_ROOT  logs, checkpoints and results (default: <repo>/checkpoints)
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../misc/setup_env.bash"
EXP_ROOT="${EXP_ROOT:-$ROOT/checkpoints}"
export EXP_ROOT
LOCATIONS=(--log_dir "$EXP_ROOT/logs" --checkpoint_dir "$EXP_ROOT/checkpoints" --output_dir "$EXP_ROOT/results")
# TRAINING.md §6, "All" (the --crop for training is added by run_train)
PUBLISHED=(--model TwoStreamVAN --motion_dim 64 --joint --batch_size 16 --print_freq 50 --save_freq 10000
           --c_img_dis 10 --pred_scale_feat 100 --video_scale_feat 100
           --cont_ratio_start 0.4 --cont_ratio_end 0.4 --cont_ratio_iter_start 0 --cont_ratio_iter_end 200000
           --motion_ratio_start 0.1 --motion_ratio_end 0.9 --motion_ratio_iter_start 0 --motion_ratio_iter_end 150000)

run_train() {  # run_train <dataset flags...> -- <user args...>
  local args=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ "$#" -gt 0 ] && shift
  exec "$PYTHON" "$ROOT/train.py" "${PUBLISHED[@]}" --crop "${LOCATIONS[@]}" "${args[@]}" "$@"
}

run_eval() {  # run_eval <dataset flags...> -- <user args...>
  local args=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ "$#" -gt 0 ] && shift
  exec "$PYTHON" "$ROOT/eval.py" "${LOCATIONS[@]}" "${args[@]}" "$@"
}
