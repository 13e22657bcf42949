"""--detach_feedback: free-running steps read their own earlier frames without gradient; same forward."""
import random

import torch

from conftest import SMALL
from models import TwoStreamNetworks
from models.blocks import one_hot


def unroll(detach, seed=3):
    torch.manual_seed(0)
    nets = TwoStreamNetworks(3, joint=True, detach_feedback=detach, **SMALL)
    g = nets.generator
    torch.manual_seed(seed)
    labels = one_hot(torch.tensor([0, 2]), 3)
    first = torch.rand(2, 3, 64, 64) * 2 - 1
    z_motion = torch.randn(2, 4, g.motion_dim, requires_grad=True)
    video, _, _ = g._unroll(first, z_motion, labels, 0.0, random.Random(seed))   # ε = 0: free-running
    return video, z_motion


def test_forward_is_unchanged_and_only_the_frame_path_loses_its_gradient():
    full, z_full = unroll(False)
    cut, z_cut = unroll(True)
    torch.testing.assert_close(full, cut, rtol=0, atol=0)                       # same values
    grad_full = torch.autograd.grad(full[:, :, 2].sum(), z_full)[0]
    grad_cut = torch.autograd.grad(cut[:, :, 2].sum(), z_cut)[0]
    # frame 2 = step 1: its own z_m (index 1) reaches it directly in both; step 0's z_m only through
    # frame 1 fed back (content source and motion difference), which --detach_feedback cuts
    assert grad_full[:, 1].abs().sum() > 0 and grad_cut[:, 1].abs().sum() > 0
    torch.testing.assert_close(grad_cut[:, 1], grad_full[:, 1], rtol=1e-4, atol=1e-6)
    assert grad_full[:, 0].abs().sum() > 0 and torch.count_nonzero(grad_cut[:, 0]) == 0
    assert torch.count_nonzero(grad_cut[:, 2:]) == 0 and torch.count_nonzero(grad_full[:, 2:]) == 0  # later steps


def test_option_reaches_the_generator():
    from utils.training.options import RESUME_OPTIONS, parse_train_options
    base = ["--dataset", "synthetic", "--dataroot", "x"]
    assert parse_train_options(base)["detach_feedback"] is False                # off, as published
    config = parse_train_options(base + ["--detach_feedback", "--gf_dim", "4", "--cont_dim", "8", "--motion_dim", "4",
                                         "--image_ndf", "4", "--video_ndf", "4"])
    assert TwoStreamNetworks.from_config(config, 3).generator.detach_feedback is True
    assert "detach_feedback" in RESUME_OPTIONS
