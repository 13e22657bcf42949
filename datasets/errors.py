"""The one exception type the data loaders raise, and the per-file warning helper.

Unusable files are reported on the 'datasets' logger at WARNING level, one
line each (`skipping <path>: <reason>`); without any logging set up Python
prints such lines to stderr as they are.
"""
import logging

logger = logging.getLogger("datasets")


class DatasetError(Exception):
    """A user-facing data problem; `str(err)` is one line naming the file/folder and what was expected."""


def reject(path, reason):
    """Report one unusable file (`path`, `reason` strings) as a single warning line; returns None."""
    logger.warning("skipping %s: %s", path, " ".join(str(reason).split()))
