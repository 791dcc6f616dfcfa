"""A small, seeded training loop for classifiers, with per-epoch history.

Data sets in this book fit in memory, so batches are cut from tensors with a seeded
permutation instead of a ``DataLoader``: faster for tiny models and exactly repeatable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from normlab._validation import (
    check_callable,
    check_floating,
    check_int,
    check_module,
    check_positive_int,
)
from normlab.scaffolding.device import get_device
from normlab.scaffolding.progress import hidden, progress_bar

__all__ = ["History", "fit_classifier", "evaluate_classifier", "predict_logits"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
StepFn = Callable[[int, nn.Module], object]


@dataclass
class History:
    """What :func:`fit_classifier` measured; one entry per epoch unless noted.

    Attributes:
        train_loss: mean training loss over the epoch's batches (model in training mode).
        train_accuracy: accuracy on those batches, as they were seen during the epoch.
        val_loss: cross-entropy on the validation data in eval mode (NaN without it).
        val_accuracy: accuracy on the validation data in eval mode (NaN without it).
        seconds: wall time of each epoch.
        step_loss: the training loss of every optimizer step.
        diverged: True if training stopped because the loss became NaN or infinite.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    diverged: bool = False

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)


def _as_pair(
    data: object, name: str, *, soft_targets: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        x, y = cast("tuple[object, object]", data)  # a Split, or any (inputs, labels) pair
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an (x, y) pair of tensors, such as a Split") from err
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(
            f"{name} must hold two tensors, got ({type(x).__name__}, {type(y).__name__})"
        )
    if not x.is_floating_point():  # a Linear on int64 inputs fails with a dtype mismatch
        raise TypeError(f"{name}: inputs x must be a floating-point tensor, got dtype {x.dtype}")
    if len(x) != len(y):
        raise ValueError(f"{name}: x and y must have the same length, got {len(x)} and {len(y)}")
    if soft_targets and y.is_floating_point() and y.ndim == 2:
        return x, y
    if y.dtype != torch.int64:
        allowed = " or floating (N, C) class probabilities" if soft_targets else ""
        raise TypeError(f"{name}: labels y must be int64 class indices{allowed}, got {y.dtype}")
    return x, y


def _batches(
    n: int, batch_size: int, generator: torch.Generator | None, drop_last: bool
) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """The model's outputs on ``x``, computed in eval mode, in batches.

    The model's training/eval mode is restored afterwards. ``x`` is moved to the device of
    the model's first parameter (or buffer).
    """
    model = check_module(model, "model")
    x = check_floating(x, "x")
    batch_size = check_positive_int(batch_size, "batch_size")
    reference: torch.Tensor | None = next(iter(model.parameters()), None)
    if reference is None:
        reference = next(iter(model.buffers()), None)
    device = reference.device if reference is not None else x.device
    was_training = model.training
    model.eval()
    try:
        outputs = [model(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outputs)


def evaluate_classifier(
    model: nn.Module, data: object, *, batch_size: int = 1024
) -> dict[str, float]:
    """Cross-entropy (the negative log-likelihood) and accuracy of ``model`` on ``data``.

    Args:
        model: a classifier returning logits of shape ``(N, C)``.
        data: an ``(x, y)`` pair such as a :class:`normlab.data.Split`.
        batch_size: evaluation batch size (does not change the result in eval mode).

    Returns:
        ``{"loss": ..., "accuracy": ...}`` as Python floats.
    """
    model = check_module(model, "model")
    x, y = _as_pair(data, "data")
    if len(x) == 0:
        return {"loss": math.nan, "accuracy": math.nan}
    logits = predict_logits(model, x, batch_size=batch_size)
    y = y.to(logits.device)
    return {
        "loss": F.cross_entropy(logits, y).item(),
        "accuracy": (logits.argmax(dim=1) == y).float().mean().item(),
    }


def _optimizer(
    choice: torch.optim.Optimizer | OptimizerFactory | None, model: nn.Module
) -> torch.optim.Optimizer:
    """``choice``, or built by the factory ``choice``, or Adam(1e-3) over the model."""
    if choice is None:
        return torch.optim.Adam(model.parameters(), lr=1e-3)
    if isinstance(choice, torch.optim.Optimizer):
        return choice
    optimizer = choice(model.parameters())
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer factory {choice!r} must return a torch.optim.Optimizer, got "
            f"{type(optimizer).__name__}"
        )
    return optimizer


def _end_epoch(
    history: History,
    model: nn.Module,
    val: object | None,
    total_loss: float,
    correct: int,
    seen: int,
) -> dict[str, float]:
    """Record an epoch's training loss and accuracy (NaN once diverged) and its validation
    metrics, which it returns."""
    if history.diverged:
        history.train_loss.append(math.nan)
        history.train_accuracy.append(math.nan)
    else:
        history.train_loss.append(total_loss / seen)
        history.train_accuracy.append(correct / seen)
    if val is not None and not history.diverged:
        metrics = evaluate_classifier(model, val)
    else:
        metrics = {"loss": math.nan, "accuracy": math.nan}
    history.val_loss.append(metrics["loss"])
    history.val_accuracy.append(metrics["accuracy"])
    return metrics


def fit_classifier(
    model: nn.Module,
    train: object,
    *,
    val: object | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    optimizer: torch.optim.Optimizer | OptimizerFactory | None = None,
    loss_fn: LossFn | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    drop_last: bool = False,
    stop_on_divergence: bool = True,
    progress: bool | None = None,
    desc: str | None = None,
    on_step: StepFn | None = None,
    max_steps: int | None = None,
) -> History:
    """Train a classifier with mini-batches and record its history.

    Args:
        model: maps inputs ``x[i:j]`` to logits ``(batch, C)``; moved to ``device``.
        train: ``(x, y)`` training pair (e.g. ``load_digits().train``); ``y`` int64 labels,
            or floating class probabilities of shape ``(N, C)`` (soft targets, such as a
            teacher's for distillation), which ``loss_fn`` receives as they are and against
            whose argmax the training accuracy is counted.
        val: optional ``(x, y)`` pair evaluated after every epoch, in eval mode.
        epochs: number of passes over the training data.
        batch_size: mini-batch size.
        optimizer: an optimizer over ``model``'s parameters, or a factory
            ``params -> optimizer``; default ``Adam(lr=1e-3)``.
        loss_fn: ``(logits, y) -> scalar`` training loss; default ``F.cross_entropy``
            (pass e.g. a label-smoothing loss here). Validation always reports plain
            cross-entropy.
        device: where to train; default :func:`normlab.scaffolding.device.get_device`.
        seed: seed of the shuffling order (seed the model's initialization yourself, before
            building it).
        drop_last: drop the last incomplete batch (a last batch of one sample would make
            batch normalization raise).
        stop_on_divergence: stop when the loss becomes NaN or infinite, and mark
            ``History.diverged``.
        progress: show a progress bar; default: unless ``NORMLAB_QUIET`` is set.
        desc: label of the progress bar.
        on_step: called as ``on_step(step, model)`` after every optimizer step, with the
            step's index (counting from 0 over the whole run); the step's gradients are
            still in each parameter's ``.grad``, e.g. to record gradient norms per layer.
        max_steps: stop after this many optimizer steps, inside an epoch if need be (the
            cut epoch is recorded like a full one); ``epochs`` is then an upper bound. A
            fixed number of steps compares batch sizes without giving the small batches
            more updates, as a fixed number of epochs does.

    Returns:
        The :class:`History` of the run.

    Raises:
        TypeError: ``model`` is not a module; ``optimizer``, ``loss_fn`` or ``on_step`` is
            not callable; ``train``/``val`` are not pairs of tensors with floating ``x`` and
            int64 ``y`` (or, for ``train``, floating ``(N, C)`` soft targets).
        ValueError: lengths differ, no sample, soft targets with another class count than
            the model's logits, or ``drop_last`` leaves no batch.
    """
    model = check_module(model, "model")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_int(seed, "seed")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        check_callable(
            optimizer, "optimizer", "a torch.optim.Optimizer or a factory params -> optimizer"
        )
    if loss_fn is not None:
        check_callable(loss_fn, "loss_fn", "(logits, y) -> scalar loss")
    if on_step is not None:
        check_callable(on_step, "on_step", "on_step(step, model)")
    if max_steps is not None:
        max_steps = check_positive_int(max_steps, "max_steps")
    x, y = _as_pair(train, "train", soft_targets=True)
    if len(x) == 0:
        raise ValueError("train must contain at least one sample")
    if drop_last and len(x) < batch_size:
        raise ValueError(
            f"drop_last=True with batch_size={batch_size} leaves no batch of the "
            f"{len(x)} training samples"
        )
    device = get_device(device)
    model.to(device)
    x, y = x.to(device), y.to(device)
    optimizer = _optimizer(optimizer, model)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    generator = torch.Generator().manual_seed(seed)
    history = History()

    bar = progress_bar(range(epochs), desc=desc, disable=hidden(progress))
    for _ in bar:
        start = time.perf_counter()
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for index in _batches(len(x), batch_size, generator, drop_last):
            index = index.to(device)
            xb, yb = x[index], y[index]
            logits = model(xb)
            if yb.ndim == 2 and logits.shape != yb.shape:
                raise ValueError(
                    f"train: soft targets y of shape {tuple(y.shape)} must have one probability "
                    f"per class the model outputs; the model gives logits of shape "
                    f"{tuple(logits.shape)} for a batch of {len(xb)}"
                )
            loss = loss_fn(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if on_step is not None:
                on_step(len(history.step_loss), model)
            value = loss.item()
            history.step_loss.append(value)
            if not math.isfinite(value) and stop_on_divergence:
                history.diverged = True
                break
            total_loss += value * len(yb)
            labels = yb if yb.ndim == 1 else yb.argmax(dim=1)
            correct += (logits.argmax(dim=1) == labels).sum().item()
            seen += len(yb)
            if max_steps is not None and len(history.step_loss) >= max_steps:
                break
        metrics = _end_epoch(history, model, val, total_loss, correct, seen)
        history.seconds.append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val_acc=f"{metrics['accuracy']:.3f}")
        if history.diverged or (max_steps is not None and len(history.step_loss) >= max_steps):
            break
    return history
