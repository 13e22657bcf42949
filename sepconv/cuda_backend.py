"""CUDA backend: finds, loads and launches the kernels of sepconv_kernels.cu.

Per device (cached), in this order: a precompiled binary from
bashes/misc/install.bash (`sepconv_kernels.sm_XY.<tag>.cubin` for the device's
compute capability, a same-major lower-minor cubin, or a
`sepconv_kernels.compute_XY.<tag>.fatbin` PTX binary with XY <= capability;
<tag> must be the current source's source_tag()), loaded
through `cupy.RawModule(path=...)`; else the .cu source compiled at run time
by CuPy's NVRTC; else nothing, with the reason (the caller then uses the
reference). Binaries are looked up in $TWOSTREAMVAN_SEPCONV_BINDIR when set,
then next to this file. float32 and float64 have native kernels; other
floating dtypes are computed in float32 and cast back.
"""
import hashlib
import os
import re
import threading
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "sepconv_kernels.cu"
BINDIR_ENV = "TWOSTREAMVAN_SEPCONV_BINDIR"
KERNELS = ("forward", "grad_input", "grad_vertical", "grad_horizontal")
BLOCK = 256
MAX_BLOCKS = 1 << 20  # grid-stride loops cover anything beyond this

_cache = {}
_lock = threading.Lock()


def binary_dirs():
    """Directories searched for precompiled binaries, in order (list of Path)."""
    dirs = [Path(os.environ[BINDIR_ENV])] if os.environ.get(BINDIR_ENV) else []
    return dirs + [HERE]


def source_tag():
    """First 12 hex digits of the SHA-256 of sepconv_kernels.cu (str); install.bash
    puts the same tag in binary names, so binaries of an edited source are ignored."""
    return hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]


def binary_candidates(major, minor, dirs=None):
    """Precompiled binaries for compute capability (major, minor): (usable, stale).

    Inputs: the capability and directories (default binary_dirs()). Output:
    two lists of Paths named sepconv_kernels.<arch>.<tag>.<cubin|fatbin>.
    usable, best first, holds those built from the current source: the exact
    sm cubin, same-major lower-minor sm cubins (binary compatible), then
    compute_XY PTX fatbins with XY <= the capability, newest first (the driver
    JIT-compiles PTX forward). stale holds matching binaries of other sources.
    """
    tag = source_tag()
    ranked, stale = [], []
    for rank_dir, d in enumerate(dirs if dirs is not None else binary_dirs()):
        for path in d.glob("sepconv_kernels.*"):
            m = re.fullmatch(r"sepconv_kernels\.(sm|compute)_(\d+)(\d)\.([0-9a-f]{12})\.(cubin|fatbin)",
                             path.name)
            if not m:
                continue
            kind, maj, mnr, ext = m.group(1), int(m.group(2)), int(m.group(3)), m.group(5)
            if kind == "sm" and ext == "cubin" and maj == major and mnr <= minor:
                key = (rank_dir, 0, -mnr)
            elif kind == "compute" and ext == "fatbin" and (maj, mnr) <= (major, minor):
                key = (rank_dir, 1, -maj, -mnr)
            else:
                continue
            if m.group(4) == tag:
                ranked.append((key, path))
            else:
                stale.append(path)
    return [p for _, p in sorted(ranked)], sorted(stale)


def _get_functions(module):
    return {(name, dt): module.get_function(f"sepconv_{name}_{dt}")
            for name in KERNELS for dt in ("f32", "f64")}


def _load(index):
    """Return (backend name, reason, kernel dict or None) for cuda:index."""
    if not torch.cuda.is_available():
        return "reference", "torch.cuda is not available (CPU-only PyTorch build or no CUDA device)", None
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        return "reference", f"cupy is not importable ({type(exc).__name__}: {exc}); install the CuPy build of your CUDA (cupy-cuda12x or cupy-cuda13x)", None
    major, minor = torch.cuda.get_device_capability(index)
    arch = f"sm_{major}{minor}"
    notes = []
    with cupy.cuda.Device(index):
        candidates, stale = binary_candidates(major, minor)
        if stale:
            notes.append(f"ignored {', '.join(p.name for p in stale)} (built from another "
                         f"{SOURCE.name}; rerun install.bash)")
        for path in candidates:
            try:
                return ("cuda-precompiled", f"loaded {path} on cuda:{index} ({arch})",
                        _get_functions(cupy.RawModule(path=str(path))))
            except Exception as exc:
                notes.append(f"{path.name} did not load ({type(exc).__name__}: {exc})")
        if not candidates:
            notes.append(f"no precompiled binary for {arch} (bash bashes/misc/install.bash {arch})")
        try:
            kernels = _get_functions(cupy.RawModule(code=SOURCE.read_text()))
            return "cuda-nvrtc", "; ".join(notes + [f"compiled {SOURCE.name} with NVRTC for {arch}"]), kernels
        except Exception as exc:
            notes.append(f"NVRTC compilation failed ({type(exc).__name__}: {exc})")
    return "reference", "; ".join(notes), None


