#!/usr/bin/env bash
# Score the MUG classifier (best checkpoint by default) on the real test clips.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/classifier/MUG_eval.bash [--which latest|N] [--classifier MUG_actor]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_classifier_eval --dataset MUG --dataroot "${DATAROOT:-$ROOT/data/MUG}" --classifier MUG --which best "$@"
