"""The training tasks of TRAINING.md §2: one forward pass each, returning per-group losses.

A task takes the networks, a batch and the step's scheduled values, runs the
generator procedures and the discriminators once, and returns `(TaskLosses,
visuals)`. It neither differentiates nor steps: that is `utils.training.optimization`.
Random choices (frame index, t, ε draws) come from the `rng` passed in
(Python's `random` module during training).

These are the fast forms of the straightforward tasks in `utils.training.reference_tasks`
(same losses, gradients and BatchNorm statistics up to float32 rounding; see
`tests/test_fast_step.py` and `utils/SPEED.md`): every distinct ground-truth frame
goes through the content encoder once, the first frame's reconstruction and the
motion encoding of the ground-truth differences are shared by the sampled and the
random pass (the second BatchNorm update of the motion encoder is replayed), the
target scale features are decoded in one batch, and the joint MCInput layer
builds its weight gradient in one product (`models.deferred_linear`). With
`--use_bn` (BatchNorm in the content stream) batching frames would change the
batch statistics, so the tasks run as the reference does.
"""
import contextlib

import torch

from models import losses as L
from models.deferred_linear import DeferredWeightLinear
from utils.training.optimization import group_gradients


@contextlib.contextmanager
def frozen(parameters):
    """Temporarily stop gradients from reaching `parameters` (content groups in motion tasks)."""
    flags = [p.requires_grad for p in parameters]
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(parameters, flags):
            p.requires_grad_(flag)


def content_task(nets, batch, values, rng, mode="sample", pretrain=False):
    """Content task (or pre-training without discriminator) on one random frame of each clip."""
    g = nets.generator
    index = rng.randint(0, batch.images.shape[2] - 2)
    frame = batch.images[:, :, index]
    recon, stats, _ = g.reconstruct_frame(batch.onehot, frame, mode)
    if pretrain:
        return _losses(L.pretrain_losses, recon, frame, stats, values["c_kl"]), {"real": frame, "recon": recon}
    random_frame, _, _ = g.reconstruct_frame(batch.onehot, None, "random")
    d = nets.image_discriminator
    losses = _losses(L.content_task_losses, recon, frame, stats, d(recon), d(random_frame), d(frame),
                     values["c_kl"], values["c_img_dis"], values["xp_vs_xtilde"])
    return losses, {"real": frame, "recon": recon, "random": random_frame}


def frame_task(nets, batch, values, rng, mode="sample"):
    """Frame task: predict x_t from x_{t−1} and the first t ground-truth differences."""
    g = nets.generator
    t = rng.randint(1, batch.images.shape[2] - 2)
    previous, target, diffs = batch.images[:, :, t - 1], batch.images[:, :, t], batch.diffs
    replay = BatchNormReplay(g.motion_encoder.convs)
    with frozen(nets.content_parameters()), deferred_joint_gradient(g):
        z_content = encoded = None
        if not g.use_bn:
            with torch.no_grad():
                means = g.content_means(torch.stack([previous, target], dim=2), batch.onehot)
            z_content = means[:, 0]
            encoded = replay.first_call(lambda: g.motion_encoder.encode_video(diffs[:, :, :t]))
        pred, stats, pred_features, _ = g.predict_next_frame(previous, diffs, t, batch.onehot, mode,
                                                             z_content, encoded)
        if encoded is not None:
            replay.repeat()
        random_frame, _, _, _ = g.predict_next_frame(previous, diffs, t, batch.onehot, "random", z_content, encoded)
        with torch.no_grad():
            if g.use_bn:
                _, _, target_features = g.reconstruct_frame(batch.onehot, target, "mean")
            else:
                _, target_features = g.reconstruct_from_means(means[:, 1], batch.onehot)
    d = nets.image_discriminator
    losses = _losses(L.frame_task_losses, pred, target, stats, pred_features, target_features,
                     d(pred), d(random_frame), d(target), values["img_m_kl"], values["pred_scale_feat"])
    return losses, {"real": target, "pred": pred, "random": random_frame}


