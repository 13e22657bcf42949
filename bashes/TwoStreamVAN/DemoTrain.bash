#!/usr/bin/env bash
# Train the reduced demo configuration on the synthetic dataset (made first if missing).
# The model and loss structure are the published ones; only widths, batch, schedule
# windows and iteration counts shrink so that it trains in minutes on a 2-core CPU.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/DemoTrain.bash [--resume] [more train.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
DATAROOT="${DATAROOT:-$ROOT/data/synthetic}"
if [ ! -f "$DATAROOT/synthetic.json" ]; then
  "$PYTHON" -m datasets.synthetic --out "$DATAROOT" >&2
fi
# Validation scores 32 generated videos per class with the demo classifier when it exists (the
# learning curve, <log_dir>/Demo/learning_curve.png, then has accuracy, IS and Fréchet panels).
classifier="$EXP_ROOT/classifiers/checkpoints/Demo/best.pth"
scoring=()
if [ -f "$classifier" ]; then
  scoring=(--val_classifier "$classifier")
else
  echo "no demo classifier at $classifier (bashes/classifier/Demo_train.bash makes it): validation losses only" >&2
fi
exec "$PYTHON" "$ROOT/train.py" --dataset synthetic --dataroot "$DATAROOT" --exp_name Demo --crop \
  "${LOCATIONS[@]}" --joint --batch_size 8 --cont_dim 64 --motion_dim 16 --gf_dim 8 --image_ndf 16 --video_ndf 16 \
  --total_iters 330 --pretrain_iters 80 --print_freq 25 --val_freq 125 --val_batches 1 --save_freq 125 \
  --c_kl_start 1 --c_kl_end 1 --img_m_kl 1 --vid_m_kl_start 1 --vid_m_kl_end 1 --xp_vs_xtilde 1 \
  --c_kl_iter_end 1 \
  --cont_ratio_start 0.5 --cont_ratio_end 0.5 --cont_ratio_iter_start 0 --cont_ratio_iter_end 1 \
  --motion_ratio_start 0.5 --motion_ratio_end 0.5 --motion_ratio_iter_start 0 --motion_ratio_iter_end 1 \
  ${scoring[@]+"${scoring[@]}"} "$@"
