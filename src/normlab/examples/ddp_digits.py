"""Data-parallel training of a small CNN on the digits, with synchronized batch norm.

Run it on two CPU processes (gloo), on every GPU of a machine (nccl), or as one process::

    torchrun --standalone --nproc_per_node=2 -m normlab.examples.ddp_digits
    torchrun --standalone --nproc_per_node=gpu -m normlab.examples.ddp_digits --device cuda
    python -m normlab.examples.ddp_digits

``torchrun`` starts the processes and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``, which ``torch.distributed.init_process_group``
reads. Every rank builds the same model, converts its batch norms with
:func:`normlab.sync_batchnorm.convert_sync_batchnorm`, wraps it in
:class:`torch.nn.parallel.DistributedDataParallel` and trains on its own slice of every
global batch; DDP averages the gradients, and synchronized batch norm makes the
normalization statistics those of the global batch. Rank 0 prints the test accuracy and the
wall time. For comparison, ``--norm batch`` keeps per-process batch norm, ``--norm group``
uses group norm (8 groups), ``--norm instance`` instance norm (with an affine map) and
``--norm torch-sync`` PyTorch's :class:`torch.nn.SyncBatchNorm` (which needs GPUs when it
synchronizes).
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.elastic.multiprocessing.errors import record

from normlab._validation import (
    check_choice,
    check_int,
    check_positive_float,
    check_positive_int,
)
from normlab.data import load_digits
from normlab.models import ConvNet, NormFactory
from normlab.normalization import BatchNorm2d, GroupNorm, InstanceNorm2d
from normlab.scaffolding.device import seed_everything
from normlab.sync_batchnorm import convert_sync_batchnorm

__all__ = ["NORMS", "build_model", "train", "main"]

#: The normalizations ``--norm`` accepts.
NORMS = ("sync", "batch", "group", "instance", "torch-sync")


def _conv_net(norm_layer: NormFactory) -> ConvNet:
    return ConvNet(channels=(32, 32, 64), strides=(1, 2, 2), norm_layer=norm_layer)


def _group_norm(channels: int) -> nn.Module:
    return GroupNorm(8, channels)


def _instance_norm(channels: int) -> nn.Module:
    return InstanceNorm2d(channels, affine=True)


def build_model(norm: str, *, seed: int = 0) -> nn.Module:
    """The example's CNN (:class:`normlab.models.ConvNet` with channels 32, 32, 64 and
    strides 1, 2, 2: 8 × 8 → 4 × 4 → 2 × 2) with the chosen normalization, seeded: every
    rank builds the same initial model."""
    check_choice(norm, "norm", NORMS)
    seed_everything(seed)
    if norm == "group":
        return _conv_net(_group_norm)
    if norm == "instance":
        return _conv_net(_instance_norm)
    model = _conv_net(BatchNorm2d)
    if norm == "sync":
        return convert_sync_batchnorm(model)
    if norm == "torch-sync":  # the same initial weights, in torch.nn layers
        torch_model = _conv_net(nn.BatchNorm2d)
        torch_model.load_state_dict(model.state_dict())
        return nn.SyncBatchNorm.convert_sync_batchnorm(torch_model)
    return model


def train(
    norm: str = "sync",
    *,
    epochs: int = 6,
    batch_size: int = 32,
    lr: float = 0.05,
    seed: int = 0,
    data_seed: int | None = None,
    device: str | torch.device = "cpu",
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Train in the current process group (or alone, without one) and evaluate.

    Every rank sees the same seeded order of the training images, cut into global batches
    of ``batch_size`` (the last incomplete one is dropped); rank ``r`` of ``W`` trains on
    the ``r``-th slice of ``batch_size / W`` images of each. SGD with momentum 0.9; the
    loss is the mean cross-entropy of the rank's slice, and DDP's gradient average makes
    the step that of the global batch.

    Args:
        norm: one of :data:`NORMS`.
        epochs: passes over the training images.
        batch_size: global batch size, divisible by the number of processes.
        lr: learning rate.
        seed: seeds the model and the order of the images.
        data_seed: seeds the split of the digits into training and test images
            (:func:`normlab.data.load_digits`); ``None``: ``seed``. Runs that compare seeds of
            the model on one split pass the same ``data_seed``.
        device: where this rank computes.
        max_steps: stop after this many optimizer steps (``None``: all epochs).

    Returns:
        ``{"norm", "world_size", "per_device_batch", "steps", "test_accuracy",
        "train_accuracy", "seconds", "losses", "state_dict"}``: the accuracies are
        measured in eval mode, ``seconds`` is the training wall time, ``losses`` this
        rank's loss at every step (their mean over the ranks is the global batch's loss),
        ``state_dict`` this rank's final model (on the CPU).

    Raises:
        ValueError: ``batch_size`` is not divisible by the number of processes.
    """
    check_choice(norm, "norm", NORMS)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    lr = check_positive_float(lr, "lr")
    seed = check_int(seed, "seed")
    data_seed = seed if data_seed is None else check_int(data_seed, "data_seed")
    if max_steps is not None:
        max_steps = check_positive_int(max_steps, "max_steps")
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    if batch_size % world:
        raise ValueError(
            f"batch_size ({batch_size}) must be divisible by the number of processes ({world})"
        )
    per_device = batch_size // world
    device = torch.device(device)
    data = load_digits(seed=data_seed, device=device)
    model = build_model(norm, seed=seed).to(device)
    if world > 1:
        ids = [device.index or 0] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    x, y = data.train
    steps, losses = 0, []
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator).to(device)
        for first in range(0, len(x) - batch_size + 1, batch_size):
            if steps == max_steps:
                break
            mine = order[first + rank * per_device : first + (rank + 1) * per_device]
            loss = F.cross_entropy(model(x[mine]), y[mine])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            steps += 1
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        test_accuracy = (model(data.test.x).argmax(1) == data.test.y).float().mean().item()
        train_accuracy = (model(x).argmax(1) == y).float().mean().item()
    plain = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    return {
        "norm": norm,
        "world_size": world,
        "per_device_batch": per_device,
        "steps": steps,
        "test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "seconds": seconds,
        "losses": losses,
        "state_dict": {k: v.detach().cpu() for k, v in plain.state_dict().items()},
    }


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m normlab.examples.ddp_digits",
        description="DDP + SyncBatchNorm on the digits; run under torchrun or alone.",
    )
    parser.add_argument("--norm", choices=NORMS, default="sync")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32, help="global batch size")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--backend", choices=("auto", "gloo", "nccl"), default="auto")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per collective")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per process")
    return parser.parse_args(argv)


