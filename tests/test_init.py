"""Behaviour of models.init.initialize_weights against MODEL.md §4, checked with statistics."""
import math

import pytest
import torch
from torch import nn

from models.init import initialize_weights


def _xavier_bound(fan_in, fan_out, gain=math.sqrt(2.0)):
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


def _initialised(layer, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(layer)
    initialize_weights(net)
    return layer


@pytest.mark.parametrize("layer, fan_in, fan_out", [
    (nn.Linear(300, 200), 300, 200),
    (nn.Conv2d(64, 32, 3), 64 * 9, 32 * 9),
    (nn.Conv3d(16, 24, 4), 16 * 64, 24 * 64),
])
def test_xavier_uniform_with_relu_gain(layer, fan_in, fan_out):
    layer = _initialised(layer)
    weight = layer.weight.detach().double()
    bound = _xavier_bound(fan_in, fan_out)
    assert weight.abs().max() <= bound + 1e-7
    assert weight.abs().max() >= 0.98 * bound  # bound nearly reached on many samples
    expected_std = bound / math.sqrt(3.0)  # uniform(-b, b) has std b/sqrt(3)
    assert weight.std().item() == pytest.approx(expected_std, rel=0.03)
    assert abs(weight.mean().item()) < 0.05 * expected_std


def test_linear_and_conv_bias_keep_default_fan_in_bound():
    layer = _initialised(nn.Conv2d(8, 400, 3))  # 400 biases, fan_in 8*9 = 72
    bound = 1.0 / math.sqrt(72)
    bias = layer.bias.detach()
    assert bias.abs().max() <= bound + 1e-7
    assert bias.abs().max() >= 0.95 * bound
    linear = _initialised(nn.Linear(50, 1000))
    assert linear.bias.abs().max() <= 1.0 / math.sqrt(50) + 1e-7
    assert linear.bias.abs().max() >= 0.95 / math.sqrt(50)


@pytest.mark.parametrize("layer, c_in, k2", [
    (nn.ConvTranspose2d(96, 64, 4, 2, 1), 96, 16),
    (nn.ConvTranspose2d(16, 128, 3, 1, 1), 16, 9),  # C_in < C_out: current default would differ
    (nn.ConvTranspose3d(8, 32, (2, 3, 3)), 8, 18),
])
def test_transposed_conv_uses_input_channel_fan(layer, c_in, k2):
    layer = _initialised(layer)
    bound = 1.0 / math.sqrt(c_in * k2)
    weight = layer.weight.detach().double()
    assert weight.abs().max() <= bound + 1e-7
    assert weight.abs().max() >= 0.98 * bound
    assert weight.std().item() == pytest.approx(bound / math.sqrt(3.0), rel=0.05)
    bias = layer.bias.detach()
    assert bias.abs().max() <= bound + 1e-7
    assert bias.abs().max() >= 0.5 * bound


def test_transposed_conv_bound_differs_from_current_pytorch_default():
    torch.manual_seed(1)
    layer = nn.ConvTranspose2d(16, 128, 3)
    current_bound = 1.0 / math.sqrt(128 * 9)  # current PyTorch fans over weight.shape[1]
    assert layer.weight.abs().max() <= current_bound + 1e-7
    initialize_weights(layer)
    assert layer.weight.abs().max() > 2 * current_bound  # 0.4 bound is sqrt(8) times larger


def test_bias_free_transposed_conv_is_fine():
    layer = _initialised(nn.ConvTranspose2d(32, 16, 3, bias=False))
    assert layer.bias is None
    assert layer.weight.abs().max() <= 1.0 / math.sqrt(32 * 9) + 1e-7


def test_batchnorm_1d_2d_one_and_zero():
    bn1, bn2 = nn.BatchNorm1d(20), nn.BatchNorm2d(30)
    for bn in (bn1, bn2):
        with torch.no_grad():
            bn.weight.fill_(3.0)
            bn.bias.fill_(-2.0)
    initialize_weights(nn.Sequential(bn1, nn.Sequential(bn2)))
    for bn in (bn1, bn2):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_batchnorm_3d_uniform_unit_interval():
    torch.manual_seed(0)
    bn = nn.BatchNorm3d(2000)
    initialize_weights(bn)
    weight = bn.weight.detach().double()
    assert weight.min() >= 0.0 and weight.max() <= 1.0
    assert weight.min() < 0.01 and weight.max() > 0.99
    assert weight.mean().item() == pytest.approx(0.5, abs=0.03)
    assert weight.std().item() == pytest.approx(1.0 / math.sqrt(12.0), rel=0.05)
    assert torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_non_affine_batchnorm_and_other_modules_untouched():
    net = nn.Sequential(nn.BatchNorm2d(4, affine=False), nn.BatchNorm3d(4, affine=False),
                        nn.LeakyReLU(0.2), nn.Embedding(5, 3))
    before = net[3].weight.detach().clone()
    initialize_weights(net)
    assert torch.equal(net[3].weight, before)


def test_reaches_nested_submodules():
    torch.manual_seed(0)
    inner = nn.Linear(256, 256)
    net = nn.Sequential(nn.Sequential(nn.Sequential(inner)))
    initialize_weights(net)
    assert inner.weight.abs().max() >= 0.98 * _xavier_bound(256, 256)
