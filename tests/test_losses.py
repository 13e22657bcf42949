"""Loss terms of TRAINING.md §2 against formulas written here, and the balance rule's truth table."""
import itertools
import math

import pytest
import torch

from models import losses as L


def kl_formula(mu, logvar):
    rows = [-0.5 * sum(1 + lv - m * m - math.exp(lv) for m, lv in zip(mr, lr)) for mr, lr in zip(mu.tolist(), logvar.tolist())]
    return sum(rows) / len(rows)


def bce_formula(logits, y):
    vals = [-(y * math.log(1 / (1 + math.exp(-s))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-s))))
            for s in logits.flatten().tolist()]
    return sum(vals) / len(vals)


def mse_formula(a, b):
    d = (a - b).flatten().tolist()
    return sum(x * x for x in d) / len(d)


def ce_formula(logits, labels):
    total = 0.0
    for row, y in zip(logits.tolist(), labels.tolist()):
        total += -row[y] + math.log(sum(math.exp(v) for v in row))
    return total / len(labels)


@pytest.fixture
def tensors():
    g = torch.Generator().manual_seed(3)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    return r


def test_kl_matches_formula(tensors):
    mu, lv = tensors(4, 5), tensors(4, 5)
    assert L.kl_divergence(mu, lv).item() == pytest.approx(kl_formula(mu, lv), rel=1e-12)
    # [B, T, D] is averaged over the B·T rows, not summed over T
    mu3, lv3 = tensors(2, 3, 5), tensors(2, 3, 5)
    assert L.kl_divergence(mu3, lv3).item() == pytest.approx(kl_formula(mu3.reshape(6, 5), lv3.reshape(6, 5)))
    assert L.kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0


def test_bce(tensors):
    s = tensors(3, 4, 4)
    assert L.bce(s, 1).item() == pytest.approx(bce_formula(s, 1), rel=1e-10)
    assert L.bce(s, 0).item() == pytest.approx(bce_formula(s, 0), rel=1e-10)


@pytest.mark.parametrize("pairs", [[], [((2, 3), (2, 3))], [((2, 3), (2, 3)), ((4,), (4,))]])
def test_scale_feature_loss(tensors, pairs):
    pred = [tensors(*a) for a, _ in pairs]
    targ = [tensors(*b) for _, b in pairs]
    expected = sum(mse_formula(p, t) for p, t in zip(pred, targ))
    assert float(L.scale_feature_loss(pred, targ)) == pytest.approx(expected)


def test_content_task_losses(tensors):
    x, xt = tensors(2, 3, 8, 8), tensors(2, 3, 8, 8)
    mu, lv = tensors(2, 6), tensors(2, 6)
    d_rec, d_rnd, d_real = tensors(2, 4, 4), tensors(2, 4, 4), tensors(2, 4, 4)
    c_kl, c_img_dis, xp = 7.0, 10.0, 0.1
    out = L.content_task_losses(xt, x, (mu, lv), d_rec, d_rnd, d_real, c_kl, c_img_dis, xp)
    mse, kl = mse_formula(xt, x), kl_formula(mu, lv)
    assert out.groups["content_encoder"].item() == pytest.approx(c_kl * kl + 10000 * mse)
    assert out.groups["content_decoder"].item() == pytest.approx(
        10000 * mse + c_img_dis * (bce_formula(d_rec, 1) + xp * bce_formula(d_rnd, 1)))
    assert out.groups["image_discriminator"].item() == pytest.approx(
        bce_formula(d_rec, 0) + xp * bce_formula(d_rnd, 0) + bce_formula(d_real, 1))
    assert out.real_cost.item() == pytest.approx(bce_formula(d_real, 1))
    fake = (2 * (1 - xp) * bce_formula(d_rec, 0) + 2 * xp * bce_formula(d_rnd, 0)) / 2
    assert out.fake_cost.item() == pytest.approx(fake)
    assert out.margin == 0.5


def test_pretrain_losses(tensors):
    x, xt, mu, lv = tensors(2, 3, 8, 8), tensors(2, 3, 8, 8), tensors(2, 6), tensors(2, 6)
    out = L.pretrain_losses(xt, x, (mu, lv), 3.0)
    assert set(out.groups) == {"content_encoder", "content_decoder"} and out.real_cost is None
    assert out.groups["content_decoder"].item() == pytest.approx(10000 * mse_formula(xt, x))
    assert out.groups["content_encoder"].item() == pytest.approx(3 * kl_formula(mu, lv) + 10000 * mse_formula(xt, x))


