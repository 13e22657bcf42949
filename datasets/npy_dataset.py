"""Shared base of the authors' `.npy` layouts (Weizmann, MUG, SynAction): listing, cached indexing, reading.

A subclass sets `DATASET`, `LAYOUT` ('HWCT' or 'THWC'), `PATTERN` (for
messages), `VERSION` (bump when its index rules change), and implements
`index_file(name, stem)` returning the VideoEntry list of one file for the
split (empty when the file belongs to the other split) or raising
DatasetError with the reason the file is unusable, plus `crop_box`.
"""
import os

from .base import ClipDataset, check_common
from .errors import DatasetError
from .index_cache import cached_index
from .npy_files import list_npy, read_npy_frames


class NpyDataset(ClipDataset):
    """Clips from a folder of one-video-per-`.npy` files; see the module docstring for the subclass contract."""

    DATASET, LAYOUT, PATTERN, VERSION = "npy", "THWC", "<name>.npy", 1

    def __init__(self, dataroot, split, video_length, every_nth, image_size, crop, textroot,
                 list_tag, options, classes, actors, cache=True, cache_dir=None):
        root = check_common(dataroot, split, video_length, every_nth, image_size)
        self.root, self.split, self.video_length, self.every_nth = root, split, video_length, every_nth
        names = list_npy(root)
        if not names:
            raise DatasetError(f"no {self.PATTERN} files in {root} "
                               f"(expected the authors' {self.DATASET} layout)")
        key = {"dataset": self.DATASET, "version": self.VERSION, "root": root, "split": split,
               "video_length": video_length, "every_nth": every_nth, **options}
        entries = cached_index(root, names, key, lambda: self._build(names), cache, cache_dir)
        super().__init__(entries, classes, actors, split, video_length, image_size, crop,
                         textroot=textroot, list_tag=list_tag,
                         empty_message=f"no usable {self.DATASET} videos for split '{split}' in {root} "
                                       f"({len(names)} .npy files, see the warnings above)")

    def _build(self, names):
        """Index every file; returns `(entries, rejected)` with rejected `(path, reason)` pairs."""
        entries, rejected = [], []
        for name in names:
            try:
                entries.extend(self.index_file(name, name[:-len(".npy")]))
            except DatasetError as err:
                rejected.append((os.path.join(self.root, name), str(err)))
        return entries, rejected

    def index_file(self, name, stem):
        """VideoEntry list of file `name` for this split; raises DatasetError when unusable."""
        raise NotImplementedError

    def read_clip(self, entry, indices):
        """Frames `indices` (absolute) of `entry`'s array; returns uint8 RGB `[T, H, W, 3]`."""
        return read_npy_frames(entry.source, self.LAYOUT, indices)
