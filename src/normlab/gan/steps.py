"""One critic (discriminator) update: the step every GAN variant of the book shares.

A critic step scores a real and a generated batch, takes the critic's loss (a GAN,
Wasserstein or hinge loss), adds ``λ`` times a gradient penalty if asked (WGAN-GP),
takes one optimizer step and then clips the critic's weights if asked (WGAN):

    L = loss(f(x_real), f(x_fake)) + λ · penalty(f, x_real, x_fake);   θ ← opt(θ, ∇L);
    θ ← clamp(θ, -c, c)

:func:`normlab.gan.training.train_gan` runs it ``n_critic`` times per generator step; the
chapters call it directly to train a critic against fixed distributions (the optimal
discriminator of Chapter 8, the parallel lines of Chapter 9) and to time one update
(Chapter 10). It never synchronizes with the device: what it returns are detached
tensors, read with ``.item()`` when the caller wants a number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from normlab._validation import (
    check_critic_scores,
    check_module,
    check_nonnegative_float,
    check_one_sided_smoothing,
    check_positive_float,
)
from normlab.gan.losses import GANLoss, get_loss
from normlab.gan.penalties import clip_weights, gradient_penalty

__all__ = ["CriticStep", "critic_step"]


class CriticStep(NamedTuple):
    """What one :func:`critic_step` measured, as detached 0-dim tensors on the device."""

    #: The loss that was minimized, penalty included (``λ · penalty``).
    loss: torch.Tensor
    #: ``mean f(real) - mean f(fake)`` before the update; for a Wasserstein critic its
    #: estimate of W1 (up to its Lipschitz constant).
    gap: torch.Tensor
    #: The penalty without ``λ`` (NaN when ``gp_weight`` is 0).
    penalty: torch.Tensor


def _critic_loss(loss: object, label_smoothing: float) -> Callable[..., torch.Tensor]:
    if isinstance(loss, str):
        loss = get_loss(loss)
    if isinstance(loss, GANLoss):
        if label_smoothing and not loss.supports_label_smoothing:
            raise ValueError(
                "label_smoothing applies to the 'minimax' and 'non_saturating' losses "
                f"(targets 0/1), not to loss={loss.name!r}"
            )
        if label_smoothing:
            discriminator = loss.discriminator

            def smoothed(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
                return discriminator(real, fake, label_smoothing=label_smoothing)

            return smoothed
        return loss.discriminator
    if callable(loss):
        if label_smoothing:
            raise ValueError(
                "label_smoothing needs a loss given by name ('minimax' or "
                "'non_saturating'), not a callable"
            )
        return loss
    raise TypeError(
        "loss must be a loss name ('minimax', 'non_saturating', 'wasserstein', 'hinge'), a "
        f"GANLoss or a callable (real_scores, fake_scores) -> loss, got {type(loss).__name__}"
    )


def critic_step(
    critic: nn.Module,
    optimizer: torch.optim.Optimizer,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    loss: str | GANLoss | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "wasserstein",
    gp_weight: float = 0.0,
    clip_value: float | None = None,
    label_smoothing: float = 0.0,
    penalty: Callable[..., torch.Tensor] = gradient_penalty,
    generator: torch.Generator | None = None,
    concatenate: bool = True,
) -> CriticStep:
    """One critic update: loss, optional gradient penalty, optimizer step, optional clipping.

    ``L = loss(f(real), f(fake)) + gp_weight · penalty(f, real, fake)``, one step of
    ``optimizer``, then every critic parameter clamped to ``[-clip_value, clip_value]``
    (WGAN's Algorithm 1, Arjovsky et al., 2017; WGAN-GP's, Gulrajani et al., 2017).

    Args:
        critic: maps a batch ``(B, *features)`` to scores ``(B,)`` or ``(B, 1)``.
        optimizer: an optimizer over the critic's parameters.
        real: a real batch ``(B, *features)``.
        fake: a generated batch of the same shape (detached from the generator: only the
            critic learns here).
        loss: the critic's loss: a name of :func:`normlab.gan.losses.get_loss`
            (``"minimax"``, ``"non_saturating"``, ``"wasserstein"``, ``"hinge"``), a
            :class:`normlab.gan.losses.GANLoss`, or ``(real_scores, fake_scores) -> loss``.
        gp_weight: ``λ`` of the penalty (0: none; 10 in WGAN-GP).
        clip_value: ``c`` of weight clipping after the step (``None``: none; 0.01 in WGAN).
        label_smoothing: one-sided smoothing of the real targets (named GAN losses only).
        penalty: ``(critic, real, fake, generator=...) -> tensor``; default the gradient
            penalty at random interpolates, :func:`normlab.gan.penalties.gradient_penalty`.
        generator: the random generator of the penalty's interpolation weights.
        concatenate: score ``real`` and ``fake`` in one critic call (faster; two calls
            when the critic has batch normalization, or to keep one power iteration of a
            spectrally normalized critic per batch).

    Returns:
        A :class:`CriticStep` of detached tensors: the loss, the gap and the penalty.

    Raises:
        TypeError: ``critic`` not an ``nn.Module``, ``optimizer`` not an optimizer,
            ``real``/``fake`` not floating tensors, or an unsupported ``loss``.
        ValueError: ``real`` and ``fake`` of different shapes; a critic that does not
            return one score per sample; label smoothing with a loss that has no labels;
            ``gp_weight < 0`` or ``clip_value <= 0``.
    """
    check_module(critic, "critic")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    for name, batch in (("real", real), ("fake", fake)):
        if not isinstance(batch, torch.Tensor) or not batch.is_floating_point():
            raise TypeError(
                f"{name} must be a floating-point tensor (B, *features), got "
                + (
                    f"dtype {batch.dtype}"
                    if isinstance(batch, torch.Tensor)
                    else type(batch).__name__
                )
            )
    if real.shape != fake.shape:
        raise ValueError(
            "real and fake must have the same shape (B, *features), got "
            f"{tuple(real.shape)} and {tuple(fake.shape)}"
        )
    gp_weight = check_nonnegative_float(gp_weight, "gp_weight")
    if clip_value is not None:
        clip_value = check_positive_float(clip_value, "clip_value")
    label_smoothing = check_one_sided_smoothing(label_smoothing, "label_smoothing")
    loss_fn = _critic_loss(loss, label_smoothing)
    if gp_weight and not callable(penalty):
        raise TypeError(f"penalty must be callable, got {type(penalty).__name__}")

    if concatenate:
        scores = critic(torch.cat([real, fake]))
        real_scores, fake_scores = scores[: len(real)], scores[len(real) :]
    else:
        real_scores, fake_scores = critic(real), critic(fake)
    check_critic_scores(fake_scores, len(fake))  # (N, 2) would train on the sum
    critic_loss = loss_fn(real_scores, fake_scores)
    if gp_weight:
        value = penalty(critic, real, fake, generator=generator)
        total = critic_loss + gp_weight * value
        value = value.detach()
    else:
        value = torch.full((), float("nan"), device=critic_loss.device)
        total = critic_loss
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    if clip_value is not None:
        clip_weights(critic, clip_value)
    gap = (real_scores.mean() - fake_scores.mean()).detach()
    return CriticStep(total.detach(), gap, value)
