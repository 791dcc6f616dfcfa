"""Choosing the device, and seeding, so that the same notebooks and tests run on CPU or GPU.

The rule is one line: an explicit argument wins, then the environment variable
``NORMLAB_DEVICE`` (``cpu``, ``cuda`` or ``cuda:N``), then CUDA when it is available, else CPU.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from normlab._validation import check_int

__all__ = ["DEVICE_ENV_VAR", "get_device", "available_devices", "seed_everything"]

#: Name of the environment variable that forces a device for notebooks and tests.
DEVICE_ENV_VAR = "NORMLAB_DEVICE"


def _parse(spec: str, source: str) -> torch.device:
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{source} must be 'cpu', 'cuda' or 'cuda:N', got {spec!r}") from err
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"{source} must be 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"{source} asks for {spec!r}, but CUDA is not available in this PyTorch "
                f"build ({torch.__version__}) or on this machine; use 'cpu' instead"
            )
        index = 0 if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise RuntimeError(
                f"{source} asks for {spec!r}, but only {torch.cuda.device_count()} CUDA "
                "device(s) are visible"
            )
    return device


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    Args:
        device: an explicit choice (``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a
            ``torch.device``). When ``None``, the environment variable ``NORMLAB_DEVICE``
            decides if it is set, else CUDA is used when available, else the CPU.

    Returns:
        A ``torch.device``.

    Raises:
        ValueError: the argument or ``NORMLAB_DEVICE`` is not ``cpu``/``cuda``/``cuda:N``.
        RuntimeError: CUDA was asked for but is not available.
    """
    if device is not None:
        if isinstance(device, torch.device):
            return _parse(str(device), "device")
        if not isinstance(device, str):
            raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
        return _parse(device, "device")
    forced = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if forced:
        return _parse(forced, f"the environment variable {DEVICE_ENV_VAR}")
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def available_devices() -> list[torch.device]:
    """Every device the tests should run on: the CPU, plus CUDA when it is available.

    When ``NORMLAB_DEVICE`` is set, only that device is returned, so that
    ``NORMLAB_DEVICE=cpu`` keeps a GPU machine's test run on the CPU.
    """
    if os.environ.get(DEVICE_ENV_VAR, "").strip():
        return [get_device()]
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    return devices


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and every CUDA device) generators.

    Seeding makes a run repeatable on the same machine and software versions; it does not
    make CPU and GPU results equal, since their kernels round differently.
    """
    seed = check_int(seed, "seed")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must lie in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeding the legacy global generator is the point
    torch.manual_seed(seed)  # also seeds every CUDA device
