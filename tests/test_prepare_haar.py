"""The MUG preparation's real Haar path (no fake detector): OpenCV's bundled frontal-face cascade loads,
finds a drawn face and a photographed one, crops every frame of a recording to the face found on the
first, and a recording without a face is rejected with the reason."""
import os

import cv2
import matplotlib
import numpy as np
import pytest

from datasets import DatasetError, prepare
from datasets_fixtures import coded_video, write_frame_folder

FACE_PHOTO = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")


def drawn_face(size=96):
    """A frontal cartoon face (skin oval, dark eyes under brows, nose, mouth) on dark gray; uint8 RGB `[s, s, 3]`."""
    image = np.full((size, size, 3), 60, np.uint8)
    c, at = size // 2, lambda f: int(round(size * f))  # noqa: E731
    cv2.ellipse(image, (c, c), (at(0.3), at(0.4)), 0, 0, 360, (225, 190, 160), -1)
    for side in (-1, 1):
        ex, ey = c + side * at(0.12), c - at(0.08)
        cv2.ellipse(image, (ex, ey), (at(0.07), at(0.035)), 0, 0, 360, (40, 30, 30), -1)
        cv2.rectangle(image, (ex - at(0.08), ey - at(0.09)), (ex + at(0.08), ey - at(0.07)), (60, 40, 30), -1)
    cv2.ellipse(image, (c, c + at(0.2)), (at(0.1), at(0.03)), 0, 0, 360, (120, 50, 50), -1)
    cv2.line(image, (c, c - at(0.02)), (c, c + at(0.1)), (190, 150, 120), 2)
    return image


def face_recording(n_frames=41, top=30, left=80):
    """A drawn face at `(top, left)` of a 160x220 frame, brightened by t in frame t; uint8 RGB `[T, H, W, 3]`."""
    frame = np.full((160, 220, 3), 60, np.uint8)
    frame[top:top + 96, left:left + 96] = drawn_face(96)
    return np.stack([np.clip(frame.astype(int) + t, 0, 255).astype(np.uint8) for t in range(n_frames)])


def test_the_bundled_cascade_loads():
    assert os.path.isfile(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
    detect = prepare.haar_detector()
    assert detect(np.full((120, 160, 3), 128, np.uint8)) is None


def test_an_unreadable_cascade_is_a_clear_error(tmp_path):
    missing = str(tmp_path / "missing.xml")
    with pytest.raises(DatasetError, match="missing.xml not found or unreadable"):
        prepare.haar_detector(missing)
    assert prepare.main(["--layout", "mug", "--src", str(tmp_path), "--out", str(tmp_path / "out"),
                         "--cascade", missing, "--quiet"]) == 2


def test_recordings_without_a_face_are_rejected_with_the_reason(tmp_path, capsys):
    src, out = tmp_path / "raw", tmp_path / "npy"
    write_frame_folder(str(src / "001" / "anger" / "take000"), coded_video(41, 48, 64))
    write_frame_folder(str(src / "002" / "fear" / "take000"), np.full((40, 48, 64, 3), 90, np.uint8))
    code = prepare.main(["--layout", "mug", "--src", str(src), "--out", str(out), "--frames", "any",
                         "--quiet"])  # haar: the default
    text = capsys.readouterr().out
    assert code == 1 and "wrote 0 files" in text and "rejected 2 inputs:" in text
    for take in (src / "001" / "anger" / "take000", src / "002" / "fear" / "take000"):
        assert f"  {take}: no face found in the first frame" in text.splitlines()
    assert not [n for n in os.listdir(out) if n.endswith(".npy")]


@pytest.mark.parametrize("top,left", [(30, 80), (50, 110), (10, 10)])
def test_the_box_follows_a_drawn_face(top, left):
    x, y, w, h = prepare.haar_detector()(face_recording(1, top, left)[0])
    assert w == h and 60 <= w <= 96                                  # the face, not the frame
    assert abs(x + w / 2 - (left + 48)) <= 6 and abs(y + h / 2 - (top + 48)) <= 6


def test_a_recording_is_cropped_to_the_face_of_its_first_frame(tmp_path, capsys):
    frames = face_recording()
    x, y, w, h = prepare.haar_detector()(frames[0])                  # published: alt cascade, union box
    src, out = tmp_path / "raw", tmp_path / "npy"
    write_frame_folder(str(src / "001" / "happiness" / "take000"), frames, ext=".jpg")
    write_frame_folder(str(src / "001" / "happiness" / "take001"), np.zeros_like(frames), ext=".jpg")
    assert prepare.main(["--layout", "mug", "--src", str(src), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "wrote 4 files" in text and "take001: no face found in the first frame" in text
    order = [int(n[6:-4]) for n in sorted(os.listdir(src / "001" / "happiness" / "take000"))]  # frame_0, _1, _10..
    for i in range(4):
        part = np.load(out / f"001_happiness_000_{i:02d}.npy")
        expected = [frames[t][y:y + h, x:x + w] for t in order[i::4]]   # native resolution, no resize
        assert part.shape == (len(expected), h, w, 3) and np.array_equal(part, np.stack(expected))


def test_the_former_choices_remain_as_options(tmp_path):
    frames = face_recording()
    x, y, w, h = prepare.haar_detector("default", "largest")(frames[0])
    src, out = tmp_path / "raw", tmp_path / "npy"
    write_frame_folder(str(src / "001" / "happiness" / "take000"), frames)        # frame_<t>.png
    assert prepare.main(["--layout", "mug", "--src", str(src), "--out", str(out), "--quiet", "--cascade", "default",
                         "--face_box", "largest", "--frames", "any", "--size", "64"]) == 0
    part = np.load(out / "001_happiness_000_01.npy")
    expected = [cv2.resize(f[y:y + h, x:x + w], (64, 64), interpolation=cv2.INTER_AREA) for f in frames[1::4]]
    assert np.array_equal(part, np.stack(expected))


def test_the_box_is_the_union_of_all_detections():
    frame = np.full((160, 330, 3), 60, np.uint8)
    frame[30:126, 20:116] = drawn_face(96)
    frame[30:126, 210:306] = drawn_face(96)
    x, y, w, h = prepare.haar_detector()(frame)
    assert x <= 30 and x + w >= 296 and 25 <= y <= 45 and 100 <= y + h <= 135    # both faces
    x, y, w, h = prepare.haar_detector("alt", "largest")(frame)
    assert w == h and w <= 100 and (x + w <= 130 or x >= 200)                    # one of them


def test_a_photographed_face_is_found():
    if not os.path.isfile(FACE_PHOTO):
        pytest.skip(f"no face picture at {FACE_PHOTO} (matplotlib's sample data)")
    photo = cv2.cvtColor(cv2.imread(FACE_PHOTO), cv2.COLOR_BGR2RGB)           # Grace Hopper, 512x600
    box = prepare.haar_detector()(photo)
    assert box is not None
    x, y, w, h = box
    assert w == h and 0.25 * photo.shape[1] < w < 0.7 * photo.shape[1]      # one face, not the picture
    assert x < photo.shape[1] / 2 < x + w and y < photo.shape[0] / 2 < y + h
