"""What the chapters print and show of their runs: the per-seed table and image tiles.

:func:`summarize_seeds` prints every seed of every method and each method's mean ± sd (the
chapters state their results over seeds, not one lucky run); :func:`image_grid` tiles a
batch of generated digits into one picture.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from normlab._validation import (
    check_floating,
    check_nonempty,
    check_nonnegative_int,
    check_positive_int,
)

__all__ = ["summarize_seeds", "image_grid"]


def summarize_seeds(
    runs: Mapping[str, Mapping[Any, Any]],
    row: Callable[[Any], Mapping[str, float]],
    title: str | None = None,
) -> dict[str, dict[str, tuple[float, float]]]:
    """Print one line per method and seed, then each method's mean ± standard deviation.

    The chapters run every experiment over a few seeds and report the spread, not one lucky
    run; this is the table they print.

    Args:
        runs: ``{method: {seed: run}}``, with the same seeds or not for every method.
        row: turns one ``run`` into ``{column: number}``; every run must give the same
            columns.
        title: a line printed above the table.

    Returns:
        ``{method: {column: (mean, sd)}}``, the sample standard deviation (``ddof=1``;
        ``nan`` for a single seed).
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError(
            f"runs must be a non-empty mapping {{method: {{seed: run}}}}, got {runs!r}"
        )
    rows: dict[str, dict[Any, Mapping[str, float]]] = {}
    for method, by_seed in runs.items():
        if not isinstance(by_seed, Mapping) or not by_seed:
            raise ValueError(
                f"runs[{method!r}] must be a non-empty mapping {{seed: run}}, got {by_seed!r}"
            )
        rows[method] = {seed: row(run) for seed, run in by_seed.items()}
    keys = list(next(iter(next(iter(rows.values())).values())))
    for method, by_seed in rows.items():
        for seed, values in by_seed.items():
            if list(values) != keys:
                raise ValueError(
                    f"row gave columns {list(values)} for method {method!r}, seed {seed!r}; "
                    f"expected {keys} as for the first run"
                )
    # cells as text first, so that every column is as wide as its widest cell
    lines: list[list[str]] = [["method", "seed", *keys]]
    summary = {}
    for method, by_seed in rows.items():
        table = np.array([[float(v[k]) for k in keys] for v in by_seed.values()])
        for seed, numbers in zip(by_seed, table, strict=True):
            lines.append([str(method), str(seed), *(f"{v:.3g}" for v in numbers)])
        mean = table.mean(0)
        sd = table.std(0, ddof=1) if len(table) > 1 else np.full(len(keys), np.nan)
        pairs = zip(mean, sd, strict=True)
        lines.append([str(method), "mean", *(f"{m:.3g}±{d:.2g}" for m, d in pairs)])
        summary[method] = {k: (float(m), float(d)) for k, m, d in zip(keys, mean, sd, strict=True)}
    widths = [max(len(line[j]) for line in lines) for j in range(len(keys) + 2)]
    if title is not None:
        print(title)
    for line in lines:
        cells = [line[0].ljust(widths[0] + 1), line[1].rjust(widths[1])]
        cells += [cell.rjust(max(widths[j + 2], 9) + 2) for j, cell in enumerate(line[2:])]
        print("".join(cells))
    return summary


def image_grid(
    images: torch.Tensor,
    columns: int = 8,
    *,
    image_shape: tuple[int, int] = (8, 8),
    pad: int = 1,
    fill: float = -1.0,
) -> torch.Tensor:
    """Tile a batch of grey images into one picture, row by row, for ``plt.imshow``.

    Args:
        images: the images, any shape whose elements split into ``image_shape`` blocks:
            ``(N, H, W)``, ``(N, 1, H, W)`` or flattened ``(N, H·W)`` (an MLP generator's
            output). Detached and moved to the CPU.
        columns: images per row; the last row is padded with ``fill``.
        image_shape: ``(H, W)`` of one image. Default: the 8 × 8 digits.
        pad: pixels of ``fill`` between images and around the border, >= 0.
        fill: the value of the margin; -1 is the background of the digits scaled to
            [-1, 1], and white under ``cmap="gray_r", vmin=-1``.

    Returns:
        A float CPU tensor ``(rows·(H + pad) + pad, columns·(W + pad) + pad)`` with
        ``rows = ceil(N / columns)``.
    """
    images = check_floating(images, "images")
    check_nonempty(images, "images")
    columns = check_positive_int(columns, "columns")
    pad = check_nonnegative_int(pad, "pad")
    if (
        not isinstance(image_shape, tuple)
        or len(image_shape) != 2
        or not all(isinstance(s, int) and s > 0 for s in image_shape)
    ):
        raise ValueError(
            f"image_shape must be a tuple (H, W) of positive ints, got {image_shape!r}"
        )
    height, width = image_shape
    if images.numel() % (height * width) != 0:
        raise ValueError(
            f"images of shape {tuple(images.shape)} ({images.numel()} values) do not split "
            f"into {height} x {width} images"
        )
    images = images.detach().cpu().reshape(-1, height, width)
    rows = -(-len(images) // columns)
    grid = torch.full(
        (rows * (height + pad) + pad, columns * (width + pad) + pad),
        float(fill),
        dtype=images.dtype,
    )
    for i, image in enumerate(images):
        top = pad + (i // columns) * (height + pad)
        left = pad + (i % columns) * (width + pad)
        grid[top : top + height, left : left + width] = image
    return grid
