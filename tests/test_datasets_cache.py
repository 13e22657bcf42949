"""The index cache: reused when it matches, rebuilt when options, files or its own content differ."""
import json
import os

import pytest

from datasets import build_dataset, weizmann
from datasets.index_cache import CACHE_FOLDER
from datasets_fixtures import coded_video, logged, write_npy


@pytest.fixture
def root(tmp_path):
    d = tmp_path / "w"
    d.mkdir()
    for name in ("daria_bend", "denis_walk"):
        write_npy(str(d / f"{name}.npy"), coded_video(30, 10, 10).transpose(1, 2, 3, 0))
    (d / "eli_walk.npy").write_bytes(b"junk")
    return d


@pytest.fixture
def probes(monkeypatch):
    calls = []
    real = weizmann.probe_video_npy

    def spy(path, layout):
        calls.append(os.path.basename(path))
        return real(path, layout)
    monkeypatch.setattr(weizmann, "probe_video_npy", spy)
    return calls


def build(root, **kw):
    return build_dataset("Weizmann", str(root), kw.pop("split", "train"), video_length=kw.pop("video_length", 4), **kw)


def test_cache_reused_and_rejections_still_reported(root, probes, caplog):
    first = build(root)
    assert len(probes) == 3 and len(os.listdir(root / CACHE_FOLDER)) == 1
    probes.clear()
    caplog.clear()
    with caplog.at_level("WARNING", logger="datasets"):
        second = build(root)
    assert probes == []  # nothing probed: the index came from the cache
    assert [(e.name, e.start, e.end) for e in second.entries] == [(e.name, e.start, e.end) for e in first.entries]
    assert sum("eli_walk.npy" in m for m in logged(caplog)) == 1


def test_other_options_use_another_cache(root, probes):
    build(root)
    probes.clear()
    build(root, video_length=5)
    build(root, split="test")
    assert len(probes) == 6 and len(os.listdir(root / CACHE_FOLDER)) == 3


def test_changed_file_rebuilds(root, probes):
    build(root)
    write_npy(str(root / "daria_bend.npy"), coded_video(45, 10, 10).transpose(1, 2, 3, 0))
    probes.clear()
    ds = build(root)
    assert len(probes) == 3
    assert {e.name: e.end for e in ds.entries}["daria_bend"] == 30
    os.remove(root / "denis_walk.npy")
    assert [e.name for e in build(root).entries] == ["daria_bend"]


def test_foreign_or_corrupt_cache_is_not_trusted(root, probes):
    build(root)
    (path,) = [os.path.join(root, CACHE_FOLDER, f) for f in os.listdir(root / CACHE_FOLDER)]
    data = json.load(open(path))
    data["key"]["version"] = -1
    data["entries"] = []
    json.dump(data, open(path, "w"))
    probes.clear()
    assert len(build(root)) == 2 and len(probes) == 3
    open(path, "w").write("{not json")
    probes.clear()
    assert len(build(root)) == 2 and len(probes) == 3


def test_unwritable_cache_and_disabled_cache(root, tmp_path, probes):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert len(build(root, cache_dir=str(blocker / "sub"))) == 2  # cannot create: works without cache
    assert len(build(root, cache=False)) == 2
    assert not (root / CACHE_FOLDER).exists()
    os.chmod(root, 0o555)
    try:
        assert len(build(root)) == 2  # read-only data folder (not enforced when running as root)
    finally:
        os.chmod(root, 0o755)
