"""The folder loader's 'mirror_pairs' split: a video and its left-right mirror, found by content, stay together."""
import os

import numpy as np
import pytest

from datasets import build_dataset
from datasets.mirror_pairs import is_mirror, mirror_units
from datasets_fixtures import SHARED_WEIZMANN, coded_video, write_strip


def test_is_mirror_needs_the_flip_and_the_same_shape():
    video = coded_video(5, seed=1)
    assert is_mirror(video, video[:, :, ::-1].copy())
    assert not is_mirror(video, video)                        # not flipped
    assert not is_mirror(video, video[:4, :, ::-1].copy())    # another length
    noisy = np.clip(video[:, :, ::-1].astype(int) + 1, 0, 255).astype(np.uint8)
    assert is_mirror(video, noisy) and not is_mirror(video, noisy, tolerance=0.0)


def test_units_follow_content_not_names():
    a, b, c = (coded_video(6, seed=s) for s in (1, 2, 3))
    videos = {"p0": a, "p1": b, "p2": a[:, :, ::-1], "p3": c, "p4": b[:, :, ::-1]}
    units = mirror_units(list(videos), videos.__getitem__)
    assert units == [0, 1, 0, 2, 1]


def test_mirror_pairs_split_keeps_pairs_on_one_side(tmp_path):
    rng = np.random.default_rng(0)
    mirror_of = {}
    for c, cls in enumerate(("a", "b")):
        order = rng.permutation(12)  # file names do not reveal the pairs
        for pair in range(6):
            video = coded_video(8, seed=10 * c + pair)
            first, second = f"{cls}/v{order[2 * pair]:02d}", f"{cls}/v{order[2 * pair + 1]:02d}"
            write_strip(str(tmp_path / f"{first}.png"), video)
            write_strip(str(tmp_path / f"{second}.png"), video[:, :, ::-1])
            mirror_of.update({first: second, second: first})
    kw = dict(video_length=4, image_size=8, split_rule="mirror_pairs", test_every=3)
    train = build_dataset("folder", str(tmp_path), "train", **kw)
    test = build_dataset("folder", str(tmp_path), "test", **kw)
    assert len(train) == 16 and len(test) == 8  # 2 of the 6 units of each class are test
    train_names, test_names = {e.name for e in train.entries}, {e.name for e in test.entries}
    assert train_names | test_names == set(mirror_of) and not train_names & test_names
    for name in test_names:
        assert mirror_of[name] in test_names
    # the plain 'videos' rule, by contrast, separates some pairs
    plain = {e.name for e in build_dataset("folder", str(tmp_path), "test", **dict(kw, split_rule="videos")).entries}
    assert any(mirror_of[name] not in plain for name in plain)


@pytest.mark.skipif(not os.path.isdir(SHARED_WEIZMANN), reason="../shared/datasets/weizmann_mocogan is absent")
def test_shared_weizmann_strips_come_in_consecutive_mirror_pairs():
    kw = dict(every_nth=2, split_rule="mirror_pairs", test_every=3)
    test = build_dataset("folder", SHARED_WEIZMANN, "test", **kw)
    train = build_dataset("folder", SHARED_WEIZMANN, "train", **kw)
    assert (len(train), len(test)) == (48, 24)
    ids = sorted(int(e.name.split("/")[1]) for e in test.entries)
    assert all(ids[i] % 2 == 0 and ids[i + 1] == ids[i] + 1 for i in range(0, len(ids), 2))  # pairs 2k, 2k+1
    assert not {e.name for e in train.entries} & {e.name for e in test.entries}
