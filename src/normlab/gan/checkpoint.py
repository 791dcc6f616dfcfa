"""Checkpoints of :func:`~normlab.gan.training.train_gan`: exact resume, refused when unsafe.

A checkpoint holds the models, the optimizers, the counters, the history and every random
state that training reads (the loop's generators, PyTorch's global CPU and CUDA generators,
Python's and NumPy's). On CPU an interrupted and resumed run ends with parameters
bit-identical to an uninterrupted one.

The file starts with a header line ``normlab.gan checkpoint 2 sha256=<digest>`` (format 2)
before the ``torch.save`` bytes, so that a truncated, overwritten or bit-flipped file is
refused before anything is unpickled; it is written to a temporary file and renamed, so an
interruption never leaves half a checkpoint. A resume must match what the checkpoint was
saved with: the configuration, each optimizer's class and hyperparameters, the data.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import torch
from torch import nn

from normlab.gan.data import GaussianMixture
from normlab.gan.sources import DataSource, MixtureSource, TensorSource

__all__ = ["Checkpointer"]

T = TypeVar("T")

_CHECKPOINT_FORMAT = 2
_CHECKPOINT_MAGIC = b"normlab.gan checkpoint"
_CHECKPOINT_ENTRIES = (
    "format",
    "config",
    "optimizers",
    "data",
    "generator",
    "critic",
    "generator_optimizer",
    "critic_optimizer",
    "source",
    "noise",
    "rng",
    "history",
)


class Checkpointer:
    """Saves one training run to ``path`` and restores it from there.

    What the checkpoint must match on resume is described when the run starts, before any
    state is restored: ``config`` (:meth:`GANConfig.saved
    <normlab.gan.config.GANConfig.saved>`), the two optimizers' classes and
    hyperparameters, and the data ``source``.

    Args:
        path: the checkpoint file.
        config: the run's configuration as plain values.
        generator, critic: the run's models.
        generator_optimizer, critic_optimizer: their optimizers.
        source: the run's data source.
        noise: the run's generator of noise (and of the penalty's interpolation).
        device: where the run computes (its CUDA generator is saved too).
    """

    def __init__(
        self,
        path: Path,
        config: Mapping[str, Any],
        generator: nn.Module,
        critic: nn.Module,
        generator_optimizer: torch.optim.Optimizer,
        critic_optimizer: torch.optim.Optimizer,
        source: DataSource,
        noise: torch.Generator,
        device: torch.device,
    ) -> None:
        self.path = path
        self.config = dict(config)
        self.optimizers = {
            "generator_optimizer": _describe_optimizer(generator_optimizer),
            "critic_optimizer": _describe_optimizer(critic_optimizer),
        }
        self.data = _describe_data(source)
        self.device = device
        # the objects whose state a checkpoint holds, under its entries' names
        self.states: dict[str, Any] = {
            "generator": generator,
            "critic": critic,
            "generator_optimizer": generator_optimizer,
            "critic_optimizer": critic_optimizer,
            "source": source,
        }
        self.noise = noise

    def restore(self, load_history: Callable[[Mapping[str, Any]], T]) -> T:
        """Load every state saved in the file into the run and return
        ``load_history(saved history state)``. Raises ValueError, naming the file, if it is
        not intact or does not fit (``load_history``'s errors included)."""
        checkpoint = _read_checkpoint(self.path)
        _check_checkpoint_matches(self.path, checkpoint, self.config, self.optimizers, self.data)
        with _checkpoint_errors(self.path):
            for entry, holder in self.states.items():  # models, optimizers, then the source
                holder.load_state_dict(checkpoint[entry])
            self.noise.set_state(checkpoint["noise"])
            _set_global_rng_states(checkpoint["rng"], self.device)
            history = load_history(checkpoint["history"])
        return history

    def save(self, history: Mapping[str, Any]) -> None:
        """Write the run's current state (``history``: the history's state dict)."""
        payload = {
            "format": _CHECKPOINT_FORMAT,
            "config": self.config,
            "optimizers": self.optimizers,
            "data": self.data,
        }
        payload.update({entry: holder.state_dict() for entry, holder in self.states.items()})
        payload["noise"] = self.noise.get_state()
        payload["rng"] = _global_rng_states(self.device)
        payload["history"] = dict(history)
        _save_checkpoint(self.path, payload)


def _global_rng_states(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": _numpy_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _numpy_state() -> dict[str, Any]:
    # stored as tensors and ints, so that torch.load(weights_only=True) can read it back
    # the global RandomState is an MT19937, whose legacy state is this tuple (numpy's stub
    # also allows the dict that other bit generators give)
    legacy = cast(
        "tuple[str, np.ndarray[Any, np.dtype[np.uint32]], int, int, float]",
        np.random.get_state(),  # noqa: NPY002
    )
    name, keys, position, has_gauss, cached = legacy
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "position": int(position),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


def _set_global_rng_states(state: Mapping[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    np_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002 - restoring the legacy global generator is the point
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["position"],
            np_state["has_gauss"],
            np_state["cached"],
        )
    )
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _as_tuple(value: Any) -> Any:
    # random.setstate needs tuples all the way down; a saved state may come back as lists
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(v) for v in value)
    return value


def _save_checkpoint(path: Path, payload: object) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    digest = hashlib.sha256(body).hexdigest()
    header = _CHECKPOINT_MAGIC + f" {_CHECKPOINT_FORMAT} sha256={digest}\n".encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        file.write(header + body)
    os.replace(temporary, path)  # atomic: an interruption never leaves half a checkpoint


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """Read, verify and unpickle a checkpoint; every failure names the file."""
    raw = path.read_bytes()
    if not raw:
        raise ValueError(
            f"the checkpoint {path} is empty (0 bytes); delete it or pass resume=False"
        )
    header, newline, body = raw.partition(b"\n")
    fields = header.removeprefix(_CHECKPOINT_MAGIC).split()
    if not newline or not header.startswith(_CHECKPOINT_MAGIC) or len(fields) != 2:
        raise ValueError(
            f"{path} is not a normlab.gan checkpoint (its first line is not the checkpoint "
            "header); delete it, pass resume=False or choose another checkpoint_path"
        )
    version, digest = fields[0].decode(errors="replace"), fields[1].decode(errors="replace")
    if version != str(_CHECKPOINT_FORMAT):
        raise ValueError(
            f"the checkpoint {path} has format {version}; this version of normlab reads "
            f"format {_CHECKPOINT_FORMAT}"
        )
    if digest != "sha256=" + hashlib.sha256(body).hexdigest():
        raise ValueError(
            f"the checkpoint {path} is corrupted: the SHA-256 of its {len(body)} bytes does "
            "not match the one stored when it was written (truncated or modified)"
        )
    try:
        # random states must be CPU tensors; models and optimizers move theirs to the device
        checkpoint = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as err:  # the checksum matched: a file written by other code
        raise ValueError(f"the checkpoint {path} cannot be read: {err}") from err
    if not isinstance(checkpoint, dict):
        raise ValueError(
            f"the checkpoint {path} holds a {type(checkpoint).__name__}, not the dict of a "
            "normlab.gan checkpoint"
        )
    missing = [entry for entry in _CHECKPOINT_ENTRIES if entry not in checkpoint]
    if missing:
        raise ValueError(f"the checkpoint {path} lacks the entries {', '.join(missing)}")
    for entry in ("config", "optimizers", "data", "rng", "history"):
        if not isinstance(checkpoint[entry], dict):
            raise ValueError(
                f"the checkpoint {path} has a {type(checkpoint[entry]).__name__} as its "
                f"{entry!r} entry, where a dict belongs"
            )
    return checkpoint


@contextlib.contextmanager
def _checkpoint_errors(path: Path) -> Iterator[None]:
    """Turn a failure to restore a state into an error that names the checkpoint."""
    try:
        yield
    except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as error:
        first = (str(error).strip().splitlines() or [repr(error)])[0]
        raise ValueError(
            f"the checkpoint {path} does not fit this run ({type(error).__name__}: {first})"
        ) from error


def _plain(value: Any) -> Any:
    """A hyperparameter as a comparable plain value (a 0-d tensor lr becomes a float)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def _describe_optimizer(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Class and hyperparameters of each parameter group (what a resume must not change)."""
    groups = [
        {k: _plain(v) for k, v in group.items() if k != "params"}
        for group in optimizer.state_dict()["param_groups"]
    ]
    kind = type(optimizer)
    return {"class": f"{kind.__module__}.{kind.__qualname__}", "param_groups": groups}


def _describe_data(source: DataSource) -> dict[str, Any]:
    """What the data source is, enough to refuse resuming on other data."""
    if isinstance(source, TensorSource):
        return {
            "kind": "tensor",
            "shape": list(source.data.shape),
            "dtype": str(source.data.dtype),
        }
    if isinstance(source, MixtureSource):
        description: dict[str, Any] = {"kind": "mixture", "type": type(source.mixture).__name__}
        if isinstance(source.mixture, GaussianMixture):
            description["centres"] = source.mixture.centres.detach().cpu()
            description["std"] = source.mixture.std
        return description
    dataset = source.loader.dataset
    return {
        "kind": "loader",
        "dataset": type(dataset).__name__,
        "length": len(dataset) if hasattr(dataset, "__len__") else -1,
        "batch_size": source.loader.batch_size,
    }


def _data_summary(description: Mapping[str, Any]) -> str:
    kind = description.get("kind")
    if kind == "tensor":
        return f"a tensor of shape {tuple(description['shape'])} ({description['dtype']})"
    if kind == "mixture":
        centres = description.get("centres")
        modes = "" if centres is None else f" with {len(centres)} modes"
        return f"a {description['type']}{modes}"
    return (
        f"a DataLoader over a {description.get('dataset')} of {description.get('length')} "
        f"samples in batches of {description.get('batch_size')}"
    )


def _same_data(saved: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    if set(saved) != set(now):
        return False
    for key, value in now.items():
        other = saved[key]
        if isinstance(value, torch.Tensor):
            if not (isinstance(other, torch.Tensor) and other.shape == value.shape):
                return False
            if not torch.equal(other.to(value.dtype), value):
                return False
        elif other != value:
            return False
    return True


def _check_checkpoint_matches(
    path: Path,
    checkpoint: Mapping[str, Any],
    config: Mapping[str, Any],
    optimizers: Mapping[str, Any],
    data: Mapping[str, Any],
) -> None:
    """Refuse a checkpoint saved with another configuration, optimizer or data set.

    A learning rate (or any other hyperparameter) that differs from the saved one is an
    error too, not silently replaced by the checkpoint's: a resumed run continues the run
    that was saved; to train on with other settings, start a new ``checkpoint_path``.
    """
    saved_config = checkpoint["config"]
    different = {k: (saved_config.get(k), v) for k, v in config.items() if saved_config.get(k) != v}
    if different:
        detail = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in different.items())
        raise ValueError(f"the checkpoint {path} was saved with another configuration ({detail})")
    for name, now in optimizers.items():
        saved = checkpoint["optimizers"].get(name)
        saved = saved if isinstance(saved, dict) else {}
        if saved.get("class") != now["class"]:
            raise ValueError(
                f"the checkpoint {path} was saved with {name} of class {saved.get('class')}, "
                f"now {now['class']}"
            )
        saved_groups = saved.get("param_groups", [])
        if len(saved_groups) != len(now["param_groups"]):
            raise ValueError(
                f"the checkpoint {path} was saved with {name} of {len(saved_groups)} parameter "
                f"groups, now {len(now['param_groups'])}"
            )
        for i, (old, new) in enumerate(zip(saved_groups, now["param_groups"], strict=True)):
            changed = [k for k in new if k in old and old[k] != new[k]]
            if changed:
                detail = ", ".join(f"{k}: saved {old[k]!r}, now {new[k]!r}" for k in changed)
                raise ValueError(
                    f"the checkpoint {path} was saved with other {name} hyperparameters "
                    f"(param_groups[{i}] {detail}); resuming continues the saved run, so start "
                    "a new checkpoint_path (or pass resume=False) to train with new ones"
                )
    if not _same_data(checkpoint["data"], data):
        raise ValueError(
            f"the checkpoint {path} was saved while training on "
            f"{_data_summary(checkpoint['data'])}, but data is now {_data_summary(data)}"
        )
