"""What the chapters of Part IV measure after training, written once: the ring report
and the digits report, with the table rows the chapters print over seeds.

- **Ring.** :func:`ring_report` draws samples from a trained generator and measures them
  against the mixture: VEEGAN's modes and high-quality share
  (:func:`normlab.gan.metrics.mode_statistics`) and the exact W1 between its first samples
  and as many fresh samples of the mixture (:func:`normlab.gan.metrics.wasserstein1`).
  :func:`ring_w1_floor` is the W1 between two sets of real samples, the floor a perfect
  generator would reach; :func:`mode_shares` turns the per-mode counts of the evaluations
  during training into shares.
- **Digits.** :func:`digits_reference` trains the shared classifier once (the same in
  Chapters 8, 9 and 10, so that their Fréchet distances can be compared) and keeps its
  features of the training digits; :meth:`DigitsReference.report` measures generated
  digits against them.
- **Tables.** :func:`comparison_table` prints the chapters' closing table of means ±
  standard deviations over seeds, from :func:`normlab.scaffolding.display.summarize_seeds`.

The default seeds (``sample_seed=3``, ``reference_seed=12345``) are those Chapters 8 and 9
used before this module existed; a chapter passes ``chapter.seed(k)`` so that
``NORMLAB_SEED`` shifts them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from normlab._validation import check_int, check_module, check_positive_int
from normlab.data import load_digits
from normlab.gan.data import GaussianMixture
from normlab.gan.metrics import (
    DigitsClassifier,
    ModeStatistics,
    class_statistics,
    frechet_distance,
    mode_statistics,
    train_digits_classifier,
    wasserstein1,
)
from normlab.gan.training import GANHistory, generate
from normlab.scaffolding.device import get_device

__all__ = [
    "RingReport",
    "ring_report",
    "ring_sample",
    "ring_w1_floor",
    "mode_shares",
    "DigitsReference",
    "digits_reference",
    "comparison_table",
]


def _check_mixture(mixture: object) -> GaussianMixture:
    if not isinstance(mixture, GaussianMixture):
        raise TypeError(f"mixture must be a GaussianMixture, got {type(mixture).__name__}")
    return mixture


def _check_generator(generator: object) -> nn.Module:
    return check_module(generator, "generator")


def _device_of(module: nn.Module) -> torch.device:
    parameter = next(iter(module.parameters()), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def ring_sample(mixture: GaussianMixture, n: int, seed: int) -> torch.Tensor:
    """``n`` samples of ``mixture`` from a generator seeded with ``seed``, on the
    mixture's device: the real samples every report compares against."""
    _check_mixture(mixture)
    n = check_positive_int(n, "n")
    seed = check_int(seed, "seed")
    rng = torch.Generator(mixture.centres.device).manual_seed(seed)
    return mixture.sample(n, generator=rng)


def ring_w1_floor(
    mixture: GaussianMixture,
    *,
    n_samples: int = 2500,
    n_w1: int = 1000,
    seed: int = 1,
    reference_seed: int = 12345,
) -> float:
    """What a perfect generator scores in :func:`ring_report`: W1 between the first
    ``n_w1`` of ``n_samples`` real samples (drawn with ``seed``) and ``n_w1`` real samples
    drawn with ``reference_seed`` (W1 of finite samples is biased upwards)."""
    n_samples = check_positive_int(n_samples, "n_samples")
    n_w1 = check_positive_int(n_w1, "n_w1")
    if n_w1 > n_samples:
        raise ValueError(f"n_w1 must be at most n_samples={n_samples}, got {n_w1}")
    real = ring_sample(mixture, n_samples, seed)
    return wasserstein1(real[:n_w1], ring_sample(mixture, n_w1, reference_seed))


@dataclass(frozen=True)
class RingReport:
    """A trained generator measured on the ring (or any Gaussian mixture).

    Attributes:
        samples: the generated samples ``(n_samples, d)``, on the CPU.
        statistics: their :class:`normlab.gan.metrics.ModeStatistics`.
        w1: exact W1 between the first ``n_w1`` samples and ``n_w1`` real ones.
    """

    samples: torch.Tensor
    statistics: ModeStatistics
    w1: float

    def row(self, history: GANHistory | None = None) -> dict[str, float]:
        """The table row of Chapters 8-10: ``modes``, ``modes>=20``, ``HQ %``, ``KL``,
        ``W1`` and, given the run's history, ``ms/step`` (per critic step)."""
        s = self.statistics
        row = {
            "modes": s.modes_covered,
            "modes>=20": s.modes_well_covered,
            "HQ %": 100 * s.high_quality_fraction,
            "KL": s.kl_to_uniform,
            "W1": self.w1,
        }
        if history is not None:
            if not isinstance(history, GANHistory):
                raise TypeError(f"history must be a GANHistory, got {type(history).__name__}")
            row["ms/step"] = 1e3 * history.seconds_per_critic_step
        return row


