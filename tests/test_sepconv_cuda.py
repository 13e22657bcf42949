"""The SepConv CUDA kernels: build script, host emulation of the .cu source, GPU runs.

* install.bash: argument errors, unsupported archs, compiling every arch nvcc
  lists (needs nvcc; output goes to a temp dir).
* Host emulation (needs g++): sepconv_kernels.cu compiled as C++ with the CUDA
  built-ins replaced by host globals, every kernel "launched" thread by thread
  and compared with the PyTorch reference, including strides and 64-bit offsets.
* GPU tests (marked `cuda`, skipped without CUDA): forward and the three
  gradients of the dispatched kernel against the float64 reference.
"""
import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import sepconv
from sepconv import cuda_backend, separable_conv, separable_conv_reference

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "bashes" / "misc" / "install.bash"
NVCC = shutil.which("nvcc")
NO_NVCC_PATH = "/usr/bin:/bin"  # system tools; nvcc usually lives elsewhere
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")


def install(*args, env_extra=None, path=None):
    env = {"PATH": path or "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp"}
    env.update(env_extra or {})
    return subprocess.run([shutil.which("bash"), str(INSTALL), *args], capture_output=True, text=True, env=env)


def one_line_error(res, match):
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], res.stderr
    assert not list(ROOT.glob("sepconv/*.tmp*"))


# ---------------------------------------------------------------- install.bash
@pytest.mark.parametrize("arch", ["foo", "sm_", "compute_5x", "sm90", "sm_9.0", "SM_90"])
def test_install_rejects_malformed_arch(arch):
    one_line_error(install(arch), f"malformed architecture '{arch}'")


def test_install_usage_errors():
    one_line_error(install(), "missing architecture")
    one_line_error(install("sm_90", "sm_80"), "expected one architecture")


def test_install_reports_missing_nvcc(tmp_path):
    if shutil.which("nvcc", path=NO_NVCC_PATH):
        pytest.skip(f"nvcc is installed in {NO_NVCC_PATH}")
    one_line_error(install("sm_90", path=NO_NVCC_PATH), "nvcc not found")
    one_line_error(install("sm_90", env_extra={"CUDA_HOME": str(tmp_path)}), f"{tmp_path}/bin/nvcc")


@needs_nvcc
def test_install_rejects_unsupported_arch(tmp_path):
    res = install("compute_52", "--out-dir", str(tmp_path))
    one_line_error(res, "does not support compute_52; it supports: compute_")
    assert not list(tmp_path.iterdir())


@needs_nvcc
def test_install_honours_cuda_home(tmp_path):
    homes = [Path(NVCC).resolve().parents[1], Path("/usr/local/cuda")]
    homes = [h for h in homes if (h / "bin" / "nvcc").is_file()]
    if not homes:
        pytest.skip("cannot locate the toolkit directory behind nvcc")
    cuda_home = homes[0]
    res = install("sm_90", "--out-dir", str(tmp_path), env_extra={"CUDA_HOME": str(cuda_home)},
                  path=NO_NVCC_PATH)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / f"sepconv_kernels.sm_90.{cuda_backend.source_tag()}.cubin").stat().st_size > 0


def _kernel_names_in(data):
    return [f"sepconv_{k}_{t}" for k in cuda_backend.KERNELS for t in ("f32", "f64")
            if f"sepconv_{k}_{t}".encode() not in data]


@needs_nvcc
def test_install_compiles_sm_90(tmp_path):
    stale = tmp_path / "sepconv_kernels.sm_90.0123456789ab.cubin"
    keep = [tmp_path / "sepconv_kernels.sm_80.0123456789ab.cubin", tmp_path / "other.cubin"]
    for path in [stale, *keep]:
        path.write_bytes(b"old")
    res = install("sm_90", env_extra={"TWOSTREAMVAN_SEPCONV_BINDIR": str(tmp_path)})
    out = tmp_path / f"sepconv_kernels.sm_90.{cuda_backend.source_tag()}.cubin"
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"install.bash: wrote {out} (sm_90, nvcc ")
    assert "removed 1 stale sm_90" in res.stdout and len(res.stdout.splitlines()) == 1
    assert _kernel_names_in(out.read_bytes()) == []
    assert sorted(tmp_path.iterdir()) == sorted([out, *keep])
    assert cuda_backend.binary_candidates(9, 0, [tmp_path]) == ([out], [])
    assert cuda_backend.binary_candidates(8, 6, [tmp_path]) == ([], [keep[0]])


