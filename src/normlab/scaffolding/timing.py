"""Timing helpers for the book's cost tables and the benchmark scripts.

Wall-clock timing of small GPU operations is meaningless unless the GPU is synchronized
before reading the clock (kernels run asynchronously), so every measurement here
synchronizes CUDA when it is in use. Report the best of several runs for "how fast can it
go" and the median for "what does a run typically take".
"""

from __future__ import annotations

import collections
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from normlab._validation import check_module, check_nonnegative_int, check_positive_int

__all__ = [
    "Timing",
    "Stopwatch",
    "time_call",
    "time_forward_backward",
    "compare_forward_backward",
    "Comparison",
    "format_comparisons",
    "count_operations",
]


@dataclass(frozen=True)
class Timing:
    """Wall times of repeated calls, in seconds (``samples``: each call's, in order)."""

    best: float
    median: float
    repeats: int
    samples: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __str__(self) -> str:
        best, median = self.best * 1e3, self.median * 1e3
        return f"best {best:.3f} ms, median {median:.3f} ms ({self.repeats} runs)"


class Stopwatch:
    """Accumulated wall time of repeated phases; CUDA events on a GPU, so that timing does
    not force a synchronization at every step (:meth:`collect` synchronizes once).

    ``start()`` and ``stop()`` bracket each phase; :meth:`collect` returns the seconds
    measured since its last call. The GAN training loops time their critic and generator
    steps with it."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.seconds = 0.0
        self.events: list[tuple[Any, Any]] = []
        self._start: Any = None

    def start(self) -> None:
        if self.cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._start = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self.events.append((self._start, end))
        else:
            self.seconds += time.perf_counter() - self._start

    def collect(self) -> float:
        """Seconds measured since the last call."""
        if self.cuda and self.events:
            self.events[-1][1].synchronize()
            self.seconds += sum(a.elapsed_time(b) for a, b in self.events) / 1e3
            self.events.clear()
        seconds, self.seconds = self.seconds, 0.0
        return seconds


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
    warmup = check_nonnegative_int(warmup, "warmup")
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
    check_module(module, "module")
    if not inputs:
        raise ValueError("time_forward_backward needs at least one input tensor")

    def step() -> None:
        for tensor in (*inputs, *module.parameters()):
            tensor.grad = None
        module(*inputs).sum().backward()

    device = inputs[0].device
    return time_call(step, repeats=repeats, warmup=warmup, device=device)


def compare_forward_backward(
    modules: Mapping[str, nn.Module],
    input: torch.Tensor,
    *,
    repeats: int = 20,
    warmup: int = 3,
    seed: int = 0,
) -> dict[str, Timing]:
    """Time forward + backward of several modules on the same input, interleaved.

    Each repeat runs every module once, in turn, so that a slow moment of a shared machine
    hits all of them alike, and the order of the turns is reversed every other round
    (ABBA), so that no module always runs right after another one; compare the ``median``
    times, or, better on a busy machine, the medians of the per-round ratios that
    :class:`Comparison` takes from ``samples``. The backward pass receives a dense
    random output gradient (not the all-ones gradient of ``.sum().backward()``, which
    PyTorch represents as an expanded tensor with zero strides and which some kernels treat
    specially), and fills the gradients of ``input`` and of each module's parameters.

    Args:
        modules: name -> module; every module must map ``input`` to a tensor of one shape.
        input: the input, moved to nothing: put modules and input on one device yourself.
        repeats: timed rounds, at least 1.
        warmup: untimed rounds first.
        seed: seed of the output gradient.

    Returns:
        name -> :class:`Timing` of one forward + backward pass.
    """
    if not modules:
        raise ValueError("modules must name at least one module")
    for name, module in modules.items():
        check_module(module, f"modules[{name!r}]")
    if not isinstance(input, torch.Tensor) or not input.is_floating_point():
        raise TypeError("input must be a floating-point torch.Tensor")
    repeats = check_positive_int(repeats, "repeats")
    warmup = check_nonnegative_int(warmup, "warmup")
    x = input.detach().requires_grad_()
    with torch.no_grad():
        shape = next(iter(modules.values()))(x).shape
    generator = torch.Generator().manual_seed(seed)
    grad = torch.randn(shape, generator=generator, dtype=x.dtype).to(x.device)

    def step(module: nn.Module) -> None:
        for tensor in (x, *module.parameters()):
            tensor.grad = None
        module(x).backward(grad)

    times: dict[str, list[float]] = {name: [] for name in modules}
    order = list(modules.items())
    for round_ in range(warmup + repeats):
        for name, module in order if round_ % 2 == 0 else order[::-1]:
            _synchronize(x.device)
            start = time.perf_counter()
            step(module)
            _synchronize(x.device)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {
        name: Timing(best=min(t), median=statistics.median(t), repeats=repeats, samples=tuple(t))
        for name, t in times.items()
    }


@dataclass(frozen=True)
class Comparison:
    """Forward + backward time of a layer against its reference twin at one input shape."""

    layer: str
    shape: tuple[int, ...]
    device: str
    candidate: Timing
    reference: Timing

    @property
    def round_ratios(self) -> list[float]:
        """candidate / reference time of each interleaved round (empty without samples)."""
        pairs = zip(self.candidate.samples, self.reference.samples, strict=True)
        return [c / r for c, r in pairs if r > 0]

    @property
    def ratio(self) -> float:
        """The median over the rounds of candidate time over reference time (above 1 the
        candidate is slower). Each round runs both back to back, so a slow moment of a busy
        machine slows both and cancels from the ratio; the median ignores the rounds in
        which it hit only one. (``candidate.best / reference.best`` without samples.)"""
        ratios = self.round_ratios
        if not ratios:
            return self.candidate.best / self.reference.best
        return statistics.median(ratios)

    @property
    def ratio_spread(self) -> tuple[float, float]:
        """The 25th and 75th percentiles of :attr:`round_ratios` (``(ratio, ratio)``
        with fewer than two rounds)."""
        ratios = self.round_ratios
        if len(ratios) < 2:
            return self.ratio, self.ratio
        q = statistics.quantiles(ratios, n=4)
        return q[0], q[2]


def format_comparisons(rows: Sequence[Comparison], *, spread: bool = False) -> str:
    """A plain-text table of :class:`Comparison` rows (e.g.
    :func:`normlab.examples.normalization_benchmark.benchmark_normalization`'s): median times in ms
    and :attr:`Comparison.ratio`; with ``spread``, the quartiles of the per-round ratios
    too."""
    times = f"{'normlab':>9} {'torch':>9} {'ratio':>6}"
    header = f"{'layer':<15} {'input shape':<20} {'device':<7} {times}"
    lines = [header + (f" {'quartiles':>11}" if spread else "")]
    for r in rows:
        line = (
            f"{r.layer:<15} {str(r.shape):<20} {r.device:<7} {r.candidate.median * 1e3:9.3f} "
            f"{r.reference.median * 1e3:9.3f} {r.ratio:6.2f}"
        )
        if spread:
            low, high = r.ratio_spread
            line += f"  {low:4.2f}-{high:4.2f}"
        lines.append(line)
    return "\n".join(lines)


class _CountOperations(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def count_operations(module: nn.Module, input: torch.Tensor) -> collections.Counter[str]:
    """The ATen operations one forward + backward pass of ``module`` on ``input``
    dispatches (``module(x).backward(dense gradient)``), by name: the cost that dominates
    a small layer, a few microseconds of dispatch each, whatever their size."""
    check_module(module, "module")
    if not isinstance(input, torch.Tensor) or not input.is_floating_point():
        raise TypeError("input must be a floating-point torch.Tensor")
    x = input.detach().requires_grad_()
    with torch.no_grad():
        shape = module(x).shape
    grad = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    grad = grad.to(x.device)
    with _CountOperations() as counter:
        module(x).backward(grad)
    return counter.counts