def ring_report(
    generator: nn.Module,
    mixture: GaussianMixture,
    *,
    n_samples: int = 2500,
    n_w1: int = 1000,
    sample_seed: int = 3,
    reference_seed: int = 12345,
) -> RingReport:
    """Sample a trained generator and measure the samples against ``mixture``.

    ``n_samples`` samples ``G(z)`` with ``z`` drawn from a generator seeded with
    ``sample_seed`` (VEEGAN's 2 500); mode statistics over all of them; W1 between the
    first ``n_w1`` and ``n_w1`` samples of the mixture drawn with ``reference_seed``
    (:func:`ring_sample`).

    Args:
        generator: the trained generator, on the mixture's device.
        mixture: the target, e.g. :func:`normlab.gan.data.ring_of_gaussians`.
        n_samples: samples drawn.
        n_w1: samples in the W1 comparison, at most ``n_samples`` (cost grows as
            ``n_w1³``).
        sample_seed: seed of the noise ``z``.
        reference_seed: seed of the real samples.

    Returns:
        A :class:`RingReport`.

    Raises:
        TypeError: ``generator`` not an ``nn.Module``, ``mixture`` not a mixture.
        ValueError: ``n_w1 > n_samples``, or counts that are not positive ints.
    """
    _check_generator(generator)
    _check_mixture(mixture)
    n_samples = check_positive_int(n_samples, "n_samples")
    n_w1 = check_positive_int(n_w1, "n_w1")
    if n_w1 > n_samples:
        raise ValueError(f"n_w1 must be at most n_samples={n_samples}, got {n_w1}")
    sample_seed = check_int(sample_seed, "sample_seed")
    reference_seed = check_int(reference_seed, "reference_seed")
    rng = torch.Generator(_device_of(generator)).manual_seed(sample_seed)
    samples = generate(generator, n_samples, rng=rng)
    statistics = mode_statistics(samples, mixture)
    w1 = wasserstein1(samples[:n_w1], ring_sample(mixture, n_w1, reference_seed))
    return RingReport(samples.detach().cpu(), statistics, w1)


def mode_shares(counts: list[torch.Tensor] | torch.Tensor) -> np.ndarray:
    """Each evaluation's high-quality counts per mode as shares: ``(T, n_modes)`` rows
    that sum to 1 (0 for an evaluation without high-quality samples).

    Args:
        counts: ``T`` tensors ``(n_modes,)`` (e.g. ``ModeStatistics.counts`` during
            training), or one tensor ``(T, n_modes)``.
    """
    if isinstance(counts, torch.Tensor):
        table = counts
    elif isinstance(counts, (list, tuple)) and counts:
        if not all(isinstance(c, torch.Tensor) for c in counts):
            raise TypeError("counts must be tensors of per-mode counts")
        table = torch.stack([c.reshape(-1) for c in counts])
    else:
        raise TypeError(
            "counts must be a non-empty list of (n_modes,) tensors or a (T, n_modes) "
            f"tensor, got {type(counts).__name__}"
        )
    if table.ndim != 2 or table.shape[0] == 0:
        raise ValueError(
            f"counts must have shape (T, n_modes) with T >= 1, got {tuple(table.shape)}"
        )
    rows = table.detach().cpu().double().numpy()
    totals = rows.sum(axis=1, keepdims=True)
    return rows / np.maximum(totals, 1)


@dataclass(frozen=True)
class DigitsReference:
    """The shared digits classifier and what generated digits are compared with.

    Attributes:
        classifier: the trained :class:`normlab.gan.metrics.DigitsClassifier` (eval mode).
        accuracy: its accuracy on the test digits.
        train_x: the training digits (the GANs' data), ``(N, 64)`` or ``(N, 1, 8, 8)``.
        test_x: the test digits, the same shape.
        features: the classifier's features of the training digits (the FD reference).
        real_fd: Fréchet distance of the test digits to the training digits (the floor).
        real_classes: class statistics of the test digits.
        pixel_w1_floor: W1 between as many training as test digits, in pixel space.
    """

    classifier: DigitsClassifier
    accuracy: float
    train_x: torch.Tensor
    test_x: torch.Tensor
    features: torch.Tensor
    real_fd: float
    real_classes: ModeStatistics
    pixel_w1_floor: float

    @torch.no_grad()
    def report(self, samples: torch.Tensor) -> dict[str, float]:
        """The table row of generated digits: ``classes`` (with a confident sample),
        ``cls>=20``, ``HQ %`` (classifier at least 90 % sure), ``FD`` (to the training
        digits' features) and pixel ``W1`` (the first ``len(test_x)`` samples against
        the test digits).

        Args:
            samples: generated digits ``(N, 64)`` or ``(N, 1, 8, 8)``, ``N >= len(test_x)``.
        """
        if not isinstance(samples, torch.Tensor) or not samples.is_floating_point():
            raise TypeError(
                f"samples must be a floating-point tensor of digits, got {type(samples).__name__}"
            )
        if samples.ndim < 2 or samples[0].numel() != 64:
            raise ValueError(
                f"samples must be digits (N, 64) or (N, 1, 8, 8), got {tuple(samples.shape)}"
            )
        if len(samples) < len(self.test_x):
            raise ValueError(
                f"samples must hold at least {len(self.test_x)} digits (the test set), "
                f"got {len(samples)}"
            )
        samples = samples.to(self.features.device)
        features, logits = self.classifier.features(samples), self.classifier(samples)
        classes = class_statistics(logits)
        return {
            "classes": classes.modes_covered,
            "cls>=20": classes.modes_well_covered,
            "HQ %": 100 * classes.high_quality_fraction,
            "FD": frechet_distance(features, self.features),
            "W1": wasserstein1(samples[: len(self.test_x)].flatten(1), self.test_x.flatten(1)),
        }


