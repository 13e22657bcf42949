"""The generic class-per-folder loader on tiny files written here, and on the shared Weizmann strips."""
import os

import numpy as np
import pytest

from datasets import DATASET_NAMES, DatasetError, build_dataset, dataset_classes
from datasets_fixtures import (SHARED_WEIZMANN, coded_video, expected_pixels, write_frame_folder,
                               write_strip, write_video_file)


def build(root, split="test", **kw):
    kw.setdefault("image_size", 8)
    return build_dataset("folder", str(root), split, video_length=kw.pop("video_length", 4), **kw)


def test_strip_png_named_jpg_with_alpha_is_read_by_content(tmp_path):
    video = coded_video(6)
    write_strip(str(tmp_path / "walk" / "a.jpg"), video, alpha=True)
    write_strip(str(tmp_path / "wave" / "b.jpg"), video[:5], vertical=True)
    ds = build(tmp_path, split_rule="all")
    assert ds.classes == ["walk", "wave"] and ds.actors == []
    items = [ds[i] for i in range(len(ds))]
    assert [(it["label"], it["actor"], it["name"]) for it in items] == [(0, -1, "walk/a"), (1, -1, "wave/b")]
    for it in items:  # test split: frames 0..3, no crop at crop_fraction 1, RGB order kept
        assert tuple(it["video"].shape) == (3, 4, 8, 8)
        assert np.allclose(it["video"].numpy(), expected_pixels(video[:4]), atol=1e-6)


def test_frame_folder_ignores_non_images_and_sorts_naturally(tmp_path):
    video = coded_video(12)
    folder = write_frame_folder(str(tmp_path / "run" / "clip1"), video, ext=".jpg")
    (tmp_path / "run" / "clip1" / "notes.txt").write_text("not a frame")
    ds = build(tmp_path, split_rule="all", video_length=12)
    assert len(os.listdir(folder)) == 13 and len(ds) == 1
    # natural order: frame_2 before frame_10
    assert np.allclose(ds[0]["video"].numpy(), expected_pixels(video), atol=1e-6)


