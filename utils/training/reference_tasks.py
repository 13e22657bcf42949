"""The straightforward training step, kept as the reference of the fast one (`utils.training.tasks`).

The three tasks exactly as TRAINING.md §2 states them: every procedure run as written
(the content encoder once per use, the motion encoder on the ground-truth differences
in both the sampled and the random pass, the target features frame by frame), each
discriminator run once per source, and each group's gradient taken by its own
`torch.autograd.grad` call. `tests/test_fast_step.py` checks that the fast step gives
the same losses and updated weights; `utils.tools.benchmark --implementation reference` times it.
"""
import torch

from models import losses as L
from utils.training.optimization import group_gradients as reference_gradients  # noqa: F401  (the reference update)
from utils.training.tasks import frozen


def content_task(nets, batch, values, rng, mode="sample", pretrain=False):
    """Content task (or pre-training without discriminator) on one random frame of each clip."""
    g = nets.generator
    index = rng.randint(0, batch.images.shape[2] - 2)
    frame = batch.images[:, :, index]
    recon, stats, _ = g.reconstruct_frame(batch.onehot, frame, mode)
    if pretrain:
        return L.pretrain_losses(recon, frame, stats, values["c_kl"]), {"real": frame, "recon": recon}
    random_frame, _, _ = g.reconstruct_frame(batch.onehot, None, "random")
    d = nets.image_discriminator
    losses = L.content_task_losses(recon, frame, stats, d(recon), d(random_frame), d(frame),
                                   values["c_kl"], values["c_img_dis"], values["xp_vs_xtilde"])
    return losses, {"real": frame, "recon": recon, "random": random_frame}


def frame_task(nets, batch, values, rng, mode="sample"):
    """Frame task: predict x_t from x_{t−1} and the first t ground-truth differences."""
    g = nets.generator
    t = rng.randint(1, batch.images.shape[2] - 2)
    previous, target, diffs = batch.images[:, :, t - 1], batch.images[:, :, t], batch.diffs
    with frozen(nets.content_parameters()):
        pred, stats, pred_features, _ = g.predict_next_frame(previous, diffs, t, batch.onehot, mode)
        random_frame, _, _, _ = g.predict_next_frame(previous, diffs, t, batch.onehot, "random")
        with torch.no_grad():
            _, _, target_features = g.reconstruct_frame(batch.onehot, target, "mean")
    d = nets.image_discriminator
    losses = L.frame_task_losses(pred, target, stats, pred_features, target_features,
                                 d(pred), d(random_frame), d(target), values["img_m_kl"], values["pred_scale_feat"])
    return losses, {"real": target, "pred": pred, "random": random_frame}


def video_task(nets, batch, values, rng, mode="sample"):
    """Video task: the whole clip with scheduled sampling probability `values['epsilon']`."""
    g = nets.generator
    images, diffs, eps = batch.images, batch.diffs, values["epsilon"]
    with frozen(nets.content_parameters()):
        video, stats, pred_features = g.generate_sequence(images, batch.onehot, diffs, eps, mode, rng)
        random_video, _, _ = g.generate_sequence(images, batch.onehot, diffs, eps, "random", rng)
        with torch.no_grad():
            target_features = [g.reconstruct_frame(batch.onehot, images[:, :, k + 1], "mean")[2]
                               for k in range(images.shape[2] - 1)]
    d = nets.video_discriminator
    losses = L.video_task_losses(video, images, stats, pred_features, target_features, batch.labels,
                                 d(video), d(random_video), d(images), values["m_kl"], values["video_scale_feat"])
    return losses, {"real": images, "video": video, "random": random_video}


def run_reference_task(name, nets, batch, values, rng, mode="sample"):
    """Dispatch by task name ('pretrain' | 'content' | 'frame' | 'video')."""
    if name == "pretrain":
        return content_task(nets, batch, values, rng, mode, pretrain=True)
    if name == "content":
        return content_task(nets, batch, values, rng, mode)
    if name == "frame":
        return frame_task(nets, batch, values, rng, mode)
    if name == "video":
        return video_task(nets, batch, values, rng, mode)
    raise ValueError(f"unknown task {name!r}")
