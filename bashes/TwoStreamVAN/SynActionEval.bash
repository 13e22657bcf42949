#!/usr/bin/env bash
# Generate the test videos of a SynAction run (published evaluation iteration 640000).
# Scored with the classifier of bashes/classifier/SynAction_train.bash when it exists.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/SynActionEval.bash [more eval.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
CLASSIFIER_RUN=SynAction  # $EXP_ROOT/classifiers/checkpoints/SynAction/best.pth
run_eval --dataset SynAction --dataroot "${DATAROOT:-$ROOT/data/SynAction}" --exp_name SynAction --which_iter 640000 \
  --every_nth 2 -- "$@"
