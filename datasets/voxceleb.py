"""VoxCeleb as common preprocessing tools leave it: `<root>/{train,test}/<video>`, a video = frame folder or video file.

The authors released no VoxCeleb loader, so this layout is our choice
(DATA.md).  The identity of a video is the part of its name before the first
'#' or '_' (the whole name when there is neither); identities are the sorted
union over train and test, so ids agree between splits.  By default training
is unconditional: one class 'video' (label 0) and the identity as the actor;
with `identity_labels=True` the identities are the classes (label = actor).
Crop: as the folder loader, a square of `crop_fraction` (default 1.0) of the
shorter side, random for training with crop=True (NumPy global RNG), else
centred; then bilinear resize.  Videos shorter than `video_length` frames are
rejected with a warning.  The index is cached (see `datasets.index_cache`).
"""
import os
import re

from . import clips
from .base import ClipDataset, VideoEntry, check_common
from .errors import DatasetError
from .folder import probe_video, read_media_clip
from .index_cache import CACHE_FOLDER, cached_index
from .media import natural_key

UNCONDITIONAL_CLASS = "video"
VERSION = 1


def identity_of(name):
    """Identity part of a video name: before the first '#' or '_'; returns a str."""
    return re.split(r"[#_]", name, maxsplit=1)[0] or name


def video_names(folder):
    """Non-hidden entries of a split folder in natural order; returns a list of names ([] if missing)."""
    if not os.path.isdir(folder):
        return []
    return sorted((n for n in os.listdir(folder) if not n.startswith(".")), key=natural_key)


class VoxCelebDataset(ClipDataset):
    """VoxCeleb clips; unconditional ('video') unless `identity_labels`."""

    def __init__(self, dataroot, split, video_length=10, every_nth=1, image_size=64, crop=True,
                 textroot=None, identity_labels=False, crop_fraction=1.0, cache=True, cache_dir=None):
        root = check_common(dataroot, split, video_length, every_nth, image_size)
        if not 0.0 < float(crop_fraction) <= 1.0:
            raise DatasetError(f"crop_fraction must be in (0, 1], got {crop_fraction!r}")
        folder = os.path.join(root, split)
        if not os.path.isdir(folder):
            raise DatasetError(f"{folder} does not exist (expected VoxCeleb as <root>/train/<video> "
                               f"and <root>/test/<video>, a video = frame folder or .mp4)")
        names = video_names(folder)
        if not names:
            raise DatasetError(f"no videos in {folder} (expected frame folders or .mp4 files)")
        self.crop_fraction = float(crop_fraction)
        identities = sorted({identity_of(os.path.splitext(n)[0]) for s in ("train", "test")
                             for n in video_names(os.path.join(root, s))}, key=natural_key)
        self.identity_labels = bool(identity_labels)
        key = {"dataset": "VoxCeleb", "version": VERSION, "root": folder, "split": split, "video_length": video_length,
               "every_nth": every_nth, "identity_labels": self.identity_labels, "identities": identities}

        def build():
            entries, rejected = [], []
            for name in names:
                path = os.path.join(folder, name)
                try:
                    kind, n_frames, files = probe_video(path)
                    if n_frames < video_length:
                        raise DatasetError(f"{n_frames} frames, at least video_length={video_length} needed")
                except DatasetError as err:
                    rejected.append((path, str(err)))
                    continue
                stem = name if kind == "frames" else os.path.splitext(name)[0]
                actor = identities.index(identity_of(stem))
                label = actor if self.identity_labels else 0
                entries.append(VideoEntry(stem, label, actor, path, 0, n_frames, every_nth, kind, files))
            return entries, rejected

        entries = cached_index(folder, names, key, build, cache,
                               cache_dir or os.path.join(root, CACHE_FOLDER))
        classes = identities if self.identity_labels else [UNCONDITIONAL_CLASS]
        super().__init__(entries, classes, identities, split, video_length, image_size, crop,
                         textroot=textroot, list_tag=video_length * every_nth,
                         empty_message=f"no usable videos in {folder} (see the warnings above)")

    def read_clip(self, entry, indices):
        """Frames `indices` (absolute) of `entry`; returns uint8 RGB `[T, H, W, 3]`."""
        return read_media_clip(entry, indices)

    def crop_box(self, height, width, random):
        """Square window of `crop_fraction` of the shorter side, random (train) or centred; `(top, left, h, w)`."""
        side = clips.square_window(height, width, self.crop_fraction)
        return clips.window_box(height, width, side, side, random)
