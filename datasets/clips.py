"""Clip sampling, cropping, resizing and tensor conversion shared by every loader (DATA.md).

These are pure functions of their arguments.  Randomness comes from the `rng`
argument, which defaults to NumPy's global RNG (`numpy.random`): loaders call
them with the default, so `np.random.seed` (or PyTorch DataLoader worker
seeding, which reseeds NumPy per worker) controls clip starts and crop offsets.
`rng` only needs a `randint(low, high)` method returning an int in [low, high).
"""
import cv2
import numpy as np
import torch

from .errors import DatasetError


def clip_indices(n_frames, video_length, stride, random_start, name="video", rng=None):
    """Frame indices of one clip from a video of `n_frames` frames; returns a list of `video_length` ints.

    If `n_frames > video_length * stride` the clip is `start, start+stride, ...` with
    `start` uniform in `[0, n_frames - stride*(video_length-1))` when `random_start`
    (training), else 0; otherwise, when `n_frames >= video_length`, the first
    `video_length` consecutive frames; otherwise DatasetError naming `name`.
    """
    if n_frames > video_length * stride:
        start = 0
        if random_start:
            rng = np.random if rng is None else rng
            start = int(rng.randint(0, n_frames - stride * (video_length - 1)))
        return [start + stride * k for k in range(video_length)]
    if n_frames >= video_length:
        return list(range(video_length))
    raise DatasetError(f"video {name} has {n_frames} frames, at least {video_length} are needed "
                       f"for a clip of video_length={video_length}")


def min_kept_length(video_length, stride):
    """Span `m = (video_length-1)*stride + 1` in frames of one strided clip; returns an int."""
    return (video_length - 1) * stride + 1


def random_offset(high, random, fixed, rng=None):
    """One crop offset: uniform in `[0, high)` when `random`, else `fixed`; returns an int."""
    if random and high > 0:
        rng = np.random if rng is None else rng
        return int(rng.randint(0, high))
    return int(fixed)


def centred_offset(size, window):
    """Offset that centres a `window`-long crop in a `size`-long axis: `(size - window) // 2`; returns an int."""
    return (size - window) // 2


def square_window(height, width, fraction=1.0):
    """Side of a square crop covering `fraction` of the shorter side (at least 1 px); returns an int."""
    return max(1, int(round(fraction * min(height, width))))


def window_box(height, width, win_h, win_w, random, rng=None):
    """A `win_h x win_w` crop box in an `height x width` frame, random position or centred.

    Returns `(top, left, win_h, win_w)`; the random position is uniform over all
    positions that keep the window inside the frame.
    """
    if random:
        rng = np.random if rng is None else rng
        top = int(rng.randint(0, height - win_h + 1))
        left = int(rng.randint(0, width - win_w + 1))
    else:
        top, left = centred_offset(height, win_h), centred_offset(width, win_w)
    return top, left, win_h, win_w


def crop_frames(frames, box):
    """Crop `frames` uint8 `[T, H, W, C]` to `box = (top, left, h, w)`; returns `[T, h, w, C]`."""
    top, left, h, w = box
    if top < 0 or left < 0 or top + h > frames.shape[1] or left + w > frames.shape[2]:
        raise DatasetError(f"crop box {box} does not fit frames of size "
                           f"{frames.shape[1]}x{frames.shape[2]}")
    return frames[:, top:top + h, left:left + w]


def resize_frames(frames, size):
    """Resize `frames` uint8 `[T, H, W, C]` to `[T, size, size, C]` with OpenCV bilinear interpolation."""
    if frames.shape[1] == size and frames.shape[2] == size:
        return np.ascontiguousarray(frames)
    out = [cv2.resize(np.ascontiguousarray(f), (size, size), interpolation=cv2.INTER_LINEAR)
           for f in frames]
    return np.stack([o if o.ndim == 3 else o[:, :, None] for o in out])


def to_clip_tensor(frames):
    """Convert uint8 RGB `frames` `[T, H, W, C]` to a float32 tensor `[C, T, H, W]` in [-1, 1] (x/127.5 - 1)."""
    arr = np.asarray(frames, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(3, 0, 1, 2)))