# under torchrun, @record writes a failing rank's traceback to the file torchrun reads
# (TORCHELASTIC_ERROR_FILE), so that torchrun's summary shows the real error, not only an
# exit code; without torchrun it changes nothing
@record
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the result of :func:`train` (printed by rank 0)."""
    args = _parse(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    elif world > 1 and not use_cuda:
        # share the cores among the processes instead of oversubscribing them
        torch.set_num_threads(
            max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world)))
        )
    device = torch.device("cpu")
    if use_cuda:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    backend = args.backend
    if backend == "auto":
        # nccl needs one GPU per process; ranks that share a GPU (or the CPU) use gloo
        own_gpu = use_cuda and torch.cuda.device_count() >= int(
            os.environ.get("LOCAL_WORLD_SIZE", world)
        )
        backend = "nccl" if own_gpu else "gloo"
    if world > 1:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=args.timeout))
    try:
        result = train(
            args.norm,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device=device,
            max_steps=args.max_steps,
        )
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"norm={result['norm']} processes={result['world_size']} "
            f"({backend if world > 1 else 'no process group'}, {device.type}) "
            f"per-device batch={result['per_device_batch']} steps={result['steps']}: "
            f"test accuracy {100 * result['test_accuracy']:.1f}%, "
            f"training wall time {result['seconds']:.1f} s",
            flush=True,
        )
    return result


if __name__ == "__main__":
    main()
