"""Turning videos in [-1, 1] into uint8 frames, grids, strips, GIF and PNG files."""
import math
import os

import numpy as np
from PIL import Image

GRID_PADDING = 2


def _as_numpy(array) -> np.ndarray:
    """Return a tensor (any device, with or without grad) or array-like as a NumPy array."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def to_uint8_video(video) -> np.ndarray:
    """Take a video `[C, T, H, W]` or a batch `[N, C, T, H, W]` (tensor or array) in [-1, 1];
    return uint8 channels-last `[T, H, W, C]` / `[N, T, H, W, C]` (-1 -> 0, 1 -> 255, clipped)."""
    video = _as_numpy(video).astype(np.float64)
    if video.ndim not in (4, 5):
        raise ValueError(f"expected [C, T, H, W] or [N, C, T, H, W], got shape {video.shape}")
    pixels = np.clip(np.round((np.nan_to_num(video, nan=-1.0) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return np.moveaxis(pixels, -4, -1)


def _rgb_frames(videos) -> np.ndarray:
    """Return `[N, T, H, W, 3]` uint8 from `[N, C, T, H, W]` in [-1, 1] (C = 1 repeated to 3)."""
    frames = to_uint8_video(videos)
    if frames.ndim != 5:
        raise ValueError(f"expected a batch [N, C, T, H, W], got shape {_as_numpy(videos).shape}")
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    if frames.shape[-1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {frames.shape[-1]}")
    return frames


def _tile(cells, rows: int, cols: int, pad: int) -> np.ndarray:
    """Place `cells[r][c]` (`[T, H, W, 3]` uint8 or None) on a black canvas `[T, Hg, Wg, 3]`."""
    sample = next(cell for row in cells for cell in row if cell is not None)
    t, h, w, _ = sample.shape
    canvas = np.zeros((t, rows * (h + pad) + pad, cols * (w + pad) + pad, 3), dtype=np.uint8)
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            if cell is not None:
                y, x = pad + r * (h + pad), pad + c * (w + pad)
                canvas[:, y:y + h, x:x + w] = cell
    return canvas


def video_grid(videos, nrow: int) -> np.ndarray:
    """Take videos `[N, C, T, H, W]` in [-1, 1] and the number of videos per row; return the
    animated grid uint8 `[T, Hg, Wg, 3]` with 2-px black padding around and between videos
    (Hg = rows·(H+2)+2, Wg = nrow·(W+2)+2, rows = ceil(N / nrow))."""
    frames = _rgb_frames(videos)
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    rows = math.ceil(len(frames) / nrow)
    cells = [[frames[r * nrow + c] if r * nrow + c < len(frames) else None for c in range(nrow)]
             for r in range(rows)]
    return _tile(cells, rows, nrow, GRID_PADDING)


def class_grid(videos_by_class) -> np.ndarray:
    """Take a list of per-class videos `[n_i, C, T, H, W]` in [-1, 1]; return uint8
    `[T, Hg, Wg, 3]` with one row per class (max n_i columns, empty slots black, 2-px padding)."""
    per_class = [_rgb_frames(videos) for videos in videos_by_class]
    if not per_class or all(len(v) == 0 for v in per_class):
        raise ValueError("class_grid needs at least one video")
    cols = max(len(v) for v in per_class)
    cells = [[v[c] if c < len(v) else None for c in range(cols)] for v in per_class]
    return _tile(cells, len(per_class), cols, GRID_PADDING)


def frames_to_strip(frames) -> np.ndarray:
    """Take frames `[T, H, W, 3]`; return them side by side, `[H, T·W, 3]` (same dtype)."""
    frames = _as_numpy(frames)
    if frames.ndim != 4:
        raise ValueError(f"expected frames [T, H, W, C], got shape {frames.shape}")
    return np.concatenate(list(frames), axis=1)


def grid_for_tensorboard(videos) -> np.ndarray:
    """Take videos `[N, C, T, H, W]` in [-1, 1]; return float32 `[3, N·H, T·W]` in [0, 1] with one
    video per row and its frames along the columns (no padding), for tensorboardX `add_image`."""
    frames = _rgb_frames(videos)  # [N, T, H, W, 3]
    rows = [frames_to_strip(video) for video in frames]
    image = np.concatenate(rows, axis=0).astype(np.float32) / 255.0
    return np.ascontiguousarray(np.moveaxis(image, -1, 0))


def _ensure_parent(path: str) -> None:
    """Create the directory that will hold `path` if it does not exist."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)


def save_gif(frames, path: str, fps: int = 8) -> None:
    """Write frames uint8 `[T, H, W, 3]` (or `[T, H, W]` grey) as an endlessly looping GIF.

    Pillow drops a frame identical to the one before it (adding its duration),
    so a still video gives fewer GIF frames but the same playing time.
    """
    frames = _as_numpy(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4):
        raise ValueError(f"expected uint8 frames [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if frames.ndim == 4 and frames.shape[-1] == 1:
        frames = frames[..., 0]
    images = [Image.fromarray(frame) for frame in frames]
    _ensure_parent(path)
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(1, round(1000 / fps)), loop=0)


def save_png(image, path: str) -> None:
    """Write an image uint8 `[H, W, 3]` (or `[H, W]` grey) as a PNG file."""
    image = _as_numpy(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 image [H, W, 3], got {image.dtype} {image.shape}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    _ensure_parent(path)
    Image.fromarray(image).save(path, format="PNG")