@needs_nvcc
@pytest.mark.slow
def test_install_compiles_every_listed_arch(tmp_path):
    archs = subprocess.run([NVCC, "--list-gpu-arch"], capture_output=True, text=True).stdout.split()
    archs += subprocess.run([NVCC, "--list-gpu-code"], capture_output=True, text=True).stdout.split()
    assert archs
    for arch in archs:
        res = install(arch, "--out-dir", str(tmp_path))
        assert res.returncode == 0, f"{arch}: {res.stderr}"
        ext = "cubin" if arch.startswith("sm_") else "fatbin"
        assert (tmp_path / f"sepconv_kernels.{arch}.{cuda_backend.source_tag()}.{ext}").stat().st_size > 0


def test_binary_candidates_order(tmp_path):
    tag, other = cuda_backend.source_tag(), "0123456789ab"
    names = [f"sm_86.{tag}.cubin", f"sm_80.{tag}.cubin", f"sm_90.{tag}.cubin", f"compute_80.{tag}.fatbin",
             f"compute_75.{tag}.fatbin", f"compute_90.{tag}.fatbin", f"sm_86.{tag}.fatbin",
             f"sm_86.{tag}.cubin.tmpXYZ", f"compute_86.{tag}.fatbin", f"sm_86.{other}.cubin", "sm_86.cubin"]
    for n in names:
        (tmp_path / f"sepconv_kernels.{n}").write_bytes(b"x")
    usable, stale = cuda_backend.binary_candidates(8, 6, [tmp_path])
    assert [p.name.split(".")[1] for p in usable] == ["sm_86", "sm_80", "compute_86", "compute_80",
                                                      "compute_75"]
    assert [p.name for p in stale] == [f"sepconv_kernels.sm_86.{other}.cubin"]
    assert cuda_backend.binary_candidates(7, 0, [tmp_path]) == ([], [])
    first = tmp_path / "first"
    first.mkdir()
    (first / f"sepconv_kernels.compute_75.{tag}.fatbin").write_bytes(b"x")
    assert cuda_backend.binary_candidates(8, 6, [first, tmp_path])[0][0].parent == first


# ---------------------------------------------------------------- host emulation
SHIM = r"""
#define __global__
#define __device__
#define __forceinline__ inline
struct sc_dim3 { unsigned x, y, z; };
static sc_dim3 blockIdx, threadIdx, blockDim, gridDim;
#include "SOURCE"
extern "C" void sc_set_thread(unsigned grid, unsigned block, unsigned b, unsigned t) {
    gridDim.x = grid; blockDim.x = block; blockIdx.x = b; threadIdx.x = t;
}
"""


