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

import multiprocessing
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


def _child(queue: multiprocessing.Queue) -> None:
    queue.put(run_workload())


def paired_workload() -> float:
    """The workload in this process and in a second one at the same time; the slower time.

    One process measures the speed of a core; two measure whether two cores are free, which
    is what the chapters' multi-process cells (chapter 6) and the notebook kernel beside
    pytest need. On an idle two-core machine both take the same time; with one core busy
    the pair takes about twice as long.
    """
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    mine = run_workload()
    theirs = queue.get(timeout=600)
    child.join()
    return max(mine, theirs)


def machine_units(repeats: int = 3) -> float:
    """How many times slower than the reference machine this one is now (best of repeats)."""
    best = min(paired_workload() for _ in range(repeats))
    return best / REFERENCE_SECONDS


if __name__ == "__main__":
    times = [run_workload() for _ in range(5)]
    pairs = [paired_workload() for _ in range(3)]
    print("workload seconds, one process: ", " ".join(f"{t:.3f}" for t in times))
    print("workload seconds, two at once: ", " ".join(f"{t:.3f}" for t in pairs))
    print(f"best pair {min(pairs):.3f} s = {min(pairs) / REFERENCE_SECONDS:.2f} reference units")
