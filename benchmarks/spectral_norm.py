"""Benchmark: the cost of spectral normalization, and the accuracy of its power iteration.

Run from the repository root (after ``make install``)::

    .venv/bin/python benchmarks/spectral_norm.py             # about a minute on 2 CPU cores
    .venv/bin/python benchmarks/spectral_norm.py --quick     # a few seconds, noisier
    NORMLAB_DEVICE=cuda .venv/bin/python benchmarks/spectral_norm.py

It prints two tables.

1. Time per critic step (forward on a real and a fake batch, Wasserstein loss, backward,
   Adam step) for critics whose every layer is spectrally normalized by
   ``normlab.spectral_norm`` or by ``torch.nn.utils.parametrizations.spectral_norm``, and
   for the same critics without normalization. The variants are timed in interleaved rounds
   and each ratio is the median over rounds of the per-round ratio of medians, which
   cancels most of the drift of a shared machine.
2. The relative error of the power-iteration estimate of σ(W) against the number of
   iterations from a random start, for freshly initialized layers (mean over starts).
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

Factory = Callable[[], nn.Module]


# --------------------------------------------------------------------------- critics


def ring_critic() -> nn.Module:
    """The 2-D critic of the ring experiments: 2 → 128 → 128 → 1, ReLU."""
    return nn.Sequential(
        nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1)
    )


def digits_critic() -> nn.Module:
    """A small conv critic for 8 × 8 digits: two stride-2 convolutions and a linear layer."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(32, 64, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(64 * 2 * 2, 1),
    )


def wide_critic() -> nn.Module:
    """A wider MLP critic on flattened 28 × 28 inputs, where matrix products dominate."""
    return nn.Sequential(
        nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1)
    )


CRITICS: dict[str, tuple[Factory, tuple[int, ...], int]] = {
    "ring MLP 2-128-128-1": (ring_critic, (2,), 256),
    "digits conv critic": (digits_critic, (1, 8, 8), 64),
    "wide MLP 784-1024-1024-1": (wide_critic, (784,), 64),
}


def normalized(factory: Factory, spectral_norm: Callable[[nn.Module], nn.Module]) -> Factory:
    """The same critic with ``spectral_norm`` applied to every layer that has a weight."""

    def make() -> nn.Module:
        critic = factory()
        for layer in critic.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                spectral_norm(layer)
        return critic

    return make


def critic_step(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> Callable[[], None]:
    """One Wasserstein critic update, as a function of no arguments for ``time_call``."""
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = critic(fake).mean() - critic(real).mean()
        loss.backward()
        optimizer.step()

    return step


# --------------------------------------------------------------------------- timing


def time_variants(
    variants: dict[str, Factory],
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
    for name, make in variants.items():
        torch.manual_seed(0)
        steps[name] = critic_step(make().to(device), real, fake)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(normlab.time_call(step, repeats=repeats, warmup=3).median)
    return times


def paired_ratio(times: dict[str, list[float]], numerator: str, denominator: str) -> float:
    return statistics.median(
        a / b for a, b in zip(times[numerator], times[denominator], strict=True)
    )


def cost_table(device: torch.device, rounds: int, repeats: int) -> list[dict[str, object]]:
    rows = []
    for critic_name, (factory, shape, batch) in CRITICS.items():
        variants = {
            "plain": factory,
            "torch SN": normalized(factory, torch_spectral_norm),
            "normlab SN": normalized(factory, normlab.spectral_norm),
        }
        times = time_variants(variants, shape, batch, device, rounds, repeats)
        rows.append(
            {
                "critic": critic_name,
                "batch": batch,
                "ms": {k: 1e3 * statistics.median(v) for k, v in times.items()},
                "normlab / torch": paired_ratio(times, "normlab SN", "torch SN"),
                "SN / plain": paired_ratio(times, "normlab SN", "plain"),
            }
        )
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
    args = parser.parse_args(argv)
    device = normlab.get_device()
    rounds, repeats, trials = (3, 10, 5) if args.quick else (7, 40, 20)
    print(
        f"normlab {normlab.__version__} | torch {torch.__version__} | device {device} | "
        f"threads {torch.get_num_threads()}"
    )

    print("\nTime per critic step (median ms); ratios are medians of paired per-round ratios")
    header = (
        f"{'critic':<26} {'batch':>5} {'plain':>8} {'torch SN':>9} {'normlab SN':>10} "
        f"{'normlab/torch':>13} {'SN/plain':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in cost_table(device, rounds, repeats):
        ms = row["ms"]
        print(
            f"{row['critic']:<26} {row['batch']:>5} {ms['plain']:8.3f} {ms['torch SN']:9.3f} "
            f"{ms['normlab SN']:10.3f} {row['normlab / torch']:13.3f} {row['SN / plain']:8.2f}"
        )

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
