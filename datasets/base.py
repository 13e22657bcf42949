"""The index entry and the base clip dataset every loader derives from.

A loader builds a list of `VideoEntry` (one per usable video part) at
construction time and implements `read_clip` (frames by absolute index) and
`crop_box`; the base class samples the clip (DATA.md rules, NumPy's global
RNG), crops, resizes and converts it.
"""
import os
from dataclasses import dataclass, field

import torch.utils.data

from . import clips
from .errors import DatasetError
from .videolist import write_video_list

SPLITS = ("train", "test")


@dataclass
class VideoEntry:
    """One usable video part: frames `[start, end)` of `source`, sampled with `stride`."""
    name: str
    label: int
    actor: int
    source: str
    start: int
    end: int
    stride: int
    kind: str = "npy"
    files: tuple = field(default=())

    @property
    def n_frames(self):
        """Number of frames in this part; an int."""
        return self.end - self.start


def check_common(dataroot, split, video_length, every_nth, image_size):
    """Validate the options shared by all loaders; returns the absolute dataroot or raises DatasetError."""
    if split not in SPLITS:
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    for key, value in (("video_length", video_length), ("every_nth", every_nth),
                       ("image_size", image_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DatasetError(f"{key} must be a positive integer, got {value!r}")
    if dataroot is None or str(dataroot) == "":
        raise DatasetError("no dataroot given (set --dataroot or DATAROOT)")
    root = os.path.abspath(os.path.expanduser(str(dataroot)))
    if not os.path.exists(root):
        raise DatasetError(f"dataroot {root} does not exist")
    if not os.path.isdir(root):
        raise DatasetError(f"dataroot {root} is not a folder")
    return root


class ClipDataset(torch.utils.data.Dataset):
    """Base dataset: items are dicts `{'video': [C,T,H,W] in [-1,1], 'label', 'actor', 'name'}`."""

    def __init__(self, entries, classes, actors, split, video_length, image_size, crop,
                 textroot=None, list_tag=None, empty_message="no usable videos"):
        if not entries:
            raise DatasetError(empty_message)
        self.entries = list(entries)
        self.classes = list(classes)
        self.actors = list(actors)
        self.split = split
        self.video_length = video_length
        self.image_size = image_size
        self.random_start = split == "train"
        self.random_crop = split == "train" and bool(crop)
        self.video_list = write_video_list(textroot, split, list_tag, self.entries)

    def __len__(self):
        """Number of items (video parts); an int."""
        return len(self.entries)

    def frame_indices(self, entry):
        """Absolute frame indices of one clip of `entry` (random start for 'train'); returns a list of ints."""
        rel = clips.clip_indices(entry.n_frames, self.video_length, entry.stride,
                                 self.random_start, name=entry.name)
        return [entry.start + k for k in rel]

    def read_clip(self, entry, indices):
        """Frames `indices` (absolute) of `entry`; returns uint8 RGB `[T, H, W, 3]`."""
        raise NotImplementedError

    def crop_box(self, height, width, random):
        """Crop box `(top, left, h, w)` for `height x width` frames; base: centred largest square."""
        side = min(height, width)
        return clips.window_box(height, width, side, side, random)

    def __getitem__(self, index):
        """Item `index`: dict with 'video' FloatTensor `[3, T, S, S]` in [-1, 1], 'label', 'actor', 'name'."""
        entry = self.entries[index]
        frames = self.read_clip(entry, self.frame_indices(entry))
        box = self.crop_box(frames.shape[1], frames.shape[2], self.random_crop)
        frames = clips.resize_frames(clips.crop_frames(frames, box), self.image_size)
        return {"video": clips.to_clip_tensor(frames), "label": entry.label,
                "actor": entry.actor, "name": entry.name}
