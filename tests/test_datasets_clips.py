"""Clip sampling, crops and pixel conversion (DATA.md 'Clip sampling')."""
import numpy as np
import pytest
import torch

from datasets import DatasetError
from datasets import clips
from datasets_fixtures import FixedRng, expected_pixels


@pytest.mark.parametrize("n_frames,length,stride", [(25, 10, 2), (11, 10, 1), (100, 10, 3), (31, 5, 6)])
def test_strided_clip_start_range_and_indices(n_frames, length, stride):
    # more than length*stride frames: start uniform in [0, n - stride*(length-1))
    high = n_frames - stride * (length - 1)
    rng = FixedRng(lambda lo, hi: hi - 1)
    idx = clips.clip_indices(n_frames, length, stride, True, rng=rng)
    assert rng.calls == [(0, high)]
    assert idx == [high - 1 + stride * k for k in range(length)]
    assert idx[-1] <= n_frames - 1
    # testing starts at 0 and draws nothing
    rng = FixedRng()
    assert clips.clip_indices(n_frames, length, stride, False, rng=rng) == list(range(0, stride * length, stride))
    assert rng.calls == []


def test_global_rng_covers_exactly_the_start_range():
    np.random.seed(0)
    starts = {clips.clip_indices(25, 10, 2, True)[0] for _ in range(500)}
    assert starts == set(range(25 - 18))


@pytest.mark.parametrize("n_frames,length,stride", [(20, 10, 2), (10, 10, 1), (12, 10, 2), (30, 10, 3)])
def test_strict_rule_falls_back_to_consecutive_frames(n_frames, length, stride):
    # n <= length*stride (strict '>' rule) but n >= length: the first `length` frames
    rng = FixedRng()
    assert clips.clip_indices(n_frames, length, stride, True, rng=rng) == list(range(length))
    assert rng.calls == []


def test_too_short_video_is_an_error_naming_it():
    with pytest.raises(DatasetError, match="daria_bend.*9 frames"):
        clips.clip_indices(9, 10, 1, False, name="daria_bend")


def test_min_kept_length():
    assert clips.min_kept_length(10, 1) == 10
    assert clips.min_kept_length(10, 3) == 28


def test_random_offset_and_window_box():
    rng = FixedRng(lambda lo, hi: lo)
    assert clips.random_offset(5, True, 2, rng=rng) == 0 and rng.calls == [(0, 5)]
    assert clips.random_offset(5, False, 2, rng=rng) == 2
    np.random.seed(1)
    assert {clips.random_offset(7, True, 4) for _ in range(300)} == set(range(7))
    # window box: centred, and random positions cover every in-bounds position
    assert clips.window_box(20, 30, 10, 10, False) == (5, 10, 10, 10)
    assert clips.window_box(21, 30, 10, 10, False) == (5, 10, 10, 10)
    np.random.seed(2)
    tops = {clips.window_box(12, 12, 10, 10, True)[0] for _ in range(300)}
    assert tops == {0, 1, 2}
    assert clips.square_window(64, 80, 0.9) == 58


def test_crop_resize_and_tensor_conversion():
    frames = np.random.default_rng(0).integers(0, 256, (3, 10, 12, 3), dtype=np.uint8)
    cropped = clips.crop_frames(frames, (1, 2, 6, 7))
    assert np.array_equal(cropped, frames[:, 1:7, 2:9])
    with pytest.raises(DatasetError):
        clips.crop_frames(frames, (5, 0, 6, 6))
    resized = clips.resize_frames(cropped, 4)
    assert resized.shape == (3, 4, 4, 3)
    import cv2
    assert np.array_equal(resized[1], cv2.resize(cropped[1], (4, 4), interpolation=cv2.INTER_LINEAR))
    tensor = clips.to_clip_tensor(frames)
    assert tensor.dtype == torch.float32 and tuple(tensor.shape) == (3, 3, 10, 12)
    assert np.allclose(tensor.numpy(), expected_pixels(frames), atol=1e-6)
    extremes = clips.to_clip_tensor(np.array([0, 255], np.uint8).reshape(1, 1, 2, 1))
    assert extremes.flatten().tolist() == [-1.0, 1.0]
