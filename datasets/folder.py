"""Generic class-per-folder videos: `<root>/<class>/<video>` (strip, frame folder or video file).

A video is an image strip of square frames laid along its longer side (the
MoCoGAN convention), a folder of frame images (natural name order), or a
video file read with OpenCV; images are recognised by content, not extension.
Classes are the class folders in natural order ('2' before '10').

Split rules (`split_rule`):
  'folders'  `<root>/train/<class>/...` and `<root>/test/<class>/...`
  'videos'   whole videos held out: in each class, the k-th, 2k-th, ... video
             (natural order, k = `test_every`, default 5) is test, the rest train
  'frames'   inside each video: frames [0, floor(2T/3)) train, the rest test
  'mirror_pairs'  as 'videos', but a video and its left-right mirror (found by
             content, datasets.mirror_pairs) count as one unit and stay together
  'all'      every video, all frames, in both splits
  'auto'     (default) 'folders' when `<root>/train` and `<root>/test` both
             exist, else 'videos'
Crop: a square window of `crop_fraction` (default 1.0) of the shorter side,
at a random position for training with crop=True (NumPy global RNG), centred
otherwise; then a bilinear resize to `image_size`.
"""
import os

import numpy as np

from . import clips
from .base import ClipDataset, VideoEntry, check_common
from .errors import DatasetError, reject
from .mirror_pairs import mirror_units
from .media import (frame_files, image_shape, natural_key, read_image, read_video_frames,
                    sniff, split_strip, strip_length, video_frame_count)

SPLIT_RULES = ("auto", "folders", "videos", "mirror_pairs", "frames", "all")


def resolve_split_rule(root, rule):
    """The concrete split rule for `root` ('auto' -> 'folders' or 'videos'); returns a str."""
    if rule not in SPLIT_RULES:
        raise DatasetError(f"unknown split_rule {rule!r} (known: {', '.join(SPLIT_RULES)})")
    if rule == "auto":
        both = all(os.path.isdir(os.path.join(root, s)) for s in ("train", "test"))
        return "folders" if both else "videos"
    return rule


def list_dirs(folder):
    """Non-hidden sub-folders of `folder` in natural order; returns a list of names."""
    if not os.path.isdir(folder):
        return []
    names = [n for n in os.listdir(folder)
             if not n.startswith(".") and os.path.isdir(os.path.join(folder, n))]
    return sorted(names, key=natural_key)


def probe_video(path):
    """Kind, frame count and frame files of one candidate video; returns `(kind, n, files)` or raises DatasetError."""
    if os.path.isdir(path):
        files = tuple(frame_files(path))
        if not files:
            raise DatasetError("folder holds no image files")
        return "frames", len(files), files
    kind = sniff(path)
    if kind == "image":
        h, w = image_shape(path)
        return "strip", strip_length(h, w, path), ()
    if kind == "video":
        return "video", video_frame_count(path), ()
    raise DatasetError("neither an image nor a video file")


def split_part(rule, split, position, n_frames, test_every):
    """Frame range `(start, end)` of a video for `split` under `rule`, or None when it is not in that split.

    `position` is the video's index in its class (natural order; for 'mirror_pairs' its unit's index).
    """
    if rule in ("folders", "all"):
        return 0, n_frames
    if rule in ("videos", "mirror_pairs"):
        is_test = position % test_every == test_every - 1
        return (0, n_frames) if is_test == (split == "test") else None
    cut = (2 * n_frames) // 3
    return (0, cut) if split == "train" else (cut, n_frames)


def read_whole_video(path):
    """Every frame of the strip, frame folder or video file at `path`; returns uint8 RGB `[T, H, W, 3]`."""
    kind, n_frames, files = probe_video(path)
    return read_media_clip(VideoEntry(path, -1, -1, path, 0, n_frames, 1, kind, files), list(range(n_frames)))


def read_media_clip(entry, indices):
    """Frames `indices` of a strip, frame-folder or video-file `entry`; returns uint8 RGB `[T, H, W, 3]`."""
    if entry.kind == "strip":
        return split_strip(read_image(entry.source))[indices]
    if entry.kind == "frames":
        frames = [read_image(entry.files[i]) for i in indices]
        if len({f.shape for f in frames}) > 1:
            raise DatasetError(f"frames of {entry.source} differ in size")
        return np.stack(frames)
    return read_video_frames(entry.source, indices)


