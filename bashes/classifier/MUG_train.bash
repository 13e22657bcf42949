#!/usr/bin/env bash
# Train the MUG evaluation classifier as published: 6 expressions (lr 5e-4, decay 0.995 per epoch),
# every_nth 1, ndf 64, batch 32, 100 000 iterations, validation every 100. Add --model_is_actor for the
# actor x action kind (run MUG_actor). Only the newest 10 numbered checkpoints are kept (--keep_checkpoints 0: all).
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/classifier/MUG_train.bash [--resume] [more options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_classifier_train --dataset MUG --dataroot "${DATAROOT:-$ROOT/data/MUG}" --every_nth 1 --keep_checkpoints 10 "$@"
