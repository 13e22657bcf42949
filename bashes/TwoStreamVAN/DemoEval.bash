#!/usr/bin/env bash
# Generate videos from the demo run: a per-class grid (GIF + PNG) of unconditional samples.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/DemoEval.bash [more eval.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_eval --dataset synthetic --dataroot "${DATAROOT:-$ROOT/data/synthetic}" --exp_name Demo --which_iter latest \
  --protocol unconditional --num_per_class 12 --eval_batch 12 -- "$@"
