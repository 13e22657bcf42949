"""Gradient semantics of TRAINING.md §1: every group's gradient is its own loss's gradient at the
forward's weights; no group's step leaks into another group's gradient; content is frozen in motion tasks."""
import copy
import random

import pytest
import torch

from conftest import SMALL, random_batch
from models import TwoStreamNetworks
from utils.training.optimization import build_optimizers, groups_to_update, update_step
from utils.training.tasks import run_task

VALUES = dict(c_kl=7.0, c_img_dis=10.0, xp_vs_xtilde=1.0, img_m_kl=7.0, pred_scale_feat=100.0,
              video_scale_feat=100.0, epsilon=0.5, m_kl=2.0)


def run_forward(nets, task, seed):
    torch.manual_seed(seed)
    return run_task(task, nets, random_batch(2, 3), VALUES, random.Random(seed))


def reference_gradient(pristine, task, group, seed):
    """Gradient of `group`'s loss w.r.t. its parameters, on a fresh copy of the pre-step networks,
    computed with a plain full backward (independent of utils.training.optimization)."""
    nets = copy.deepcopy(pristine)
    losses, _ = run_forward(nets, task, seed)
    losses.groups[group].backward()
    return [None if p.grad is None else p.grad.clone() for p in nets.parameter_groups()[group]]


@pytest.mark.parametrize("task", ["pretrain", "content", "frame", "video"])
def test_each_group_gets_its_own_gradient_at_the_forward_weights(task):
    torch.manual_seed(1)
    nets = TwoStreamNetworks(3, joint=True, **SMALL)
    pristine = copy.deepcopy(nets)
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups)
    before = {name: [p.detach().clone() for p in params] for name, params in groups.items()}
    losses, _ = run_forward(nets, task, seed=7)
    updated = update_step(losses, groups, optimizers)
    assert updated == groups_to_update(losses)
    encoder = "content_encoder" if task in ("pretrain", "content") else "motion_encoder"
    assert encoder in updated  # the encoder is always updated
    for name, params in groups.items():
        if name in updated:
            expected = reference_gradient(pristine, task, name, seed=7)
            for p, g in zip(params, expected):
                if g is None:
                    assert p.grad is None
                else:
                    torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-7)
            assert any(not torch.equal(p, b) for p, b in zip(params, before[name]))
        else:  # groups not trained by this task (or skipped by the balance rule) do not move
            assert all(torch.equal(p, b) for p, b in zip(params, before[name])), name


def test_a_leaking_update_order_is_detected_in_the_video_task():
    """Negative control for the test above: a motion-decoder gradient taken after the motion encoder's
    step (what the published backward-then-step order amounted to; current PyTorch refuses the in-place
    version outright) differs measurably from the gradient at the forward's weights."""
    torch.manual_seed(2)
    pristine = TwoStreamNetworks(3, joint=True, **SMALL)
    values = dict(VALUES, epsilon=0.0)  # ε = 0: the decoder's gradient flows through the motion encoder

    def decoder_gradient(nets):
        torch.manual_seed(5)
        losses, _ = run_task("video", nets, random_batch(2, 3), values, random.Random(5))
        losses.groups["motion_decoder"].backward()
        return [p.grad.clone() for p in nets.parameter_groups()["motion_decoder"]]

    clean = decoder_gradient(copy.deepcopy(pristine))
    leaky_nets = copy.deepcopy(pristine)
    groups = leaky_nets.parameter_groups()
    optimizers = build_optimizers(groups)
    torch.manual_seed(5)
    losses, _ = run_task("video", leaky_nets, random_batch(2, 3), values, random.Random(5))
    losses.groups["motion_encoder"].backward()
    optimizers["motion_encoder"].step()
    for p in leaky_nets.parameters():
        p.grad = None
    leaked = decoder_gradient(leaky_nets)
    difference = max((a - b).abs().max().item() for a, b in zip(leaked, clean))
    scale = max(b.abs().max().item() for b in clean)
    assert difference > 1e-4 * scale


def test_motion_tasks_never_touch_content_groups():
    torch.manual_seed(3)
    nets = TwoStreamNetworks(3, joint=True, **SMALL)
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups)
    content = [p.detach().clone() for p in nets.content_parameters()]
    for task in ("frame", "video"):
        losses, _ = run_forward(nets, task, seed=3)
        assert not {"content_encoder", "content_decoder"} & set(losses.groups)
        update_step(losses, groups, optimizers)
    assert all(torch.equal(a, b) for a, b in zip(nets.content_parameters(), content))
    assert all(p.requires_grad for p in nets.content_parameters())  # unfrozen again afterwards


def test_optimisers_are_adam_with_published_settings():
    nets = TwoStreamNetworks(3, joint=True, **SMALL)
    optimizers = build_optimizers(nets.parameter_groups())
    assert set(optimizers) == {"content_encoder", "content_decoder", "motion_encoder", "motion_decoder",
                               "image_discriminator", "video_discriminator"}
    for opt in optimizers.values():
        assert type(opt) is torch.optim.Adam
        group = opt.param_groups[0]
        assert group["lr"] == 2e-4 and group["betas"] == (0.5, 0.999) and group["weight_decay"] == 1e-5


def test_non_finite_loss_skips_every_step():
    nets = TwoStreamNetworks(3, joint=True, **SMALL)
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups)
    losses, _ = run_forward(nets, "content", seed=1)
    losses.groups["content_decoder"] = losses.groups["content_decoder"] * float("nan")
    before = [p.detach().clone() for p in nets.parameters()]
    assert update_step(losses, groups, optimizers) is None
    assert all(torch.equal(a, b) for a, b in zip(nets.parameters(), before))


