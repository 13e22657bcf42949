#!/usr/bin/env bash
# Train the SynAction evaluation classifier as published: 20 actions (lr 5e-4, decay 0.995 per epoch),
# batch 64, the per-action strides of the loader, ndf 64, 100 000 iterations, validation every 100, print every 20.
# Only the newest 10 numbered checkpoints are kept (--keep_checkpoints 0: all).
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/classifier/SynAction_train.bash [--resume] [more options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_classifier_train --dataset SynAction --dataroot "${DATAROOT:-$ROOT/data/SynAction}" --batch_size 64 \
  --print_freq 20 --keep_checkpoints 10 "$@"
