"""Discriminators of MODEL.md §3 and the evaluation classifier (same body), checked against a
functional re-statement written here."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.classifier import VideoClassifier, fold_to_action
from models.discriminators import ImageDiscriminator, VideoDiscriminator


def _convs(module, kind):
    return [m for m in module.modules() if isinstance(m, kind)]


def _reference_image_d(image, convs, bns):
    """MODEL.md §3 patch D, train-mode BN, written with torch.nn.functional."""
    x = F.leaky_relu(F.conv2d(image, convs[0].weight, stride=2, padding=1), 0.2)
    for conv, bn in zip(convs[1:3], bns):
        x = F.conv2d(x, conv.weight, stride=2, padding=1)
        x = F.batch_norm(x, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
        x = F.leaky_relu(x, 0.2)
    return F.conv2d(x, convs[3].weight, stride=2, padding=1)[:, 0]


def _reference_video_d(video, convs, bns):
    """MODEL.md §3 categorical video D up to the last conv (train-mode BN), functional."""
    pads = [(0, 1, 1), (0, 1, 1), (1, 1, 1), (1, 1, 1)]
    x = F.leaky_relu(F.conv3d(video, convs[0].weight, stride=(1, 2, 2), padding=pads[0]), 0.2)
    for conv, bn, pad in zip(convs[1:4], bns, pads[1:]):
        x = F.conv3d(x, conv.weight, stride=(1, 2, 2), padding=pad)
        x = F.batch_norm(x, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
        x = F.leaky_relu(x, 0.2)
    body = x
    return body, F.conv3d(body, convs[4].weight, stride=1, padding=(1, 0, 0))


def test_image_discriminator_published_layers():
    d = ImageDiscriminator()
    convs = _convs(d, nn.Conv2d)
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 16), (16, 32), (32, 64), (64, 1)]
    for c in convs:
        assert c.bias is None and c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1)
    bns = _convs(d, nn.BatchNorm2d)
    assert [b.num_features for b in bns] == [32, 64]
    assert all(torch.equal(b.weight, torch.ones_like(b.weight)) for b in bns)


def test_image_discriminator_matches_functional_reference():
    torch.manual_seed(0)
    d = ImageDiscriminator(n_channels=3, ndf=8)
    image = torch.rand(5, 3, 64, 64) * 2 - 1
    out = d(image)
    assert out.shape == (5, 4, 4)
    expected = _reference_image_d(image, _convs(d, nn.Conv2d), _convs(d, nn.BatchNorm2d))
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in d.parameters())


def test_image_discriminator_weights_are_xavier_scaled():
    torch.manual_seed(0)
    d = ImageDiscriminator()
    first = _convs(d, nn.Conv2d)[1]  # 16 -> 32, k4: fans 256 and 512
    bound = 2 ** 0.5 * (6 / (16 * 16 + 32 * 16)) ** 0.5
    assert first.weight.abs().max() <= bound + 1e-7
    assert first.weight.abs().max() > 0.95 * bound


def test_video_discriminator_published_layers():
    d = VideoDiscriminator(n_channels=3, num_categories=6)
    convs = _convs(d, nn.Conv3d)
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (3, 64), (64, 128), (128, 256), (256, 512), (512, 7)]
    assert [c.stride for c in convs] == [(1, 2, 2)] * 4 + [(1, 1, 1)]
    assert [c.padding for c in convs] == [(0, 1, 1), (0, 1, 1), (1, 1, 1), (1, 1, 1), (1, 0, 0)]
    assert all(c.bias is None and c.kernel_size == (4, 4, 4) for c in convs)
    bns = _convs(d, nn.BatchNorm3d)
    assert [b.num_features for b in bns] == [128, 256, 512]
    weights = torch.cat([b.weight.detach() for b in bns])
    assert weights.min() >= 0 and weights.max() <= 1 and weights.std() > 0.2  # U(0, 1)


def test_video_discriminator_ten_frames_matches_reference():
    torch.manual_seed(0)
    d = VideoDiscriminator(n_channels=3, num_categories=4, ndf=8)
    video = torch.rand(3, 3, 10, 64, 64) * 2 - 1
    realness, class_logits = d(video)
    assert realness.shape == (3,) and class_logits.shape == (3, 4)
    body, out = _reference_video_d(video, _convs(d, nn.Conv3d), _convs(d, nn.BatchNorm3d))
    assert out.shape == (3, 5, 1, 1, 1)
    torch.testing.assert_close(realness, out[:, 0, 0, 0, 0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(class_logits, out[:, 1:, 0, 0, 0], rtol=1e-4, atol=1e-5)
    features = d.features(video)
    assert features.shape == (3, 8 * 8 * 2 * 4 * 4)
    torch.testing.assert_close(features, body.reshape(3, -1), rtol=1e-4, atol=1e-5)
    (realness.sum() + class_logits.sum()).backward()
    assert all(p.grad is not None for p in d.parameters())


def test_video_discriminator_longer_clip_gives_per_position_realness():
    torch.manual_seed(0)
    d = VideoDiscriminator(n_channels=1, num_categories=3, ndf=4)
    video = torch.rand(2, 1, 13, 64, 64) * 2 - 1  # 13 frames -> 4 output positions in time
    realness, class_logits = d(video)
    _, out = _reference_video_d(video, _convs(d, nn.Conv3d), _convs(d, nn.BatchNorm3d))
    assert out.shape == (2, 4, 4, 1, 1)
    assert realness.shape == (2, 4) and class_logits.shape == (2, 3)
    torch.testing.assert_close(realness, out[:, 0].reshape(2, 4), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(class_logits, out[:, 1:].reshape(2, 3, 4).mean(2), rtol=1e-4, atol=1e-5)


def test_video_discriminator_rejects_short_or_wrong_inputs():
    d = VideoDiscriminator(n_channels=3, num_categories=2, ndf=4)
    with pytest.raises(ValueError, match="T >= 10"):
        d(torch.zeros(1, 3, 9, 64, 64))
    with pytest.raises(ValueError, match="expected a video"):
        d(torch.zeros(1, 1, 10, 64, 64))
    with pytest.raises(ValueError, match="num_categories"):
        VideoDiscriminator(n_channels=3)


def test_discriminators_follow_input_dtype():
    d = ImageDiscriminator(ndf=4).double()
    assert d(torch.zeros(2, 3, 64, 64, dtype=torch.float64)).dtype == torch.float64


# ---- evaluation classifier (models/classifier.py): same body, class head -------------------

def test_classifier_shares_the_discriminator_body_layout():
    classifier = VideoClassifier(n_channels=3, num_classes=90)
    disc = VideoDiscriminator(n_channels=3, num_categories=9)
    shapes = [p.shape for p in classifier.body.parameters()]
    assert shapes == [p.shape for p in disc.body.parameters()]
    head = _convs(classifier, nn.Conv3d)[-1]
    assert (head.in_channels, head.out_channels, head.padding, head.bias) == (512, 90, (1, 0, 0), None)
    weights = torch.cat([b.weight.detach() for b in _convs(classifier, nn.BatchNorm3d)])
    assert weights.min() >= 0 and weights.max() <= 1 and weights.std() > 0.2


def test_classifier_logits_and_features_match_reference():
    torch.manual_seed(0)
    classifier = VideoClassifier(n_channels=3, num_classes=7, ndf=4)
    video = torch.rand(4, 3, 10, 64, 64) * 2 - 1
    logits, features = classifier(video), classifier.features(video)
    body, out = _reference_video_d(video, _convs(classifier, nn.Conv3d),
                                   _convs(classifier, nn.BatchNorm3d))
    assert logits.shape == (4, 7) and features.shape == (4, 4 * 8 * 2 * 16)
    torch.testing.assert_close(logits, out.reshape(4, 7), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(features, body.reshape(4, -1), rtol=1e-4, atol=1e-5)
    longer = classifier(torch.rand(2, 3, 12, 64, 64))
    assert longer.shape == (2, 7)
    with pytest.raises(ValueError, match="num_classes"):
        VideoClassifier(n_channels=3)


def test_fold_to_action_numpy_and_torch():
    n_actions = 10
    labels = np.array([3, 13, 83, 0, 59])  # action + actor * 10
    assert fold_to_action(labels, n_actions).tolist() == [3, 3, 3, 0, 9]
    probs = np.zeros((5, 90))
    probs[np.arange(5), labels] = 1.0
    assert fold_to_action(probs, n_actions).tolist() == [3, 3, 3, 0, 9]
    folded = fold_to_action(torch.from_numpy(probs), n_actions)
    assert isinstance(folded, torch.Tensor) and folded.tolist() == [3, 3, 3, 0, 9]
    assert fold_to_action(torch.tensor(labels), n_actions).tolist() == [3, 3, 3, 0, 9]
