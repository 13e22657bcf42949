"""Evaluation video classifier of EVAL.md: the video discriminator's body with a class head."""
import numpy as np
import torch
from torch import nn

from models.discriminators import build_video_body, build_video_head, check_video_input
from models.init import initialize_weights


class VideoClassifier(nn.Module):
    """Video classifier: `[B, C, T, H, W]` (T >= 10) -> `[B, num_classes]` logits.

    Same body as VideoDiscriminator; its last 3-D conv gives `num_classes`
    logits. Where the output keeps several positions (T > 10 or frames larger
    than 64x64) the logits are averaged over them.
    """

    def __init__(self, n_channels: int = 3, num_classes: int = None, ndf: int = 64):
        super().__init__()
        if num_classes is None or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes}")
        self.n_channels = n_channels
        self.num_classes = num_classes
        self.body = build_video_body(n_channels, ndf)
        self.head = build_video_head(ndf, num_classes)
        initialize_weights(self)

    def features(self, video):
        """Take a video `[B, C, T, H, W]`; return the penultimate features (body output
        flattened), `[B, F]` with F = 8·ndf·(T-8)·(H/16)·(W/16)."""
        check_video_input(video, self.n_channels)
        return self.body(video).flatten(1)

    def forward(self, video):
        """Take a video `[B, C, T, H, W]`; return class logits `[B, num_classes]`."""
        check_video_input(video, self.n_channels)
        return self.head(self.body(video)).flatten(2).mean(dim=2)


def fold_to_action(pred_or_probs, n_actions: int):
    """Fold actor×action classes (label = action + actor·n_actions) back to the action.

    Takes integer class predictions `[N]` (tensor or array) or per-class scores
    `[N, K]` (probabilities or logits, of which the argmax is taken); returns
    the action index `class mod n_actions`, `[N]`, of the same library.
    """
    if n_actions < 1:
        raise ValueError(f"n_actions must be >= 1, got {n_actions}")
    if isinstance(pred_or_probs, torch.Tensor):
        pred = pred_or_probs.argmax(dim=-1) if pred_or_probs.dim() == 2 else pred_or_probs.long()
        return torch.remainder(pred, n_actions)
    array = np.asarray(pred_or_probs)
    pred = array.argmax(axis=-1) if array.ndim == 2 else array.astype(np.int64)
    return np.mod(pred, n_actions)
