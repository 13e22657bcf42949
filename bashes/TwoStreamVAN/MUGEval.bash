#!/usr/bin/env bash
# Generate the test videos of a MUG run (published evaluation iteration 500000).
# Scored with the classifier of bashes/classifier/MUG_train.bash when it exists.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/MUGEval.bash [more eval.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
CLASSIFIER_RUN=MUG  # $EXP_ROOT/classifiers/checkpoints/MUG/best.pth
run_eval --dataset MUG --dataroot "${DATAROOT:-$ROOT/data/MUG}" --exp_name MUG --which_iter 500000 \
  --every_nth 1 -- "$@"
