"""MUG and SynAction in the authors' layouts: split rules, labels, keep rule, strides, crop windows."""
import os

import numpy as np

from datasets import build_dataset, dataset_classes
from datasets_fixtures import coded_video, expected_pixels, logged, write_npy


def test_mug_split_labels_keep_rule_and_crop(tmp_path, caplog):
    d = tmp_path / "mug"
    d.mkdir()
    thwc = lambda t: coded_video(t, 20, 20)  # noqa: E731
    for name, t in [("001_anger_000_00", 12), ("001_anger_000_03", 12), ("002_surprise_001_01", 12),
                    ("002_fear_000_03", 7), ("003_neutral_000_00", 12), ("x_anger_00_aa", 12),
                    ("004_happiness_002_03", 8)]:
        write_npy(str(d / f"{name}.npy"), thwc(t))
    kw = dict(video_length=4, every_nth=2, image_size=18)  # kept only if T > 7
    with caplog.at_level("WARNING", logger="datasets"):
        train = build_dataset("MUG", str(d), "train", **kw)
        test = build_dataset("MUG", str(d), "test", **kw)
    actions = dataset_classes("MUG")
    assert actions == ["anger", "disgust", "fear", "happiness", "sadness", "surprise"] == train.classes
    assert train.actors == test.actors == ["001", "002", "004"]
    assert {(e.name, e.label, e.actor) for e in train.entries} == {("001_anger_000_00", 0, 0),
                                                                    ("002_surprise_001_01", 5, 1)}
    assert {(e.name, e.label, e.actor) for e in test.entries} == {("001_anger_000_03", 0, 0),
                                                                   ("004_happiness_002_03", 3, 2)}
    messages = logged(caplog)
    for bad in ("002_fear_000_03", "003_neutral", "x_anger_00_aa"):
        assert any(bad in m for m in messages), (bad, messages)
    # 90 % window of 20 px = 18 px, centred (offset 1) for test; 12 frames > 8: stride 2 from 0
    item = test[[e.name for e in test.entries].index("001_anger_000_03")]
    assert np.allclose(item["video"].numpy(), expected_pixels(thwc(12)[[0, 2, 4, 6], 1:19, 1:19]), atol=1e-6)
    np.random.seed(0)
    tops = set()
    for _ in range(100):
        v = train[0]["video"].numpy()
        tops.add(int(round((v[1, 0, 0, 0] + 1) * 127.5 / 2)))
    assert tops == {0, 1, 2}


def synaction_u(actor, action, seq):
    actors = ["douglas", "kachujin", "liam", "lola", "malcolm", "regina", "remy", "shae", "stefani", "swat"]
    actions = ["bow", "cheer", "clap", "climb", "crossstep", "hit", "hook", "jump", "kick", "knee",
               "pick", "pitch", "push", "roll", "run", "squat", "stall", "standup", "walk", "wave"]
    return (actors.index(actor) * 20 + actions.index(action)) * 2 + seq


def test_synaction_split_strides_crop_and_lists(tmp_path, caplog):
    d = tmp_path / "syn"
    d.mkdir()
    files = [("douglas", "bow", 0), ("douglas", "bow", 1), ("liam", "hit", 0), ("swat", "cheer", 1),
             ("regina", "walk", 0), ("lola", "jump", 1)]
    video = coded_video(30, 71, 71)
    split_of = {}
    for k, (actor, action, seq) in enumerate(files):
        split_no = synaction_u(actor, action, seq) % 15 if k % 2 == 0 else (synaction_u(actor, action, seq) + 1) % 15
        name = f"{actor}_{action}_{seq}_{split_no}"
        split_of[name] = "test" if k % 2 == 0 else "train"
        write_npy(str(d / f"{name}.npy"), video)
    write_npy(str(d / "douglas_hit_0_14.npy"), video[:19])               # hit stride 6: 19 > 19 false
    write_npy(str(d / "douglas_cheer_0_14.npy"), video[:, :64, :64])     # not 71x71
    write_npy(str(d / "bob_cheer_0_1.npy"), video)                       # unknown actor
    lists = tmp_path / "lists"
    with caplog.at_level("WARNING", logger="datasets"):
        train = build_dataset("SynAction", str(d), "train", video_length=4, every_nth=3, textroot=str(lists))
        test = build_dataset("SynAction", str(d), "test", video_length=4, textroot=str(lists))
    assert {e.name for e in test.entries} == {n for n, s in split_of.items() if s == "test"}
    assert {e.name for e in train.entries} == {n for n, s in split_of.items() if s == "train"}
    messages = logged(caplog)
    for bad in ("douglas_hit_0_14", "douglas_cheer_0_14", "bob_cheer_0_1"):
        assert any(bad in m for m in messages), (bad, messages)
    strides = {e.name.split("_")[1]: e.stride for e in train.entries + test.entries}
    assert strides == {"bow": 4, "hit": 6, "cheer": 2, "walk": 4, "jump": 6}  # every_nth ignored
    assert sorted(os.listdir(lists)) == ["test_list_4.txt", "train_list_4.txt"]
    assert train.classes == dataset_classes("SynAction") and train.actors[-1] == "swat"
    # test: 30 > 4*6 frames -> start 0, stride 6; crop 64x64 at offset 4, no resize
    item = test[[e.name for e in test.entries].index(next(n for n in split_of if n.startswith("liam_hit")))]
    assert item["label"] == 5 and item["actor"] == 2
    assert np.allclose(item["video"].numpy(), expected_pixels(video[[0, 6, 12, 18], 4:68, 4:68]), atol=1e-6)
    np.random.seed(0)
    offsets = set()
    for _ in range(200):
        v = train[0]["video"].numpy()
        offsets.add((int(round((v[1, 0, 0, 0] + 1) * 127.5 / 2)), int(round((v[2, 0, 0, 0] + 1) * 127.5 / 2))))
    assert {o[0] for o in offsets} == {o[1] for o in offsets} == set(range(7))
    assert tuple(build_dataset("SynAction", str(d), "test", video_length=4, image_size=32)[0]["video"].shape) \
        == (3, 4, 32, 32)
