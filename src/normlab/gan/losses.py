"""The GAN losses, each for the discriminator (critic) and for the generator.

Every function takes the critic's raw scores, one per sample (logits for the two
Goodfellow losses), and returns a scalar to *minimize*. The real and fake scores are
averaged separately, so their shapes need not match.

- ``"minimax"``: discriminator ``-E log D(x) - E log(1 - D(G(z)))``, generator
  ``E log(1 - D(G(z)))``;
- ``"non_saturating"``: the same discriminator loss, generator ``-E log D(G(z))``;
- ``"wasserstein"``: critic ``E f(G(z)) - E f(x)``, generator ``-E f(G(z))``;
- ``"hinge"``: discriminator ``E relu(1 - f(x)) + E relu(1 + f(G(z)))``, generator
  ``-E f(G(z))``;

with ``D = sigmoid(f)``. Minimax and non-saturating: Goodfellow et al. (2014); Wasserstein:
Arjovsky et al. (2017); hinge: Lim & Ye (2017), as used by Miyato et al. (2018, eq. 17).
Logs of sigmoids are computed from the logits with ``softplus``, which never overflows:
``-log sigmoid(s) = softplus(-s)`` and ``-log(1 - sigmoid(s)) = softplus(s)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from normlab._validation import (
    check_choice,
    check_floating,
    check_nonempty,
    check_one_sided_smoothing,
)
from normlab.label_smoothing import one_sided_smooth_labels

__all__ = [
    "minimax_discriminator_loss",
    "minimax_generator_loss",
    "non_saturating_discriminator_loss",
    "non_saturating_generator_loss",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "GANLoss",
    "LOSSES",
    "get_loss",
    "real_target",
]


def _scores(x: object, name: str) -> torch.Tensor:
    x = check_floating(x, name)
    check_nonempty(x, name)
    return x


def real_target(real_scores: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """The target of the real samples, ``1 - label_smoothing``, shaped like ``real_scores``
    (one-sided smoothing, :func:`normlab.label_smoothing.one_sided_smooth_labels`);
    ``label_smoothing`` already checked by the caller."""
    # The smoothed value is computed once on a CPU scalar with the library's one-sided
    # rule (so the rule lives in one place) and then broadcast: checking a full target
    # tensor on the GPU would synchronize the device at every step.
    one = torch.ones((), dtype=real_scores.dtype)
    value = one_sided_smooth_labels(one, label_smoothing).item()
    return torch.full_like(real_scores, value)


def minimax_discriminator_loss(
    real_scores: torch.Tensor, fake_scores: torch.Tensor, *, label_smoothing: float = 0.0
) -> torch.Tensor:
    """The discriminator's loss of the original GAN game (Goodfellow et al., 2014).

    The discriminator ``D = sigmoid(f)`` maximizes ``E log D(x) + E log(1 - D(G(z)))``;
    its loss is the negation, the binary cross-entropy with targets 1 for real and 0 for
    fake samples: ``softplus(-f(x)).mean() + softplus(f(G(z))).mean()``.

    Args:
        real_scores: logits ``f(x)`` on real samples, any shape.
        fake_scores: logits ``f(G(z))`` on generated samples, any shape.
        label_smoothing: one-sided label smoothing ``ε`` (Salimans et al., 2016): real
            targets become ``1 - ε`` (:func:`normlab.label_smoothing.one_sided_smooth_labels`),
            fake targets stay 0.

    Returns:
        Scalar loss.

    Raises:
        TypeError: scores are not floating tensors.
        ValueError: empty scores, or ``label_smoothing`` outside [0, 1).
    """
    _scores(real_scores, "real_scores")
    _scores(fake_scores, "fake_scores")
    label_smoothing = check_one_sided_smoothing(label_smoothing, "label_smoothing")
    if label_smoothing:
        target = real_target(real_scores, label_smoothing)
        real_term = F.binary_cross_entropy_with_logits(real_scores, target)
    else:
        real_term = F.softplus(-real_scores).mean()
    return real_term + F.softplus(fake_scores).mean()


def non_saturating_discriminator_loss(
    real_scores: torch.Tensor, fake_scores: torch.Tensor, *, label_smoothing: float = 0.0
) -> torch.Tensor:
    """The discriminator's loss of the non-saturating GAN: the same as the minimax one.

    Goodfellow et al. (2014, section 3) change only the *generator's* objective; the
    discriminator still minimizes the binary cross-entropy
    ``-E log D(x) - E log(1 - D(G(z)))``. See
    :func:`normlab.gan.losses.minimax_discriminator_loss` for the arguments.
    """
    return minimax_discriminator_loss(real_scores, fake_scores, label_smoothing=label_smoothing)


def minimax_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator's loss of the original minimax game (Goodfellow et al., 2014).

    The generator minimizes ``E log(1 - D(G(z))) = -softplus(f(G(z))).mean()``. Its
    gradient with respect to the logit is ``-sigmoid(f)``: it vanishes when the
    discriminator confidently rejects the samples (``D(G(z)) → 0``), which is early in
    training: the loss *saturates*.

    Args:
        fake_scores: logits ``f(G(z))``, any shape.

    Returns:
        Scalar loss (≤ 0).
    """
    return -F.softplus(_scores(fake_scores, "fake_scores")).mean()


