"""Six Adam optimisers and the per-step update rule of TRAINING.md §1.

Every group's gradient is the gradient of its own loss w.r.t. its own parameters,
all taken at the weights of the step's forward pass (`torch.autograd.grad`),
before any optimiser steps. This is the documented cleaning of the published
code, whose group-after-group `backward(); step()` let the motion encoder's
update leak into the motion decoder's gradient in the video task.
"""
import math

import torch

from models.losses import balance

LEARNING_RATE = 2e-4
BETAS = (0.5, 0.999)
WEIGHT_DECAY = 1e-5


def parse_group_lr(text, names):
    """`--group_lr` text 'NAME=LR[,NAME=LR...]' -> dict name -> positive float ('' -> {}).

    `names` are the known group names. Raises ValueError (one line) for an unknown or repeated name
    or a learning rate that is not a positive finite number.
    """
    rates = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise ValueError(f"{part!r} is not NAME=LR with NAME one of {', '.join(names)}")
        if name in rates:
            raise ValueError(f"{name} is given twice")
        try:
            rate = float(value)
        except ValueError:
            rate = float("nan")
        if not 0 < rate < float("inf"):
            raise ValueError(f"{name}={value.strip()!r}: expected a positive learning rate")
        rates[name] = rate
    return rates


def learning_rates(names, lr=LEARNING_RATE, group_lr=None):
    """Dict group name -> its learning rate: `group_lr[name]` where given, else `lr`."""
    return {name: (group_lr or {}).get(name, lr) for name in names}


def build_optimizers(parameter_groups, lr=LEARNING_RATE, fused=True, group_lr=None):
    """Dict group name -> `torch.optim.Adam` (coupled L2 weight decay) over that group's parameters.

    Every group learns at `lr` except those named in `group_lr` (dict name -> rate, `--group_lr`).

    `fused=True` uses PyTorch's fused Adam kernel (CPU and CUDA): the same update in one pass over
    each tensor, about 8x faster than the per-parameter loop on the 33.5 M-weight motion decoder
    (utils/SPEED.md); `fused=False` is the loop of the straightforward implementation.
    """
    rates = learning_rates(parameter_groups, lr, group_lr)
    return {name: torch.optim.Adam(params, lr=rates[name], betas=BETAS, weight_decay=WEIGHT_DECAY,
                                   **({"fused": True} if fused else {"foreach": False}))
            for name, params in parameter_groups.items()}


def groups_to_update(task_losses):
    """Names of the groups the balance rule lets this step update (encoders always)."""
    names = list(task_losses.groups)
    if task_losses.real_cost is None:
        return names
    update_decoder, update_discriminator = balance(float(task_losses.real_cost.detach()),
                                                   float(task_losses.fake_cost.detach()), task_losses.margin)
    return [n for n in names
            if not (n.endswith("_decoder") and not update_decoder)
            and not (n.endswith("_discriminator") and not update_discriminator)]


def group_gradients(task_losses, names, parameter_groups):
    """Gradients of each named group's loss w.r.t. its own parameters, at the current weights.

    Returns dict name -> list of tensors (or None for parameters the loss does not reach).
    """
    grads = {}
    for i, name in enumerate(names):
        params = [p for p in parameter_groups[name] if p.requires_grad]
        grads[name] = dict(zip(map(id, params), torch.autograd.grad(
            task_losses.groups[name], params, retain_graph=i < len(names) - 1, allow_unused=True)))
    return grads


def apply_gradients(grads, parameter_groups, optimizers, max_norm=0.0):
    """Install each group's gradients and step its optimiser (after all gradients exist).

    `max_norm` > 0 (`--grad_clip`, off as published): each group's gradient is first scaled down to
    that L2 norm when its norm is larger (`torch.nn.utils.clip_grad_norm_` over the group).
    """
    for name, by_id in grads.items():
        optimizer = optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        for p in parameter_groups[name]:
            p.grad = _in_layout_of(p, by_id.get(id(p)))
        if max_norm > 0:
            torch.nn.utils.clip_grad_norm_([p for p in parameter_groups[name] if p.grad is not None], max_norm)
        optimizer.step()


def _in_layout_of(parameter, grad):
    """`grad` with the parameter's strides. A convolution fed channels-last activations returns
    a channels-last weight gradient; the fused Adam kernel pairs parameter and gradient elements
    by storage position, so a gradient in another layout would update the wrong weights."""
    if grad is None or grad.stride() == parameter.stride():
        return grad
    return torch.empty_like(parameter).copy_(grad)


def losses_are_finite(task_losses):
    """True when every group's loss (updated or not) and the balance costs are finite."""
    values = list(task_losses.groups.values()) + [c for c in (task_losses.real_cost, task_losses.fake_cost) if c is not None]
    return all(math.isfinite(float(v.detach())) for v in values)


def update_step(task_losses, parameter_groups, optimizers, sync=None, max_norm=0.0):
    """Balance rule, gradients at the forward's weights, then the steps.

    `sync` (multi-process training, `utils.training.distributed`) makes every rank take the same
    decisions and step with the same gradients: `sync.all_finite(flag) -> bool`,
    `sync.costs(real, fake) -> (real, fake)` (means over ranks, tensors),
    `sync.gradients(grads) -> grads` (means over ranks, same structure as `group_gradients`).
    `max_norm`: per-group gradient-norm clipping (`apply_gradients`; 0: off).
    Returns the list of updated group names, or None when a loss was non-finite
    (then nothing is stepped).
    """
    finite = losses_are_finite(task_losses)
    if sync is not None:
        finite = sync.all_finite(finite)
    if not finite:
        return None
    if sync is not None and task_losses.real_cost is not None:
        task_losses.real_cost, task_losses.fake_cost = sync.costs(task_losses.real_cost, task_losses.fake_cost)
    names = groups_to_update(task_losses)
    grads = group_gradients(task_losses, names, parameter_groups)
    if sync is not None:
        grads = sync.gradients(grads)
    apply_gradients(grads, parameter_groups, optimizers, max_norm)
    return names
