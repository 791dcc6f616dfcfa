import random

import numpy as np
import pytest
import torch

import normlab
from normlab.scaffolding.device import DEVICE_ENV_VAR


def test_default_is_cuda_when_available_else_cpu(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV_VAR, raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert normlab.scaffolding.get_device().type == expected


def test_environment_variable_forces_cpu(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    assert normlab.scaffolding.get_device() == torch.device("cpu")
    assert normlab.scaffolding.available_devices() == [torch.device("cpu")]


def test_explicit_argument_beats_environment(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    assert normlab.scaffolding.get_device("cpu") == torch.device("cpu")
    assert normlab.scaffolding.get_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    with pytest.raises(RuntimeError, match="NORMLAB_DEVICE asks for 'cuda'.*not available"):
        normlab.scaffolding.get_device()
    with pytest.raises(RuntimeError, match="device asks for 'cuda:0'"):
        normlab.scaffolding.get_device("cuda:0")


@pytest.mark.parametrize("bad", ["gpu", "tpu", "cuda:x", "meta"])
def test_unknown_device_names_are_rejected(monkeypatch, bad):
    monkeypatch.setenv(DEVICE_ENV_VAR, bad)
    with pytest.raises(ValueError, match="NORMLAB_DEVICE must be 'cpu', 'cuda' or 'cuda:N'"):
        normlab.scaffolding.get_device()
    with pytest.raises(ValueError, match="device must be"):
        normlab.scaffolding.get_device(bad)


def test_device_argument_type_is_checked():
    with pytest.raises(TypeError, match="device must be a str or torch.device, got int"):
        normlab.scaffolding.get_device(0)


def test_available_devices_lists_cpu_first(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV_VAR, raising=False)
    devices = normlab.scaffolding.available_devices()
    assert devices[0] == torch.device("cpu")
    assert (torch.device("cuda") in devices) == torch.cuda.is_available()


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        legacy_numpy = np.random.rand()  # noqa: NPY002 - seed_everything seeds the global one
        return random.random(), legacy_numpy, torch.rand(1).item()

    normlab.scaffolding.seed_everything(123)
    first = draw()
    normlab.scaffolding.seed_everything(123)
    assert draw() == first
    normlab.scaffolding.seed_everything(124)
    assert draw() != first


@pytest.mark.parametrize("bad, error", [(1.5, TypeError), ("1", TypeError), (-1, ValueError)])
def test_seed_everything_rejects_bad_seeds(bad, error):
    with pytest.raises(error, match="seed"):
        normlab.scaffolding.seed_everything(bad)
