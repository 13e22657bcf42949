"""The user-facing end of train.py and eval.py: a user mistake is one line on stderr and exit 2,
a run stopped by a training fault (persistent non-finite losses) one line and exit 3."""
import os
import sys

from datasets import DatasetError
from utils.core.checkpoint import CheckpointError
from utils.core.config import OptionError

USER_ERRORS = (OptionError, DatasetError, CheckpointError)
USER_ERROR_STATUS = 2
TRAINING_FAULT_STATUS = 3


class TrainingAborted(RuntimeError):
    """Training stopped by a fault that is not a user mistake (persistent non-finite losses); one-line message."""


def check_writable(directory, option):
    """Raise OptionError unless `directory` is, or could be created as, a writable folder; creates nothing."""
    existing = os.path.abspath(directory)
    while not os.path.lexists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OptionError(f"--{option}: cannot write to {directory} ({existing} is not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OptionError(f"--{option}: cannot write to {directory} ({existing} is not writable)")


def run_command(program, body, argv=None):
    """Call `body(argv)`; print a user error or training fault as `<program>: error: <message>` and
    return its exit status (2 or 3), else 0."""
    try:
        body(argv)
    except USER_ERRORS as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return USER_ERROR_STATUS
    except TrainingAborted as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return TRAINING_FAULT_STATUS
    return 0
