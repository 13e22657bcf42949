#!/usr/bin/env bash
# Generate the test videos of a Weizmann run (published evaluation iteration 500000).
# Scored with the actor x action classifier of bashes/classifier/Weizmann_train.bash when it exists.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/WeizmannEval.bash [more eval.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
CLASSIFIER_RUN=Weizmann_actor  # $EXP_ROOT/classifiers/checkpoints/Weizmann_actor/best.pth
run_eval --dataset Weizmann --dataroot "${DATAROOT:-$ROOT/data/Weizmann}" --exp_name Weizmann --which_iter 500000 \
  --every_nth 2 -- "$@"
