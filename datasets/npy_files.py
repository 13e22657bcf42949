"""Probing, opening and naming the authors' one-video-per-`.npy` files (uint8 RGB arrays)."""
import os

import numpy as np

from .errors import DatasetError


def list_npy(root):
    """Sorted `.npy` file names (not hidden) directly in `root`; returns a list of str."""
    return sorted(n for n in os.listdir(root) if n.endswith(".npy") and not n.startswith("."))


def open_npy(path):
    """Memory-map the array in `path` read-only; returns a numpy array or raises DatasetError (reason only)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as err:  # numpy raises ValueError, OSError, EOFError... for bad files
        detail = str(err).split(". ")[0].split("\n")[0]
        if "pickled" in detail:
            detail = "no valid .npy header"
        raise DatasetError(f"unreadable .npy file ({detail})") from None


def probe_video_npy(path, layout):
    """Check a video array's header: uint8, 4-D, 3 channels; returns `(T, H, W)`.

    `layout` is 'HWCT' (Weizmann) or 'THWC' (MUG, SynAction); raises DatasetError
    with the reason for anything else (corrupt or truncated file, ndim, dtype, channels).
    """
    arr = open_npy(path)
    if arr.ndim != 4:
        raise DatasetError(f"array has {arr.ndim} dimensions {tuple(arr.shape)}, expected 4 ({layout})")
    if arr.dtype != np.uint8:
        raise DatasetError(f"array dtype is {arr.dtype}, expected uint8")
    if layout == "HWCT":
        h, w, c, t = arr.shape
    else:
        t, h, w, c = arr.shape
    if c != 3:
        raise DatasetError(f"array shape {tuple(arr.shape)} has {c} channels, expected 3 ({layout})")
    return int(t), int(h), int(w)


def read_npy_frames(path, layout, indices):
    """Frames `indices` of the video array in `path`; returns uint8 RGB `[len(indices), H, W, 3]`."""
    try:
        arr = open_npy(path)
    except DatasetError as err:
        raise DatasetError(f"{path}: {err}") from None
    if layout == "HWCT":
        return np.ascontiguousarray(np.transpose(arr[..., list(indices)], (3, 0, 1, 2)))
    return np.ascontiguousarray(arr[list(indices)])


def parse_fields(stem, n_fields, int_fields=()):
    """Split a file stem on '_' into `n_fields` fields (the first absorbs extra '_').

    Fields at positions `int_fields` must be integers and are converted; returns a
    list, or raises DatasetError explaining the expected pattern.
    """
    parts = stem.rsplit("_", n_fields - 1)
    if len(parts) != n_fields or not all(parts):
        raise DatasetError(f"name has {len(parts)} '_'-separated fields, expected {n_fields}")
    for i in int_fields:
        if not parts[i].isdigit():
            raise DatasetError(f"field {parts[i]!r} of the name is not an integer")
        parts[i] = int(parts[i])
    return parts
