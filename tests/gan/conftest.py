"""Set-up shared by the GAN tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # These networks are tiny: on a busy 2-core machine, PyTorch's second intra-op thread
    # makes them tens of times slower (threads wait for each other), never faster.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
