"""Which way does the object in a video move? A direct measurement, no network involved.

For the synthetic data (one object translating over a static background) the object is what differs
from the video's per-pixel temporal median; the centre of mass of that difference, frame by frame,
is its track. The mean step of the track is the motion in px per frame: shortened (the median keeps
what the object covers in most frames, by 0.6–0.7 on the synthetic data), never turned. Used by the learning
check's verdict (`utils.tools.learning_goals`), the learning probe (`utils.tools.learning_probe`) and by
`python -m utils.evaluation.motion_direction <results folder>` on the `.npy` files that `eval.py` writes.
"""
import argparse
import glob
import os
import sys

import numpy as np

# The synthetic classes' directions in image coordinates (x right, y down); datasets.synthetic.CLASSES.
DIRECTIONS = {"right": (1.0, 0.0), "left": (-1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}


def object_tracks(videos, threshold=0.2):
    """Centre of mass of the moving object per frame.

    videos: `[N, C, T, H, W]` in [-1, 1] (array or tensor). A pixel belongs to the object where its
    channel-summed absolute difference from the video's temporal median exceeds `threshold` times
    the largest such difference of that video. Returns `[N, T, 2]` (x, y) in pixels, NaN for a frame
    with no such pixel (e.g. a constant video)."""
    v = np.asarray(videos, dtype=np.float64)
    diff = np.abs(v - np.median(v, axis=2, keepdims=True)).sum(axis=1)            # [N, T, H, W]
    peak = diff.reshape(diff.shape[0], -1).max(axis=1)[:, None, None, None]
    weight = np.where((diff > threshold * peak) & (peak > 1e-6), diff, 0.0)
    total = weight.sum(axis=(2, 3))
    h, w = v.shape[-2:]
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (weight.sum(axis=2) * xs).sum(axis=2) / total
        y = (weight.sum(axis=3) * ys).sum(axis=2) / total
    return np.stack([x, y], axis=-1)


def object_pixels(frames, threshold=0.3):
    """Object mask of single frames over the synthetic vertical-gradient backgrounds: True where a
    pixel's channel-summed absolute difference from its row's median colour exceeds `threshold`
    ([-1, 1] units). frames `[N, C, H, W]` (array or tensor) -> bool array `[N, H, W]`."""
    f = np.asarray(frames, dtype=np.float64)
    return np.abs(f - np.median(f, axis=3, keepdims=True)).sum(axis=1) > threshold


def frame_centres(frames, threshold=0.3):
    """Centre of the object's pixels in single frames over the synthetic data's vertical-gradient
    backgrounds (no video, so no temporal median; the pixels of `object_pixels`). frames
    `[N, C, H, W]` in [-1, 1] (array or tensor); returns `[N, 2]` (x, y) in pixels, NaN where no
    pixel qualifies."""
    f = np.asarray(frames, dtype=np.float64)
    inside = object_pixels(f, threshold).astype(np.float64)
    total = inside.sum(axis=(1, 2))
    h, w = f.shape[-2:]
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (inside.sum(axis=1) * np.arange(w)).sum(axis=1) / total
        y = (inside.sum(axis=2) * np.arange(h)).sum(axis=1) / total
    return np.stack([x, y], axis=-1)


def mean_steps(videos, threshold=0.2):
    """Mean displacement per frame of each video's object, `[N, 2]` (dx, dy) in px (NaN when untracked)."""
    tracks = object_tracks(videos, threshold)
    steps = np.diff(tracks, axis=1)
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.where(np.isfinite(steps), steps, np.nan), axis=1) if steps.shape[1] else \
            np.full((tracks.shape[0], 2), np.nan)


def predicted_directions(steps, classes, min_speed=0.5):
    """Class index whose direction best matches each mean step (dot product), -1 when the object
    moves less than `min_speed` px per frame or is untracked. steps `[N, 2]`; returns int `[N]`."""
    unit = np.array([DIRECTIONS[c] for c in classes])                                  # [K, 2]
    steps = np.nan_to_num(np.asarray(steps, dtype=np.float64), nan=0.0)
    best = (steps @ unit.T).argmax(axis=1)
    return np.where(np.linalg.norm(steps, axis=1) >= min_speed, best, -1)


def direction_accuracy(videos, labels, classes, min_speed=0.5):
    """Fraction of videos whose object moves in its label's direction (at least `min_speed` px/frame).

    videos `[N, C, T, H, W]`, labels `[N]` indices into `classes`; returns (accuracy, steps `[N, 2]`)."""
    steps = mean_steps(videos)
    predicted = predicted_directions(steps, classes, min_speed)
    return float(np.mean(predicted == np.asarray(labels))), steps


def folder_direction_accuracy(folder, min_speed=0.5):
    """Direction accuracy of the per-class `<class>.npy` videos of an eval.py protocol folder.

    Returns a list of `(class name, accuracy, mean steps [N, 2], number of videos)`, one per file
    named after a synthetic class (empty when there is none)."""
    files = sorted(glob.glob(os.path.join(folder, "*.npy")))
    known = [(f, os.path.splitext(os.path.basename(f))[0]) for f in files]
    known = [(f, n) for f, n in known if n in DIRECTIONS]
    classes = [n for _, n in known]
    results = []
    for index, (path, name) in enumerate(known):
        videos = np.load(path, mmap_mode="r")
        if videos.ndim == 5 and videos.shape[-1] in (1, 3) and videos.shape[1] not in (1, 3):
            videos = np.moveaxis(videos, -1, 1)           # [N, T, H, W, C] -> [N, C, T, H, W]
        accuracy, steps = direction_accuracy(videos, [index] * len(videos), classes, min_speed)
        results.append((name, accuracy, steps, len(videos)))
    return results


def main(argv=None):
    """Print the direction accuracy of the per-class `.npy` videos in an eval.py protocol folder."""
    parser = argparse.ArgumentParser(prog="python -m utils.evaluation.motion_direction", description=main.__doc__)
    parser.add_argument("folder", help="an eval.py protocol folder (e.g. <results>/iter_N/unconditional)")
    parser.add_argument("--min_speed", type=float, default=0.5, help="px per frame below which a video 'does not move'")
    args = parser.parse_args(argv)
    results = folder_direction_accuracy(args.folder, args.min_speed)
    if not results:
        print(f"error: no <class>.npy files of the synthetic classes ({', '.join(DIRECTIONS)}) in {args.folder}",
              file=sys.stderr)
        return 2
    total, right = 0, 0
    for name, accuracy, steps, count in results:
        print(f"{name}: {accuracy * 100:.1f} % move {name} (mean step {np.nanmean(steps[:, 0]):+.2f}, "
              f"{np.nanmean(steps[:, 1]):+.2f} px/frame, {count} videos)")
        total += count
        right += round(accuracy * count)
    print(f"all: {100 * right / total:.1f} % of {total} videos move in their class's direction")
    return 0


if __name__ == "__main__":
    sys.exit(main())