@pytest.fixture(scope="module")
def host_lib(tmp_path_factory):
    """The .cu kernels compiled for the CPU (g++), launched one emulated thread at a time."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is not available for the host emulation")
    d = tmp_path_factory.mktemp("emul")
    (d / "shim.cpp").write_text(SHIM.replace("SOURCE", str(cuda_backend.SOURCE)))
    subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-o", str(d / "emul.so"), str(d / "shim.cpp")],
                   check=True, capture_output=True)
    lib = ctypes.CDLL(str(d / "emul.so"))
    for k in cuda_backend.KERNELS:
        for t in ("f32", "f64"):
            getattr(lib, f"sepconv_{k}_{t}").argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_longlong] * 17
    return lib


def emulate(lib, kernel, ptrs, sizes, strides, grid, block):
    fn = getattr(lib, kernel)
    for b in range(grid):
        for t in range(block):
            lib.sc_set_thread(grid, block, b, t)
            fn(*ptrs, *sizes, *strides)


def emulated_sepconv(lib, x, v, h, gout, grid=3, block=7):
    """Run the four kernels on CPU tensors; outputs start as NaN. Returns out, gx, gv, gh."""
    suffix = "f64" if x.dtype == torch.float64 else "f32"
    out = torch.full_like(gout, float("nan"))
    gx, gv, gh = (torch.full_like(t, float("nan")) for t in (x, v, h))
    sizes = [x.shape[0], x.shape[1], v.shape[2], v.shape[3], v.shape[1]]
    strides = list(x.stride()) + list(v.stride()) + list(gout.stride())
    assert gx.stride() == x.stride() and h.stride() == gv.stride() == gh.stride() == v.stride()
    for name, ts in [("forward", (x, v, h, out)), ("grad_input", (gout, v, h, gx)),
                     ("grad_vertical", (gout, x, h, gv)), ("grad_horizontal", (gout, x, v, gh))]:
        emulate(lib, f"sepconv_{name}_{suffix}", [t.data_ptr() for t in ts], sizes, strides, grid, block)
    return out, gx, gv, gh


def reference_with_grads(x, v, h, gout):
    """Float64 reference output and gradients (x, v, h) for the upstream gradient gout."""
    inputs = [t.detach().double().requires_grad_() for t in (x, v, h)]
    out = separable_conv_reference(*inputs)
    return (out.detach(), *torch.autograd.grad(out, inputs, gout.double()))


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30)).item()


def random_case(b, c, hh, ww, k, dtype, seed, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    shapes = [(b, c, hh + k - 1, ww + k - 1), (b, k, hh, ww), (b, k, hh, ww), (b, c, hh, ww)]
    return [torch.randn(s, generator=g, dtype=torch.float64).to(device=device, dtype=dtype) for s in shapes]


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("b,c,hh,ww,k", [(2, 3, 4, 5, 1), (2, 3, 5, 4, 3), (1, 2, 6, 7, 5), (2, 2, 3, 9, 7)])
def test_emulated_kernels_match_reference(host_lib, b, c, hh, ww, k, dtype, tol):
    x, v, h, gout = random_case(b, c, hh, ww, k, dtype, seed=k)
    got = emulated_sepconv(host_lib, x, v, h, gout)
    for name, a, e in zip(("out", "gx", "gv", "gh"), got, reference_with_grads(x, v, h, gout)):
        assert not a.isnan().any(), name
        assert rel_err(a, e) < tol, name


@pytest.mark.parametrize("grid,block", [(1, 1), (2, 64), (50, 32)])
def test_emulated_kernels_any_launch_shape_and_strides(host_lib, grid, block):
    x, v, h, gout = (t.contiguous(memory_format=torch.channels_last)
                     for t in random_case(2, 3, 5, 6, 3, torch.float32, seed=1))
    assert x.stride()[1] == 1
    got = emulated_sepconv(host_lib, x, v, h, gout, grid, block)
    for a, e in zip(got, reference_with_grads(x, v, h, gout)):
        assert rel_err(a, e) < 1e-5


def test_emulated_kernels_use_64bit_offsets(host_lib, tmp_path):
    """Rows of the padded input 2^31+5 elements apart (a sparse file): 32-bit maths would fail."""
    b, c, hh, ww, k = 1, 2, 2, 3, 3
    row = 2 ** 31 + 5
    xs = (0, 4 * row, row, 1)  # channel c starts 4 rows after channel c-1
    n = 4 * row * (c - 1) + row * (hh + k - 2) + ww + k - 1
    bufs = []
    for name in ("x", "gx"):
        with open(tmp_path / name, "wb") as f:
            f.truncate(4 * n)
        bufs.append(torch.from_numpy(np.memmap(tmp_path / name, np.float32, "r+", shape=(n,))))
    x = torch.as_strided(bufs[0], (b, c, hh + k - 1, ww + k - 1), xs)
    gx = torch.as_strided(bufs[1], x.shape, xs)
    _, v, h, gout = random_case(b, c, hh, ww, k, torch.float32, seed=2)
    with torch.no_grad():
        x.copy_(torch.randn(x.shape))
        gx.fill_(float("nan"))
    out = torch.full_like(gout, float("nan"))
    gv, gh = torch.full_like(v, float("nan")), torch.full_like(h, float("nan"))
    sizes, strides = [b, c, hh, ww, k], list(xs) + list(v.stride()) + list(gout.stride())
    for name, ts in [("forward", (x, v, h, out)), ("grad_input", (gout, v, h, gx)),
                     ("grad_vertical", (gout, x, h, gv)), ("grad_horizontal", (gout, x, v, gh))]:
        emulate(host_lib, f"sepconv_{name}_f32", [t.data_ptr() for t in ts], sizes, strides, 1, 4)
    for a, e in zip((out, gx, gv, gh), reference_with_grads(x, v, h, gout)):
        assert rel_err(a, e) < 1e-5


# ---------------------------------------------------------------- GPU
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
SHAPES = [(16, 16, 8, 8, 5), (16, 128, 16, 16, 5), (16, 32, 32, 32, 5), (16, 3, 64, 64, 5),
          (3, 5, 7, 9, 3), (2, 3, 13, 11, 7), (2, 4, 5, 6, 1)]


@pytest.fixture
def gpu(monkeypatch):
    """cuda:0 with the compiled kernels active; skips without cupy, fails if they cannot load."""
    monkeypatch.delenv(sepconv.ENV_VAR, raising=False)
    try:
        import cupy  # noqa: F401
    except ImportError:
        pytest.skip("cupy is not installed, so the CUDA kernel path is unavailable")
    backend = sepconv.active_backend("cuda:0")
    assert backend in ("cuda-precompiled", "cuda-nvrtc"), backend.reason
    return torch.device("cuda:0")


def gpu_raw_kernels(x, v, h, gout):
    """Launch the four kernels directly into NaN-filled buffers. Returns out, gx, gv, gh."""
    index, (_, _, kernels) = cuda_backend._entry(x.device)
    suffix = "f64" if x.dtype == torch.float64 else "f32"
    out = torch.full_like(gout, float("nan"))
    gx, gv, gh = (torch.full_like(t, float("nan")) for t in (x, v, h))
    sizes = [x.shape[0], x.shape[1], v.shape[2], v.shape[3], v.shape[1]]
    strides = list(x.stride()) + list(v.stride()) + list(gout.stride())
    for name, ts in [("forward", (x, v, h, out)), ("grad_input", (gout, v, h, gx)),
                     ("grad_vertical", (gout, x, h, gv)), ("grad_horizontal", (gout, x, v, gh))]:
        cuda_backend._launch(kernels[name, suffix], index, ts[3].numel(), ts, sizes, strides)
    torch.cuda.synchronize(x.device)
    return out, gx, gv, gh


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("b,c,hh,ww,k", SHAPES)
def test_gpu_kernels_match_reference(gpu, b, c, hh, ww, k, dtype, tol):
    x, v, h, gout = random_case(b, c, hh, ww, k, dtype, seed=b * c + k, device=gpu)
    got = gpu_raw_kernels(x, v, h, gout)
    for name, a, e in zip(("out", "gx", "gv", "gh"), got, reference_with_grads(x, v, h, gout)):
        assert not a.isnan().any(), name
        assert rel_err(a, e) < tol, name


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("b,c,hh,ww,k", SHAPES)
def test_gpu_autograd_path_matches_reference(gpu, b, c, hh, ww, k):
    x, v, h, gout = random_case(b, c, hh, ww, k, torch.float32, seed=k, device=gpu)
    del gout
    torch.full((1 << 24,), float("nan"), device=gpu)  # poison the allocator's free blocks
    inputs = [t.requires_grad_() for t in (x, v, h)]
    out = separable_conv(*inputs)
    gout = torch.randn_like(out)
    grads = torch.autograd.grad(out, inputs, gout)
    for a, e in zip((out, *grads), reference_with_grads(x, v, h, gout)):
        assert a.dtype == torch.float32 and rel_err(a, e) < 1e-5


@pytest.mark.cuda
@requires_cuda
def test_gpu_gradcheck_float64(gpu):
    inputs = [t.requires_grad_() for t in random_case(2, 2, 3, 4, 3, torch.float64, seed=7, device=gpu)[:3]]
    assert torch.autograd.gradcheck(separable_conv, inputs, eps=1e-6, atol=1e-8)


@pytest.mark.cuda
@requires_cuda
def test_gpu_computes_only_needed_gradients(gpu, monkeypatch):
    x, v, h, _ = random_case(2, 3, 8, 8, 5, torch.float32, seed=0, device=gpu)
    names = {id(fn): key[0] for key, fn in cuda_backend._entry(gpu)[1][2].items()}
    launched = []
    real = cuda_backend._launch
    monkeypatch.setattr(cuda_backend, "_launch", lambda kern, *a: launched.append(names[id(kern)]) or real(kern, *a))
    v.requires_grad_()
    separable_conv(x, v, h).sum().backward()
    assert launched == ["forward", "grad_vertical"] and x.grad is None and h.grad is None
    expected = reference_with_grads(x, v, h, torch.ones(2, 3, 8, 8, device=gpu))[2]
    assert rel_err(v.grad, expected) < 1e-5


@pytest.mark.cuda
@requires_cuda
def test_gpu_runs_on_the_current_stream(gpu):
    src = random_case(4, 64, 32, 32, 5, torch.float32, seed=3, device=gpu)[:3]
    stream = torch.cuda.Stream(gpu)
    stream.wait_stream(torch.cuda.current_stream(gpu))  # src was written on the default stream
    with torch.cuda.stream(stream):
        x, v, h = (torch.zeros_like(t) for t in src)
        torch.cuda._sleep(50_000_000)  # the copies below land long after a default-stream launch
        for dst, s in zip((x, v, h), src):
            dst.copy_(s)
        out = separable_conv(x, v, h)
    stream.synchronize()
    assert rel_err(out, reference_with_grads(*src, torch.zeros_like(out))[0]) < 1e-5


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_gpu_second_device(gpu):
    dev = torch.device("cuda:1")
    assert sepconv.active_backend(dev) != "reference"
    x, v, h, gout = random_case(3, 5, 7, 9, 3, torch.float32, seed=9, device=dev)
    inputs = [t.requires_grad_() for t in (x, v, h)]
    with torch.cuda.device(0):
        out = separable_conv(*inputs)
        grads = torch.autograd.grad(out, inputs, gout)
    assert out.device == dev
    for a, e in zip((out, *grads), reference_with_grads(x, v, h, gout)):
        assert rel_err(a, e) < 1e-5


@pytest.mark.cuda
@requires_cuda
def test_gpu_autocast_and_half(gpu):
    x, v, h, _ = random_case(2, 3, 8, 8, 5, torch.float16, seed=4, device=gpu)
    expected = reference_with_grads(x, v, h, torch.zeros(2, 3, 8, 8, device=gpu))[0]
    with torch.autocast("cuda", dtype=torch.float16):
        out = separable_conv(x, v.float(), h)
    assert out.dtype == torch.float32 and rel_err(out, expected) < 1e-5
    out = separable_conv(x, v, h)
    assert out.dtype == torch.float16 and rel_err(out, expected) < 1e-3


@pytest.mark.cuda
@requires_cuda
def test_gpu_fallback_warns_once_with_reason(monkeypatch):
    monkeypatch.delenv(sepconv.ENV_VAR, raising=False)
    monkeypatch.setitem(cuda_backend._cache, 0, ("reference", "kernels disabled by the test", None))
    monkeypatch.setattr(sepconv, "_warned", False)
    assert sepconv.active_backend("cuda:0").reason == "kernels disabled by the test"
    x, v, h, _ = random_case(1, 2, 4, 4, 3, torch.float32, seed=5, device="cuda:0")
    with pytest.warns(sepconv.SepConvFallbackWarning, match="kernels disabled by the test") as record:
        separable_conv(x, v, h)
        separable_conv(x, v, h)
    assert len([w for w in record if issubclass(w.category, sepconv.SepConvFallbackWarning)]) == 1


@pytest.mark.cuda
@pytest.mark.slow
@requires_cuda
def test_gpu_more_than_2_31_elements(gpu):
    """A padded input of > 2^31 elements (~9 GB); sepconv is per channel, so check end channels."""
    k, size = 5, 64
    c = 2 ** 31 // ((size + k - 1) ** 2) + 2
    x = torch.randn(1, c, size + k - 1, size + k - 1, device=gpu)
    assert x.numel() > 2 ** 31
    _, v, h, _ = random_case(1, 1, size, size, k, torch.float32, seed=6, device=gpu)
    x.requires_grad_()
    out = separable_conv(x, v, h)
    (gx,) = torch.autograd.grad(out, [x], torch.ones_like(out))
    for sl in (slice(0, 2), slice(c - 2, c)):
        ref = reference_with_grads(x[:, sl].detach(), v, h, torch.ones_like(out[:, sl]))
        assert rel_err(out[:, sl], ref[0]) < 1e-5 and rel_err(gx[:, sl], ref[1]) < 1e-5
