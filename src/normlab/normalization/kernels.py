r"""The normalization kernels: autograd Functions with hand-derived backward passes.

:class:`~normlab.normalization.BatchNormFunction` for statistics that mix the samples of a
batch; :class:`~normlab.normalization.GroupNormFunction` for statistics inside one sample
(group norm, and instance norm with one channel per group);
:class:`~normlab.normalization.LayerNormFunction` for the rows of a 2-D view, with a
per-element affine map. The gradient is the same projection in all three; only the sets
of elements it averages over differ (Ioffe & Szegedy 2015, section 3).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from normlab.normalization._ops import (
    as_compute,
    backward_elemt,
    backward_reduce,
    cast_to,
    centered_moments,
    inplace_ok,
    per_channel,
    reduce_dims,
)

__all__ = ["BatchNormFunction", "GroupNormFunction", "LayerNormFunction"]


class _Function(torch.autograd.Function):
    """The base of the hand-derived ``torch.autograd.Function`` classes below.

    ``XFunction.apply(...)`` is PyTorch's own ``apply``, which works everywhere (eager,
    ``torch.func`` transforms, ``torch.compile``). The functionals of this module call
    :func:`fast_apply` instead, which skips one step of it in plain eager mode. Under
    ``torch.compile`` a call of one of them is a graph break (run eagerly, the model
    compiled around it): Dynamo does not trace autograd Functions with a custom ``jvp``,
    and the ``jvp`` is what makes forward-mode AD work.
    """


class BatchNormFunction(_Function):
    r"""Training-mode batch normalization with the hand-derived backward pass.

    ``output, mean, var = BatchNormFunction.apply(input, weight, bias, eps)`` normalizes
    ``input`` of shape ``(N, C, *)`` with its own per-channel statistics and returns them
    too (``mean`` and the biased ``var``, not differentiable) for the running estimates.
    The backward pass is :func:`batch_norm_backward_reduce` followed by
    :func:`batch_norm_backward_elemt`, with
    :math:`\partial L/\partial\gamma = \Sigma_{dy(x-\mu)}\,\mathrm{invstd}` and
    :math:`\partial L/\partial\beta = \Sigma_{dy}`. Like PyTorch, it saves the input and
    the per-channel statistics, not the normalized output.

    The Function has PyTorch's modern form, and each piece buys a transform:

    * ``forward`` without ``ctx`` plus ``setup_context``: ``torch.func`` (``grad``,
      ``jacrev``, ``functional_call`` over a model) can trace it;
    * ``generate_vmap_rule = True``: ``vmap`` runs forward, backward and ``jvp`` per batch
      element, which is what batched gradients (``is_grads_batched``,
      ``jacobian(vectorize=True)``, ``gradcheck(check_batched_grad=True)``) and per-sample
      gradients need; the in-place passes are skipped under a transform (``inplace_ok``);
    * ``jvp``: forward-mode AD (``torch.autograd.forward_ad``, ``torch.func.jvp``), the
      tangent :math:`\dot y = \gamma\,\mathrm{invstd}\,(\dot x - \overline{\dot x} - \hat x\,
      \overline{\hat x \dot x}) + \hat x\,\dot\gamma + \dot\beta` (bars: channel means).

    Double backward (``create_graph=True``, e.g. a gradient penalty) is supported: the
    backward formula is written in differentiable operations, and in that mode recomputes
    the statistics from the saved input so that their dependence on it is part of the graph.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        input: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Normalize with the batch's per-channel statistics; return them too."""
        x = as_compute(input)
        mean, var, centered = centered_moments(x)
        invstd = torch.rsqrt(var + eps)
        scale = per_channel(invstd if weight is None else weight * invstd, x)
        if inplace_ok(input, weight, bias):  # no graph: the centered copy is changed in place
            output = centered.mul_(scale)
            if bias is not None:
                output.add_(per_channel(bias, x))
        elif bias is None:
            output = centered * scale
        else:
            output = torch.addcmul(per_channel(bias, x), centered, scale)
        return output.to(input.dtype), mean, var

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        input, weight, bias, eps = inputs
        _, mean, var = output
        invstd = torch.rsqrt(var + eps)
        ctx.save_for_backward(input, weight, mean, invstd)
        ctx.save_for_forward(input, weight, mean, invstd)
        ctx.eps = eps
        ctx.has_bias = bias is not None
        ctx.mark_non_differentiable(mean, var)
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(
        ctx: Any, grad_output: Tensor | None, _grad_mean: Any, _grad_var: Any
    ) -> tuple[Tensor | None, ...]:
        """Gradients of the input, weight and bias from the two per-channel sums."""
        if grad_output is None:
            return None, None, None, None
        input, weight, mean, invstd = ctx.saved_tensors
        x, dy = as_compute(input), as_compute(grad_output)
        if torch.is_grad_enabled():
            # create_graph=True: the saved statistics were computed without a graph, so
            # recompute them from the (graph-connected) input for a correct double backward
            mean, var, centered = centered_moments(x)
            invstd = torch.rsqrt(var + ctx.eps)
        else:
            centered = x - per_channel(mean, x)
        sum_dy, sum_dy_xmu = backward_reduce(dy, centered)
        grad_input = grad_weight = grad_bias = None
        if weight is not None and ctx.needs_input_grad[1]:
            grad_weight = (sum_dy_xmu * invstd).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = sum_dy.to(weight.dtype if weight is not None else input.dtype)
        if ctx.needs_input_grad[0]:
            count = input.numel() // input.shape[1]
            w = None if weight is None else as_compute(weight)
            grad_input = backward_elemt(dy, centered, invstd, w, sum_dy, sum_dy_xmu, count).to(
                input.dtype
            )
        return grad_input, grad_weight, grad_bias, None

    @staticmethod
    def jvp(
        ctx: Any, x_t: Tensor | None, w_t: Tensor | None, b_t: Tensor | None, _eps_t: Any
    ) -> tuple[Tensor | None, None, None]:
        """Forward-mode tangent of the output (the statistics are not differentiable)."""
        input, weight, mean, invstd = ctx.saved_tensors
        x = as_compute(input)
        xhat = (x - per_channel(mean, x)) * per_channel(invstd, x)
        dims = reduce_dims(x)
        out_t = torch.zeros_like(xhat)
        if x_t is not None:
            t = as_compute(x_t)
            proj = t - per_channel(t.mean(dims), x) - xhat * per_channel((xhat * t).mean(dims), x)
            gain = invstd if weight is None else as_compute(weight) * invstd
            out_t = out_t + proj * per_channel(gain, x)
        if w_t is not None:
            out_t = out_t + xhat * per_channel(as_compute(w_t), x)
        if b_t is not None:
            out_t = out_t + per_channel(as_compute(b_t), x)
        return out_t.to(input.dtype), None, None