def _entry(device):
    index = device.index if device.index is not None else torch.cuda.current_device()
    with _lock:
        if index not in _cache:
            _cache[index] = _load(index)
        return index, _cache[index]


def kernel_status(device):
    """(backend name, reason) for a CUDA torch.device; loads kernels on first use."""
    if not torch.cuda.is_available():
        return "reference", "torch.cuda is not available (CPU-only PyTorch build or no CUDA device)"
    _, (name, reason, _) = _entry(device)
    return name, reason


def _launch(kernel, index, total, tensors, sizes, strides):
    import cupy
    if total == 0:
        return
    grid = min((total + BLOCK - 1) // BLOCK, MAX_BLOCKS)
    args = tuple(np.uint64(t.data_ptr()) for t in tensors)
    args += tuple(np.int64(s) for s in sizes + strides)
    stream = torch.cuda.current_stream(index).cuda_stream
    with cupy.cuda.Device(index), cupy.cuda.ExternalStream(stream, index):
        kernel((grid,), (BLOCK,), args)


class _SepConvCUDA(torch.autograd.Function):
    """Autograd wrapper of the four kernels (float32 or float64 CUDA tensors)."""

    @staticmethod
    def forward(ctx, xpad, v, h):
        index, (_, _, kernels) = _entry(xpad.device)
        xpad, v, h = xpad.contiguous(), v.contiguous(), h.contiguous()
        b, c = xpad.shape[:2]
        k, hh, ww = v.shape[1:]
        out = torch.empty((b, c, hh, ww), dtype=xpad.dtype, device=xpad.device)
        dt = "f64" if xpad.dtype == torch.float64 else "f32"
        sizes = [b, c, hh, ww, k]
        strides = list(xpad.stride()) + list(v.stride()) + list(out.stride())
        _launch(kernels["forward", dt], index, out.numel(), (xpad, v, h, out), sizes, strides)
        ctx.save_for_backward(xpad, v, h)
        ctx.launch = (index, kernels, dt, sizes)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gout):
        xpad, v, h = ctx.saved_tensors
        index, kernels, dt, sizes = ctx.launch
        gout = gout.contiguous()
        strides = list(xpad.stride()) + list(v.stride()) + list(gout.stride())
        gx = gv = gh = None
        if ctx.needs_input_grad[0]:
            gx = torch.empty_like(xpad)
            _launch(kernels["grad_input", dt], index, gx.numel(), (gout, v, h, gx), sizes, strides)
        if ctx.needs_input_grad[1]:
            gv = torch.empty_like(v)
            _launch(kernels["grad_vertical", dt], index, gv.numel(), (gout, xpad, h, gv), sizes, strides)
        if ctx.needs_input_grad[2]:
            gh = torch.empty_like(h)
            _launch(kernels["grad_horizontal", dt], index, gh.numel(), (gout, xpad, v, gh), sizes, strides)
        return gx, gv, gh


def cuda_separable_conv(xpad, v, h):
    """SepConv on CUDA tensors with the compiled kernels (inputs validated).

    Inputs: xpad [B, C, H+K-1, W+K-1], v and h [B, K, H, W] on one CUDA
    device, one floating dtype. Output [B, C, H, W] in that dtype (float16 and
    bfloat16 are computed in float32). Raises RuntimeError if the device has
    no kernels (check sepconv.active_backend first).
    """
    _, (name, reason, kernels) = _entry(xpad.device)
    if kernels is None:
        raise RuntimeError(f"sepconv: no CUDA kernels on {xpad.device}: {reason}.")
    if xpad.dtype in (torch.float32, torch.float64):
        return _SepConvCUDA.apply(xpad, v, h)
    return _SepConvCUDA.apply(xpad.float(), v.float(), h.float()).to(xpad.dtype)
