r"""Normalization layers built from their formula: batch, layer, instance and group norm.

Every layer of the family computes the same thing,

.. math::

    y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}}\,\gamma + \beta ,

with the *biased* variance, and the members differ only in **the axes over which**
:math:`\mathrm{E}` and :math:`\mathrm{Var}` are taken, for an input of shape
``(N, C, *spatial)``:

====================  ==========================================  ======================
layer                 statistics shared by                        affine :math:`\gamma, \beta`
====================  ==========================================  ======================
batch norm            one channel, over the batch and space       per channel
layer norm            one sample, over its trailing dimensions    per element
instance norm         one channel of one sample, over space       per channel
group norm            one group of channels of one sample         per channel
====================  ==========================================  ======================

:func:`normalize` states that idea in three lines and is the reference the tests compare
against. The layers run on two kernels whose backward passes are derived by hand
(Ioffe & Szegedy 2015, section 3) instead of being left to autograd:
:class:`BatchNormFunction` for statistics that mix the samples of a batch, and
:class:`GroupNormFunction` for statistics inside one sample, which serves group norm,
instance norm (one channel per group) and layer norm (the whole sample as one group).
The gradient is the same projection in both; only the sets of elements it averages over
differ.

The modules mirror ``torch.nn`` exactly: constructor arguments and defaults, parameter and
buffer names, dtypes and ``state_dict`` keys, train/eval behaviour, the momentum convention
and the running statistics, so a state dict loads across in both directions.

The kernels are ``torch.autograd.Function`` subclasses in PyTorch's modern form, so every
layer and functional works under ``torch.func`` (``vmap``, ``grad``, ``jvp``, ``jacrev``,
``functional_call``), forward-mode AD, batched gradients and double backward. As with
``torch.nn.BatchNorm*``, a training-mode batch norm that tracks running statistics raises
under ``vmap`` (one buffer cannot take a batch of updates; use ``track_running_stats=False``
or eval mode, or ``torch.func.replace_all_batch_norm_modules_``), while under ``grad`` and
``jacrev`` its buffers are updated with the plain batch statistics.

Deviations from PyTorch, on purpose: ``eps`` must be finite and > 0 everywhere (PyTorch
accepts ``eps <= 0`` outside batch-norm training, which turns a constant slice into
0/0 = NaN) and ``momentum`` must lie in [0, 1] (outside it the running average
extrapolates), both rejected with a ``ValueError``; a non-empty 1-D input to
:func:`batch_norm` gets a ``ValueError`` naming its shape where PyTorch raises an
``IndexError``; instance norm of an empty batch returns an empty output (PyTorch raises
an ``IndexError``).

References: Ioffe & Szegedy 2015 (batch norm), Ba, Kiros & Hinton 2016 (layer norm),
Ulyanov, Vedaldi & Lempitsky 2016 (instance norm), Wu & He 2018 (group norm).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from normlab._validation import (
    check_floating,
    check_fraction,
    check_int,
    check_positive_float,
    check_positive_int,
    check_tensor,
)

__all__ = [
    # the one idea
    "normalize",
    # batch normalization's hand-derived forward and backward, in reusable pieces
    "batch_norm_stats",
    "batch_norm_elemt",
    "batch_norm_backward_reduce",
    "batch_norm_backward_elemt",
    "update_running_stats",
    "BatchNormFunction",
    "GroupNormFunction",
    "LayerNormFunction",
    # functional forms, with torch.nn.functional's signatures
    "batch_norm",
    "instance_norm",
    "layer_norm",
    "group_norm",
    # modules, with torch.nn's signatures
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "GroupNorm",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------- the one idea


def normalize(input: Tensor, dims: int | Sequence[int], eps: float = 1e-5) -> Tensor:
    r"""Standardize ``input`` over the axes ``dims``: subtract the mean, divide by the std.

    .. math:: \hat x = \frac{x - \mathrm{E}_{dims}[x]}{\sqrt{\mathrm{Var}_{dims}[x] + \epsilon}}

    with the biased variance (divide by the number of elements, not by one less). Every
    normalization layer is this function followed by an affine map
    :math:`\gamma \hat x + \beta`; only ``dims`` changes: batch norm uses ``(0, 2, 3)`` for an
    image batch ``(N, C, H, W)``, layer norm ``(1, 2, 3)``, instance norm ``(2, 3)``, and group
    norm ``(2,)`` of the view ``(N, G, C/G·H·W)``. Differentiated by autograd; the layers use
    a faster kernel with a hand-derived backward and are tested against this function.

    Args:
        input: a floating-point tensor of any shape.
        dims: the axis or axes whose elements share one mean and one variance.
        eps: added to the variance, > 0.

    Returns:
        A tensor of ``input``'s shape whose slices over ``dims`` have mean 0 and biased
        variance ``var / (var + eps)`` (about 1).

    Raises:
        TypeError: ``input`` is not a floating-point tensor.
        ValueError: ``dims`` is empty, repeats an axis or is out of range; ``eps <= 0``.
    """
    check_floating(input, "input")
    axes = _check_dims(dims, input.ndim)
    eps = check_positive_float(eps, "eps")
    var, mean = torch.var_mean(input, axes, correction=0, keepdim=True)
    return (input - mean) * torch.rsqrt(var + eps)


def _check_dims(dims: object, ndim: int) -> tuple[int, ...]:
    if isinstance(dims, numbers.Integral) and not isinstance(dims, bool):
        dims = (dims,)
    if not isinstance(dims, Sequence) or len(dims) == 0:
        raise ValueError(f"dims must be an int or a non-empty sequence of ints, got {dims!r}")
    axes = []
    for d in dims:
        d = check_int(d, "dims[i]")
        if not -ndim <= d < ndim:
            raise ValueError(f"dims contains {d}, out of range for a {ndim}-D input")
        axes.append(d % ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"dims must not repeat an axis, got {tuple(dims)}")
    return tuple(axes)


# ------------------------------------------------- batch normalization, piece by piece
#
# The pieces below take an input of shape (N, C, *) and work per channel C, over the batch
# and every spatial position. They are the four steps of batch normalization's forward and
# backward passes, kept separate so that a synchronized variant can exchange the
# per-channel statistics and sums between processes between the steps.


def _reduce_dims(x: Tensor) -> list[int]:
    """Every axis but the channel axis 1."""
    return [0, *range(2, x.ndim)]


def _per_channel(t: Tensor, x: Tensor) -> Tensor:
    """View a (C,) tensor so that it broadcasts along axis 1 of ``x``."""
    return t.view(1, -1, *([1] * (x.ndim - 2)))


def _as_compute(t: Tensor) -> Tensor:
    """Half-precision tensors are computed in float32 (as PyTorch's CPU kernels do)."""
    return t.float() if t.dtype in _LOW_PRECISION else t


def _centered_moments(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-channel mean, biased variance, and the centered input ``x - mean`` (a new tensor).

    Two passes (the mean, then the mean square of the centered values) are as accurate as
    Welford's update and, in PyTorch, several times faster than ``torch.var_mean``.
    """
    dims = _reduce_dims(x)
    mean = x.mean(dims)
    centered = x - _per_channel(mean, x)
    var = (centered * centered).mean(dims)
    return mean, var, centered


def _check_pieces(
    fn: str, input: Tensor, per_channel: dict[str, Tensor | None], **full: Tensor
) -> None:
    """The checks every piece shares: ``input`` ``(N, C, *)`` floating point, the
    per-channel tensors of shape ``(C,)``, the full ones of ``input``'s shape, one device."""
    check_floating(input, "input")
    if input.ndim < 2:
        raise ValueError(
            f"{fn} expects an input of shape (N, C, *) with at least 2 dimensions, got a "
            f"{input.ndim}-D tensor of shape {tuple(input.shape)}"
        )
    channels = input.shape[1]
    for name, t in per_channel.items():
        if t is None:
            continue
        check_floating(t, name)
        if tuple(t.shape) != (channels,):
            raise ValueError(
                f"{fn}: {name} must have shape ({channels},), one value per channel of the "
                f"input of shape {tuple(input.shape)}, got {tuple(t.shape)}"
            )
    for name, t in full.items():
        check_floating(t, name)
        if t.shape != input.shape:
            raise ValueError(
                f"{fn}: {name} must have the input's shape {tuple(input.shape)}, got "
                f"{tuple(t.shape)}"
            )
    _check_device(input, **per_channel, **full)


def _check_count(count: object, name: str, minimum: int) -> None:
    if isinstance(count, Tensor):
        if count.numel() != 1:
            raise ValueError(
                f"{name} must be a number or a one-element tensor, got shape {tuple(count.shape)}"
            )
        value: object = count.item()
    else:
        value = count
    # cast: the numbers.Real stub declares no comparison with an int, which every Real has
    # (not float(value): exact for a Fraction, no OverflowError for a huge int)
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not cast(float, value) >= minimum
    ):
        raise ValueError(
            f"{name} must be a number of values per channel >= {minimum}, got {count!r}"
        )


def batch_norm_stats(input: Tensor) -> tuple[Tensor, Tensor]:
    r"""Per-channel mean and **biased** variance of a batch, over every axis but axis 1.

    .. math:: \mu_c = \tfrac1m \sum_{i} x_{ic}, \qquad
              \sigma_c^2 = \tfrac1m \sum_i (x_{ic} - \mu_c)^2

    where :math:`i` runs over the :math:`m = N \cdot \prod \text{spatial}` positions of channel
    :math:`c` (Ioffe & Szegedy 2015, Algorithm 1; section 3.2 for convolutions).

    Args:
        input: ``(N, C, *)`` floating-point tensor.

    Returns:
        ``(mean, var)``, each of shape ``(C,)``; float32 for half-precision input.

    Raises:
        TypeError, ValueError: ``input`` not floating point, or fewer than 2 dimensions, or
            no values per channel (the statistics of nothing are NaN).
    """
    _check_pieces("batch_norm_stats", input, {})
    if input.numel() == 0:
        raise ValueError(
            f"batch_norm_stats: input of shape {tuple(input.shape)} has no values per "
            "channel, so it has no mean or variance"
        )
    mean, var, _ = _centered_moments(_as_compute(input))
    return mean, var


def batch_norm_elemt(
    input: Tensor,
    mean: Tensor,
    invstd: Tensor,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
) -> Tensor:
    r"""Apply per-channel statistics: :math:`y = (x - \mu)\,\mathrm{invstd}\,\gamma + \beta`.

    The whole map is one multiply-add per element, :math:`y = s\,x + t` with per-channel
    :math:`s = \gamma\,\mathrm{invstd}` and :math:`t = \beta - \mu s`, so the large tensor is
    read and written once. Differentiable by autograd in every argument (eval-mode batch
    norm uses it that way, with the running statistics).

    Args:
        input: ``(N, C, *)``.
        mean, invstd: ``(C,)``; ``invstd`` is :math:`1/\sqrt{\sigma^2 + \epsilon}`.
        weight, bias: ``(C,)`` or ``None`` (:math:`\gamma = 1`, :math:`\beta = 0`).

    Returns:
        Tensor of ``input``'s shape and dtype.

    Raises:
        TypeError, ValueError: a non-floating tensor, a per-channel tensor not of shape
            ``(C,)``; RuntimeError: tensors on different devices.
    """
    per_channel = {"mean": mean, "invstd": invstd, "weight": weight, "bias": bias}
    _check_pieces("batch_norm_elemt", input, per_channel)
    return _elemt(input, mean, invstd, weight, bias)


def _elemt(
    input: Tensor, mean: Tensor, invstd: Tensor, weight: Tensor | None, bias: Tensor | None
) -> Tensor:
    scale = invstd if weight is None else weight * invstd
    shift = -mean * scale if bias is None else bias - mean * scale
    out = input * _per_channel(scale, input)
    if _inplace_ok(input, mean, invstd, weight, bias):
        # in place on the product: autograd needs the factors of a product, not the
        # product, and addcmul with a broadcast first operand is slower on a CPU
        out = out.add_(_per_channel(shift, input))
    else:  # under vmap the shift may be batched where the product is not
        out = out + _per_channel(shift, input)
    return out.to(input.dtype)


def batch_norm_backward_reduce(
    grad_output: Tensor, input: Tensor, mean: Tensor
) -> tuple[Tensor, Tensor]:
    r"""The two per-channel sums that batch norm's backward pass needs.

    .. math:: \Sigma_{dy} = \sum_i \frac{\partial L}{\partial y_i}, \qquad
              \Sigma_{dy\,(x-\mu)} = \sum_i \frac{\partial L}{\partial y_i}\,(x_i - \mu)

    They give the parameter gradients directly, :math:`\partial L/\partial\beta =
    \Sigma_{dy}` and :math:`\partial L/\partial\gamma = \Sigma_{dy(x-\mu)} \cdot
    \mathrm{invstd}`, and, with :func:`batch_norm_backward_elemt`, the input gradient.
    :math:`x - \mu` is formed explicitly rather than as :math:`\sum dy\,x - \mu \sum dy`,
    which cancels catastrophically when :math:`|\mu| \gg \sigma`.

    Args:
        grad_output: ``(N, C, *)``, the gradient of the loss with respect to the output.
        input: ``(N, C, *)``, the input of the forward pass.
        mean: ``(C,)``, the batch mean used in the forward pass.

    Returns:
        ``(sum_dy, sum_dy_xmu)``, each of shape ``(C,)``.

    Raises:
        TypeError, ValueError, RuntimeError: as :func:`batch_norm_elemt`; ``grad_output``
            not of ``input``'s shape.
    """
    _check_pieces("batch_norm_backward_reduce", input, {"mean": mean}, grad_output=grad_output)
    return _backward_reduce(grad_output, input - _per_channel(mean, input))


def _backward_reduce(dy: Tensor, centered: Tensor) -> tuple[Tensor, Tensor]:
    dims = _reduce_dims(dy)
    return dy.sum(dims), (dy * centered).sum(dims)


def batch_norm_backward_elemt(
    grad_output: Tensor,
    input: Tensor,
    mean: Tensor,
    invstd: Tensor,
    weight: Tensor | None,
    sum_dy: Tensor,
    sum_dy_xmu: Tensor,
    count: int | Tensor,
) -> Tensor:
    r"""The input gradient of training-mode batch norm, from the per-channel sums.

    With :math:`\hat x = (x - \mu)\,\mathrm{invstd}` and :math:`m` values per channel, the
    chain rule through :math:`\mu` and :math:`\sigma^2` (both functions of every
    :math:`x_i` of the channel) gives

    .. math:: \frac{\partial L}{\partial x_i} = \gamma\,\mathrm{invstd}\Big(
              \frac{\partial L}{\partial y_i} - \frac{\Sigma_{dy}}{m}
              - \hat x_i\, \frac{\Sigma_{dy\,(x-\mu)}\,\mathrm{invstd}}{m}\Big):

    the output gradient with its channel mean removed and its component along
    :math:`\hat x` projected out. (The comment above PyTorch's ATen kernel in
    ``Normalization.cpp`` states the same formula.)

    Args:
        grad_output, input: ``(N, C, *)``.
        mean, invstd: ``(C,)`` from the forward pass.
        weight: ``(C,)`` or ``None`` for :math:`\gamma = 1`.
        sum_dy, sum_dy_xmu: ``(C,)`` from :func:`batch_norm_backward_reduce` (summed over
            every process when the statistics were).
        count: :math:`m`, the number of values per channel behind the statistics.

    Returns:
        :math:`\partial L / \partial x`, of ``input``'s shape.

    Raises:
        TypeError, ValueError, RuntimeError: as :func:`batch_norm_backward_reduce`;
            ``count < 1``.
    """
    per_channel = {
        "mean": mean,
        "invstd": invstd,
        "weight": weight,
        "sum_dy": sum_dy,
        "sum_dy_xmu": sum_dy_xmu,
    }
    _check_pieces("batch_norm_backward_elemt", input, per_channel, grad_output=grad_output)
    _check_count(count, "count", 1)
    centered = input - _per_channel(mean, input)
    return _backward_elemt(grad_output, centered, invstd, weight, sum_dy, sum_dy_xmu, count)


def _inplace_ok(*tensors: Tensor | None) -> bool:
    """Whether arithmetic may overwrite a fresh buffer (saving a pass and a large temporary).

    Not under a ``torch.func`` transform, nor on the batched gradients of autograd's own
    vmap (``is_grads_batched=True``, ``jacobian(vectorize=True)``, gradcheck's batched
    check): under vmap an in-place op fails when its target is batched along fewer
    dimensions than its operands, e.g. an unbatched input's centered copy times a batched
    output gradient.
    """
    if torch._C._are_functorch_transforms_active():
        return False
    legacy = torch._C._functorch.is_legacy_batchedtensor
    return not any(t is not None and legacy(t) for t in tensors)


def _backward_elemt(
    dy: Tensor,
    centered: Tensor,
    invstd: Tensor,
    weight: Tensor | None,
    sum_dy: Tensor,
    sum_dy_xmu: Tensor,
    count: int | Tensor,
) -> Tensor:
    """``gain·(dy − Σdy/m) − centered·gain·invstd²·Σdy(x−μ)/m``; reuses ``centered``'s memory
    unless a graph is being recorded (double backward) or a torch.func transform is active."""
    gain = invstd if weight is None else weight * invstd
    scale = gain / -count  # the per-channel factors in few operations: each costs dispatch
    shift = sum_dy * scale
    # in place only on a product that is batched (under vmap) wherever invstd is
    slope = (sum_dy_xmu * scale).mul_(invstd).mul_(invstd)
    if torch.is_grad_enabled() or not _inplace_ok(dy, weight, sum_dy, sum_dy_xmu):
        # out of place (vmap has no batching rule for addcmul_)
        grad_input = torch.addcmul(_per_channel(shift, dy), centered, _per_channel(slope, dy))
        return torch.addcmul(grad_input, dy, _per_channel(gain, dy))
    # three in-place passes over the one buffer: large temporaries cost more than the
    # arithmetic on a CPU (every fresh page has to be faulted in)
    grad_input = centered.mul_(_per_channel(slope, dy)).add_(_per_channel(shift, dy))
    return grad_input.addcmul_(dy, _per_channel(gain, dy))


def update_running_stats(
    running_mean: Tensor,
    running_var: Tensor,
    mean: Tensor,
    var: Tensor,
    count: int,
    momentum: float,
) -> None:
    r"""Fold one batch's statistics into the running estimates, in place (PyTorch's rule).

    .. math:: \hat\mu \leftarrow (1 - m)\,\hat\mu + m\,\mu_B, \qquad
              \hat\sigma^2 \leftarrow (1 - m)\,\hat\sigma^2 + m\,\tfrac{n}{n-1}\,\sigma_B^2

    ``momentum`` :math:`m` weights the **new** batch (PyTorch's convention; many tutorials
    write ``momentum·old + (1 − momentum)·new``, the same rule with
    :math:`m_{\text{theirs}} = 1 - m`). The running variance is updated with the
    **unbiased** batch variance (Ioffe & Szegedy 2015, Algorithm 2, step 10) although the
    batch itself is normalized with the biased one.

    Args:
        running_mean, running_var: ``(C,)`` buffers, updated in place.
        mean, var: ``(C,)`` batch mean and biased batch variance.
        count: :math:`n`, values per channel in the batch, > 1.
        momentum: :math:`m \in [0, 1]`.

    Raises:
        TypeError, ValueError: tensors not floating point or not all of one shape ``(C,)``;
            ``count <= 1`` (no unbiased variance); ``momentum`` outside [0, 1] (it would
            extrapolate); RuntimeError: tensors on different devices.
    """
    check_floating(running_mean, "running_mean")
    if running_mean.ndim != 1:
        raise ValueError(
            f"update_running_stats: running_mean must be 1-D (C,), got shape "
            f"{tuple(running_mean.shape)}"
        )
    _check_pieces(
        "update_running_stats",
        running_mean.unsqueeze(0),
        {"running_var": running_var, "mean": mean, "var": var},
    )
    _check_count(count, "count", 2)
    momentum = check_fraction(momentum, "momentum")
    _update_running_stats(running_mean, running_var, mean, var, count, momentum)


def _unwrap_for_update(t: Tensor) -> Tensor:
    functorch = torch._C._functorch
    while functorch.is_functorch_wrapped_tensor(t) and not functorch.is_batchedtensor(t):
        t = functorch.get_unwrapped(t)
    return t


def _update_running_stats(
    running_mean: Tensor,
    running_var: Tensor,
    mean: Tensor,
    var: Tensor,
    count: int,
    momentum: float,
) -> None:
    # under a torch.func grad transform (grad, jacrev, functional_call) the statistics are
    # wrapped for differentiation; the buffers are not, and no graph is wanted, so fold
    # the plain values in, as PyTorch's kernel does. Batched (vmap) statistics stay
    # wrapped: writing them into one buffer raises, as it does for torch.nn.BatchNorm.
    functorch = torch._C._functorch
    if functorch.is_functorch_wrapped_tensor(mean) and not functorch.is_batchedtensor(mean):
        mean, var = _unwrap_for_update(mean), _unwrap_for_update(var)
        with torch._C._DisableFuncTorch():
            _lerp_running_stats(running_mean, running_var, mean, var, count, momentum)
    else:
        _lerp_running_stats(running_mean, running_var, mean, var, count, momentum)


def _lerp_running_stats(
    running_mean: Tensor,
    running_var: Tensor,
    mean: Tensor,
    var: Tensor,
    count: int,
    momentum: float,
) -> None:
    with torch.no_grad():
        unbiased = var * (count / (count - 1))
        # lerp_(new, m) is old + m·(new − old) = (1 − m)·old + m·new, in one operation
        running_mean.lerp_(mean.to(running_mean.dtype), momentum)
        running_var.lerp_(unbiased.to(running_var.dtype), momentum)


class _Function(torch.autograd.Function):
    """The base of the hand-derived ``torch.autograd.Function`` classes below.

    ``XFunction.apply(...)`` is PyTorch's own ``apply``, which works everywhere (eager,
    ``torch.func`` transforms, ``torch.compile``). The functionals of this module call
    :func:`_apply` instead, which skips one step of it in plain eager mode. Under
    ``torch.compile`` a call of one of them is a graph break (run eagerly, the model
    compiled around it): Dynamo does not trace autograd Functions with a custom ``jvp``,
    and the ``jvp`` is what makes forward-mode AD work.
    """


def _apply(function: type[torch.autograd.Function], *args: Any) -> Any:
    """``function.apply(*args)`` with every argument positional, faster in eager mode.

    With ``setup_context`` defined, PyTorch's ``apply`` binds default arguments through
    ``inspect.signature`` on every call, which costs more than the arithmetic of a small
    layer; the callers here pass every argument, so that step is skipped. Under
    ``torch.func`` transforms and while ``torch.compile`` traces (Dynamo follows only
    ``Function.apply`` itself, not an override of it), PyTorch's own path runs.
    """
    if torch._C._are_functorch_transforms_active() or torch.compiler.is_compiling():
        return function.apply(*args)
    # what PyTorch's apply does here: unwrap tensors left over from a finished
    # transform, then run the C++ apply
    unwrap = torch._C._functorch.unwrap_if_dead
    args = tuple(unwrap(a) if isinstance(a, Tensor) else a for a in args)
    return super(torch.autograd.Function, function).apply(*args)  # type: ignore[misc]


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
      gradients need; the in-place passes are skipped under a transform (``_inplace_ok``);
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
        x = _as_compute(input)
        mean, var, centered = _centered_moments(x)
        invstd = torch.rsqrt(var + eps)
        scale = _per_channel(invstd if weight is None else weight * invstd, x)
        if _inplace_ok(input, weight, bias):  # no graph: the centered copy is changed in place
            output = centered.mul_(scale)
            if bias is not None:
                output.add_(_per_channel(bias, x))
        elif bias is None:
            output = centered * scale
        else:
            output = torch.addcmul(_per_channel(bias, x), centered, scale)
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
        x, dy = _as_compute(input), _as_compute(grad_output)
        if torch.is_grad_enabled():
            # create_graph=True: the saved statistics were computed without a graph, so
            # recompute them from the (graph-connected) input for a correct double backward
            mean, var, centered = _centered_moments(x)
            invstd = torch.rsqrt(var + ctx.eps)
        else:
            centered = x - _per_channel(mean, x)
        sum_dy, sum_dy_xmu = _backward_reduce(dy, centered)
        grad_input = grad_weight = grad_bias = None
        if weight is not None and ctx.needs_input_grad[1]:
            grad_weight = (sum_dy_xmu * invstd).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = sum_dy.to(weight.dtype if weight is not None else input.dtype)
        if ctx.needs_input_grad[0]:
            count = input.numel() // input.shape[1]
            w = None if weight is None else _as_compute(weight)
            grad_input = _backward_elemt(dy, centered, invstd, w, sum_dy, sum_dy_xmu, count).to(
                input.dtype
            )
        return grad_input, grad_weight, grad_bias, None

    @staticmethod
    def jvp(
        ctx: Any, x_t: Tensor | None, w_t: Tensor | None, b_t: Tensor | None, _eps_t: Any
    ) -> tuple[Tensor | None, None, None]:
        """Forward-mode tangent of the output (the statistics are not differentiable)."""
        input, weight, mean, invstd = ctx.saved_tensors
        x = _as_compute(input)
        xhat = (x - _per_channel(mean, x)) * _per_channel(invstd, x)
        dims = _reduce_dims(x)
        out_t = torch.zeros_like(xhat)
        if x_t is not None:
            t = _as_compute(x_t)
            proj = t - _per_channel(t.mean(dims), x) - xhat * _per_channel((xhat * t).mean(dims), x)
            gain = invstd if weight is None else _as_compute(weight) * invstd
            out_t = out_t + proj * _per_channel(gain, x)
        if w_t is not None:
            out_t = out_t + xhat * _per_channel(_as_compute(w_t), x)
        if b_t is not None:
            out_t = out_t + _per_channel(_as_compute(b_t), x)
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


def _cast(t: Tensor, dtype: torch.dtype) -> Tensor:
    """``t.to(dtype)``, without dispatching an operation when it already has that dtype."""
    return t if t.dtype == dtype else t.to(dtype)


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
        x = _as_compute(input)
        n, c = x.shape[0], x.shape[1]
        # explicit sizes: -1 is ambiguous for an empty batch
        shape = (n, num_groups, c // num_groups, math.prod(x.shape[2:]))  # (N, G, C/G, L)
        grouped = x.reshape(shape)
        mean = grouped.mean((2, 3), keepdim=True)  # (N, G, 1, 1)
        centered = grouped - mean
        invstd = _invstd(centered, (2, 3), shape[2] * shape[3], eps)
        scale = invstd if weight is None else invstd * weight.view(1, num_groups, -1, 1)
        if _inplace_ok(input, weight, bias):  # no graph: the centered copy becomes the output
            out = centered.mul_(scale)
            if bias is not None:
                out = out.add_(bias.view(1, num_groups, -1, 1))
        elif bias is None:
            out = centered * scale
        else:
            out = torch.addcmul(bias.view(1, num_groups, -1, 1), centered, scale)
        return (
            _cast(out.view(input.shape), input.dtype),
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
        x, groups = _as_compute(input), ctx.num_groups
        n, c = x.shape[0], x.shape[1]
        shape = (n, groups, c // groups, math.prod(x.shape[2:]))  # (N, G, C/G, L)
        x, dy = x.reshape(shape), _as_compute(grad_output).reshape(shape)
        count = shape[2] * shape[3]
        if torch.is_grad_enabled():  # create_graph=True: statistics as functions of input
            mean = x.mean((2, 3), keepdim=True)
            invstd = torch.rsqrt((x - mean).square().mean((2, 3), keepdim=True) + ctx.eps)
        else:  # the forward pass's statistics, viewed as (N, G, 1, 1)
            mean, invstd = mean.view(n, groups, 1, 1), invstd.view(n, groups, 1, 1)
        inplace = not torch.is_grad_enabled() and _inplace_ok(dy, weight)
        centered = x - mean
        # per (sample, channel) sums over the positions: the only reductions of the tensors
        sum_dy = dy.sum(3, keepdim=True)  # (N, G, C/G, 1)
        if inplace:  # one large buffer: dy·(x − μ) now, the input gradient below
            sum_dy_xmu = centered.mul_(dy).sum(3, keepdim=True)
        else:
            sum_dy_xmu = (dy * centered).sum(3, keepdim=True)
        grad_input = grad_weight = grad_bias = None
        if weight is not None and ctx.needs_input_grad[2]:
            grad_weight = _cast((sum_dy_xmu * invstd).sum(0).view(c), weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[3]:
            dtype = weight.dtype if weight is not None else input.dtype
            grad_bias = _cast(sum_dy.sum(0).view(c), dtype)
        if ctx.needs_input_grad[0]:
            # dL/dx = gain·dy + slope·(x − μ) + shift, batch norm's projection per group
            gain = invstd
            if weight is not None:  # gamma varies inside a group: weight the sums by it
                w = _as_compute(weight).view(1, groups, -1, 1)
                sum_dy, sum_dy_xmu, gain = sum_dy * w, sum_dy_xmu * w, invstd * w
            shift = sum_dy.sum(2, keepdim=True) * (invstd / -count)
            slope = sum_dy_xmu.sum(2, keepdim=True) * (invstd.pow(3) / -count)
            if inplace:  # into the buffer, as slope·x + offset (see _SLOPE_OFFSET)
                offset = torch.addcmul(shift, mean, slope, value=-1)
                grad_input = torch.mul(x, slope, out=centered)
                grad_input = grad_input.add_(offset).addcmul_(dy, gain)
            else:  # out of place: a recorded graph, or vmap (no batching rule for addcmul_)
                grad_input = torch.addcmul(torch.addcmul(shift, centered, slope), dy, gain)
            grad_input = _cast(grad_input.view(input.shape), input.dtype)
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
        x, groups = _as_compute(input), ctx.num_groups
        n, c = x.shape[:2]
        shape = (n, groups, c // groups, math.prod(x.shape[2:]))
        mean, invstd = mean.view(n, groups, 1, 1), invstd.view(n, groups, 1, 1)
        xhat = (x.reshape(shape) - mean) * invstd
        out_t = torch.zeros_like(xhat)
        if x_t is not None:
            t = _as_compute(x_t).reshape(shape)
            proj = t - t.mean((2, 3), keepdim=True) - xhat * (xhat * t).mean((2, 3), keepdim=True)
            gain = invstd if weight is None else _as_compute(weight).view(1, groups, -1, 1) * invstd
            out_t = out_t + proj * gain
        if w_t is not None:
            out_t = out_t + xhat * _as_compute(w_t).view(1, groups, -1, 1)
        if b_t is not None:
            out_t = out_t + _as_compute(b_t).view(1, groups, -1, 1)
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
        x = _rows(_as_compute(input))
        mean = x.mean(1, keepdim=True)
        centered = x - mean
        invstd = _invstd(centered, 1, x.shape[1], eps)
        if _inplace_ok(input, weight, bias):  # no graph: the centered copy becomes the output
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
        return _cast(out, input.dtype), mean, invstd

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
        x, dy = _rows(_as_compute(input)), _rows(_as_compute(grad_output))
        w = None if weight is None else _as_compute(weight)
        if torch.is_grad_enabled() or not _inplace_ok(dy, weight):
            grads = _layer_norm_backward_differentiable(ctx, x, dy, w)
        else:
            grads = _layer_norm_backward_inplace(ctx, x, dy, w, mean, invstd)
        grad_input, grad_weight, grad_bias = grads
        if grad_input is not None:
            if grad_input.shape != input.shape:
                grad_input = grad_input.view(input.shape)
            grad_input = _cast(grad_input, input.dtype)
        if grad_weight is not None:
            grad_weight = _cast(grad_weight, weight.dtype)
        if grad_bias is not None:
            grad_bias = _cast(grad_bias, input.dtype if weight is None else weight.dtype)
        return grad_input, grad_weight, grad_bias, None

    @staticmethod
    def jvp(
        ctx: Any, x_t: Tensor | None, w_t: Tensor | None, b_t: Tensor | None, _eps_t: Any
    ) -> tuple[Tensor | None, None, None]:
        """Forward-mode tangent of the output: the projection of ``x_t`` per row."""
        input, weight, mean, invstd = ctx.saved_tensors
        xhat = (_rows(_as_compute(input)) - mean) * invstd
        out_t = torch.zeros_like(xhat)
        if x_t is not None:
            t = _rows(_as_compute(x_t))
            proj = t - t.mean(1, keepdim=True) - xhat * (xhat * t).mean(1, keepdim=True)
            proj = proj * invstd
            out_t = out_t + (proj if weight is None else proj * _as_compute(weight))
        if w_t is not None:
            out_t = out_t + xhat * _as_compute(w_t)
        if b_t is not None:
            out_t = out_t + _as_compute(b_t)
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


def _check_eps(eps: object) -> float:
    # PyTorch accepts eps = 0 outside batch-norm training (and eps < 0 in layer and group
    # norm); 0 turns a constant slice into 0/0 = NaN, so eps must be > 0 here, and finite:
    # an infinite eps silently maps every input to 0 (the bias).
    if type(eps) is float and 0.0 < eps < math.inf:  # the common case, checked cheaply
        return eps
    eps = check_positive_float(eps, "eps")
    if not math.isfinite(eps):
        raise ValueError(f"eps must be a finite number > 0, got {eps}")
    return eps


def _check_bool(value: object, name: str) -> bool:
    # a string such as "no" is truthy: accepting it would silently do the opposite
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} ({value!r})")
    return value


def _check_device(input: Tensor, **tensors: Tensor | None) -> None:
    """Every given tensor on ``input``'s device (PyTorch's error type, with the names)."""
    for name, t in tensors.items():
        if t is not None and t.device != input.device:
            raise RuntimeError(
                f"{name} is on device {t.device} but input is on device {input.device}; "
                "move them to one device (e.g. module.to(input.device))"
            )


def _check_param(t: Tensor | None, name: str, shape: tuple[int, ...], what: str) -> None:
    if t is None:
        return
    check_tensor(t, name)
    if t.shape != shape:
        raise RuntimeError(f"{name} must have shape {shape} ({what}), got {tuple(t.shape)}")


def _check_batch_size(input: Tensor, fn: str) -> None:
    values = input.shape[0] * math.prod(input.shape[2:])
    if values == 1:
        raise ValueError(
            f"{fn}: expected more than 1 value per channel when training, got input size "
            f"{tuple(input.shape)}; a batch of one sample with no spatial extent has zero "
            "variance (use batch size >= 2, or eval mode, or a batch-independent "
            "normalization such as group or layer norm)"
        )


# ----------------------------------------------------------------------- functional forms


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    r"""Batch normalization (Ioffe & Szegedy 2015), like ``torch.nn.functional.batch_norm``.

    .. math:: y = \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}\,\gamma_c + \beta_c

    per channel :math:`c` (axis 1), over the batch and every spatial position. In training,
    :math:`\mu_c, \sigma_c^2` are the batch's (biased variance), computed by
    :class:`BatchNormFunction`; if running buffers are given they are updated in place by
    :func:`update_running_stats`. Otherwise the running buffers are used.

    Args:
        input: ``(N, C, *)`` floating-point tensor.
        running_mean, running_var: ``(C,)`` buffers, or both ``None``.
        weight, bias: ``(C,)`` affine parameters, or ``None``.
        training: use (and track) the batch statistics.
        momentum: weight of the new batch in the running estimates, in [0, 1].
        eps: added to the variance, > 0.

    Returns:
        Tensor of ``input``'s shape.

    Raises:
        TypeError: non-floating ``input``.
        ValueError: ``input`` has fewer than 2 dimensions; one of the running buffers is
            ``None`` but not the other; training on one value per channel; bad ``eps`` or
            ``momentum``.
        RuntimeError: eval mode without running buffers; a buffer or parameter whose length
            is not the number of channels (PyTorch's error type).
    """
    check_floating(input, "input")
    # an empty 1-D input is an empty batch with no channels, which PyTorch accepts
    empty_1d = input.ndim == 1 and input.numel() == 0
    if input.ndim < 2 and not empty_1d:
        raise ValueError(
            f"batch_norm expects an input of shape (N, C, *) with at least 2 dimensions, "
            f"got a {input.ndim}-D tensor of shape {tuple(input.shape)}"
        )
    _check_bool(training, "training")
    eps = _check_eps(eps)
    momentum = check_fraction(momentum, "momentum")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or both be tensors")
    if empty_1d:
        input = input.view(1, 0)
    channels = (input.shape[1],)
    what = f"one value per channel of the input, which has {input.shape[1]}"
    _check_param(running_mean, "running_mean", channels, what)
    _check_param(running_var, "running_var", channels, what)
    _check_param(weight, "weight", channels, what)
    _check_param(bias, "bias", channels, what)
    _check_device(
        input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias
    )
    if empty_1d:
        zeros = input.new_zeros(channels)
        return _elemt(input, zeros, zeros + 1, weight, bias).view(0)
    if not training:
        if running_mean is None or running_var is None:
            raise RuntimeError(
                "batch_norm in evaluation mode (training=False) normalizes with running "
                "statistics, but running_mean and running_var are None"
            )
        invstd = torch.rsqrt(running_var + eps)
        return _elemt(input, running_mean, invstd, weight, bias)
    _check_batch_size(input, "batch_norm")
    if input.numel() == 0:
        # nothing to normalize, and PyTorch leaves the buffers alone too; the affine map
        # keeps the output connected to weight and bias, whose gradients are then zeros
        return _elemt(input, input.new_zeros(channels), input.new_ones(channels), weight, bias)
    output, mean, var = _apply(BatchNormFunction, input, weight, bias, eps)
    if running_mean is not None and running_var is not None:
        count = input.numel() // input.shape[1]
        _update_running_stats(running_mean, running_var, mean, var, count, momentum)
    return output


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    r"""Instance normalization (Ulyanov et al. 2016), like ``torch.nn.functional.instance_norm``.

    Each channel of each sample is normalized over its spatial positions: group
    normalization with one channel per group (:class:`GroupNormFunction`). With
    ``use_input_stats`` and running buffers, the buffers are updated with the **average
    over the batch** of the per-instance statistics (unbiased variance), as PyTorch does;
    with ``use_input_stats=False`` the running buffers normalize, as in eval-mode batch
    norm.

    Args:
        input: ``(N, C, *)`` with at least one spatial dimension.
        running_mean, running_var: ``(C,)`` buffers, or both ``None``.
        weight, bias: ``(C,)`` or ``None``.
        use_input_stats: normalize with each instance's own statistics.
        momentum: weight of the new batch in the running estimates, in [0, 1].
        eps: added to the variance, > 0.

    Returns:
        Tensor of ``input``'s shape.

    Raises:
        TypeError: non-floating ``input``.
        ValueError: fewer than 3 dimensions; a single spatial element with
            ``use_input_stats``; bad ``eps``/``momentum``; only one running buffer given.
        RuntimeError: ``use_input_stats=False`` without running buffers; a buffer or
            parameter whose length is not the number of channels.
    """
    check_floating(input, "input")
    if input.ndim < 3:
        raise ValueError(
            "instance_norm expects an input of shape (N, C, *spatial) with at least one "
            f"spatial dimension, got a {input.ndim}-D tensor of shape {tuple(input.shape)}"
        )
    _check_bool(use_input_stats, "use_input_stats")
    eps = _check_eps(eps)
    momentum = check_fraction(momentum, "momentum")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or both be tensors")
    n, c = input.shape[:2]
    what = f"one value per channel of the input, which has {c}"
    for t, name in (
        (running_mean, "running_mean"),
        (running_var, "running_var"),
        (weight, "weight"),
        (bias, "bias"),
    ):
        _check_param(t, name, (c,), what)
    _check_device(
        input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias
    )
    if not use_input_stats:
        if running_mean is None:
            raise RuntimeError(
                "instance_norm with use_input_stats=False normalizes with running "
                "statistics, but running_mean and running_var are None"
            )
        return batch_norm(input, running_mean, running_var, weight, bias, False, 0.0, eps)
    spatial = math.prod(input.shape[2:])
    if spatial == 1:
        raise ValueError(
            "instance_norm: expected more than 1 spatial element when using input "
            f"statistics, got input size {tuple(input.shape)}; one value has zero variance"
        )
    output, mean, invstd = _apply(GroupNormFunction, input, c, weight, bias, eps)
    if running_mean is not None and running_var is not None and n > 0:
        # PyTorch averages the per-instance statistics over the batch; averaging the
        # biased variances and then correcting by spatial/(spatial - 1) is the same as
        # averaging the unbiased ones. var = invstd⁻² − eps is exact up to the rounding of
        # var + eps (relative 1e-7 in float32), which is all the kernel ever stored
        var = invstd.pow(-2).sub_(eps)
        _update_running_stats(
            running_mean,
            running_var,
            mean.mean(0),
            var.mean(0),
            spatial,
            momentum,
        )
    return output


def layer_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    r"""Layer normalization (Ba et al. 2016), like ``torch.nn.functional.layer_norm``.

    Each sample is normalized over its last ``len(normalized_shape)`` dimensions (the
    rows of the view ``(rows, features)`` in :class:`LayerNormFunction`), then scaled and
    shifted **per element** by ``weight`` and ``bias`` of shape ``normalized_shape``. The
    same computation in training and evaluation.

    Args:
        input: ``(*, *normalized_shape)``.
        normalized_shape: the trailing shape to normalize over (an int for one dimension).
        weight, bias: tensors of shape ``normalized_shape``, or ``None``.
        eps: added to the variance, > 0.

    Returns:
        Tensor of ``input``'s shape.

    Raises:
        TypeError: non-floating ``input``.
        ValueError: ``normalized_shape`` empty or not positive ints; bad ``eps``.
        RuntimeError: the input's trailing dimensions are not ``normalized_shape``, or
            ``weight``/``bias`` do not have that shape (PyTorch's error type).
    """
    check_floating(input, "input")
    shape = _check_normalized_shape(normalized_shape)
    eps = _check_eps(eps)
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k :]) != shape:
        raise RuntimeError(
            f"layer_norm: normalized_shape={list(shape)} requires an input of shape "
            f"[*, {', '.join(map(str, shape))}], got {list(input.shape)}"
        )
    what = "normalized_shape, one value per normalized element"
    _check_param(weight, "weight", shape, what)
    _check_param(bias, "bias", shape, what)
    _check_device(input, weight=weight, bias=bias)
    if k == 1:  # the Function views (*, D) as rows itself: no view nodes to record
        return _apply(LayerNormFunction, input, weight, bias, eps)[0]
    features = math.prod(shape)
    if k > 1:
        weight = None if weight is None else weight.reshape(features)
        bias = None if bias is None else bias.reshape(features)
    output, _, _ = _apply(
        LayerNormFunction, input.reshape(input.numel() // features, features), weight, bias, eps
    )
    return output.view(input.shape)


def _check_normalized_shape(normalized_shape: object) -> tuple[int, ...]:
    # the common case (a module's own attribute) is checked cheaply
    t = normalized_shape
    if type(t) is tuple and t and all(type(s) is int and s > 0 for s in t):
        return t
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, Sequence) or len(normalized_shape) == 0:
        raise ValueError(
            "normalized_shape must be an int or a non-empty sequence of ints, got "
            f"{normalized_shape!r}"
        )
    return tuple(check_positive_int(s, "normalized_shape[i]") for s in normalized_shape)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    r"""Group normalization (Wu & He 2018), like ``torch.nn.functional.group_norm``.

    The ``C`` channels of each sample are split into ``num_groups`` groups of consecutive
    channels; each group is normalized over its channels and spatial positions, then
    scaled and shifted per channel (:class:`GroupNormFunction`).
    One group is layer norm over ``(C, *)``; ``C`` groups is instance norm. The same in
    training and evaluation.

    Args:
        input: ``(N, C, *)``.
        num_groups: ``G``, which must divide ``C``.
        weight, bias: ``(C,)`` or ``None``.
        eps: added to the variance, > 0.

    Returns:
        Tensor of ``input``'s shape.

    Raises:
        TypeError: non-floating ``input``; ``num_groups`` not an int.
        ValueError: fewer than 2 dimensions; ``num_groups < 1``; a group holding a single
            value; bad ``eps``.
        RuntimeError: ``C`` not divisible by ``num_groups``; ``weight``/``bias`` not of
            length ``C`` (PyTorch's error types).
    """
    check_floating(input, "input")
    if input.ndim < 2:
        raise ValueError(
            "group_norm expects an input of shape (N, C, *) with at least 2 dimensions, "
            f"got a {input.ndim}-D tensor of shape {tuple(input.shape)}"
        )
    num_groups = check_positive_int(num_groups, "num_groups")
    eps = _check_eps(eps)
    n, c = input.shape[:2]
    if c % num_groups != 0:
        raise RuntimeError(
            f"group_norm: the input's {c} channels are not divisible by "
            f"num_groups={num_groups} (input shape {tuple(input.shape)})"
        )
    what = f"one value per channel of the input, which has {c}"
    _check_param(weight, "weight", (c,), what)
    _check_param(bias, "bias", (c,), what)
    _check_device(input, weight=weight, bias=bias)
    per_group = c // num_groups * math.prod(input.shape[2:])
    if per_group == 1:
        raise ValueError(
            f"group_norm: each of the {num_groups} groups holds a single value for input "
            f"size {tuple(input.shape)}, so its variance is zero; use fewer groups"
        )
    return _apply(GroupNormFunction, input, num_groups, weight, bias, eps)[0]


# -------------------------------------------------------------------------------- modules


def _register_affine(
    module: nn.Module,
    enabled: bool,
    bias: bool,
    shape: tuple[int, ...],
    factory: dict[str, Any],
) -> None:
    """Register ``weight`` and ``bias`` (uninitialised) or ``None`` placeholders, as torch.nn."""
    if enabled:
        module.weight = nn.Parameter(torch.empty(shape, **factory))
        if bias:
            module.bias = nn.Parameter(torch.empty(shape, **factory))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def _reset_affine(module: _NormBase | LayerNorm | GroupNorm) -> None:
    """:math:`\\gamma = 1`, :math:`\\beta = 0` for whichever of the two exist."""
    if module.weight is not None:
        nn.init.ones_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


class _NormBase(nn.Module):
    """What batch and instance norm share: parameters, running buffers and their bookkeeping.

    Mirrors ``torch.nn.modules.batchnorm._NormBase``: the same attributes, parameter and
    buffer names (``weight``, ``bias``, ``running_mean``, ``running_var``,
    ``num_batches_tracked``) and the same ``state_dict`` version, so state dicts load across.
    """

    # version 2 added num_batches_tracked; older state dicts lack it (see
    # _load_from_state_dict)
    _version = 2
    num_features: int
    eps: float
    momentum: float | None
    affine: bool
    track_running_stats: bool
    # Registered in __init__ as parameters and buffers, or as None without affine or
    # running statistics; declared (as torch.nn's batch norm declares its buffers) so that a
    # type checker sees Tensor | None instead of nn.Module.__getattr__'s Tensor | Module.
    weight: Tensor | None
    bias: Tensor | None
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.num_features = check_positive_int(num_features, "num_features")
        self.eps = _check_eps(eps)
        self.momentum = None if momentum is None else check_fraction(momentum, "momentum")
        self.affine = _check_bool(affine, "affine")
        self.track_running_stats = _check_bool(track_running_stats, "track_running_stats")
        _check_bool(bias, "bias")
        _register_affine(self, affine, bias, (num_features,), factory)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            # an integer count, never cast by .to(dtype) or .half()
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch seen."""
        if self.track_running_stats:  # then __init__ registered the three buffers
            cast(Tensor, self.running_mean).zero_()
            cast(Tensor, self.running_var).fill_(1)
            cast(Tensor, self.num_batches_tracked).zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, and :math:`\\gamma = 1`, :math:`\\beta = 0`."""
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        version = local_metadata.get("version")
        if (version is None or version < 2) and self.track_running_stats:
            # state dicts saved before num_batches_tracked existed: start counting at 0
            key = prefix + "num_batches_tracked"
            if key not in state_dict:
                state_dict[key] = torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(
            state_dict,
            prefix,
            local_metadata,
            strict,
            missing_keys,
            unexpected_keys,
            error_msgs,
        )


class _BatchNorm(_NormBase):
    """Batch normalization over axis 1; subclasses only fix the accepted input ranks."""

    _ranks: tuple[int, ...] = ()
    _shapes: str = ""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._ranks:
            ranks = " or ".join(f"{r}-D" for r in self._ranks)
            raise ValueError(
                f"{type(self).__name__} expects a {ranks} input {self._shapes}, got a "
                f"{input.ndim}-D tensor of shape {tuple(input.shape)}"
            )

    def forward(self, input: Tensor) -> Tensor:
        """Normalize ``input`` with batch statistics (training) or running ones (eval)."""
        check_floating(input, "input")
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(
                f"{type(self).__name__}({self.num_features}) got an input with "
                f"{input.shape[1]} channels (axis 1) of shape {tuple(input.shape)}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            tracked = cast(Tensor, self.num_batches_tracked)  # a buffer when tracking
            tracked.add_(1)
            if self.momentum is None:  # cumulative moving average: the plain mean so far
                factor = 1.0 / float(tracked)
        # batch statistics in training, and in eval when no running statistics exist
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
        )


_NORM_BASE_ARGS = """
    Args:
        num_features: ``C``, the number of channels (features) on axis 1.
        eps: added to the variance, > 0. Default: 1e-5.
        momentum: weight of the new batch in the running estimates,
            ``running = (1 - momentum)·running + momentum·batch`` (PyTorch's convention);
            ``None`` for a cumulative average (the plain mean of all batch statistics).
        affine: learn a per-channel scale ``weight`` (γ, init 1) and shift ``bias`` (β,
            init 0).
        track_running_stats: keep ``running_mean``, ``running_var`` (init 0 and 1) and
            ``num_batches_tracked`` buffers; without them, batch statistics are used in
            eval mode too.
        device, dtype: where and in which dtype to create parameters and buffers.
        bias: with ``affine``, learn the shift β too (keyword-only, as in PyTorch).
"""


class BatchNorm1d(_BatchNorm):
    __doc__ = (
        r"""Batch normalization of ``(N, C)`` or ``(N, C, L)`` inputs, like
    :class:`torch.nn.BatchNorm1d`.

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}}\,\gamma + \beta

    per channel over the batch (and length), with the batch's biased variance in training
    and the running estimates in eval mode; the running variance is updated with the
    unbiased batch variance (Ioffe & Szegedy 2015). Uses :func:`batch_norm`.
"""
        + _NORM_BASE_ARGS
    )
    _ranks = (2, 3)
    _shapes = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    __doc__ = (
        r"""Batch normalization of ``(N, C, H, W)`` inputs, like :class:`torch.nn.BatchNorm2d`.

    Each channel is normalized over the batch and every pixel, :math:`m = N H W` values
    (Ioffe & Szegedy 2015, section 3.2); see :class:`BatchNorm1d`.
"""
        + _NORM_BASE_ARGS
    )
    _ranks = (4,)
    _shapes = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    __doc__ = (
        r"""Batch normalization of ``(N, C, D, H, W)`` inputs, like :class:`torch.nn.BatchNorm3d`.

    Each channel is normalized over the batch and every voxel; see :class:`BatchNorm1d`.
"""
        + _NORM_BASE_ARGS
    )
    _ranks = (5,)
    _shapes = "(N, C, D, H, W)"


class _InstanceNorm(_NormBase):
    """Instance normalization; subclasses fix the accepted ranks (batched and unbatched)."""

    _batched_rank = 0

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    def _check_input_dim(self, input: Tensor) -> None:
        ranks = (self._batched_rank - 1, self._batched_rank)
        if input.ndim not in ranks:
            raise ValueError(
                f"{type(self).__name__} expects a {ranks[0]}-D (unbatched) or {ranks[1]}-D "
                f"(batched) input, got a {input.ndim}-D tensor of shape "
                f"{tuple(input.shape)}"
            )

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        version = local_metadata.get("version")
        if version is None and not self.track_running_stats:
            # checkpoints from before PyTorch 0.4 stored running statistics that an
            # untracked instance norm does not have; refuse them as PyTorch does
            stale = [
                prefix + k for k in ("running_mean", "running_var") if prefix + k in state_dict
            ]
            if stale:
                error_msgs.append(
                    f"Unexpected running stats buffer(s) {' and '.join(stale)} for "
                    f"{type(self).__name__} with track_running_stats=False; remove them "
                    "from the state dict, or build the layer with track_running_stats=True"
                )
                for key in stale:
                    state_dict.pop(key)
        super()._load_from_state_dict(
            state_dict,
            prefix,
            local_metadata,
            strict,
            missing_keys,
            unexpected_keys,
            error_msgs,
        )

    def forward(self, input: Tensor) -> Tensor:
        """Normalize each channel of each sample (batched or unbatched ``input``)."""
        check_floating(input, "input")
        self._check_input_dim(input)
        channel_axis = input.ndim - (self._batched_rank - 1)
        if input.shape[channel_axis] != self.num_features:
            message = (
                f"{type(self).__name__}({self.num_features}) got an input with "
                f"{input.shape[channel_axis]} channels (axis {channel_axis}) of shape "
                f"{tuple(input.shape)}"
            )
            if self.affine or self.track_running_stats:
                raise ValueError(message)
            # PyTorch only warns here: the layer has nothing per channel
            warnings.warn(message + "; num_features is unused since affine=False", stacklevel=2)
        unbatched = input.ndim == self._batched_rank - 1
        x = input.unsqueeze(0) if unbatched else input
        out = instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            # PyTorch passes 0 for momentum=None: the running statistics then stay frozen
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )
        return out.squeeze(0) if unbatched else out


_INSTANCE_ARGS = (
    _NORM_BASE_ARGS.replace(
        "momentum: weight of the new batch in the running estimates,",
        "momentum: weight of the new batch in the running estimates (averaged over the batch),",
    )
    .replace(
        "``None`` for a cumulative average (the plain mean of all batch statistics).",
        "``None`` freezes them (PyTorch passes 0), unlike batch norm's cumulative average.",
    )
    .replace("affine: learn", "affine: (default ``False``) learn")
    .replace("track_running_stats: keep", "track_running_stats: (default ``False``) keep")
)


class InstanceNorm1d(_InstanceNorm):
    __doc__ = (
        r"""Instance normalization of ``(N, C, L)`` or unbatched ``(C, L)`` inputs, like
    :class:`torch.nn.InstanceNorm1d`.

    Each channel of each sample is normalized over its own positions (Ulyanov et al. 2016),
    in training **and** evaluation by default (``track_running_stats=False``). Uses
    :func:`instance_norm`.
"""
        + _INSTANCE_ARGS
    )
    _batched_rank = 3


class InstanceNorm2d(_InstanceNorm):
    __doc__ = (
        r"""Instance normalization of ``(N, C, H, W)`` or ``(C, H, W)`` inputs, like
    :class:`torch.nn.InstanceNorm2d`; see :class:`InstanceNorm1d`.
"""
        + _INSTANCE_ARGS
    )
    _batched_rank = 4


class InstanceNorm3d(_InstanceNorm):
    __doc__ = (
        r"""Instance normalization of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs, like
    :class:`torch.nn.InstanceNorm3d`; see :class:`InstanceNorm1d`.
"""
        + _INSTANCE_ARGS
    )
    _batched_rank = 5


class LayerNorm(nn.Module):
    r"""Layer normalization over the trailing ``normalized_shape``, like ``torch.nn.LayerNorm``.

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \odot \gamma + \beta

    with the statistics of each sample over its last ``len(normalized_shape)`` dimensions
    and an **element-wise** affine map (Ba et al. 2016). No running statistics: training and
    evaluation compute the same thing. Uses :func:`layer_norm`.

    Args:
        normalized_shape: trailing shape to normalize over; an int means one dimension.
        eps: added to the variance, > 0. Default: 1e-5.
        elementwise_affine: learn ``weight`` (init 1) and ``bias`` (init 0) of shape
            ``normalized_shape``.
        bias: with ``elementwise_affine``, learn the bias too.
        device, dtype: where and in which dtype to create the parameters.
    """

    normalized_shape: tuple[int, ...]
    eps: float
    elementwise_affine: bool
    weight: Tensor | None  # parameters, or None without the affine map (see _NormBase)
    bias: Tensor | None

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.normalized_shape = _check_normalized_shape(normalized_shape)
        self.eps = _check_eps(eps)
        self.elementwise_affine = _check_bool(elementwise_affine, "elementwise_affine")
        _check_bool(bias, "bias")
        _register_affine(self, elementwise_affine, bias, self.normalized_shape, factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """:math:`\\gamma = 1`, :math:`\\beta = 0`."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        """Normalize ``input`` over its trailing ``normalized_shape`` dimensions."""
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(nn.Module):
    r"""Group normalization, like :class:`torch.nn.GroupNorm`.

    The ``num_channels`` channels are split into ``num_groups`` groups of consecutive
    channels; each group of each sample is normalized over its channels and positions, then
    a per-channel affine map is applied (Wu & He 2018). Independent of the batch size; no
    running statistics. ``GroupNorm(1, C)`` is layer norm over ``(C, *)`` (with a
    per-channel instead of per-element affine map) and ``GroupNorm(C, C)`` is instance
    norm. Uses :func:`group_norm`.

    Args:
        num_groups: ``G``, which must divide ``num_channels`` (the paper's default is 32).
        num_channels: ``C``, the channels expected on axis 1.
        eps: added to the variance, > 0. Default: 1e-5.
        affine: learn per-channel ``weight`` (init 1) and ``bias`` (init 0).
        device, dtype: where and in which dtype to create the parameters.
        bias: with ``affine``, learn the bias too (keyword-only, as in PyTorch).

    Raises:
        ValueError: ``num_channels`` is not divisible by ``num_groups``.
    """

    num_groups: int
    num_channels: int
    eps: float
    affine: bool
    weight: Tensor | None  # parameters, or None without the affine map (see _NormBase)
    bias: Tensor | None

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.num_groups = check_positive_int(num_groups, "num_groups")
        self.num_channels = check_positive_int(num_channels, "num_channels")
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.eps = _check_eps(eps)
        self.affine = _check_bool(affine, "affine")
        _check_bool(bias, "bias")
        _register_affine(self, affine, bias, (num_channels,), factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """:math:`\\gamma = 1`, :math:`\\beta = 0`."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        """Normalize each group of channels of each sample of ``input`` ``(N, C, *)``."""
        check_floating(input, "input")
        if input.ndim >= 2 and input.shape[1] != self.num_channels:
            raise RuntimeError(
                f"GroupNorm({self.num_groups}, {self.num_channels}) got an input with "
                f"{input.shape[1]} channels (axis 1) of shape {tuple(input.shape)}"
            )
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
            f"affine={self.affine}, bias={self.bias is not None}"
        )
