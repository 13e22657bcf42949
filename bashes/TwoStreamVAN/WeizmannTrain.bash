#!/usr/bin/env bash
# Train TwoStreamVAN on Weizmann with the published settings (TRAINING.md §6).
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/WeizmannTrain.bash [--resume] [more train.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_train --dataset Weizmann --dataroot "${DATAROOT:-$ROOT/data/Weizmann}" --exp_name Weizmann \
  --every_nth 2 --cont_dim 512 --gf_dim 16 \
  --total_iters 500000 --pretrain_iters 0 --c_kl_start 7 --c_kl_end 7 --img_m_kl 7 --xp_vs_xtilde 1 --vid_m_kl_start 2 --vid_m_kl_end 20 -- "$@"
