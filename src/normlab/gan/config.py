"""What :func:`~normlab.gan.training.train_gan` is asked to do, checked before anything runs.

:meth:`GANConfig.check` validates every argument of a training run (the numbers, the loss,
the constraints that do not mix: a gradient penalty and a batch-normalized critic, label
smoothing and a loss without labels) and returns them as one frozen record, so that the
loop (:mod:`normlab.gan.training`) and the checkpointer (:mod:`normlab.gan.checkpoint`)
read a configuration that is already right. The optimizers' construction and the checks
that they optimize the right model are here too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from normlab._validation import (
    check_int,
    check_nonnegative_float,
    check_one_sided_smoothing,
    check_positive_float,
    check_positive_int,
)
from normlab.gan.losses import GANLoss, get_loss
from normlab.sync_batchnorm import is_batch_norm
from normlab.training import OptimizerFactory

__all__ = [
    "GANConfig",
    "Evaluate",
    "OptimizerFactory",
    "has_batch_norm",
    "latent_size",
    "floating_dtype",
    "make_optimizer",
    "check_optimizes",
]

#: A metric callback ``(generator, critic) -> {name: value}``.
Evaluate = Callable[[nn.Module, nn.Module], Mapping[str, float]]


@dataclass(frozen=True)
class GANConfig:
    """The checked arguments of one :func:`~normlab.gan.training.train_gan` run (see there
    for each one's meaning); build it with :meth:`check`.

    Attributes:
        gan_loss: the :class:`~normlab.gan.losses.GANLoss` that ``loss`` names.
        checkpoint_path: ``None`` or the checkpoint file as a ``Path``.
    """

    loss: str
    gan_loss: GANLoss
    steps: int
    n_critic: int
    batch_size: int
    latent_dim: int
    gp_weight: float
    clip_value: float | None
    label_smoothing: float
    seed: int
    eval_every: int | None
    evaluate: Evaluate | None
    checkpoint_path: Path | None
    checkpoint_every: int | None
    concatenate_batches: bool
    stop_on_divergence: bool

    @classmethod
    def check(
        cls,
        generator: object,
        critic: object,
        *,
        loss: str,
        steps: int,
        n_critic: int,
        batch_size: int,
        latent_dim: int | None,
        gp_weight: float,
        clip_value: float | None,
        label_smoothing: float,
        seed: int,
        eval_every: int | None,
        evaluate: Evaluate | None,
        checkpoint_path: str | os.PathLike[str] | None,
        checkpoint_every: int | None,
        concatenate_batches: bool | None,
        stop_on_divergence: bool,
    ) -> GANConfig:
        """Validate a run's arguments, in the order
        :func:`~normlab.gan.training.train_gan` documents its errors,
        before any model is touched."""
        if not isinstance(generator, nn.Module) or not isinstance(critic, nn.Module):
            raise TypeError(
                "generator and critic must be torch.nn.Module instances, got "
                f"{type(generator).__name__} and {type(critic).__name__}"
            )
        gan_loss = get_loss(loss)
        steps = check_positive_int(steps, "steps")
        n_critic = check_positive_int(n_critic, "n_critic")
        batch_size = check_positive_int(batch_size, "batch_size")
        latent_dim = latent_size(generator, latent_dim)
        gp_weight = check_nonnegative_float(gp_weight, "gp_weight")
        if clip_value is not None:
            clip_value = check_positive_float(clip_value, "clip_value")
        label_smoothing = check_one_sided_smoothing(label_smoothing, "label_smoothing")
        if label_smoothing and not gan_loss.supports_label_smoothing:
            raise ValueError(
                f"label_smoothing applies to the 'minimax' and 'non_saturating' losses "
                f"(targets 0/1), not to loss={loss!r}"
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
        if concatenate_batches is None:
            concatenate_batches = not has_batch_norm(critic)
        return cls(
            loss=loss,
            gan_loss=gan_loss,
            steps=steps,
            n_critic=n_critic,
            batch_size=batch_size,
            latent_dim=latent_dim,
            gp_weight=gp_weight,
            clip_value=clip_value,
            label_smoothing=label_smoothing,
            seed=seed,
            eval_every=eval_every,
            evaluate=evaluate,
            checkpoint_path=None if checkpoint_path is None else Path(checkpoint_path),
            checkpoint_every=checkpoint_every,
            concatenate_batches=bool(concatenate_batches),
            stop_on_divergence=stop_on_divergence,
        )

    def saved(self) -> dict[str, Any]:
        """What a checkpoint records of the configuration, and a resume must match."""
        return {
            "loss": self.loss,
            "n_critic": self.n_critic,
            "batch_size": self.batch_size,
            "latent_dim": self.latent_dim,
            "gp_weight": self.gp_weight,
            "clip_value": self.clip_value,
            "label_smoothing": self.label_smoothing,
            "seed": self.seed,
        }

    def due(self, done: int) -> tuple[bool, bool]:
        """Whether an evaluation and a checkpoint are due after ``done`` generator steps."""
        last = done == self.steps
        evaluation = self.evaluate is not None and (
            last or (self.eval_every is not None and done % self.eval_every == 0)
        )
        checkpoint = self.checkpoint_path is not None and (
            last or (self.checkpoint_every is not None and done % self.checkpoint_every == 0)
        )
        return evaluation, checkpoint


def has_batch_norm(module: nn.Module) -> bool:
    """True if ``module`` contains a batch-normalization layer (torch's or normlab's).

    Such a critic couples the samples of a batch, which breaks the per-sample gradient
    penalty (Gulrajani et al., 2017) and changes its statistics when real and generated
    samples share a forward pass.
    """
    # one detection for the library: SyncBatchNorm's conversion uses the same predicate
    return any(is_batch_norm(m) for m in module.modules())


def latent_size(generator: nn.Module, latent_dim: int | None) -> int:
    """The size of ``z``: ``latent_dim`` if given (it must agree with the generator's own
    ``latent_dim`` attribute, if it has one), else that attribute."""
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


def floating_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of ``module``'s first floating-point parameter (the noise is drawn in it),
    else PyTorch's default dtype."""
    for parameter in module.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.get_default_dtype()


def make_optimizer(
    choice: torch.optim.Optimizer | OptimizerFactory | None, module: nn.Module, name: str
) -> torch.optim.Optimizer:
    """The optimizer ``train_gan`` uses for ``module``: ``choice`` itself (checked to hold
    only ``module``'s parameters), built by the factory ``choice``, or by default
    Adam(2e-4, betas=(0.5, 0.999)) (Radford et al., 2016)."""
    if choice is None:
        return torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999))
    if isinstance(choice, torch.optim.Optimizer):
        check_optimizes(choice, module, name)
        return choice
    if callable(choice):
        optimizer = choice(module.parameters())
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"{name} factory must return a torch.optim.Optimizer")
        check_optimizes(optimizer, module, name)
        return optimizer
    raise TypeError(
        f"{name} must be a torch.optim.Optimizer, a factory params -> optimizer, or None; "
        f"got {type(choice).__name__}"
    )


def check_optimizes(optimizer: torch.optim.Optimizer, module: nn.Module, name: str) -> None:
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
