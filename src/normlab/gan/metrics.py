"""Measuring a generator with numbers: mode coverage, sample quality, exact W1, and a
Fréchet distance in the features of a small digits classifier.

For the Gaussian mixtures every sample can be attributed to its nearest centre
(Srivastava et al., 2017, VEEGAN): a sample is *high quality* when it lies within 3 standard
deviations of that centre, and a mode is *covered* when at least one high-quality sample
belongs to it. For the digits, a classifier trained here on the real digits plays the role
of the centres: a sample is high quality when the classifier is confident about it, and its
penultimate features give a Fréchet distance (Heusel et al., 2017) without any download.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from normlab._optional import import_optional
from normlab._validation import (
    check_batch,
    check_floating,
    check_fraction,
    check_int,
    check_ndim,
    check_nonempty,
    check_positive_float,
    check_positive_int,
)
from normlab.data import load_digits
from normlab.gan.data import GaussianMixture
from normlab.scaffolding.device import get_device
from normlab.training import evaluate_classifier, fit_classifier

__all__ = [
    "ModeStatistics",
    "mode_statistics",
    "class_statistics",
    "wasserstein1",
    "frechet_distance",
    "DigitsClassifier",
    "train_digits_classifier",
]


@dataclass(frozen=True)
class ModeStatistics:
    """Coverage of the modes (or classes) of a target distribution by a set of samples.

    Attributes:
        n_samples: number of samples measured.
        n_modes: number of modes of the target.
        counts: high-quality samples attributed to each mode, int64 ``(n_modes,)`` on CPU.
        modes_covered: modes with at least one high-quality sample (VEEGAN's count).
        modes_well_covered: modes with at least ``min_count`` high-quality samples.
        high_quality_fraction: share of the samples that are high quality, in [0, 1].
        kl_to_uniform: ``KL(h ‖ uniform)`` of the histogram ``h`` of the high-quality
            samples over the modes, in nats (0 for perfect balance, ``log n_modes`` when all
            sit in one mode; NaN when no sample is high quality).
        min_count: the threshold used for ``modes_well_covered``.
    """

    n_samples: int
    n_modes: int
    counts: torch.Tensor
    modes_covered: int
    modes_well_covered: int
    high_quality_fraction: float
    kl_to_uniform: float
    min_count: int

    def __str__(self) -> str:
        return (
            f"modes {self.modes_covered}/{self.n_modes} "
            f"(>= {self.min_count}: {self.modes_well_covered}), "
            f"high quality {100 * self.high_quality_fraction:.1f} %, "
            f"KL to uniform {self.kl_to_uniform:.3f}"
        )


def _statistics(
    nearest: torch.Tensor, good: torch.Tensor, n_modes: int, min_count: int
) -> ModeStatistics:
    counts = torch.bincount(nearest[good].cpu(), minlength=n_modes)
    n_good = int(counts.sum())
    if n_good:
        share = counts.double() / n_good
        nonzero = share[share > 0]
        kl = float((nonzero * (nonzero * n_modes).log()).sum())
    else:
        kl = math.nan
    return ModeStatistics(
        n_samples=len(nearest),
        n_modes=n_modes,
        counts=counts,
        modes_covered=int((counts >= 1).sum()),
        modes_well_covered=int((counts >= min_count).sum()),
        high_quality_fraction=n_good / len(nearest),
        kl_to_uniform=kl,
        min_count=min_count,
    )


def _check_min_count(min_count: object) -> int:
    min_count = check_int(min_count, "min_count")
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    return min_count


@torch.no_grad()
def mode_statistics(
    samples: torch.Tensor,
    mixture: GaussianMixture,
    *,
    n_std: float = 3.0,
    min_count: int = 20,
) -> ModeStatistics:
    """VEEGAN's mode-coverage measures of samples from a Gaussian mixture.

    Each sample is attributed to its nearest centre; it is high quality when its distance
    to that centre is below ``n_std · std`` (Srivastava et al., 2017, use 3 standard
    deviations and 2 500 samples).

    Args:
        samples: generated points, shape ``(N, d)`` with ``d = mixture.dim``.
        mixture: the target, e.g. :func:`normlab.gan.data.ring_of_gaussians`.
        n_std: the high-quality radius in standard deviations.
        min_count: the stricter coverage threshold (high-quality samples per mode).

    Returns:
        A :class:`ModeStatistics`.

    Raises:
        TypeError: ``samples`` is not a floating tensor, or ``mixture`` not a
            :class:`normlab.gan.data.GaussianMixture`.
        ValueError: ``samples`` is not ``(N, d)`` with the mixture's ``d``, or empty.
    """
    samples = check_floating(samples, "samples")
    check_ndim(samples, "samples", 2, "of shape (N, d)")
    check_nonempty(samples, "samples")
    if not isinstance(mixture, GaussianMixture):
        raise TypeError(f"mixture must be a GaussianMixture, got {type(mixture).__name__}")
    if samples.shape[1] != mixture.dim:
        raise ValueError(
            f"samples must have {mixture.dim} features like the mixture's centres, "
            f"got shape {tuple(samples.shape)}"
        )
    n_std = check_positive_float(n_std, "n_std")
    min_count = _check_min_count(min_count)
    # Half precision has no cdist kernel on the CPU, and its 3 significant digits would blur
    # the 3-std radius: float16/bfloat16 samples are measured in float64.
    low = samples.dtype in (torch.float16, torch.bfloat16)
    points = samples.detach().to(torch.float64) if low else samples
    centres = mixture.centres.to(device=samples.device, dtype=points.dtype)
    # exact differences, not the faster |a|² + |b|² - 2ab, which loses digits near 0
    distances = torch.cdist(points, centres, compute_mode="donot_use_mm_for_euclid_dist")
    nearest_distance, nearest = distances.min(dim=1)
    return _statistics(nearest, nearest_distance < n_std * mixture.std, mixture.n_modes, min_count)


@torch.no_grad()
def class_statistics(
    logits: torch.Tensor, *, confidence: float = 0.9, min_count: int = 20
) -> ModeStatistics:
    """Class coverage of generated images, judged by a classifier's predictions.

    The analogue of :func:`normlab.gan.metrics.mode_statistics` for images: a sample is
    high quality when the classifier's top probability is at least ``confidence``, and it
    belongs to the predicted class.

    Args:
        logits: the classifier's outputs on the samples, shape ``(N, C)``.
        confidence: the top-class probability that makes a sample high quality, in (0, 1).
        min_count: the stricter coverage threshold (confident samples per class).

    Returns:
        A :class:`ModeStatistics` over the ``C`` classes.
    """
    logits = check_floating(logits, "logits")
    check_ndim(logits, "logits", 2, "of shape (N, classes)")
    check_nonempty(logits, "logits")
    confidence = check_fraction(confidence, "confidence", closed=False)
    min_count = _check_min_count(min_count)
    top, predicted = logits.float().softmax(dim=1).max(dim=1)
    return _statistics(predicted, top >= confidence, logits.shape[1], min_count)


def _as_point_set(x: object, name: str) -> torch.Tensor:
    x = check_batch(x, name, "a set of points (flattened to (N, d))")
    return x.detach().flatten(1).to(device="cpu", dtype=torch.float64)


def wasserstein1(x: torch.Tensor, y: torch.Tensor) -> float:
    """The exact Earth-Mover (Wasserstein-1) distance between two equal-size point sets.

    ``W1 = min over permutations π of (1/N) Σ_i ‖x_i - y_π(i)‖₂``: between two uniform
    empirical measures with the same number of points an optimal transport plan is a
    permutation (Birkhoff–von Neumann), found here with
    ``scipy.optimize.linear_sum_assignment``. Cost grows like ``N³``: a thousand points take
    a fraction of a second. Note that two samples of the *same* distribution are at a
    positive distance that shrinks as ``N`` grows; compare against that floor.

    Args:
        x: points ``(N, d)``; images ``(N, C, H, W)`` are flattened.
        y: points of the same shape.

    Returns:
        The distance, as a Python float (computed in float64 on the CPU).

    Raises:
        ValueError: shapes differ, fewer than 2 dimensions, or empty sets.
        ImportError: SciPy is not installed (the message says how to install it).
    """
    a, b = _as_point_set(x, "x"), _as_point_set(y, "y")
    if a.shape != b.shape:
        raise ValueError(
            "x and y must have the same number of points and features, got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    # scipy is imported only when needed (normlab's "data" extra)
    optimize = import_optional(
        "scipy.optimize", package="scipy", extra="data", needed_by="normlab.gan.wasserstein1"
    )
    cost = torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").numpy()
    rows, cols = optimize.linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def _sqrtm_trace_product(cov_a: torch.Tensor, cov_b: torch.Tensor) -> torch.Tensor:
    # Tr((A^½ B A^½)^½) equals Tr((AB)^½) and needs only symmetric eigendecompositions,
    # which stay real and stable where a general matrix square root of AB may not.
    eigenvalues, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(eigenvalues.clamp_min(0).sqrt()) @ vectors.T
    middle = root_a @ cov_b @ root_a
    return torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (Heusel et al., 2017).

    ``‖μ_a - μ_b‖² + Tr(Σ_a + Σ_b - 2 (Σ_a^½ Σ_b Σ_a^½)^½)``, with unbiased covariances,
    computed in float64. With Inception features this is the FID; here the features come
    from :class:`normlab.gan.metrics.DigitsClassifier`. Like W1 it is biased upwards for
    finite samples: compare with the distance between two real sets of the same sizes.

    Args:
        features_a: ``(N_a, d)`` features, ``N_a >= 2``.
        features_b: ``(N_b, d)`` features, ``N_b >= 2``, the same ``d``.

    Returns:
        The squared Fréchet distance, as a Python float.
    """
    for name, f in (("features_a", features_a), ("features_b", features_b)):
        f = check_floating(f, name)
        check_ndim(f, name, 2, "of shape (N, d)")
        if f.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 rows to estimate a covariance")
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            "features_a and features_b must have the same number of features, got "
            f"{features_a.shape[1]} and {features_b.shape[1]}"
        )
    a = features_a.detach().to(device="cpu", dtype=torch.float64)
    b = features_b.detach().to(device="cpu", dtype=torch.float64)
    mean_term = (a.mean(0) - b.mean(0)).pow(2).sum()
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    if cov_a.ndim == 0:  # one feature: torch.cov returns a scalar
        cov_a, cov_b = cov_a.reshape(1, 1), cov_b.reshape(1, 1)
    trace = cov_a.trace() + cov_b.trace() - 2 * _sqrtm_trace_product(cov_a, cov_b)
    return float(mean_term + trace)


