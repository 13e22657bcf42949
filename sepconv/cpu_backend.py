"""A faster CPU SepConv: the slicing definition of `sepconv.reference` with a hand-written backward.

The reference lets autograd differentiate its K² slice products; every slice's backward
allocates a zero tensor of the padded input's size and copies into it. `SeparableConvCPU`
computes the same sums with in-place accumulation into one gradient buffer per input:

  O      = Σ_i V_i · inner_i,            inner_i = Σ_j H_j · X[i:i+h, j:j+w]
  dV_i   = Σ_c G · inner_i
  dH_j   = Σ_i Σ_c (G · V_i) · X[i:i+h, j:j+w]
  dX[i:i+h, j:j+w] += (G · V_i) · H_j

Once differentiable (as the CUDA kernel); the reference supports double backward.
"""
import torch


class SeparableConvCPU(torch.autograd.Function):
    """Autograd function: `(padded_input [B,C,H+K-1,W+K-1], vertical [B,K,H,W], horizontal [B,K,H,W])
    -> [B, C, H, W]`; saves the K partial sums `inner_i` for the backward."""

    @staticmethod
    def forward(ctx, padded_input, vertical, horizontal):
        b, k, h, w = vertical.shape
        c = padded_input.shape[1]
        out = padded_input.new_zeros(b, c, h, w)
        inners = padded_input.new_empty(k, b, c, h, w)
        for i in range(k):
            rows = padded_input[:, :, i:i + h]
            inner = inners[i]
            torch.mul(rows[..., 0:w], horizontal[:, 0:1], out=inner)
            for j in range(1, k):
                inner.addcmul_(rows[..., j:j + w], horizontal[:, j:j + 1])
            out.addcmul_(inner, vertical[:, i:i + 1])
        ctx.save_for_backward(padded_input, vertical, horizontal, inners)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        padded_input, vertical, horizontal, inners = ctx.saved_tensors
        need_x, need_v, need_h = ctx.needs_input_grad
        k, h, w = vertical.shape[1], vertical.shape[2], vertical.shape[3]
        grad = grad.contiguous()
        d_input = torch.zeros_like(padded_input) if need_x else None
        d_vertical = torch.empty_like(vertical) if need_v else None
        d_horizontal = torch.zeros_like(horizontal) if need_h else None
        for i in range(k):
            if need_v:
                torch.sum(grad * inners[i], dim=1, out=d_vertical[:, i])
            if not (need_x or need_h):
                continue
            weighted = grad * vertical[:, i:i + 1]                      # G · V_i, [B, C, h, w]
            rows = padded_input[:, :, i:i + h]
            d_rows = d_input[:, :, i:i + h] if need_x else None
            for j in range(k):
                if need_h:
                    d_horizontal[:, j] += (weighted * rows[..., j:j + w]).sum(1)
                if need_x:
                    d_rows[..., j:j + w].addcmul_(weighted, horizontal[:, j:j + 1])
        return d_input, d_vertical, d_horizontal


def separable_conv_cpu(padded_input, vertical, horizontal):
    """Per-pixel separable convolution with the hand-written backward (same contract as the reference)."""
    return SeparableConvCPU.apply(padded_input, vertical, horizontal)
