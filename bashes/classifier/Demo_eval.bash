#!/usr/bin/env bash
# Score the demo classifier (best checkpoint by default) on the synthetic test clips.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/classifier/Demo_eval.bash [--which latest|N] [more options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_classifier_eval --dataset synthetic --dataroot "${DATAROOT:-$ROOT/data/synthetic_large}" --classifier Demo \
  --which best "$@"
