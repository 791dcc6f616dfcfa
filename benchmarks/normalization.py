"""Forward + backward time of normlab's normalization layers against torch.nn's.

    python benchmarks/normalization.py [--repeats N] [--threads T [T ...]] [--layers ...]
                                       [--ops]

Prints one table per device (the CPU at each requested thread count, and CUDA when
present): for every layer and input shape the median time of normlab's and of torch's
forward + backward pass, and their ratio, the median over interleaved rounds of
normlab's time / torch's time (each round runs both back to back, in alternating order,
so a slow moment of a busy machine cancels from the ratio), with its quartiles. The
machine's load average is printed before and after each table: on a shared machine,
compare ratios, not times. ``--ops`` adds the number of ATen operations one step
dispatches. The measuring code lives in the library (normlab.scaffolding.timing), so that the
book's chapter on the normalization family can print the same table wherever normlab is
installed.
"""

from __future__ import annotations

import argparse
import os

import torch
from torch import nn

import normlab
from normlab import normalization
from normlab.examples.normalization_benchmark import benchmark_normalization, normalization_cases
from normlab.scaffolding.timing import count_operations, format_comparisons


def _load() -> str:
    if not hasattr(os, "getloadavg"):
        return "load average unavailable"
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def _print_operations(layers: list[str] | None) -> None:
    print(f"\n{'layer':<15} {'input shape':<20} {'normlab ops':>11} {'torch ops':>10}")
    generator = torch.Generator().manual_seed(0)
    for layer, shape, make in normalization_cases():
        if layers is not None and layer not in layers:
            continue
        x = torch.randn(shape, generator=generator)
        ours = sum(count_operations(make(normalization), x).values())
        ref = sum(count_operations(make(nn), x).values())
        print(f"{layer:<15} {str(shape):<20} {ours:11d} {ref:10d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed rounds per shape")
    parser.add_argument(
        "--threads", type=int, nargs="*", default=None, help="CPU thread counts (torch)"
    )
    parser.add_argument("--layers", nargs="*", default=None, help="only these layers")
    parser.add_argument("--ops", action="store_true", help="count ATen operations per step")
    args = parser.parse_args()
    print(f"normlab {normlab.__version__} | torch {torch.__version__}")
    for threads in args.threads or [torch.get_num_threads()]:
        torch.set_num_threads(threads)
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            where = f"{threads} CPU threads" if device == "cpu" else device
            print(f"\n{where}, {args.repeats} rounds | before: {_load()}")
            rows = benchmark_normalization(device, repeats=args.repeats, layers=args.layers)
            print(format_comparisons(rows, spread=True))
            worst = max(rows, key=lambda r: r.ratio)
            print(f"largest ratio on {where}: {worst.ratio:.2f} ({worst.layer} {worst.shape})")
            print(f"after: {_load()}")
    if args.ops:
        _print_operations(args.layers)


if __name__ == "__main__":
    main()
