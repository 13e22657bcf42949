"""Adaptive separable convolution (SepConv), the motion-fusion operator.

`separable_conv` is the only public entry point; it validates its arguments
and dispatches: CPU tensors -> `cpu_backend` (the reference's sums with a hand-written
backward, about twice as fast); CUDA tensors -> the
compiled kernel (a precompiled cubin/fatbin from bashes/misc/install.bash,
else run-time NVRTC through CuPy), else the reference with one warning.
The environment variable TWOSTREAMVAN_SEPCONV=reference forces the reference.
`active_backend(device)` says which path a device gets and why.
"""
import os
import warnings

import torch

from .checks import check_inputs
from .cpu_backend import separable_conv_cpu
from .reference import separable_conv_reference

__all__ = ["separable_conv", "separable_conv_reference", "separable_conv_cpu", "active_backend",
           "Backend", "SepConvFallbackWarning", "ENV_VAR"]

ENV_VAR = "TWOSTREAMVAN_SEPCONV"
_ENV_CHOICES = ("auto", "reference")
_warned = False


class SepConvFallbackWarning(RuntimeWarning):
    """Warned once per process when CUDA tensors fall back to the reference."""


class Backend(str):
    """A backend name ('reference', 'cpu', 'cuda-precompiled', 'cuda-nvrtc') that
    compares equal to that plain string and carries `.reason` (why it was chosen)."""

    def __new__(cls, name, reason):
        obj = super().__new__(cls, name)
        obj.reason = reason
        return obj

    def __repr__(self):
        return f"Backend({str(self)!r}, reason={self.reason!r})"


def _env_choice():
    value = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if value not in _ENV_CHOICES:
        raise ValueError(f"{ENV_VAR} must be one of {list(_ENV_CHOICES)} or unset, got {value!r}.")
    return value


def _autocast_on(device_type):
    try:
        return torch.is_autocast_enabled(device_type)
    except (RuntimeError, TypeError, ValueError):  # device types without autocast
        return False


def active_backend(device):
    """Say which SepConv path tensors on `device` take, and why.

    Input: a torch.device, a device string ('cpu', 'cuda:1') or a CUDA index.
    Output: a Backend (a str equal to 'reference', 'cpu', 'cuda-precompiled' or
    'cuda-nvrtc') whose `.reason` attribute explains the choice. On CUDA this
    loads (and caches) the kernels for that device.
    """
    device = torch.device("cuda", device) if isinstance(device, int) else torch.device(device)
    if _env_choice() == "reference":
        return Backend("reference", f"{ENV_VAR}=reference forces the PyTorch reference")
    if device.type != "cuda":
        if device.type == "cpu":
            return Backend("cpu", "cpu tensors use the hand-written backward of sepconv/cpu_backend.py")
        return Backend("reference", f"{device.type} tensors always use the PyTorch reference")
    from . import cuda_backend
    name, reason = cuda_backend.kernel_status(device)
    return Backend(name, reason)


def separable_conv(padded_input, vertical, horizontal):
    """Per-pixel adaptive separable convolution.

    O[b,c,y,x] = sum_{i,j<K} Xpad[b,c,y+i,x+j] * V[b,i,y,x] * H[b,j,y,x].
    Inputs: padded_input [B, C, H+K-1, W+K-1], vertical [B, K, H, W],
    horizontal [B, K, H, W]; K odd; same floating dtype and device.
    Output: [B, C, H, W], differentiable in all three inputs. Under autocast
    the inputs may differ in dtype and are computed in float32 (float64 if
    any input is float64), which is also the output dtype.
    Raises ValueError (TypeError for non-tensors) on malformed arguments.
    """
    global _warned
    check_inputs(padded_input, vertical, horizontal)
    device = padded_input.device
    if _autocast_on(device.type):
        dtype = torch.float32  # at least float32; float64 stays float64
        for t in (padded_input, vertical, horizontal):
            dtype = torch.promote_types(dtype, t.dtype)
        with torch.autocast(device.type, enabled=False):
            return separable_conv(padded_input.to(dtype), vertical.to(dtype), horizontal.to(dtype))
    backend = active_backend(device)
    if backend == "cpu":
        return separable_conv_cpu(padded_input, vertical, horizontal)
    if backend != "reference":
        from .cuda_backend import cuda_separable_conv
        return cuda_separable_conv(padded_input, vertical, horizontal)
    if padded_input.is_cuda and _env_choice() != "reference" and not _warned:
        _warned = True
        warnings.warn(f"sepconv: CUDA kernel unavailable, using the slower PyTorch reference: "
                      f"{backend.reason}.", SepConvFallbackWarning, stacklevel=2)
    return separable_conv_reference(padded_input, vertical, horizontal)
