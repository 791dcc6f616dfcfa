"""Reliability diagrams, expected calibration error and temperature scaling."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import normlab


def brute_force_ece(probs, labels, n_bins):
    """ECE by the definition, one sample and one bin at a time (Guo et al., 2017)."""
    edges = [b / n_bins for b in range(n_bins + 1)]
    bins = [[] for _ in range(n_bins)]
    for p, y in zip(probs.tolist(), labels.tolist(), strict=True):
        confidence = max(p)
        correct = p.index(confidence) == y  # first maximum, as argmax
        for b in range(n_bins):
            lo, hi = edges[b], edges[b + 1]
            if (lo < confidence <= hi) or (b == 0 and confidence == 0.0):
                bins[b].append((confidence, correct))
                break
        else:  # only a confidence rounded above 1 gets here: the last bin
            bins[-1].append((confidence, correct))
    n = len(labels)
    ece = 0.0
    for members in bins:
        if members:
            conf = sum(c for c, _ in members) / len(members)
            acc = sum(k for _, k in members) / len(members)
            ece += len(members) / n * abs(acc - conf)
    return ece, [len(m) for m in bins]


def random_predictions(n, num_classes, scale, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(n, num_classes, generator=g, dtype=dtype)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    return logits.softmax(1), labels


@pytest.mark.parametrize("n_bins", [1, 2, 10, 15, 37])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ece_matches_a_brute_force_loop(device, n_bins, dtype):
    probs, labels = random_predictions(500, 4, 2.0, seed=n_bins, dtype=dtype)
    expected, counts = brute_force_ece(probs.double(), labels, n_bins)
    ece = normlab.expected_calibration_error(probs.to(device), labels.to(device), n_bins)
    assert ece == pytest.approx(expected, abs=1e-12)
    diagram = normlab.reliability_diagram(probs.to(device), labels.to(device), n_bins)
    assert diagram.count.tolist() == counts


def test_confidences_on_bin_edges_go_to_the_bin_that_ends_there():
    # with 10 bins: 0.1 belongs to [0, 0.1], 0.3 to (0.2, 0.3], the next float above 0.3 to
    # (0.3, 0.4], 0.5 to (0.4, 0.5] and 1.0 to (0.9, 1]
    confidences = [0.1, 0.3, 0.30000000000000004, 0.5, 1.0]
    probs = torch.tensor([[c] + [(1 - c) / 9] * 9 for c in confidences], dtype=torch.float64)
    assert probs.max(1).values.tolist() == confidences
    labels = torch.zeros(len(confidences), dtype=torch.int64)
    diagram = normlab.reliability_diagram(probs, labels, 10)
    expected = torch.bincount(torch.tensor([0, 2, 3, 4, 9]), minlength=10)
    assert diagram.count.tolist() == expected.tolist()
    assert diagram.bin_edges[3].item() == 0.3


def test_perfectly_calibrated_toy_has_zero_ece():
    # 10 predictions at confidence 0.7 of which exactly 7 are right, and 10 at 0.9 of which
    # exactly 9 are right: accuracy equals confidence in both bins
    probs = torch.tensor([[0.7, 0.3]] * 10 + [[0.1, 0.9]] * 10, dtype=torch.float64)
    labels = torch.tensor([0] * 7 + [1] * 3 + [1] * 9 + [0])
    diagram = normlab.reliability_diagram(probs, labels, 15)
    assert normlab.expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-15)
    assert diagram.mce == pytest.approx(0.0, abs=1e-15)
    assert int(diagram.count.sum()) == 20 and int((diagram.count > 0).sum()) == 2


def test_known_values_over_and_under_confidence():
    certain = torch.tensor([[1.0, 0.0]] * 4, dtype=torch.float64)
    half_right = torch.tensor([0, 1, 0, 1])
    assert normlab.expected_calibration_error(certain, half_right) == pytest.approx(0.5)
    hesitant = torch.tensor([[0.6, 0.4]] * 5, dtype=torch.float64)
    all_right = torch.zeros(5, dtype=torch.int64)
    diagram = normlab.reliability_diagram(hesitant, all_right)
    assert diagram.ece == pytest.approx(0.4)
    assert diagram.gap[~diagram.gap.isnan()].item() == pytest.approx(0.4)  # under-confident
    # two bins: 0.5·|1 - 0.6| + 0.5·|0 - 0.9| = 0.65; the maximum gap is 0.9
    mixed = torch.tensor([[0.6, 0.4], [0.9, 0.1]], dtype=torch.float64)
    diagram = normlab.reliability_diagram(mixed, torch.tensor([0, 1]))
    assert diagram.ece == pytest.approx(0.65) and diagram.mce == pytest.approx(0.9)


def test_labels_drawn_from_the_model_give_small_ece_that_shrinks_with_n():
    # a model is calibrated by construction when the labels are sampled from its own
    # probabilities; its finite-sample ECE is positive but shrinks like 1/sqrt(n)
    values = []
    for n in (1_000, 100_000):
        probs, _ = random_predictions(n, 5, 1.5, seed=3)
        labels = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(4))[:, 0]
        values.append(normlab.expected_calibration_error(probs, labels))
    assert values[1] < 0.01 and values[1] < values[0] / 3


def test_reliability_diagram_fields():
    probs, labels = random_predictions(300, 3, 2.0, seed=0)
    d = normlab.reliability_diagram(probs, labels, 15)
    assert d.bin_edges.shape == (16,) and d.bin_edges[0] == 0 and d.bin_edges[-1] == 1
    assert d.count.dtype == torch.int64 and int(d.count.sum()) == 300
    empty = d.count == 0
    assert empty.any() and d.confidence[empty].isnan().all() and d.accuracy[empty].isnan().all()
    full = ~empty
    # each bin's mean confidence lies inside the bin
    assert (d.confidence[full] > d.bin_edges[:-1][full]).all()
    assert (d.confidence[full] <= d.bin_edges[1:][full]).all()
    assert ((d.accuracy[full] >= 0) & (d.accuracy[full] <= 1)).all()
    assert d.ece == normlab.expected_calibration_error(probs, labels, 15)


@given(scale=st.floats(0.1, 10.0), seed=st.integers(0, 10_000))
def test_ece_lies_in_unit_interval_and_below_mce(scale, seed):
    probs, labels = random_predictions(64, 3, scale, seed)
    d = normlab.reliability_diagram(probs, labels)
    assert 0.0 <= d.ece <= d.mce + 1e-12 <= 1.0 + 1e-12


def nll(logits, labels, temperature):
    return F.cross_entropy(logits / temperature, labels).item()


def sample_labels(logits, temperature, seed):
    probs = (logits / temperature).softmax(1)
    return torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(seed))[:, 0]


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(device, true_temperature):
    # labels drawn from softmax(z / T*): the maximum-likelihood T converges to T*; with
    # 20 000 samples its standard error is about 1 %, so 5 % is a safe margin
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(20_000, 5, generator=g, dtype=torch.float64)
    labels = sample_labels(logits, true_temperature, seed=1)
    fitted = normlab.fit_temperature(logits.to(device), labels.to(device))
    assert fitted == pytest.approx(true_temperature, rel=0.05)


def test_fit_temperature_minimizes_the_nll_and_fixes_an_overconfident_model():
    g = torch.Generator().manual_seed(2)
    logits = 2 * torch.randn(2_000, 10, generator=g, dtype=torch.float64)
    labels = sample_labels(logits, 1.0, seed=3)
    overconfident = 3 * logits  # same predictions, three times sharper
    fitted = normlab.fit_temperature(overconfident, labels)
    assert fitted > 2
    assert nll(overconfident, labels, fitted) < nll(overconfident, labels, 1.0) - 0.1
    grid = torch.logspace(-1, 1.5, 2001, dtype=torch.float64).tolist()
    assert nll(overconfident, labels, fitted) <= min(nll(overconfident, labels, t) for t in grid)
    probs_before = overconfident.softmax(1)
    probs_after = (overconfident / fitted).softmax(1)
    ece_before = normlab.expected_calibration_error(probs_before, labels)
    ece_after = normlab.expected_calibration_error(probs_after, labels)
    assert ece_after < ece_before / 3
    assert torch.equal(probs_before.argmax(1), probs_after.argmax(1))  # predictions unchanged


def test_fit_temperature_below_one_for_an_underconfident_model():
    g = torch.Generator().manual_seed(5)
    logits = 2 * torch.randn(2_000, 10, generator=g, dtype=torch.float64)
    labels = sample_labels(logits, 1.0, seed=6)
    assert normlab.fit_temperature(logits / 2, labels) == pytest.approx(0.5, rel=0.1)


@given(factor=st.floats(0.2, 5.0))
def test_fitted_temperature_scales_with_the_logits(factor):
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(300, 4, generator=g, dtype=torch.float64)
    labels = sample_labels(logits, 0.7, seed=8)
    base = normlab.fit_temperature(logits, labels)
    assert normlab.fit_temperature(factor * logits, labels) == pytest.approx(
        factor * base, rel=1e-8
    )


def test_fit_temperature_returns_the_bound_when_the_nll_keeps_falling():
    # every sample classified correctly: a colder softmax always lowers the NLL
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, -1.0]])
    labels = torch.tensor([0, 1, 0])
    assert normlab.fit_temperature(logits, labels) == 0.01
    assert normlab.fit_temperature(logits, labels, bounds=(0.2, 5.0)) == 0.2
    # every sample wrong: the NLL falls as T grows
    assert normlab.fit_temperature(logits, 1 - labels, bounds=(0.2, 5.0)) == 5.0


PROBS = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
LABELS = torch.tensor([1, 0])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: normlab.expected_calibration_error(PROBS.tolist(), LABELS),
            TypeError,
            "probs must be a torch.Tensor",
        ),
        (
            lambda: normlab.expected_calibration_error(PROBS.long(), LABELS),
            TypeError,
            "probs must be a floating-point tensor",
        ),
        (
            lambda: normlab.expected_calibration_error(PROBS[0], LABELS),
            ValueError,
            r"probs must be a 2-D tensor of shape \(N, C\)",
        ),
        (
            lambda: normlab.expected_calibration_error(torch.zeros(0, 2), LABELS[:0]),
            ValueError,
            "probs must be non-empty",
        ),
        (
            lambda: normlab.expected_calibration_error(PROBS * 2, LABELS),
            ValueError,
            "each row of probs must sum to 1",
        ),
        (
            lambda: normlab.expected_calibration_error(torch.tensor([[1.5, -0.5]]), LABELS[:1]),
            ValueError,
            "probs must be >= 0",
        ),
        (
            lambda: normlab.expected_calibration_error(PROBS, LABELS[:1]),
            ValueError,
            r"labels must have one entry per sample \(2\), got 1",
        ),
        (
            lambda: normlab.expected_calibration_error(PROBS, torch.tensor([0, 2])),
            ValueError,
            r"labels holds class index 2, outside \[0, 2\)",
        ),
        (
            lambda: normlab.expected_calibration_error(PROBS, LABELS.float()),
            TypeError,
            "labels must hold integer class indices",
        ),
        (
            lambda: normlab.expected_calibration_error(PROBS, LABELS[:, None]),
            ValueError,
            "labels must be a 1-D tensor",
        ),
        (
            lambda: normlab.expected_calibration_error(PROBS, LABELS, n_bins=0),
            ValueError,
            "n_bins must be a positive int",
        ),
        (
            lambda: normlab.reliability_diagram(PROBS, LABELS, n_bins=2.5),
            TypeError,
            "n_bins must be an int",
        ),
        (
            lambda: normlab.fit_temperature(PROBS.long(), LABELS),
            TypeError,
            "logits must be a floating-point tensor",
        ),
        (lambda: normlab.fit_temperature(PROBS[0], LABELS), ValueError, "logits must be a 2-D"),
        (
            lambda: normlab.fit_temperature(torch.tensor([[math.inf, 0.0]] * 2), LABELS),
            ValueError,
            "logits must be finite",
        ),
        (
            lambda: normlab.fit_temperature(PROBS, torch.tensor([0, 5])),
            ValueError,
            r"labels holds class index 5",
        ),
        (
            lambda: normlab.fit_temperature(PROBS, LABELS, bounds=(2.0, 1.0)),
            ValueError,
            "bounds must satisfy 0 < T_min < T_max < inf",
        ),
        (
            lambda: normlab.fit_temperature(PROBS, LABELS, bounds=(0.0, 1.0)),
            ValueError,
            "bounds must satisfy",
        ),
        (
            lambda: normlab.fit_temperature(PROBS, LABELS, bounds=1.0),
            TypeError,
            r"bounds must be a pair \(T_min, T_max\)",
        ),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
