"""Helpers for the dataset tests: tiny videos with known pixel values written to disk."""
import os

import cv2
import numpy as np

SHARED_WEIZMANN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "..", "shared", "datasets", "weizmann_mocogan", "actions")


class FixedRng:
    """Stand-in for numpy.random: `randint(lo, hi)` returns `pick(lo, hi)` and records the call."""

    def __init__(self, pick=lambda lo, hi: hi - 1):
        self.pick, self.calls = pick, []

    def randint(self, lo, hi):
        """Record `(lo, hi)` and return `pick(lo, hi)`."""
        self.calls.append((lo, hi))
        return self.pick(lo, hi)


def coded_video(n_frames, height=8, width=8, seed=None):
    """uint8 RGB `[T, H, W, 3]`: R = 3*t (frame), G = 2*row, B = 2*col (or random if `seed`)."""
    if seed is not None:
        return np.random.default_rng(seed).integers(0, 256, (n_frames, height, width, 3), dtype=np.uint8)
    t, r, c = np.meshgrid(np.arange(n_frames), np.arange(height), np.arange(width), indexing="ij")
    return np.stack([3 * t, 2 * r, 2 * c], axis=-1).astype(np.uint8)


def write_strip(path, video, vertical=False, alpha=False):
    """Write `video` [T,H,W,3] RGB as a PNG strip at `path` (any extension); returns path."""
    strip = np.concatenate(list(video), axis=0 if vertical else 1)
    bgr = cv2.cvtColor(strip, cv2.COLOR_RGB2BGRA if alpha else cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", bgr)
    assert ok
    os.makedirs(os.path.dirname(path), exist_ok=True)
    buf.tofile(path)
    return path


def write_frame_folder(folder, video, ext=".png"):
    """Write each frame of `video` as `<folder>/frame_<t><ext>` (PNG content); returns folder."""
    os.makedirs(folder, exist_ok=True)
    for t, frame in enumerate(video):
        ok, buf = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        assert ok
        buf.tofile(os.path.join(folder, f"frame_{t}{ext}"))
    return folder


def write_video_file(path, video, fourcc, fps=10):
    """Write `video` [T,H,W,3] RGB with cv2.VideoWriter; returns True when the file decodes back."""
    h, w = video.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        return False
    for frame in video:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    cap = cv2.VideoCapture(path)
    ok = cap.isOpened() and cap.read()[0]
    cap.release()
    return bool(ok)


def expected_pixels(frames):
    """Independent reference conversion: uint8 `[T,H,W,3]` -> float64 `[3,T,H,W]` as x/127.5 - 1."""
    return np.transpose(frames.astype(np.float64) / 127.5 - 1.0, (3, 0, 1, 2))


def write_npy(path, array, truncate=0):
    """Save `array` as .npy at `path`, dropping the last `truncate` bytes if asked; returns path."""
    np.save(path, array)
    if truncate:
        data = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(data[:-truncate])
    return path


def logged(caplog):
    """Messages of the records captured by `caplog`; returns a list of str."""
    return [r.getMessage() for r in caplog.records]
