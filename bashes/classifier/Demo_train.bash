#!/usr/bin/env bash
# Train a small action classifier on the synthetic demo data (made first if missing), in a few minutes
# on a 2-core CPU: ndf 8, batch 16, lr 2e-3 (the published 5e-4 needs far more steps), 400 iterations,
# validation every 50. Run Demo under $EXP_ROOT/classifiers/.
# Usage: [DATAROOT=...] [EXP_ROOT=...] bash bashes/classifier/Demo_train.bash [--resume] [more options]
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.bash"
DATAROOT="${DATAROOT:-$ROOT/data/synthetic_large}"
if [ ! -f "$DATAROOT/synthetic.json" ]; then
  "$PYTHON" -m datasets.synthetic --design large --out "$DATAROOT" >&2
fi
run_classifier_train --dataset synthetic --dataroot "$DATAROOT" --exp_name Demo \
  --ndf 8 --batch_size 16 --lr 2e-3 --total_iters 400 --val_freq 50 --print_freq 25 "$@"
