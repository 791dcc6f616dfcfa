"""Chapter 6's workers: functions that :func:`~normlab.scaffolding.launch.launch` runs on
every rank, to compare synchronized and per-process batch norm shard by shard.

They live in a module (not in the notebook) because the spawned processes must unpickle
them; the chapter on synchronized batch norm and its tests call them through
``launch(run_calls, world_size, [functools.partial(shard_steps, ...), ...])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from normlab.scaffolding.launch import count_collectives
from normlab.scaffolding.timing import time_forward_backward

__all__ = ["shard_steps", "forward_on_each_rank", "time_modules"]


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard_steps(
    modules: dict[str, nn.Module],
    inputs: Sequence[Tensor],
    grad_outputs: Sequence[Tensor],
    sizes: Sequence[int],
    *,
    train: bool = True,
    catch_errors: bool = False,
    device: str | torch.device = "cpu",
    process_groups: Sequence[Sequence[int]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Worker: every rank runs its shard of each batch through each module, forward and
    backward, and reports what happened.

    Batch ``k`` is ``inputs[k]``; rank ``r`` takes the ``r``-th piece of
    ``inputs[k].split(sizes)`` (and of ``grad_outputs[k]``), so concatenating the ranks'
    outputs gives the module's output on the whole batch when it synchronizes, and
    something else when it does not.

    Args:
        modules: name → module; each rank gets its own unpickled copy.
        inputs, grad_outputs: one full batch per step, ``(N, C, *)``, and the gradient of
            the loss with respect to the output on it.
        sizes: shard size of each rank along axis 0 (one per rank, summing to ``N``).
        train: training (``True``) or eval mode.
        catch_errors: report a module's exception as text under ``"error"`` instead of
            raising it.
        device: where each rank computes.
        process_groups: a partition of the ranks, e.g. ``[[0, 2], [1]]``: each rank sets
            the ``process_group`` of every module that has one to the group it belongs
            to (``None``: the modules keep theirs, by default the world).

    Returns:
        name → ``{"output", "grad_input", "grad_weight", "grad_bias"}`` (lists over the
        steps of this rank's tensors; the parameter gradients are this rank's, accumulated
        over the steps), ``"running_mean"``, ``"running_var"``, ``"num_batches_tracked"``
        after the last step, ``"collectives"`` (a
        :class:`~normlab.scaffolding.launch.CollectiveLog` of all steps), or
        ``{"error": "Type: message"}``.
    """
    rank, world = _rank_and_world()
    if len(sizes) != world:
        raise ValueError(f"sizes must have one entry per rank ({world}), got {list(sizes)}")
    group = _my_group(process_groups, rank, world)
    report: dict[str, dict[str, Any]] = {}
    for name, module in modules.items():
        module.to(device).train(train)
        if process_groups is not None:
            for layer in module.modules():
                if hasattr(layer, "process_group"):
                    layer.process_group = group
        entry: dict[str, Any] = {"output": [], "grad_input": []}
        try:
            with count_collectives() as log:
                for x, g in zip(inputs, grad_outputs, strict=True):
                    shard = x.to(device).split(list(sizes))[rank].clone().requires_grad_()
                    out = module(shard)
                    out.backward(g.to(device).split(list(sizes))[rank])
                    entry["output"].append(out.detach().cpu())
                    entry["grad_input"].append(shard.grad.cpu())
        except Exception as err:
            if not catch_errors:
                raise
            report[name] = {"error": f"{type(err).__name__}: {err}"}
            continue
        for key in ("weight", "bias"):
            param = getattr(module, key, None)
            grad = None if param is None or param.grad is None else param.grad.cpu()
            entry[f"grad_{key}"] = grad
        for key in ("running_mean", "running_var", "num_batches_tracked"):
            buffer = getattr(module, key, None)
            entry[key] = None if buffer is None else buffer.detach().cpu()
        entry["collectives"] = log
        report[name] = entry
    return report


def _my_group(process_groups: Sequence[Sequence[int]] | None, rank: int, world: int) -> Any:
    if process_groups is None:
        return None
    parts = [sorted(int(r) for r in part) for part in process_groups]
    if sorted(r for part in parts for r in part) != list(range(world)):
        raise ValueError(
            f"process_groups must partition the ranks 0..{world - 1}, got {list(process_groups)}"
        )
    mine = None
    for part in parts:  # every rank creates every group, in the same order
        group = dist.new_group(part)
        if rank in part:
            mine = group
    return mine


def forward_on_each_rank(
    modules: nn.Module | Sequence[nn.Module],
    inputs: Sequence[object],
    *,
    train: bool = True,
    catch_errors: bool = True,
) -> object:
    """Worker: rank ``r`` calls ``modules[r](inputs[r])`` (or one shared module) and returns
    its output, or, with ``catch_errors``, the text ``"Type: message"`` of its exception.

    Used to check that inputs which are wrong on one rank give the same error on every rank.
    """
    rank, world = _rank_and_world()
    if len(inputs) != world:
        raise ValueError(f"inputs must have one entry per rank ({world}), got {len(inputs)}")
    module = modules if isinstance(modules, nn.Module) else modules[rank]
    module.train(train)
    try:
        return module(inputs[rank]).detach()
    except Exception as err:
        if not catch_errors:
            raise
        return f"{type(err).__name__}: {err}"


def time_modules(
    modules: dict[str, nn.Module],
    shape: Sequence[int],
    *,
    repeats: int = 20,
    device: str | torch.device = "cpu",
) -> dict[str, dict[str, float]]:
    """Worker: time one training step (forward and backward) of each module on this rank.

    Every rank times ``modules[name](x).sum().backward()`` on its own random ``x`` of
    ``shape`` (seeded by the rank), so a synchronizing module's time includes waiting for
    the other ranks.

    Returns:
        name → ``{"best", "median"}`` seconds per step and ``"collectives"``, the number of
        ``torch.distributed`` calls per step.
    """
    rank, _ = _rank_and_world()
    generator = torch.Generator().manual_seed(rank)
    x = torch.randn(tuple(shape), generator=generator).to(device)
    timings: dict[str, dict[str, float]] = {}
    for name, module in modules.items():
        module.to(device).train()
        with count_collectives() as log:
            module(x).sum().backward()
        timing = time_forward_backward(module, x, repeats=repeats)
        timings[name] = {
            "best": timing.best,
            "median": timing.median,
            "collectives": float(log.total),
        }
    return timings
