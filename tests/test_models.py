"""Behaviour of the TwoStreamVAN generator (models/*) against MODEL.md §1, §2, §4 and §5.

Every expected value here is computed from an independent definition written in
this file (explicit loops, functional re-implementations from the spec), never
by calling the same code path twice. Small widths keep the file fast on CPU.
"""
import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import SMALL, random_batch
from models.blocks import ConvLSTMCell, GaussianSampler, one_hot
from models.content import ContentEncoder, ContentGenerator, fuse_motion
from models.generator import TwoStreamGenerator, sample_videos
from models.motion import MotionGenerator
from models.networks import GROUPS, TwoStreamNetworks

NC, CONT, MOT, GF, B = 3, 16, 8, 4, 2
ALL_SCALES = (8, 16, 32, 64)
FINEST = {1: (64,), 2: (32, 64), 3: (16, 32, 64), 4: (8, 16, 32, 64)}
BRANCH_WIDTH = {8: 32, 16: 22, 32: 16, 64: 16}  # MODEL.md §1, motion generator wiring


DT = torch.float64
TIGHT = dict(rtol=1e-9, atol=1e-10)


def lively(gen, factor=4.0, double=True):
    """Scale the content generator's transposed convs and switch to float64.

    The prescribed init (MODEL.md §4) shrinks decoded frames to ~1e-4 at gf=4, which would
    make any float32 comparison vacuous; the scaled float64 copy keeps frames O(0.1-1)
    and lets comparisons be tight.
    """
    with torch.no_grad():
        for m in gen.content_generator.modules():
            if isinstance(m, nn.ConvTranspose2d):
                m.weight.mul_(factor)
    return gen.double() if double else gen


def dbatch(b, t, seed=0):
    batch = random_batch(b, NC, t, seed)
    return batch.images.double(), batch.onehot.double()


def make_gen(**kw):
    args = dict(num_categories=NC, cont_dim=CONT, motion_dim=MOT, gf_dim=GF)
    args.update(kw)
    return TwoStreamGenerator(**args)


def onehot(b=B):
    return F.one_hot(torch.arange(b) % NC, NC).float()


def count(module, kind):
    return sum(isinstance(m, kind) for m in module.modules())


def leaf_types(module):
    return [type(m).__name__ for m in module.modules() if len(list(m.children())) == 0]


# ----------------------------------------------------------------- independent references
def replicate_pad_loop(f, p):
    """ReplicationPad2d by index clamping."""
    s_h, s_w = f.shape[-2:]
    rows = torch.clamp(torch.arange(-p, s_h + p), 0, s_h - 1)
    cols = torch.clamp(torch.arange(-p, s_w + p), 0, s_w - 1)
    return f[:, :, rows][:, :, :, cols]


def sepconv_loop(xpad, v, h):
    """O[b,c,y,x] = Σ_i Σ_j Xpad[b,c,y+i,x+j]·V[b,i,y,x]·H[b,j,y,x] with explicit loops."""
    bsz, k, sh, sw = v.shape
    out = torch.zeros(bsz, xpad.shape[1], sh, sw, dtype=xpad.dtype)
    for b in range(bsz):
        for c in range(xpad.shape[1]):
            for y in range(sh):
                for x in range(sw):
                    acc = 0.0
                    for i in range(k):
                        for j in range(k):
                            acc = acc + xpad[b, c, y + i, x + j] * v[b, i, y, x] * h[b, j, y, x]
                    out[b, c, y, x] = acc
    return out


def sepconv_unfold(xpad, v, h):
    """Vectorised SepConv via unfold + einsum (independent of sepconv/)."""
    k = v.shape[1]
    patches = xpad.unfold(2, k, 1).unfold(3, k, 1)  # [B, C, H, W, K(i), K(j)]
    return torch.einsum("bcyxij,biyx,bjyx->bcyx", patches, v, h)


