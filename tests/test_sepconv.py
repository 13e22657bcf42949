"""Behaviour of sepconv.separable_conv on CPU: maths, gradients, errors, dispatch.

The expected values come from a nested-loop transcription of the SepConv
definition in spec/MODEL.md, independent of the implementation's slicing.
"""
import warnings

import numpy as np
import pytest
import torch

import sepconv
from sepconv import separable_conv


def loop_sepconv(xpad, v, h):
    """O[b,c,y,x] = sum_i sum_j Xpad[b,c,y+i,x+j] V[b,i,y,x] H[b,j,y,x], by loops."""
    xpad, v, h = (t.detach().double().numpy() for t in (xpad, v, h))
    bsz, chans = xpad.shape[:2]
    k, hh, ww = v.shape[1:]
    out = np.zeros((bsz, chans, hh, ww))
    for b in range(bsz):
        for c in range(chans):
            for y in range(hh):
                for x in range(ww):
                    s = 0.0
                    for i in range(k):
                        for j in range(k):
                            s += xpad[b, c, y + i, x + j] * v[b, i, y, x] * h[b, j, y, x]
                    out[b, c, y, x] = s
    return torch.from_numpy(out)


def make_inputs(b, c, hh, ww, k, dtype=torch.float64, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    xpad = torch.randn(b, c, hh + k - 1, ww + k - 1, generator=g, dtype=dtype)
    v = torch.randn(b, k, hh, ww, generator=g, dtype=dtype)
    h = torch.randn(b, k, hh, ww, generator=g, dtype=dtype)
    return tuple(t.requires_grad_(grad) for t in (xpad, v, h))


@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_matches_loop_definition(k):
    xpad, v, h = make_inputs(2, 3, 4, 5, k, seed=k)
    out = separable_conv(xpad, v, h)
    assert out.shape == (2, 3, 4, 5) and out.dtype == torch.float64
    torch.testing.assert_close(out, loop_sepconv(xpad, v, h), rtol=1e-12, atol=1e-12)


def test_k1_is_pixelwise_scaling():
    xpad, v, h = make_inputs(2, 4, 3, 3, 1)
    torch.testing.assert_close(separable_conv(xpad, v, h), xpad * v * h)


def test_delta_kernels_shift_the_image():
    """V = e_a, H = e_b everywhere picks Xpad[y+a, x+b] (a pure shift)."""
    k, a, bb = 5, 1, 3
    xpad, _, _ = make_inputs(1, 2, 6, 7, k)
    v = torch.zeros(1, k, 6, 7, dtype=torch.float64)
    h = torch.zeros_like(v)
    v[:, a] = 1.0
    h[:, bb] = 1.0
    torch.testing.assert_close(separable_conv(xpad, v, h), xpad[:, :, a:a + 6, bb:bb + 7])


def test_non_contiguous_inputs():
    xpad, v, h = make_inputs(2, 3, 4, 4, 3)
    xt, vt, ht = (t.transpose(2, 3).contiguous().transpose(2, 3) for t in (xpad, v, h))
    assert not vt.is_contiguous()
    torch.testing.assert_close(separable_conv(xt, vt, ht), loop_sepconv(xpad, v, h))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_gradcheck_all_inputs(k):
    inputs = make_inputs(2, 2, 3, 4, k, seed=10 + k, grad=True)
    assert torch.autograd.gradcheck(separable_conv, inputs, eps=1e-6, atol=1e-8)


def test_gradgradcheck_small():
    """The reference supports double backward; the CPU and CUDA backends are once differentiable."""
    inputs = make_inputs(1, 2, 2, 3, 3, seed=3, grad=True)
    assert torch.autograd.gradgradcheck(sepconv.separable_conv_reference, inputs, eps=1e-6, atol=1e-7)
    out = sepconv.separable_conv_cpu(*inputs)
    grads = torch.autograd.grad(out.sum(), inputs, create_graph=True)
    assert not any(g.requires_grad for g in grads)
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.autograd.grad(sum(g.sum() for g in grads), inputs)


@pytest.mark.parametrize("c,size", [(16, 8), (128, 16), (32, 32), (3, 64)])
def test_cpu_backend_matches_reference_on_the_fusion_shapes(c, size):
    """Forward and all three gradients of the hand-written backward against autograd on the reference."""
    inputs = make_inputs(3, c, size, size, 5, dtype=torch.float64, seed=size, grad=True)
    g = torch.randn(3, c, size, size, dtype=torch.float64)
    out_cpu, out_ref = sepconv.separable_conv_cpu(*inputs), sepconv.separable_conv_reference(*inputs)
    torch.testing.assert_close(out_cpu, out_ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(out_cpu, inputs, g), torch.autograd.grad(out_ref, inputs, g)):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)


