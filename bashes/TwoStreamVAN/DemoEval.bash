#!/usr/bin/env bash
# Generate videos from the demo run: per-class grids (GIF + PNG) of unconditional samples and of test
# clips regenerated from their first frame (the conditional protocol, one repetition).
# Scored with the demo classifier of bashes/classifier/Demo_train.bash when it exists.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/DemoEval.bash [more eval.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
CLASSIFIER_RUN=Demo  # $EXP_ROOT/classifiers/checkpoints/Demo/best.pth
run_eval --dataset synthetic --dataroot "${DATAROOT:-$ROOT/data/synthetic_large}" --exp_name Demo --which_iter latest \
  --protocol both --num_per_class 12 --eval_batch 12 --val_num 1 -- "$@"
