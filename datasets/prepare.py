"""Raw data -> the layouts the loaders read: `python -m datasets.prepare --layout L --src DIR --out DIR`.

  weizmann  `<actor>_<action>.avi` (any depth under --src) -> `<out>/<actor>_<action>.npy`,
            uint8 RGB `[H, W, C, T]` at the original frame size.
  mug       the MUG release, `<src>/<subject>/<expression>/<take>/` or
            `<src>/<subject>/session<k>/<expression>/<take>/` frame folders, prepared as the
            authors did (datasets/prepare_mug.py, DATA.md): `end` takes skipped, `*.jpg` frames in
            sorted order (--frames any: every image, natural order), recordings under 40 frames
            skipped, face box = union of all detections of OpenCV's haarcascade_frontalface_alt
            (scaleFactor 1.1, minNeighbors 5) on the first frame (--face_box largest: the largest
            detection of at least 30x30; --cascade FILE|alt|default), every frame cropped to it
            at native resolution (--size S resizes to SxS with INTER_AREA); 4 interleaved
            sub-videos (frames i, i+4, ...) written as `<out>/<subject>_<expression>_<seq:03d>_<i:02d>.npy`,
            `[T, H, W, C]`, `seq` counting the kept recordings of a (subject, expression) over
            its sessions. OpenCV 5.x has no Haar cascade in its main wheels: there --face_crop
            center (centred square, no detection) is the fallback you must ask for.
  generic   `<src>/<class>/<video>` (video file, frame folder or strip) -> `<out>/<class>/<video>.png`
            strips of square frames (centred square crop, resized to --size, default 64).
A progress bar runs over the inputs; a summary of written files and of every
rejected input (with its reason) ends the run.  Exit status 0 when something
was written, 1 when nothing was, 2 on a usage error.
"""
import argparse
import os
import sys

import cv2
import numpy as np
from tqdm import tqdm

from . import weizmann
from .errors import DatasetError
from .folder import list_dirs, probe_video
from .media import natural_key, read_image, read_video, sniff, split_strip
from .prepare_mug import FRAME_CHOICES, MugPreparation, mug_jobs

LAYOUTS = ("weizmann", "mug", "generic")


def save_npy(path, array):
    """Write `array` to `path` through a hidden temporary file and a rename; returns path."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array))
    os.replace(tmp, path)
    return path


def square_resize(frame, size):
    """Centred square crop of `frame` `[H, W, 3]` resized to `size` (0 keeps it); returns uint8 `[s, s, 3]`."""
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = frame[top:top + side, left:left + side]
    return crop if not size or side == size else cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


CASCADES = {"alt": "haarcascade_frontalface_alt.xml", "default": "haarcascade_frontalface_default.xml"}
FACE_BOXES = ("union", "largest")


def haar_detector(cascade=None, box="union"):
    """Frontal-face detector from an OpenCV Haar cascade: `cascade` a file, 'alt' or 'default' (OpenCV's
    bundled haarcascade_frontalface_<name>.xml; None: 'alt', the published one). box 'union': the
    union of all detections (scaleFactor 1.1, minNeighbors 5, published); 'largest': the largest one
    of at least 30x30. Returns `f(rgb) -> (x, y, w, h) | None`, or raises DatasetError."""
    name = CASCADES.get(cascade or "alt")
    path = os.path.join(getattr(getattr(cv2, "data", None), "haarcascades", ""), name) if name else cascade
    if not hasattr(cv2, "CascadeClassifier"):
        raise DatasetError(f"OpenCV {cv2.__version__} has no cv2.CascadeClassifier (moved to opencv-contrib "
                           f"in 5.x): install opencv-python-headless 4.x for the published Haar face crop, "
                           f"or pass --face_crop center")
    classifier = cv2.CascadeClassifier(path)
    if not os.path.isfile(path) or classifier.empty():
        raise DatasetError(f"Haar cascade {path} not found or unreadable; pass --cascade "
                           f"haarcascade_frontalface_alt.xml or --face_crop center")

    def detect(rgb):
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if box == "largest":
            faces = classifier.detectMultiScale(gray, 1.1, 5, minSize=(30, 30))
            return tuple(int(v) for v in max(faces, key=lambda b: b[2] * b[3])) if len(faces) else None
        faces = classifier.detectMultiScale(gray, 1.1, 5)
        if len(faces) == 0:
            return None
        x0, y0 = min(int(f[0]) for f in faces), min(int(f[1]) for f in faces)
        x1, y1 = max(int(f[0] + f[2]) for f in faces), max(int(f[1] + f[3]) for f in faces)
        return x0, y0, x1 - x0, y1 - y0
    return detect


def centre_box(rgb):
    """Centred square box of a frame (the --face_crop center fallback); returns `(x, y, w, h)`."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    return (w - side) // 2, (h - side) // 2, side, side


