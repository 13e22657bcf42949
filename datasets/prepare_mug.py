"""The MUG release -> `<subject>_<expression>_<seq:03d>_<i:02d>.npy` files, as the authors prepared it
(DATA.md, "MUG Facial Expression"; used by `python -m datasets.prepare --layout mug`).

Both folder shapes of the release are read: `<subject>/<expression>/<take>/` and
`<subject>/session<k>/<expression>/<take>/` (frames directly in the expression folder are
accepted too). Take folders whose name contains `end` are skipped; frames are the `*.jpg`
files in sorted file-name order (`frames='any'`: every image file, natural order); recordings
under 40 frames are skipped; the face box is found on the first frame by the detector given
(see `datasets.prepare.haar_detector`); every frame is cropped to it (resized to `size` when
non-zero; 0 keeps the native resolution, the published choice); 4 interleaved sub-videos
(frames i, i+4, ...) are written. `seq` numbers the kept recordings of one (subject, expression)
from 0, over all its sessions in order.
"""
import os
import re

import cv2
import numpy as np

from . import mug
from .errors import DatasetError
from .media import frame_files, natural_key, read_image

MIN_FRAMES, PARTS = 40, 4
FRAME_CHOICES = ("jpg", "any")
SESSION = re.compile(r"session\d*", re.IGNORECASE)


def recording_frames(folder, frames="jpg"):
    """Frame files of a recording folder: `*.jpg` in sorted name order ('jpg', published) or every image
    file by content in natural order ('any'); returns a list of paths."""
    if frames == "any":
        return frame_files(folder)
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder))
            if n.endswith(".jpg") and os.path.isfile(os.path.join(folder, n))]


def mug_jobs(src, frames="jpg"):
    """Recording folders under `src` (those holding frames); returns a list of dicts subject, session,
    expression, take, folder (take '' for frames directly in the expression folder; folder deeper
    than a take: expression None), in the order seq is counted: subject, expression, session, take."""
    jobs = []
    for dirpath, dirnames, _ in os.walk(src):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        parts = os.path.relpath(dirpath, src).split(os.sep)
        if len(parts) < 2 or not recording_frames(dirpath, frames):
            continue
        session = parts[1] if SESSION.fullmatch(parts[1]) and len(parts) > 2 else ""
        rest = parts[2:] if session else parts[1:]
        jobs.append({"subject": parts[0], "session": session, "expression": rest[0] if len(rest) <= 2 else None,
                     "take": rest[1] if len(rest) == 2 else "", "folder": dirpath})
    return sorted(jobs, key=lambda j: (natural_key(j["subject"]), (j["expression"] or "").lower(),
                                       natural_key(j["session"]), natural_key(j["take"]), j["folder"]))


def face_crop(files, detect, size):
    """Read `files`, crop each to the box `detect` finds on the first; returns uint8 `[T, h, w, 3]`
    (resized to `size` x `size` with INTER_AREA when size is non-zero)."""
    first = read_image(files[0])
    box = detect(first)
    if box is None:
        raise DatasetError("no face found in the first frame")
    x, y, w, h = box
    cropped = []
    for f in files:
        frame = read_image(f) if cropped else first
        if frame.shape != first.shape:
            raise DatasetError(f"frame {f} differs in size from the first frame")
        crop = frame[y:y + h, x:x + w]
        cropped.append(crop if not size else cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(cropped)


class MugPreparation:
    """Prepares MUG recordings one job at a time (`__call__(job)` -> written paths, DatasetError with the
    reason for a skipped one), numbering the kept recordings of each (subject, expression)."""

    def __init__(self, out, detect, size=0, frames="jpg", save=None):
        self.out, self.detect, self.size, self.frames, self.save = out, detect, size, frames, save
        self.kept = {}

    def __call__(self, job):
        expression = (job["expression"] or "").lower()
        if job["expression"] is None:
            raise DatasetError("folder is deeper than <subject>/[session<k>/]<expression>/<take>/")
        if "end" in job["take"]:
            raise DatasetError("take folder name contains 'end' (skipped, as the published preprocessing did)")
        if expression not in mug.ACTIONS:
            raise DatasetError(f"unknown expression {job['expression']!r} (known: {', '.join(mug.ACTIONS)})")
        if "_" in job["subject"]:
            raise DatasetError(f"subject name {job['subject']!r} contains '_'")
        files = recording_frames(job["folder"], self.frames)
        if len(files) < MIN_FRAMES:
            raise DatasetError(f"{len(files)} frames; recordings under {MIN_FRAMES} frames are skipped")
        video = face_crop(files, self.detect, self.size)
        seq = self.kept.get((job["subject"], expression), 0)
        written = [self.save(os.path.join(self.out, f"{job['subject']}_{expression}_{seq:03d}_{i:02d}.npy"),
                             video[i::PARTS]) for i in range(PARTS)]
        self.kept[(job["subject"], expression)] = seq + 1
        return written