def test_channels_last_gradients_step_like_the_loop_adam():
    """A channels-last weight gradient (what a convolution on channels-last activations returns)
    steps the fused Adam exactly like the loop Adam steps a contiguous copy of it."""
    from utils.training.optimization import apply_gradients
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 8, 5)
    twin = copy.deepcopy(conv)
    x = torch.randn(4, 3, 12, 12).contiguous(memory_format=torch.channels_last)
    grads = torch.autograd.grad(conv(x).square().sum(), list(conv.parameters()))
    assert not grads[0].is_contiguous()        # the case the layout guard is for
    groups = {"fused": list(conv.parameters()), "loop": list(twin.parameters())}
    fused = build_optimizers({"fused": groups["fused"]}, fused=True)
    loop = build_optimizers({"loop": groups["loop"]}, fused=False)
    for _ in range(3):
        apply_gradients({"fused": {id(p): g for p, g in zip(groups["fused"], grads)}}, groups, fused)
        apply_gradients({"loop": {id(p): g.contiguous() for p, g in zip(groups["loop"], grads)}}, groups, loop)
    for a, b in zip(conv.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


@pytest.mark.parametrize("max_norm", [0.0, 0.05, 1e9])
def test_grad_clip_scales_each_group_to_the_norm_before_its_adam_step(max_norm):
    """--grad_clip: a group whose gradient norm exceeds max_norm steps like Adam fed the gradient times
    max_norm / norm (the formula, on a loop Adam); a smaller norm, or 0 (off), leaves it untouched.
    Each group is clipped on its own norm."""
    from utils.training.optimization import apply_gradients
    torch.manual_seed(0)
    big, small = torch.nn.Linear(6, 4), torch.nn.Linear(3, 2)
    groups = {"big": list(big.parameters()), "small": list(small.parameters())}
    grads = {"big": [torch.randn_like(p) * 3 for p in groups["big"]],
             "small": [torch.randn_like(p) * 0.01 for p in groups["small"]]}
    twins = {name: [p.detach().clone().requires_grad_() for p in params] for name, params in groups.items()}
    apply_gradients({name: {id(p): g for p, g in zip(groups[name], grads[name])} for name in groups}, groups,
                    build_optimizers(groups), max_norm=max_norm)
    expected_optimizers = build_optimizers(twins, fused=False)
    for name, params in twins.items():
        norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads[name])))
        factor = max_norm / norm if 0 < max_norm < norm else 1.0
        for p, g in zip(params, grads[name]):
            p.grad = g * factor
        expected_optimizers[name].step()
        for p, q in zip(groups[name], params):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
    small_norm = float(torch.sqrt(sum((g ** 2).sum() for g in grads["small"])))
    assert small_norm < 0.05 < float(torch.sqrt(sum((g ** 2).sum() for g in grads["big"])))  # the case covered


def test_grad_clip_option_is_validated_and_must_match_on_resume():
    from utils.training.options import RESUME_OPTIONS, OptionError, parse_train_options
    assert parse_train_options(["--dataset", "synthetic", "--dataroot", "x"])["grad_clip"] == 0.0   # off, as published
    assert "grad_clip" in RESUME_OPTIONS
    for bad in ("-1", "nan", "inf"):
        with pytest.raises(OptionError, match="--grad_clip must be a finite norm >= 0"):
            parse_train_options(["--dataset", "synthetic", "--dataroot", "x", "--grad_clip", bad])


def test_group_lr_gives_named_groups_their_rate_and_the_rest_lr():
    from models import GROUPS
    from utils.training.optimization import parse_group_lr
    nets = TwoStreamNetworks(3, joint=True, **SMALL)
    rates = parse_group_lr("motion_decoder=1e-2, video_discriminator=5e-4", GROUPS)
    assert rates == {"motion_decoder": 1e-2, "video_discriminator": 5e-4}
    optimizers = build_optimizers(nets.parameter_groups(), lr=1e-3, group_lr=rates)
    got = {name: {g["lr"] for g in opt.param_groups} for name, opt in optimizers.items()}
    assert got == {name: {rates.get(name, 1e-3)} for name in GROUPS}
    # one Adam step moves each weight by about its group's rate (first step: |update| = lr for a non-zero gradient)
    groups = nets.parameter_groups()
    before = {name: [p.detach().clone() for p in groups[name]] for name in ("motion_decoder", "motion_encoder")}
    for name in before:
        for p in groups[name]:
            p.grad = torch.ones_like(p)
        optimizers[name].step()
        moved = max(float((p.detach() - q).abs().max()) for p, q in zip(groups[name], before[name]))
        assert moved == pytest.approx(rates.get(name, 1e-3), rel=0.05)   # weight decay adds 1e-5·|w|


@pytest.mark.parametrize("text,message", [
    ("speed=1e-3", "is not NAME=LR"), ("motion_decoder", "is not NAME=LR"), ("motion_decoder=0", "positive"),
    ("motion_decoder=-1e-3", "positive"), ("motion_decoder=fast", "positive"), ("motion_decoder=nan", "positive"),
    ("motion_decoder=1e-3,motion_decoder=2e-3", "given twice")])
def test_group_lr_option_errors_are_one_line_and_resume_must_match(text, message):
    from utils.training.options import RESUME_OPTIONS, OptionError, parse_train_options
    base = ["--dataset", "synthetic", "--dataroot", "x"]
    assert parse_train_options(base)["group_lr"] == {} and "group_lr" in RESUME_OPTIONS
    with pytest.raises(OptionError, match=f"--group_lr: .*{message}") as error:
        parse_train_options(base + ["--group_lr", text])
    assert "\n" not in str(error.value)
