"""Benchmark: the cost of spectral normalization, and the accuracy of its power iteration.

Run from the repository root (after ``make install``)::

    .venv/bin/python benchmarks/spectral_norm.py             # a minute or two on 2 CPU cores
    .venv/bin/python benchmarks/spectral_norm.py --quick     # a few seconds, noisier
    .venv/bin/python benchmarks/spectral_norm.py --threads 1 # steadier on a busy machine
    NORMLAB_DEVICE=cuda .venv/bin/python benchmarks/spectral_norm.py

It prints three tables.

1. Time per critic step (a real and a fake batch through the critic in one call,
   Wasserstein loss, backward, Adam step) for critics whose every layer is spectrally normalized by
   ``normlab.spectral_norm`` or by ``torch.nn.utils.parametrizations.spectral_norm``, for the
   same critics without normalization, with the gradient penalty of WGAN-GP
   (``normlab.gan.gradient_penalty``, λ = 10) and with weight clipping
   (``normlab.gan.clip_weights``, c = 0.01).
2. Ratios: the library against PyTorch (target: at most 1.05), spectral normalization
   against no constraint, and the gradient penalty and clipping against spectral
   normalization (Miyato et al., 2018, report SN to be far cheaper than the penalty).
3. The relative error of the power-iteration estimate of σ(W) against the number of
   iterations from a random start, for freshly initialized layers (mean over starts).

The variants are timed in interleaved rounds; each ratio is the median over rounds of the
per-round ratio of median step times, which cancels most of the drift of a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

import normlab
from normlab import gan

Factory = Callable[[], nn.Module]
Variant = tuple[Factory, dict[str, object]]


# --------------------------------------------------------------------------- critics


def ring_critic() -> nn.Module:
    """The ring critic of Chapter 10: ``normlab.gan.MLPCritic(2, (64, 64))``."""
    return gan.MLPCritic(2, (64, 64))


def digits_critic() -> nn.Module:
    """The digits critic of Chapter 10: ``normlab.gan.ConvCritic(1, 32)`` on 8 x 8 images."""
    return gan.ConvCritic(1, 32)


def wide_critic() -> nn.Module:
    """A wider MLP critic on flattened 28 x 28 inputs, where matrix products dominate."""
    return gan.MLPCritic(784, (1024, 1024))


CRITICS: dict[str, tuple[Factory, tuple[int, ...], int]] = {
    "ring MLP 2-64-64-1": (ring_critic, (2,), 128),
    "digits conv critic": (digits_critic, (1, 8, 8), 64),
    "wide MLP 784-1024-1024-1": (wide_critic, (784,), 64),
}


def normalized(factory: Factory, spectral_norm: Callable[[nn.Module], nn.Module]) -> Factory:
    """The same critic with ``spectral_norm`` applied to every Linear and Conv2d layer."""

    def make() -> nn.Module:
        return normlab.spectrally_normalize(factory(), spectral_norm)

    return make


def timed_critic_step(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    gp_weight: float = 0.0,
    clip_value: float | None = None,
) -> Callable[[], object]:
    """One Wasserstein critic update, :func:`normlab.gan.critic_step` (the step that
    :func:`normlab.gan.train_gan` runs), as a function of no arguments for ``time_call``.

    Real and fake samples go through the critic in one call (so one power iteration per
    step).
    """
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    options = {"gp_weight": gp_weight, "clip_value": clip_value}
    return lambda: gan.critic_step(critic, optimizer, real, fake, **options)


# --------------------------------------------------------------------------- timing

VARIANTS = ("plain", "torch SN", "normlab SN", "GP", "clip")
RATIOS = {
    "normlab / torch": ("normlab SN", "torch SN"),
    "SN / plain": ("normlab SN", "plain"),
    "GP / SN": ("GP", "normlab SN"),
    "clip / SN": ("clip", "normlab SN"),
}


def variants_of(factory: Factory) -> dict[str, Variant]:
    return {
        "plain": (factory, {}),
        "torch SN": (normalized(factory, torch_spectral_norm), {}),
        "normlab SN": (normalized(factory, normlab.spectral_norm), {}),
        "GP": (factory, {"gp_weight": 10.0}),
        "clip": (factory, {"clip_value": 0.01}),
    }


def time_variants(
    variants: dict[str, Variant],
    input_shape: tuple[int, ...],
    batch: int,
    device: torch.device,
    rounds: int,
    repeats: int,
) -> dict[str, list[float]]:
    """Median seconds per step of each variant, for each of ``rounds`` interleaved rounds."""
    torch.manual_seed(0)
    real = torch.randn(batch, *input_shape, device=device)
    fake = torch.randn(batch, *input_shape, device=device)
    steps = {}
    for name, (make, options) in variants.items():
        torch.manual_seed(0)
        steps[name] = timed_critic_step(make().to(device), real, fake, **options)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(
                normlab.scaffolding.time_call(step, repeats=repeats, warmup=3).median
            )
    return times


def paired_ratio(times: dict[str, list[float]], numerator: str, denominator: str) -> float:
    pairs = zip(times[numerator], times[denominator], strict=True)
    return statistics.median(a / b for a, b in pairs)


def cost_table(device: torch.device, rounds: int, repeats: int) -> list[dict[str, object]]:
    rows = []
    for critic_name, (factory, shape, batch) in CRITICS.items():
        times = time_variants(variants_of(factory), shape, batch, device, rounds, repeats)
        row: dict[str, object] = {
            "critic": critic_name,
            "batch": batch,
            "ms": {k: 1e3 * statistics.median(v) for k, v in times.items()},
        }
        for ratio, (numerator, denominator) in RATIOS.items():
            row[ratio] = paired_ratio(times, numerator, denominator)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- accuracy


LAYERS: dict[str, Factory] = {
    "Linear(128, 128)": lambda: nn.Linear(128, 128),
    "Linear(1024, 1024)": lambda: nn.Linear(1024, 1024),
    "Conv2d(32, 64, 4) as 64 x 512": lambda: nn.Conv2d(32, 64, 4),
}
ITERATIONS = (1, 2, 3, 5, 10, 15, 20, 50, 100)


def accuracy_table(trials: int) -> dict[str, list[float]]:
    """Mean relative error of the estimate after k iterations from a random start (PyTorch's
    order: from v), for freshly initialized layers, in float64."""
    table = {}
    for name, make in LAYERS.items():
        torch.manual_seed(0)
        W = make().weight.detach().to(torch.float64).flatten(1)
        exact = torch.linalg.matrix_norm(W, 2)
        errors = []
        for k in ITERATIONS:
            g = torch.Generator().manual_seed(1)
            total = 0.0
            for _ in range(trials):
                v0 = torch.randn(W.shape[1], dtype=W.dtype, generator=g)
                sigma, _, _ = normlab.power_iteration(W, k, v=v0)
                total += ((exact - sigma) / exact).item()
            errors.append(total / trials)
        s = torch.linalg.svdvals(W)
        table[f"{name} (s2/s1 = {(s[1] / s[0]).item():.3f})"] = errors
    return table


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and repeats")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: PyTorch's choice); 1 gives steadier numbers "
        "on a busy machine",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = normlab.scaffolding.get_device()
    rounds, repeats, trials = (3, 10, 5) if args.quick else (9, 30, 20)
    print(
        f"normlab {normlab.__version__} | torch {torch.__version__} | device {device} | "
        f"threads {torch.get_num_threads()}"
    )
    rows = cost_table(device, rounds, repeats)

    print("\nTime per critic step (ms, median over rounds)")
    header = f"{'critic':<26} {'batch':>5} " + " ".join(f"{v:>10}" for v in VARIANTS)
    print(header)
    print("-" * len(header))
    for row in rows:
        ms = row["ms"]
        cells = " ".join(f"{ms[v]:10.3f}" for v in VARIANTS)
        print(f"{row['critic']:<26} {row['batch']:>5} {cells}")

    print("\nRatios of time per critic step (medians of paired per-round ratios)")
    header = f"{'critic':<26} " + " ".join(f"{r:>15}" for r in RATIOS)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['critic']:<26} " + " ".join(f"{row[r]:15.3f}" for r in RATIOS))

    print(
        f"\nRelative error of the power-iteration estimate after k iterations "
        f"(mean of {trials} random starts)"
    )
    table = accuracy_table(trials)
    width = max(len(name) for name in table)
    print(f"{'layer':<{width}} " + " ".join(f"{f'k={k}':>8}" for k in ITERATIONS))
    for name, errors in table.items():
        print(f"{name:<{width}} " + " ".join(f"{e:8.1e}" for e in errors))


if __name__ == "__main__":
    sys.exit(main())
