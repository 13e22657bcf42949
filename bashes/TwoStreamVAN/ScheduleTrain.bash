#!/usr/bin/env bash
# The published schedule in miniature (README, "The published schedule in miniature"): the demo's reduced
# model and synthetic data, content pre-training, then MUG's schedule (TRAINING.md §3 and §6) with every
# window divided by SCHEDULE_SCALE (default 1000): the task draw's motion ratio 0.1 -> 0.9, the video KL
# weight ramp (x5, as MUG's 5 -> 25) and the scheduled-sampling probability ε 1 -> 0, so that the run
# ends free-running like test-time generation.
# SCHEDULE_PRETRAIN (default 2000, the demo's measured need) content pre-training iterations come first.
# Usage: [DATAROOT=...] [EXP_ROOT=...] [SCHEDULE_SCALE=1000] [SCHEDULE_PRETRAIN=2000]
#        bash bashes/TwoStreamVAN/ScheduleTrain.bash [--resume] [more train.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
SCALE="${SCHEDULE_SCALE:-1000}"
if ! [[ "$SCALE" =~ ^[1-9][0-9]*$ ]] || [ "$SCALE" -gt 150000 ]; then
  echo "ScheduleTrain.bash: SCHEDULE_SCALE must be an integer from 1 to 150000 (got '$SCALE')" >&2; exit 2
fi
PRETRAIN="${SCHEDULE_PRETRAIN:-2000}"   # not a published window: the demo's measured need (README, "The demo")
if ! [[ "$PRETRAIN" =~ ^[0-9]+$ ]]; then
  echo "ScheduleTrain.bash: SCHEDULE_PRETRAIN must be a non-negative integer (got '$PRETRAIN')" >&2; exit 2
fi
demo_data_and_scoring
window() { echo $(( $1 / SCALE > 0 ? $1 / SCALE : 1 )); }
MIXED=$(window 500000)                 # MUG's 500 000 iterations
VAL=$(( MIXED / 10 > 0 ? MIXED / 10 : 1 ))
# Published MUG values (TRAINING.md §6) where the demo's measured choices do not replace them: the
# content ratio 0.4, the motion ratio 0.1 -> 0.9 over [0, 150 000], ε and the video KL over
# [150 000, 400 000] (KL x5 like MUG's 5 -> 25, from the demo's 1000), the c_kl window 100 000. Widths,
# batch, --use_bn, lr 1e-3, the motion KL weights and the pre-training are the demo's (DemoTrain.bash).
exec "$PYTHON" "$ROOT/train.py" --dataset synthetic --dataroot "$DATAROOT" --exp_name Schedule --crop \
  "${LOCATIONS[@]}" --joint --batch_size 8 --cont_dim 64 --motion_dim 16 --gf_dim 8 --image_ndf 16 --video_ndf 16 \
  --use_bn --lr 1e-3 --pretrain_iters "$PRETRAIN" --total_iters $(( PRETRAIN + MIXED )) \
  --print_freq "$VAL" --val_freq "$VAL" --val_batches 1 --save_freq $(( PRETRAIN + $(window 150000) )) \
  --c_kl_start 1 --c_kl_end 1 --c_kl_iter_end "$(window 100000)" --img_m_kl 10000 --xp_vs_xtilde 1 \
  --vid_m_kl_start 1000 --vid_m_kl_end 5000 --video_iter_start "$(window 150000)" --video_iter_end "$(window 400000)" \
  --cont_ratio_start 0.4 --cont_ratio_end 0.4 --cont_ratio_iter_start 0 --cont_ratio_iter_end "$(window 200000)" \
  --motion_ratio_start 0.1 --motion_ratio_end 0.9 --motion_ratio_iter_start 0 --motion_ratio_iter_end "$(window 150000)" \
  ${DEMO_SCORING[@]+"${DEMO_SCORING[@]}"} "$@"
