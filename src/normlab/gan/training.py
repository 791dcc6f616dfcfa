"""One training loop for every GAN variant of the book: the GAN losses, WGAN with weight
clipping, WGAN-GP, hinge losses, any number of critic steps per generator step.

Design choices, each for a reason:

- **Speed.** The chapters train several methods × several seeds inside a notebook budget, so
  the loop avoids per-step host–device synchronization: losses are written into a tensor
  buffer and copied out only every few steps; metrics run every ``eval_every`` steps.
  In-memory data (a tensor, a ``TensorDataset``, a mixture) is batched by indexing, without
  a ``DataLoader``. Real and generated samples go through the critic in one call when it has
  no batch normalization.
- **Reproducibility.** Noise and data are drawn from the loop's own seeded generators;
  metric callbacks run inside ``torch.random.fork_rng``, so evaluating more or less
  often never changes the training trajectory.
- **Exact resume.** A checkpoint holds the models, the optimizers, the counters, the history
  and every random state that training reads (the loop's generators, PyTorch's global CPU and
  CUDA generators, Python's and NumPy's). On CPU an interrupted and resumed run ends with
  parameters bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from normlab._validation import (
    check_int,
    check_nonnegative_float,
    check_one_sided_smoothing,
    check_positive_float,
    check_positive_int,
)
from normlab.gan.data import GaussianMixture
from normlab.gan.losses import get_loss
from normlab.gan.steps import critic_step
from normlab.scaffolding.device import get_device
from normlab.scaffolding.progress import progress_bar
from normlab.sync_batchnorm import _is_batch_norm

__all__ = [
    "GANHistory",
    "train_gan",
    "generate",
    "has_batch_norm",
    "OptimizerFactory",
    "Evaluate",
]

#: A callable ``parameters -> optimizer``, e.g. ``lambda p: torch.optim.Adam(p, lr=1e-4)``.
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
#: A metric callback ``(generator, critic) -> {name: value}``.
Evaluate = Callable[[nn.Module, nn.Module], Mapping[str, float]]

# Format 2 puts a header line "normlab.gan checkpoint 2 sha256=<digest>" before the
# torch.save bytes, so that a truncated, overwritten or bit-flipped file is refused before
# anything is unpickled.
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
# How often (in generator steps) the loop reads its loss buffer back to check for NaN when
# nothing else forces a synchronization.
_SYNC_EVERY = 50


@dataclass
class GANHistory:
    """What :func:`train_gan` measured.

    Per generator step (lists of equal length):

    Attributes:
        critic_loss: the critic's loss at the last critic step before the generator step,
            penalty included.
        critic_gap: ``mean f(real) - mean f(fake)`` on that step's batch; for a Wasserstein
            critic, its running estimate of W1 (up to the Lipschitz constant).
        penalty: the gradient penalty at that step, without ``λ`` (NaN when not used).
        generator_loss: the generator's loss.

    Every ``eval_every`` generator steps:

    Attributes:
        eval_steps: the generator steps at which ``evaluate`` ran (0 is before training).
        metrics: the values ``evaluate`` returned, by name, aligned with ``eval_steps``.

    Totals:

    Attributes:
        generator_steps: generator steps done.
        critic_steps: critic steps done.
        critic_seconds: time spent in critic steps (sampling, critic update, penalty,
            clipping), measured with CUDA events on a GPU.
        generator_seconds: time spent in generator steps.
        diverged: True if training stopped because a loss became NaN or infinite.
    """

    critic_loss: list[float] = field(default_factory=list)
    critic_gap: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    generator_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    generator_steps: int = 0
    critic_steps: int = 0
    critic_seconds: float = 0.0
    generator_seconds: float = 0.0
    diverged: bool = False

    @property
    def seconds_per_critic_step(self) -> float:
        """Mean wall time of one critic step (NaN before the first)."""
        return self.critic_seconds / self.critic_steps if self.critic_steps else math.nan

    @property
    def seconds_per_generator_step(self) -> float:
        """Mean wall time of one generator step (NaN before the first)."""
        if not self.generator_steps:
            return math.nan
        return self.generator_seconds / self.generator_steps

    @property
    def seconds(self) -> float:
        """The time spent in critic and generator steps (metrics and checkpoints excluded)."""
        return self.critic_seconds + self.generator_seconds

    def state_dict(self) -> dict[str, Any]:
        """The history as plain Python containers (what a checkpoint stores)."""
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> GANHistory:
        """Rebuild a history saved with :meth:`state_dict`."""
        state = dict(state)
        state["metrics"] = {k: list(v) for k, v in state["metrics"].items()}
        return cls(**state)


# ---------------------------------------------------------------------------------------
# Data sources: one interface, next(batch_size) -> batch on the device, with a state that a
# checkpoint can store.


class _MixtureSource:
    """Fresh samples from a distribution for every batch (infinite data)."""

    def __init__(self, mixture: Any, device: torch.device, seed: int) -> None:
        self.on_device = isinstance(mixture, GaussianMixture)
        self.mixture = mixture.to(device) if self.on_device else mixture
        self.device = device
        self.generator = torch.Generator(device if self.on_device else "cpu").manual_seed(seed)

    def next(self, batch_size: int) -> torch.Tensor:
        batch = self.mixture.sample(batch_size, generator=self.generator)
        return batch if self.on_device else batch.to(self.device)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])


class _TensorSource:
    """Shuffled epochs over an in-memory tensor, cut by indexing; the last incomplete batch
    of each epoch is dropped so that every batch has the same size."""

    def __init__(self, data: torch.Tensor, device: torch.device, seed: int) -> None:
        self.data = data.to(device)
        self.generator = torch.Generator(device).manual_seed(seed)
        self.order = torch.empty(0, dtype=torch.int64, device=device)
        self.position = 0

    def next(self, batch_size: int) -> torch.Tensor:
        if self.position + batch_size > len(self.order):
            self.order = torch.randperm(
                len(self.data), generator=self.generator, device=self.data.device
            )
            self.position = 0
        index = self.order[self.position : self.position + batch_size]
        self.position += batch_size
        return self.data[index]

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "order": self.order.cpu(),
            "position": self.position,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"].to(self.data.device)
        self.position = int(state["position"])


class _LoaderSource:
    """Batches from a ``DataLoader``, epoch after epoch.

    To resume in the middle of an epoch, the random states at the epoch's start are kept
    (the global CPU generator, from which a shuffling loader draws its seed, and the
    loader's own ``generator`` if it has one); resuming replays the epoch's first batches.
    """

    def __init__(self, loader: DataLoader[Any], device: torch.device) -> None:
        self.loader = loader
        self.device = device
        self.iterator: Any = None
        self.epoch_start: dict[str, Any] | None = None
        self.consumed = 0

    def _snapshot(self) -> dict[str, Any]:
        state = {"torch": torch.get_rng_state()}
        if self.loader.generator is not None:
            state["loader"] = self.loader.generator.get_state()
        return state

    def _new_epoch(self) -> None:
        self.epoch_start = self._snapshot()
        self.iterator = iter(self.loader)
        self.consumed = 0

    def next(self, batch_size: int) -> torch.Tensor:  # batch_size is the loader's own
        if self.iterator is None:
            self._new_epoch()
        try:
            batch = next(self.iterator)
        except StopIteration:
            self._new_epoch()
            try:
                batch = next(self.iterator)
            except StopIteration:
                raise ValueError("the DataLoader yields no batches") from None
        self.consumed += 1
        if isinstance(batch, (list, tuple)):
            batch = batch[0]  # (images, labels): a GAN needs only the images
        return batch.to(self.device, non_blocking=True)

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch_start": self.epoch_start,
            "consumed": self.consumed,
            "now": self._snapshot(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch_start, self.consumed = state["epoch_start"], int(state["consumed"])
        self.iterator = None
        if self.epoch_start is not None:
            torch.set_rng_state(self.epoch_start["torch"])
            if "loader" in self.epoch_start:
                self.loader.generator.set_state(self.epoch_start["loader"])
            self.iterator = iter(self.loader)
            for _ in range(self.consumed):
                next(self.iterator)
        # back to the states at the checkpoint (train_gan restores the global ones again)
        torch.set_rng_state(state["now"]["torch"])
        if "loader" in state["now"]:
            self.loader.generator.set_state(state["now"]["loader"])


def _make_source(
    data: object, batch_size: int, device: torch.device, seed: int
) -> _LoaderSource | _MixtureSource | _TensorSource:
    if isinstance(data, DataLoader):
        return _LoaderSource(data, device)
    if isinstance(data, torch.Tensor):
        tensor = data
    elif isinstance(data, TensorDataset):
        tensor = data.tensors[0]
    elif isinstance(data, (tuple, list)) and data and isinstance(data[0], torch.Tensor):
        tensor = data[0]  # e.g. a normlab Split (x, y): the inputs
    elif hasattr(data, "sample") and callable(data.sample):
        return _MixtureSource(data, device, seed)
    elif isinstance(data, Dataset):
        loader = DataLoader(
            data,
            batch_size=batch_size,
            shuffle=True,
            drop_last=True,
            generator=torch.Generator().manual_seed(seed),
        )
        return _LoaderSource(loader, device)
    else:
        raise TypeError(
            "data must be a GaussianMixture (or any object with a sample(n, generator=...) "
            "method), a tensor of samples, a TensorDataset, an (x, y) pair, a Dataset or a "
            f"DataLoader, got {type(data).__name__}"
        )
    if not tensor.is_floating_point():
        raise TypeError(f"data must hold floating-point samples, got dtype {tensor.dtype}")
    if tensor.ndim < 2:
        raise ValueError(
            "data must have shape (N, *features) with at least 2 dimensions, got shape "
            f"{tuple(tensor.shape)}"
        )
    if len(tensor) < batch_size:
        raise ValueError(f"data has {len(tensor)} samples, fewer than batch_size={batch_size}")
    return _TensorSource(tensor, device, seed)


# ---------------------------------------------------------------------------------------
# Small helpers


def has_batch_norm(module: nn.Module) -> bool:
    """True if ``module`` contains a batch-normalization layer (torch's or normlab's).

    Such a critic couples the samples of a batch, which breaks the per-sample gradient
    penalty (Gulrajani et al., 2017) and changes its statistics when real and generated
    samples share a forward pass.
    """
    # one detection for the library: SyncBatchNorm's conversion uses the same predicate
    return any(_is_batch_norm(m) for m in module.modules())


def _latent_dim(generator: nn.Module, latent_dim: int | None) -> int:
    own = getattr(generator, "latent_dim", None)
    if latent_dim is None:
        if own is None:
            raise ValueError(
                "latent_dim is needed: the generator has no latent_dim attribute, so pass "
                "latent_dim=<size of z>"
            )
        return check_positive_int(own, "generator.latent_dim")
    latent_dim = check_positive_int(latent_dim, "latent_dim")
    if own is not None and own != latent_dim:
        raise ValueError(f"latent_dim={latent_dim} differs from generator.latent_dim={own}")
    return latent_dim


def _floating_dtype(module: nn.Module) -> torch.dtype:
    for parameter in module.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.get_default_dtype()


@torch.no_grad()
def generate(
    generator: nn.Module,
    n: int,
    *,
    latent_dim: int | None = None,
    rng: torch.Generator | None = None,
    batch_size: int = 4096,
) -> torch.Tensor:
    """Draw ``n`` samples ``G(z)``, ``z ~ N(0, I)``, without building a graph.

    The generator is used in its current mode (call ``generator.eval()`` first if it has
    batch normalization and you want its running statistics).

    Args:
        generator: the generator; ``latent_dim`` is read from its ``latent_dim`` attribute
            unless given.
        n: number of samples.
        latent_dim: size of ``z``.
        rng: random generator for ``z``, on the generator's device; ``None`` uses the
            global one.
        batch_size: samples per forward pass.

    Returns:
        The samples, ``(n, *sample_shape)``, on the generator's device.
    """
    n = check_positive_int(n, "n")
    batch_size = check_positive_int(batch_size, "batch_size")
    latent_dim = _latent_dim(generator, latent_dim)
    reference = next(iter(generator.parameters()), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = _floating_dtype(generator)
    chunks = []
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        z = torch.randn(size, latent_dim, generator=rng, device=device, dtype=dtype)
        chunks.append(generator(z))
    return torch.cat(chunks)


class _Stopwatch:
    """Accumulated wall time of repeated phases; CUDA events on a GPU, so that timing does
    not force a synchronization at every step."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.seconds = 0.0
        self.events: list[tuple[Any, Any]] = []
        self._start: Any = None

    def start(self) -> None:
        if self.cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._start = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self.events.append((self._start, end))
        else:
            self.seconds += time.perf_counter() - self._start

    def collect(self) -> float:
        """Seconds measured since the last call."""
        if self.cuda and self.events:
            self.events[-1][1].synchronize()
            self.seconds += sum(a.elapsed_time(b) for a, b in self.events) / 1e3
            self.events.clear()
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def _make_optimizer(
    choice: torch.optim.Optimizer | OptimizerFactory | None, module: nn.Module, name: str
) -> torch.optim.Optimizer:
    if choice is None:
        return torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999))
    if isinstance(choice, torch.optim.Optimizer):
        _check_optimizes(choice, module, name)
        return choice
    if callable(choice):
        optimizer = choice(module.parameters())
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"{name} factory must return a torch.optim.Optimizer")
        _check_optimizes(optimizer, module, name)
        return optimizer
    raise TypeError(
        f"{name} must be a torch.optim.Optimizer, a factory params -> optimizer, or None; "
        f"got {type(choice).__name__}"
    )


