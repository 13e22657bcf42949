"""uint8 conversion, grids, strips and image files of utils.core.visualize."""
import numpy as np
import pytest
import torch
from PIL import Image

from utils.core.visualize import (class_grid, frames_to_strip, grid_for_tensorboard, save_gif, save_png,
                             to_uint8_video, video_grid)


def _marker(i, k, h, w):
    """Row and column of the white pixel of video i, frame k (never in row 0)."""
    return 1 + (i + k) % (h - 1), (2 * i + k) % w


def _expected_frame(frame_chw):
    """Independent uint8 HWC version of one [-1, 1] frame [C, H, W]."""
    return np.clip(np.round((frame_chw + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def _marked_videos(n, c=3, t=4, h=6, w=5):
    """Videos at -1 with one white pixel per (video, frame) and a mid-red top-right corner."""
    videos = -np.ones((n, c, t, h, w), dtype=np.float32)
    for i in range(n):
        for k in range(t):
            videos[i, :, k][(slice(None),) + _marker(i, k, h, w)] = 1.0
            videos[i, 0, k, 0, w - 1] = 0.0  # red channel mid grey at a fixed corner
    return videos


def test_to_uint8_values_and_layout():
    video = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 3.0, -7.0, 0.999]).reshape(2, 1, 2, 2)  # C T H W
    out = to_uint8_video(video)
    assert out.dtype == np.uint8 and out.shape == (1, 2, 2, 2)  # [T, H, W, C]
    expected = np.clip(np.round((video.numpy() + 1) * 127.5), 0, 255).astype(np.uint8)
    assert np.array_equal(out, np.transpose(expected, (1, 2, 3, 0)))
    assert out[0, 0, 0, 0] == 0 and out[0, 0, 0, 1] == 255  # channel 0 then channel 1
    assert out[0, 0, 1, 1] == 255 and out[0, 1, 0, 1] == 0  # 3.0 and -7.0 clipped
    batch = to_uint8_video(np.zeros((3, 3, 5, 4, 4)))
    assert batch.shape == (3, 5, 4, 4, 3)
    with pytest.raises(ValueError):
        to_uint8_video(np.zeros((4, 4, 3)))


def test_to_uint8_accepts_tensor_with_grad():
    video = torch.zeros(3, 2, 4, 4, requires_grad=True)
    assert to_uint8_video(video).shape == (2, 4, 4, 3)


def test_video_grid_places_each_video():
    n, t, h, w, nrow = 5, 4, 6, 5, 2
    videos = _marked_videos(n, t=t, h=h, w=w)
    grid = video_grid(torch.from_numpy(videos), nrow=nrow)
    assert grid.dtype == np.uint8
    assert grid.shape == (t, 3 * (h + 2) + 2, nrow * (w + 2) + 2, 3)
    for i in range(n):
        y0, x0 = 2 + (i // nrow) * (h + 2), 2 + (i % nrow) * (w + 2)
        for k in range(t):
            cell = grid[k, y0:y0 + h, x0:x0 + w]
            assert tuple(cell[_marker(i, k, h, w)]) == (255, 255, 255)
            assert tuple(cell[0, w - 1]) == (128, 0, 0)
            assert np.array_equal(cell, _expected_frame(videos[i, :, k]))
    assert grid[:, :2].max() == 0 and grid[:, :, :2].max() == 0  # padding is black
    empty_slot = grid[:, 2 + 2 * (h + 2):, 2 + (w + 2):]  # sixth slot of a 3x2 grid
    assert empty_slot.max() == 0


def test_video_grid_grey_videos_become_rgb():
    grey = np.ones((2, 1, 3, 4, 4))
    grid = video_grid(grey, nrow=2)
    assert grid.shape == (3, 8, 14, 3) and grid[0, 2, 2].tolist() == [255, 255, 255]


def test_class_grid_one_row_per_class():
    h, w = 6, 5
    per_class = [_marked_videos(3, h=h, w=w), _marked_videos(1, h=h, w=w), _marked_videos(2, h=h, w=w)]
    grid = class_grid([torch.from_numpy(v) for v in per_class])
    assert grid.shape == (4, 3 * (h + 2) + 2, 3 * (w + 2) + 2, 3)
    for row, videos in enumerate(per_class):
        for col in range(3):
            y0, x0 = 2 + row * (h + 2), 2 + col * (w + 2)
            cell = grid[:, y0:y0 + h, x0:x0 + w]
            if col < len(videos):
                for k in range(4):
                    assert np.array_equal(cell[k], _expected_frame(videos[col, :, k]))
            else:
                assert cell.max() == 0


def test_frames_to_strip_and_tensorboard_grid():
    videos = _marked_videos(3, t=4, h=6, w=5)
    frames = to_uint8_video(videos[1])
    strip = frames_to_strip(frames)
    assert strip.shape == (6, 20, 3)
    for k in range(4):
        assert np.array_equal(strip[:, 5 * k:5 * k + 5], frames[k])
    board = grid_for_tensorboard(torch.from_numpy(videos))
    assert board.dtype == np.float32 and board.shape == (3, 3 * 6, 4 * 5)
    assert board.min() >= 0.0 and board.max() <= 1.0
    i, k = 2, 3
    y, x = _marker(i, k, 6, 5)
    assert board[:, 6 * i + y, 5 * k + x].tolist() == [1.0, 1.0, 1.0]
    assert board[0, 6 * i, 5 * k + 4] == pytest.approx(128 / 255)


def test_save_gif_readable_with_all_frames(tmp_path):
    t = 6
    frames = np.zeros((t, 16, 16, 3), dtype=np.uint8)
    for k in range(t):
        frames[k, :, : 2 * (k + 1)] = (255, 0, 0)  # a red bar growing frame by frame
    path = tmp_path / "sub" / "clip.gif"
    save_gif(frames, str(path), fps=8)
    with Image.open(path) as gif:
        assert gif.n_frames == t and gif.size == (16, 16)
        # GIF stores delays in 1/100 s: 1000/8 = 125 ms is written as 120 or 130 ms
        assert gif.info.get("loop") == 0 and abs(gif.info.get("duration") - 125) <= 10
        for k in range(t):
            gif.seek(k)
            rgb = np.asarray(gif.convert("RGB"))
            assert np.array_equal(rgb, frames[k])


def test_save_png_round_trip(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    path = tmp_path / "a" / "img.png"
    save_png(image, str(path))
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), image)
    with pytest.raises(ValueError):
        save_png(image.astype(np.float32), str(path))
