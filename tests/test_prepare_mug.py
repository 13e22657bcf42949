"""`python -m datasets.prepare --layout mug` on tiny trees of the MUG release's two shapes, with the
published defaults: session folders, `end` takes, short and faceless recordings, numbering over sessions."""
import os

import numpy as np

from datasets import build_dataset, prepare
from datasets_fixtures import write_frame_folder
from test_prepare_haar import face_recording


def jpg_recording(folder, video):
    """Frames as `img_<t:04d>.jpg` (PNG content, so exact), the release's naming."""
    os.makedirs(folder, exist_ok=True)
    write_frame_folder(folder, video, ext=".jpg")
    for name in os.listdir(folder):
        t = int(name[len("frame_"):-len(".jpg")])
        os.rename(os.path.join(folder, name), os.path.join(folder, f"img_{t:04d}.jpg"))
    return folder


def release_tree(src):
    """Subject 001 without sessions, subject 002 with two; returns the recordings that are kept."""
    face, brighter = face_recording(41), face_recording(44, top=40, left=60)
    jpg_recording(str(src / "001" / "anger" / "001"), np.zeros_like(face))               # faceless: skipped
    jpg_recording(str(src / "001" / "anger" / "002"), face)                              # -> 001_anger_000
    jpg_recording(str(src / "001" / "anger" / "003_end"), face)                          # 'end' take: skipped
    jpg_recording(str(src / "002" / "session1" / "happiness" / "take1"), face)           # -> 002_happiness_000
    jpg_recording(str(src / "002" / "session2" / "happiness" / "take1"), brighter)       # -> 002_happiness_001
    jpg_recording(str(src / "002" / "session2" / "happiness" / "take2"), face[:30])      # short: skipped
    jpg_recording(str(src / "002" / "session2" / "neutral" / "take1"), face)             # not an expression
    return {"001_anger_000": face, "002_happiness_000": face, "002_happiness_001": brighter}


def test_the_release_shapes_prepared_as_published(tmp_path, capsys):
    src, out = tmp_path / "MUG", tmp_path / "npy"
    kept = release_tree(src)
    assert prepare.main(["--layout", "mug", "--src", str(src), "--out", str(out), "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"wrote 12 files (3 recordings) to {out} (mug layout)" and lines[1] == "rejected 4 inputs:"
    reasons = {line.split(": ", 1)[0].strip(): line.split(": ", 1)[1] for line in lines[2:]}
    assert reasons == {
        str(src / "001" / "anger" / "001"): "no face found in the first frame",
        str(src / "001" / "anger" / "003_end"): "take folder name contains 'end' (skipped, as the published "
                                                 "preprocessing did)",
        str(src / "002" / "session2" / "happiness" / "take2"): "30 frames; recordings under 40 frames are skipped",
        str(src / "002" / "session2" / "neutral" / "take1"): "unknown expression 'neutral' (known: anger, disgust, "
                                                              "fear, happiness, sadness, surprise)"}
    assert sorted(os.listdir(out)) == [f"{stem}_{i:02d}.npy" for stem in sorted(kept) for i in range(4)]
    detect = prepare.haar_detector()
    for stem, video in kept.items():
        x, y, w, h = detect(video[0])
        for i in range(4):
            part = np.load(out / f"{stem}_{i:02d}.npy")
            assert np.array_equal(part, video[i::4, y:y + h, x:x + w])      # native resolution, frames i, i+4, ..
    test = build_dataset("MUG", str(out), "test", video_length=4)
    assert test.actors == ["001", "002"] and len(test) == 3                 # part 03 of each recording


def test_only_jpg_frames_at_the_release_depth(tmp_path):
    src, out = tmp_path / "MUG", tmp_path / "npy"
    video = face_recording(41)
    folder = jpg_recording(str(src / "003" / "fear" / "take1"), video)
    write_frame_folder(os.path.join(folder, "extra"), video[:1], ext=".jpg")  # a deeper folder: reported
    write_frame_folder(folder, video[:3], ext=".png")                       # not *.jpg: ignored
    written, rejected = prepare.run("mug", str(src), str(out), progress=False)
    assert len(written) == 4 and rejected == [(os.path.join(folder, "extra"), "folder is deeper than "
                                               "<subject>/[session<k>/]<expression>/<take>/")]
    assert len(np.load(out / "003_fear_000_00.npy")) == 11                   # 41 jpg frames, not 44


def test_a_missing_source_is_a_usage_error(tmp_path, capsys):
    assert prepare.main(["--layout", "mug", "--src", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
