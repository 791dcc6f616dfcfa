"""Tensor helpers shared by the normalization kernels and by synchronized batch norm.

The package's internal API (public names, not part of ``normlab``'s own): the unchecked
cores of batch normalization's pieces, which :mod:`normlab.normalization.pieces` wraps
with argument checks and :mod:`normlab.sync_batchnorm` calls between its collectives, and
the small tools every kernel uses. Callers have checked their arguments.

Batch norm's pieces take an input of shape (N, C, *) and work per channel C, over the
batch and every spatial position: they are the steps of its forward and backward passes,
kept separate so that a synchronized variant can exchange the per-channel statistics and
sums between processes between the steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = [
    "LOW_PRECISION",
    "reduce_dims",
    "per_channel",
    "as_compute",
    "centered_moments",
    "cast_to",
    "inplace_ok",
    "elemt",
    "backward_reduce",
    "backward_elemt",
    "fold_running_stats",
    "fast_apply",
]

#: Dtypes computed in float32 (as PyTorch's CPU kernels do).
LOW_PRECISION = (torch.float16, torch.bfloat16)


def reduce_dims(x: Tensor) -> list[int]:
    """Every axis but the channel axis 1."""
    return [0, *range(2, x.ndim)]


def per_channel(t: Tensor, x: Tensor) -> Tensor:
    """View a (C,) tensor so that it broadcasts along axis 1 of ``x``."""
    return t.view(1, -1, *([1] * (x.ndim - 2)))


def as_compute(t: Tensor) -> Tensor:
    """Half-precision tensors are computed in float32 (as PyTorch's CPU kernels do)."""
    return t.float() if t.dtype in LOW_PRECISION else t


def centered_moments(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-channel mean, biased variance, and the centered input ``x - mean`` (a new tensor).

    Two passes (the mean, then the mean square of the centered values) are as accurate as
    Welford's update and, in PyTorch, several times faster than ``torch.var_mean``.
    """
    dims = reduce_dims(x)
    mean = x.mean(dims)
    centered = x - per_channel(mean, x)
    var = (centered * centered).mean(dims)
    return mean, var, centered


def cast_to(t: Tensor, dtype: torch.dtype) -> Tensor:
    """``t.to(dtype)``, without dispatching an operation when it already has that dtype."""
    return t if t.dtype == dtype else t.to(dtype)


def inplace_ok(*tensors: Tensor | None) -> bool:
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


def elemt(
    input: Tensor, mean: Tensor, invstd: Tensor, weight: Tensor | None, bias: Tensor | None
) -> Tensor:
    scale = invstd if weight is None else weight * invstd
    shift = -mean * scale if bias is None else bias - mean * scale
    out = input * per_channel(scale, input)
    if inplace_ok(input, mean, invstd, weight, bias):
        # in place on the product: autograd needs the factors of a product, not the
        # product, and addcmul with a broadcast first operand is slower on a CPU
        out = out.add_(per_channel(shift, input))
    else:  # under vmap the shift may be batched where the product is not
        out = out + per_channel(shift, input)
    return out.to(input.dtype)


def backward_reduce(dy: Tensor, centered: Tensor) -> tuple[Tensor, Tensor]:
    dims = reduce_dims(dy)
    return dy.sum(dims), (dy * centered).sum(dims)


def backward_elemt(
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
    if torch.is_grad_enabled() or not inplace_ok(dy, weight, sum_dy, sum_dy_xmu):
        # out of place (vmap has no batching rule for addcmul_)
        grad_input = torch.addcmul(per_channel(shift, dy), centered, per_channel(slope, dy))
        return torch.addcmul(grad_input, dy, per_channel(gain, dy))
    # three in-place passes over the one buffer: large temporaries cost more than the
    # arithmetic on a CPU (every fresh page has to be faulted in)
    grad_input = centered.mul_(per_channel(slope, dy)).add_(per_channel(shift, dy))
    return grad_input.addcmul_(dy, per_channel(gain, dy))


def _unwrap_for_update(t: Tensor) -> Tensor:
    functorch = torch._C._functorch
    while functorch.is_functorch_wrapped_tensor(t) and not functorch.is_batchedtensor(t):
        t = functorch.get_unwrapped(t)
    return t


def fold_running_stats(
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


def fast_apply(function: type[torch.autograd.Function], *args: Any) -> Any:
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