def non_saturating_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss (Goodfellow et al., 2014, section 3).

    The generator maximizes ``E log D(G(z))`` instead, i.e. minimizes
    ``-E log D(G(z)) = softplus(-f(G(z))).mean()``: the same fixed point as the minimax
    game, but a gradient ``-(1 - sigmoid(f))`` that is largest when the discriminator
    rejects the samples.

    Args:
        fake_scores: logits ``f(G(z))``, any shape.

    Returns:
        Scalar loss (≥ 0).
    """
    return F.softplus(-_scores(fake_scores, "fake_scores")).mean()


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The critic's loss of the Wasserstein GAN (Arjovsky et al., 2017).

    ``E[f(G(z))] - E[f(x)]``: minus the critic's estimate of the Earth-Mover distance
    ``W1(P_data, P_G) = sup_{‖f‖_L ≤ 1} E f(x) - E f(G(z))`` (Kantorovich–Rubinstein
    duality). The estimate is a distance only when ``f`` is kept 1-Lipschitz, by weight
    clipping (:func:`normlab.gan.penalties.clip_weights`) or a gradient penalty
    (:func:`normlab.gan.penalties.gradient_penalty`).

    Args:
        real_scores: ``f(x)``, any shape.
        fake_scores: ``f(G(z))``, any shape.

    Returns:
        Scalar loss.
    """
    return _scores(fake_scores, "fake_scores").mean() - _scores(real_scores, "real_scores").mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator's loss of the Wasserstein GAN: ``-E[f(G(z))]`` (Arjovsky et al., 2017).

    Args:
        fake_scores: ``f(G(z))``, any shape.

    Returns:
        Scalar loss.
    """
    return -_scores(fake_scores, "fake_scores").mean()


def hinge_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The hinge loss for the discriminator (Lim & Ye, 2017; Miyato et al., 2018, eq. 17).

    ``E[relu(1 - f(x))] + E[relu(1 + f(G(z)))]``: real scores are pushed above +1 and fake
    scores below -1, and samples beyond their margin contribute nothing.

    Args:
        real_scores: ``f(x)``, any shape.
        fake_scores: ``f(G(z))``, any shape.

    Returns:
        Scalar loss (≥ 0).
    """
    real_term = F.relu(1.0 - _scores(real_scores, "real_scores")).mean()
    return real_term + F.relu(1.0 + _scores(fake_scores, "fake_scores")).mean()


def hinge_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator's loss paired with the hinge discriminator loss: ``-E[f(G(z))]``
    (Lim & Ye, 2017; Miyato et al., 2018, eq. 17).

    Args:
        fake_scores: ``f(G(z))``, any shape.

    Returns:
        Scalar loss.
    """
    return -_scores(fake_scores, "fake_scores").mean()


class GANLoss(NamedTuple):
    """A named pair of losses: ``discriminator(real_scores, fake_scores)`` and
    ``generator(fake_scores)``, plus whether one-sided label smoothing applies."""

    name: str
    discriminator: Callable[..., torch.Tensor]
    generator: Callable[[torch.Tensor], torch.Tensor]
    supports_label_smoothing: bool


#: The four losses by name, as accepted by :func:`normlab.gan.training.train_gan`.
LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss("minimax", minimax_discriminator_loss, minimax_generator_loss, True),
    "non_saturating": GANLoss(
        "non_saturating", non_saturating_discriminator_loss, non_saturating_generator_loss, True
    ),
    "wasserstein": GANLoss(
        "wasserstein", wasserstein_critic_loss, wasserstein_generator_loss, False
    ),
    "hinge": GANLoss("hinge", hinge_discriminator_loss, hinge_generator_loss, False),
}


def get_loss(name: str) -> GANLoss:
    """The :class:`GANLoss` called ``name``: ``"minimax"``, ``"non_saturating"``,
    ``"wasserstein"`` or ``"hinge"``.

    Raises:
        ValueError: unknown name.
    """
    check_choice(name, "loss", tuple(LOSSES))
    return LOSSES[name]
