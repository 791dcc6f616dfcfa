"""Timing helpers for the book's cost tables and the benchmark scripts.

Wall-clock timing of small GPU operations is meaningless unless the GPU is synchronized
before reading the clock (kernels run asynchronously), so every measurement here
synchronizes CUDA when it is in use. Report the best of several runs for "how fast can it
go" and the median for "what does a run typically take".
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from normlab._validation import check_int, check_positive_int

__all__ = [
    "Timing",
    "time_call",
    "time_forward_backward",
    "compare_forward_backward",
    "Comparison",
    "benchmark_normalization",
    "format_comparisons",
]


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
    hits all of them alike; compare the ``best`` times. The backward pass receives a dense
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
        if not isinstance(module, nn.Module):
            raise TypeError(f"modules[{name!r}] must be a torch.nn.Module, got {type(module)}")
    if not isinstance(input, torch.Tensor) or not input.is_floating_point():
        raise TypeError("input must be a floating-point torch.Tensor")
    repeats = check_positive_int(repeats, "repeats")
    warmup = check_int(warmup, "warmup")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
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
    for round_ in range(warmup + repeats):
        for name, module in modules.items():
            _synchronize(x.device)
            start = time.perf_counter()
            step(module)
            _synchronize(x.device)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {
        name: Timing(best=min(t), median=statistics.median(t), repeats=repeats)
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
    def ratio(self) -> float:
        """``candidate.best / reference.best``: above 1 the candidate is slower."""
        return self.candidate.best / self.reference.best


def _normalization_cases() -> list[tuple[str, tuple[int, ...], Callable[[object], nn.Module]]]:
    """(layer, input shape, factory taking the module namespace) for the normalization table:
    the shapes of this book's experiments and a few larger, typical ones."""
    return [
        ("BatchNorm1d", (256, 512), lambda m: m.BatchNorm1d(512)),
        ("BatchNorm2d", (64, 32, 8, 8), lambda m: m.BatchNorm2d(32)),
        ("BatchNorm2d", (32, 64, 32, 32), lambda m: m.BatchNorm2d(64)),
        ("BatchNorm3d", (8, 16, 8, 16, 16), lambda m: m.BatchNorm3d(16)),
        ("LayerNorm", (256, 512), lambda m: m.LayerNorm(512)),
        ("LayerNorm", (32, 128, 256), lambda m: m.LayerNorm(256)),
        ("InstanceNorm1d", (32, 64, 256), lambda m: m.InstanceNorm1d(64, affine=True)),
        ("InstanceNorm2d", (16, 64, 32, 32), lambda m: m.InstanceNorm2d(64, affine=True)),
        ("InstanceNorm3d", (4, 16, 8, 16, 16), lambda m: m.InstanceNorm3d(16, affine=True)),
        ("GroupNorm", (64, 32, 8, 8), lambda m: m.GroupNorm(4, 32)),
        ("GroupNorm", (32, 64, 16, 16), lambda m: m.GroupNorm(8, 64)),
    ]


def benchmark_normalization(
    device: torch.device | str | None = None,
    *,
    repeats: int = 20,
    layers: Sequence[str] | None = None,
    seed: int = 0,
) -> list[Comparison]:
    """Forward + backward time of every :mod:`normlab.normalization` layer against its
    ``torch.nn`` twin, at a few representative shapes, measured in one run.

    Args:
        device: where to run; default :func:`normlab.device.get_device`.
        repeats: interleaved timed rounds per shape (see :func:`compare_forward_backward`).
        layers: only these layer names (e.g. ``["BatchNorm2d"]``); default all.
        seed: seed of the inputs.

    Returns:
        One :class:`Comparison` per (layer, shape), in training mode, float32.
    """
    from normlab import normalization
    from normlab.device import get_device

    device = get_device(device)
    rows = []
    generator = torch.Generator().manual_seed(seed)
    for layer, shape, make in _normalization_cases():
        if layers is not None and layer not in layers:
            continue
        x = torch.randn(shape, generator=generator).to(device)
        ours, ref = make(normalization).to(device), make(nn).to(device)
        times = compare_forward_backward({"normlab": ours, "torch": ref}, x, repeats=repeats)
        rows.append(Comparison(layer, shape, str(device), times["normlab"], times["torch"]))
    return rows


def format_comparisons(rows: Sequence[Comparison]) -> str:
    """A plain-text table of :func:`benchmark_normalization`'s rows (best times, in ms)."""
    lines = [
        f"{'layer':<15} {'input shape':<20} {'device':<7} {'normlab':>9} {'torch':>9} {'ratio':>6}"
    ]
    for r in rows:
        lines.append(
            f"{r.layer:<15} {str(r.shape):<20} {r.device:<7} {r.candidate.best * 1e3:9.3f} "
            f"{r.reference.best * 1e3:9.3f} {r.ratio:6.2f}"
        )
    return "\n".join(lines)