def video_task(nets, batch, values, rng, mode="sample"):
    """Video task: the whole clip with scheduled sampling probability `values['epsilon']`."""
    g = nets.generator
    images, diffs, eps = batch.images, batch.diffs, values["epsilon"]
    steps = images.shape[2] - 1
    replay = BatchNormReplay(g.motion_encoder.convs)
    with frozen(nets.content_parameters()), deferred_joint_gradient(g):
        if g.use_bn:
            shared = {}
        else:
            with torch.no_grad():
                means = g.content_means(images, batch.onehot)                       # [B, T, cont_dim]
                decoded, features = g.reconstruct_from_means(means.flatten(0, 1), batch.onehot.repeat_interleave(
                    steps + 1, 0))
            first = decoded.view(images.shape[0], steps + 1, *decoded.shape[1:])[:, 0]
            encoded = replay.first_call(lambda: g.motion_encoder.encode_video(diffs))
            shared = dict(first=first, encoded=encoded, truth_means=means)
        video, stats, pred_features = g.generate_sequence(images, batch.onehot, diffs, eps, mode, rng, **shared)
        if shared:
            replay.repeat()
        random_video, _, _ = g.generate_sequence(images, batch.onehot, diffs, eps, "random", rng, **shared)
        with torch.no_grad():
            if g.use_bn:
                target_features = [g.reconstruct_frame(batch.onehot, images[:, :, k + 1], "mean")[2]
                                   for k in range(steps)]
            else:
                per_frame = [f.view(images.shape[0], steps + 1, *f.shape[1:]) for f in features]
                target_features = [[f[:, k + 1] for f in per_frame] for k in range(steps)]
    d = nets.video_discriminator
    losses = _losses(L.video_task_losses, video, images, stats, pred_features, target_features, batch.labels,
                     d(video), d(random_video), d(images), values["m_kl"], values["video_scale_feat"])
    return losses, {"real": images, "video": video, "random": random_video}


def run_task(name, nets, batch, values, rng, mode="sample", amp="off"):
    """Dispatch by task name ('pretrain' | 'content' | 'frame' | 'video').

    `amp='bf16'` runs the networks under bfloat16 autocast (SepConv and the losses in float32).
    """
    tasks = {"pretrain": lambda: content_task(nets, batch, values, rng, mode, pretrain=True),
             "content": lambda: content_task(nets, batch, values, rng, mode),
             "frame": lambda: frame_task(nets, batch, values, rng, mode),
             "video": lambda: video_task(nets, batch, values, rng, mode)}
    if name not in tasks:
        raise ValueError(f"unknown task {name!r}")
    if amp == "off":
        return tasks[name]()
    if amp != "bf16":
        raise ValueError(f"unknown amp mode {amp!r}")
    with torch.autocast(batch.images.device.type, dtype=torch.bfloat16):
        return tasks[name]()


def task_gradients(task_losses, names, parameter_groups):
    """Each named group's gradient of its own loss (see `utils.training.optimization.group_gradients`)."""
    return group_gradients(task_losses, names, parameter_groups)


def _to_float32(value):
    if torch.is_tensor(value):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(v) for v in value)
    return value


def _losses(function, *args):
    """Call a loss function outside autocast with float32 inputs (a no-op without autocast)."""
    if not torch.is_autocast_enabled(args[0].device.type):
        return function(*args)
    with torch.autocast(args[0].device.type, enabled=False):
        return function(*(_to_float32(a) for a in args))


@contextlib.contextmanager
def deferred_joint_gradient(generator):
    """During a motion task's forward, build the joint MCInput layer's weight gradient in one product."""
    joint = generator.joint_input
    if joint is None or torch.is_autocast_enabled(joint.joint.weight.device.type):
        yield
        return
    joint.apply_joint = DeferredWeightLinear(joint.joint)
    try:
        yield
    finally:
        joint.apply_joint = None


class BatchNormReplay:
    """Replays the running-statistics update of a module's BatchNorm layers.

    The straightforward tasks run the motion encoder on the same ground-truth differences in
    the sampled and in the random pass; both train-mode calls give the same output, and each
    moves the running statistics: `r ← (1 − m)·r + m·s` with the same batch statistic `s`.
    The fast tasks call it once (`first_call`) and apply the second update where the
    reference makes its second call (`repeat`), using `m·s = r₁ − (1 − m)·r₀`.
    """

    def __init__(self, module):
        self.layers = [m for m in module.modules()
                       if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        self.updates = None

    def first_call(self, function):
        """Run `function` (which calls the module once in train mode) and record its updates."""
        if not self.layers or not self.layers[0].training:
            self.updates = []
            return function()
        before = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in self.layers]
        out = function()
        self.updates = []
        for bn, (mean0, var0) in zip(self.layers, before):
            m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
            self.updates.append((m, bn.running_mean - (1 - m) * mean0, bn.running_var - (1 - m) * var0))
        return out

    @torch.no_grad()
    def repeat(self):
        """Apply the recorded update once more (as a second identical call would)."""
        for bn, (m, mean_step, var_step) in zip(self.layers, self.updates):
            # `.data`: like BatchNorm's own update, this must not bump the version counter that
            # autograd checks (the forward saved the running statistics for the backward)
            bn.running_mean.data.mul_(1 - m).add_(mean_step)
            bn.running_var.data.mul_(1 - m).add_(var_step)
            bn.num_batches_tracked.data.add_(1)
