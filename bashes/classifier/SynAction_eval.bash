#!/usr/bin/env bash
# Score the SynAction classifier (best checkpoint by default) on the real test clips.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/classifier/SynAction_eval.bash [--which latest|N] [more options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_classifier_eval --dataset SynAction --dataroot "${DATAROOT:-$ROOT/data/SynAction}" --classifier SynAction \
  --which best "$@"
