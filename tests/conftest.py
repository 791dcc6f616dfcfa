"""Shared test configuration: deterministic hypothesis, quiet progress bars, device fixture."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

import normlab

os.environ.setdefault("NORMLAB_QUIET", "1")

# Property tests draw the same examples on every run (seeded by the test's name), so a
# failure in CI reproduces locally.
settings.register_profile(
    "normlab",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("normlab")


@pytest.fixture(params=normlab.scaffolding.available_devices(), ids=str)
def device(request) -> torch.device:
    """Every device the tests can run on: the CPU, and CUDA when present."""
    return request.param


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
