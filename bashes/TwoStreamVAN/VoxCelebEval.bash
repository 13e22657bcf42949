#!/usr/bin/env bash
# Generate the test videos of a VoxCeleb run (at its last iteration, 500000; see VoxCelebTrain.bash).
# A run trained with --identity_labels needs --identity_labels here too (the conditional protocol).
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/TwoStreamVAN/VoxCelebEval.bash [more eval.py options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_eval --dataset VoxCeleb --dataroot "${DATAROOT:-$ROOT/data/VoxCeleb}" --exp_name VoxCeleb --which_iter 500000 \
  --every_nth 1 -- "$@"
