"""Where :func:`~normlab.gan.training.train_gan` takes its real batches from.

One interface for every kind of data: ``source.next(batch_size)`` returns a batch on the
device, and ``state_dict``/``load_state_dict`` capture where the source is, so that a
checkpoint resumes mid-epoch exactly (:mod:`normlab.gan.checkpoint`). In-memory data is
batched by indexing, without a ``DataLoader`` (the chapters' runs are short and small, and a
loader's per-batch overhead dominated them).

- :class:`MixtureSource`: fresh samples of a distribution for every batch (infinite data);
- :class:`TensorSource`: shuffled epochs over a tensor;
- :class:`LoaderSource`: the batches of a ``DataLoader``, epoch after epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from normlab.gan.data import GaussianMixture

__all__ = ["MixtureSource", "TensorSource", "LoaderSource", "DataSource", "make_source"]


class MixtureSource:
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


class TensorSource:
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


class LoaderSource:
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


#: Any of the three sources.
DataSource: TypeAlias = LoaderSource | MixtureSource | TensorSource


def make_source(data: object, batch_size: int, device: torch.device, seed: int) -> DataSource:
    """The source of ``data``'s batches (see the module's docstring for the kinds of data):
    ``data`` checked, a tensor moved to ``device``, a ``Dataset`` wrapped in a shuffling
    ``DataLoader`` seeded with ``seed``; a mixture or tensor source draws with ``seed``."""
    if isinstance(data, DataLoader):
        return LoaderSource(data, device)
    if isinstance(data, torch.Tensor):
        tensor = data
    elif isinstance(data, TensorDataset):
        tensor = data.tensors[0]
    elif isinstance(data, (tuple, list)) and data and isinstance(data[0], torch.Tensor):
        tensor = data[0]  # e.g. a normlab Split (x, y): the inputs
    elif hasattr(data, "sample") and callable(data.sample):
        return MixtureSource(data, device, seed)
    elif isinstance(data, Dataset):
        loader = DataLoader(
            data,
            batch_size=batch_size,
            shuffle=True,
            drop_last=True,
            generator=torch.Generator().manual_seed(seed),
        )
        return LoaderSource(loader, device)
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
    return TensorSource(tensor, device, seed)
