#!/usr/bin/env bash
# Train TwoStreamVAN on VoxCeleb. No settings were published: these are MUG's (talking faces,
# every_nth 1, KL weights 5/5/5 -> 25); see README, "Launchers". Unconditional (one class) by
# default; add --identity_labels for one class per identity (then pass it to VoxCelebEval.bash too).
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/VoxCelebTrain.bash [--resume] [more train.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_train --dataset VoxCeleb --dataroot "${DATAROOT:-$ROOT/data/VoxCeleb}" --exp_name VoxCeleb \
  --every_nth 1 --cont_dim 512 --gf_dim 16 \
  --total_iters 500000 --pretrain_iters 0 --c_kl_start 5 --c_kl_end 5 --img_m_kl 5 --xp_vs_xtilde 1 --vid_m_kl_start 5 --vid_m_kl_end 25 -- "$@"
