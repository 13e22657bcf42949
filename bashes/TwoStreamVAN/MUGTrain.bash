#!/usr/bin/env bash
# Train TwoStreamVAN on MUG with the published settings (TRAINING.md §6).
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/MUGTrain.bash [--resume] [more train.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_train --dataset MUG --dataroot "${DATAROOT:-$ROOT/data/MUG}" --exp_name MUG \
  --every_nth 1 --cont_dim 512 --gf_dim 16 \
  --total_iters 500000 --pretrain_iters 0 --c_kl_start 5 --c_kl_end 5 --img_m_kl 5 --xp_vs_xtilde 1 --vid_m_kl_start 5 --vid_m_kl_end 25 -- "$@"
