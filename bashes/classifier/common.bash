#!/usr/bin/env bash
# Shared by the classifier launchers: the venv ($ROOT, $PYTHON) and EXP_ROOT from ../TwoStreamVAN/common.bash;
# classifier runs go to $EXP_ROOT/classifiers/{checkpoints,logs}/<exp_name>.
#   DATAROOT  the dataset folder            (default: <repo>/data/<Dataset>)
#   EXP_ROOT  logs, checkpoints and results (default: <repo>/checkpoints)
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../TwoStreamVAN/common.bash"
CLASSIFIER_CHECKPOINTS="$EXP_ROOT/classifiers/checkpoints"
CLASSIFIER_LOGS="$EXP_ROOT/classifiers/logs"

run_classifier_train() {  # run_classifier_train <launcher flags...> <user args...>: later flags win
  exec "$PYTHON" -m utils.classifier.train --checkpoint_dir "$CLASSIFIER_CHECKPOINTS" --log_dir "$CLASSIFIER_LOGS" "$@"
}

run_classifier_eval() {  # run_classifier_eval <launcher flags...> <user args...>
  exec "$PYTHON" -m utils.classifier.eval --checkpoint_dir "$CLASSIFIER_CHECKPOINTS" "$@"
}
