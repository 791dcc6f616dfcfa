"""Timing helpers for the book's cost tables and the benchmark scripts.

Wall-clock timing of small GPU operations is meaningless unless the GPU is synchronized
before reading the clock (kernels run asynchronously), so every measurement here
synchronizes CUDA when it is in use. Report the best of several runs for "how fast can it
go" and the median for "what does a run typically take".
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from normlab._validation import check_int, check_positive_int

__all__ = ["Timing", "time_call", "time_forward_backward"]


@dataclass(frozen=True)
class Timing:
    """Wall times of repeated calls, in seconds."""

    best: float
    median: float
    repeats: int

    def __str__(self) -> str:
        best, median = self.best * 1e3, self.median * 1e3
        return f"best {best:.3f} ms, median {median:.3f} ms ({self.repeats} runs)"


def _synchronize(device: torch.device | str | None) -> None:
    if device is None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
    elif torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    fn: Callable[[], object],
    *,
    repeats: int = 10,
    warmup: int = 1,
    device: torch.device | str | None = None,
) -> Timing:
    """Time ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls.

    Args:
        fn: a function of no arguments (wrap arguments with a lambda).
        repeats: timed calls, at least 1.
        warmup: untimed calls first (the first CUDA call also loads kernels).
        device: device to synchronize; default: CUDA whenever it is initialized.

    Returns:
        A :class:`Timing` with the best and the median wall time.
    """
    repeats = check_positive_int(repeats, "repeats")
    warmup = check_int(warmup, "warmup")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return Timing(best=min(times), median=statistics.median(times), repeats=repeats)


def time_forward_backward(
    module: nn.Module,
    *inputs: torch.Tensor,
    repeats: int = 10,
    warmup: int = 2,
) -> Timing:
    """Time one forward and backward pass: ``module(*inputs).sum().backward()``.

    Inputs that require gradients receive them, as do the module's parameters; gradients
    are cleared before every call so that accumulation does not add work.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not inputs:
        raise ValueError("time_forward_backward needs at least one input tensor")

    def step() -> None:
        for tensor in (*inputs, *module.parameters()):
            tensor.grad = None
        module(*inputs).sum().backward()

    device = inputs[0].device
    return time_call(step, repeats=repeats, warmup=warmup, device=device)
