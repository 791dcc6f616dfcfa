"""Label smoothing: soft targets for classifiers and for GAN discriminators.

One-sided label smoothing (Salimans et al., 2016, section 3.4) softens only the
discriminator's *real* targets, from 1 to 1 - epsilon, and leaves the fake targets at 0:
smoothing the fake targets too would reward the generator for samples that the
discriminator already finds implausible.
"""

from __future__ import annotations

import torch

from normlab._validation import check_real, check_tensor

__all__ = ["one_sided_smooth_labels"]


def one_sided_smooth_labels(target: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Binary discriminator targets with one-sided label smoothing.

    Maps each real target 1 to ``1 - epsilon`` and keeps each fake target 0 at 0:
    ``target * (1 - epsilon)``.

    Args:
        target: tensor of 0s (fake) and 1s (real), of any shape; bool, integer or floating.
        epsilon: smoothing in [0, 1); 0 returns the targets unchanged (as floats).

    Returns:
        Floating tensor of the same shape (``float32`` unless ``target`` is floating, in which
        case its dtype is kept), ready for ``binary_cross_entropy_with_logits``.

    Raises:
        TypeError: ``target`` is not a tensor, or ``epsilon`` is not a real number.
        ValueError: ``target`` holds values other than 0 and 1; ``epsilon`` is outside [0, 1).
    """
    check_tensor(target, "target")
    epsilon = check_real(epsilon, "epsilon")
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"epsilon must lie in [0, 1) for one-sided smoothing, got {epsilon}")
    values = target if target.is_floating_point() else target.to(torch.float32)
    if not bool(((values == 0) | (values == 1)).all()):
        raise ValueError("target must hold only 0 (fake) and 1 (real) for one-sided smoothing")
    return values * (1.0 - epsilon)
