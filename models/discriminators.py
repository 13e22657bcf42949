"""Patch image discriminator and categorical video discriminator of MODEL.md §3.

The 3-D convolutional body of the video discriminator is defined once here
(`build_video_body`, `build_video_head`) and reused by the evaluation
classifier (models/classifier.py).
"""
from torch import nn

from models.init import initialize_weights

LEAKY_SLOPE = 0.2
VIDEO_KERNEL = 4
MIN_VIDEO_FRAMES = 10  # the body and head shrink time by 9 frames in all


def build_video_body(n_channels: int, ndf: int) -> nn.Sequential:
    """Build the video discriminator's body: `[B, C, T, H, W]` -> `[B, 8·ndf, T-8, H/16, W/16]`.

    Four bias-free 3-D convs with kernel 4 and spatial stride 2, BatchNorm3d
    after all but the first, LeakyReLU(0.2) after each.
    """
    def conv(c_in, c_out, time_pad):
        return nn.Conv3d(c_in, c_out, VIDEO_KERNEL, stride=(1, 2, 2),
                         padding=(time_pad, 1, 1), bias=False)

    return nn.Sequential(
        conv(n_channels, ndf, 0), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
        conv(ndf, 2 * ndf, 0), nn.BatchNorm3d(2 * ndf), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
        conv(2 * ndf, 4 * ndf, 1), nn.BatchNorm3d(4 * ndf), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
        conv(4 * ndf, 8 * ndf, 1), nn.BatchNorm3d(8 * ndf), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    )


def build_video_head(ndf: int, out_channels: int) -> nn.Conv3d:
    """Build the last 3-D conv: `[B, 8·ndf, t, h, w]` -> `[B, out_channels, t-1, h-3, w-3]`."""
    return nn.Conv3d(8 * ndf, out_channels, VIDEO_KERNEL, stride=1, padding=(1, 0, 0), bias=False)


def check_video_input(video, n_channels: int) -> None:
    """Raise ValueError unless `video` is `[B, n_channels, T>=10, H>=64, W>=64]`."""
    if video.dim() != 5 or video.shape[1] != n_channels:
        raise ValueError(f"expected a video [B, {n_channels}, T, H, W], got {list(video.shape)}")
    if video.shape[2] < MIN_VIDEO_FRAMES or min(video.shape[3:]) < 64:
        raise ValueError(f"the video discriminator body needs T >= {MIN_VIDEO_FRAMES} frames of "
                         f"at least 64x64, got {list(video.shape)}")


class ImageDiscriminator(nn.Module):
    """Patch image discriminator: `[B, C, 64, 64]` frames -> `[B, 4, 4]` real/fake logits."""

    def __init__(self, n_channels: int = 3, ndf: int = 16):
        super().__init__()

        def conv(c_in, c_out):
            return nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=False)

        self.net = nn.Sequential(
            conv(n_channels, ndf), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            conv(ndf, 2 * ndf), nn.BatchNorm2d(2 * ndf), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            conv(2 * ndf, 4 * ndf), nn.BatchNorm2d(4 * ndf), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            conv(4 * ndf, 1),
        )
        initialize_weights(self)

    def forward(self, image):
        """Take images `[B, C, H, W]` (64x64 published); return patch logits `[B, H/16, W/16]`."""
        return self.net(image).squeeze(1)


class VideoDiscriminator(nn.Module):
    """Categorical video discriminator: realness logit and class logits of a video.

    For the published T = 10 frames of 64x64 the last conv ends at
    `[B, 1 + nc, 1, 1, 1]`. Longer clips (or larger frames) leave several
    output positions: each position's first channel is a realness logit
    (a patch-GAN over time), and the class logits are averaged over positions.
    """

    def __init__(self, n_channels: int = 3, num_categories: int = None, ndf: int = 64):
        super().__init__()
        if num_categories is None or num_categories < 1:
            raise ValueError(f"num_categories must be a positive int, got {num_categories}")
        self.n_channels = n_channels
        self.num_categories = num_categories
        self.body = build_video_body(n_channels, ndf)
        self.head = build_video_head(ndf, 1 + num_categories)
        initialize_weights(self)

    def features(self, video):
        """Take a video `[B, C, T, H, W]`; return the body output flattened, `[B, F]`.

        F = 8·ndf · (T-8) · (H/16) · (W/16), i.e. 8·ndf·2·4·4 for 10 frames of 64x64.
        """
        check_video_input(video, self.n_channels)
        return self.body(video).flatten(1)

    def forward(self, video):
        """Take a video `[B, C, T, H, W]` (T >= 10); return `(realness, class_logits)`.

        realness is `[B]` when the output has one position (T = 10, 64x64) and
        `[B, N]` (one logit per output position) otherwise; class_logits is
        `[B, nc]`, averaged over the positions.
        """
        check_video_input(video, self.n_channels)
        out = self.head(self.body(video)).flatten(2)  # [B, 1 + nc, N]
        realness = out[:, 0]
        if realness.shape[1] == 1:
            realness = realness.squeeze(1)
        class_logits = out[:, 1:].mean(dim=2)
        return realness, class_logits
