"""Toy data for GANs: mixtures of Gaussians in the plane, sampled with a seeded generator.

The ring of 8 Gaussians (Metz et al., 2017; Srivastava et al., 2017) and the 5 × 5 grid of
Gaussians (Srivastava et al., 2017; Gulrajani et al., 2017) are the standard tests of mode
coverage: every sample can be attributed to its nearest centre, so "how many modes did the
generator find, and how close to them are its samples" has an exact answer
(:func:`normlab.gan.metrics.mode_statistics`).

For images, the chapters use the scikit-learn digits scaled to [-1, 1],
:func:`normlab.data.load_digits` with ``scale="symmetric"``, the range of a ``tanh``
generator.
"""

from __future__ import annotations

import math
from typing import Literal, overload

import torch

from normlab._validation import (
    check_finite,
    check_finite_positive_float,
    check_floating,
    check_floating_dtype,
    check_ndim,
    check_nonempty,
    check_positive_int,
)

__all__ = ["GaussianMixture", "ring_of_gaussians", "grid_of_gaussians"]


class GaussianMixture:
    """An equal-weight mixture of isotropic Gaussians ``N(centre_k, std² I)``.

    Args:
        centres: the means, shape ``(K, d)``, floating, finite.
        std: the common standard deviation of every component, finite and > 0.

    Attributes:
        centres: the means ``(K, d)``.
        std: the standard deviation.
    """

    def __init__(self, centres: torch.Tensor, std: float) -> None:
        centres = check_floating(centres, "centres")
        check_ndim(centres, "centres", 2, "of shape (modes, features)")
        check_nonempty(centres, "centres")
        check_finite(centres, "centres")
        self.centres = centres
        self.std = check_finite_positive_float(std, "std")

    @property
    def n_modes(self) -> int:
        """Number of components ``K``."""
        return self.centres.shape[0]

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the samples."""
        return self.centres.shape[1]

    # The return type follows the flag, so that a type checker knows that
    # mode_statistics(mixture.sample(n), ...) gets a tensor.
    @overload
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        return_modes: Literal[False] = False,
    ) -> torch.Tensor: ...

    @overload
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, return_modes: Literal[True]
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    @overload
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, return_modes: bool
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        return_modes: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` samples: a uniformly chosen centre plus ``std`` times Gaussian noise.

        Args:
            n: number of samples.
            generator: the random generator to draw from (on the device of ``centres``);
                ``None`` uses PyTorch's global generator.
            return_modes: also return the index of each sample's component.

        Returns:
            Samples ``(n, d)`` on the device and in the dtype of ``centres``; with
            ``return_modes``, also the component indices ``(n,)`` (int64).
        """
        n = check_positive_int(n, "n")
        device, dtype = self.centres.device, self.centres.dtype
        modes = torch.randint(self.n_modes, (n,), generator=generator, device=device)
        noise = torch.randn(n, self.dim, generator=generator, device=device, dtype=dtype)
        samples = self.centres[modes] + self.std * noise
        return (samples, modes) if return_modes else samples

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> GaussianMixture:
        """The same mixture with its centres on ``device`` and/or in ``dtype``."""
        return GaussianMixture(self.centres.to(device=device, dtype=dtype), self.std)

    def __repr__(self) -> str:
        return f"GaussianMixture(n_modes={self.n_modes}, dim={self.dim}, std={self.std})"


def ring_of_gaussians(
    n_modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> GaussianMixture:
    """Gaussians on a circle, centred at angles ``2πk/K`` for ``k = 0, …, K-1``.

    The defaults (8 modes, radius 2, std 0.02) are the ring of Metz et al. (2017) and
    Srivastava et al. (2017). The angles step by ``2π/K`` and stop *before* ``2π``: the
    often-copied ``linspace(0, 2π, K)`` puts the last centre on top of the first and leaves
    only ``K - 1`` distinct modes.

    Args:
        n_modes: number of Gaussians ``K``.
        radius: radius of the circle.
        std: standard deviation of each Gaussian.
        dtype: floating dtype of the centres (and of the samples).
        device: device of the centres (and of the samples).

    Returns:
        A :class:`GaussianMixture` with centres ``(K, 2)``.
    """
    n_modes = check_positive_int(n_modes, "n_modes")
    radius = check_finite_positive_float(radius, "radius")
    check_floating_dtype(dtype, "dtype")
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    centres = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(centres.to(dtype=dtype, device=device), std)


def grid_of_gaussians(
    n_per_side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> GaussianMixture:
    """Gaussians on a square grid centred at the origin.

    The defaults give the 5 × 5 grid of Srivastava et al. (2017) and Gulrajani et al.
    (2017): centres at ``{-4, -2, 0, 2, 4}²``, std 0.05.

    Args:
        n_per_side: centres along each axis (``n_per_side²`` modes in all).
        spacing: distance between neighbouring centres.
        std: standard deviation of each Gaussian.
        dtype: floating dtype of the centres (and of the samples).
        device: device of the centres (and of the samples).

    Returns:
        A :class:`GaussianMixture` with centres ``(n_per_side², 2)``, row by row.
    """
    n_per_side = check_positive_int(n_per_side, "n_per_side")
    spacing = check_finite_positive_float(spacing, "spacing")
    check_floating_dtype(dtype, "dtype")
    axis = spacing * (torch.arange(n_per_side, dtype=torch.float64) - (n_per_side - 1) / 2)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    centres = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    return GaussianMixture(centres.to(dtype=dtype, device=device), std)
