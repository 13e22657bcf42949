#!/usr/bin/env bash
# Train the reduced demo configuration on the synthetic dataset (made first if missing).
# The model and loss structure are the published ones; only widths, batch, schedule
# windows and iteration counts shrink so that it trains in minutes on a 2-core CPU.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/DemoTrain.bash [--resume] [more train.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
demo_data_and_scoring
# Measured choices (README, "The demo"): the `large` synthetic design (24 px shapes over plain
# gradients); `--use_bn` (an option of the published code, off in its launchers: without it, the fused
# frames of this reduced model lose the object within a few hundred motion steps); lr 1e-3 for all six
# groups (at the published 2e-4 the width-8 content stream stays on its plateau for the whole budget);
# 2000 content pre-training steps (the breakthrough comes after 400-1400 at lr 1e-3); then half content
# steps, and of the motion steps 80 % frame and 20 % video tasks; motion KL weights 1e4 (frame) and 1e3
# (video), so that the motion latent cannot carry the direction and the label has to; ε stays 1
# (teacher forcing), as for the first 150 000 published iterations.
exec "$PYTHON" "$ROOT/train.py" --dataset synthetic --dataroot "$DATAROOT" --exp_name Demo --crop \
  "${LOCATIONS[@]}" --joint --batch_size 8 --cont_dim 64 --motion_dim 16 --gf_dim 8 --image_ndf 16 --video_ndf 16 \
  --use_bn --lr 1e-3 --total_iters 2600 --pretrain_iters 2000 --print_freq 100 --val_freq 300 --val_batches 1 --save_freq 1300 \
  --c_kl_start 1 --c_kl_end 1 --img_m_kl 10000 --vid_m_kl_start 1000 --vid_m_kl_end 1000 --xp_vs_xtilde 1 \
  --c_kl_iter_end 1 \
  --cont_ratio_start 0.5 --cont_ratio_end 0.5 --cont_ratio_iter_start 0 --cont_ratio_iter_end 1 \
  --motion_ratio_start 0.2 --motion_ratio_end 0.2 --motion_ratio_iter_start 0 --motion_ratio_iter_end 1 \
  ${DEMO_SCORING[@]+"${DEMO_SCORING[@]}"} "$@"
