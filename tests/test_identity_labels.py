"""--identity_labels: VoxCeleb's identities as classes through train.py's / eval.py's options; refused elsewhere."""
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from datasets import tiny_layouts
from utils.core.data_stream import build_split
from utils.training.options import OptionError, parse_eval_options, parse_train_options


@pytest.fixture(scope="module")
def vox_root(tmp_path_factory):
    return tiny_layouts.generate("voxceleb", str(tmp_path_factory.mktemp("vox") / "VoxCeleb"))["root"]


def test_unconditional_by_default_identities_on_request(vox_root):
    base = ["--dataset", "VoxCeleb", "--dataroot", vox_root]
    plain = parse_train_options(base)
    assert plain["identity_labels"] is False
    train = build_split(plain, "train")
    assert train.classes == ["video"] and {e.label for e in train.entries} == {0}
    assert len({e.actor for e in train.entries}) == 4  # identities still known, as actors

    config = parse_train_options(base + ["--identity_labels"])
    train, test = build_split(config, "train"), build_split(config, "test")
    assert train.classes == test.classes == tiny_layouts.VOX_IDENTITIES
    assert {e.label for e in train.entries} == {0, 1, 2, 3}
    assert all(e.label == e.actor for e in train.entries + test.entries)

    evaluated = parse_eval_options(base + ["--exp_name", "VoxCeleb", "--identity_labels"])
    assert build_split(evaluated, "test").classes == tiny_layouts.VOX_IDENTITIES


@pytest.mark.parametrize("dataset", ["MUG", "Weizmann", "SynAction", "synthetic", "folder"])
def test_refused_for_datasets_without_identities(dataset):
    with pytest.raises(OptionError, match=rf"--identity_labels is not an option of --dataset {dataset} "
                                          r"\(only of: VoxCeleb\)"):
        parse_train_options(["--dataset", dataset, "--dataroot", "/tmp", "--identity_labels"])
    assert parse_train_options(["--dataset", dataset, "--dataroot", "/tmp"])["identity_labels"] is False


def test_unknown_dataset_with_identity_labels_is_a_user_error():
    with pytest.raises(OptionError, match="unknown dataset 'Kinetics'"):
        parse_train_options(["--dataset", "Kinetics", "--dataroot", "/tmp", "--identity_labels"])


def test_train_py_refuses_it_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "train.py", "--dataset", "MUG", "--dataroot", str(tmp_path),
                             "--identity_labels", "--checkpoint_dir", str(tmp_path / "ckpt")],
                            cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == ("train.py: error: --identity_labels is not an option of --dataset MUG "
                                     "(only of: VoxCeleb)")
    assert not (tmp_path / "ckpt").exists()
