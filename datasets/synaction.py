"""SynAction in the authors' layout: `<actor>_<action>_<seq>_<split>.npy`, arrays `[T, 71, 71, C]` (DATA.md).

Split: with `u = (actor_id*20 + action_id)*2 + seq`, a file is test when
`u mod 15 == split` (the integer in its name), else train.  Stride per action
(`STRIDES`; `every_nth` is ignored) and a file is kept only if
`T > (L-1)*n + 1`.  Crop: a 64x64 window at an offset (drawn separately for
rows and columns) uniform in [0, 7) for training with crop=True (NumPy
global RNG), else 4; resized only when `image_size != 64`.  Video lists are
named by `video_length` alone.
"""
import os

from . import clips
from .base import VideoEntry
from .errors import DatasetError
from .npy_dataset import NpyDataset
from .npy_files import parse_fields, probe_video_npy

ACTORS = ["douglas", "kachujin", "liam", "lola", "malcolm", "regina", "remy", "shae", "stefani", "swat"]
ACTIONS = ["bow", "cheer", "clap", "climb", "crossstep", "hit", "hook", "jump", "kick", "knee",
           "pick", "pitch", "push", "roll", "run", "squat", "stall", "standup", "walk", "wave"]
_STRIDE4 = ("bow", "hook", "knee", "pick", "push", "roll", "run", "squat", "stall", "standup", "walk", "wave")
_STRIDE6 = ("hit", "jump", "kick", "pitch")
STRIDES = {a: 4 if a in _STRIDE4 else 6 if a in _STRIDE6 else 2 for a in ACTIONS}
FRAME, WINDOW, TEST_OFFSET = 71, 64, 4


def is_test(actor_id, action_id, seq, split):
    """DATA.md SynAction rule: `((actor_id*20 + action_id)*2 + seq) % 15 == split`; returns a bool."""
    return ((actor_id * 20 + action_id) * 2 + seq) % 15 == split


class SynActionDataset(NpyDataset):
    """SynAction clips: label = index in ACTIONS, actor = index in ACTORS."""

    DATASET, LAYOUT, PATTERN, VERSION = "SynAction", "THWC", "<actor>_<action>_<seq>_<split>.npy", 1

    def __init__(self, dataroot, split, video_length=10, every_nth=1, image_size=64, crop=True,
                 textroot=None, cache=True, cache_dir=None):
        super().__init__(dataroot, split, video_length, 1, image_size, crop, textroot,
                         list_tag=video_length, options={}, classes=ACTIONS, actors=ACTORS,
                         cache=cache, cache_dir=cache_dir)

    def index_file(self, name, stem):
        """Entry of `<actor>_<action>_<seq>_<split>.npy` for this split; raises DatasetError when unusable."""
        actor, action, seq, split_no = parse_fields(stem, 4, int_fields=(2, 3))
        if actor not in ACTORS:
            raise DatasetError(f"unknown actor {actor!r} (known: {', '.join(ACTORS)})")
        if action not in ACTIONS:
            raise DatasetError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        if is_test(ACTORS.index(actor), ACTIONS.index(action), seq, split_no) != (self.split == "test"):
            return []
        path = os.path.join(self.root, name)
        n_frames, h, w = probe_video_npy(path, self.LAYOUT)
        if (h, w) != (FRAME, FRAME):
            raise DatasetError(f"frames are {h}x{w}, expected {FRAME}x{FRAME}")
        stride = STRIDES[action]
        span = clips.min_kept_length(self.video_length, stride)
        if not n_frames > span:
            raise DatasetError(f"{n_frames} frames, more than {span} needed "
                               f"(video_length={self.video_length}, stride {stride} for {action})")
        return [VideoEntry(stem, ACTIONS.index(action), ACTORS.index(actor), path, 0, n_frames, stride)]

    def crop_box(self, height, width, random):
        """64x64 window at offsets uniform in [0, 7) (random) or 4; returns `(top, left, 64, 64)`."""
        top = clips.random_offset(FRAME - WINDOW, random, TEST_OFFSET)
        left = clips.random_offset(FRAME - WINDOW, random, TEST_OFFSET)
        return top, left, WINDOW, WINDOW
