"""The user-facing end of train.py and eval.py: a user mistake is one line on stderr and exit 2."""
import sys

from datasets import DatasetError
from utils.checkpoint import CheckpointError
from utils.options import OptionError

USER_ERRORS = (OptionError, DatasetError, CheckpointError)


def run_command(program, body, argv=None):
    """Call `body(argv)`; print a user error as `<program>: error: <message>` and return 2, else 0."""
    try:
        body(argv)
    except USER_ERRORS as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 2
    return 0
