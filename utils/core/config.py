"""Configuration basics shared by every command: the option error, the one-line argparse parser,
the experiment root and writing a resolved configuration beside a run."""
import argparse
import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class OptionError(ValueError):
    """A user mistake in the options; its message is one line."""


class OptionParser(argparse.ArgumentParser):
    """An ArgumentParser that raises OptionError (one line) instead of printing usage and exiting."""

    def error(self, message):
        raise OptionError(message)


def default_exp_root():
    """`$EXP_ROOT` when set, else the repository's `checkpoints/` folder."""
    return os.environ.get("EXP_ROOT") or str(REPO_ROOT / "checkpoints")


def write_config(config, path):
    """Write the resolved options (a JSON-able dict) to `path` as JSON, atomically."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
