"""The fast training step (utils.tasks) against the straightforward one (utils.reference_tasks).

Same weights, batch, Python draws and torch RNG state: the losses, every updated weight,
the optimiser states and the BatchNorm running statistics must agree to float32 rounding.
"""
import copy
import random

import pytest
import torch

from conftest import SMALL, random_batch
from models import TwoStreamNetworks
from utils.optimization import apply_gradients, build_optimizers, groups_to_update
from utils.reference_tasks import reference_gradients, run_reference_task
from utils.tasks import run_task, task_gradients

VALUES = dict(c_kl=5.0, m_kl=5.0, c_img_dis=10.0, xp_vs_xtilde=1.0, img_m_kl=5.0,
              pred_scale_feat=100.0, video_scale_feat=100.0)


def _networks(use_bn=False, joint=True, seed=0):
    torch.manual_seed(seed)
    return TwoStreamNetworks(3, cont_dim=SMALL["cont_dim"], motion_dim=SMALL["motion_dim"], gf_dim=SMALL["gf_dim"],
                             image_ndf=SMALL["image_ndf"], video_ndf=SMALL["video_ndf"], joint=joint, use_bn=use_bn)


def _step(nets, fast, task, epsilon, seed, batch):
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups, fused=fast)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    values = dict(VALUES, epsilon=epsilon)
    if fast:
        losses, _ = run_task(task, nets, batch, values, rng)
        names = groups_to_update(losses)
        grads = task_gradients(losses, names, groups)
    else:
        losses, _ = run_reference_task(task, nets, batch, values, rng)
        names = groups_to_update(losses)
        grads = reference_gradients(losses, names, groups)
    named = {id(p): n for n, p in nets.named_parameters()}
    flat = {named[pid]: g for by_id in grads.values() for pid, g in by_id.items() if g is not None}
    apply_gradients(grads, groups, optimizers)
    return losses, names, rng.random(), torch.rand(1), flat


def _compare(task, epsilon, use_bn=False, joint=True, seed=3):
    batch = random_batch(batch_size=4, num_categories=3, seed=seed)
    reference = _networks(use_bn, joint)
    fast = copy.deepcopy(reference)
    ref_losses, ref_names, ref_py, ref_torch, ref_grads = _step(reference, False, task, epsilon, seed, batch)
    fast_losses, fast_names, fast_py, fast_torch, fast_grads = _step(fast, True, task, epsilon, seed, batch)
    assert fast_names == ref_names
    assert (fast_py, fast_torch) == (ref_py, ref_torch), "the fast step consumed the random streams differently"
    for name, value in ref_losses.groups.items():
        torch.testing.assert_close(fast_losses.groups[name], value, rtol=1e-5, atol=1e-5)
    for name, value in ref_losses.scalars.items():
        torch.testing.assert_close(fast_losses.scalars[name], value, rtol=1e-5, atol=1e-5)
    assert fast_grads.keys() == ref_grads.keys()
    # A bias right before a train-mode BatchNorm has gradient 0 in exact arithmetic; what autograd
    # returns is cancellation noise of the BatchNorm backward (tiny next to the layer's weight
    # gradient), and Adam scales noise up to ±lr. For those only |Δw| ≤ 2·lr is meaningful.
    zero_in_exact = _biases_before_batchnorm(reference)
    for key, value in ref_grads.items():
        if key in zero_in_exact:
            weight_scale = float(ref_grads[key.rsplit(".", 1)[0] + ".weight"].abs().max())
            assert float(value.abs().max()) < 1e-3 * weight_scale and float(fast_grads[key].abs().max()) < 1e-3 * weight_scale
            continue
        scale = float(value.abs().max()) + 1e-12
        torch.testing.assert_close(fast_grads[key], value, rtol=1e-4, atol=1e-5 * scale, msg=lambda m: f"{key}: {m}")
    ref_state, fast_state = reference.state_dict(), fast.state_dict()
    initial = _networks(use_bn, joint).state_dict()
    changed = 0
    for key, value in ref_state.items():
        tolerance = 4e-4 if key in zero_in_exact else 1e-6
        if key in ref_grads and key not in zero_in_exact:
            # Adam's first step is lr·g/(|g| + eps), ±lr for any |g| ≫ eps: an element whose
            # gradient changes sign between the two summation orders (allowed by the gradient check
            # above only where |g| is at rounding-noise level) moves by up to 2·lr (4e-4) more.
            # Every element whose gradient keeps its sign must agree to 1e-6.
            flipped = torch.sign(fast_grads[key]) != torch.sign(ref_grads[key])
            drift = (fast_state[key] - value)[flipped].abs()
            assert drift.numel() == 0 or float(drift.max()) <= 4e-4 + 1e-6, f"{key}: {float(drift.max())}"
            torch.testing.assert_close(fast_state[key][~flipped], value[~flipped], rtol=1e-5, atol=tolerance,
                                       msg=lambda m: f"{key}: {m}")
        else:
            torch.testing.assert_close(fast_state[key], value, rtol=1e-5, atol=tolerance, msg=lambda m: f"{key}: {m}")
        changed += int(not torch.equal(value, initial[key]))
    assert changed > 0


def _biases_before_batchnorm(nets):
    """Names of the biases of convolutions / linears that a BatchNorm directly follows."""
    names = set()
    for prefix, module in nets.named_modules():
        if isinstance(module, torch.nn.Sequential):
            children = list(module.named_children())
            for (name, layer), (_, following) in zip(children, children[1:]):
                if isinstance(following, torch.nn.modules.batchnorm._BatchNorm) and getattr(layer, "bias", None) is not None:
                    names.add(f"{prefix}.{name}.bias")
    return names


@pytest.mark.parametrize("task", ["pretrain", "content", "frame"])
def test_content_and_frame_tasks_match_the_reference(task):
    _compare(task, 1.0)


@pytest.mark.parametrize("epsilon", [1.0, 0.5, 0.0])
def test_video_task_matches_the_reference(epsilon):
    _compare("video", epsilon)


def test_use_bn_and_no_joint_variants_match_the_reference():
    _compare("video", 0.5, use_bn=True)
    _compare("frame", 1.0, use_bn=True)
    _compare("video", 0.5, joint=False)


def test_batchnorm_replay_equals_two_calls():
    from utils.tasks import BatchNormReplay
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
    twice = copy.deepcopy(module)
    x = torch.randn(5, 3, 8, 8)
    expected = twice(x)
    twice(x)
    replay = BatchNormReplay(module)
    out = replay.first_call(lambda: module(x))
    replay.repeat()
    torch.testing.assert_close(out, expected)
    for a, b in zip(module.buffers(), twice.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert int(module[1].num_batches_tracked) == 2
