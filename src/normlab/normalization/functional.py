r"""The functional forms of the normalization family, with ``torch.nn.functional``'s signatures.

:func:`~normlab.normalization.batch_norm`, :func:`~normlab.normalization.instance_norm`,
:func:`~normlab.normalization.layer_norm` and :func:`~normlab.normalization.group_norm`
check their arguments (PyTorch's error types, messages that name the argument), handle the
cases without statistics (eval mode, empty batches) and run the kernels of
:mod:`normlab.normalization.kernels`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from normlab._validation import check_bool, check_floating, check_fraction, check_positive_int
from normlab.normalization._checks import (
    check_batch_size,
    check_device,
    check_eps,
    check_normalized_shape,
    check_param,
)
from normlab.normalization._ops import elemt, fast_apply, fold_running_stats
from normlab.normalization.kernels import BatchNormFunction, GroupNormFunction, LayerNormFunction

__all__ = ["batch_norm", "instance_norm", "layer_norm", "group_norm"]


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
    check_bool(training, "training")
    eps = check_eps(eps)
    momentum = check_fraction(momentum, "momentum")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or both be tensors")
    if empty_1d:
        input = input.view(1, 0)
    channels = (input.shape[1],)
    what = f"one value per channel of the input, which has {input.shape[1]}"
    check_param(running_mean, "running_mean", channels, what)
    check_param(running_var, "running_var", channels, what)
    check_param(weight, "weight", channels, what)
    check_param(bias, "bias", channels, what)
    check_device(
        input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias
    )
    if empty_1d:
        zeros = input.new_zeros(channels)
        return elemt(input, zeros, zeros + 1, weight, bias).view(0)
    if not training:
        if running_mean is None or running_var is None:
            raise RuntimeError(
                "batch_norm in evaluation mode (training=False) normalizes with running "
                "statistics, but running_mean and running_var are None"
            )
        invstd = torch.rsqrt(running_var + eps)
        return elemt(input, running_mean, invstd, weight, bias)
    check_batch_size(input, "batch_norm")
    if input.numel() == 0:
        # nothing to normalize, and PyTorch leaves the buffers alone too; the affine map
        # keeps the output connected to weight and bias, whose gradients are then zeros
        return elemt(input, input.new_zeros(channels), input.new_ones(channels), weight, bias)
    output, mean, var = fast_apply(BatchNormFunction, input, weight, bias, eps)
    if running_mean is not None and running_var is not None:
        count = input.numel() // input.shape[1]
        fold_running_stats(running_mean, running_var, mean, var, count, momentum)
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
    check_bool(use_input_stats, "use_input_stats")
    eps = check_eps(eps)
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
        check_param(t, name, (c,), what)
    check_device(
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
    output, mean, invstd = fast_apply(GroupNormFunction, input, c, weight, bias, eps)
    if running_mean is not None and running_var is not None and n > 0:
        # PyTorch averages the per-instance statistics over the batch; averaging the
        # biased variances and then correcting by spatial/(spatial - 1) is the same as
        # averaging the unbiased ones. var = invstd⁻² − eps is exact up to the rounding of
        # var + eps (relative 1e-7 in float32), which is all the kernel ever stored
        var = invstd.pow(-2).sub_(eps)
        fold_running_stats(
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
    shape = check_normalized_shape(normalized_shape)
    eps = check_eps(eps)
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k :]) != shape:
        raise RuntimeError(
            f"layer_norm: normalized_shape={list(shape)} requires an input of shape "
            f"[*, {', '.join(map(str, shape))}], got {list(input.shape)}"
        )
    what = "normalized_shape, one value per normalized element"
    check_param(weight, "weight", shape, what)
    check_param(bias, "bias", shape, what)
    check_device(input, weight=weight, bias=bias)
    if k == 1:  # the Function views (*, D) as rows itself: no view nodes to record
        return fast_apply(LayerNormFunction, input, weight, bias, eps)[0]
    features = math.prod(shape)
    if k > 1:
        weight = None if weight is None else weight.reshape(features)
        bias = None if bias is None else bias.reshape(features)
    output, _, _ = fast_apply(
        LayerNormFunction, input.reshape(input.numel() // features, features), weight, bias, eps
    )
    return output.view(input.shape)


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
    eps = check_eps(eps)
    n, c = input.shape[:2]
    if c % num_groups != 0:
        raise RuntimeError(
            f"group_norm: the input's {c} channels are not divisible by "
            f"num_groups={num_groups} (input shape {tuple(input.shape)})"
        )
    what = f"one value per channel of the input, which has {c}"
    check_param(weight, "weight", (c,), what)
    check_param(bias, "bias", (c,), what)
    check_device(input, weight=weight, bias=bias)
    per_group = c // num_groups * math.prod(input.shape[2:])
    if per_group == 1:
        raise ValueError(
            f"group_norm: each of the {num_groups} groups holds a single value for input "
            f"size {tuple(input.shape)}, so its variance is zero; use fewer groups"
        )
    return fast_apply(GroupNormFunction, input, num_groups, weight, bias, eps)[0]


# -------------------------------------------------------------------------------- modules
