"""Raw data -> the layouts the loaders read: `python -m datasets.prepare --layout L --src DIR --out DIR`.

  weizmann  `<actor>_<action>.avi` (any depth under --src) -> `<out>/<actor>_<action>.npy`,
            uint8 RGB `[H, W, C, T]` at the original frame size.
  mug       recordings as frame folders `<src>/<actor>/<expression>/<take>/` (or frames directly
            in `<src>/<actor>/<expression>/`); recordings under 40 frames are skipped; a face box
            found on the first frame crops every frame, resized to --size (default 64, 0 keeps
            it); 4 interleaved sub-videos (frames i, i+4, ...) are written as
            `<out>/<actor>_<expression>_<seq:03d>_<i:02d>.npy`, `[T, H, W, C]`, `seq` = take index
            in natural order.  --face_crop haar (default) uses OpenCV's frontal-face Haar
            cascade (`cv2.data.haarcascades`, or --cascade FILE); OpenCV 5.x has no Haar cascade
            in its main wheels, so there --face_crop center (centred square, no detection) is
            the fallback you must ask for.
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

from . import mug, weizmann
from .errors import DatasetError
from .folder import list_dirs, probe_video
from .media import frame_files, natural_key, read_image, read_video, sniff, split_strip

LAYOUTS = ("weizmann", "mug", "generic")
MUG_MIN_FRAMES, MUG_PARTS = 40, 4


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


def haar_detector(cascade=None):
    """Frontal-face detector from OpenCV's Haar cascade; returns `f(rgb) -> (x, y, w, h) | None` or raises DatasetError."""
    path = cascade or os.path.join(getattr(getattr(cv2, "data", None), "haarcascades", ""),
                                   "haarcascade_frontalface_default.xml")
    if not hasattr(cv2, "CascadeClassifier"):
        raise DatasetError(f"OpenCV {cv2.__version__} has no cv2.CascadeClassifier (moved to opencv-contrib "
                           f"in 5.x): install opencv-python-headless 4.x for the published Haar face crop, "
                           f"or pass --face_crop center")
    classifier = cv2.CascadeClassifier(path)
    if not os.path.isfile(path) or classifier.empty():
        raise DatasetError(f"Haar cascade {path} not found or unreadable; pass --cascade "
                           f"haarcascade_frontalface_default.xml or --face_crop center")

    def detect(rgb):
        faces = classifier.detectMultiScale(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 1.1, 5, minSize=(30, 30))
        if len(faces) == 0:
            return None
        return tuple(int(v) for v in max(faces, key=lambda b: b[2] * b[3]))
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


def mug_jobs(src):
    """Recordings under `src`: `(actor, expression, seq, folder)` tuples in natural order; returns a list."""
    groups = {}
    for dirpath, dirnames, _ in os.walk(src):
        dirnames[:] = sorted((d for d in dirnames if not d.startswith(".")), key=natural_key)
        parts = os.path.relpath(dirpath, src).split(os.sep)
        if len(parts) >= 2 and frame_files(dirpath):
            groups.setdefault((parts[0], parts[1]), []).append(dirpath)
    return [(actor, action, seq, folder) for (actor, action), folders in sorted(groups.items())
            for seq, folder in enumerate(sorted(folders, key=natural_key))]


def prepare_mug(job, out, size, detect):
    """Face-crop one recording and write its 4 interleaved sub-videos; returns written paths."""
    actor, action, seq, folder = job
    expression = action.lower()
    if expression not in mug.ACTIONS:
        raise DatasetError(f"unknown expression {action!r} (known: {', '.join(mug.ACTIONS)})")
    if "_" in actor:
        raise DatasetError(f"actor name {actor!r} contains '_'")
    files = frame_files(folder)
    if len(files) < MUG_MIN_FRAMES:
        raise DatasetError(f"{len(files)} frames; recordings under {MUG_MIN_FRAMES} frames are skipped")
    first = read_image(files[0])
    box = detect(first)
    if box is None:
        raise DatasetError("no face found in the first frame")
    x, y, w, h = box
    frames = []
    for f in files:
        frame = read_image(f) if frames else first
        if frame.shape != first.shape:
            raise DatasetError(f"frame {f} differs in size from the first frame")
        crop = frame[y:y + h, x:x + w]
        frames.append(crop if not size else cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    frames = np.stack(frames)
    return [save_npy(os.path.join(out, f"{actor}_{expression}_{seq:03d}_{i:02d}.npy"), frames[i::MUG_PARTS])
            for i in range(MUG_PARTS)]


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


def run(layout, src, out, size=None, face_crop="haar", cascade=None, progress=True):
    """Prepare `src` into `out` for `layout`; returns `(written paths, [(input, reason), ...])`."""
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    if not os.path.isdir(src):
        raise DatasetError(f"source folder {src} does not exist")
    os.makedirs(out, exist_ok=True)
    if layout == "weizmann":
        jobs, work = weizmann_jobs(src), (lambda j: prepare_weizmann(j, out))
    elif layout == "mug":
        detect = centre_box if face_crop == "center" else haar_detector(cascade)
        jobs, work = mug_jobs(src), (lambda j: prepare_mug(j, out, 64 if size is None else size, detect))
    else:
        jobs, work = generic_jobs(src), (lambda j: prepare_generic(j, out, 64 if size is None else size))
    written, rejected = [], []
    for job in tqdm(jobs, desc=f"prepare {layout}", unit="video", disable=not progress):
        source = job if isinstance(job, str) else job[-1]
        try:
            written += work(job)
        except (DatasetError, OSError, ValueError, cv2.error) as err:
            rejected.append((source, " ".join(str(err).split())))
    return written, rejected


def main(argv=None):
    """Command-line entry; prints the summary and returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m datasets.prepare", description=__doc__.split("\n")[0])
    parser.add_argument("--layout", required=True, choices=LAYOUTS)
    parser.add_argument("--src", required=True, help="raw data folder")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--size", type=int, default=None,
                        help="frame side for mug/generic (default 64; 0 keeps the crop size)")
    parser.add_argument("--face_crop", choices=("haar", "center"), default="haar", help="MUG face crop")
    parser.add_argument("--cascade", default=None, help="Haar cascade XML (default: OpenCV's bundled one)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        written, rejected = run(args.layout, args.src, args.out, args.size, args.face_crop,
                                args.cascade, progress=not args.quiet)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files to {os.path.abspath(args.out)} ({args.layout} layout)")
    if rejected:
        print(f"rejected {len(rejected)} inputs:")
        for source, reason in rejected:
            print(f"  {source}: {reason}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