def test_cpu_backend_computes_only_the_requested_gradients():
    x, v, h = make_inputs(2, 3, 4, 4, 3, seed=8)
    v.requires_grad_()
    (dv,) = torch.autograd.grad(sepconv.separable_conv_cpu(x, v, h).sum(), (v,))
    (dv_ref,) = torch.autograd.grad(sepconv.separable_conv_reference(x, v, h).sum(), (v,))
    torch.testing.assert_close(dv, dv_ref)


def test_float32_agrees_with_float64():
    x64 = make_inputs(2, 8, 16, 16, 5, seed=4, grad=True)
    x32 = tuple(t.detach().float().requires_grad_() for t in x64)
    o64, o32 = separable_conv(*x64), separable_conv(*x32)
    assert o32.dtype == torch.float32
    torch.testing.assert_close(o32.double(), o64, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(o64)
    grads64 = torch.autograd.grad(o64, x64, g)
    grads32 = torch.autograd.grad(o32, x32, g.float())
    for a, b in zip(grads32, grads64):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-4)


def test_autograd_saves_no_k_squared_intermediates():
    """Tensors saved for backward (beyond views of the inputs) total <= K outputs."""
    k = 5
    xpad, v, h = make_inputs(2, 4, 8, 8, k, dtype=torch.float32, grad=True)
    input_storages = {t.untyped_storage().data_ptr() for t in (xpad, v, h)}
    extra = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in input_storages:
            extra[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = separable_conv(xpad, v, h)
    assert sum(extra.values()) <= k * out.numel() * out.element_size()


@pytest.mark.parametrize("c,size", [(16, 8), (128, 16), (32, 32), (3, 64)])
def test_twostreamvan_shapes(c, size):
    k = 5
    xpad = torch.randn(2, c, size + 4, size + 4)
    v, h = torch.randn(2, k, size, size), torch.randn(2, k, size, size)
    assert separable_conv(xpad, v, h).shape == (2, c, size, size)


# ---------------------------------------------------------------- errors
def _ok(k=3, b=2, c=3, hh=4, ww=5):
    return make_inputs(b, c, hh, ww, k, dtype=torch.float32)


def _expect(match, *args):
    with pytest.raises(ValueError, match=match) as info:
        separable_conv(*args)
    assert "\n" not in str(info.value)


def test_error_even_k():
    _expect(r"vertical.*odd.*K=4", *_ok(k=4))


def test_error_k_mismatch():
    x, v, _ = _ok(k=3)
    _expect(r"horizontal must have shape \[2, 3, 4, 5\].*got \[2, 5, 4, 5\]", x, v, torch.randn(2, 5, 4, 5))


def test_error_batch_mismatch():
    x, v, h = _ok()
    _expect(r"horizontal must have shape \[2, 3, 4, 5\].*got \[3, 3, 4, 5\]", x, v, torch.randn(3, 3, 4, 5))
    _expect(r"padded_input must have shape \[2, 'C', 6, 7\].*got \[1, 3, 6, 7\]", x[:1], v, h)


def test_error_spatial_mismatch():
    x, v, h = _ok()
    _expect(r"padded_input must have shape \[2, 'C', 6, 7\].*got \[2, 3, 4, 5\]", x[:, :, 1:-1, 1:-1], v, h)
    _expect(r"horizontal must have shape \[2, 3, 4, 5\].*got \[2, 3, 4, 4\]", x, v, h[..., :4])


def test_error_wrong_ndim():
    x, v, h = _ok()
    _expect(r"padded_input must be a 4-D tensor.*got 3-D shape \[3, 6, 7\]", x[0], v, h)
    _expect(r"vertical must be a 4-D tensor.*got 5-D", x, v[None], h)
    _expect(r"horizontal must be a 4-D tensor.*got 2-D", x, v, h[0, 0])


def test_error_dtype_mismatch():
    x, v, h = _ok()
    _expect(r"vertical must have the dtype of padded_input \(torch.float32\), got torch.float64", x, v.double(), h)
    _expect(r"horizontal must have the dtype", x, v, h.double())
    _expect(r"padded_input must be a floating-point tensor", x.long(), v, h)


def test_error_device_mismatch():
    x, v, h = _ok()
    _expect(r"vertical must be on the device of padded_input \(cpu\), got meta", x, v.to("meta"), h)


def test_error_non_tensor():
    x, v, h = _ok()
    with pytest.raises(TypeError, match="vertical must be a torch.Tensor"):
        separable_conv(x, v.numpy(), h)


# ---------------------------------------------------------------- dispatch
def test_cpu_uses_the_hand_written_backward(monkeypatch):
    monkeypatch.delenv(sepconv.ENV_VAR, raising=False)
    backend = sepconv.active_backend("cpu")
    assert backend == "cpu" and "cpu_backend" in backend.reason
    calls = []
    real = sepconv.separable_conv_cpu
    monkeypatch.setattr(sepconv, "separable_conv_cpu", lambda *a: calls.append(1) or real(*a))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        separable_conv(*_ok())
    assert calls == [1]


def test_env_var_forces_reference(monkeypatch):
    monkeypatch.setenv(sepconv.ENV_VAR, "reference")
    for device in ("cpu", "cuda:0", torch.device("cuda", 1), 0):
        backend = sepconv.active_backend(device)
        assert backend == "reference" and sepconv.ENV_VAR in backend.reason
    assert "reason=" in repr(backend)


def test_env_var_rejects_unknown_value(monkeypatch):
    monkeypatch.setenv(sepconv.ENV_VAR, "fast")
    with pytest.raises(ValueError, match=r"TWOSTREAMVAN_SEPCONV must be one of .*got 'fast'"):
        separable_conv(*_ok())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA explanation")
def test_cuda_device_without_cuda_says_why(monkeypatch):
    monkeypatch.delenv(sepconv.ENV_VAR, raising=False)
    backend = sepconv.active_backend("cuda")
    assert backend == "reference" and "CUDA" in backend.reason


def test_autocast_computes_in_float32_and_accepts_mixed_dtypes():
    x, v, h = make_inputs(1, 2, 4, 4, 3, dtype=torch.float32, seed=5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = separable_conv(x.bfloat16(), v, h.bfloat16())
    assert out.dtype == torch.float32
    expected = loop_sepconv(x.bfloat16().float(), v, h.bfloat16().float())
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)


def test_benchmark_runs_reference_on_cpu(capsys):
    from sepconv import benchmark
    benchmark.main(["--device", "cpu", "--batch", "1", "--iters", "1"])
    text = capsys.readouterr().out
    assert "kernel: unavailable" in text and "measured copy bandwidth" in text
    rows = [line for line in text.splitlines() if line.startswith(("[", "total"))]
    assert len(rows) == 5 and rows[-1].startswith("total") and all(" reference " in r for r in rows)
