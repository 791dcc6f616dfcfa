"""Chapter 5's cost table: every normalization layer of :mod:`normlab.normalization`
timed against its ``torch.nn`` twin (also run by ``benchmarks/normalization.py``).

The timers themselves are scaffolding (:mod:`normlab.scaffolding.timing`); this module
only chooses the layers and the shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from normlab import normalization
from normlab.scaffolding.device import get_device
from normlab.scaffolding.timing import Comparison, compare_forward_backward

__all__ = ["normalization_cases", "benchmark_normalization"]


def normalization_cases() -> list[tuple[str, tuple[int, ...], Callable[[object], nn.Module]]]:
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
        device: where to run; default :func:`normlab.scaffolding.device.get_device`.
        repeats: interleaved timed rounds per shape (see
            :func:`~normlab.scaffolding.timing.compare_forward_backward`).
        layers: only these layer names (e.g. ``["BatchNorm2d"]``); default all.
        seed: seed of the inputs.

    Returns:
        One :class:`~normlab.scaffolding.timing.Comparison` per (layer, shape), in training
        mode, float32.
    """
    device = get_device(device)
    rows = []
    generator = torch.Generator().manual_seed(seed)
    for layer, shape, make in normalization_cases():
        if layers is not None and layer not in layers:
            continue
        x = torch.randn(shape, generator=generator).to(device)
        ours, ref = make(normalization).to(device), make(nn).to(device)
        times = compare_forward_backward({"normlab": ours, "torch": ref}, x, repeats=repeats)
        rows.append(Comparison(layer, shape, str(device), times["normlab"], times["torch"]))
    return rows
