"""Keeping a Wasserstein critic (close to) 1-Lipschitz: weight clipping and the gradient
penalty.

The Kantorovich–Rubinstein duality ``W1(P, Q) = sup_{‖f‖_L ≤ 1} E_P f - E_Q f`` turns the
critic's loss into a distance only if the critic is 1-Lipschitz (any K-Lipschitz bound
gives ``K·W1``). Arjovsky et al. (2017) clip every weight to ``[-c, c]`` after each critic
step, which bounds the Lipschitz constant by *some* K but pushes the weights to ``±c`` and
makes gradients explode or vanish through deep critics. Gulrajani et al. (2017) instead
penalize ``(‖∇D(x̂)‖₂ - 1)²`` at random points ``x̂`` between real and generated samples,
where the optimal critic has gradients of norm exactly 1.
"""

from __future__ import annotations

import torch
from torch import nn

from normlab._validation import (
    check_batch,
    check_critic_scores,
    check_module,
    check_positive_float,
    check_same_device,
)

__all__ = ["critic_gradient_norm", "interpolate", "gradient_penalty", "clip_weights"]


def _check_samples(x: object, name: str) -> torch.Tensor:
    return check_batch(x, name, "a batch of samples")


def critic_gradient_norm(
    critic: nn.Module, x: torch.Tensor, *, create_graph: bool = False
) -> torch.Tensor:
    """The norm of the critic's input gradient at every sample: ``‖∇ₓ f(x_i)‖₂``.

    The gradient of ``f(x).sum()`` is taken with respect to ``x``; for a critic that scores
    each sample on its own (no batch normalization) its ``i``-th row is ``∇f(x_i)``.

    Args:
        critic: maps ``(N, *features)`` to scores ``(N,)`` (or ``(N, 1)``).
        x: the points, shape ``(N, *features)``; not modified.
        create_graph: keep the graph of the gradient, so that a loss built from the norms
            can be differentiated with respect to the critic's parameters (the gradient
            penalty needs it).

    Returns:
        The norms, shape ``(N,)``; 0 for a critic that ignores its input.

    Raises:
        TypeError: ``critic`` is not a module, or ``x`` not a floating tensor.
        ValueError: ``x`` is not a batch, or the critic does not return one score per
            sample.
    """
    check_module(critic, "critic")
    _check_samples(x, "x")
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        scores = critic(x)
        check_critic_scores(scores, len(x))
        if not scores.requires_grad:  # a critic that ignores its input (and has no weights)
            return torch.zeros(len(x), dtype=x.dtype, device=x.device)
        # A critic that ignores x leaves x out of the graph: its gradient is 0, not an error.
        (grad,) = torch.autograd.grad(
            scores.sum(), x, create_graph=create_graph, allow_unused=True, materialize_grads=True
        )
    return torch.linalg.vector_norm(grad.flatten(1), dim=1)


def interpolate(
    real: torch.Tensor, fake: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random points on the segments between paired real and generated samples.

    ``x̂_i = ε_i x_i + (1 - ε_i) x̃_i`` with one ``ε_i ~ U[0, 1]`` per sample (Gulrajani
    et al., 2017, Algorithm 1), not one for the whole batch.

    Args:
        real: real samples ``x``, shape ``(N, *features)``.
        fake: generated samples ``x̃``, the same shape.
        generator: random generator for ``ε`` (on the samples' device); ``None`` uses the
            global one.

    Returns:
        The interpolates ``(N, *features)``, detached from both inputs' graphs.

    Raises:
        ValueError: the shapes, devices or dtypes differ.
    """
    _check_samples(real, "real")
    _check_samples(fake, "fake")
    check_same_device(fake, "fake", real, "real")
    if fake.dtype != real.dtype:
        raise ValueError(f"fake must have real's dtype ({real.dtype}), got {fake.dtype}")
    if real.shape != fake.shape:
        raise ValueError(
            "real and fake must have the same shape (pairs of samples), got "
            f"{tuple(real.shape)} and {tuple(fake.shape)}"
        )
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    epsilon = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    return (epsilon * real.detach() + (1 - epsilon) * fake.detach()).detach()


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The two-sided gradient penalty of WGAN-GP (Gulrajani et al., 2017):
    ``E_x̂ (‖∇D(x̂)‖₂ - 1)²``.

    ``x̂`` are random interpolates between real and generated samples
    (:func:`normlab.gan.penalties.interpolate`); the gradient is taken with
    ``create_graph=True`` so that the penalty back-propagates into the critic's parameters.
    Multiply by ``λ`` (10 in the paper) and add it to the critic's loss. The critic must not
    use batch normalization: the penalty is defined per sample.

    Args:
        critic: maps ``(N, *features)`` to scores ``(N,)``.
        real: real samples, shape ``(N, *features)``.
        fake: generated samples, the same shape (detached inside).
        generator: random generator for the interpolation weights.

    Returns:
        Scalar penalty (without ``λ``).

    Raises:
        ValueError: ``real`` and ``fake`` have different shapes, devices or dtypes, or fewer
            than 2 dimensions; the critic does not return one score per sample.

    A critic that ignores its input has gradient 0 everywhere: its penalty is
    ``(0 - 1)² = 1``.
    """
    check_module(critic, "critic")
    points = interpolate(real, fake, generator=generator)
    norms = critic_gradient_norm(critic, points, create_graph=True)
    return ((norms - 1.0) ** 2).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """Clamp every parameter of ``module`` to ``[-c, c]``, in place (Arjovsky et al., 2017).

    Call it after *every* critic step, as in WGAN's Algorithm 1 (``c = 0.01``). The
    optimizer's state is left alone.

    Args:
        module: the critic.
        c: the clipping bound, > 0.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``.
        ValueError: ``c <= 0``.
    """
    check_module(module, "module")
    c = check_positive_float(c, "c")
    for parameter in module.parameters():
        parameter.clamp_(-c, c)
