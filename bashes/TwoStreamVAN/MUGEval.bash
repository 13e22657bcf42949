#!/usr/bin/env bash
# Generate the test videos of a MUG run (published evaluation iteration 500000).
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/MUGEval.bash [more eval.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_eval --dataset MUG --dataroot "${DATAROOT:-$ROOT/data/MUG}" --exp_name MUG --which_iter 500000 \
  --every_nth 1 -- "$@"
