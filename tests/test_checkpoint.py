"""Atomic save / checked load / listing and pruning of checkpoints."""
import os

import pytest
import torch

from utils.core import checkpoint as ckpt
from utils.core.checkpoint import (CheckpointError, checkpoint_path, list_checkpoints, load_checkpoint,
                              prune_checkpoints, save_checkpoint)


def _state():
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    optimiser = torch.optim.Adam(layer.parameters(), lr=1e-3, betas=(0.5, 0.999))
    layer(torch.ones(1, 3)).sum().backward()
    optimiser.step()
    return {
        "iteration": 1200,
        "lr": 2e-4,
        "phase": "video",
        "flags": {"dataset": "MUG", "kernel_layer": 4, "joint": True, "steps": [1, 2, 3]},
        "model": layer.state_dict(),
        "optimiser": optimiser.state_dict(),
        "history": [0.5, {"nested": torch.arange(4)}],
        "rng": torch.get_rng_state(),
        "none": None,
    }


def _assert_same(a, b):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict))
    if isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    else:
        assert a == b


def test_round_trip_nested_state(tmp_path):
    state = _state()
    path = str(tmp_path / "run" / "latest.pth")  # parent directory is created
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    _assert_same(state, loaded)
    assert "format" not in loaded
    assert os.listdir(tmp_path / "run") == ["latest.pth"]  # no temporary left behind


def test_missing_file_named(tmp_path):
    path = str(tmp_path / "nothing.pth")
    with pytest.raises(CheckpointError, match="nothing.pth.*not found"):
        load_checkpoint(path)


def test_truncated_file_named(tmp_path):
    path = str(tmp_path / "1000.pth")
    save_checkpoint(path, _state())
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"1000\.pth.*truncated or corrupt") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_garbage_file_named(tmp_path):
    path = str(tmp_path / "garbage.pth")
    with open(path, "wb") as handle:
        handle.write(os.urandom(3000))
    with pytest.raises(CheckpointError, match=r"garbage\.pth.*truncated or corrupt") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("foreign", [{"model": torch.zeros(2)}, [torch.zeros(1)],
                                     {"format": "something-else"}])
def test_foreign_torch_file_rejected(tmp_path, foreign):
    path = str(tmp_path / "foreign.pth")
    torch.save(foreign, path)
    with pytest.raises(CheckpointError, match=r"foreign\.pth.*not a TwoStreamVAN checkpoint"):
        load_checkpoint(path)


def test_unloadable_value_refused_at_save(tmp_path):
    path = str(tmp_path / "latest.pth")
    with pytest.raises(TypeError, match=r"\['sampler'\]"):
        save_checkpoint(path, {"sampler": object()})
    assert not os.path.exists(path) and os.listdir(tmp_path) == []


def test_failure_in_torch_save_keeps_existing_file(tmp_path, monkeypatch):
    path = str(tmp_path / "latest.pth")
    save_checkpoint(path, {"iteration": 1})
    real_save = torch.save

    def broken_save(obj, handle, *args, **kwargs):
        handle.write(b"partial bytes")  # something reaches the disk, then the write dies
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"iteration": 2})
    monkeypatch.setattr(ckpt.torch, "save", real_save)
    assert load_checkpoint(path) == {"iteration": 1}
    assert os.listdir(tmp_path) == ["latest.pth"]


def test_failure_in_rename_keeps_existing_file(tmp_path, monkeypatch):
    path = str(tmp_path / "latest.pth")
    save_checkpoint(path, {"iteration": 1})

    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(ckpt.os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        save_checkpoint(path, {"iteration": 2})
    monkeypatch.undo()
    assert load_checkpoint(path) == {"iteration": 1}
    assert os.listdir(tmp_path) == ["latest.pth"]


def test_overwrite_replaces_content(tmp_path):
    path = checkpoint_path(str(tmp_path), "latest")
    save_checkpoint(path, {"iteration": 1})
    save_checkpoint(path, {"iteration": 2})
    assert load_checkpoint(path) == {"iteration": 2}


def test_checkpoint_path_naming(tmp_path):
    assert checkpoint_path("runs/x", 2000) == os.path.join("runs/x", "2000.pth")
    assert checkpoint_path("runs/x", "latest") == os.path.join("runs/x", "latest.pth")
    with pytest.raises(ValueError):
        checkpoint_path("runs/x", "../evil")


def test_list_sorts_numerically_and_ignores_temporaries(tmp_path):
    directory = str(tmp_path)
    for name in ["2000", "latest", "10000", "300", "best"]:
        save_checkpoint(checkpoint_path(directory, name), {"name": name})
    # leftovers of a crash mid-write, and unrelated files
    for stray in [".latest.pth.abc123.tmp", ".2000.pth.x.tmp", "notes.txt", "weird name.pth"]:
        (tmp_path / stray).write_bytes(b"junk")
    os.mkdir(tmp_path / "500.pth")  # a directory is not a checkpoint
    assert list_checkpoints(directory) == ["best", "latest", "300", "2000", "10000"]
    assert list_checkpoints(str(tmp_path / "missing")) == []


def test_prune_keeps_newest_numbered_and_named(tmp_path):
    directory = str(tmp_path)
    for name in ["100", "latest", "900", "1000", "20", "best"]:
        save_checkpoint(checkpoint_path(directory, name), {"name": name})
    removed = prune_checkpoints(directory, keep_last=2)
    assert removed == ["20", "100"]
    assert list_checkpoints(directory) == ["best", "latest", "900", "1000"]
    assert prune_checkpoints(directory, keep_last=5) == []
    assert prune_checkpoints(directory, keep_last=0) == ["900", "1000"]
    assert list_checkpoints(directory) == ["best", "latest"]
    with pytest.raises(ValueError):
        prune_checkpoints(directory, keep_last=-1)
