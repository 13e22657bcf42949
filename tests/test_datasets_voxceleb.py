"""VoxCeleb layout: train/ and test/ of frame folders or .mp4 files, identities from names."""
import numpy as np
import pytest

from datasets import DatasetError, build_dataset
from datasets_fixtures import coded_video, expected_pixels, logged, write_frame_folder, write_video_file


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "vox"
    write_frame_folder(str(r / "train" / "id10001#vidA"), coded_video(6, 16, 16))
    write_frame_folder(str(r / "train" / "id10002_abc"), coded_video(5, 16, 16))
    write_frame_folder(str(r / "train" / "short"), coded_video(2, 16, 16))
    write_frame_folder(str(r / "test" / "id10003#x#y"), coded_video(7, 16, 16))
    return r


def test_unconditional_default(root, caplog):
    with caplog.at_level("WARNING", logger="datasets"):
        train = build_dataset("VoxCeleb", str(root), "train", video_length=4, image_size=16)
    assert train.classes == ["video"]
    assert train.actors == ["id10001", "id10002", "id10003", "short"]
    assert [(e.name, e.label, e.actor) for e in train.entries] == [("id10001#vidA", 0, 0), ("id10002_abc", 0, 1)]
    assert any("short" in m and "2 frames" in m for m in logged(caplog))
    test = build_dataset("VoxCeleb", str(root), "test", video_length=4, image_size=16)
    assert np.allclose(test[0]["video"].numpy(), expected_pixels(coded_video(7, 16, 16)[:4]), atol=1e-6)
    assert test[0]["actor"] == 2


def test_identity_labels_and_mp4(root):
    has_mp4 = write_video_file(str(root / "train" / "id10002#clip.mp4"), coded_video(8, 16, 16, seed=1), "mp4v")
    train = build_dataset("VoxCeleb", str(root), "train", video_length=4, image_size=16, identity_labels=True)
    assert train.classes == train.actors
    assert all(e.label == e.actor for e in train.entries)
    if has_mp4:
        e = [e for e in train.entries if e.kind == "video"][0]
        assert (e.name, e.label, e.n_frames) == ("id10002#clip", 1, 8)


def test_missing_split_folder(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError, match="test"):
        build_dataset("VoxCeleb", str(tmp_path), "test")
    with pytest.raises(DatasetError, match="no videos"):
        build_dataset("VoxCeleb", str(tmp_path), "train")
