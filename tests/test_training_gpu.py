"""A whole training step on a GPU with the SepConv kernel gives the losses of the PyTorch reference."""
import copy
import random

import pytest
import torch

from conftest import SMALL, random_batch
from models import TwoStreamNetworks
from utils.core.data_stream import Batch
from utils.training.optimization import build_optimizers, update_step
from utils.training.tasks import run_task

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

VALUES = dict(c_kl=7.0, c_img_dis=10.0, xp_vs_xtilde=1.0, img_m_kl=7.0, pred_scale_feat=100.0,
              video_scale_feat=100.0, epsilon=0.5, m_kl=2.0)


def one_step(nets, task, seed):
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups)
    cpu_batch = random_batch(4, 3)
    batch = Batch(cpu_batch.images.cuda(), cpu_batch.labels.cuda(), cpu_batch.onehot.cuda())
    torch.manual_seed(seed)
    losses, _ = run_task(task, nets, batch, VALUES, random.Random(seed))
    update_step(losses, groups, optimizers)
    return {k: float(v) for k, v in losses.groups.items()}, [p.detach().clone() for p in nets.parameters()]


@pytest.mark.parametrize("task", ["content", "frame", "video"])
def test_kernel_step_matches_reference_step(monkeypatch, task):
    import sepconv
    if sepconv.active_backend("cuda") == "reference":
        pytest.skip(f"SepConv kernel unavailable: {sepconv.active_backend('cuda').reason}")
    torch.backends.cudnn.deterministic = True
    torch.manual_seed(0)
    nets = TwoStreamNetworks(3, joint=True, **SMALL).cuda()
    kernel_losses, kernel_weights = one_step(copy.deepcopy(nets), task, seed=3)
    monkeypatch.setenv(sepconv.ENV_VAR, "reference")
    reference_losses, reference_weights = one_step(copy.deepcopy(nets), task, seed=3)
    assert kernel_losses == pytest.approx(reference_losses, rel=1e-4)
    # Adam's first step moves a weight by about lr·sign(g): a gradient within rounding of 0 may flip
    # sign between the two paths, so weights agree to within one step (2·lr), not to rounding.
    for a, b in zip(kernel_weights, reference_weights):
        torch.testing.assert_close(a, b, rtol=0, atol=4.5e-4)
