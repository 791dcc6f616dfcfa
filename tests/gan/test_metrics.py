"""Mode coverage, exact W1, Fréchet distance and the digits classifier."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from normlab import gan


@pytest.fixture(scope="module")
def ring():
    return gan.ring_of_gaussians()


def test_samples_of_the_target_cover_every_mode(ring):
    samples = ring.sample(2500, generator=torch.Generator().manual_seed(0))
    stats = gan.mode_statistics(samples, ring)
    assert stats.modes_covered == stats.modes_well_covered == 8 and stats.n_modes == 8
    # in 2-D, P(‖noise‖ < 3σ) = 1 - exp(-9/2) = 0.9889; 2 500 samples: ± 0.2 % (1 s.d.)
    assert stats.high_quality_fraction == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert stats.kl_to_uniform < 0.01 and stats.n_samples == 2500


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_samples_are_measured_in_float64(ring, dtype):
    samples = ring.sample(800, generator=torch.Generator().manual_seed(1)).to(dtype)
    stats = gan.mode_statistics(samples, ring)
    # the same statistics as the float64 copy of the very same (rounded) points
    reference = gan.mode_statistics(samples.double(), ring)
    assert stats.counts.tolist() == reference.counts.tolist()
    assert stats.high_quality_fraction == reference.high_quality_fraction
    assert stats.modes_covered == 8


def test_samples_exactly_at_the_centres_are_all_high_quality(ring):
    samples = ring.centres.repeat(25, 1)
    stats = gan.mode_statistics(samples, ring)
    assert stats.high_quality_fraction == 1.0 and stats.modes_covered == 8
    assert stats.counts.tolist() == [25] * 8 and stats.kl_to_uniform == 0.0


def test_samples_at_one_centre_cover_one_mode(ring):
    samples = ring.centres[3] + 0.01 * torch.randn(500, 2)
    stats = gan.mode_statistics(samples, ring)
    assert stats.modes_covered == stats.modes_well_covered == 1
    assert stats.counts.argmax().item() == 3
    assert stats.kl_to_uniform == pytest.approx(math.log(8))


def test_strict_count_and_far_samples(ring):
    near = torch.cat([ring.centres[0].repeat(30, 1), ring.centres[1].repeat(5, 1)])
    far = torch.full((65, 2), 10.0)
    stats = gan.mode_statistics(torch.cat([near, far]), ring, min_count=20)
    assert (stats.modes_covered, stats.modes_well_covered) == (2, 1)
    assert stats.high_quality_fraction == pytest.approx(0.35)
    nothing = gan.mode_statistics(far, ring)
    assert nothing.modes_covered == 0 and math.isnan(nothing.kl_to_uniform)
    assert "modes 0/8" in str(nothing)


def test_high_quality_radius_is_three_standard_deviations(ring):
    inside = ring.centres[:1] + torch.tensor([[0.059, 0.0]])
    outside = ring.centres[:1] + torch.tensor([[0.061, 0.0]])
    assert gan.mode_statistics(inside, ring).high_quality_fraction == 1.0
    assert gan.mode_statistics(outside, ring).high_quality_fraction == 0.0


def test_class_statistics():
    logits = torch.full((6, 10), -10.0)
    logits[torch.arange(6), torch.tensor([0, 0, 1, 2, 2, 2])] = 10.0
    logits[5] = 0.0  # an unsure sample: uniform prediction
    stats = gan.class_statistics(logits, confidence=0.9, min_count=2)
    assert stats.counts.tolist()[:3] == [2, 1, 2] and stats.modes_covered == 3
    assert stats.modes_well_covered == 2 and stats.high_quality_fraction == pytest.approx(5 / 6)


def brute_force_w1(x, y):
    cost = torch.cdist(x.double(), y.double())
    n = len(x)
    return min(
        sum(cost[i, p[i]].item() for i in range(n)) / n for p in itertools.permutations(range(n))
    )


@given(st.integers(1, 6), st.integers(1, 3), st.integers(0, 10_000))
def test_exact_w1_equals_brute_force_on_tiny_sets(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    assert gan.wasserstein1(x, y) == pytest.approx(brute_force_w1(x, y), rel=1e-9, abs=1e-12)


def test_w1_of_a_translated_set_is_the_translation_length():
    x = torch.randn(200, 3, dtype=torch.float64)
    shift = torch.tensor([0.3, -0.4, 1.2], dtype=torch.float64)
    assert gan.wasserstein1(x, x + shift) == pytest.approx(1.3, rel=1e-9)
    assert gan.wasserstein1(x, x[torch.randperm(200)]) == pytest.approx(0.0, abs=1e-12)


def test_w1_of_arjovskys_parallel_lines_is_theta():
    z = torch.rand(300, dtype=torch.float64)
    for theta in (-0.7, 0.0, 0.25, 2.0):
        a = torch.stack([torch.zeros_like(z), z], dim=1)
        b = torch.stack([torch.full_like(z, theta), z.flip(0)], dim=1)
        assert gan.wasserstein1(a, b) == pytest.approx(abs(theta), abs=1e-9)


def test_w1_flattens_images():
    a, b = torch.zeros(4, 1, 2, 2), torch.ones(4, 1, 2, 2)
    assert gan.wasserstein1(a, b) == pytest.approx(2.0)


def reference_frechet(a, b):
    # the pytorch-fid formula, with scipy's general matrix square root
    from scipy import linalg

    a, b = a.numpy(), b.numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_frechet_distance_matches_the_reference_formula():
    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = torch.randn(300, 6, generator=g, dtype=torch.float64) @ mixing
    b = 0.5 * torch.randn(250, 6, generator=g, dtype=torch.float64) + 1.0
    assert gan.frechet_distance(a, b) == pytest.approx(reference_frechet(a, b), rel=1e-6)
    assert gan.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # one feature: (μ1 - μ2)² + (σ1 - σ2)²
    x = torch.tensor([[0.0], [2.0]], dtype=torch.float64)  # mean 1, unbiased sd √2
    y = torch.tensor([[3.0], [5.0], [7.0]], dtype=torch.float64)  # mean 5, sd 2
    assert gan.frechet_distance(x, y) == pytest.approx(16 + (2 - math.sqrt(2)) ** 2)


@pytest.fixture
def one_thread():
    # a tiny MLP: a second intra-op thread only adds waiting on a busy 2-core machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_digits_classifier_is_accurate_and_gives_features(one_thread):
    classifier, accuracy = gan.train_digits_classifier(epochs=25, device="cpu")
    assert accuracy > 0.93
    assert not classifier.training
    x = torch.zeros(3, 1, 8, 8)
    assert classifier(x).shape == (3, 10) and classifier.features(x).shape == (3, 64)
    again, _ = gan.train_digits_classifier(epochs=25, device="cpu")
    torch.testing.assert_close(again(x), classifier(x), rtol=0, atol=0)  # seeded


def test_bad_inputs(ring):
    with pytest.raises(ValueError, match="samples must have 2 features"):
        gan.mode_statistics(torch.randn(5, 3), ring)
    with pytest.raises(ValueError, match="samples must be a 2-D tensor"):
        gan.mode_statistics(torch.randn(5), ring)
    with pytest.raises(TypeError, match="mixture must be a GaussianMixture"):
        gan.mode_statistics(torch.randn(5, 2), ring.centres)
    with pytest.raises(ValueError, match="min_count must be >= 1"):
        gan.mode_statistics(torch.randn(5, 2), ring, min_count=0)
    with pytest.raises(ValueError, match="x and y must have the same number"):
        gan.wasserstein1(torch.randn(5, 2), torch.randn(6, 2))
    with pytest.raises(ValueError, match="x and y must have the same number"):
        gan.wasserstein1(torch.randn(5, 2), torch.randn(5, 3))
    with pytest.raises(ValueError, match="x must be a set of points"):
        gan.wasserstein1(torch.randn(5), torch.randn(5))
    with pytest.raises(ValueError, match="same number of features"):
        gan.frechet_distance(torch.randn(5, 2), torch.randn(5, 3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        gan.frechet_distance(torch.randn(1, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match="logits must be a 2-D tensor"):
        gan.class_statistics(torch.randn(5))
    with pytest.raises(ValueError, match=r"confidence must lie in \(0, 1\)"):
        gan.class_statistics(torch.randn(5, 3), confidence=1.0)
