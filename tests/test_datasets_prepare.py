"""Raw-data preparation round trips through the loaders (Weizmann AVIs, MUG frame folders, generic)."""
import os

import cv2
import numpy as np
import pytest

from datasets import build_dataset, prepare
from datasets_fixtures import coded_video, write_frame_folder, write_strip, write_video_file


def ramp_video(n_frames, h, w):
    """Flat frames whose red channel is 8*t (survives lossy codecs), green 100, blue 30."""
    v = np.zeros((n_frames, h, w, 3), np.uint8)
    v[..., 0] = (8 * np.arange(n_frames))[:, None, None]
    v[..., 1], v[..., 2] = 100, 30
    return v


def test_weizmann_round_trip(tmp_path, capsys):
    src, out = tmp_path / "raw", tmp_path / "npy"
    (src / "bend").mkdir(parents=True)
    (src / "walk").mkdir()
    ok = write_video_file(str(src / "bend" / "daria_bend.avi"), ramp_video(24, 24, 32), "MJPG")
    if not ok:
        pytest.skip("OpenCV here cannot write MJPG .avi")
    write_video_file(str(src / "walk" / "denis_walk.avi"), ramp_video(30, 24, 32), "MJPG")
    write_video_file(str(src / "walk" / "bob_walk.avi"), ramp_video(30, 24, 32), "MJPG")
    (src / "walk" / "broken.avi").write_bytes(b"RIFF\0\0\0\0AVI garbage")
    assert prepare.main(["--layout", "weizmann", "--src", str(src), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "wrote 2 files" in text and "rejected 2 inputs" in text
    assert "bob_walk.avi" in text and "broken.avi" in text
    arr = np.load(out / "daria_bend.npy")
    assert arr.shape == (24, 32, 3, 24) and arr.dtype == np.uint8  # [H, W, C, T]
    assert np.allclose(arr[..., 0, :].mean(axis=(0, 1)), 8 * np.arange(24), atol=3)
    test = build_dataset("Weizmann", str(out), "test", video_length=4)
    assert sorted(e.name for e in test.entries) == ["daria_bend", "denis_walk"]
    v = test[[e.name for e in test.entries].index("daria_bend")]["video"].numpy()
    red = (v[0].mean(axis=(1, 2)) + 1) * 127.5
    assert np.allclose(red, 8 * np.arange(16, 20), atol=3)  # test part starts at floor(2*24/3) = 16


def mug_raw(src):
    write_frame_folder(str(src / "001" / "anger" / "take000"), coded_video(41, 24, 32))
    write_frame_folder(str(src / "001" / "anger" / "take001"), coded_video(10, 24, 32))   # < 40 frames
    write_frame_folder(str(src / "002" / "Happiness" / "take000"), coded_video(44, 24, 32))
    write_frame_folder(str(src / "002" / "neutral" / "take000"), coded_video(44, 24, 32))  # unknown


def test_mug_round_trip_with_centre_crop(tmp_path, capsys):
    src, out = tmp_path / "raw", tmp_path / "npy"
    mug_raw(src)
    code = prepare.main(["--layout", "mug", "--src", str(src), "--out", str(out), "--size", "0",
                         "--face_crop", "center", "--frames", "any", "--quiet"])
    text = capsys.readouterr().out
    assert code == 0 and "wrote 8 files" in text and "rejected 2 inputs" in text
    assert "40 frames" in text and "neutral" in text
    assert sorted(os.listdir(out)) == [f"001_anger_000_{i:02d}.npy" for i in range(4)] + \
        [f"002_happiness_000_{i:02d}.npy" for i in range(4)]
    video = coded_video(41, 24, 32)[:, :, 4:28]  # centred 24x24 square
    for i in range(4):
        arr = np.load(out / f"001_anger_000_{i:02d}.npy")
        assert np.array_equal(arr, video[i::4])  # frames i, i+4, ... ; [T, H, W, C]
    train = build_dataset("MUG", str(out), "train", video_length=4)
    test = build_dataset("MUG", str(out), "test", video_length=4)
    assert len(train) == 6 and len(test) == 2 and train.actors == ["001", "002"]


def test_mug_face_detector_is_used_on_the_first_frame(tmp_path, monkeypatch):
    src, out = tmp_path / "raw", tmp_path / "npy"
    mug_raw(src)
    seen = []

    def fake_haar(cascade=None, box="union"):
        def detect(rgb):
            seen.append(rgb.copy())
            return (2, 3, 10, 10)
        return detect
    monkeypatch.setattr(prepare, "haar_detector", fake_haar)
    written, rejected = prepare.run("mug", str(src), str(out), size=8, progress=False, frames="any")
    assert len(written) == 8 and len(rejected) == 2
    assert np.array_equal(seen[0], coded_video(41, 24, 32)[0])
    arr = np.load(out / "001_anger_000_01.npy")
    crop = coded_video(41, 24, 32)[1::4, 3:13, 2:12]
    assert arr.shape == (10, 8, 8, 3)
    assert np.allclose(arr.astype(float), [cv2.resize(f, (8, 8), interpolation=cv2.INTER_AREA) for f in crop])


def test_haar_unavailable_or_no_face(tmp_path, capsys):
    src, out = tmp_path / "raw", tmp_path / "npy"
    mug_raw(src)
    code = prepare.main(["--layout", "mug", "--src", str(src), "--out", str(out), "--frames", "any", "--quiet"])
    err = capsys.readouterr()
    if not hasattr(cv2, "CascadeClassifier") or "not found" in err.err:
        assert code == 2 and "--face_crop center" in err.err  # OpenCV 5.x main wheels: no Haar cascade
    else:
        assert code == 1 and "no face found" in err.out  # coded test frames hold no face


def test_generic_round_trip(tmp_path, capsys):
    src, out = tmp_path / "raw", tmp_path / "strips"
    write_frame_folder(str(src / "walk" / "clip"), coded_video(6, 24, 32))
    write_strip(str(src / "run" / "s.jpg"), coded_video(5, 16, 16))
    has_avi = write_video_file(str(src / "run" / "v.avi"), ramp_video(12, 24, 32), "MJPG")
    (src / "run" / "readme.txt").write_text("not a video")
    assert prepare.main(["--layout", "generic", "--src", str(src), "--out", str(out), "--size", "16",
                         "--quiet"]) == 0
    assert "readme.txt" in capsys.readouterr().out
    ds = build_dataset("folder", str(out), "test", split_rule="all", video_length=5, image_size=16)
    names = sorted(e.name for e in ds.entries)
    assert names == (["run/s", "run/v", "walk/clip"] if has_avi else ["run/s", "walk/clip"])
    strip = cv2.imread(str(out / "walk" / "clip.png"))
    assert strip.shape == (16, 16 * 6, 3)
    s_item = ds[names.index("run/s")]["video"].numpy()
    assert np.allclose(s_item, (coded_video(5, 16, 16).transpose(3, 0, 1, 2) / 127.5 - 1), atol=1e-6)