def test_frame_task_losses(tensors):
    x, xt = tensors(2, 3, 8, 8), tensors(2, 3, 8, 8)
    mu, lv = tensors(2, 4), tensors(2, 4)
    fp, ft = [tensors(2, 4, 8, 8), tensors(2, 3, 16, 16)], [tensors(2, 4, 8, 8), tensors(2, 3, 16, 16)]
    d = [tensors(2, 4, 4) for _ in range(3)]
    out = L.frame_task_losses(xt, x, (mu, lv), fp, ft, *d, img_m_kl=7.0, pred_scale_feat=100.0)
    mse, kl = mse_formula(xt, x), kl_formula(mu, lv)
    s = mse_formula(fp[0], ft[0]) + mse_formula(fp[1], ft[1])
    assert out.groups["motion_encoder"].item() == pytest.approx(7 * kl + 10000 * mse + 100 * s)
    assert out.groups["motion_decoder"].item() == pytest.approx(
        10000 * mse + 10 * (bce_formula(d[0], 1) + bce_formula(d[1], 1)) + 100 * s)
    assert out.groups["image_discriminator"].item() == pytest.approx(
        bce_formula(d[0], 0) + bce_formula(d[1], 0) + bce_formula(d[2], 1))
    assert out.fake_cost.item() == pytest.approx((bce_formula(d[0], 0) + bce_formula(d[1], 0)) / 2)
    assert out.margin == 0.4


def test_video_task_losses(tensors):
    steps = 3
    v, imgs = tensors(2, 3, steps + 1, 8, 8), tensors(2, 3, steps + 1, 8, 8)
    mu, lv = tensors(2, steps, 4), tensors(2, steps, 4)
    fp = [[tensors(2, 4, 8, 8)] for _ in range(steps)]
    ft = [[tensors(2, 4, 8, 8)] for _ in range(steps)]
    labels = torch.tensor([1, 0])
    d = [(tensors(2), tensors(2, 3)) for _ in range(3)]
    out = L.video_task_losses(v, imgs, (mu, lv), fp, ft, labels, *d, m_kl=5.0, video_scale_feat=100.0)
    mse, kl = mse_formula(v, imgs), kl_formula(mu.reshape(-1, 4), lv.reshape(-1, 4))
    s = sum(mse_formula(p[0], t[0]) for p, t in zip(fp, ft)) / steps
    assert out.groups["motion_encoder"].item() == pytest.approx(5 * kl + 10000 * mse + 100 * s)
    dec = (10000 * mse + bce_formula(d[0][0], 1) + bce_formula(d[1][0], 1) + ce_formula(d[0][1], labels)
           + ce_formula(d[1][1], labels) + 100 * s)
    assert out.groups["motion_decoder"].item() == pytest.approx(dec)
    dis = bce_formula(d[0][0], 0) + bce_formula(d[1][0], 0) + bce_formula(d[2][0], 1) + ce_formula(d[2][1], labels)
    assert out.groups["video_discriminator"].item() == pytest.approx(dis)
    assert out.real_cost.item() == pytest.approx(bce_formula(d[2][0], 1))
    assert out.margin == 0.5


def balance_reference(real, fake, m):
    low, high = 0.68 - m, 0.68 + m
    dis = not (real < low or fake < low)
    dec = not (real > high or fake > high)
    if not dis and not dec:
        return True, True
    return dec, dis


@pytest.mark.parametrize("margin", [0.4, 0.5])
def test_balance_truth_table(margin):
    low, high = 0.68 - margin, 0.68 + margin
    values = [low - 0.05, low + 1e-9, 0.68, high - 1e-9, high + 0.05]
    for real, fake in itertools.product(values, values):
        assert L.balance(real, fake, margin) == balance_reference(real, fake, margin), (real, fake)
    # named corners
    assert L.balance(0.68, 0.68, margin) == (True, True)
    assert L.balance(low - 0.01, 0.68, margin) == (True, False)      # D too good: skip D
    assert L.balance(high + 0.01, 0.68, margin) == (False, True)     # D too bad: skip decoder
    assert L.balance(low - 0.01, high + 0.01, margin) == (True, True)  # both skipped -> both
