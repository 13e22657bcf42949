"""Reading videos stored as image strips, folders of frames or video files, recognised by content.

Images are decoded with OpenCV from their bytes (so a PNG named `.jpg` is read
as PNG); alpha is dropped, gray is repeated to three channels, everything is
returned as uint8 RGB.  Video files (.avi, .mp4, ...) are decoded with
`cv2.VideoCapture`.
"""
import os
import re

import cv2
import numpy as np
from PIL import Image

from .errors import DatasetError, logger

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*")
_VIDEO_EXTS = {".avi", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv"}


def natural_key(text):
    """Sort key that orders embedded numbers numerically ('2' < '10'); returns a tuple."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def sniff(path):
    """Kind of the file at `path` from its first bytes: 'image', 'video' or None (unknown)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") or head[:4] == b"\x1aE\xdf\xa3":
        return "video"
    if os.path.splitext(path)[1].lower() in _VIDEO_EXTS and len(head) > 0:
        return "video"
    return None


def as_rgb(image):
    """Bring one decoded OpenCV image (BGR, BGRA or gray; uint8 or uint16) to uint8 RGB `[H, W, 3]`."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DatasetError(f"unsupported pixel type {image.dtype}, expected 8 or 16 bit")
    if image.ndim == 2 or image.shape[2] == 1:
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    code = cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(image, code)


def read_image(path):
    """Decode the image file at `path` by content; returns uint8 RGB `[H, W, 3]` or raises DatasetError."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise DatasetError(f"cannot read {path}: {err.strerror or err}") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise DatasetError(f"cannot decode image {path} (corrupt or unsupported format)")
    return as_rgb(image)


def image_shape(path):
    """Height and width of the image at `path` read from its header; returns `(h, w)` or raises DatasetError."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception as err:  # PIL raises many types for bad files
        raise DatasetError(f"cannot read the image header ({type(err).__name__})") from None
    return h, w


def strip_length(height, width, path="strip"):
    """Number of square frames in a `height x width` strip laid along its longer side; returns an int."""
    side, longer = min(height, width), max(height, width)
    if side == 0 or longer % side:
        raise DatasetError(f"image {path} is {height}x{width}: the longer side is not a multiple "
                           f"of the shorter one (expected a strip of square frames)")
    return longer // side


def split_strip(image):
    """Cut a strip `[H, W, 3]` of square frames along its longer side; returns `[T, s, s, 3]`."""
    h, w = image.shape[:2]
    side = min(h, w)
    n = strip_length(h, w)
    if w >= h:
        return image.reshape(side, n, side, 3).transpose(1, 0, 2, 3)
    return image.reshape(n, side, side, 3)


def frame_files(folder):
    """Image files (by content) in `folder`, natural-sorted; returns a list of paths."""
    names = sorted((n for n in os.listdir(folder) if not n.startswith(".")), key=natural_key)
    paths = [os.path.join(folder, n) for n in names]
    return [p for p in paths if os.path.isfile(p) and sniff(p) == "image"]


def video_frame_count(path):
    """Number of frames of the video file at `path` (container count, else decoded); returns an int."""
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise DatasetError(f"cannot open video {path} with OpenCV (corrupt or unsupported codec)")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:
            count = 0
            while cap.grab():
                count += 1
        return count
    finally:
        cap.release()


def read_video_frames(path, indices):
    """Decode the frames `indices` (ints) of the video file at `path`; returns uint8 RGB `[len(indices), H, W, 3]`.

    When the file holds fewer frames than its header claims, missing frames
    repeat the last decoded one (logged once per call).
    """
    wanted = sorted(set(indices))
    got = {}
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise DatasetError(f"cannot open video {path} with OpenCV (corrupt or unsupported codec)")
        last, pos = None, 0
        for target in wanted:
            while pos <= target:
                if pos == target:
                    ok, frame = cap.read()
                else:
                    ok, frame = cap.grab(), None
                if not ok:
                    break
                if frame is not None:
                    last = as_rgb(frame)
                    got[target] = last
                pos += 1
            if target not in got:
                break
    finally:
        cap.release()
    if last is None:
        raise DatasetError(f"no frame could be decoded from video {path}")
    if len(got) < len(wanted):
        logger.warning("video %s ended early; repeating its last decoded frame", path)
    fill = got[max(got)]
    return np.stack([got.get(i, fill) for i in indices])


def read_video(path):
    """Decode every frame of the video file at `path`; returns uint8 RGB `[T, H, W, 3]` or raises DatasetError."""
    cap = cv2.VideoCapture(path)
    frames = []
    try:
        if not cap.isOpened():
            raise DatasetError(f"cannot open video {path} with OpenCV (corrupt or unsupported codec)")
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(as_rgb(frame))
    finally:
        cap.release()
    if not frames:
        raise DatasetError(f"no frame could be decoded from video {path}")
    if len({f.shape for f in frames}) > 1:
        raise DatasetError(f"frames of video {path} differ in size")
    return np.stack(frames)
