"""Loss terms of TRAINING.md §2, per parameter group, and the balance rule.

Each `*_task_losses` function takes the outputs of one forward pass and returns a
`TaskLosses`: the loss of every parameter group that the task trains (to be
differentiated w.r.t. that group only), the discriminator's real and fake costs
for the balance rule, and scalars for logging. The discriminator terms use the
same discriminator outputs as the generator terms: a group's gradient is taken
w.r.t. its own parameters only, so the fakes are effectively detached for the
discriminator (TRAINING.md §1) without a second forward.
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

RECONSTRUCTION_WEIGHT = 10000.0
FRAME_ADVERSARIAL_WEIGHT = 10.0
EQUILIBRIUM = 0.68
CONTENT_MARGIN, FRAME_MARGIN, VIDEO_MARGIN = 0.5, 0.4, 0.5


@dataclass
class TaskLosses:
    """Per-group losses of one task step, the balance costs and logged scalars."""
    groups: dict                     # group name -> scalar loss tensor
    real_cost: torch.Tensor = None   # discriminator's real term (None: no balance)
    fake_cost: torch.Tensor = None
    margin: float = None
    scalars: dict = field(default_factory=dict)


def kl_divergence(mean, logvar):
    """`−½ · mean over rows of Σ_dims (1 + logσ² − μ² − exp(logσ²))`; inputs `[N, D]` (or `[B, T, D]`, rows = B·T)."""
    mean, logvar = mean.reshape(-1, mean.shape[-1]), logvar.reshape(-1, logvar.shape[-1])
    return -0.5 * torch.mean(torch.sum(1 + logvar - mean.pow(2) - logvar.exp(), dim=1))


def bce(logits, target):
    """Mean binary cross-entropy of logits against the constant `target` (0 or 1)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def scale_feature_loss(predicted, target):
    """`Σ_scales MSE(predicted_s, target_s)` over two equally long lists (0 when empty)."""
    total = 0.0
    for p, t in zip(predicted, target, strict=True):
        total = total + F.mse_loss(p, t)
    return total


def balance(real_cost, fake_cost, margin, equilibrium=EQUILIBRIUM):
    """Balance rule: returns `(update_decoder, update_discriminator)` from the two costs (floats)."""
    update_decoder = update_discriminator = True
    if real_cost < equilibrium - margin or fake_cost < equilibrium - margin:
        update_discriminator = False
    if real_cost > equilibrium + margin or fake_cost > equilibrium + margin:
        update_decoder = False
    if not update_decoder and not update_discriminator:
        update_decoder = update_discriminator = True
    return update_decoder, update_discriminator


def pretrain_losses(recon, frame, content_stats, c_kl):
    """Content pre-training: encoder `c_kl·KL + 10⁴·MSE`, decoder `10⁴·MSE`."""
    mse = F.mse_loss(recon, frame)
    kl = kl_divergence(*content_stats)
    return TaskLosses(
        groups={"content_encoder": c_kl * kl + RECONSTRUCTION_WEIGHT * mse,
                "content_decoder": RECONSTRUCTION_WEIGHT * mse},
        scalars={"mse": mse, "kl": kl})


def content_task_losses(recon, frame, content_stats, d_recon, d_random, d_real, c_kl, c_img_dis, xp_vs_xtilde):
    """Content task. d_* are image-discriminator logits on x̃, x_p and the real x."""
    mse = F.mse_loss(recon, frame)
    kl = kl_divergence(*content_stats)
    g_recon, g_random = bce(d_recon, 1), bce(d_random, 1)
    fake_recon, fake_random, real = bce(d_recon, 0), bce(d_random, 0), bce(d_real, 1)
    fake_cost = ((2 * (1 - xp_vs_xtilde) * fake_recon) + (2 * xp_vs_xtilde * fake_random)) / 2
    return TaskLosses(
        groups={"content_encoder": c_kl * kl + RECONSTRUCTION_WEIGHT * mse,
                "content_decoder": RECONSTRUCTION_WEIGHT * mse + c_img_dis * (g_recon + xp_vs_xtilde * g_random),
                "image_discriminator": fake_recon + xp_vs_xtilde * fake_random + real},
        real_cost=real, fake_cost=fake_cost, margin=CONTENT_MARGIN,
        scalars={"mse": mse, "kl": kl, "g_recon": g_recon, "g_random": g_random,
                 "d_real": real, "d_fake_recon": fake_recon, "d_fake_random": fake_random})


def frame_task_losses(pred, target, motion_stats, pred_features, target_features,
                      d_pred, d_random, d_real, img_m_kl, pred_scale_feat):
    """Frame task. d_* are image-discriminator logits on x̃, x_p and the real x_t."""
    mse = F.mse_loss(pred, target)
    kl = kl_divergence(*motion_stats)
    feat = scale_feature_loss(pred_features, target_features)
    g_pred, g_random = bce(d_pred, 1), bce(d_random, 1)
    fake_pred, fake_random, real = bce(d_pred, 0), bce(d_random, 0), bce(d_real, 1)
    return TaskLosses(
        groups={"motion_encoder": img_m_kl * kl + RECONSTRUCTION_WEIGHT * mse + pred_scale_feat * feat,
                "motion_decoder": RECONSTRUCTION_WEIGHT * mse + FRAME_ADVERSARIAL_WEIGHT * (g_pred + g_random)
                + pred_scale_feat * feat,
                "image_discriminator": fake_pred + fake_random + real},
        real_cost=real, fake_cost=(fake_pred + fake_random) / 2, margin=FRAME_MARGIN,
        scalars={"mse": mse, "kl": kl, "scale_feat": feat, "g_pred": g_pred, "g_random": g_random,
                 "d_real": real, "d_fake_pred": fake_pred, "d_fake_random": fake_random})


def video_task_losses(video, images, motion_stats, pred_features, target_features, labels,
                      d_video, d_random, d_real, m_kl, video_scale_feat):
    """Video task. d_* are `(realness logits [B], class logits [B, nc])` of the video discriminator
    on ṽ, v_p and the real clip; features are lists over the T−1 steps of lists over scales."""
    steps = len(pred_features)
    mse = F.mse_loss(video, images)
    kl = kl_divergence(*motion_stats)
    feat = sum(scale_feature_loss(p, t) for p, t in zip(pred_features, target_features, strict=True)) / steps
    g_video, g_random = bce(d_video[0], 1), bce(d_random[0], 1)
    ce_video, ce_random = F.cross_entropy(d_video[1], labels), F.cross_entropy(d_random[1], labels)
    fake_video, fake_random, real = bce(d_video[0], 0), bce(d_random[0], 0), bce(d_real[0], 1)
    ce_real = F.cross_entropy(d_real[1], labels)
    return TaskLosses(
        groups={"motion_encoder": m_kl * kl + RECONSTRUCTION_WEIGHT * mse + video_scale_feat * feat,
                "motion_decoder": RECONSTRUCTION_WEIGHT * mse + g_video + g_random + ce_video + ce_random
                + video_scale_feat * feat,
                "video_discriminator": fake_video + fake_random + real + ce_real},
        real_cost=real, fake_cost=(fake_video + fake_random) / 2, margin=VIDEO_MARGIN,
        scalars={"mse": mse, "kl": kl, "scale_feat": feat, "g_video": g_video, "g_random": g_random,
                 "ce_video": ce_video, "ce_random": ce_random, "d_real": real, "ce_real": ce_real,
                 "d_fake_video": fake_video, "d_fake_random": fake_random})
