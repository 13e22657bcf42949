"""A linear layer applied at many steps of one graph whose weight gradient is one matrix product.

A recurrent loop that applies the same large `nn.Linear` at every step makes autograd build
one full-size weight gradient per application and sum them (the joint MCInput layer: 33.5 M
weights, 134 MB per gradient, 18 applications per video step). Inside `deferred_weight_grad`
each application saves its input and, in the backward, its output gradient; one node
after all of them (it sits between the weight and every application) returns
`Σ_k g_kᵀ x_k` as a single product `Gᵀ X`. Same maths, a different summation order.
"""
import contextlib

import torch
import torch.nn.functional as F


class _Collector:
    """The (input, output gradient) pairs of one backward traversal."""

    def __init__(self):
        self.inputs, self.grads = [], []


class _WeightGate(torch.autograd.Function):
    """Identity on the weight; its backward returns the weight gradient collected from the applications."""

    @staticmethod
    def forward(ctx, weight, collector):
        ctx.collector = collector
        ctx.set_materialize_grads(False)
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx, grad):
        c = ctx.collector
        total = grad
        if c.grads:
            g, x = torch.cat(c.grads), torch.cat(c.inputs)
            product = g.t().mm(x)
            total = product if total is None else total + product
        c.inputs.clear()
        c.grads.clear()
        return total, None


class _DeferredLinear(torch.autograd.Function):
    """`F.linear(x, gated_weight, bias)`; its backward hands `(x, g)` to the gate instead of `gᵀx`."""

    @staticmethod
    def forward(ctx, x, gated_weight, bias, collector):
        ctx.save_for_backward(x, gated_weight)
        ctx.collector, ctx.gate_node = collector, gated_weight.grad_fn
        return F.linear(x, gated_weight, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad.mm(weight) if need_x else None
        grad_b = grad.sum(0) if need_b else None
        if need_w and torch._C._will_engine_execute_node(ctx.gate_node):
            ctx.collector.inputs.append(x)
            ctx.collector.grads.append(grad)
        return grad_x, None, grad_b, None


class DeferredWeightLinear:
    """Applies `linear` (an `nn.Linear`) with the deferred weight gradient; see the module docstring."""

    def __init__(self, linear):
        self.linear = linear
        self.collector = _Collector()
        self.gated = _WeightGate.apply(linear.weight, self.collector) if linear.weight.requires_grad else None

    def __call__(self, x):
        if self.gated is None or not torch.is_grad_enabled() or x.dim() != 2:
            return self.linear(x)
        return _DeferredLinear.apply(x, self.gated, self.linear.bias, self.collector)