class FolderDataset(ClipDataset):
    """Clips from `<root>/<class>/<video>` under a user-set split rule (see module docstring)."""

    def __init__(self, dataroot, split, video_length=10, every_nth=1, image_size=64, crop=True,
                 textroot=None, split_rule="auto", test_every=5, crop_fraction=1.0,
                 classes=None, actors=(), actor_of=None):
        root = check_common(dataroot, split, video_length, every_nth, image_size)
        if not isinstance(test_every, int) or test_every < 2:
            raise DatasetError(f"test_every must be an integer >= 2, got {test_every!r}")
        if not 0.0 < float(crop_fraction) <= 1.0:
            raise DatasetError(f"crop_fraction must be in (0, 1], got {crop_fraction!r}")
        self.root, self.crop_fraction = root, float(crop_fraction)
        self.split_rule = resolve_split_rule(root, split_rule)
        if self.split_rule == "folders":
            for sub in ("train", "test"):
                if not os.path.isdir(os.path.join(root, sub)):
                    raise DatasetError(f"split_rule 'folders' needs {os.path.join(root, sub)} "
                                       f"(expected <root>/train/<class>/... and <root>/test/<class>/...)")
            found = sorted(set(list_dirs(os.path.join(root, "train")))
                           | set(list_dirs(os.path.join(root, "test"))), key=natural_key)
            class_root = os.path.join(root, split)
        else:
            found, class_root = list_dirs(root), root
        if classes is None:
            classes = found
        for extra in sorted(set(found) - set(classes), key=natural_key):
            reject(os.path.join(class_root, extra), f"not one of the classes {list(classes)}")
        if not classes:
            raise DatasetError(f"no class folders in {class_root} "
                               f"(expected <root>/<class>/<video> for dataset 'folder')")
        entries = self._index(class_root, split, list(classes), video_length, every_nth,
                              test_every, actor_of)
        layout = "train/<class>/<video>" if self.split_rule == "folders" else "<class>/<video>"
        super().__init__(entries, classes, actors, split, video_length, image_size, crop,
                         textroot=textroot, list_tag=video_length * every_nth,
                         empty_message=f"no usable videos for split '{split}' in {class_root} "
                                       f"(expected {root}/{layout}, split_rule '{self.split_rule}')")

    def _index(self, class_root, split, classes, video_length, every_nth, test_every, actor_of):
        """Probe every video of every class folder; returns a list of VideoEntry (bad ones warned)."""
        entries = []
        for label, cls in enumerate(classes):
            folder = os.path.join(class_root, cls)
            if not os.path.isdir(folder):
                continue
            names = sorted((n for n in os.listdir(folder) if not n.startswith(".")), key=natural_key)
            units = range(len(names)) if self.split_rule != "mirror_pairs" else \
                mirror_units([os.path.join(folder, n) for n in names], read_whole_video)
            for position, fname in enumerate(names):
                if split_part(self.split_rule, split, units[position], 0, test_every) is None:
                    continue  # held out by the 'videos' rule: decided before probing the file
                path = os.path.join(folder, fname)
                try:
                    kind, n, files = probe_video(path)
                except DatasetError as err:
                    reject(path, str(err))
                    continue
                start, end = split_part(self.split_rule, split, units[position], n, test_every)
                if end - start < video_length:
                    reject(path, f"{end - start} frames in split '{split}', "
                                 f"at least video_length={video_length} needed")
                    continue
                stem = os.path.splitext(fname)[0] if kind != "frames" else fname
                actor = actor_of(stem) if actor_of is not None else -1
                entries.append(VideoEntry(f"{cls}/{stem}", label, actor, path, start, end,
                                          every_nth, kind, files))
        return entries

    def read_clip(self, entry, indices):
        """Frames `indices` (absolute) of `entry`; returns uint8 RGB `[T, H, W, 3]`."""
        return read_media_clip(entry, indices)

    def crop_box(self, height, width, random):
        """Square window of `crop_fraction` of the shorter side, random (train) or centred; `(top, left, h, w)`."""
        side = clips.square_window(height, width, self.crop_fraction)
        return clips.window_box(height, width, side, side, random)
