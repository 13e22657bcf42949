"""Benchmark of SepConv: compiled CUDA kernel vs. PyTorch reference.

    python -m sepconv.benchmark [--device cuda:0] [--batch 16] [--iters 20]

For the four TwoStreamVAN fusion shapes (K=5) it prints forward and
forward+backward times of both backends, the minimum bytes each pass must
move (every input read once, every output written once) and the fraction of
the device's measured copy bandwidth that this minimum represents at the
measured time. On CPU (or without the kernels) only the reference runs.
"""
import argparse
import time

import torch

from . import cuda_backend, separable_conv_reference

SHAPES = [(16, 8), (128, 16), (32, 32), (3, 64)]  # (channels, size) at scales 8..64


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn, device, iters, warmup=2):
    """Median wall time of fn() in milliseconds (device synchronised), float."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def copy_bandwidth(device, nbytes):
    """Measured bytes/second of a large same-device copy (read + write counted), float."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    ms = time_ms(lambda: dst.copy_(src), device, iters=10)
    return 2 * nbytes / (ms * 1e-3)


def min_bytes(b, c, size, k, elem):
    """Minimum bytes moved by (forward, forward+backward) for one shape: ints."""
    x, o, kern = b * c * (size + k - 1) ** 2, b * c * size * size, b * k * size * size
    fwd = x + 2 * kern + o                 # read X, V, H; write O
    bwd = o + x + 2 * kern + x + 2 * kern  # read gO, X, V, H; write gX, gV, gH
    return fwd * elem, (fwd + bwd) * elem


def make_passes(fn, b, c, size, k, device):
    """(forward, forward+backward) closures of fn on fresh random float32 inputs."""
    x = torch.randn(b, c, size + k - 1, size + k - 1, device=device, requires_grad=True)
    v = torch.randn(b, k, size, size, device=device, requires_grad=True)
    h = torch.randn(b, k, size, size, device=device, requires_grad=True)
    gout = torch.randn(b, c, size, size, device=device)

    def forward():
        with torch.no_grad():
            fn(x, v, h)

    def forward_backward():
        torch.autograd.grad(fn(x, v, h), (x, v, h), gout)

    return forward, forward_backward


def main(argv=None):
    """Parse arguments, run the benchmark and print the table (no return value)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--kernel-size", type=int, default=5)
    p.add_argument("--iters", type=int, default=20)
    args = p.parse_args(argv)
    device, k, b = torch.device(args.device), args.kernel_size, args.batch
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    if device.type == "cuda":
        kernel, reason = cuda_backend.kernel_status(device)
    else:
        kernel, reason = "reference", f"{device.type} tensors: the kernel needs a CUDA device"
    kernel_ok = kernel != "reference"
    print(f"device: {device} ({name}); batch {b}, K={k}, float32, median of {args.iters} runs")
    print(f"kernel: {kernel} ({reason})" if kernel_ok
          else f"kernel: unavailable ({reason}); timing the reference only")
    bw = copy_bandwidth(device, 1 << 30 if device.type == "cuda" else 1 << 28)
    print(f"measured copy bandwidth: {bw / 1e9:.1f} GB/s")

    backends = [("kernel", cuda_backend.cuda_separable_conv)] if kernel_ok else []
    backends.append(("reference", separable_conv_reference))
    header = f"{'shape [B,C,H,W]':<20}{'backend':<11}{'fwd ms':>9}{'fwd+bwd ms':>12}" \
             f"{'min MB fwd':>12}{'min MB f+b':>12}{'%BW fwd':>9}{'%BW f+b':>9}"
    print(header)
    totals = {}
    for c, size in SHAPES:
        mb_f, mb_fb = min_bytes(b, c, size, k, 4)
        for label, fn in backends:
            fwd, fwd_bwd = make_passes(fn, b, c, size, k, device)
            t_f, t_fb = time_ms(fwd, device, args.iters), time_ms(fwd_bwd, device, args.iters)
            tot = totals.setdefault(label, [0.0, 0.0, 0, 0])
            for i, val in enumerate((t_f, t_fb, mb_f, mb_fb)):
                tot[i] += val
            _row(f"[{b},{c},{size},{size}]", label, t_f, t_fb, mb_f, mb_fb, bw)
    for label, (t_f, t_fb, mb_f, mb_fb) in totals.items():
        _row("total", label, t_f, t_fb, mb_f, mb_fb, bw)


def _row(shape, label, t_f, t_fb, mb_f, mb_fb, bw):
    frac = [100 * nbytes / (t * 1e-3) / bw for nbytes, t in ((mb_f, t_f), (mb_fb, t_fb))]
    print(f"{shape:<20}{label:<11}{t_f:>9.3f}{t_fb:>12.3f}{mb_f / 1e6:>12.2f}{mb_fb / 1e6:>12.2f}"
          f"{frac[0]:>8.1f}%{frac[1]:>8.1f}%")


if __name__ == "__main__":
    main()
