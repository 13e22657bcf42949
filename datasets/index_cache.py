"""An optional on-disk cache of a split's index, trusted only when its key and file fingerprint match.

The cache is one JSON file per (dataset, split, options) in `cache_dir`
(default `<dataroot>/.twostreamvan_index`).  It stores the key (dataset,
loader version, split, clip options), the fingerprint of the data files (name,
size, mtime) and the index (entries and rejected files).  A file whose key or
fingerprint differs, or that cannot be parsed, is reported (logged) and
rebuilt; a folder that cannot be written (read-only data) just means no cache.
"""
import dataclasses
import hashlib
import json
import os

from .base import VideoEntry
from .errors import logger, reject

CACHE_FOLDER = ".twostreamvan_index"


def fingerprint(root, names):
    """Name, size and mtime of each of `names` in `root`; returns a dict name -> [size, mtime_ns]."""
    out = {}
    for name in names:
        st = os.stat(os.path.join(root, name))
        out[name] = [st.st_size, st.st_mtime_ns]
    return out


def cache_path(cache_dir, key):
    """Path of the cache file for `key` (a JSON-able dict) in `cache_dir`; returns a str."""
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(cache_dir, f"{key['dataset']}_{key['split']}_{digest}.json")


def load(path, key, prints):
    """Entries and rejects from the cache at `path` if its key and fingerprint match, else None (logged)."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("key") != key:
            logger.info("index cache %s was made with other options; rebuilding it", path)
            return None
        if data.get("fingerprint") != prints:
            logger.info("index cache %s is stale (data files changed); rebuilding it", path)
            return None
        entries = [VideoEntry(**{**e, "files": tuple(e.get("files", ()))}) for e in data["entries"]]
        return entries, [tuple(r) for r in data["rejected"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        logger.warning("index cache %s is unreadable (%s); rebuilding it", path, err)
        return None


def save(path, key, prints, entries, rejected):
    """Write the cache atomically; returns True on success, False when the folder is not writable."""
    data = {"key": key, "fingerprint": prints, "rejected": [list(r) for r in rejected],
            "entries": [{**dataclasses.asdict(e), "files": list(e.files)} for e in entries]}
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
        return True
    except OSError as err:
        logger.info("index cache not written to %s: %s", path, err.strerror or err)
        try:
            os.remove(tmp)
        except OSError:
            pass
        return False


def cached_index(root, names, key, build, cache=True, cache_dir=None):
    """Index of the files `names` in `root`: from a matching cache, else `build()` (then cached).

    `build` returns `(entries, rejected)` with `rejected` a list of `(path, reason)`;
    every rejected file is reported with one warning line, cached or not.
    Returns the list of VideoEntry.
    """
    prints = fingerprint(root, names)
    path = cache_path(cache_dir or os.path.join(root, CACHE_FOLDER), key) if cache else None
    found = load(path, key, prints) if cache else None
    if found is None:
        entries, rejected = build()
        if cache:
            save(path, key, prints, entries, rejected)
    else:
        entries, rejected = found
    for file_path, reason in rejected:
        reject(file_path, reason)
    return entries