def weizmann_jobs(src):
    """Video files under `src` (any depth), sorted; returns a list of paths."""
    found = []
    for dirpath, dirnames, files in os.walk(src):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [os.path.join(dirpath, f) for f in files if not f.startswith(".")
                  and sniff(os.path.join(dirpath, f)) == "video"]
    return sorted(found, key=natural_key)


def prepare_weizmann(path, out):
    """Convert one `<actor>_<action>.avi` to `<out>/<actor>_<action>.npy` `[H, W, C, T]`; returns written paths."""
    stem = os.path.splitext(os.path.basename(path))[0]
    actor, _, field = stem.partition("_")
    if not field or "_" in field:
        raise DatasetError("name is not <actor>_<action>")
    if weizmann.action_of(field) is None or actor not in weizmann.ACTORS:
        raise DatasetError(f"unknown actor or action in {stem!r}")
    frames = read_video(path)
    return [save_npy(os.path.join(out, f"{stem}.npy"), frames.transpose(1, 2, 3, 0))]


def generic_jobs(src):
    """`(class, path)` of every video in `<src>/<class>/`, natural order; returns a list."""
    return [(cls, os.path.join(src, cls, n)) for cls in list_dirs(src)
            for n in sorted(os.listdir(os.path.join(src, cls)), key=natural_key) if not n.startswith(".")]


def prepare_generic(job, out, size):
    """Write one video as a PNG strip `<out>/<class>/<name>.png` of square `size` frames; returns written paths."""
    cls, path = job
    kind, _, files = probe_video(path)
    if kind == "strip":
        frames = split_strip(read_image(path))
    elif kind == "frames":
        frames = [read_image(f) for f in files]
    else:
        frames = read_video(path)
    strip = np.concatenate([square_resize(f, size) for f in frames], axis=1)
    name = os.path.basename(path) if kind == "frames" else os.path.splitext(os.path.basename(path))[0]
    target = os.path.join(out, cls, f"{name}.png")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DatasetError("PNG encoding failed")
    tmp = os.path.join(os.path.dirname(target), f".{name}.png.tmp")
    buf.tofile(tmp)
    os.replace(tmp, target)
    return [target]


def run(layout, src, out, size=None, face_crop="haar", cascade=None, progress=True, face_box="union",
        frames="jpg"):
    """Prepare `src` into `out` for `layout`; returns `(written paths, [(input, reason), ...])`.
    size None: the layout's default (mug 0 = native resolution, generic 64)."""
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    if not os.path.isdir(src):
        raise DatasetError(f"source folder {src} does not exist")
    os.makedirs(out, exist_ok=True)
    if layout == "weizmann":
        jobs, work = weizmann_jobs(src), (lambda j: prepare_weizmann(j, out))
    elif layout == "mug":
        detect = centre_box if face_crop == "center" else haar_detector(cascade, face_box)
        jobs, work = mug_jobs(src, frames), MugPreparation(out, detect, size or 0, frames, save_npy)
    else:
        jobs, work = generic_jobs(src), (lambda j: prepare_generic(j, out, 64 if size is None else size))
    written, rejected = [], []
    for job in tqdm(jobs, desc=f"prepare {layout}", unit="video", disable=not progress):
        source = job if isinstance(job, str) else job["folder"] if isinstance(job, dict) else job[-1]
        try:
            written += work(job)
        except (DatasetError, OSError, ValueError, cv2.error) as err:
            rejected.append((source, " ".join(str(err).split())))
    return written, rejected


def main(argv=None):
    """Command-line entry; prints the summary and returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m datasets.prepare", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--layout", required=True, choices=LAYOUTS)
    parser.add_argument("--src", required=True, help="raw data folder")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--size", type=int, default=None,
                        help="frame side: mug 0 = native resolution of the face box (published), generic 64")
    parser.add_argument("--face_crop", choices=("haar", "center"), default="haar",
                        help="MUG face crop: haar detection, or center (centred square, no detection)")
    parser.add_argument("--cascade", default=None,
                        help="MUG Haar cascade: a file, or alt / default (OpenCV's bundled "
                             "haarcascade_frontalface_<name>.xml); default alt, the published one")
    parser.add_argument("--face_box", choices=FACE_BOXES, default="union",
                        help="MUG: union of all detections (published) or the largest one of at least 30x30")
    parser.add_argument("--frames", choices=FRAME_CHOICES, default="jpg",
                        help="MUG frames: *.jpg in sorted name order (published), or any image file, natural order")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        written, rejected = run(args.layout, args.src, args.out, args.size, args.face_crop,
                                args.cascade, progress=not args.quiet, face_box=args.face_box, frames=args.frames)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    recordings = f" ({len(written) // 4} recordings)" if args.layout == "mug" else ""
    print(f"wrote {len(written)} files{recordings} to {os.path.abspath(args.out)} ({args.layout} layout)")
    if rejected:
        print(f"rejected {len(rejected)} inputs:")
        for source, reason in rejected:
            print(f"  {source}: {reason}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
