"""Argument checks shared by the normalization pieces, functionals and modules.

The package's internal API: each check raises PyTorch's error type where PyTorch raises
one, with a message that names the argument, what was expected and what was given. The
checks of single values that the whole library uses live in :mod:`normlab._validation`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import cast

from torch import Tensor

from normlab._validation import (
    check_floating,
    check_positive_float,
    check_positive_int,
    check_tensor,
)

__all__ = [
    "check_pieces",
    "check_count",
    "check_eps",
    "check_device",
    "check_param",
    "check_batch_size",
    "check_normalized_shape",
]


def check_pieces(
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
    check_device(input, **per_channel, **full)


def check_count(count: object, name: str, minimum: int) -> None:
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


def check_eps(eps: object) -> float:
    # PyTorch accepts eps = 0 outside batch-norm training (and eps < 0 in layer and group
    # norm); 0 turns a constant slice into 0/0 = NaN, so eps must be > 0 here, and finite:
    # an infinite eps silently maps every input to 0 (the bias).
    if type(eps) is float and 0.0 < eps < math.inf:  # the common case, checked cheaply
        return eps
    eps = check_positive_float(eps, "eps")
    if not math.isfinite(eps):
        raise ValueError(f"eps must be a finite number > 0, got {eps}")
    return eps


def check_device(input: Tensor, **tensors: Tensor | None) -> None:
    """Every given tensor on ``input``'s device (PyTorch's error type, with the names)."""
    for name, t in tensors.items():
        if t is not None and t.device != input.device:
            raise RuntimeError(
                f"{name} is on device {t.device} but input is on device {input.device}; "
                "move them to one device (e.g. module.to(input.device))"
            )


def check_param(t: Tensor | None, name: str, shape: tuple[int, ...], what: str) -> None:
    if t is None:
        return
    check_tensor(t, name)
    if t.shape != shape:
        raise RuntimeError(f"{name} must have shape {shape} ({what}), got {tuple(t.shape)}")


def check_batch_size(input: Tensor, fn: str) -> None:
    values = input.shape[0] * math.prod(input.shape[2:])
    if values == 1:
        raise ValueError(
            f"{fn}: expected more than 1 value per channel when training, got input size "
            f"{tuple(input.shape)}; a batch of one sample with no spatial extent has zero "
            "variance (use batch size >= 2, or eval mode, or a batch-independent "
            "normalization such as group or layer norm)"
        )


# ----------------------------------------------------------------------- functional forms


def check_normalized_shape(normalized_shape: object) -> tuple[int, ...]:
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
