"""The direct motion measurement (utils.evaluation.motion_direction) on videos whose motion is known."""
import numpy as np
import pytest

from datasets import synthetic
from utils.evaluation import motion_direction as md


def _videos(design, classes=range(4), seeds=range(3)):
    videos, labels = [], []
    for c in classes:
        for seed in seeds:
            v = synthetic.render_video(c, seed % 6, np.random.default_rng([seed, c]), n_frames=10, design=design)
            videos.append(np.moveaxis(v.astype(np.float64) / 127.5 - 1, -1, 0))    # [C, T, H, W]
            labels.append(c)
    return np.stack(videos), np.array(labels)


@pytest.mark.parametrize("design", sorted(synthetic.DESIGNS))
def test_steps_and_accuracy_of_real_videos(design):
    videos, labels = _videos(design)
    accuracy, steps = md.direction_accuracy(videos, labels, synthetic.CLASSES)
    assert accuracy == 1.0
    speed = synthetic.DESIGNS[design]["speed"]
    for step, label in zip(steps, labels):
        unit = np.array(md.DIRECTIONS[synthetic.CLASSES[label]])
        along, across = step @ unit, abs(step @ unit[::-1])
        # the median keeps what the object covers in most frames: the track is shortened, not turned
        assert 0.5 * speed <= along <= 1.05 * speed and across < 0.1, (step, unit, speed)


def test_wrong_labels_static_and_constant_videos_do_not_count():
    videos, labels = _videos("plain", classes=[0, 2])
    swapped = np.where(labels == 0, 1, 3)            # right <-> left, up <-> down
    assert md.direction_accuracy(videos, swapped, synthetic.CLASSES)[0] == 0.0
    frozen = np.repeat(videos[:, :, :1], videos.shape[2], axis=2)   # first frame held: no motion
    assert md.direction_accuracy(frozen, labels, synthetic.CLASSES)[0] == 0.0
    flat = np.zeros_like(videos)
    accuracy, steps = md.direction_accuracy(flat, labels, synthetic.CLASSES)
    assert accuracy == 0.0 and np.isnan(steps).all()
    assert list(md.predicted_directions(np.array([[0.2, 0.1], [-3.0, 0.5], [0.4, 2.0]]), synthetic.CLASSES)) \
        == [-1, 1, 3]


def test_command_on_eval_outputs(tmp_path, capsys):
    videos, labels = _videos("plain", seeds=range(2))
    for c, name in enumerate(synthetic.CLASSES):       # eval.py's layout: uint8 [n, T, H, W, C]
        per_class = videos[labels == c]
        np.save(tmp_path / f"{name}.npy", np.rint((np.moveaxis(per_class, 1, -1) + 1) * 127.5).astype(np.uint8))
    assert md.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "all: 100.0 % of 8 videos move in their class's direction" in out
    assert md.main([str(tmp_path / "none")]) == 2
    assert "no <class>.npy files" in capsys.readouterr().err


def test_frame_centres_find_the_object_over_a_gradient_background():
    rng = np.random.default_rng(0)
    rows = np.linspace(-0.8, 0.6, 64)[None, None, :, None]                      # vertical gradient
    frames = np.broadcast_to(rows, (3, 3, 64, 64)).copy()
    frames += rng.normal(0, 0.02, frames.shape)                                  # below the threshold
    frames[0, :, 10:34, 5:29] = 0.9                                              # 24 px square
    frames[1, 0, 40:50, 30:60] = -1.0                                            # one channel only
    centres = md.frame_centres(frames)
    assert np.allclose(centres[0], [16.5, 21.5]) and np.allclose(centres[1], [44.5, 44.5])
    assert np.isnan(centres[2]).all()                                            # background only
    for c, (dx, dy) in enumerate([(2, 0), (-2, 0), (0, -2), (0, 2)]):                # right, left, up, down
        v = synthetic.render_video(c, c, np.random.default_rng(c), design="edge").astype(np.float64) / 127.5 - 1
        track = md.frame_centres(np.moveaxis(v, -1, 1))                            # the video's 10 frames
        assert np.allclose(np.diff(track, axis=0), [dx, dy], atol=0.25), track   # 2 px per frame its way
        start = track[0] - 31.5
        assert (start[0] * dx < -8) if dx else (start[1] * dy < -8), track[0]    # on its start half
