"""The synthetic demo dataset: determinism per seed, unambiguous motion, read-back through the registry."""
import json
import os

import cv2
import numpy as np
import pytest

from datasets import build_dataset, dataset_classes
from datasets import synthetic


def decoded(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(".png"):
                out[os.path.relpath(os.path.join(dirpath, f), root)] = cv2.imread(os.path.join(dirpath, f))
    return out


def test_generation_is_deterministic_per_seed(tmp_path):
    a = synthetic.generate(str(tmp_path / "a"), seed=7, videos_per_class=5)
    synthetic.generate(str(tmp_path / "b"), seed=7, videos_per_class=5)
    synthetic.generate(str(tmp_path / "c"), seed=8, videos_per_class=5)
    da, db, dc = (decoded(str(tmp_path / k)) for k in "abc")
    assert (a["train"], a["test"]) == (16, 4) and len(da) == 20
    assert da.keys() == db.keys() == dc.keys()
    assert all(np.array_equal(da[k], db[k]) for k in da)
    assert not all(np.array_equal(da[k], dc[k]) for k in da)
    strip = next(iter(da.values()))
    assert strip.shape == (64, 64 * synthetic.FRAMES, 3)
    meta = json.loads((tmp_path / "a" / "synthetic.json").read_text())
    assert meta["classes"] == dataset_classes("synthetic") == ["right", "left", "up", "down"]


@pytest.mark.parametrize("design", sorted(synthetic.DESIGNS))
@pytest.mark.parametrize("class_index", range(4))
def test_motion_matches_the_class(class_index, design):
    speed = synthetic.DESIGNS[design]["speed"]
    expected = [(speed, 0), (-speed, 0), (0, -speed), (0, speed)][class_index]  # px per frame (x, y)
    for seed in range(6):
        video = synthetic.render_video(class_index, seed % 6, np.random.default_rng(seed),
                                       design=design).astype(np.int32)
        assert video.shape == (synthetic.DESIGNS[design]["frames"], 64, 64, 3)
        static = np.median(video, axis=0)  # the background does not move
        body = np.array(synthetic.ACTORS[seed % 6][2])
        centres = []
        for frame in video:   # the shape's body: its exact colour (the shapes can cover the median)
            ys, xs = np.nonzero((frame == body).all(axis=2))
            centres.append((xs.mean(), ys.mean()))
        steps = np.diff(np.array(centres), axis=0)
        assert np.allclose(steps.mean(axis=0), expected, atol=0.35), (seed, steps.mean(axis=0))
        if design == "textured":
            assert video.std() > 20  # textured, not flat
        else:  # a smooth background: neighbouring background pixels differ by at most a few levels
            background = np.abs(np.diff(static, axis=0))[static[1:].sum(axis=2) > 0]
            assert np.percentile(background, 90) <= 3


def test_design_is_recorded_and_checked(tmp_path):
    summary = synthetic.generate(str(tmp_path / "p"), seed=1, videos_per_class=5, design="plain")
    meta = json.loads((tmp_path / "p" / "synthetic.json").read_text())
    assert meta["design"] == summary["design"] == "plain" and meta["side"] == synthetic.DESIGNS["plain"]["side"]
    with pytest.raises(synthetic.DatasetError, match="unknown synthetic design 'wavy'"):
        synthetic.generate(str(tmp_path / "w"), design="wavy")
    assert synthetic.main(["--out", str(tmp_path / "c"), "--videos_per_class", "5", "--design", "plain"]) == 0


def test_read_back_through_registry(tmp_path):
    root = str(tmp_path / "syn")
    synthetic.generate(root, seed=0, videos_per_class=10)
    train = build_dataset("synthetic", root, "train")
    test = build_dataset("synthetic", root, "test", image_size=32)
    assert len(train) == 32 and len(test) == 8
    assert train.classes == ["right", "left", "up", "down"] and train.actors == synthetic.ACTOR_NAMES
    item = test[0]
    assert tuple(item["video"].shape) == (3, 10, 32, 32)
    assert item["label"] == 0 and item["name"].startswith("right/")
    assert item["actor"] == synthetic.ACTOR_NAMES.index(item["name"].split("/")[1].split("_")[0])
    labels = sorted({e.label for e in train.entries})
    assert labels == [0, 1, 2, 3]


def test_cli_prints_what_it_wrote(tmp_path, capsys):
    assert synthetic.main(["--out", str(tmp_path / "o"), "--seed", "1", "--videos_per_class", "5"]) == 0
    out = capsys.readouterr().out
    assert "16 train and 4 test videos" in out and str(tmp_path / "o") in out
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("user data")
    assert synthetic.main(["--out", str(tmp_path / "other")]) == 2
    assert (tmp_path / "other" / "keep.txt").exists()


def test_missing_data_hint_and_generate_seed(tmp_path):
    from datasets import DatasetError, dataset_options
    with pytest.raises(DatasetError, match="python -m datasets.synthetic --out"):
        build_dataset("synthetic", str(tmp_path / "none"), "train", split_rule="auto")
    assert "generate_seed" in dataset_options("synthetic") and "miniclip" in dataset_options("Weizmann")
    ds = build_dataset("synthetic", str(tmp_path / "gen"), "test", generate_seed=3)
    assert len(ds) == 4 * 12


@pytest.mark.parametrize("class_index", range(4))
def test_edge_design_starts_at_the_edge_and_stays_on_its_half(class_index):
    """`edge`: 10 frames by default; the shape's box starts within 2 px of the class's start edge and its
    centre never passes the frame's middle (31.5 on pixels 0..63), so every step moves it toward the middle."""
    side = synthetic.DESIGNS["edge"]["side"]
    for seed in range(8):
        rng = np.random.default_rng(seed)
        corners = synthetic.trajectory(synthetic.CLASSES[class_index], 10, rng, side=side, speed=2, start="edge")
        axis = 0 if class_index < 2 else 1
        along = corners[:, axis] + (side - 1) / 2                # the shape's centre along its motion
        start_gap = corners[0, axis] if class_index in (0, 3) else 64 - side - corners[0, axis]
        assert 1 <= start_gap <= 2
        assert len({np.sign(a - 31.5) for a in along} - {0}) == 1   # never on the far half
        assert np.all(np.diff(np.abs(along - 31.5)) == -2)       # 2 px per frame toward the middle
    assert synthetic.render_video(class_index, 0, np.random.default_rng(0), design="edge").shape == (10, 64, 64, 3)
    with pytest.raises(synthetic.DatasetError, match="edge design keeps the object on its starting half: 11 frames"):
        synthetic.render_video(class_index, 0, np.random.default_rng(0), n_frames=11, design="edge")