@pytest.mark.parametrize("fourcc,ext", [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_video_files(tmp_path, fourcc, ext):
    video = np.zeros((15, 32, 32, 3), np.uint8)
    video[..., 0] = (np.arange(15) * 15)[:, None, None]  # red ramp over time, flat frames
    (tmp_path / "jump").mkdir()
    if not write_video_file(str(tmp_path / "jump" / f"v{ext}"), video, fourcc):
        pytest.skip(f"OpenCV here cannot write/read {fourcc} {ext}")
    ds = build(tmp_path, split_rule="all", video_length=5, every_nth=3, image_size=32)
    assert ds.entries[0].n_frames == 15 and ds.entries[0].kind == "video"
    got = ds[0]["video"].numpy()  # test split, 15 > 5*3 is false: consecutive frames 0..4
    red = (got[0].mean(axis=(1, 2)) + 1) * 127.5
    assert np.allclose(red, np.arange(5) * 15, atol=6)


def make_classes(root, n_videos, n_frames=9):
    for cls in ("a", "b"):
        for i in range(n_videos):
            write_strip(str(root / cls / f"v{i}.png"), coded_video(n_frames))


def test_split_rules(tmp_path):
    make_classes(tmp_path, 11)
    # 'videos' (the auto default without train/ and test/): every 5th video per class is test
    test_names = sorted(e.name for e in build(tmp_path).entries)
    assert test_names == ["a/v4", "a/v9", "b/v4", "b/v9"]
    train = build(tmp_path, "train")
    assert len(train) == 18 and not set(test_names) & {e.name for e in train.entries}
    assert sorted(e.name for e in build(tmp_path, test_every=3).entries) == \
        ["a/v2", "a/v5", "a/v8", "b/v2", "b/v5", "b/v8"]
    # 'frames': [0, floor(2T/3)) train, the rest test
    fr_train, fr_test = build(tmp_path, "train", split_rule="frames"), build(tmp_path, split_rule="frames", video_length=3)
    assert {(e.start, e.end) for e in fr_train.entries} == {(0, 6)}
    assert {(e.start, e.end) for e in fr_test.entries} == {(6, 9)}
    assert np.allclose(fr_test[0]["video"].numpy(), expected_pixels(coded_video(9)[6:9]), atol=1e-6)
    # 'folders' (also what 'auto' picks when train/ and test/ exist)
    root = tmp_path / "split"
    write_strip(str(root / "train" / "x" / "t.png"), coded_video(5))
    write_strip(str(root / "test" / "y" / "u.png"), coded_video(5))
    auto = build(root)
    assert auto.split_rule == "folders" and auto.classes == ["x", "y"]
    assert [(e.name, e.label) for e in auto.entries] == [("y/u", 1)]
    with pytest.raises(DatasetError, match="split_rule"):
        build(tmp_path, split_rule="bogus")
    with pytest.raises(DatasetError, match="train"):
        build(tmp_path, split_rule="folders")


def test_random_crop_window_shared_by_all_frames(tmp_path):
    video = coded_video(6, 20, 20)
    write_strip(str(tmp_path / "c" / "v.png"), video)
    ds = build(tmp_path, "train", split_rule="all", crop_fraction=0.5, image_size=10, video_length=6)
    seen = set()
    np.random.seed(3)
    for _ in range(200):
        v = ds[0]["video"].numpy()
        g, b = (v[1] + 1) * 127.5 / 2, (v[2] + 1) * 127.5 / 2  # row and column of each pixel
        top, left = int(round(g[0, 0, 0])), int(round(b[0, 0, 0]))
        assert np.allclose(g, top + np.arange(10)[None, :, None], atol=1e-3)
        assert np.allclose(b, left + np.arange(10)[None, None, :], atol=1e-3)
        seen.add((top, left))
    assert {t for t, _ in seen} == set(range(11)) and {l for _, l in seen} == set(range(11))
    centred = build(tmp_path, "test", split_rule="all", crop_fraction=0.5, image_size=10, video_length=6)
    g = (centred[0]["video"].numpy()[1] + 1) * 127.5 / 2
    assert round(g[0, 0, 0]) == 5
    nocrop = build(tmp_path, "train", split_rule="all", crop_fraction=0.5, image_size=10, video_length=6, crop=False)
    assert round(((nocrop[0]["video"].numpy()[1] + 1) * 127.5 / 2)[0, 0, 0]) == 5


def test_bad_files_are_warned_one_line_each_and_skipped(tmp_path, caplog):
    write_strip(str(tmp_path / "a" / "good.png"), coded_video(6))
    (tmp_path / "a" / "text.png").write_text("hello")
    (tmp_path / "a" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    write_strip(str(tmp_path / "a" / "short.png"), coded_video(3))
    import cv2
    cv2.imwrite(str(tmp_path / "a" / "odd.png"), np.zeros((8, 20, 3), np.uint8))
    with caplog.at_level("WARNING", logger="datasets"):
        ds = build(tmp_path, split_rule="all")
    assert [e.name for e in ds.entries] == ["a/good"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4
    for bad in ("text.png", "corrupt.png", "short.png", "odd.png"):
        assert sum(bad in m for m in messages) == 1, messages
    assert all("\n" not in m for m in messages)


def test_errors_missing_empty_unknown(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        build(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no class folders"):
        build(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(DatasetError, match="no usable videos"):
        build(tmp_path)
    with pytest.raises(DatasetError) as err:
        build_dataset("Weizman", str(tmp_path), "train")
    for name in DATASET_NAMES:
        assert name in str(err.value)
    with pytest.raises(DatasetError, match="split_rul"):
        build_dataset("folder", str(tmp_path), "train", split_rul="all")
    with pytest.raises(DatasetError, match="split"):
        build_dataset("folder", str(tmp_path), "val")
    assert dataset_classes("folder") is None and dataset_classes("VoxCeleb") is None


@pytest.mark.skipif(not os.path.isdir(SHARED_WEIZMANN),
                    reason="shared Weizmann strips not found at ../shared/datasets/weizmann_mocogan (fresh clone)")
def test_shared_weizmann_strips():
    train = build_dataset("folder", SHARED_WEIZMANN, "train")
    test = build_dataset("folder", SHARED_WEIZMANN, "test")
    assert train.classes == ["0", "1", "3", "4"] and len(train) + len(test) == 72
    assert len(test) == 4 * 3  # 18 videos per class, every 5th held out: positions 4, 9, 14
    from PIL import Image  # frames = width / height of each strip, read independently here
    for e in train.entries + test.entries:
        with Image.open(e.source) as im:
            assert im.mode == "RGBA" and e.n_frames == im.size[0] // im.size[1] >= 50
    item = test[0]
    assert tuple(item["video"].shape) == (3, 10, 64, 64)
    v = item["video"]
    assert -1.0 <= float(v.min()) < float(v.max()) <= 1.0
    assert float(v.std()) > 0.05
