"""Seed-steps per second of GAN training: K seeds at once (train_gan_ensemble) against the
same K seeds one by one (train_gan), on the ring of Gaussians.

    python benchmarks/ensemble.py [--seeds 1 4 8 16] [--steps 40] [--repeats 3]
                                  [--batch-size 256] [--width 64] [--threads 1]
                                  [--variants gan gp sn] [--vmap]

A "seed-step" is one generator step (with its critic step) of one seed: the batched run of K
seeds for S steps does K·S of them. Both paths train the same models (a 2-W-W-2 generator,
a 2-W-W-1 critic, issue 11's set-up at W = 64, batch 256), the same settings and seeds, and
are timed as whole calls (set-up included), interleaved A/B/A/B... so that a change in the
machine's load hits both; the table gives the best of the repeats and the ratio
batched / one-by-one of seed-steps per second. The machine's load average is printed before
and after: on a shared machine, read the ratios, not the absolute rates.

Variants: ``gan`` non-saturating GAN, Adam; ``gp`` WGAN-GP's critic loss and penalty
(λ = 10, one critic step per generator step, to time the penalty itself); ``sn`` SN-GAN
(every critic layer spectrally normalized), hinge loss. ``--vmap`` also times one GAN step
with ``torch.func`` (``stack_module_state`` + ``functional_call`` + ``vmap``), the
alternative to stacked ``baddbmm`` layers that normlab.gan.stacked chose against.
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import torch

import normlab
from normlab import gan

RING = gan.ring_of_gaussians()


def adam(params):
    return torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.999))


def variants(width: int) -> dict[str, dict]:
    def generator():
        return gan.MLPGenerator(2, (width, width), 2)

    def critic():
        return gan.MLPCritic(2, (width, width))

    def sn_critic():
        return normlab.spectrally_normalize(critic())

    common = dict(generator_optimizer=adam, critic_optimizer=adam)
    return {
        "gan": dict(generators=generator, critics=critic, loss="non_saturating", **common),
        "gp": dict(
            generators=generator, critics=critic, loss="wasserstein", gp_weight=10.0, **common
        ),
        "sn": dict(generators=generator, critics=sn_critic, loss="hinge", **common),
    }


def batched(settings: dict, seeds: list[int], steps: int, batch_size: int) -> float:
    options = dict(settings)
    generators, critics = options.pop("generators"), options.pop("critics")
    start = time.perf_counter()
    gan.train_gan_ensemble(
        generators,
        critics,
        RING,
        seeds=seeds,
        steps=steps,
        batch_size=batch_size,
        device="cpu",
        progress=False,
        **options,
    )
    return time.perf_counter() - start


def one_by_one(settings: dict, seeds: list[int], steps: int, batch_size: int) -> float:
    options = dict(settings)
    generators, critics = options.pop("generators"), options.pop("critics")
    start = time.perf_counter()
    for seed in seeds:
        torch.manual_seed(seed)
        generator, critic = generators(), critics()
        gan.train_gan(
            generator,
            critic,
            RING,
            seed=seed,
            steps=steps,
            batch_size=batch_size,
            device="cpu",
            progress=False,
            **options,
        )
    return time.perf_counter() - start


def vmap_step_seconds(n_seeds: int, width: int, batch_size: int, repeats: int) -> dict:
    """Seconds per non-saturating GAN step of ``n_seeds`` seeds: stacked baddbmm layers
    (normlab.gan.StackedMLP) against torch.func's vmap over functional_call."""
    from torch.func import functional_call, stack_module_state, vmap

    def models():
        return (
            [gan.MLPGenerator(2, (width, width), 2) for _ in range(n_seeds)],
            [gan.MLPCritic(2, (width, width)) for _ in range(n_seeds)],
        )

    loss_d, loss_g = gan.seed_losses("non_saturating")
    x = torch.randn(n_seeds, batch_size, 2)
    z = torch.randn(n_seeds, batch_size, 2)

    def stacked_step_factory():
        generators, critics = models()
        g, d = gan.StackedMLP(generators), gan.StackedMLP(critics)
        opt_g, opt_d = adam(g.parameters()), adam(d.parameters())

        def step():
            with torch.no_grad():
                fake = g(z)
            scores = d(torch.cat([x, fake], 1))
            opt_d.zero_grad()
            loss_d(scores[:, :batch_size], scores[:, batch_size:]).sum().backward()
            opt_d.step()
            for p in d.parameters():
                p.requires_grad_(False)
            opt_g.zero_grad()
            loss_g(d(g(z))).sum().backward()
            opt_g.step()
            for p in d.parameters():
                p.requires_grad_(True)

        return step

    def vmap_step_factory():
        generators, critics = models()
        g_params, g_buffers = stack_module_state(generators)
        d_params, d_buffers = stack_module_state(critics)
        g_base = copy.deepcopy(generators[0]).to("meta")
        d_base = copy.deepcopy(critics[0]).to("meta")
        g = vmap(lambda p, b, v: functional_call(g_base, (p, b), (v,)))
        d = vmap(lambda p, b, v: functional_call(d_base, (p, b), (v,)))
        opt_g, opt_d = adam(list(g_params.values())), adam(list(d_params.values()))

        def step():
            with torch.no_grad():
                fake = g(g_params, g_buffers, z)
            scores = d(d_params, d_buffers, torch.cat([x, fake], 1))
            opt_d.zero_grad()
            loss_d(scores[:, :batch_size], scores[:, batch_size:]).sum().backward()
            opt_d.step()
            frozen = {k: v.detach() for k, v in d_params.items()}
            opt_g.zero_grad()
            loss_g(d(frozen, d_buffers, g(g_params, g_buffers, z))).sum().backward()
            opt_g.step()

        return step

    steps = {"baddbmm": stacked_step_factory(), "vmap": vmap_step_factory()}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            for _ in range(3):
                step()  # warm-up
            start = time.perf_counter()
            for _ in range(20):
                step()
            times[name].append((time.perf_counter() - start) / 20)
    return {name: min(values) for name, values in times.items()}


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 4, 8, 16], help="values of K")
    parser.add_argument("--steps", type=int, default=40, help="generator steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timed rounds")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=64, help="hidden width W")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch)")
    parser.add_argument("--variants", nargs="*", default=["gan", "gp", "sn"])
    parser.add_argument("--vmap", action="store_true", help="also time torch.func's vmap")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"normlab {normlab.__version__} | torch {torch.__version__} | "
        f"{torch.get_num_threads()} CPU thread(s) | batch {args.batch_size}, "
        f"2-{args.width}-{args.width}-2 generator, 2-{args.width}-{args.width}-1 critic, "
        f"{args.steps} steps per run, best of {args.repeats}"
    )
    print(f"before: {load()}")
    table = variants(args.width)
    unknown = sorted(set(args.variants) - set(table))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {sorted(table)}")
    for name in args.variants:  # warm-up: first calls pay one-off costs (lazy imports)
        batched(table[name], [0, 1], 2, args.batch_size)
        one_by_one(table[name], [0], 2, args.batch_size)
    best: dict[tuple[str, int, str], list[float]] = {}
    for repeat in range(args.repeats):
        for name in args.variants:
            for n_seeds in args.seeds:
                seeds = list(range(n_seeds))
                runs = [("batched", batched), ("one by one", one_by_one)]
                if repeat % 2:  # A/B, then B/A: neither path always runs first
                    runs.reverse()
                for label, run in runs:
                    seconds = run(table[name], seeds, args.steps, args.batch_size)
                    best.setdefault((name, n_seeds, label), []).append(seconds)
    print()
    head = ("variant", "K", "one by one", "batched", "ratio", "K-step", "spread")
    units = ("", "", "seed-steps/s", "seed-steps/s", "", "/ 1-seed step", "")
    for row in (head, units):
        print(f"{row[0]:<8}{row[1]:>4}" + "".join(f"{c:>14}" for c in row[2:]))
    for name in args.variants:
        single = min(best[name, args.seeds[0], "one by one"]) / args.seeds[0]
        for n_seeds in args.seeds:
            work = n_seeds * args.steps
            alone = min(best[name, n_seeds, "one by one"])
            together = min(best[name, n_seeds, "batched"])
            spread = max(best[name, n_seeds, "batched"]) / together - 1
            print(
                f"{name:<8}{n_seeds:>4}{work / alone:>14.0f}{work / together:>14.0f}"
                f"{alone / together:>14.2f}{together / single:>13.1f}x{100 * spread:>13.0f}%"
            )
    if args.vmap:
        print()
        for n_seeds in args.seeds:
            times = vmap_step_seconds(n_seeds, args.width, args.batch_size, args.repeats)
            print(
                f"one GAN step of K={n_seeds:>2} seeds: stacked baddbmm "
                f"{1e3 * times['baddbmm']:.2f} ms, torch.func vmap {1e3 * times['vmap']:.2f} ms "
                f"(vmap / baddbmm {times['vmap'] / times['baddbmm']:.2f})"
            )
    print()
    print(f"after: {load()}")
    print(
        "ratio: batched seed-steps per second / one by one; 'K-step / 1-seed step': "
        "time of one step of all K seeds in units of one single-seed train_gan "
        "step; spread: slowest / fastest batched repeat - 1"
    )


if __name__ == "__main__":
    main()
