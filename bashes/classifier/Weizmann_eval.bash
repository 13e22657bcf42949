#!/usr/bin/env bash
# Score the Weizmann classifier (best checkpoint by default) on the real test clips.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/classifier/Weizmann_eval.bash [--which latest|N] [more options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_classifier_eval --dataset Weizmann --dataroot "${DATAROOT:-$ROOT/data/Weizmann}" --classifier Weizmann_actor \
  --which best "$@"
