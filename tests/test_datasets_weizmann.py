"""Weizmann in the authors' layout: split parts, keep/shift rules, miniclips, strides, crops, rejections."""
import os

import numpy as np
import pytest

from datasets import build_dataset, dataset_classes
from datasets_fixtures import coded_video, expected_pixels, logged, write_npy

L, N = 4, 2  # video_length, every_nth -> m = 7 (m = 4 for run/side/skip)


def hwct(n_frames):
    return coded_video(n_frames, 12, 12).transpose(1, 2, 3, 0)  # [H, W, C, T]


@pytest.fixture
def root(tmp_path):
    d = tmp_path / "weiz"
    d.mkdir()
    for name, t in [("daria_bend", 30), ("denis_jack", 14), ("eli_pjump", 12), ("ido_run", 12), ("lena_run1", 30)]:
        write_npy(str(d / f"{name}.npy"), hwct(t))
    write_npy(str(d / "moshe.npy"), hwct(30))                     # unparseable name
    write_npy(str(d / "a_b_c.npy"), hwct(30))                     # too many fields
    write_npy(str(d / "bob_bend.npy"), hwct(30))                  # unknown actor
    write_npy(str(d / "ira_dance.npy"), hwct(30))                 # unknown action
    (d / "lyova_walk.npy").write_bytes(b"this is not numpy")      # corrupt
    write_npy(str(d / "shahar_walk.npy"), hwct(30), truncate=50)  # truncated
    write_npy(str(d / "shahar_skip.npy"), hwct(30)[..., 0])       # 3-D
    write_npy(str(d / "moshe_side.npy"), hwct(30).astype(np.float32))  # wrong dtype
    write_npy(str(d / "moshe_jump.npy"), hwct(30)[:, :, :2])      # 2 channels
    return d


def build(root, split, **kw):
    return build_dataset("Weizmann", str(root), split, video_length=L, every_nth=N,
                         image_size=kw.pop("image_size", 7), **kw)


def test_split_parts_keep_and_shift_rules(root, caplog):
    with caplog.at_level("WARNING", logger="datasets"):
        train = build(root, "train")
    got = {e.name: (e.start, e.end, e.stride, e.label, e.actor) for e in train.entries}
    # floor(2T/3): 20, 9, 8, 8, 20; kept when floor(2T/3) - 1 > m
    assert got == {"daria_bend": (0, 20, 2, 0, 0), "denis_jack": (0, 9, 2, 1, 1),
                   "ido_run": (0, 8, 1, 6, 3), "lena_run1": (0, 20, 1, 6, 5)}
    messages = logged(caplog)
    for bad in ("eli_pjump", "moshe.npy", "a_b_c", "bob_bend", "ira_dance", "lyova_walk",
                "shahar_walk", "shahar_skip", "moshe_side", "moshe_jump"):
        assert sum(bad in m for m in messages) == 1, (bad, messages)
    assert len(messages) == 10 and all("\n" not in m for m in messages)
    test = build(root, "test")
    got = {e.name: (e.start, e.end) for e in test.entries}
    # test part [floor(2T/3), T) unless T - floor(2T/3) <= m, then it starts at T - m - 1
    assert got == {"daria_bend": (20, 30), "denis_jack": (14 - 8, 14), "eli_pjump": (12 - 8, 12),
                   "ido_run": (12 - 5, 12), "lena_run1": (20, 30)}
    assert train.classes == dataset_classes("Weizmann") and train.actors[0] == "daria"


def test_test_clip_and_crop_offset_2(root):
    test = build(root, "test")
    item = test[[e.name for e in test.entries].index("daria_bend")]
    frames = coded_video(30, 12, 12)[[20, 22, 24, 26], 2:9, 2:9]  # 10 frames > 8: start 0, stride 2
    assert tuple(item["video"].shape) == (3, 4, 7, 7)
    assert np.allclose(item["video"].numpy(), expected_pixels(frames), atol=1e-6)
    short = test[[e.name for e in test.entries].index("denis_jack")]  # 8 frames <= 8: consecutive
    assert np.allclose(short["video"].numpy(), expected_pixels(coded_video(14, 12, 12)[6:10, 2:9, 2:9]), atol=1e-6)
    resized = build(root, "test", image_size=16)[0]["video"]
    assert tuple(resized.shape) == (3, 4, 16, 16) and -1 <= float(resized.min()) <= float(resized.max()) <= 1


def test_train_start_and_crop_offsets_are_random(root):
    train = build(root, "train")
    i = [e.name for e in train.entries].index("daria_bend")
    np.random.seed(0)
    starts, tops, lefts = set(), set(), set()
    for _ in range(300):
        v = train[i]["video"].numpy()
        px = (v[:, 0, 0, 0] + 1) * 127.5  # R = 3t, G = 2*row, B = 2*col
        starts.add(int(round(px[0] / 3)))
        tops.add(int(round(px[1] / 2)))
        lefts.add(int(round(px[2] / 2)))
        t = (v[0, :, 0, 0] + 1) * 127.5 / 3
        assert np.allclose(np.diff(t), 2, atol=1e-3)
    assert starts == set(range(20 - 2 * (L - 1))) and tops == lefts == set(range(5))
    fixed = build(root, "train", crop=False)[i]["video"].numpy()
    assert round((fixed[1, 0, 0, 0] + 1) * 127.5 / 2) == 2


def test_miniclip(root):
    train = build(root, "train", miniclip=True)
    parts = [(e.start, e.end) for e in train.entries if e.name == "daria_bend"]
    assert parts == [((k * 13) // 19, (k * 13) // 19 + 7) for k in range(20)]  # 20 starts over [0, 20-7]
    assert len(train) == 4 * 20
    np.random.seed(1)
    for _ in range(20):  # a part of m frames falls back to consecutive frames at its start
        k = np.random.randint(len(train))
        v = train[k]["video"].numpy()
        t = np.round((v[0, :, 0, 0] + 1) * 127.5 / 3).astype(int)
        assert list(t) == [train.entries[k].start + j for j in range(L)]
    assert len(build(root, "test", miniclip=True)) == 5


def test_video_list_written(root, tmp_path):
    lists = tmp_path / "lists"
    build(root, "train", textroot=str(lists))
    build(root, "test", textroot=str(lists))
    assert sorted(os.listdir(lists)) == ["test_list_8.txt", "train_list_8.txt"]
    lines = (lists / "train_list_8.txt").read_text().splitlines()
    assert lines == ["daria_bend 0 20", "denis_jack 0 9", "ido_run 0 8", "lena_run1 0 20"]
    assert "denis_jack 6 14" in (lists / "test_list_8.txt").read_text().splitlines()


def test_no_files_message(tmp_path):
    from datasets import DatasetError
    with pytest.raises(DatasetError, match=r"no <actor>_<action>.npy files in .*Weizmann"):
        build(tmp_path, "train")
    write_npy(str(tmp_path / "bob_bend.npy"), hwct(30))
    with pytest.raises(DatasetError, match="no usable Weizmann videos"):
        build(tmp_path, "train")
