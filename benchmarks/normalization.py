"""Forward + backward time of normlab's normalization layers against torch.nn's.

    python benchmarks/normalization.py [--repeats N] [--threads T] [--layers BatchNorm2d ...]

Prints one table per device (the CPU, and CUDA when present) with the best time of each
layer over interleaved repeats and the ratio normlab / torch. The measuring code lives in
the library (normlab.benchmark.benchmark_normalization), so that the book's chapter on the
normalization family can print the same table wherever normlab is installed.
"""

from __future__ import annotations

import argparse

import torch

import normlab
from normlab.benchmark import benchmark_normalization, format_comparisons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed rounds per shape")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch)")
    parser.add_argument("--layers", nargs="*", default=None, help="only these layers")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(
        f"normlab {normlab.__version__} | torch {torch.__version__} | "
        f"{torch.get_num_threads()} CPU threads"
    )
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        rows = benchmark_normalization(device, repeats=args.repeats, layers=args.layers)
        print()
        print(format_comparisons(rows))
        worst = max(rows, key=lambda r: r.ratio)
        print(f"largest ratio on {device}: {worst.ratio:.2f} ({worst.layer} {worst.shape})")


if __name__ == "__main__":
    main()
