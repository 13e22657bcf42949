"""The content stream (MODEL.md §1): encoder, the content half of MCInput, and the
decoder with motion fusion at scales 8, 16, 32 and 64.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from sepconv import separable_conv


def _bn_relu(layers, channels, use_bn, dims=2):
    if use_bn:
        layers.append(nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels))
    layers.append(nn.ReLU(inplace=True))
    return layers


class ContentEncoder(nn.Module):
    """Frame `[B, C, 64, 64]` -> embedding `[B, 32·gf]` (bias-free convs, BN optional)."""

    def __init__(self, n_channels=3, gf_dim=16, use_bn=False):
        super().__init__()
        gf = gf_dim
        plan = [(n_channels, gf, 1), (gf, gf, 2), (gf, gf, 1), (gf, 2 * gf, 2), (2 * gf, 2 * gf, 1), (2 * gf, gf, 2)]
        layers = []
        for cin, cout, stride in plan:
            layers.append(nn.Conv2d(cin, cout, 3, stride, 1, bias=False))
            _bn_relu(layers, cout, use_bn)
        self.convs = nn.Sequential(*layers)
        head = [nn.Linear(64 * gf, 32 * gf)]
        self.head = nn.Sequential(*_bn_relu(head, 32 * gf, use_bn, dims=1))

    def forward(self, frame):
        return self.head(torch.flatten(self.convs(frame), 1))


class ContentInput(nn.Module):
    """Content half of MCInput: `(z_c [B, cont_dim], one-hot [B, nc])` ->
    `(content state [B, gf, 8, 8], u [B, 32·gf])`."""

    def __init__(self, cont_dim, num_categories, gf_dim):
        super().__init__()
        self.gf_dim = gf_dim
        self.to_u = nn.Linear(cont_dim + num_categories, 32 * gf_dim)
        self.to_state = nn.Linear(32 * gf_dim, 64 * gf_dim)

    def forward(self, z_content, label_onehot):
        u = F.relu(self.to_u(torch.cat([z_content, label_onehot], dim=1)))
        state = F.relu(self.to_state(u)).view(-1, self.gf_dim, 8, 8)
        return state, u


def fuse_motion(features, kernels, use_mask=True):
    """Adaptive separable convolution of a feature map with per-pixel kernels.

    features `[B, F, S, S]`; kernels `(vertical [B,K,S,S], horizontal [B,K,S,S], mask [B,1,S,S])`.
    Returns `m·SepConv(ReplicationPad(f), V, H) + (1−m)·f` (or just the SepConv with
    `use_mask=False`), `[B, F, S, S]`.
    """
    vertical, horizontal, mask = kernels
    pad = vertical.shape[1] // 2
    moved = separable_conv(F.pad(features, (pad, pad, pad, pad), mode="replicate"), vertical, horizontal)
    if not use_mask:
        return moved
    return mask * moved + (1.0 - mask) * features


class ContentGenerator(nn.Module):
    """Decoder: content state `[B, gf, 8, 8]` -> frame `[B, C, 64, 64]` (bias-free
    transposed convs), fusing motion kernels at each scale when given.

    `feature_scales` are the scales among (8, 16, 32) whose (fused) maps are
    returned as "scale features" for the feature-matching loss.
    """

    def __init__(self, n_channels=3, gf_dim=16, use_bn=False, use_mask=True, feature_scales=(8, 16, 32)):
        super().__init__()
        gf = gf_dim
        self.use_mask = use_mask
        self.feature_scales = tuple(feature_scales)

        def tconv(cin, cout, stride, relu=True):
            out_pad = 1 if stride == 2 else 0
            layers = [nn.ConvTranspose2d(cin, cout, 3, stride, 1, output_padding=out_pad, bias=False)]
            return _bn_relu(layers, cout, use_bn) if relu else layers

        self.to_16 = nn.Sequential(*tconv(gf, 8 * gf, 2))
        self.to_32 = nn.Sequential(*tconv(8 * gf, 4 * gf, 1), *tconv(4 * gf, 2 * gf, 2))
        self.to_64 = nn.Sequential(*tconv(2 * gf, 2 * gf, 1), *tconv(2 * gf, gf, 2),
                                   *tconv(gf, n_channels, 1, relu=False), nn.Tanh())

    def forward(self, content_state, kernels=None):
        """content_state `[B, gf, 8, 8]`; kernels: dict scale -> (V, H, mask) or None.

        Returns `(frame [B, C, 64, 64], [scale features at feature_scales, in order])`.
        """
        kernels = kernels or {}
        features = []
        x = content_state
        for scale, block in ((8, self.to_16), (16, self.to_32), (32, self.to_64), (64, None)):
            if scale in kernels:
                x = fuse_motion(x, kernels[scale], self.use_mask)
            if scale in self.feature_scales:
                features.append(x)
            if block is not None:
                x = block(x)
        return x, features
