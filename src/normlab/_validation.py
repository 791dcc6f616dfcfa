"""Argument checks shared by every module.

Each check raises before any computation, with a message that names the argument, says what
was expected and what was given. Keeping them in one place keeps the wording uniform.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = [
    "check_tensor",
    "check_floating",
    "check_ndim",
    "check_nonempty",
    "check_int",
    "check_positive_int",
    "check_nonnegative_int",
    "check_dims",
    "check_shape",
    "check_input_shape",
    "check_real",
    "check_positive_float",
    "check_nonnegative_float",
    "check_fraction",
    "check_batch",
    "check_choice",
    "check_bool",
    "check_callable",
    "check_finite",
    "check_finite_positive_float",
    "check_floating_dtype",
    "check_same_device",
    "check_integer_labels",
    "check_class_indices",
    "check_probabilities",
    "check_module",
    "check_one_sided_smoothing",
    "check_critic_scores",
]


def check_tensor(x: object, name: str) -> torch.Tensor:
    """Raise ``TypeError`` unless ``x`` is a ``torch.Tensor``; return it."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_floating(x: object, name: str) -> torch.Tensor:
    """Raise ``TypeError`` unless ``x`` is a real floating-point tensor; return it.

    Callers rebind the argument to the result (``x = check_floating(x, "x")``), which is
    what tells a type checker that ``x`` is a tensor from there on.
    """
    x = check_tensor(x, name)
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float16/bfloat16/float32/float64), "
            f"got dtype {x.dtype}"
        )
    return x


def check_ndim(x: torch.Tensor, name: str, allowed: int | Sequence[int], what: str = "") -> None:
    """Raise ``ValueError`` unless ``x.ndim`` is one of ``allowed``."""
    allowed = (allowed,) if isinstance(allowed, int) else tuple(allowed)
    if x.ndim not in allowed:
        expected = " or ".join(f"{d}-D" for d in allowed)
        extra = f" {what}" if what else ""
        raise ValueError(
            f"{name} must be a {expected} tensor{extra}, got a {x.ndim}-D tensor of shape "
            f"{tuple(x.shape)}"
        )