def fuse_ref(f, kernels, use_mask=True):
    v, h, m = kernels
    moved = sepconv_unfold(replicate_pad_loop(f, v.shape[1] // 2), v, h)
    return m * moved + (1 - m) * f if use_mask else moved


def lstm_ref(conv, xs, state=None):
    """ConvLSTM from MODEL.md §1: gates i,j,f,o; forget bias +1; missing state = ones."""
    bsz, t, ch, sh, sw = xs.shape
    if state is None:
        c = xs.new_ones(bsz, ch, sh, sw)
        h = xs.new_ones(bsz, ch, sh, sw)
    else:
        c, h = state
    outs = []
    for step in range(t):
        g = F.conv2d(torch.cat([xs[:, step], h], 1), conv.weight, conv.bias, padding=1)
        i, j, f, o = g[:, :ch], g[:, ch:2 * ch], g[:, 2 * ch:3 * ch], g[:, 3 * ch:]
        c = c * torch.sigmoid(f + 1) + torch.sigmoid(i) * torch.tanh(j)
        h = torch.tanh(c) * torch.sigmoid(o)
        outs.append(h)
    return torch.stack(outs, 1), (c, h)


def only(module, kind):
    mods = [m for m in module.modules() if isinstance(m, kind)]
    assert len(mods) == 1
    return mods[0]


def mcinput_ref(gen, z_c, motion, oh):
    """MCInput from MODEL.md §1 with the module's own weights."""
    ci = gen.content_input
    u = F.relu(F.linear(torch.cat([z_c, oh], 1), ci.to_u.weight, ci.to_u.bias))
    state = F.relu(F.linear(u, ci.to_state.weight, ci.to_state.bias)).view(-1, GF, 8, 8)
    if motion is None or gen.joint_input is None:
        return state, motion
    ji = gen.joint_input
    v = F.relu(F.linear(motion.flatten(1), ji.to_v.weight, ji.to_v.bias))
    outer = (u[:, :, None] * v[:, None, :]).reshape(u.shape[0], -1)  # u ⊗ v, u-index major
    ms = F.relu(F.linear(outer, ji.joint.weight, ji.joint.bias)).view(-1, 16, 8, 8)
    return state, ms


def content_mean_ref(gen, frame, oh):
    emb = gen.content_encoder(frame)
    s = gen.content_sampler
    return F.linear(torch.cat([emb, oh], 1), s.mean.weight, s.mean.bias)


def motion_mean_ref(gen, maps, oh):
    emb = gen.motion_encoder.embed(maps)
    s = gen.motion_sampler
    return F.linear(torch.cat([emb, oh], 1), s.mean.weight, s.mean.bias)


def decode_ref(gen, z_c, motion, oh):
    state, ms = mcinput_ref(gen, z_c, motion, oh)
    return gen.content_generator(state, gen.motion_generator(ms))


# ================================================================ 1. shapes and structure
def test_content_encoder_shape_and_spec_forward():
    enc = ContentEncoder(3, GF, use_bn=False)
    x = torch.rand(B, 3, 64, 64) * 2 - 1
    out = enc(x)
    assert out.shape == (B, 32 * GF)
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    plan = [(3, GF, 1), (GF, GF, 2), (GF, GF, 1), (GF, 2 * GF, 2), (2 * GF, 2 * GF, 1), (2 * GF, GF, 2)]
    assert len(convs) == len(plan)
    y = x
    for conv, (cin, cout, stride) in zip(convs, plan):
        assert conv.bias is None and conv.weight.shape == (cout, cin, 3, 3)
        y = F.relu(F.conv2d(y, conv.weight, stride=stride, padding=1))
    lin = only(enc, nn.Linear)
    assert lin.weight.shape == (32 * GF, 64 * GF)
    expected = F.relu(F.linear(y.flatten(1), lin.weight, lin.bias))
    torch.testing.assert_close(out, expected)


def test_motion_encoder_shapes_and_spec_forward():
    gen = make_gen()
    me = gen.motion_encoder.eval()
    with torch.no_grad():
        for bn in me.modules():  # non-trivial running statistics
            if isinstance(bn, (nn.BatchNorm2d, nn.BatchNorm1d)):
                bn.running_mean.uniform_(-0.1, 0.1)
                bn.running_var.uniform_(0.5, 1.5)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.1, 0.1)
    x = torch.randn(3, 3, 64, 64) * 0.5
    maps = me(x)
    assert maps.shape == (3, 16, 8, 8)
    vec = me.embed(maps)
    assert vec.shape == (3, 512)
    convs = [m for m in me.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in me.modules() if isinstance(m, nn.BatchNorm2d)]
    plan = [(3, 16, 5), (16, 16, 5), (16, 32, 5), (32, 32, 5), (32, 32, 7), (32, 16, 7)]
    assert len(convs) == 6 and len(bns) == 6
    y = x
    for idx, (conv, bn, (cin, cout, k)) in enumerate(zip(convs, bns, plan)):
        assert conv.weight.shape == (cout, cin, k, k) and conv.bias is not None
        y = F.conv2d(y, conv.weight, conv.bias, padding=k // 2)
        y = F.relu(F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps))
        if idx % 2 == 1:
            y = F.max_pool2d(y, 2)
    torch.testing.assert_close(maps, y)
    lin, bn1 = only(me, nn.Linear), only(me, nn.BatchNorm1d)
    assert lin.weight.shape == (512, 1024)
    v = F.batch_norm(F.linear(y.flatten(1), lin.weight, lin.bias), bn1.running_mean, bn1.running_var,
                     bn1.weight, bn1.bias, False, 0.0, bn1.eps)
    torch.testing.assert_close(vec, F.relu(v))
    # encode_video: [B, C, t, H, W] -> [B, t, 16, 8, 8], frame (b, s) is the per-frame encoding
    diffs = torch.randn(2, 3, 4, 64, 64) * 0.3
    enc = me.encode_video(diffs)
    assert enc.shape == (2, 4, 16, 8, 8)
    for b in range(2):
        for s in range(4):
            torch.testing.assert_close(enc[b, s], me(diffs[b:b + 1, :, s])[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kernel_layer", [1, 2, 3, 4])
@pytest.mark.parametrize("ac_kernel", [3, 5, 7])
def test_motion_generator_kernels_per_kernel_layer(kernel_layer, ac_kernel):
    mg = MotionGenerator(ac_kernel, kernel_layer)
    out = mg(torch.randn(B, 16, 8, 8))
    assert sorted(out) == list(FINEST[kernel_layer])
    for s, (v, h, m) in out.items():
        assert v.shape == (B, ac_kernel, s, s) and h.shape == (B, ac_kernel, s, s)
        assert m.shape == (B, 1, s, s)
        assert m.min() >= 0 and m.max() <= 1
        assert not torch.allclose(v, h)  # separate heads
    # up-blocks always exist; a disabled branch does not (one mask head / tanh per branch)
    tconvs = [(t.in_channels, t.out_channels, t.kernel_size[0], t.stride[0], t.padding[0])
              for t in mg.modules() if isinstance(t, nn.ConvTranspose2d)]
    assert tconvs == [(16, 128, 3, 1, 1), (96, 64, 4, 2, 1), (42, 32, 4, 2, 1), (16, 16, 4, 2, 1)]
    assert count(mg, nn.Tanh) == kernel_layer
    assert count(mg, nn.BatchNorm2d) == 8 + 4 * kernel_layer


def test_motion_generator_wiring_of_splits():
    """Each branch reads the first `a` channels of its up-block; the next up-block the rest."""
    mg = MotionGenerator(5, 4)
    names = [n for n, m in mg.named_modules() if isinstance(m, nn.ConvTranspose2d)]
    modules = dict(mg.named_modules())
    up_out, up_in, branch_in = [], [], {}
    hooks = []
    for n in names:  # the up-block is the transposed conv's parent: capture its input and output
        parent = modules[n.rsplit(".", 1)[0]] if "." in n else modules[n]
        hooks.append(parent.register_forward_hook(lambda m, a, out: up_out.append(out.detach().clone())))
        hooks.append(modules[n].register_forward_pre_hook(lambda m, a: up_in.append(a[0].detach().clone())))
    for s in ALL_SCALES:
        branch_convs = [m for m in mg.branches[str(s)].modules() if isinstance(m, nn.Conv2d)]
        assert branch_convs[0].in_channels == BRANCH_WIDTH[s] and branch_convs[0].out_channels == 16
        hooks.append(branch_convs[0].register_forward_pre_hook(
            lambda m, a, s=s: branch_in.__setitem__(s, a[0].detach().clone())))
    x = torch.randn(B, 16, 8, 8)
    mg(x)
    for h in hooks:
        h.remove()
    assert len(up_out) == 4 and len(up_in) == 4
    assert [tuple(o.shape) for o in up_out] == [(B, 128, 8, 8), (B, 64, 16, 16), (B, 32, 32, 32), (B, 16, 64, 64)]
    torch.testing.assert_close(up_in[0], x)
    for i, s in enumerate(ALL_SCALES):
        w = BRANCH_WIDTH[s]
        torch.testing.assert_close(branch_in[s], up_out[i][:, :w])
        if s != 64:
            torch.testing.assert_close(up_in[i + 1], up_out[i][:, w:])
    torch.testing.assert_close(branch_in[64], up_out[3])


def test_content_generator_shapes_with_and_without_kernels():
    cg = ContentGenerator(3, GF, feature_scales=(8, 16, 32))
    s8 = torch.rand(B, GF, 8, 8)
    img, feats = cg(s8)
    assert img.shape == (B, 3, 64, 64) and img.abs().max() <= 1
    assert [f.shape for f in feats] == [(B, GF, 8, 8), (B, 8 * GF, 16, 16), (B, 2 * GF, 32, 32)]
    kernels = MotionGenerator(5, 4)(torch.randn(B, 16, 8, 8))
    img2, feats2 = cg(s8, kernels)
    assert img2.shape == (B, 3, 64, 64)
    assert [f.shape for f in feats2] == [f.shape for f in feats]
    assert not torch.allclose(img, img2)


def _random_kernels(scales, k):
    out = {}
    for s in scales:
        v = torch.randn(B, k, s, s, dtype=DT) * 0.6
        h = torch.randn(B, k, s, s, dtype=DT) * 0.6
        m = torch.rand(B, 1, s, s, dtype=DT)
        out[s] = (v, h, m)
    return out


@pytest.mark.parametrize("kernel_layer", [4, 2])
@pytest.mark.parametrize("use_mask", [True, False])
def test_content_generator_matches_spec_decoder_with_fusion(kernel_layer, use_mask):
    feature_scales = tuple(s for s in FINEST[kernel_layer] if s != 64)
    cg = ContentGenerator(3, GF, use_bn=False, use_mask=use_mask, feature_scales=feature_scales).double()
    tconvs = [m for m in cg.modules() if isinstance(m, nn.ConvTranspose2d)]
    plan = [(GF, 8 * GF, 2), (8 * GF, 4 * GF, 1), (4 * GF, 2 * GF, 2), (2 * GF, 2 * GF, 1), (2 * GF, GF, 2),
            (GF, 3, 1)]
    assert len(tconvs) == 6
    for t, (cin, cout, stride) in zip(tconvs, plan):
        assert t.bias is None and t.weight.shape == (cin, cout, 3, 3)
    with torch.no_grad():  # keep the signal O(1) through the decoder (see `lively`)
        for t in tconvs:
            t.weight.mul_(4.0)

    def tc(x, idx, act=F.relu):
        cin, cout, stride = plan[idx]
        return act(F.conv_transpose2d(x, tconvs[idx].weight, stride=stride, padding=1,
                                      output_padding=1 if stride == 2 else 0))

    kernels = _random_kernels(FINEST[kernel_layer], 5)
    s8 = torch.rand(B, GF, 8, 8, dtype=DT)

    def maybe_fuse(x, s):
        return fuse_ref(x, kernels[s], use_mask) if s in kernels else x

    f8 = maybe_fuse(s8, 8)
    f16 = maybe_fuse(tc(f8, 0), 16)
    f32 = maybe_fuse(tc(tc(f16, 1), 2), 32)
    out = maybe_fuse(tc(tc(tc(f32, 3), 4), 5, torch.tanh), 64)
    img, feats = cg(s8, kernels)
    assert out.abs().max() > 0.1
    torch.testing.assert_close(img, out, **TIGHT)
    expected_feats = [f for s, f in ((8, f8), (16, f16), (32, f32)) if s in feature_scales]
    assert len(feats) == len(expected_feats)
    for a, b in zip(feats, expected_feats):
        torch.testing.assert_close(a, b, **TIGHT)
    # raw kernels after the tanh: fused frames may leave [-1, 1] (MODEL.md §1)
    big = {s: (v * 3, h * 3, torch.ones_like(m)) for s, (v, h, m) in kernels.items()}
    assert cg(s8, big)[0].abs().max() > 1


@pytest.mark.parametrize("kernel_layer", [1, 2, 3, 4])
def test_generator_scale_features_follow_kernel_layer(kernel_layer):
    gen = make_gen(kernel_layer=kernel_layer)
    expected = {8: (B, GF, 8, 8), 16: (B, 8 * GF, 16, 16), 32: (B, 2 * GF, 32, 32)}
    want = [expected[s] for s in FINEST[kernel_layer] if s != 64]
    batch = random_batch(B, NC, 3)
    _, _, feats = gen.reconstruct_frame(batch.onehot, batch.images[:, :, 0], "mean")
    assert [tuple(f.shape) for f in feats] == want
    diffs = (batch.images[:, :, :-1] - batch.images[:, :, 1:]) / 2
    _, _, feats, kernels = gen.predict_next_frame(batch.images[:, :, 0], diffs, 2, batch.onehot, "mean")
    assert [tuple(f.shape) for f in feats] == want
    assert sorted(kernels) == list(FINEST[kernel_layer])


def test_joint_on_off_structure():
    on, off = make_gen(joint=True), make_gen(joint=False)
    assert off.joint_input is None
    assert not any("joint" in name for name, _ in off.named_parameters())
    assert not any("joint" in name for name, _ in off.named_modules())
    n_on = sum(p.numel() for p in on.parameters())
    n_off = sum(p.numel() for p in off.parameters())
    assert n_on - n_off == (1024 * 64 + 64) + (32 * GF * 64 * 1024 + 1024)
    # without joint the motion state passes through unchanged to the motion generator
    captured = []
    off.motion_generator.register_forward_pre_hook(lambda m, a: captured.append(a[0]))
    motion = torch.rand(B, 16, 8, 8)
    off.decode_with_motion(torch.randn(B, CONT), motion, onehot())
    assert torch.equal(captured[0], motion)


def test_no_mask_variant_fuses_without_mask():
    gen = lively(make_gen(no_mask=True).eval())
    z, motion, oh = torch.randn(B, CONT, dtype=DT), torch.rand(B, 16, 8, 8, dtype=DT), onehot().double()
    state, ms = mcinput_ref(gen, z, motion, oh)
    kernels = gen.motion_generator(ms)
    img, feats, _ = gen.decode_with_motion(z, motion, oh)
    cg = gen.content_generator
    no_mask_ref = ContentGenerator(3, GF, use_mask=False).double()
    no_mask_ref.load_state_dict(cg.state_dict())
    masked_ref = ContentGenerator(3, GF, use_mask=True).double()
    masked_ref.load_state_dict(cg.state_dict())
    torch.testing.assert_close(img, no_mask_ref(state, kernels)[0], **TIGHT)
    assert not torch.allclose(img, masked_ref(state, kernels)[0], atol=1e-3)
    # the mask heads still exist (the published -M variant only ignores them)
    assert sorted(kernels) == list(ALL_SCALES)


@pytest.mark.parametrize("use_bn", [False, True])
def test_batchnorm_placement(use_bn):
    gen = make_gen(use_bn=use_bn)
    bn_any = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    ce = ["Conv2d", "BatchNorm2d", "ReLU"] if use_bn else ["Conv2d", "ReLU"]
    ce_head = ["Linear", "BatchNorm1d", "ReLU"] if use_bn else ["Linear", "ReLU"]
    assert leaf_types(gen.content_encoder) == ce * 6 + ce_head
    cg = ["ConvTranspose2d", "BatchNorm2d", "ReLU"] if use_bn else ["ConvTranspose2d", "ReLU"]
    assert leaf_types(gen.content_generator) == cg * 5 + ["ConvTranspose2d", "Tanh"]
    assert count(gen.trajectory_generator, nn.BatchNorm1d) == (1 if use_bn else 0)
    assert count(gen.trajectory_generator, nn.BatchNorm2d) == 0
    # always BN: motion encoder (6 BN2d + BN1d in the head) and motion generator (8 + 4·4)
    assert count(gen.motion_encoder, nn.BatchNorm2d) == 6
    assert count(gen.motion_encoder, nn.BatchNorm1d) == 1
    assert count(gen.motion_generator, nn.BatchNorm2d) == 24
    assert count(gen.motion_generator, nn.BatchNorm1d) == 0
    for part in (gen.content_sampler, gen.motion_sampler, gen.content_input, gen.joint_input):
        assert count(part, bn_any) == 0
    assert count(gen, bn_any) == 31 + (13 if use_bn else 0)


# ---------------------------------------------------------------- procedures: shapes
def test_reconstruct_frame_modes():
    gen = lively(make_gen())
    images, oh = dbatch(B, 2)
    frame = images[:, :, 0]
    for mode in ("sample", "mean"):
        img, stats, feats = gen.reconstruct_frame(oh, frame, mode)
        assert img.shape == (B, 3, 64, 64) and img.abs().max() <= 1
        assert stats[0].shape == (B, CONT) and stats[1].shape == (B, CONT)
        assert len(feats) == 3
    # mean mode decodes the sampler mean, without fusion
    mean = content_mean_ref(gen, frame, oh)
    img, (m, lv), _ = gen.reconstruct_frame(oh, frame, "mean")
    torch.testing.assert_close(m, mean, **TIGHT)
    state, _ = mcinput_ref(gen, mean, None, oh)
    assert img.abs().max() > 0.05
    torch.testing.assert_close(img, gen.content_generator(state)[0], **TIGHT)
    # sample mode: mean + ε·exp(logvar/2) with ε from torch's RNG
    torch.manual_seed(11)
    img_s, _, _ = gen.reconstruct_frame(oh, frame, "sample")
    torch.manual_seed(11)
    eps = torch.randn(B, CONT, dtype=DT)
    state, _ = mcinput_ref(gen, m + eps * torch.exp(lv / 2), None, oh)
    torch.testing.assert_close(img_s, gen.content_generator(state)[0], **TIGHT)
    assert not torch.allclose(img_s, img, atol=1e-4)
    # random mode ignores the encoder: z ~ N(0, I), no stats
    torch.manual_seed(3)
    img_r, stats_r, feats_r = gen.reconstruct_frame(oh, None, "random")
    assert stats_r is None and img_r.shape == (B, 3, 64, 64) and len(feats_r) == 3
    torch.manual_seed(3)
    state, _ = mcinput_ref(gen, torch.randn(B, CONT, dtype=DT), None, oh)
    torch.testing.assert_close(img_r, gen.content_generator(state)[0], **TIGHT)


@pytest.mark.parametrize("t", [1, 8])
def test_predict_next_frame_shapes_and_spec_wiring(t):
    gen = lively(make_gen().eval())
    images, oh = dbatch(B, 10)
    diffs = (images[:, :, :-1] - images[:, :, 1:]) / 2
    prev = images[:, :, t]
    frame, stats, feats, kernels = gen.predict_next_frame(prev, diffs, t, oh, "mean")
    assert frame.shape == (B, 3, 64, 64)
    assert stats[0].shape == (B, MOT) and stats[1].shape == (B, MOT)
    assert [tuple(f.shape) for f in feats] == [(B, GF, 8, 8), (B, 8 * GF, 16, 16), (B, 2 * GF, 32, 32)]
    for s, (v, h, m) in kernels.items():
        assert v.shape == (B, 5, s, s) and m.shape == (B, 1, s, s)
    # independent wiring (MODEL.md §2 predict_next_frame)
    with torch.no_grad():
        z_c = content_mean_ref(gen, prev, oh)
        enc = torch.stack([gen.motion_encoder(diffs[:, :, s]) for s in range(t)], 1)
        z_m = motion_mean_ref(gen, enc[:, t - 1], oh)
        tg = gen.trajectory_generator
        lin = only(tg, nn.Linear)
        traj = F.relu(F.linear(torch.cat([z_m, oh], 1), lin.weight, lin.bias)).view(B, 1, 16, 8, 8)
        outs, _ = lstm_ref(tg.lstm.gates, torch.cat([enc[:, :t - 1], traj], 1))
        expected, _ = decode_ref(gen, z_c, outs[:, -1], oh)
    torch.testing.assert_close(stats[0], z_m, **TIGHT)
    assert expected.abs().max() > 0.05
    torch.testing.assert_close(frame, expected, **TIGHT)
    # only the first t differences matter
    frame2 = gen.predict_next_frame(prev, diffs[:, :, :t], t, oh, "mean")[0]
    torch.testing.assert_close(frame, frame2)
    # random mode: no stats, z_m ~ N(0, I) from torch's RNG
    torch.manual_seed(8)
    frame_r, stats_r, _, _ = gen.predict_next_frame(prev, diffs, t, oh, "random")
    assert stats_r is None
    torch.manual_seed(8)
    z_r = torch.randn(B, MOT, dtype=DT)
    with torch.no_grad():
        traj = F.relu(F.linear(torch.cat([z_r, oh], 1), lin.weight, lin.bias)).view(B, 1, 16, 8, 8)
        outs, _ = lstm_ref(tg.lstm.gates, torch.cat([enc[:, :t - 1], traj], 1))
        expected_r, _ = decode_ref(gen, z_c, outs[:, -1], oh)
    torch.testing.assert_close(frame_r, expected_r, **TIGHT)


def test_generate_sequence_shapes():
    gen = make_gen()
    batch = random_batch(B, NC, 10)
    diffs = (batch.images[:, :, :-1] - batch.images[:, :, 1:]) / 2
    for mode in ("sample", "mean", "random"):
        video, stats, feats = gen.generate_sequence(batch.images, batch.onehot, diffs, 0.5, mode)
        assert video.shape == (B, 3, 10, 64, 64)
        if mode == "random":
            assert stats is None
        else:
            assert stats[0].shape == (B, 9, MOT) and stats[1].shape == (B, 9, MOT)
        assert len(feats) == 9
        for step in feats:
            assert [tuple(f.shape) for f in step] == [(B, GF, 8, 8), (B, 8 * GF, 16, 16), (B, 2 * GF, 32, 32)]
    # frame 0 is the mean reconstruction of the first ground-truth frame
    gen = lively(gen)
    images, oh = dbatch(B, 3)
    diffs = (images[:, :, :-1] - images[:, :, 1:]) / 2
    video = gen.generate_sequence(images, oh, diffs, 0.5, "sample")[0]
    torch.testing.assert_close(video[:, :, 0], gen.reconstruct_frame(oh, images[:, :, 0], "mean")[0], **TIGHT)
    assert not torch.allclose(video[:, :, 0], gen.reconstruct_frame(oh, images[:, :, 1], "mean")[0], atol=1e-3)


def test_generate_shapes_and_masks():
    gen = make_gen(kernel_layer=3)
    video, masks = gen.generate(onehot(), 5)
    assert video.shape == (B, 3, 5, 64, 64)
    assert sorted(masks) == [16, 32, 64]
    for s, m in masks.items():
        assert m.shape == (B, 1, 4, s, s) and m.min() >= 0 and m.max() <= 1


@pytest.mark.parametrize("start_training", [True, False])
def test_sample_videos_drops_warmup_and_restores_mode(start_training):
    gen = lively(make_gen(), double=False)
    gen.train(start_training)
    labels = torch.tensor([0, 2])
    torch.manual_seed(5)
    videos, masks = sample_videos(gen, labels, 4)
    assert gen.training == start_training
    assert all(m.training == start_training for m in gen.modules())
    assert videos.shape == (B, 3, 4, 64, 64) and not videos.requires_grad
    assert sorted(masks) == list(ALL_SCALES)
    for s, m in masks.items():
        assert m.shape == (B, 1, 4, s, s)
    gen.eval()
    torch.manual_seed(5)
    with torch.no_grad():
        full, full_masks = gen.generate(F.one_hot(labels, NC).float(), 6)
    torch.testing.assert_close(videos, full[:, :, 2:])
    for s in ALL_SCALES:  # masks of generated frames 2..5 (mask k belongs to frame k+1)
        torch.testing.assert_close(masks[s], full_masks[s][:, :, 1:])


# ================================================================ 2. ConvLSTM
def test_convlstm_matches_formula():
    cell = ConvLSTMCell(16, 3)
    with torch.no_grad():
        cell.gates.bias.uniform_(-0.5, 0.5)
    assert cell.gates.weight.shape == (64, 32, 3, 3)
    xs = torch.randn(B, 3, 16, 8, 8)
    state = (torch.randn(B, 16, 8, 8), torch.randn(B, 16, 8, 8))
    out, (c, h) = cell(xs, state)
    ref_out, (rc, rh) = lstm_ref(cell.gates, xs, state)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(c, rc)
    torch.testing.assert_close(h, rh)
    torch.testing.assert_close(h, out[:, -1])
    # missing state = all ONES (not zeros)
    out_none, (c_none, _) = cell(xs)
    ones = torch.ones(B, 16, 8, 8)
    torch.testing.assert_close(out_none, lstm_ref(cell.gates, xs, (ones, ones))[0])
    torch.testing.assert_close(c_none, lstm_ref(cell.gates, xs, (ones, ones))[1][0])
    zeros = torch.zeros(B, 16, 8, 8)
    assert not torch.allclose(out_none, lstm_ref(cell.gates, xs, (zeros, zeros))[0], atol=1e-3)
    # running step by step with the carried state equals running the sequence
    st = None
    for k in range(3):
        o, st = cell(xs[:, k:k + 1], st)
        torch.testing.assert_close(o[:, 0], out_none[:, k])


# ================================================================ 3. GaussianSampler
def test_gaussian_sampler_modes():
    sampler = GaussianSampler(10, NC, 6)
    emb, oh = torch.randn(4, 10), F.one_hot(torch.tensor([0, 1, 2, 1]), NC).float()
    x = torch.cat([emb, oh], 1)
    mean = F.linear(x, sampler.mean.weight, sampler.mean.bias)
    logvar = F.linear(x, sampler.logvar.weight, sampler.logvar.bias)
    z, m, lv = sampler(emb, oh, "mean")
    torch.testing.assert_close(z, mean)
    torch.testing.assert_close(m, mean)
    torch.testing.assert_close(lv, logvar)
    torch.manual_seed(123)
    z1, m1, lv1 = sampler(emb, oh, "sample")
    torch.manual_seed(123)
    eps = torch.randn(4, 6)
    torch.testing.assert_close(z1, mean + eps * torch.exp(logvar / 2))
    torch.testing.assert_close(m1, mean)
    torch.manual_seed(123)
    torch.testing.assert_close(sampler(emb, oh, "sample")[0], z1)
    assert not torch.allclose(sampler(emb, oh, "sample")[0], z1)  # fresh ε without reseeding
    with pytest.raises(ValueError):
        sampler(emb, oh, "random")


def test_one_hot():
    assert torch.equal(one_hot(torch.tensor([2, 0]), 3), torch.tensor([[0., 0., 1.], [1., 0., 0.]]))


# ================================================================ 4. MCInput (joint)
def test_mcinput_joint_motion_state_and_content_state():
    gen = make_gen(joint=True)
    with torch.no_grad():  # make all units active enough to expose ordering mistakes
        for lin in (gen.content_input.to_u, gen.content_input.to_state, gen.joint_input.to_v,
                    gen.joint_input.joint):
            lin.bias.uniform_(0.0, 0.2)
    z, motion, oh = torch.randn(B, CONT), torch.rand(B, 16, 8, 8), onehot()
    captured = {}
    gen.motion_generator.register_forward_pre_hook(lambda m, a: captured.__setitem__("ms", a[0]))
    gen.content_generator.register_forward_pre_hook(lambda m, a: captured.__setitem__("cs", a[0]))
    gen.decode_with_motion(z, motion, oh)
    state, ms = mcinput_ref(gen, z, motion, oh)
    assert captured["ms"].shape == (B, 16, 8, 8) and captured["cs"].shape == (B, GF, 8, 8)
    torch.testing.assert_close(captured["ms"], ms, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(captured["cs"], state)
    # the outer product is u-index major: the transposed flattening gives another state
    ci, ji = gen.content_input, gen.joint_input
    u = F.relu(ci.to_u(torch.cat([z, oh], 1)))
    v = F.relu(ji.to_v(motion.flatten(1)))
    wrong = F.relu(ji.joint((v[:, :, None] * u[:, None, :]).reshape(B, -1))).view(B, 16, 8, 8)
    assert not torch.allclose(captured["ms"], wrong, atol=1e-4)


# ================================================================ 5. fusion
@pytest.mark.parametrize("k", [3, 5])
def test_fuse_motion_against_explicit_loop(k):
    f = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    v = torch.randn(2, k, 4, 4, dtype=torch.float64)
    h = torch.randn(2, k, 4, 4, dtype=torch.float64)
    m = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    moved = sepconv_loop(replicate_pad_loop(f, k // 2), v, h)
    torch.testing.assert_close(replicate_pad_loop(f, k // 2), nn.ReplicationPad2d(k // 2)(f))
    torch.testing.assert_close(fuse_motion(f, (v, h, m)), m * moved + (1 - m) * f)
    torch.testing.assert_close(fuse_motion(f, (v, h, m), use_mask=False), moved)
    torch.testing.assert_close(sepconv_unfold(replicate_pad_loop(f, k // 2), v, h), moved)


def test_fuse_motion_identity_kernels_return_features():
    f = torch.randn(2, 4, 8, 8)
    k = 5
    ident = torch.zeros(2, k, 8, 8)
    ident[:, k // 2] = 1
    m = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(fuse_motion(f, (ident, ident.clone(), m)), f)
    torch.testing.assert_close(fuse_motion(f, (ident, ident.clone(), m), use_mask=False), f)
    # one-tap shift right: V centre, H at j = centre-1 -> O[x] = f[x-1] (replicated border)
    shift = torch.zeros(2, k, 8, 8)
    shift[:, k // 2 - 1] = 1
    out = fuse_motion(f, (ident, shift, torch.ones(2, 1, 8, 8)))
    torch.testing.assert_close(out[..., 1:], f[..., :-1])
    torch.testing.assert_close(out[..., 0], f[..., 0])
    # mask 0 keeps f whatever the kernels
    torch.testing.assert_close(fuse_motion(f, (shift, shift, torch.zeros(2, 1, 8, 8))), f)


# ================================================================ 6. parameter groups
@pytest.mark.parametrize("joint", [True, False])
def test_parameter_groups_disjoint_and_covering(joint):
    nets = TwoStreamNetworks(NC, **SMALL, joint=joint)
    groups = nets.parameter_groups()
    assert tuple(groups) == GROUPS == ("content_encoder", "content_decoder", "motion_encoder", "motion_decoder",
                                       "image_discriminator", "video_discriminator")
    owner = {}
    for name, params in groups.items():
        assert len(params) > 0
        for p in params:
            assert id(p) not in owner, f"parameter in both {owner.get(id(p))} and {name}"
            owner[id(p)] = name
    assert set(owner) == {id(p) for p in nets.parameters()}
    g = nets.generator

    def all_in(module, group):
        return all(owner[id(p)] == group for p in module.parameters())

    assert all_in(g.content_encoder, "content_encoder") and all_in(g.content_sampler, "content_encoder")
    assert all_in(g.content_generator, "content_decoder") and all_in(g.content_input, "content_decoder")
    assert all_in(g.motion_encoder, "motion_encoder") and all_in(g.motion_sampler, "motion_encoder")
    assert all_in(g.trajectory_generator, "motion_decoder") and all_in(g.motion_generator, "motion_decoder")
    assert all_in(nets.image_discriminator, "image_discriminator")
    assert all_in(nets.video_discriminator, "video_discriminator")
    if joint:
        assert owner[id(g.joint_input.to_v.weight)] == "motion_decoder"
        assert owner[id(g.joint_input.joint.weight)] == "motion_decoder"
        assert all_in(g.joint_input, "motion_decoder")
    assert owner[id(g.content_input.to_u.weight)] == "content_decoder"
    assert owner[id(g.content_input.to_state.weight)] == "content_decoder"
    content = {id(p) for p in nets.content_parameters()}
    assert content == {i for i, n in owner.items() if n in ("content_encoder", "content_decoder")}


# ================================================================ 7. gradient flow
def _frame_capture(gen):
    frames = []
    handle = gen.content_generator.register_forward_hook(lambda m, a, out: frames.append(out[0]))
    return frames, handle


def test_generate_sequence_nothing_detached_eps0():
    gen = make_gen()
    batch = random_batch(B, NC, 6)
    images = batch.images.clone().requires_grad_(True)
    diffs = ((batch.images[:, :, :-1] - batch.images[:, :, 1:]) / 2)  # no gradient path to images
    frames, handle = _frame_capture(gen)
    video, _, _ = gen.generate_sequence(images, batch.onehot, diffs, 0.0, "sample")
    handle.remove()
    assert len(frames) == 6
    torch.testing.assert_close(video[:, :, -1], frames[-1])
    loss = video[:, :, -1].pow(2).sum()
    head = only(gen.trajectory_generator, nn.Linear).weight
    enc_conv = [m for m in gen.content_encoder.modules() if isinstance(m, nn.Conv2d)][0].weight
    grads = torch.autograd.grad(loss, [images, head, enc_conv, gen.trajectory_generator.lstm.gates.weight]
                                + frames[:-1], allow_unused=True)
    g_img, g_head, g_enc, g_lstm, *g_frames = grads
    per_t = g_img.abs().sum(dim=(0, 1, 3, 4))
    assert per_t[0] > 0, "frame 0 must be part of the graph at ε = 0"
    assert torch.all(per_t[1:] == 0), "at ε = 0 only images[:, :, 0] may matter"
    assert g_head is not None and g_head.abs().sum() > 0
    assert g_enc is not None and g_enc.abs().sum() > 0  # through the content encoder
    assert g_lstm is not None and g_lstm.abs().sum() > 0
    for k, g in enumerate(g_frames):
        assert g is not None and g.abs().sum() > 0, f"generated frame {k} is cut off from the last frame"


def test_predict_and_reconstruct_keep_the_graph():
    """Nothing is detached (MODEL.md §2): gradients reach every part and the inputs."""
    gen = make_gen()
    batch = random_batch(B, NC, 5)
    prev = batch.images[:, :, 2].clone().requires_grad_(True)
    diffs = ((batch.images[:, :, :-1] - batch.images[:, :, 1:]) / 2).requires_grad_(True)
    frame = gen.predict_next_frame(prev, diffs, 3, batch.onehot, "sample")[0]
    parts = [only(gen.trajectory_generator, nn.Linear).weight,
             [m for m in gen.motion_encoder.modules() if isinstance(m, nn.Linear)][0].weight,
             gen.motion_sampler.mean.weight, gen.content_sampler.mean.weight,
             [m for m in gen.content_encoder.modules() if isinstance(m, nn.Conv2d)][0].weight,
             gen.trajectory_generator.lstm.gates.weight]
    grads = torch.autograd.grad(frame.pow(2).sum(), [prev, diffs] + parts)
    assert all(g.abs().sum() > 0 for g in grads)
    assert torch.all(grads[1][:, :, 3:] == 0) and all(grads[1][:, :, t].abs().sum() > 0 for t in range(3))
    image = gen.reconstruct_frame(batch.onehot, prev, "sample")[0]
    assert torch.autograd.grad(image.sum(), prev)[0].abs().sum() > 0


def _detach_inputs(module):
    """Cut gradient into `module` by detaching what its first conv reads."""
    first = [m for m in module.modules() if isinstance(m, nn.Conv2d)][0]
    return first.register_forward_pre_hook(lambda m, a: (a[0].detach(),))


@pytest.mark.parametrize("cut", ["motion", "content"])
def test_each_feedback_path_carries_gradient(cut):
    """Generated frames are fed back as content source AND as motion input (MODEL.md §2):
    with either path cut, the other alone still links the last frame to every earlier one."""
    gen = make_gen()
    batch = random_batch(B, NC, 5)
    diffs = (batch.images[:, :, :-1] - batch.images[:, :, 1:]) / 2
    frames, handle = _frame_capture(gen)
    cut_handle = _detach_inputs(gen.motion_encoder if cut == "motion" else gen.content_encoder)
    video = gen.generate_sequence(batch.images, batch.onehot, diffs, 0.0, "mean")[0]
    handle.remove()
    cut_handle.remove()
    grads = torch.autograd.grad(video[:, :, -1].pow(2).sum(), frames[:-1], allow_unused=True)
    for k, g in enumerate(grads):
        assert g is not None and g.abs().sum() > 0, f"frame {k} does not reach the last frame via {cut!r}-cut"


def test_convlstm_state_carries_gradient_across_steps():
    """With both encoders' inputs cut, the motion encoding of step 1 reaches the last frame
    only through the kept ConvLSTM state."""
    gen = make_gen()
    batch = random_batch(B, NC, 5)
    diffs = (batch.images[:, :, :-1] - batch.images[:, :, 1:]) / 2
    cuts = [_detach_inputs(gen.motion_encoder), _detach_inputs(gen.content_encoder)]
    last_pool = [m for m in gen.motion_encoder.modules() if isinstance(m, nn.MaxPool2d)][-1]
    encoded = []
    hook = last_pool.register_forward_hook(lambda m, a, out: encoded.append(out))
    video = gen.generate_sequence(batch.images, batch.onehot, diffs, 0.0, "mean")[0]
    for h in cuts + [hook]:
        h.remove()
    loop_calls = [e for e in encoded if e.shape[0] == B]
    assert len(loop_calls) == 3  # steps k = 1, 2, 3
    grads = torch.autograd.grad(video[:, :, -1].pow(2).sum(), loop_calls, allow_unused=True)
    for k, g in enumerate(grads, start=1):
        assert g is not None and g.abs().sum() > 0, f"motion of step {k} does not reach the last frame"


def test_generate_sequence_eps1_uses_ground_truth_content():
    gen = make_gen()
    batch = random_batch(B, NC, 6)
    images = batch.images.clone().requires_grad_(True)
    diffs = ((batch.images[:, :, :-1] - batch.images[:, :, 1:]) / 2)
    video, _, _ = gen.generate_sequence(images, batch.onehot, diffs, 1.0, "mean")
    g = torch.autograd.grad(video[:, :, -1].pow(2).sum(), images)[0]
    per_t = g.abs().sum(dim=(0, 1, 3, 4))
    assert per_t[4] > 0  # last frame (step 4) reads images[:, :, 4]
    assert torch.all(per_t[[0, 1, 2, 3, 5]] == 0)
    # with training-style differences (x_k − x_{k+1})/2 taken from images, several frames reach it
    images2 = batch.images.clone().requires_grad_(True)
    diffs2 = (images2[:, :, :-1] - images2[:, :, 1:]) / 2
    video2, _, _ = gen.generate_sequence(images2, batch.onehot, diffs2, 1.0, "mean")
    g2 = torch.autograd.grad(video2[:, :, -1].pow(2).sum(), images2)[0]
    assert (g2.abs().sum(dim=(0, 1, 3, 4)) > 0).sum() >= 3


def test_generate_sequence_content_source_by_perturbation():
    gen = make_gen()
    batch = random_batch(B, NC, 6)
    diffs = (batch.images[:, :, :-1] - batch.images[:, :, 1:]) / 2
    oh = batch.onehot
    with torch.no_grad():
        base1 = gen.generate_sequence(batch.images, oh, diffs, 1.0, "mean")[0]
        base0 = gen.generate_sequence(batch.images, oh, diffs, 0.0, "mean")[0]
        pert = batch.images.clone()
        pert[:, :, 3] = -pert[:, :, 3]
        v1 = gen.generate_sequence(pert, oh, diffs, 1.0, "mean")[0]
        v0 = gen.generate_sequence(pert, oh, diffs, 0.0, "mean")[0]
        pert0 = batch.images.clone()
        pert0[:, :, 0] = -pert0[:, :, 0]
        v00 = gen.generate_sequence(pert0, oh, diffs, 0.0, "mean")[0]
    changed1 = [(v1[:, :, t] - base1[:, :, t]).abs().max().item() > 1e-5 for t in range(6)]
    assert changed1 == [False, False, False, False, True, False]
    torch.testing.assert_close(v0, base0)
    assert all((v00[:, :, t] - base0[:, :, t]).abs().max() > 1e-5 for t in range(6))


def _unroll_ref(gen, oh, first, z_motion, images=None, encoded=None):
    """MODEL.md §2 step 3 with ε ∈ {0, 1} (ground truth iff `images` is given), from the spec."""
    lin = only(gen.trajectory_generator, nn.Linear)
    conv = gen.trajectory_generator.lstm.gates
    truth = images is not None
    frames, state = [first], None
    for k in range(z_motion.shape[1]):
        traj = F.relu(F.linear(torch.cat([z_motion[:, k], oh], 1), lin.weight, lin.bias)).view(B, 1, 16, 8, 8)
        z_c = content_mean_ref(gen, images[:, :, k] if truth else frames[k], oh)
        if k > 0:
            prev = encoded[:, k - 1] if truth else gen.motion_encoder(frames[k - 1] - frames[k])
            _, state = lstm_ref(conv, prev[:, None], state)
        out, _ = lstm_ref(conv, traj, state)  # this state is not kept
        frames.append(decode_ref(gen, z_c, out[:, -1], oh)[0])
    return torch.stack(frames, 2)


def _reference_unroll(gen, images, oh, diffs, truth):
    """generate_sequence in mean mode: frame 0 = mean reconstruction, z_m = motion-sampler means."""
    t_len = images.shape[2]
    first = gen.content_generator(mcinput_ref(gen, content_mean_ref(gen, images[:, :, 0], oh), None, oh)[0])[0]
    enc = torch.stack([gen.motion_encoder(diffs[:, :, s]) for s in range(t_len - 1)], 1)
    z_m = torch.stack([motion_mean_ref(gen, enc[:, k], oh) for k in range(t_len - 1)], 1)
    return _unroll_ref(gen, oh, first, z_m, images if truth else None, enc)


def test_generate_matches_spec():
    """generate: frame 0 from z_c ~ N(0, I), z_m ~ N(0, I) for every step, ε = 0."""
    gen = lively(make_gen().eval())
    oh = onehot().double()
    torch.manual_seed(21)
    with torch.no_grad():
        video, masks = gen.generate(oh, 4)
    torch.manual_seed(21)
    z_c = torch.randn(B, CONT, dtype=DT)
    z_m = torch.randn(B, 3, MOT, dtype=DT)
    with torch.no_grad():
        first = gen.content_generator(mcinput_ref(gen, z_c, None, oh)[0])[0]
        expected = _unroll_ref(gen, oh, first, z_m)
    assert expected[:, :, 1:].abs().max() > 0.05
    torch.testing.assert_close(video, expected, **TIGHT)


@pytest.mark.parametrize("epsilon", [0.0, 1.0])
def test_generate_sequence_matches_spec_unroll(epsilon):
    gen = lively(make_gen().eval())  # eval: BN groupings cannot matter for this comparison
    with torch.no_grad():
        for bn in gen.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_mean.uniform_(-0.05, 0.05)
    images, oh = dbatch(B, 5)
    diffs = (images[:, :, :-1] - images[:, :, 1:]) / 2
    with torch.no_grad():
        video, stats, _ = gen.generate_sequence(images, oh, diffs, epsilon, "mean")
        expected = _reference_unroll(gen, images, oh, diffs, epsilon == 1.0)
    assert expected[:, :, 1:].abs().max() > 0.05
    torch.testing.assert_close(video, expected, **TIGHT)


def test_generate_sequence_batch_groupings_and_draws():
    gen = make_gen()
    batch = random_batch(B, NC, 6)
    diffs = (batch.images[:, :, :-1] - batch.images[:, :, 1:]) / 2
    first_conv = [m for m in gen.motion_encoder.modules() if isinstance(m, nn.Conv2d)][0]
    calls = []
    handle = first_conv.register_forward_pre_hook(lambda m, a: calls.append(a[0].detach().clone()))

    class Counting:
        n = 0

        def random(self):
            self.n += 1
            return 0.999  # never below ε = 0.5: always the generated frames

    rng = Counting()
    with torch.no_grad():
        video, _, _ = gen.generate_sequence(batch.images, batch.onehot, diffs, 0.5, "mean", rng=rng)
    handle.remove()
    # one draw for the content choice per step, one for the motion choice per step k > 0
    assert rng.n == 5 + 4
    # all B·(T−1) ground-truth differences in one call, then one B-frame call per step k > 0
    assert [c.shape[0] for c in calls] == [B * 5] + [B] * 4
    torch.testing.assert_close(calls[0], diffs.permute(0, 2, 1, 3, 4).reshape(B * 5, 3, 64, 64))
    for k in range(1, 5):  # generated[k−1] − generated[k], not halved
        torch.testing.assert_close(calls[k], video[:, :, k - 1] - video[:, :, k])


def test_generate_uses_python_random_by_default(monkeypatch):
    gen = make_gen()
    draws = []
    real = random.random
    monkeypatch.setattr(random, "random", lambda: draws.append(1) or real())
    batch = random_batch(B, NC, 4)
    diffs = (batch.images[:, :, :-1] - batch.images[:, :, 1:]) / 2
    with torch.no_grad():
        gen.generate_sequence(batch.images, batch.onehot, diffs, 0.5, "mean")
    assert len(draws) == 3 + 2


# ================================================================ 8. initialisation
def test_generator_initialisation():
    torch.manual_seed(0)
    gen = make_gen(use_bn=True)
    n_tconv = 0
    for part in (gen.content_generator, gen.motion_generator):
        for t in part.modules():
            if not isinstance(t, nn.ConvTranspose2d):
                continue
            n_tconv += 1
            bound = 1.0 / math.sqrt(t.in_channels * t.kernel_size[0] * t.kernel_size[1])
            w = t.weight.detach()
            assert w.abs().max() <= bound + 1e-7
            if w.numel() >= 100:
                assert w.abs().max() >= 0.9 * bound, (t, w.abs().max(), bound)
                assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.15)
            if t.bias is not None:
                assert t.bias.abs().max() <= bound + 1e-7
    assert n_tconv == 6 + 4
    n_bn = 0
    for bn in gen.modules():
        if isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n_bn += 1
            assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    assert n_bn == 44
    gain = math.sqrt(2.0)
    n_lin = 0
    for lin in gen.modules():
        if isinstance(lin, nn.Linear):
            fan_in, fan_out = lin.in_features, lin.out_features
            bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
            w = lin.weight.detach()
            assert w.abs().max() <= bound + 1e-6
            if w.numel() >= 1000:
                n_lin += 1
                assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.06)
                assert w.abs().max() >= 0.95 * bound
            assert lin.bias.abs().max() <= 1 / math.sqrt(fan_in) + 1e-7
    assert n_lin >= 8
    for conv in gen.modules():
        if isinstance(conv, nn.Conv2d):
            rf = conv.kernel_size[0] * conv.kernel_size[1]
            bound = gain * math.sqrt(6.0 / (conv.in_channels * rf + conv.out_channels * rf))
            assert conv.weight.abs().max() <= bound + 1e-6
            if conv.weight.numel() >= 1000:
                assert conv.weight.abs().max() >= 0.9 * bound


# ================================================================ 9. errors
@pytest.mark.parametrize("kw", [dict(ac_kernel=4), dict(ac_kernel=6), dict(kernel_layer=0),
                                dict(kernel_layer=5)])
def test_invalid_variants_raise(kw):
    with pytest.raises(ValueError):
        make_gen(**kw)
