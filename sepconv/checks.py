"""Argument validation shared by every SepConv backend.

All shape, dtype and device errors are raised here, before any backend runs,
so the reference and the CUDA kernel reject exactly the same inputs with the
same one-sentence messages.
"""
import torch


def _shape(t):
    return list(t.shape)


def check_inputs(padded_input, vertical, horizontal):
    """Validate SepConv arguments; return the kernel size K.

    Inputs: padded_input [B, C, H+K-1, W+K-1], vertical [B, K, H, W],
    horizontal [B, K, H, W], all floating point, same dtype and device, K odd.
    Output: K (int). Dtypes may differ while autocast is enabled for the
    device type (the caller then computes in float32). Raises TypeError for non-tensors and ValueError (one
    sentence naming the argument, the expected and the received shape) for
    every other violation.
    """
    named = (("padded_input", padded_input), ("vertical", vertical),
             ("horizontal", horizontal))
    for name, t in named:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"separable_conv: {name} must be a torch.Tensor, got {type(t).__name__}.")
    layouts = {"padded_input": "[B, C, H+K-1, W+K-1]", "vertical": "[B, K, H, W]",
               "horizontal": "[B, K, H, W]"}
    for name, t in named:
        if t.dim() != 4:
            raise ValueError(f"separable_conv: {name} must be a 4-D tensor {layouts[name]}, "
                             f"got {t.dim()}-D shape {_shape(t)}.")
        if not t.is_floating_point():
            raise ValueError(f"separable_conv: {name} must be a floating-point tensor, got dtype {t.dtype}.")

    b, k, h, w = vertical.shape
    if k % 2 == 0:
        raise ValueError(f"separable_conv: vertical must have an odd kernel size K in dim 1, "
                         f"got K={k} (shape {_shape(vertical)}).")
    if tuple(horizontal.shape) != (b, k, h, w):
        raise ValueError(f"separable_conv: horizontal must have shape {[b, k, h, w]} to match "
                         f"vertical [B, K, H, W], got {_shape(horizontal)}.")
    pb, _, ph, pw = padded_input.shape
    if (pb, ph, pw) != (b, h + k - 1, w + k - 1):
        raise ValueError(f"separable_conv: padded_input must have shape {[b, 'C', h + k - 1, w + k - 1]} "
                         f"for vertical of shape {_shape(vertical)} (K={k}), got {_shape(padded_input)}.")

    try:  # under autocast mixed dtypes are expected; the caller casts to float32
        autocast = torch.is_autocast_enabled(padded_input.device.type)
    except (RuntimeError, TypeError, ValueError):
        autocast = False
    for name, t in named[1:]:
        if t.dtype != padded_input.dtype and not autocast:
            raise ValueError(f"separable_conv: {name} must have the dtype of padded_input "
                             f"({padded_input.dtype}), got {t.dtype}.")
        if t.device != padded_input.device:
            raise ValueError(f"separable_conv: {name} must be on the device of padded_input "
                             f"({padded_input.device}), got {t.device}.")
    return k
