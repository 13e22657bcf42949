"""Run K independent recurrent steps as one batch with the statistics of K separate calls.

Under teacher forcing (ε = 1) no step of the video unroll reads an earlier step's output
frame, so the K decodes (MCInput, kernel generator, fused content decoder) can run as one
batch of K·B. Their BatchNorm layers (train mode) must still normalise each step's B rows
by that step's own statistics and move the running statistics as K successive calls
would: `per_step_batchnorm` swaps every BatchNorm2d forward of a module for that grouped
form while the batch runs.
"""
import contextlib

import torch
import torch.nn.functional as F


def grouped_batch_norm(bn, x, groups):
    """BatchNorm2d `bn` applied to each of `groups` consecutive row blocks of `x [K·B, C, H, W]` separately.

    Train mode: each block uses its own batch statistics, and the running statistics end as
    after K sequential calls, `r_K = (1−m)^K r_0 + Σ_k (1−m)^{K−k} m s_k`. Returns `[K·B, C, H, W]`.
    """
    if not bn.training or groups == 1:
        return bn(x)
    n, c, h, w = x.shape
    b = n // groups
    stacked = x.view(groups, b, c, h, w).transpose(0, 1).reshape(b, groups * c, h, w)
    m = bn.momentum if bn.momentum is not None else None
    if bn.track_running_stats and m is None:
        raise ValueError("per-step BatchNorm needs a momentum (cumulative averages are not supported)")
    running_mean = bn.running_mean.repeat(groups) if bn.track_running_stats else None
    running_var = bn.running_var.repeat(groups) if bn.track_running_stats else None
    weight = bn.weight.repeat(groups) if bn.affine else None
    bias = bn.bias.repeat(groups) if bn.affine else None
    y = F.batch_norm(stacked, running_mean, running_var, weight, bias, True, m or 0.0, bn.eps)
    if bn.track_running_stats:
        with torch.no_grad():
            for buffer, updated in ((bn.running_mean, running_mean), (bn.running_var, running_var)):
                steps = updated.view(groups, c) - (1 - m) * buffer          # m·s_k
                total = buffer * (1 - m) ** groups
                for k in range(groups):
                    total = total + steps[k] * (1 - m) ** (groups - 1 - k)
                buffer.data.copy_(total)   # `.data`: BatchNorm's own updates do not bump the version
            bn.num_batches_tracked.data.add_(groups)
    return y.view(b, groups, c, h, w).transpose(0, 1).reshape(n, c, h, w)


@contextlib.contextmanager
def per_step_batchnorm(module, groups):
    """Within the context, every BatchNorm2d of `module` normalises `groups` row blocks separately."""
    layers = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in layers:
        bn.forward = (lambda layer: (lambda x: grouped_batch_norm(layer, x, groups)))(bn)
    try:
        yield
    finally:
        for bn in layers:
            del bn.forward
