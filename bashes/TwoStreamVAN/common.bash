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
  # NPROC processes (GPUs) per machine (default 1; > 1 runs torchrun, --batch_size stays the global batch);
  # NNODES machines (default 1), each running this launcher, meet at RDZV_ENDPOINT=host:port (c10d
  # rendezvous; RDZV_ID names the job, default twostreamvan). See README, "Multi-GPU and multi-node training".
  local args=() nproc="${NPROC:-1}" nnodes="${NNODES:-1}"
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ "$#" -gt 0 ] && shift
  if ! [[ "$nproc" =~ ^[1-9][0-9]*$ && "$nnodes" =~ ^[1-9][0-9]*$ ]]; then
    echo "run_train: NPROC and NNODES must be positive integers (got NPROC=$nproc NNODES=$nnodes)" >&2; exit 2
  fi
  local train=("$ROOT/train.py" "${PUBLISHED[@]}" --crop "${LOCATIONS[@]}" "${args[@]}" "$@")
  if [ "$nproc" -eq 1 ] && [ "$nnodes" -eq 1 ] && [ -z "${RDZV_ENDPOINT:-}" ]; then
    exec "$PYTHON" "${train[@]}"
  fi
  local launch=("$(dirname "$PYTHON")/torchrun" --nproc_per_node "$nproc" --nnodes "$nnodes")
  if [ -n "${RDZV_ENDPOINT:-}" ]; then
    launch+=(--rdzv_backend c10d --rdzv_endpoint "$RDZV_ENDPOINT" --rdzv_id "${RDZV_ID:-twostreamvan}")
  elif [ "$nnodes" -gt 1 ]; then
    echo "run_train: NNODES=$nnodes needs RDZV_ENDPOINT=host:port (a machine all of them reach)" >&2; exit 2
  else
    launch+=(--standalone)
  fi
  exec "${launch[@]}" "${train[@]}"
}

run_eval() {  # run_eval <dataset flags...> -- <user args...>
  # With CLASSIFIER_RUN=<name> set, the videos are scored with the evaluation classifier that
  # bashes/classifier/<Dataset>_train.bash wrote, $EXP_ROOT/classifiers/checkpoints/<name>/best.pth,
  # when it exists (a --classifier among the user args wins); otherwise they are only generated.
  local args=() scoring=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ "$#" -gt 0 ] && shift
  if [ -n "${CLASSIFIER_RUN:-}" ]; then
    local classifier="$EXP_ROOT/classifiers/checkpoints/$CLASSIFIER_RUN/best.pth"
    if [ -f "$classifier" ]; then
      scoring=(--classifier "$classifier")
    elif [[ " $* " != *" --classifier "* ]]; then
      echo "no evaluation classifier at $classifier (train it with bashes/classifier/${CLASSIFIER_RUN%_actor}_train.bash): videos are not scored"
    fi
  fi
  exec "$PYTHON" "$ROOT/eval.py" "${LOCATIONS[@]}" "${args[@]}" ${scoring[@]+"${scoring[@]}"} "$@"
}

demo_data_and_scoring() {  # DemoTrain.bash and ScheduleTrain.bash: the synthetic data and validation scoring
  # DATAROOT defaults to <repo>/data/synthetic_large, made (the `large` design) when missing. DEMO_SCORING
  # is `--val_classifier <demo classifier>` when bashes/classifier/Demo_train.bash has written it (each
  # validation then scores 32 generated videos per class and the learning curve gets its accuracy, IS and
  # Fréchet panels), else empty, and one line says so.
  DATAROOT="${DATAROOT:-$ROOT/data/synthetic_large}"
  if [ ! -f "$DATAROOT/synthetic.json" ]; then
    "$PYTHON" -m datasets.synthetic --design large --out "$DATAROOT" >&2
  fi
  local classifier="$EXP_ROOT/classifiers/checkpoints/Demo/best.pth"
  DEMO_SCORING=()
  if [ -f "$classifier" ]; then
    DEMO_SCORING=(--val_classifier "$classifier")
  else
    echo "no demo classifier at $classifier (bashes/classifier/Demo_train.bash makes it): validation losses only" >&2
  fi
}
