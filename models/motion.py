"""The motion stream (MODEL.md §1): motion encoder, trajectory generator, the joint
(content ⊗ motion) input, and the generator of per-pixel separable kernels and masks.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.blocks import ConvLSTMCell

MOTION_CHANNELS = 16
# Run the motion encoder on channels-last activations on the CPU (utils/SPEED.md, item 7); the
# benchmark's `--implementation reference` turns it off to time the straightforward layout.
CHANNELS_LAST_ON_CPU = True
KERNEL_SCALES = (8, 16, 32, 64)


def enabled_scales(kernel_layer):
    """Scales whose kernel branch exists for `kernel_layer` L (the finest L of 8, 16, 32, 64)."""
    return KERNEL_SCALES[len(KERNEL_SCALES) - kernel_layer:]


class MotionEncoder(nn.Module):
    """Difference frames `[N, C, 64, 64]` -> motion maps `[N, 16, 8, 8]` (always with BN);
    `head` maps a flattened map `[N, 1024]` to `[N, 512]`."""

    def __init__(self, n_channels=3):
        super().__init__()
        plan = [(n_channels, 16, 5), (16, 16, 5), "pool", (16, 32, 5), (32, 32, 5), "pool",
                (32, 32, 7), (32, 16, 7), "pool"]
        layers = []
        for step in plan:
            if step == "pool":
                layers.append(nn.MaxPool2d(2))
                continue
            cin, cout, k = step
            layers += [nn.Conv2d(cin, cout, k, 1, k // 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(16 * 8 * 8, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True))

    def forward(self, diffs):
        """diffs `[N, C, 64, 64]` -> `[N, 16, 8, 8]` (contiguous)."""
        if CHANNELS_LAST_ON_CPU and diffs.device.type == "cpu":
            # oneDNN runs these 5x5 / 7x7 convolutions (and their backward) faster on channels-last
            # activations: the video step ~10 % faster on the 2-core CPU (utils/SPEED.md, item 7).
            # Same maths; the output is returned in the usual layout.
            diffs = diffs.contiguous(memory_format=torch.channels_last)
        return self.convs(diffs).contiguous()

    def encode_video(self, diffs):
        """diffs `[B, C, t, 64, 64]` -> `[B, t, 16, 8, 8]`, all B·t frames in one call."""
        b, c, t, h, w = diffs.shape
        frames = diffs.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        return self(frames).view(b, t, MOTION_CHANNELS, 8, 8)

    def embed(self, motion_maps):
        """motion maps `[N, 16, 8, 8]` -> vectors `[N, 512]` for the motion sampler."""
        return self.head(torch.flatten(motion_maps, 1))


class TrajectoryGenerator(nn.Module):
    """`z_m [N, motion_dim]` + one-hot -> `[N, 16, 8, 8]` (head), plus the ConvLSTM."""

    def __init__(self, motion_dim, num_categories, use_bn=False):
        super().__init__()
        layers = [nn.Linear(motion_dim + num_categories, MOTION_CHANNELS * 64)]
        if use_bn:
            layers.append(nn.BatchNorm1d(MOTION_CHANNELS * 64))
        layers.append(nn.ReLU(inplace=True))
        self.head = nn.Sequential(*layers)
        self.lstm = ConvLSTMCell(MOTION_CHANNELS, 3)

    def forward(self, z_motion, label_onehot):
        """z_motion `[N, motion_dim]`, label_onehot `[N, nc]` -> `[N, 16, 8, 8]`."""
        return self.head(torch.cat([z_motion, label_onehot], dim=1)).view(-1, MOTION_CHANNELS, 8, 8)


class JointMotionInput(nn.Module):
    """Joint half of MCInput: `u [B, 32·gf]` and motion state `[B, 16, 8, 8]` ->
    `linear(flatten(u ⊗ linear(motion)))` reshaped to `[B, 16, 8, 8]`."""

    def __init__(self, gf_dim):
        super().__init__()
        self.to_v = nn.Linear(MOTION_CHANNELS * 64, 64)
        self.joint = nn.Linear(32 * gf_dim * 64, MOTION_CHANNELS * 64)
        self.apply_joint = None  # set by `deferred_joint_gradient` (utils.training.tasks) for one training step

    def forward(self, u, motion_state):
        v = F.relu(self.to_v(torch.flatten(motion_state, 1)))
        outer = torch.bmm(u.unsqueeze(2), v.unsqueeze(1)).flatten(1)
        joint = self.apply_joint or self.joint
        return F.relu(joint(outer)).view(-1, MOTION_CHANNELS, 8, 8)


def _conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class UpBlock(nn.Sequential):
    """transposed-conv(a→b, k, s, p) BN ReLU · conv(b→b, 3, 1, 1) BN ReLU."""

    def __init__(self, cin, cout, kernel_size, stride, padding):
        super().__init__(nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True), *_conv_bn_relu(cout, cout))


class KernelBranch(nn.Module):
    """Features `[B, a, S, S]` -> `(vertical [B,K,S,S], horizontal [B,K,S,S], mask [B,1,S,S])`.

    Kernels are raw (no normalisation); the mask is `(tanh(.) + 1) / 2`.
    """

    def __init__(self, in_channels, kernel_size):
        super().__init__()
        self.shared = nn.Sequential(*_conv_bn_relu(in_channels, 16))
        self.horizontal = nn.Sequential(*_conv_bn_relu(16, kernel_size), nn.Conv2d(kernel_size, kernel_size, 3, 1, 1))
        self.vertical = nn.Sequential(*_conv_bn_relu(16, kernel_size), nn.Conv2d(kernel_size, kernel_size, 3, 1, 1))
        self.mask = nn.Sequential(*_conv_bn_relu(16, 16), nn.Conv2d(16, 1, 3, 1, 1), nn.Tanh())

    def forward(self, features):
        shared = self.shared(features)
        return self.vertical(shared), self.horizontal(shared), (self.mask(shared) + 1.0) / 2.0


class MotionGenerator(nn.Module):
    """Motion state `[B, 16, 8, 8]` -> dict scale -> (V, H, mask) for the enabled scales.

    Up-blocks and channel splits always exist; only the branches of the finest
    `kernel_layer` scales are built.
    """

    def __init__(self, kernel_size=5, kernel_layer=4):
        super().__init__()
        self.scales = enabled_scales(kernel_layer)
        self.up8 = UpBlock(16, 128, 3, 1, 1)
        self.up16 = UpBlock(96, 64, 4, 2, 1)
        self.up32 = UpBlock(42, 32, 4, 2, 1)
        self.up64 = UpBlock(16, 16, 4, 2, 1)
        self.split = {8: 32, 16: 22, 32: 16, 64: 16}
        self.branches = nn.ModuleDict({str(s): KernelBranch(self.split[s], kernel_size) for s in self.scales})

    def forward(self, motion_state):
        kernels = {}
        x = motion_state
        for scale, up in ((8, self.up8), (16, self.up16), (32, self.up32), (64, self.up64)):
            f = up(x)
            width = self.split[scale]
            if scale in self.scales:
                kernels[scale] = self.branches[str(scale)](f[:, :width])
            if scale != 64:
                x = f[:, width:]
        return kernels