# --------------------------------------------- normalization within each sample, by groups
#
# Layer, instance and group norm never mix samples: their statistics are those of a group
# of elements of one sample. Two kernels serve all three: GroupNormFunction on the view
# (N, G, C/G, L) of the input, with the C channels split into G groups of C/G consecutive
# channels (group and instance norm), and LayerNormFunction on the view (rows, features),
# whose affine map is per element rather than per channel.
#
# Both return the statistics they normalized with, the mean and invstd = 1/sqrt(var + eps)
# (as torch.native_layer_norm and torch.native_group_norm do): the modern Function form
# hands setup_context only inputs and outputs, and the backward pass reuses them instead of
# recomputing them. At the sizes of this book's models a layer's time is mostly the fixed
# cost of each PyTorch operation (a few microseconds of dispatch), so the fast paths below
# count operations as carefully as passes over memory.


# _SLOPE_OFFSET. The input gradient of a normalization is slope·(x − μ) + shift + gain·dy
# with slope, shift per group. The fast paths write it as slope·x + (shift − slope·μ), one
# pass over the buffer fewer, as PyTorch's own CPU kernels do. When |μ| ≫ σ the two terms
# are large and cancel, but only down to the rounding of x itself: float32 stores x with
# an absolute error of 2⁻²⁴·|μ|, and slope·x is off by the same relative amount, so the
# result is as accurate as the input allows (tests/test_normalization.py checks it at
# μ = 1000, σ = 1). The sums stay centered, Σ dy·(x − μ): there the cancellation would
# not be bounded by the input's rounding.


