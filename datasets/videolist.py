"""The per-split video list `<textroot>/<split>_list_<tag>.txt` (lines `name start end`) of DATA.md."""
import os

from .errors import logger


def video_list_path(textroot, split, tag):
    """Path of the video list of `split` ('train'|'test') with `tag` (video_length*every_nth); returns a str."""
    return os.path.join(textroot, f"{split}_list_{tag}.txt")


def format_video_list(entries):
    """Text of a video list: one line `name start end` per entry (`end` exclusive); returns a str."""
    return "".join(f"{e.name} {e.start} {e.end}\n" for e in entries)


def write_video_list(textroot, split, tag, entries):
    """Write the video list of `entries` under `textroot` unless an identical one is there.

    Returns the path written/kept, or None when `textroot` is None or not
    writable (logged as a warning; never fatal).
    """
    if textroot is None:
        return None
    path = video_list_path(textroot, split, tag)
    text = format_video_list(entries)
    try:
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    return path
            logger.info("video list %s differs from the current index; rewriting it", path)
        os.makedirs(textroot, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as err:
        logger.warning("cannot write video list %s: %s", path, err.strerror or err)
        return None
    return path
