"""The tiny datasets of `datasets.tiny_layouts`: the authors' file layouts, read by the loaders with the launchers' settings."""
import os
import re

import numpy as np
import pytest

from datasets import build_dataset, mug, synaction, tiny_layouts, weizmann

# dataset, layout, the launcher's every_nth (TRAINING.md §6; VoxCeleb: VoxCelebTrain.bash)
LAUNCHER_DATA = [("Weizmann", "weizmann", 2), ("MUG", "mug", 1), ("SynAction", "synaction", 2),
                 ("VoxCeleb", "voxceleb", 1)]
PUBLISHED_BATCH = 16


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {layout: tiny_layouts.generate(layout, str(root / layout), seed=0) for _, layout, _ in LAUNCHER_DATA}


@pytest.mark.parametrize("name,layout,every_nth", LAUNCHER_DATA)
def test_loaders_take_every_file_and_get_full_batches(generated, caplog, name, layout, every_nth):
    root = generated[layout]["root"]
    with caplog.at_level("WARNING", logger="datasets"):
        train = build_dataset(name, root, "train", video_length=10, every_nth=every_nth, crop=True)
        test = build_dataset(name, root, "test", video_length=10, every_nth=every_nth, crop=False)
    assert not caplog.records, [r.getMessage() for r in caplog.records]  # no file rejected
    assert len(train) >= PUBLISHED_BATCH and len(test) >= PUBLISHED_BATCH
    assert (len(train), len(test)) == (generated[layout]["train"], generated[layout]["test"])
    np.random.seed(0)
    for dataset in (train, test):
        video = dataset[len(dataset) - 1]["video"].numpy()
        assert video.shape == (3, 10, 64, 64) and video.min() >= -1 and video.max() <= 1
        assert np.abs(np.diff(video, axis=1)).mean() > 0.005  # the shape moves between frames
    if name != "VoxCeleb":
        assert len({e.label for e in train.entries}) >= 4


def test_weizmann_files(generated):
    root = generated["weizmann"]["root"]
    names = sorted(n for n in os.listdir(root) if n.endswith(".npy"))
    assert len(names) == 20
    for n in names:
        actor, action = re.fullmatch(r"([a-z]+)_([a-z0-9]+)\.npy", n).groups()
        assert actor in weizmann.ACTORS and action in weizmann.ACTIONS
        arr = np.load(os.path.join(root, n), mmap_mode="r")
        assert arr.dtype == np.uint8 and arr.shape[:3] == (72, 90, 3)     # [H, W, C, T]
        assert (2 * arr.shape[3]) // 3 - 1 > 9 * 2 + 1                   # kept at every_nth 2
    assert "daria_run.npy" in names                                       # a stride-1 action included


def test_mug_files_are_interleaved_sub_videos(generated):
    root = generated["mug"]["root"]
    names = sorted(n for n in os.listdir(root) if n.endswith(".npy"))
    assert len(names) == 72
    fields = [re.fullmatch(r"(\d{3})_([a-z]+)_(\d{3})_(\d{2})\.npy", n).groups() for n in names]
    assert {f[1] for f in fields} == set(mug.ACTIONS) and {f[3] for f in fields} == {"00", "01", "02", "03"}
    parts = [np.load(os.path.join(root, f"001_anger_000_{i:02d}.npy")) for i in range(4)]
    assert all(p.shape == (12, 64, 64, 3) and p.dtype == np.uint8 for p in parts)  # [T, H, W, C]
    recording = np.empty((48, 64, 64, 3), np.uint8)
    for i, p in enumerate(parts):
        recording[i::4] = p
    def change(lag):  # mean absolute change between recording frames `lag` apart
        return np.mean([np.abs(recording[t + lag].astype(int) - recording[t]).mean() for t in range(48 - lag)])
    assert change(1) < 0.5 * change(4)  # the sub-videos interleave one recording of a smooth motion


def test_synaction_files_and_split_field(generated):
    root = generated["synaction"]["root"]
    names = sorted(n for n in os.listdir(root) if n.endswith(".npy"))
    tests = {}
    for n in names:
        actor, action, seq, split = n[:-4].split("_")
        arr = np.load(os.path.join(root, n), mmap_mode="r")
        assert arr.dtype == np.uint8 and arr.shape[1:] == (71, 71, 3)
        assert arr.shape[0] > 9 * synaction.STRIDES[action] + 1
        tests.setdefault((actor, action), []).append(
            synaction.is_test(synaction.ACTORS.index(actor), synaction.ACTIONS.index(action), int(seq), int(split)))
    assert len(names) == 32 and len(tests) == 16
    assert all(sorted(t) == [False, True] for t in tests.values())  # one train and one test file each
    assert {synaction.STRIDES[n.split("_")[1]] for n in names} == {2, 4, 6}


def test_voxceleb_frame_folders_and_mp4(generated):
    root = generated["voxceleb"]["root"]
    for split in ("train", "test"):
        entries = sorted(os.listdir(os.path.join(root, split)))
        assert len(entries) == 16
        assert all(re.fullmatch(r"id1000\d#[\w-]{11}#\d{6}#\d{6}\.mp4", e) for e in entries)
        folders = [e for e in entries if os.path.isdir(os.path.join(root, split, e))]
        assert sorted(os.listdir(os.path.join(root, split, folders[0])))[:2] == ["0000000.png", "0000001.png"]
    assert generated["voxceleb"]["mp4"] == 8  # every fourth video is an MPEG-4 file (OpenCV 4.14 writes mp4v)


def test_deterministic_per_seed(tmp_path):
    a = tiny_layouts.generate("mug", str(tmp_path / "a"), seed=3)
    b = tiny_layouts.generate("mug", str(tmp_path / "b"), seed=3)
    c = tiny_layouts.generate("mug", str(tmp_path / "c"), seed=4)
    name = "002_fear_000_01.npy"
    first, again, other = (np.load(os.path.join(s["root"], name)) for s in (a, b, c))
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_command_line_prints_what_was_written_and_refuses_a_used_folder(tmp_path, capsys):
    out = tmp_path / "mug"
    assert tiny_layouts.main(["--layout", "mug", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "wrote 72 files" in text and str(out) in text
    assert "72 videos: 54 with a training part, 18 with a test part" in text
    assert "001_anger_000_00.npy" in text and "bashes/TwoStreamVAN/MUGTrain.bash" in text
    assert tiny_layouts.main(["--layout", "mug", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
