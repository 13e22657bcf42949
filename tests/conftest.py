"""Shared fixtures: small model configurations and random batches."""
import os
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_WEIZMANN = REPO_ROOT.parent / "shared" / "datasets" / "weizmann_mocogan"
if str(REPO_ROOT) not in sys.path:  # running pytest without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT))

SMALL = dict(cont_dim=16, motion_dim=8, gf_dim=4, image_ndf=4, video_ndf=4)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


def random_batch(batch_size=2, num_categories=3, frames=10, seed=0):
    """Images `[B, 3, T, 64, 64]` in [-1, 1], labels `[B]`, one-hot `[B, nc]`."""
    from utils.core.data_stream import Batch
    from models.blocks import one_hot
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch_size, 3, frames, 64, 64, generator=g) * 2 - 1
    labels = torch.arange(batch_size) % num_categories
    return Batch(images, labels, one_hot(labels, num_categories))


def synthetic_checkpoint(tmp_path, train_args, iteration):
    """A training checkpoint of untrained networks on tiny synthetic data (`large` design, 5 videos per
    class, 12 frames) under `tmp_path`, configured by `train_args`; returns its path."""
    from datasets import synthetic
    from models import TwoStreamNetworks
    from utils.core.checkpoint import save_checkpoint
    from utils.training.optimization import build_optimizers
    from utils.training.options import parse_train_options
    root = tmp_path / "data"
    synthetic.generate(str(root), seed=0, videos_per_class=5, n_frames=12, design="large")
    config = parse_train_options(["--dataset", "synthetic", "--dataroot", str(root), *train_args,
                                  "--checkpoint_dir", str(tmp_path / "ck")])
    nets = TwoStreamNetworks.from_config(config, len(synthetic.CLASSES))
    optimizers = build_optimizers(nets.parameter_groups(), lr=config["lr"])
    path = str(tmp_path / f"{iteration}.pth")
    save_checkpoint(path, {"iteration": iteration, "networks": nets.state_dict(), "config": config,
                           "optimizers": {n: o.state_dict() for n, o in optimizers.items()}})
    return path