def _invstd(centered: Tensor, dims: int | tuple[int, ...], count: int, eps: float) -> Tensor:
    r""":math:`1/\sqrt{\sum (x - \mu)^2 / m + \epsilon}` over ``dims`` (kept), from the
    2-norm of the centered values: the norm kernel reads the tensor once without a squared
    temporary (about twice as fast as ``(c * c).mean(dims)`` on a CPU), and the rest are
    in-place operations on the small result, which is new. The two passes (mean, then the
    spread around it) keep float32 accurate when :math:`|\mu| \gg \sigma`, where
    :math:`\mathrm{E}[x^2] - \mathrm{E}[x]^2` would cancel. Not for a recorded graph."""
    norm = torch.linalg.vector_norm(centered, 2, dims, keepdim=True)
    # mul_(norm), not square_(): vmap has a batching rule for the one, not the other
    return norm.mul_(norm).mul_(1 / max(count, 1)).add_(eps).rsqrt_()


class GroupNormFunction(_Function):
    r"""Normalization per (sample, group of channels), with a hand-derived backward pass.

    ``output, mean, invstd = GroupNormFunction.apply(input, num_groups, weight, bias, eps)``
    for ``input`` of shape ``(N, C, *)`` (viewed inside as ``(N, G, C/G, L)``, so that
    autograd records no view nodes around it): the channels of each sample are split into
    ``num_groups`` groups of consecutive channels, each group is normalized over its
    :math:`m = C/G \cdot L` values, and an optional per-channel affine map follows. It is
    group norm; instance norm is ``num_groups = C``. ``mean`` and ``invstd``
    :math:`= 1/\sqrt{\sigma^2 + \epsilon}` (biased variance) have shape ``(N, G)`` and are
    not differentiable, like the statistics of ``torch.native_group_norm``.

    Forward, with :math:`s_{nc} = \gamma_c\,\mathrm{invstd}_{ng}`: :math:`y = (x -
    \mu_{ng})\,s_{nc} + \beta_c`, in place on the centered copy. Backward: the gradient
    of a normalization is the same projection as batch norm's
    (:func:`batch_norm_backward_elemt`), taken over each group instead of each channel;
    because :math:`\gamma` varies *within* a group, the per-group sums are weighted,
    :math:`\Sigma_{g\,dy} = \sum_{c \in g} \gamma_c \sum_l dy_{ncl}` and likewise for
    :math:`dy\,(x - \mu)`, which needs only the per-(sample, channel) sums of the two
    tensors. Same modern Function form (``setup_context``, vmap rule, ``jvp``) and double
    backward as :class:`BatchNormFunction`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        input: Tensor,
        num_groups: int,
        weight: Tensor | None,
        bias: Tensor | None,
        eps: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Normalize each (sample, group) and apply the per-channel affine map."""
        x = as_compute(input)
        n, c = x.shape[0], x.shape[1]
        # explicit sizes: -1 is ambiguous for an empty batch
        shape = (n, num_groups, c // num_groups, math.prod(x.shape[2:]))  # (N, G, C/G, L)
        grouped = x.reshape(shape)
        mean = grouped.mean((2, 3), keepdim=True)  # (N, G, 1, 1)
        centered = grouped - mean
        invstd = _invstd(centered, (2, 3), shape[2] * shape[3], eps)
        scale = invstd if weight is None else invstd * weight.view(1, num_groups, -1, 1)
        if inplace_ok(input, weight, bias):  # no graph: the centered copy becomes the output
            out = centered.mul_(scale)
            if bias is not None:
                out = out.add_(bias.view(1, num_groups, -1, 1))
        elif bias is None:
            out = centered * scale
        else:
            out = torch.addcmul(bias.view(1, num_groups, -1, 1), centered, scale)
        return (
            cast_to(out.view(input.shape), input.dtype),
            mean.view(n, num_groups),
            invstd.view(n, num_groups),
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        input, num_groups, weight, bias, eps = inputs
        _, mean, invstd = output
        ctx.mark_non_differentiable(mean, invstd)
        ctx.save_for_backward(input, weight, mean, invstd)
        ctx.save_for_forward(input, weight, mean, invstd)
        ctx.num_groups, ctx.eps, ctx.has_bias = num_groups, eps, bias is not None
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(
        ctx: Any, grad_output: Tensor | None, _grad_mean: Any, _grad_invstd: Any
    ) -> tuple[Tensor | None, ...]:
        """Gradients of the input, weight and bias from per-(sample, channel) sums."""
        if grad_output is None:
            return None, None, None, None, None
        input, weight, mean, invstd = ctx.saved_tensors  # statistics: (N, G)
        x, groups = as_compute(input), ctx.num_groups
        n, c = x.shape[0], x.shape[1]
        shape = (n, groups, c // groups, math.prod(x.shape[2:]))  # (N, G, C/G, L)
        x, dy = x.reshape(shape), as_compute(grad_output).reshape(shape)
        count = shape[2] * shape[3]
        if torch.is_grad_enabled():  # create_graph=True: statistics as functions of input
            mean = x.mean((2, 3), keepdim=True)
            invstd = torch.rsqrt((x - mean).square().mean((2, 3), keepdim=True) + ctx.eps)
        else:  # the forward pass's statistics, viewed as (N, G, 1, 1)
            mean, invstd = mean.view(n, groups, 1, 1), invstd.view(n, groups, 1, 1)
        inplace = not torch.is_grad_enabled() and inplace_ok(dy, weight)
        centered = x - mean
        # per (sample, channel) sums over the positions: the only reductions of the tensors
        sum_dy = dy.sum(3, keepdim=True)  # (N, G, C/G, 1)
        if inplace:  # one large buffer: dy·(x − μ) now, the input gradient below
            sum_dy_xmu = centered.mul_(dy).sum(3, keepdim=True)
        else:
            sum_dy_xmu = (dy * centered).sum(3, keepdim=True)
        grad_input = grad_weight = grad_bias = None
        if weight is not None and ctx.needs_input_grad[2]:
            grad_weight = cast_to((sum_dy_xmu * invstd).sum(0).view(c), weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[3]:
            dtype = weight.dtype if weight is not None else input.dtype
            grad_bias = cast_to(sum_dy.sum(0).view(c), dtype)
        if ctx.needs_input_grad[0]:
            # dL/dx = gain·dy + slope·(x − μ) + shift, batch norm's projection per group
            gain = invstd
            if weight is not None:  # gamma varies inside a group: weight the sums by it
                w = as_compute(weight).view(1, groups, -1, 1)
                sum_dy, sum_dy_xmu, gain = sum_dy * w, sum_dy_xmu * w, invstd * w
            shift = sum_dy.sum(2, keepdim=True) * (invstd / -count)
            slope = sum_dy_xmu.sum(2, keepdim=True) * (invstd.pow(3) / -count)
            if inplace:  # into the buffer, as slope·x + offset (see _SLOPE_OFFSET)
                offset = torch.addcmul(shift, mean, slope, value=-1)
                grad_input = torch.mul(x, slope, out=centered)
                grad_input = grad_input.add_(offset).addcmul_(dy, gain)
            else:  # out of place: a recorded graph, or vmap (no batching rule for addcmul_)
                grad_input = torch.addcmul(torch.addcmul(shift, centered, slope), dy, gain)
            grad_input = cast_to(grad_input.view(input.shape), input.dtype)
        return grad_input, None, grad_weight, grad_bias, None

    @staticmethod
    def jvp(
        ctx: Any,
        x_t: Tensor | None,
        _groups_t: Any,
        w_t: Tensor | None,
        b_t: Tensor | None,
        _eps_t: Any,
    ) -> tuple[Tensor | None, None, None]:
        """Forward-mode tangent of the output: the projection of ``x_t`` per group."""
        input, weight, mean, invstd = ctx.saved_tensors
        x, groups = as_compute(input), ctx.num_groups
        n, c = x.shape[:2]
        shape = (n, groups, c // groups, math.prod(x.shape[2:]))
        mean, invstd = mean.view(n, groups, 1, 1), invstd.view(n, groups, 1, 1)
        xhat = (x.reshape(shape) - mean) * invstd
        out_t = torch.zeros_like(xhat)
        if x_t is not None:
            t = as_compute(x_t).reshape(shape)
            proj = t - t.mean((2, 3), keepdim=True) - xhat * (xhat * t).mean((2, 3), keepdim=True)
            gain = invstd if weight is None else as_compute(weight).view(1, groups, -1, 1) * invstd
            out_t = out_t + proj * gain
        if w_t is not None:
            out_t = out_t + xhat * as_compute(w_t).view(1, groups, -1, 1)
        if b_t is not None:
            out_t = out_t + as_compute(b_t).view(1, groups, -1, 1)
        return out_t.reshape(x.shape).to(input.dtype), None, None


def _rows(t: Tensor) -> Tensor:
    """``(*, D)`` as ``(R, D)``, with explicit sizes (-1 is ambiguous for no rows)."""
    return t if t.ndim == 2 else t.reshape(t.numel() // t.shape[-1], t.shape[-1])


class LayerNormFunction(_Function):
    r"""Layer normalization of the rows of a 2-D input, with its per-element affine map.

    ``output, mean, invstd = LayerNormFunction.apply(input, weight, bias, eps)`` for
    ``input`` of shape ``(*, D)``, viewed inside as ``(R, D)`` (so that autograd records no
    view nodes around it): each row is normalized over its :math:`D` values,
    :math:`\hat x = (x - \mu)\,\mathrm{invstd}`, then :math:`y = \hat x \odot \gamma + \beta`
    with ``weight`` and ``bias`` of shape ``(D,)`` (or ``None``). ``mean`` and ``invstd``
    :math:`= 1/\sqrt{\sigma^2 + \epsilon}`, of shape ``(R, 1)``, are returned (not
    differentiable, like the statistics of ``torch.native_layer_norm``) because the
    backward pass reuses them and the modern Function form hands ``setup_context`` only
    the inputs and outputs. The affine map lives inside the Function so that the whole
    layer is one node with one hand-derived backward pass:

    .. math:: \frac{\partial L}{\partial x} = \mathrm{invstd}\,\big(g - \bar g
              - \hat x\,\overline{g \hat x}\big), \quad g = \gamma \odot dy, \qquad
              \frac{\partial L}{\partial \gamma} = \sum_r dy \odot \hat x, \quad
              \frac{\partial L}{\partial \beta} = \sum_r dy ,

    bars being row means. The sums weighted by :math:`\gamma` or by invstd are
    matrix-vector products. Same modern Function form and double backward as
    :class:`BatchNormFunction`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        input: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Normalize each row, then scale and shift each element."""
        x = _rows(as_compute(input))
        mean = x.mean(1, keepdim=True)
        centered = x - mean
        invstd = _invstd(centered, 1, x.shape[1], eps)
        if inplace_ok(input, weight, bias):  # no graph: the centered copy becomes the output
            out = centered.mul_(invstd)
            if weight is not None and bias is not None:  # β + x̂·γ in one pass
                out = torch.addcmul(bias, out, weight, out=out)
            elif weight is not None:
                out = out.mul_(weight)
            elif bias is not None:
                out = out.add_(bias)
        else:
            out = centered * invstd
            if weight is not None:
                out = out * weight if bias is None else torch.addcmul(bias, out, weight)
            elif bias is not None:
                out = out + bias
        if out.shape != input.shape:
            out = out.view(input.shape)
        return cast_to(out, input.dtype), mean, invstd

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        input, weight, bias, eps = inputs
        _, mean, invstd = output
        ctx.mark_non_differentiable(mean, invstd)
        ctx.save_for_backward(input, weight, mean, invstd)
        ctx.save_for_forward(input, weight, mean, invstd)
        ctx.eps, ctx.has_bias = eps, bias is not None
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(
        ctx: Any, grad_output: Tensor | None, _grad_mean: Any, _grad_invstd: Any
    ) -> tuple[Tensor | None, ...]:
        """Gradients of the input, weight and bias from row sums and column sums."""
        if grad_output is None:
            return None, None, None, None
        input, weight, mean, invstd = ctx.saved_tensors  # statistics: (R, 1)
        x, dy = _rows(as_compute(input)), _rows(as_compute(grad_output))
        w = None if weight is None else as_compute(weight)
        if torch.is_grad_enabled() or not inplace_ok(dy, weight):
            grads = _layer_norm_backward_differentiable(ctx, x, dy, w)
        else:
            grads = _layer_norm_backward_inplace(ctx, x, dy, w, mean, invstd)
        grad_input, grad_weight, grad_bias = grads
        if grad_input is not None:
            if grad_input.shape != input.shape:
                grad_input = grad_input.view(input.shape)
            grad_input = cast_to(grad_input, input.dtype)
        if grad_weight is not None:
            grad_weight = cast_to(grad_weight, weight.dtype)
        if grad_bias is not None:
            grad_bias = cast_to(grad_bias, input.dtype if weight is None else weight.dtype)
        return grad_input, grad_weight, grad_bias, None

    @staticmethod
    def jvp(
        ctx: Any, x_t: Tensor | None, w_t: Tensor | None, b_t: Tensor | None, _eps_t: Any
    ) -> tuple[Tensor | None, None, None]:
        """Forward-mode tangent of the output: the projection of ``x_t`` per row."""
        input, weight, mean, invstd = ctx.saved_tensors
        xhat = (_rows(as_compute(input)) - mean) * invstd
        out_t = torch.zeros_like(xhat)
        if x_t is not None:
            t = _rows(as_compute(x_t))
            proj = t - t.mean(1, keepdim=True) - xhat * (xhat * t).mean(1, keepdim=True)
            proj = proj * invstd
            out_t = out_t + (proj if weight is None else proj * as_compute(weight))
        if w_t is not None:
            out_t = out_t + xhat * as_compute(w_t)
        if b_t is not None:
            out_t = out_t + as_compute(b_t)
        return out_t.view(input.shape).to(input.dtype), None, None


def _layer_norm_backward_differentiable(
    ctx: Any, x: Tensor, dy: Tensor, w: Tensor | None
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """The backward formula out of place, with the statistics recomputed from ``x`` so
    that a recorded graph (double backward) sees their dependence on it."""
    centered = x - x.mean(1, keepdim=True)
    invstd = torch.rsqrt(centered.square().mean(1, keepdim=True) + ctx.eps)
    xhat = centered * invstd
    dy_xhat = dy * xhat
    grad_weight = dy_xhat.sum(0) if w is not None and ctx.needs_input_grad[1] else None
    grad_bias = dy.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
    grad_input = None
    if ctx.needs_input_grad[0]:
        g = dy if w is None else dy * w
        mean_g, mean_g_xhat = g.mean(1, keepdim=True), (g * xhat).mean(1, keepdim=True)
        grad_input = (g - mean_g - xhat * mean_g_xhat) * invstd
    return grad_input, grad_weight, grad_bias


def _layer_norm_backward_inplace(
    ctx: Any, x: Tensor, dy: Tensor, w: Tensor | None, mean: Tensor, invstd: Tensor
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """The same formula with the forward pass's statistics and one large buffer:
    ``dy·(x − μ)`` for the sums, then, rewritten in place, the input gradient."""
    d = x.shape[1]
    grad_bias = dy.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
    # one large buffer: a fresh one costs more than a pass over it once the tensor no
    # longer fits the allocator's cache (every new page is faulted in)
    buf = torch.sub(x, mean).mul_(dy)  # dy·(x − μ) = dy·x̂/invstd, row by row
    grad_weight = None
    if w is not None and ctx.needs_input_grad[1]:  # Σ_r dy·x̂ = (dy·(x − μ))ᵀ invstd
        grad_weight = torch.mv(buf.t(), invstd.squeeze(1))
    grad_input = None
    if ctx.needs_input_grad[0]:
        # −ḡ and −mean(g·(x − μ)) per row; weighted by gamma they are products with the
        # column −γ/D
        if w is None:
            neg_mean_g = dy.sum(1, keepdim=True).mul_(-1 / d)
            neg_mean_g_xmu = buf.sum(1, keepdim=True).mul_(-1 / d)
        else:
            column = w.view(d, 1) * (-1 / d)
            neg_mean_g, neg_mean_g_xmu = torch.mm(dy, column), torch.mm(buf, column)
        # invstd·(g − ḡ − (x − μ)·invstd²·mean(g·(x − μ))), in the buffer, as
        # invstd·(g + slope·x + offset): see _SLOPE_OFFSET
        slope = neg_mean_g_xmu.mul_(invstd).mul_(invstd)
        offset = torch.addcmul(neg_mean_g, mean, slope, value=-1)
        grad_input = torch.mul(x, slope, out=buf).add_(offset)
        grad_input = grad_input.add_(dy) if w is None else grad_input.addcmul_(dy, w)
        grad_input = grad_input.mul_(invstd)
    return grad_input, grad_weight, grad_bias


# --------------------------------------------------------------------- argument checks
