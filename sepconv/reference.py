"""Pure-PyTorch adaptive separable convolution (the reference backend).

Differentiable by autograd in all three inputs, any odd K, any floating
dtype, any device. Memory: the largest temporaries are output-sized; autograd
keeps K of them (one per vertical tap), never K^2.
"""
import torch


def separable_conv_reference(padded_input, vertical, horizontal):
    """Per-pixel separable convolution, computed with tensor slicing.

    O[b,c,y,x] = sum_{i,j<K} Xpad[b,c,y+i,x+j] * V[b,i,y,x] * H[b,j,y,x].
    Inputs: padded_input [B, C, H+K-1, W+K-1], vertical [B, K, H, W],
    horizontal [B, K, H, W] (same dtype/device; not validated here, see
    sepconv.checks). Output: [B, C, H, W] in the inputs' dtype.
    """
    k = vertical.shape[1]
    h, w = vertical.shape[2], vertical.shape[3]
    out = None
    for i in range(k):
        rows = padded_input[:, :, i:i + h, :]            # [B, C, H, W+K-1]
        inner = rows[:, :, :, 0:w] * horizontal[:, 0:1]
        for j in range(1, k):
            inner = inner + rows[:, :, :, j:j + w] * horizontal[:, j:j + 1]
        term = inner * vertical[:, i:i + 1]               # broadcast over C
        out = term if out is None else out + term
    return out