def digits_reference(
    *,
    seed: int = 0,
    flatten: bool = True,
    device: torch.device | str | None = None,
) -> DigitsReference:
    """Train the shared digits classifier and measure the real digits with it.

    The split and the classifier come from the same ``seed``
    (:func:`normlab.data.load_digits` with ``scale="symmetric"``,
    :func:`normlab.gan.metrics.train_digits_classifier`): Chapters 8-10 call this with
    the same seed, so their Fréchet distances are in the same features.

    Args:
        seed: seed of the split and of the classifier.
        flatten: digits as ``(N, 64)`` (for MLPs) instead of ``(N, 1, 8, 8)``.
        device: where the classifier and the digits live; default
            :func:`normlab.scaffolding.device.get_device`.

    Returns:
        A :class:`DigitsReference`.
    """
    seed = check_int(seed, "seed")
    if not isinstance(flatten, bool):
        raise TypeError(f"flatten must be a bool, got {type(flatten).__name__}")
    device = get_device(device)
    digits = load_digits(scale="symmetric", flatten=flatten, seed=seed)
    train_x, test_x = digits.train.x.to(device), digits.test.x.to(device)
    classifier, accuracy = train_digits_classifier(device=device, seed=seed)
    with torch.no_grad():
        features = classifier.features(train_x)
        real_fd = frechet_distance(classifier.features(test_x), features)
        real_classes = class_statistics(classifier(test_x))
    return DigitsReference(
        classifier=classifier,
        accuracy=accuracy,
        train_x=train_x,
        test_x=test_x,
        features=features,
        real_fd=real_fd,
        real_classes=real_classes,
        pixel_w1_floor=wasserstein1(train_x[: len(test_x)], test_x),
    )


def comparison_table(
    sections: Mapping[str, tuple[Mapping[str, Mapping[str, tuple[float, float]]], str]],
    columns: tuple[str, ...] = ("HQ %", "W1", "ms/step"),
) -> list[str]:
    """Print (and return) the closing table of Chapters 8 and 9: one line per data set
    and method, with each column's mean ± standard deviation over seeds.

    Args:
        sections: ``{data name: (summary, mode column)}``, each ``summary`` as returned by
            :func:`~normlab.scaffolding.display.summarize_seeds`
            (``{method: {column: (mean, sd)}}``) and
            the name of its mode-count column (``"modes"`` for the ring, ``"classes"`` for
            the digits), printed first as "modes/classes".
        columns: the further columns, in every summary.

    Returns:
        The printed lines.
    """
    if not isinstance(sections, Mapping) or not sections:
        raise ValueError(
            "sections must be a non-empty mapping {data: (summary, mode column)}, got "
            f"{sections!r}"
        )
    method_width = 2 + max(len(str(m)) for summary, _ in sections.values() for m in summary)
    method_width = max(method_width, 8)
    names = ("modes/classes", *columns)
    rows = []
    for data, (summary, mode_key) in sections.items():
        for method, stats in summary.items():
            missing = [c for c in (mode_key, *columns) if c not in stats]
            if missing:
                raise ValueError(
                    f"summary of {data!r}, method {method!r} has no column(s) {missing}; "
                    f"it has {list(stats)}"
                )
            values = [stats[mode_key], *(stats[c] for c in columns)]
            rows.append((data, method, [_mean_sd(m, d) for m, d in values]))
    # every column two characters wider than its widest cell (or header), so that cells
    # never run together however many digits a value needs
    widths = [
        2 + max([len(name)] + [len(texts[k]) for _, _, texts in rows])
        for k, name in enumerate(names)
    ]
    header = f"{'data':<8}{'method':<{method_width}}" + "".join(
        f"{c:>{w}}" for c, w in zip(names, widths, strict=True)
    )
    lines = [header]
    for data, method, texts in rows:
        lines.append(
            f"{data:<8}{method:<{method_width}}"
            + "".join(f"{cell:>{w}}" for cell, w in zip(texts, widths, strict=True))
        )
    for line in lines:
        print(line)
    return lines


def _mean_sd(mean: float, sd: float) -> str:
    return f"{mean:.3g} ± {sd:.2g}" if not math.isnan(sd) else f"{mean:.3g}"
