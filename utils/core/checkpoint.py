"""Atomic checkpoint files: `<directory>/<name>.pth`, name = 'latest', 'best' or an iteration.

A checkpoint is written to a temporary file in the same directory, flushed
and fsynced, then renamed onto its final name, so the final file is only ever
complete. It is read back with `torch.load(weights_only=True)`; save adds a
`format` marker that load checks and removes again.
"""
import os
import re
import tempfile

import torch

FORMAT_KEY = "format"
FORMAT_VALUE = "twostreamvan-v1"
SUFFIX = ".pth"
TMP_PREFIX = "."  # temporary files are hidden: ".<name>.pth.<random>.tmp"
TMP_SUFFIX = ".tmp"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
_SAFE_LEAVES = (str, int, float, bool, complex, type(None), bytes, torch.Tensor, torch.Size,
                torch.dtype, torch.device)


class CheckpointError(Exception):
    """A checkpoint file that is missing, truncated, corrupt or not a TwoStreamVAN checkpoint."""


def checkpoint_path(directory: str, name) -> str:
    """Take a directory and a name ('latest', 'best' or an iteration int/str); return `<dir>/<name>.pth`."""
    name = str(name)
    if not _NAME_PATTERN.match(name):
        raise ValueError(f"checkpoint name must be letters, digits, '_' or '-', got {name!r}")
    return os.path.join(directory, name + SUFFIX)


def _check_weights_only_loadable(value, where: str) -> None:
    """Raise TypeError naming the key path of the first value weights_only loading would refuse."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool, type(None))):
                raise TypeError(f"checkpoint key {where}[{key!r}] has unsupported type {type(key).__name__}")
            _check_weights_only_loadable(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple, set)):
        for index, item in enumerate(value):
            _check_weights_only_loadable(item, f"{where}[{index}]")
    elif not isinstance(value, _SAFE_LEAVES):
        raise TypeError(f"checkpoint value {where} has type {type(value).__name__}, which "
                        "torch.load(weights_only=True) refuses; store tensors or plain Python values")


def _fsync_directory(directory: str) -> None:
    """Make a rename in `directory` durable where the platform allows opening directories."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: str, state: dict) -> None:
    """Write the dict `state` (tensors and plain Python values, nested) atomically to `path`.

    The parent directory is created if needed. On any failure the temporary
    file is removed and an existing file at `path` is left untouched.
    """
    if not isinstance(state, dict):
        raise TypeError(f"checkpoint state must be a dict, got {type(state).__name__}")
    _check_weights_only_loadable(state, "state")
    payload = dict(state)
    payload[FORMAT_KEY] = FORMAT_VALUE
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=TMP_PREFIX + os.path.basename(path) + ".",
                                    suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.remove(tmp_path)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def load_checkpoint(path: str, map_location="cpu") -> dict:
    """Read a checkpoint written by save_checkpoint; return its state dict (without the format marker).

    Raises CheckpointError with a one-line message naming the file when it is
    missing, truncated or corrupt, or not a TwoStreamVAN checkpoint.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(f"{path}: checkpoint truncated or corrupt "
                              f"({type(error).__name__}: {detail[:200]})") from error
    if not isinstance(payload, dict) or payload.get(FORMAT_KEY) != FORMAT_VALUE:
        raise CheckpointError(f"{path}: not a TwoStreamVAN checkpoint "
                              f"(no '{FORMAT_KEY}': '{FORMAT_VALUE}' marker)")
    state = dict(payload)
    del state[FORMAT_KEY]
    return state


def list_checkpoints(directory: str) -> list:
    """Take a directory; return the checkpoint names in it: named ones ('best', 'latest') sorted
    alphabetically, then iteration numbers in increasing numeric order. Temporary files are ignored.
    A missing directory gives an empty list."""
    if not os.path.isdir(directory):
        return []
    named, numbered = [], []
    for entry in os.listdir(directory):
        if not entry.endswith(SUFFIX) or entry.startswith(TMP_PREFIX):
            continue
        name = entry[: -len(SUFFIX)]
        if not _NAME_PATTERN.match(name) or not os.path.isfile(os.path.join(directory, entry)):
            continue
        (numbered if name.isdigit() else named).append(name)
    return sorted(named) + sorted(numbered, key=int)


def prune_checkpoints(directory: str, keep_last: int) -> list:
    """Delete all but the `keep_last` highest-numbered checkpoints in `directory`; named ones
    ('latest', 'best') are never deleted. Returns the deleted names, oldest first."""
    if keep_last < 0:
        raise ValueError(f"keep_last must be >= 0, got {keep_last}")
    numbered = [name for name in list_checkpoints(directory) if name.isdigit()]
    doomed = numbered[: max(0, len(numbered) - keep_last)]
    for name in doomed:
        os.remove(checkpoint_path(directory, name))
    return doomed
