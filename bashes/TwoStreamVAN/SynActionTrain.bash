#!/usr/bin/env bash
# Train TwoStreamVAN on SynAction with the published settings (TRAINING.md §6).
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/SynActionTrain.bash [--resume] [more train.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_train --dataset SynAction --dataroot "${DATAROOT:-$ROOT/data/SynAction}" --exp_name SynAction \
  --every_nth 2 --cont_dim 1024 --gf_dim 32 \
  --total_iters 800000 --pretrain_iters 300000 --c_kl_start 0 --c_kl_end 7 --img_m_kl 7 --xp_vs_xtilde 0.1 --vid_m_kl_start 2 --vid_m_kl_end 20 -- "$@"
