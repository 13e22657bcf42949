"""Building blocks shared by the generator's streams (MODEL.md §1).

* `ConvLSTMCell` — the 16-channel, kernel-3 ConvLSTM of the trajectory generator,
  whose initial state is all ones.
* `GaussianSampler` — the label-conditioned reparameterisation layer of both VAEs.
* `one_hot` — labels to one-hot vectors on the labels' device.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

SAMPLE_MODES = ("sample", "mean", "random")


def one_hot(labels, num_categories):
    """Integer labels `[B]` -> float one-hot `[B, num_categories]` on the labels' device."""
    return F.one_hot(labels.long(), num_categories).float()


class ConvLSTMCell(nn.Module):
    """ConvLSTM with gates i, j, f, o from one conv over `cat(x_t, h)`.

    `c = c·σ(f + 1) + σ(i)·tanh(j)`, `h = tanh(c)·σ(o)`. A missing state is all
    ones (not zeros), as in the published model.
    """

    def __init__(self, channels=16, kernel_size=3):
        super().__init__()
        self.channels = channels
        self.gates = nn.Conv2d(2 * channels, 4 * channels, kernel_size, 1, kernel_size // 2)

    def initial_state(self, reference):
        """All-ones `(c, h)`, each `[B, channels, H, W]` shaped like `reference[:, 0]`."""
        shape = (reference.shape[0], self.channels) + tuple(reference.shape[-2:])
        ones = reference.new_ones(shape)
        return ones, ones

    def forward(self, inputs, state=None):
        """Run over time. inputs `[B, T, channels, H, W]`, state `(c, h)` or None.

        Returns outputs `[B, T, channels, H, W]` and the final state `(c, h)`.
        """
        c, h = self.initial_state(inputs) if state is None else state
        outputs = []
        for step in range(inputs.shape[1]):
            gates = self.gates(torch.cat([inputs[:, step], h], dim=1))
            i, j, f, o = torch.chunk(gates, 4, dim=1)
            c = c * torch.sigmoid(f + 1.0) + torch.sigmoid(i) * torch.tanh(j)
            h = torch.tanh(c) * torch.sigmoid(o)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (c, h)


class GaussianSampler(nn.Module):
    """Label-conditioned Gaussian: two linears on `cat(embedding, one_hot)`.

    Modes: `sample` (reparameterised draw), `mean`. The `random` mode ignores the
    encoder altogether and is handled by the caller.
    """

    def __init__(self, in_features, num_categories, out_features):
        super().__init__()
        self.mean = nn.Linear(in_features + num_categories, out_features)
        self.logvar = nn.Linear(in_features + num_categories, out_features)

    def forward(self, embedding, label_onehot, mode="sample"):
        """embedding `[N, in]`, label_onehot `[N, nc]` -> `(z, mean, logvar)`, each `[N, out]`."""
        if mode not in ("sample", "mean"):
            raise ValueError(f"GaussianSampler mode must be 'sample' or 'mean', got {mode!r}")
        x = torch.cat([embedding, label_onehot], dim=1)
        mean, logvar = self.mean(x), self.logvar(x)
        if mode == "mean":
            return mean, mean, logvar
        return mean + torch.randn_like(mean) * torch.exp(0.5 * logvar), mean, logvar
