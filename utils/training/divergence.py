"""Naming the likely cause of a non-finite training step from what the step itself computed.

A step whose losses are not finite is skipped (`utils.training.optimization.update_step`); before its tensors
are dropped, `nonfinite_cause` looks, in this order, at the batch (bad data), the weights (an earlier
update already poisoned them), the generated frames of the step (the free-running unroll blowing up:
the first step whose frames exceed `FRAME_LIMIT` or are not finite) and the loss terms (which were
not finite), and returns one phrase for the training log and the line that stops the run.
"""
import math

import torch

# Frames leave the content decoder through tanh ([-1, 1]); only the fusion at scale 64 (raw kernels and
# a mask applied to the decoded image) can move them outside. Beyond this they are diverging.
FRAME_LIMIT = 1e4
# visuals keys holding generated frames (`[B, C, H, W]`) or videos (`[B, C, T, H, W]`), by task
GENERATED = {"pretrain": ("recon",), "content": ("recon", "random"), "frame": ("pred", "random"),
             "video": ("video", "random")}


def first_diverged_step(video, limit=FRAME_LIMIT):
    """video `[B, C, T, H, W]` -> `(k, largest |x| of frame k)` for the first frame k that is
    non-finite or exceeds `limit` in absolute value, or None when every frame is within it."""
    flat = video.detach().float().transpose(1, 2).flatten(2)                  # [B, T, C·H·W]
    bad_value = torch.where(torch.isfinite(flat), flat.abs(), torch.full_like(flat, math.inf))
    peak = bad_value.amax(dim=(0, 2))                                          # [T]
    over = torch.nonzero(peak > limit)
    if over.numel() == 0:
        return None
    k = int(over[0])
    return k, float(peak[k])


def nonfinite_cause(task, batch_images, nets, losses, visuals, limit=FRAME_LIMIT):
    """One phrase naming the likely cause of a non-finite `task` step.

    batch_images `[B, C, T, H, W]`; nets: the networks (their weights are checked); losses: the
    step's `TaskLosses`; visuals: dict of the step's tensors (generated frames `[B, C, H, W]` or videos
    `[B, C, T, H, W]` under the keys of `GENERATED`). Returns a string such as
    "generated frames (video) exceeded ±1e+04 at step 3 of the unroll (largest |x| 2.1e+05)".
    """
    if not bool(torch.isfinite(batch_images).all()):
        return "the batch's frames were not finite (the data)"
    for name, tensor in nets.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return f"weights were already not finite before the step ({name})"
    for key in GENERATED.get(task, ()):
        frames = visuals.get(key)
        if frames is None:
            continue
        video = frames if frames.dim() == 5 else frames.unsqueeze(2)
        found = first_diverged_step(video, limit)
        if found is not None:
            k, peak = found
            where = f"at step {k} of the unroll" if frames.dim() == 5 else "in the generated frame"
            size = "not finite" if math.isinf(peak) or math.isnan(peak) else f"largest |x| {peak:.2g}"
            return f"generated frames ({key}) exceeded ±{limit:.0e} {where} ({size})"
    bad = [name for name, value in losses.scalars.items() if not math.isfinite(float(value))]
    bad_groups = [name for name, value in losses.groups.items() if not math.isfinite(float(value))]
    if bad:
        return "non-finite loss terms: " + ", ".join(bad)
    if bad_groups:
        return "non-finite group losses: " + ", ".join(bad_groups)
    return "no non-finite input, weight, frame or loss term found (the balance costs)"
