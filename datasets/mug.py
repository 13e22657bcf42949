"""MUG Facial Expression in the authors' layout: `<actor>_<action>_<seq>_<split>.npy`, arrays `[T, H, W, C]`.

Labels: index in the sorted list of the six expressions (`ACTIONS`); files
with another expression are rejected.  Actors: the sorted actor names found
among the usable-looking file names of the folder (both splits), so ids agree
between train and test.  Split: `split == 3` is test, the rest train.  A file
is kept only if `T > (L-1)*n + 1` (n = every_nth).  Crop: a window of 90 % of
height and width (rounded), at a uniformly random position for training with
crop=True (NumPy global RNG), centred otherwise; then bilinear resize.
"""
import os

from . import clips
from .base import VideoEntry
from .errors import DatasetError
from .npy_dataset import NpyDataset
from .npy_files import list_npy, parse_fields, probe_video_npy

ACTIONS = sorted(["anger", "disgust", "fear", "happiness", "sadness", "surprise"])
TEST_PHASE, CROP_FRACTION = 3, 0.9


def parse_name(stem):
    """Fields of `<actor>_<action>_<seq>_<split>`; returns `(actor, action, seq, split)` or raises DatasetError."""
    return tuple(parse_fields(stem, 4, int_fields=(2, 3)))


def discover_actors(root):
    """Sorted actor names of the well-named files in `root` with a known action; returns a list of str."""
    found = set()
    for name in list_npy(root):
        try:
            actor, action, _, _ = parse_name(name[:-len(".npy")])
        except DatasetError:
            continue
        if action in ACTIONS:
            found.add(actor)
    return sorted(found)


class MUGDataset(NpyDataset):
    """MUG clips: label = index in sorted ACTIONS, actor = index in the sorted discovered actors."""

    DATASET, LAYOUT, PATTERN, VERSION = "MUG", "THWC", "<actor>_<action>_<seq>_<split>.npy", 1

    def __init__(self, dataroot, split, video_length=10, every_nth=1, image_size=64, crop=True,
                 textroot=None, cache=True, cache_dir=None):
        root = os.path.abspath(os.path.expanduser(str(dataroot))) if dataroot else dataroot
        self.actor_names = discover_actors(root) if root and os.path.isdir(root) else []
        super().__init__(dataroot, split, video_length, every_nth, image_size, crop, textroot,
                         list_tag=video_length * every_nth, options={"actors": self.actor_names},
                         classes=ACTIONS, actors=self.actor_names, cache=cache, cache_dir=cache_dir)

    def index_file(self, name, stem):
        """Entry of `<actor>_<action>_<seq>_<split>.npy` for this split; raises DatasetError when unusable."""
        actor, action, _, phase = parse_name(stem)
        if action not in ACTIONS:
            raise DatasetError(f"unknown expression {action!r} (known: {', '.join(ACTIONS)})")
        if (phase == TEST_PHASE) != (self.split == "test"):
            return []
        path = os.path.join(self.root, name)
        n_frames, _, _ = probe_video_npy(path, self.LAYOUT)
        span = clips.min_kept_length(self.video_length, self.every_nth)
        if not n_frames > span:
            raise DatasetError(f"{n_frames} frames, more than {span} needed "
                               f"(video_length={self.video_length}, every_nth={self.every_nth})")
        return [VideoEntry(stem, ACTIONS.index(action), self.actor_names.index(actor), path,
                           0, n_frames, self.every_nth)]

    def crop_box(self, height, width, random):
        """90 % window, random position (train) or centred; returns `(top, left, h, w)`."""
        win_h = max(1, int(round(CROP_FRACTION * height)))
        win_w = max(1, int(round(CROP_FRACTION * width)))
        return clips.window_box(height, width, win_h, win_w, random)