def _check_optimizes(optimizer: torch.optim.Optimizer, module: nn.Module, name: str) -> None:
    """An optimizer over another model's parameters (the critic's for the generator) would
    leave this model untrained: every parameter it holds must be one of ``module``'s."""
    own = {id(p) for p in module.parameters()}
    held = [p for group in optimizer.param_groups for p in group["params"]]
    foreign = sum(id(p) not in own for p in held)
    model = name.removesuffix("_optimizer")
    if foreign:
        raise ValueError(
            f"{name} holds {foreign} of {len(held)} tensors that are not parameters of the "
            f"{model}: build it from {model}.parameters()"
        )
    if not held and own:
        raise ValueError(f"{name} holds no parameters; build it from {model}.parameters()")


# ---------------------------------------------------------------------------------------
# Random states and checkpoints


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


def _describe_data(source: Any) -> dict[str, Any]:
    """What the data source is, enough to refuse resuming on other data."""
    if isinstance(source, _TensorSource):
        return {
            "kind": "tensor",
            "shape": list(source.data.shape),
            "dtype": str(source.data.dtype),
        }
    if isinstance(source, _MixtureSource):
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


# ---------------------------------------------------------------------------------------
# The loop


def train_gan(
    generator: nn.Module,
    critic: nn.Module,
    data: object,
    *,
    loss: str = "non_saturating",
    steps: int = 1000,
    n_critic: int = 1,
    batch_size: int = 64,
    latent_dim: int | None = None,
    gp_weight: float = 0.0,
    clip_value: float | None = None,
    label_smoothing: float = 0.0,
    generator_optimizer: torch.optim.Optimizer | OptimizerFactory | None = None,
    critic_optimizer: torch.optim.Optimizer | OptimizerFactory | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    eval_every: int | None = None,
    evaluate: Evaluate | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    concatenate_batches: bool | None = None,
    stop_on_divergence: bool = True,
    progress: bool | None = None,
    desc: str | None = None,
) -> GANHistory:
    """Train a GAN: ``n_critic`` critic steps, then one generator step, ``steps`` times.

    A critic step draws a real batch and ``z ~ N(0, I)`` and runs
    :func:`normlab.gan.steps.critic_step`: it scores real and generated samples, adds
    ``gp_weight`` times the gradient penalty if asked, takes an optimizer step and then
    clips the critic's weights to ``[-clip_value, clip_value]`` if asked. The paper settings:

    - GAN (Goodfellow et al., 2014): ``loss="non_saturating"`` (or ``"minimax"``),
      ``n_critic=1``, Adam(2e-4, betas=(0.5, 0.999)) (Radford et al., 2016);
    - WGAN (Arjovsky et al., 2017): ``loss="wasserstein"``, ``clip_value=0.01``,
      ``n_critic=5``, RMSprop(5e-5);
    - WGAN-GP (Gulrajani et al., 2017): ``loss="wasserstein"``, ``gp_weight=10``,
      ``n_critic=5``, Adam(1e-4, betas=(0, 0.9)); no batch normalization in the critic;
    - SN-GAN (Miyato et al., 2018): a critic with spectrally normalized layers and
      ``loss="hinge"`` or ``"non_saturating"``.

    The critic stays in training mode during the generator step, as in the reference
    implementations: a spectrally normalized critic therefore runs one more power iteration
    per generator step (its weights do not move during that step, so the estimate only
    improves), and a critic with batch normalization normalizes the fake batch with its own
    statistics.

    Args:
        generator: maps ``(B, latent_dim)`` noise to samples shaped like the data.
        critic: maps a batch of samples to scores ``(B,)`` (any ``nn.Module``).
        data: a :class:`normlab.gan.data.GaussianMixture` (or any object with a
            ``sample(n, generator=...)`` method: fresh samples every batch), a tensor of
            samples ``(N, *features)``, a ``TensorDataset`` or an ``(x, y)`` pair (the first
            tensor is used), a map-style ``Dataset``, or a ``DataLoader`` (its own batch
            size; labels in ``(x, y)`` batches are ignored).
        loss: ``"minimax"``, ``"non_saturating"``, ``"wasserstein"`` or ``"hinge"``
            (:mod:`normlab.gan.losses`).
        steps: total number of generator steps (a resumed run continues up to it).
        n_critic: critic steps per generator step.
        batch_size: real and generated samples per step.
        latent_dim: size of ``z``; default ``generator.latent_dim``.
        gp_weight: ``λ`` of the gradient penalty (0: none; 10 in WGAN-GP).
        clip_value: ``c`` of weight clipping after every critic step (``None``: none).
        label_smoothing: one-sided label smoothing of the real targets, for the
            ``"minimax"`` and ``"non_saturating"`` losses only.
        generator_optimizer: an optimizer over the generator's parameters, or a factory
            ``params -> optimizer``; default Adam(2e-4, betas=(0.5, 0.999)).
        critic_optimizer: the same for the critic.
        device: where to train; default :func:`~normlab.scaffolding.device.get_device`.
            The models are moved there.
        seed: seed of the loop's noise and data generators (seed the models'
            initialization yourself, before building them).
        eval_every: call ``evaluate`` before training, every ``eval_every`` generator steps
            and at the end.
        evaluate: ``(generator, critic) -> {name: float}``, e.g. mode coverage or exact W1.
            It runs inside ``torch.random.fork_rng``, so it cannot change the
            training's random streams; it should not change the models.
        checkpoint_path: file to save checkpoints to (and to resume from).
        checkpoint_every: save every that many generator steps (and at the end); default:
            only at the end.
        resume: if ``checkpoint_path`` exists, continue from it. What it was saved with
            must match this call: the configuration, each optimizer's class and
            hyperparameters (a new ``lr`` is refused, not silently replaced by the saved
            one: start a new ``checkpoint_path`` to train on with new settings) and the data
            (its kind, and the shape of a tensor or the centres of a mixture). The file
            carries a SHA-256 checksum: an empty, truncated, overwritten or corrupted file is
            refused before anything is unpickled.
        concatenate_batches: score real and fake samples in one critic call; default: yes,
            unless the critic has batch normalization.
        stop_on_divergence: stop when a loss becomes NaN or infinite and mark
            ``GANHistory.diverged`` (checked every few dozen steps).
        progress: show a progress bar; default: unless ``NORMLAB_QUIET`` is set.
        desc: label of the progress bar.

    Returns:
        The :class:`GANHistory` (continued from the checkpoint when resuming).

    Raises:
        ValueError: unknown ``loss``; label smoothing with a loss that has no labels; a
            gradient penalty with a batch-normalized critic; a critic that does not return
            one score per sample; an optimizer over another model's parameters; a checkpoint
            that is not intact, or was saved with another configuration, optimizer or data
            (every checkpoint error names the file); invalid numbers.
        TypeError: unsupported ``data`` or optimizer arguments.
    """
    # --- validate everything before touching the models
    if not isinstance(generator, nn.Module) or not isinstance(critic, nn.Module):
        raise TypeError(
            "generator and critic must be torch.nn.Module instances, got "
            f"{type(generator).__name__} and {type(critic).__name__}"
        )
    gan_loss = get_loss(loss)
    steps = check_positive_int(steps, "steps")
    n_critic = check_positive_int(n_critic, "n_critic")
    batch_size = check_positive_int(batch_size, "batch_size")
    latent_dim = _latent_dim(generator, latent_dim)
    gp_weight = check_nonnegative_float(gp_weight, "gp_weight")
    if clip_value is not None:
        clip_value = check_positive_float(clip_value, "clip_value")
    label_smoothing = check_one_sided_smoothing(label_smoothing, "label_smoothing")
    if label_smoothing and not gan_loss.supports_label_smoothing:
        raise ValueError(
            f"label_smoothing applies to the 'minimax' and 'non_saturating' losses (targets "
            f"0/1), not to loss={loss!r}"
        )
    if gp_weight and has_batch_norm(critic):
        raise ValueError(
            "the gradient penalty is per sample, so the critic must not use batch "
            "normalization (Gulrajani et al., 2017); use nn.LayerNorm/GroupNorm or none"
        )
    seed = check_int(seed, "seed")
    if eval_every is not None:
        eval_every = check_positive_int(eval_every, "eval_every")
        if evaluate is None:
            raise ValueError("eval_every is set but no evaluate function was given")
    if evaluate is not None and not callable(evaluate):
        raise TypeError(f"evaluate must be callable, got {type(evaluate).__name__}")
    if checkpoint_every is not None:
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
        if checkpoint_path is None:
            raise ValueError("checkpoint_every is set but checkpoint_path is not")
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if concatenate_batches is None:
        concatenate_batches = not has_batch_norm(critic)

    device = get_device(device)
    generator.to(device)
    critic.to(device)
    source = _make_source(data, batch_size, device, seed + 1)
    generator_opt = _make_optimizer(generator_optimizer, generator, "generator_optimizer")
    critic_opt = _make_optimizer(critic_optimizer, critic, "critic_optimizer")
    noise = torch.Generator(device).manual_seed(seed)
    dtype = _floating_dtype(generator)
    config = {
        "loss": loss,
        "n_critic": n_critic,
        "batch_size": batch_size,
        "latent_dim": latent_dim,
        "gp_weight": gp_weight,
        "clip_value": clip_value,
        "label_smoothing": label_smoothing,
        "seed": seed,
    }
    history = GANHistory()

    optimizers = {
        "generator_optimizer": _describe_optimizer(generator_opt),
        "critic_optimizer": _describe_optimizer(critic_opt),
    }
    data_description = _describe_data(source)
    if path is not None and resume and path.exists():
        checkpoint = _read_checkpoint(path)
        _check_checkpoint_matches(path, checkpoint, config, optimizers, data_description)
        with _checkpoint_errors(path):
            generator.load_state_dict(checkpoint["generator"])
            critic.load_state_dict(checkpoint["critic"])
            generator_opt.load_state_dict(checkpoint["generator_optimizer"])
            critic_opt.load_state_dict(checkpoint["critic_optimizer"])
            source.load_state_dict(checkpoint["source"])
            noise.set_state(checkpoint["noise"])
            _set_global_rng_states(checkpoint["rng"], device)
            history = GANHistory.from_state_dict(checkpoint["history"])

    def save() -> None:
        _save_checkpoint(
            cast(Path, path),  # called when due_checkpoint, which needs a path
            {
                "format": _CHECKPOINT_FORMAT,
                "config": config,
                "optimizers": optimizers,
                "data": data_description,
                "generator": generator.state_dict(),
                "critic": critic.state_dict(),
                "generator_optimizer": generator_opt.state_dict(),
                "critic_optimizer": critic_opt.state_dict(),
                "source": source.state_dict(),
                "noise": noise.get_state(),
                "rng": _global_rng_states(device),
                "history": history.state_dict(),
            },
        )

    def run_evaluation(step: int) -> None:
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            # called when due_eval, which needs evaluate (checked callable above)
            values = cast(Evaluate, evaluate)(generator, critic)
        history.eval_steps.append(step)
        for name, value in values.items():
            history.metrics.setdefault(name, []).append(float(value))

    start = history.generator_steps
    generator.train()
    critic.train()
    if evaluate is not None and start == 0:
        run_evaluation(0)
    if start >= steps:
        return history

    critic_params = [p for p in critic.parameters() if p.requires_grad]
    # columns: critic loss, critic gap, penalty, generator loss
    record = torch.full((steps - start, 4), math.nan, device=device, dtype=torch.float64)
    flushed = 0
    critic_clock, generator_clock = _Stopwatch(device), _Stopwatch(device)

    def flush(upto: int) -> None:
        nonlocal flushed
        rows = record[flushed:upto].tolist()
        columns = (history.critic_loss, history.critic_gap, history.penalty, history.generator_loss)
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        flushed = upto
        history.critic_seconds += critic_clock.collect()
        history.generator_seconds += generator_clock.collect()

    bar = progress_bar(
        range(start, steps), desc=desc, disable=None if progress is None else not progress
    )
    for step in bar:
        # --- critic steps
        critic_clock.start()
        for _ in range(n_critic):
            real = source.next(batch_size)
            z = torch.randn(len(real), latent_dim, generator=noise, device=device, dtype=dtype)
            with torch.no_grad():
                fake = generator(z)
            measured = critic_step(
                critic,
                critic_opt,
                real,
                fake,
                loss=gan_loss,
                gp_weight=gp_weight,
                clip_value=clip_value,
                label_smoothing=label_smoothing,
                generator=noise,
                concatenate=concatenate_batches,
            )
        critic_clock.stop()

        # --- generator step (the critic's weights need no gradient here)
        generator_clock.start()
        for p in critic_params:
            p.requires_grad_(False)
        try:
            z = torch.randn(batch_size, latent_dim, generator=noise, device=device, dtype=dtype)
            generator_loss = gan_loss.generator(critic(generator(z)))
            generator_opt.zero_grad(set_to_none=True)
            generator_loss.backward()
            generator_opt.step()
        finally:
            for p in critic_params:
                p.requires_grad_(True)
        generator_clock.stop()

        record[step - start] = torch.stack(
            [measured.loss, measured.gap, measured.penalty, generator_loss.detach()]
        )
        history.generator_steps = step + 1
        history.critic_steps += n_critic

        done = step + 1
        due_eval = evaluate is not None and eval_every is not None and done % eval_every == 0
        due_eval = due_eval or (evaluate is not None and done == steps)
        due_checkpoint = path is not None and (
            done == steps or (checkpoint_every is not None and done % checkpoint_every == 0)
        )
        if due_eval or due_checkpoint or done == steps or done % _SYNC_EVERY == 0:
            flush(done - start)
            last = (history.critic_loss[-1], history.generator_loss[-1])
            if stop_on_divergence and not all(math.isfinite(v) for v in last):
                history.diverged = True
                break
            if due_eval:
                run_evaluation(done)
                bar.set_postfix({k: f"{v[-1]:.3g}" for k, v in list(history.metrics.items())[:3]})
            if due_checkpoint:
                save()
    return history