class DigitsClassifier(nn.Module):
    """A small MLP classifier of 8 × 8 digits whose penultimate layer is a feature space.

    ``features``: ``Flatten → Linear(64, 128) → ReLU → Linear(128, feature_dim) → ReLU``;
    ``head``: ``Linear(feature_dim, 10)``. Trained by
    :func:`normlab.gan.metrics.train_digits_classifier` on the real digits, it judges
    generated digits: its predictions give class coverage
    (:func:`normlab.gan.metrics.class_statistics`) and its features a Fréchet distance
    (:func:`normlab.gan.metrics.frechet_distance`).

    Args:
        feature_dim: size of the feature layer.

    Shape:
        ``(N, 1, 8, 8)`` or ``(N, 64)`` ``-> (N, 10)`` logits.
    """

    def __init__(self, feature_dim: int = 64) -> None:
        super().__init__()
        feature_dim = check_positive_int(feature_dim, "feature_dim")
        self.features = nn.Sequential(
            nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, feature_dim), nn.ReLU()
        )
        self.head = nn.Linear(feature_dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, 10)`` of images ``(N, 1, 8, 8)`` (or ``(N, 64)``)."""
        return self.head(self.features(x))


def train_digits_classifier(
    *,
    epochs: int = 40,
    seed: int = 0,
    feature_dim: int = 64,
    device: torch.device | str | None = None,
) -> tuple[DigitsClassifier, float]:
    """Train a :class:`DigitsClassifier` on the training split of the digits in [-1, 1].

    Uses :func:`normlab.data.load_digits` (``scale="symmetric"``, ``seed``) and
    :func:`normlab.training.fit_classifier` with Adam(1e-3), batch 64. Takes about a second
    on a laptop CPU.

    Args:
        epochs: passes over the training split.
        seed: seed of the initialization, the data split and the shuffling.
        feature_dim: size of the feature layer.
        device: where to train; default :func:`normlab.scaffolding.device.get_device`.

    Returns:
        ``(classifier, test_accuracy)``: the classifier in eval mode on ``device``, and its
        accuracy on the held-out test split.
    """
    epochs = check_positive_int(epochs, "epochs")
    seed = check_int(seed, "seed")
    device = get_device(device)
    digits = load_digits(scale="symmetric", seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitsClassifier(feature_dim)
    fit_classifier(model, digits.train, epochs=epochs, seed=seed, device=device, progress=False)
    model.eval()
    return model, evaluate_classifier(model, digits.test)["accuracy"]
