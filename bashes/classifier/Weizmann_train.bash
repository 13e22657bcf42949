#!/usr/bin/env bash
# Train the Weizmann evaluation classifier as published: actor x action classes (--model_is_actor, lr 1e-4,
# decay 0.999 per epoch), every_nth 2, ndf 64, batch 32, 100 000 iterations, validation every 100.
# Only the newest 10 numbered checkpoints are kept (best and latest always): --keep_checkpoints 0 keeps all.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/classifier/Weizmann_train.bash [--resume] [more options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
run_classifier_train --dataset Weizmann --dataroot "${DATAROOT:-$ROOT/data/Weizmann}" --model_is_actor \
  --every_nth 2 --keep_checkpoints 10 "$@"
