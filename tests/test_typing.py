"""What a user's type checker sees: return types that follow a flag (``@overload``).

mypy checks this file with the library (``make lint``; ``[tool.mypy]`` in pyproject.toml):
``assert_type`` fails the check when an overload resolves to another type. Run by pytest,
the same calls check the types the values really have.
"""

from __future__ import annotations

import torch
from typing_extensions import assert_type  # typing has it from 3.11; torch requires it

from normlab.gan import GaussianMixture, mode_statistics, ring_of_gaussians


def _mixture() -> GaussianMixture:
    return ring_of_gaussians(4, dtype=torch.float64)


def test_sample_without_modes_is_a_tensor() -> None:
    mixture = _mixture()
    samples = assert_type(mixture.sample(10), torch.Tensor)
    assert isinstance(samples, torch.Tensor) and samples.shape == (10, 2)
    # the example: a strict type check rejected it while sample was typed as a union
    statistics = mode_statistics(mixture.sample(100), mixture)
    assert (statistics.n_samples, statistics.n_modes) == (100, 4)


def test_sample_with_modes_is_a_pair() -> None:
    samples, modes = assert_type(
        _mixture().sample(10, return_modes=True), tuple[torch.Tensor, torch.Tensor]
    )
    assert samples.shape == (10, 2) and modes.shape == (10,) and modes.dtype == torch.int64


def _draw(return_modes: bool) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    # a flag known only at run time: the union, which the caller must narrow
    return assert_type(
        _mixture().sample(10, return_modes=return_modes),
        torch.Tensor | tuple[torch.Tensor, torch.Tensor],
    )


def test_sample_with_a_runtime_flag_is_either() -> None:
    assert isinstance(_draw(True), tuple)
    assert isinstance(_draw(False), torch.Tensor)
