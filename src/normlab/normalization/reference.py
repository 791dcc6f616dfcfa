r"""The one idea of the family: standardize over some axes (the reference the tests use).

:func:`~normlab.normalization.normalize` is three lines of arithmetic differentiated by
autograd; every layer of :mod:`normlab.normalization` is this function followed by an
affine map, with only the axes changing, and is tested against it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

from normlab._validation import check_floating, check_int, check_positive_float

__all__ = ["normalize"]


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