def check_nonempty(x: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``x`` has no elements."""
    if x.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got a tensor of shape {tuple(x.shape)}")


def check_batch(x: object, name: str, what: str) -> torch.Tensor:
    """Raise unless ``x`` is a non-empty floating-point batch with at least 2 dimensions.

    ``what`` names the batch in the message (``"a batch of samples"``); the first dimension is
    the batch, the others the features of one element.
    """
    x = check_floating(x, name)
    if x.ndim < 2:
        raise ValueError(
            f"{name} must be {what} of shape (N, *features) with at least 2 dimensions, got a "
            f"{x.ndim}-D tensor of shape {tuple(x.shape)}; use x.reshape(-1, 1) for scalars"
        )
    check_nonempty(x, name)
    return x


def check_int(value: object, name: str) -> int:
    """Raise ``TypeError`` unless ``value`` is an integer (bools are rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    return int(value)


def check_positive_int(value: object, name: str) -> int:
    """Raise unless ``value`` is an int >= 1; return it."""
    value = check_int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be a positive int (>= 1), got {value}")
    return value


def check_nonnegative_int(value: object, name: str) -> int:
    """Raise unless ``value`` is an int >= 0 (a count that may be zero); return it."""
    value = check_int(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_dims(dim: int | Sequence[int] | None, ndim: int, name: str = "dim") -> tuple[int, ...]:
    """Turn ``dim`` into a tuple of distinct non-negative axes of a tensor with ``ndim`` axes.

    ``None`` and ``()`` both mean every axis, as in ``torch.linalg.vector_norm``; a 0-d
    tensor accepts 0 and -1, as in PyTorch.
    """
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, numbers.Integral) and not isinstance(dim, bool):
        dims = (dim,)
    elif isinstance(dim, (tuple, list, torch.Size)):
        dims = tuple(dim)
    else:
        raise TypeError(
            f"{name} must be an int, a tuple of ints or None, got {type(dim).__name__} ({dim!r})"
        )
    if not dims:
        return tuple(range(ndim))
    rank = max(ndim, 1)  # a 0-d tensor accepts dim 0 / -1, as in PyTorch
    out = []
    for given in dims:
        d = check_int(given, name)
        if not -rank <= d < rank:
            raise ValueError(
                f"{name} must index an axis of a {ndim}-D tensor "
                f"(in [{-rank}, {rank - 1}]), got {d}"
            )
        out.append(d % rank)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat an axis, got {dims}")
    return tuple(out)


def check_shape(value: object, name: str, what: str = "") -> tuple[int, ...]:
    """Raise unless ``value`` is a non-empty tuple (list, ``torch.Size``) of positive ints;
    return it as a tuple. ``what`` is appended to the message, e.g. what the shape is of."""
    if isinstance(value, torch.Size):
        value = tuple(value)
    if not isinstance(value, (tuple, list)) or not value:
        raise TypeError(f"{name} must be a non-empty tuple of ints{what}, got {value!r}")
    return tuple(check_positive_int(s, f"{name}[{i}]") for i, s in enumerate(value))


def check_input_shape(value: object, name: str = "input_shape") -> tuple[int, ...]:
    """:func:`check_shape` for the shape of one input of a network (without the batch axis),
    as the Lipschitz functions take it."""
    return check_shape(value, name, " (the shape of one input, without the batch axis)")


def check_real(value: object, name: str) -> float:
    """Raise unless ``value`` is a real number (not bool, not NaN); return it as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN")
    return value


def check_positive_float(value: object, name: str) -> float:
    """Raise unless ``value`` is a real number > 0; return it as float."""
    value = check_real(value, name)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_nonnegative_float(value: object, name: str) -> float:
    """Raise unless ``value`` is a real number >= 0; return it as float."""
    value = check_real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_fraction(value: object, name: str, *, closed: bool = True) -> float:
    """Raise unless ``value`` lies in [0, 1] (or (0, 1) when ``closed`` is False)."""
    value = check_real(value, name)
    ok = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    if not ok:
        interval = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def check_choice(value: object, name: str, choices: Sequence[object]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")


def check_bool(value: object, name: str) -> bool:
    """Raise ``TypeError`` unless ``value`` is a bool (a string such as ``"no"`` is truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} ({value!r})")
    return value


def check_callable(value: object, name: str, what: str = "") -> Callable[..., Any]:
    """Raise ``TypeError`` unless ``value`` is callable (``what`` says what it should be);
    return it."""
    if not callable(value):
        extra = f" ({what})" if what else ""
        raise TypeError(f"{name} must be callable{extra}, got {type(value).__name__}")
    return value


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` if ``x`` holds a NaN or an infinity.

    Called before LAPACK and before searches whose comparisons a NaN would silently defeat:
    a NaN matrix can crash oneMKL's eigenvalue solver, and ``nan > best`` is always False.
    """
    finite = torch.isfinite(x.detach())
    if not bool(finite.all()):
        bad = x.detach()[~finite]
        kinds = " and ".join(
            kind
            for kind, present in (
                ("NaN", bool(bad.isnan().any())),
                ("inf", bool(bad.isinf().any())),
            )
            if present
        )
        raise ValueError(
            f"{name} must be finite, got {bad.numel()} non-finite entries ({kinds}) in a "
            f"tensor of shape {tuple(x.shape)}"
        )
    return x


def check_finite_positive_float(value: object, name: str) -> float:
    """Raise unless ``value`` is a finite real number > 0 (an ``eps`` of inf zeroes outputs)."""
    value = check_positive_float(value, name)
    if math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_floating_dtype(dtype: object, name: str = "dtype") -> torch.dtype:
    """Raise ``TypeError`` unless ``dtype`` is a floating-point ``torch.dtype``."""
    if not isinstance(dtype, torch.dtype):
        raise TypeError(
            f"{name} must be a torch.dtype such as torch.float32, got {type(dtype).__name__} "
            f"({dtype!r})"
        )
    if not dtype.is_floating_point:
        raise TypeError(
            f"{name} must be a floating-point dtype (float16/bfloat16/float32/float64), got {dtype}"
        )
    return dtype


def check_same_device(x: torch.Tensor, name: str, reference: torch.Tensor, ref_name: str) -> None:
    """Raise ``ValueError`` unless ``x`` lies on ``reference``'s device."""
    if x.device != reference.device:
        raise ValueError(
            f"{name} must be on the same device as {ref_name} ({reference.device}), got {x.device}"
        )


def check_integer_labels(labels: object, name: str) -> torch.Tensor:
    """Raise ``TypeError`` unless ``labels`` is a tensor of integer class indices (not bool)."""
    labels = check_tensor(labels, name)
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise TypeError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    return labels


def check_class_indices(
    labels: torch.Tensor, name: str, num_classes: int, ignore_index: int | None = None
) -> None:
    """Raise ``ValueError`` unless every entry of the integer tensor ``labels`` is a class
    index in ``[0, num_classes)`` (or equals ``ignore_index``); the message names the first
    one that is not."""
    if labels.numel() == 0:
        return
    lowest, highest = torch.aminmax(labels)
    if lowest >= 0 and highest < num_classes:  # the common case: two reductions, no masks
        return
    valid = (labels >= 0) & (labels < num_classes)
    if ignore_index is not None:
        valid |= labels == ignore_index
    if not bool(valid.all()):
        bad = labels[~valid][0].item()
        ignored = "" if ignore_index is None else f" (and is not ignore_index={ignore_index})"
        raise ValueError(f"{name} holds class index {bad}, outside [0, {num_classes}){ignored}")


def check_probabilities(x: torch.Tensor, name: str, dim: int, what: str, where: str) -> None:
    """Raise ``ValueError`` unless the floating tensor ``x`` holds distributions along
    ``dim``: entries >= 0 that sum to 1 up to ``sqrt(machine epsilon)``. That tolerance
    accepts rounding from any normalization (1.5e-8 in float64, 3.5e-4 in float32; every
    softmax output passes) while rejecting what is not a distribution at all. The messages
    say "``name`` must be >= 0" and "``what`` must sum to 1``where``"."""
    tolerance = math.sqrt(torch.finfo(x.dtype).eps)
    if not bool((x >= 0).all()):
        raise ValueError(f"{name} must be >= 0, got a negative (or NaN) entry")
    total = x.sum(dim=dim, dtype=torch.float64)
    worst = (total - 1).abs().max().item() if total.numel() else 0.0
    if not worst <= tolerance:
        raise ValueError(
            f"{what} must sum to 1{where}; the largest deviation is {worst:.3g} "
            f"(tolerance {tolerance:.1e})"
        )


def check_module(value: object, name: str) -> torch.nn.Module:
    """Raise ``TypeError`` unless ``value`` is a ``torch.nn.Module``."""
    if not isinstance(value, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def check_one_sided_smoothing(value: object, name: str) -> float:
    """Raise unless ``value`` is a real number in [0, 1): one-sided label smoothing's range
    (1 would turn every real target into a fake one)."""
    value = check_real(value, name)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1) for one-sided smoothing, got {value}")
    return value


def check_critic_scores(scores: object, batch: int, name: str = "critic") -> torch.Tensor:
    """Raise unless ``scores`` is one score per sample, shape ``(batch,)`` or ``(batch, 1)``.

    A critic with two outputs per sample would otherwise be trained (and penalized) on the
    sum of its outputs, silently.
    """
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"{name} must return a tensor of scores, got {type(scores).__name__}")
    if tuple(scores.shape) not in ((batch,), (batch, 1)):
        raise ValueError(
            f"{name} must return one score per sample, shape ({batch},) or ({batch}, 1), "
            f"got {tuple(scores.shape)}"
        )
    return scores
