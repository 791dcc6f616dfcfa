"""A fixed CPU workload that measures how fast this machine runs the chapters' kind of work.

The chapters train tiny networks on one CPU thread, where a step costs mostly Python and
operator overhead, not arithmetic. This workload does the same (a small MLP, forward,
backward and an SGD step, on one thread), so its time scales with the machine's speed and
with how busy it is the way the chapters' times do. The notebook-time gate
(chapters/conftest.py) expresses every budget in units of this workload, measured in the
same run, so that a slower laptop or a busy CI machine does not fail on time.

Run it alone to see this machine's unit: ``python tools/reference_workload.py``.
"""

from __future__ import annotations

import time

import torch

#: Seconds the workload took on the machine the chapters' budgets were set on
#: (2-core x86-64 VM, AVX-512, idle, best of 5 runs, torch 2.13.0 CPU).
REFERENCE_SECONDS = 0.50


def run_workload(steps: int = 1500) -> float:
    """Train a 64-128-128-10 MLP for ``steps`` SGD steps on one thread; return the seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(128, 64, generator=gen)
        y = torch.randint(0, 10, (128,), generator=gen)
        model = torch.nn.Sequential(
            torch.nn.Linear(64, 128), torch.nn.ReLU(),
            torch.nn.Linear(128, 128), torch.nn.ReLU(),
            torch.nn.Linear(128, 10),
        )
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        start = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)


def machine_units(repeats: int = 3) -> float:
    """How many times slower than the reference machine this one is right now (best of repeats)."""
    best = min(run_workload() for _ in range(repeats))
    return best / REFERENCE_SECONDS


if __name__ == "__main__":
    times = [run_workload() for _ in range(5)]
    print("workload seconds:", " ".join(f"{t:.3f}" for t in times))
    print(f"best {min(times):.3f} s = {min(times) / REFERENCE_SECONDS:.2f} reference units")
