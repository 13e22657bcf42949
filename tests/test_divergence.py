"""utils.training.divergence: the cause a non-finite step is stopped with, measured from the step's own tensors."""
import math
import random

import pytest
import torch

from conftest import SMALL, random_batch
from models import TwoStreamNetworks
from models.losses import TaskLosses
from utils.training.divergence import FRAME_LIMIT, first_diverged_step, nonfinite_cause
from utils.training.tasks import run_task

VALUES = dict(c_kl=1.0, c_img_dis=10.0, xp_vs_xtilde=1.0, img_m_kl=1.0, m_kl=1.0, pred_scale_feat=100.0,
              video_scale_feat=100.0, epsilon=0.0)


def finite_losses():
    one = torch.tensor(1.0)
    return TaskLosses(groups={"motion_decoder": one}, scalars={"mse": one, "kl": one})


def test_first_diverged_step_finds_the_first_frame_beyond_the_limit_or_not_finite():
    video = torch.zeros(2, 3, 6, 4, 4)
    assert first_diverged_step(video) is None
    video[1, 2, 4, 0, 3] = -3e4          # step 4, in the second clip and the last channel
    video[0, 0, 5, 1, 1] = 7e5
    assert first_diverged_step(video) == (4, 3e4)
    video[0, 1, 2, 2, 2] = float("nan")  # an earlier non-finite frame comes first
    k, peak = first_diverged_step(video)
    assert k == 2 and math.isinf(peak)
    assert first_diverged_step(torch.full((1, 3, 2, 4, 4), FRAME_LIMIT)) is None   # at the limit: within it


def test_the_cause_is_looked_for_in_the_data_the_weights_the_frames_then_the_losses():
    nets = TwoStreamNetworks(3, **SMALL)
    batch = random_batch()
    video = torch.zeros(2, 3, 10, 64, 64)
    assert nonfinite_cause("video", batch.images, nets, finite_losses(), {"video": video}).startswith("no non-finite")
    bad_losses = TaskLosses(groups={"motion_decoder": torch.tensor(math.inf)},
                            scalars={"mse": torch.tensor(1.0), "scale_feat": torch.tensor(math.inf)})
    assert nonfinite_cause("video", batch.images, nets, bad_losses, {"video": video}) == \
        "non-finite loss terms: scale_feat"
    video[:, :, 3] = 2e5
    assert nonfinite_cause("video", batch.images, nets, bad_losses, {"video": video}) == \
        "generated frames (video) exceeded ±1e+04 at step 3 of the unroll (largest |x| 2e+05)"
    assert nonfinite_cause("frame", batch.images, nets, bad_losses, {"pred": video[:, :, 3]}) == \
        "generated frames (pred) exceeded ±1e+04 in the generated frame (largest |x| 2e+05)"
    with torch.no_grad():
        nets.generator.motion_generator.up8[0].weight[0, 0, 0, 0] = math.nan
    assert nonfinite_cause("video", batch.images, nets, bad_losses, {"video": video}) == \
        "weights were already not finite before the step (generator.motion_generator.up8.0.weight)"
    batch.images[0, 0, 0, 0, 0] = math.inf
    assert nonfinite_cause("video", batch.images, nets, bad_losses, {"video": video}) == \
        "the batch's frames were not finite (the data)"


@pytest.mark.parametrize("task", ["frame", "video"])
def test_a_real_unroll_blown_up_by_the_kernels_is_located(task):
    """Kernels of the finest scale (applied to the decoded image itself) scaled by 1e5: the fused frames
    leave tanh's range at the first generated step, and the cause says so for the real task's tensors."""
    torch.manual_seed(0)
    nets = TwoStreamNetworks(3, **SMALL)
    with torch.no_grad():
        branch = nets.generator.motion_generator.branches["64"]
        for layer in (branch.vertical[-1], branch.horizontal[-1]):
            layer.weight.mul_(1e5)
            layer.bias.mul_(1e5)
    losses, visuals = run_task(task, nets, random_batch(), VALUES, random.Random(0))
    cause = nonfinite_cause(task, random_batch().images, nets, losses, visuals)
    where = "at step 1 of the unroll" if task == "video" else "in the generated frame"
    key = "video" if task == "video" else "pred"
    assert cause.startswith(f"generated frames ({key}) exceeded ±1e+04 {where}"), cause
