"""Finding mirrored copies among the videos of one class, for the folder loader's 'mirror_pairs' split.

Some published collections (MoCoGAN's Weizmann strips) hold every video twice:
as recorded and flipped left-right. A split that puts a video and its mirror
on different sides tests on training data. Here videos are compared by
content: two videos of the same length and frame size are mirrors when the
mean absolute difference between one and the other flipped horizontally is
at most `tolerance` grey levels. Mirrors (and chains of them) form one unit;
units are numbered in the order of their first video.
"""
import numpy as np

from .errors import DatasetError

MIRROR_TOLERANCE = 2.0  # grey levels (0..255); lossless copies differ by 0, other videos by 10 or more


def is_mirror(video_a, video_b, tolerance=MIRROR_TOLERANCE):
    """Take two uint8 videos `[T, H, W, C]`; return True when `video_b` is `video_a` flipped left-right
    (same shape, mean absolute difference at most `tolerance`)."""
    if video_a.shape != video_b.shape:
        return False
    flipped = video_b[:, :, ::-1].astype(np.int16)
    return float(np.abs(video_a.astype(np.int16) - flipped).mean()) <= tolerance


def mirror_units(paths, read_video, tolerance=MIRROR_TOLERANCE):
    """Group the videos at `paths` (one class, in order) into mirror units.

    `read_video(path)` returns uint8 `[T, H, W, C]` or raises DatasetError (such a
    video is its own unit). Returns a list of ints, one per path: the unit of
    each video, units numbered 0, 1, ... in the order of their first member.
    """
    videos = []
    for path in paths:
        try:
            videos.append(read_video(path))
        except DatasetError:
            videos.append(None)
    parent = list(range(len(paths)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, video_i in enumerate(videos):
        for j in range(i + 1, len(videos)):
            if video_i is not None and videos[j] is not None and is_mirror(video_i, videos[j], tolerance):
                parent[root(j)] = root(i)
    numbering = {}
    return [numbering.setdefault(root(i), len(numbering)) for i in range(len(paths))]
