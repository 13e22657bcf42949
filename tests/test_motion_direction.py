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
