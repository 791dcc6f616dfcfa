"""The set-up every chapter runs in its first code cell, in one place.

:func:`setup_chapter` picks the device, reads the environment knobs once
(:mod:`~normlab.scaffolding.settings`), seeds every generator, sets the CPU thread count
and the figure format, and prints what it chose, so that the first lines of every
chapter's output say which build, device and seeds produced it. The chapters then draw
every seed through :meth:`ChapterSetup.seed`, so that ``NORMLAB_SEED=k`` shifts them all
at once: the seeds of models, data splits, samplers, generators and noise.

A seed fixes a run only for one floating-point path: another CPU (AVX2 or AVX-512 kernels,
Apple Silicon), another thread count or a GPU takes another path through a short, chaotic
training run. That is why the chapters state their stochastic claims over several seeds,
and why ``make claims`` re-runs them under other offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from normlab._validation import check_int
from normlab.scaffolding.device import get_device, seed_everything
from normlab.scaffolding.settings import full_runs, seed_offset

__all__ = ["ChapterSetup", "setup_chapter"]


@dataclass(frozen=True)
class ChapterSetup:
    """What :func:`setup_chapter` chose.

    Attributes:
        device: where the chapter computes (``NORMLAB_DEVICE``, else CUDA when present).
        full: ``NORMLAB_FULL`` asks for the longer runs.
        seed_offset: ``NORMLAB_SEED``, added to every seed the chapter draws.
        threads: CPU threads PyTorch uses (``None``: left as PyTorch chose).
    """

    device: torch.device
    full: bool
    seed_offset: int
    threads: int | None

    def seed(self, k: int = 0) -> int:
        """The chapter's ``k``-th seed: ``k + NORMLAB_SEED``."""
        k = check_int(k, "k")
        if k < 0:
            raise ValueError(f"k must be a non-negative int, got {k}")
        return self.seed_offset + k

    def seeds(self, n: int, start: int = 0) -> list[int]:
        """``n`` consecutive seeds: ``[seed(start), ..., seed(start + n - 1)]``."""
        n = check_int(n, "n")
        if n < 1:
            raise ValueError(f"n must be a positive int, got {n}")
        return [self.seed(start + i) for i in range(n)]

    def generator(self, k: int = 0, device: torch.device | str | None = "cpu") -> torch.Generator:
        """A ``torch.Generator`` seeded with :meth:`seed` ``(k)`` (on the CPU by default)."""
        gen = torch.Generator(device=device)
        gen.manual_seed(self.seed(k))
        return gen


def _configure_notebook_figures() -> None:
    """Inline SVG figures with the book's style, when running in a Jupyter kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # not in a notebook: nothing to configure
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return  # a terminal IPython (or a test's shell) has no inline backend to configure
    import matplotlib.pyplot as plt

    # `%matplotlib inline` even when MPLBACKEND=Agg is set: otherwise figures vanish
    shell.run_line_magic("matplotlib", "inline")
    shell.run_line_magic("config", 'InlineBackend.figure_formats = ["svg"]')
    plt.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3})


def setup_chapter(*, threads: int | None = 1, quiet: bool = False) -> ChapterSetup:
    """Set up a chapter: device, knobs, seeds, threads and figures; print the choices.

    Args:
        threads: CPU threads for PyTorch when computing on the CPU. The chapters' models
            are tiny: a second thread mostly adds synchronization, and on a busy machine
            threads waiting for each other slowed chapters 5-50x (measured), so the default
            is one. ``None`` leaves PyTorch's choice.
        quiet: do not print the summary line.

    Returns:
        A :class:`ChapterSetup`; ``setup.seed(k)`` is the chapter's ``k``-th seed.

    Raises:
        ValueError: an environment knob holds an invalid value (see :mod:`.settings`).
    """
    from normlab import __version__  # when called: normlab imports this module

    if threads is not None:
        threads = check_int(threads, "threads")
        if threads < 1:
            raise ValueError(f"threads must be a positive int or None, got {threads}")
    device = get_device()
    setup = ChapterSetup(
        device=device,
        full=full_runs(),
        seed_offset=seed_offset(),
        threads=threads if device.type == "cpu" else None,
    )
    seed_everything(setup.seed(0))
    if setup.threads is not None:
        torch.set_num_threads(setup.threads)
    _configure_notebook_figures()
    if not quiet:
        runs = "full (NORMLAB_FULL)" if setup.full else "default"
        # two lines, each within the book's 80-character code column
        print(f"normlab {__version__} | torch {torch.__version__} | device {device}")
        print(f"seed offset {setup.seed_offset} | {runs} runs")
    return setup
