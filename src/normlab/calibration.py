"""Calibration of a classifier's probabilities: reliability diagrams, ECE, temperature scaling.

A classifier is *calibrated* when, among the inputs to which it gives top-class
probability ``c``, a fraction ``c`` is classified correctly. Guo et al. (2017) measure the
deviation with equal-width bins on the top-class probability (the *confidence*):

- bin ``b`` (``b = 1, …, M``) holds the samples whose confidence lies in ``((b-1)/M, b/M]``;
  the first bin is closed, ``[0, 1/M]``, so that every confidence in [0, 1] has a bin;
- ``acc(B_b)`` is the fraction of correct predictions in the bin and ``conf(B_b)`` its mean
  confidence; the *reliability diagram* plots one against the other;
- the expected calibration error is ``ECE = Σ_b (|B_b| / n)·|acc(B_b) - conf(B_b)|``
  (Naeini et al., 2015), and the maximum calibration error is the largest bin gap.

*Temperature scaling* (Guo et al., 2017) divides the logits by one scalar ``T > 0`` fitted
on held-out data by minimizing the negative log-likelihood. It changes no prediction (the
argmax is unchanged), only the confidence: ``T > 1`` softens an over-confident model,
``T < 1`` sharpens an under-confident one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from normlab._validation import (
    check_class_indices,
    check_finite,
    check_floating,
    check_integer_labels,
    check_ndim,
    check_nonempty,
    check_positive_int,
    check_probabilities,
    check_real,
)

__all__ = [
    "ReliabilityDiagram",
    "reliability_diagram",
    "expected_calibration_error",
    "fit_temperature",
]


def _check_labels(labels: object, n: int, num_classes: int) -> torch.Tensor:
    labels = check_integer_labels(labels, "labels")
    check_ndim(labels, "labels", 1, "of class indices")
    if len(labels) != n:
        raise ValueError(f"labels must have one entry per sample ({n}), got {len(labels)}")
    check_class_indices(labels, "labels", num_classes)
    return labels


def _check_probs(probs: object) -> torch.Tensor:
    probs = check_floating(probs, "probs")
    check_ndim(probs, "probs", 2, "of shape (N, C)")
    check_nonempty(probs, "probs")
    check_probabilities(probs, "probs", 1, "each row of probs", " (softmax outputs)")
    return probs


@dataclass(frozen=True)
class ReliabilityDiagram:
    """The binned statistics behind a reliability diagram (Guo et al., 2017).

    All tensors are float64 (``count`` int64) on the CPU, one entry per bin.

    Attributes:
        bin_edges: the ``M + 1`` edges ``b/M``, ``b = 0, …, M``; bin ``b`` is
            ``(bin_edges[b], bin_edges[b + 1]]``, the first one closed on the left.
        confidence: mean top-class probability of the samples in each bin (NaN if empty).
        accuracy: fraction of them whose top class is the label (NaN if empty).
        count: number of samples in each bin.
    """

    bin_edges: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    count: torch.Tensor

    @property
    def gap(self) -> torch.Tensor:
        """The difference ``accuracy - confidence`` per bin, negative where over-confident."""
        return self.accuracy - self.confidence

    @property
    def ece(self) -> float:
        """The expected calibration error, ``Σ_b (|B_b|/n)·|acc(B_b) - conf(B_b)|``."""
        share = self.count.double() / self.count.sum()
        return float((share * self.gap.abs()).nan_to_num(0.0).sum())

    @property
    def mce(self) -> float:
        """The maximum calibration error, the largest ``|acc - conf|`` of a non-empty bin."""
        return float(self.gap.abs()[self.count > 0].max())


def reliability_diagram(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> ReliabilityDiagram:
    """Bin predictions by confidence and measure accuracy and confidence in each bin.

    Confidence is the largest probability of each row; the prediction is its argmax (the
    first one on ties). Bins are equal-width on [0, 1]: ``(b/M, (b+1)/M]``, the first closed.

    Args:
        probs: predicted class probabilities, shape ``(N, C)``, rows summing to 1.
        labels: true class indices, shape ``(N,)``.
        n_bins: the number of bins ``M`` (Guo et al. use 15).

    Returns:
        A :class:`ReliabilityDiagram`.

    Raises:
        TypeError: ``probs`` not a floating tensor, ``labels`` not an integer tensor,
            ``n_bins`` not an int.
        ValueError: wrong shapes, empty input, rows that are not distributions, labels out of
            range, ``n_bins < 1``.
    """
    probs = _check_probs(probs)
    labels = _check_labels(labels, probs.shape[0], probs.shape[1])
    n_bins = check_positive_int(n_bins, "n_bins")
    confidence, prediction = probs.max(dim=1)
    confidence = confidence.double().cpu()
    correct = (prediction == labels.to(prediction.device)).double().cpu()
    # edges b/M as exact float64 divisions, so that a confidence equal to an edge
    # (0.2 with M = 10, say) lands in the bin that ends there:
    # bucketize with right=False gives edges[i-1] < c <= edges[i]
    edges = torch.arange(n_bins + 1, dtype=torch.float64) / n_bins
    index = torch.bucketize(confidence, edges[1:-1], right=False)
    count = torch.bincount(index, minlength=n_bins)
    zeros = torch.zeros(n_bins, dtype=torch.float64)
    sum_confidence = zeros.index_add(0, index, confidence)
    sum_correct = zeros.index_add(0, index, correct)
    return ReliabilityDiagram(
        bin_edges=edges,
        confidence=sum_confidence / count,
        accuracy=sum_correct / count,
        count=count,
    )


def expected_calibration_error(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15
) -> float:
    """Expected calibration error with equal-width confidence bins (Guo et al., 2017).

    ``ECE = Σ_b (|B_b| / n)·|acc(B_b) - conf(B_b)|`` over the bins of
    :func:`reliability_diagram`. It is 0 for a model whose accuracy equals its confidence in
    every bin; note that a finite sample of even a perfectly calibrated model gives a small
    positive value, and that the value depends on ``n_bins``.

    Args:
        probs: predicted class probabilities, shape ``(N, C)``, rows summing to 1.
        labels: true class indices, shape ``(N,)``.
        n_bins: the number of equal-width bins (15, as in Guo et al.).

    Returns:
        The ECE as a Python float in [0, 1].

    Raises:
        TypeError, ValueError: as :func:`reliability_diagram`.
    """
    return reliability_diagram(probs, labels, n_bins).ece


def _nll_slope(logits: torch.Tensor, labels: torch.Tensor, beta: float) -> float:
    """d/dβ of the mean NLL of softmax(β·logits): ``mean_i (E_{p_i}[z_i] - z_{i,y_i})``."""
    p = torch.softmax(beta * logits, dim=1)
    expected = (p * logits).sum(dim=1)
    return float((expected - logits.gather(1, labels[:, None]).squeeze(1)).mean())


def fit_temperature(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    bounds: tuple[float, float] = (0.01, 100.0),
) -> float:
    """Fit the temperature ``T`` that minimizes the NLL of ``softmax(logits / T)``.

    Temperature scaling (Guo et al., 2017): fit ``T`` on held-out logits (a validation set,
    never the test set), then use ``softmax(logits / T)`` at test time.

    With ``β = 1/T`` the mean NLL ``f(β) = mean_i [logsumexp(β z_i) - β z_{i,y_i}]`` is convex
    (its second derivative is the variance of ``z_i`` under ``softmax(β z_i)``), so its
    derivative is increasing and has at most one zero. The fit bisects on the sign of that
    derivative over ``log T`` in ``[log bounds[0], log bounds[1]]``, in float64: no step size,
    no starting point, and the minimizer to about 1e-12 relative precision. If the NLL still
    decreases at a bound (e.g. logits that classify every sample correctly keep gaining from
    a smaller ``T``), that bound is returned.

    Args:
        logits: held-out logits, shape ``(N, C)``.
        labels: their true class indices, shape ``(N,)``.
        bounds: the search interval ``(T_min, T_max)``, with ``0 < T_min < T_max``.

    Returns:
        The fitted temperature as a Python float.

    Raises:
        TypeError: ``logits`` not a floating tensor, ``labels`` not an integer tensor.
        ValueError: wrong shapes, empty or non-finite logits, labels out of range, bad
            ``bounds``.
    """
    logits = check_floating(logits, "logits")
    check_ndim(logits, "logits", 2, "of shape (N, C)")
    check_nonempty(logits, "logits")
    labels = _check_labels(labels, logits.shape[0], logits.shape[1])
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise TypeError(f"bounds must be a pair (T_min, T_max), got {bounds!r}")
    t_min, t_max = (check_real(b, f"bounds[{i}]") for i, b in enumerate(bounds))
    if not 0 < t_min < t_max < math.inf:
        raise ValueError(f"bounds must satisfy 0 < T_min < T_max < inf, got ({t_min}, {t_max})")
    check_finite(logits, "logits")
    z = logits.detach().double()
    y = labels.to(z.device).long()
    # bisect on log β = -log T: the NLL is convex in β, so its slope increases
    lo, hi = -math.log(t_max), -math.log(t_min)
    if _nll_slope(z, y, math.exp(lo)) >= 0:
        return t_max
    if _nll_slope(z, y, math.exp(hi)) <= 0:
        return t_min
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if _nll_slope(z, y, math.exp(mid)) < 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return math.exp(-0.5 * (lo + hi))
