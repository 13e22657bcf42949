"""Weizmann Human Action in the authors' layout: `<actor>_<action>.npy`, arrays `[H, W, C, T]` (DATA.md).

Split inside each video: training frames `[0, floor(2T/3))`, kept only if
`floor(2T/3) - 1 > m` with `m = (L-1)*n + 1`; testing frames
`[floor(2T/3), T)`, or `[T-m-1, T)` when `T - floor(2T/3) <= m`.  With
`miniclip`, each training part becomes 20 fixed clips of `m` frames whose
starts are `floor(linspace(0, floor(2T/3) - m, 20))`.  Stride `n` is
`every_nth`, but 1 for run, side and skip.  Crop: 5 px removed from height
and width, the offset (drawn separately for rows and columns) uniform in
[0, 5) for training with crop=True (NumPy global RNG), else 2; then bilinear
resize.  Accepted extension: an action with one trailing digit that is not
itself an action ('lena_run1', as in the original Weizmann release) counts as
that action ('run').
"""
import os

import numpy as np

from . import clips
from .base import VideoEntry
from .errors import DatasetError
from .npy_dataset import NpyDataset
from .npy_files import parse_fields, probe_video_npy

ACTIONS = ["bend", "jack", "pjump", "wave1", "wave2", "jump", "run", "side", "skip", "walk"]
ACTORS = ["daria", "denis", "eli", "ido", "ira", "lena", "lyova", "moshe", "shahar"]
UNIT_STRIDE = ("run", "side", "skip")
CROP_MARGIN, TEST_OFFSET, MINICLIPS = 5, 2, 20


def action_of(field):
    """Action name for the action field of a file name (see the trailing-digit rule); returns str or None."""
    if field in ACTIONS:
        return field
    if len(field) > 1 and field[-1].isdigit() and field[:-1] in ACTIONS:
        return field[:-1]
    return None


def stride_for(action, every_nth):
    """Clip stride of `action`: 1 for run, side and skip, else `every_nth`; returns an int."""
    return 1 if action in UNIT_STRIDE else every_nth


def split_parts(n_frames, span, split, miniclip=False):
    """Frame ranges `[(start, end), ...]` of a `n_frames` video for `split` (DATA.md Weizmann rules).

    `span` is `m = (L-1)*n + 1`; returns [] when the video is not kept for
    training, or raises DatasetError when it is too short for a test part.
    """
    cut = (2 * n_frames) // 3
    if split == "train":
        if not cut - 1 > span:
            return []
        if not miniclip:
            return [(0, cut)]
        starts = np.floor(np.linspace(0, cut - span, MINICLIPS)).astype(int)
        return [(int(s), int(s) + span) for s in starts]
    start = cut if n_frames - cut > span else n_frames - span - 1
    if start < 0:
        raise DatasetError(f"{n_frames} frames, at least {span + 1} needed for a test clip")
    return [(start, n_frames)]


class WeizmannDataset(NpyDataset):
    """Weizmann clips: label = index in ACTIONS, actor = index in ACTORS."""

    DATASET, LAYOUT, PATTERN, VERSION = "Weizmann", "HWCT", "<actor>_<action>.npy", 1

    def __init__(self, dataroot, split, video_length=10, every_nth=1, image_size=64, crop=True,
                 textroot=None, miniclip=False, cache=True, cache_dir=None):
        self.miniclip = bool(miniclip) and split == "train"
        super().__init__(dataroot, split, video_length, every_nth, image_size, crop, textroot,
                         list_tag=video_length * every_nth, options={"miniclip": self.miniclip},
                         classes=ACTIONS, actors=ACTORS, cache=cache, cache_dir=cache_dir)

    def index_file(self, name, stem):
        """Entries of `<actor>_<action>.npy` for this split; raises DatasetError when unusable."""
        actor, field = parse_fields(stem, 2)
        if "_" in actor:
            raise DatasetError("name has more than one '_', expected <actor>_<action>.npy")
        action = action_of(field)
        if action is None:
            raise DatasetError(f"unknown action {field!r} (known: {', '.join(ACTIONS)})")
        if actor not in ACTORS:
            raise DatasetError(f"unknown actor {actor!r} (known: {', '.join(ACTORS)})")
        path = os.path.join(self.root, name)
        n_frames, h, w = probe_video_npy(path, self.LAYOUT)
        if min(h, w) <= CROP_MARGIN:
            raise DatasetError(f"frames are {h}x{w}, larger than {CROP_MARGIN}px needed for the crop")
        stride = stride_for(action, self.every_nth)
        span = clips.min_kept_length(self.video_length, stride)
        parts = split_parts(n_frames, span, self.split, self.miniclip)
        if not parts:
            raise DatasetError(f"{n_frames} frames: training part of {(2 * n_frames) // 3} frames "
                               f"is too short for clips spanning {span} (needs > {span + 1})")
        return [VideoEntry(stem, ACTIONS.index(action), ACTORS.index(actor), path, s, e, stride)
                for s, e in parts]

    def crop_box(self, height, width, random):
        """Window of `(H-5) x (W-5)` at offsets uniform in [0, 5) (random) or 2; returns `(top, left, h, w)`."""
        top = clips.random_offset(CROP_MARGIN, random, TEST_OFFSET)
        left = clips.random_offset(CROP_MARGIN, random, TEST_OFFSET)
        return top, left, height - CROP_MARGIN, width - CROP_MARGIN
