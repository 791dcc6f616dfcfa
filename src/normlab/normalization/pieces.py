r"""Batch normalization's hand-derived forward and backward passes, in reusable pieces.

For an input of shape ``(N, C, *)``, per channel over the batch and every position:
:func:`~normlab.normalization.batch_norm_stats` (mean and biased variance),
:func:`~normlab.normalization.batch_norm_elemt` (apply them),
:func:`~normlab.normalization.batch_norm_backward_reduce` (the two per-channel sums of the
backward pass), :func:`~normlab.normalization.batch_norm_backward_elemt` (the input
gradient from those sums) and :func:`~normlab.normalization.update_running_stats`
(PyTorch's running-average rule). Each checks its arguments and calls its unchecked core
in ``normlab.normalization._ops``, which :class:`~normlab.normalization.BatchNormFunction`
and :class:`~normlab.sync_batchnorm.SyncBatchNorm` call directly (Ioffe & Szegedy 2015).
"""

from __future__ import annotations

from torch import Tensor

from normlab._validation import check_floating, check_fraction
from normlab.normalization._checks import check_count, check_pieces
from normlab.normalization._ops import (
    as_compute,
    backward_elemt,
    backward_reduce,
    centered_moments,
    elemt,
    fold_running_stats,
    per_channel,
)

__all__ = [
    "batch_norm_stats",
    "batch_norm_elemt",
    "batch_norm_backward_reduce",
    "batch_norm_backward_elemt",
    "update_running_stats",
]


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
    check_pieces("batch_norm_stats", input, {})
    if input.numel() == 0:
        raise ValueError(
            f"batch_norm_stats: input of shape {tuple(input.shape)} has no values per "
            "channel, so it has no mean or variance"
        )
    mean, var, _ = centered_moments(as_compute(input))
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
    tensors = {"mean": mean, "invstd": invstd, "weight": weight, "bias": bias}
    check_pieces("batch_norm_elemt", input, tensors)
    return elemt(input, mean, invstd, weight, bias)


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
    check_pieces("batch_norm_backward_reduce", input, {"mean": mean}, grad_output=grad_output)
    return backward_reduce(grad_output, input - per_channel(mean, input))


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
    tensors = {
        "mean": mean,
        "invstd": invstd,
        "weight": weight,
        "sum_dy": sum_dy,
        "sum_dy_xmu": sum_dy_xmu,
    }
    check_pieces("batch_norm_backward_elemt", input, tensors, grad_output=grad_output)
    check_count(count, "count", 1)
    centered = input - per_channel(mean, input)
    return backward_elemt(grad_output, centered, invstd, weight, sum_dy, sum_dy_xmu, count)


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
    check_pieces(
        "update_running_stats",
        running_mean.unsqueeze(0),
        {"running_var": running_var, "mean": mean, "var": var},
    )
    check_count(count, "count", 2)
    momentum = check_fraction(momentum, "momentum")
    fold_running_stats(running_mean, running_var, mean, var, count, momentum)
