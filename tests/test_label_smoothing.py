"""Label-smoothed cross-entropy and smoothed targets, against PyTorch and exact formulas.

Tolerances: float64 results agree with PyTorch to 1e-12 (both sum the same few terms in a
different order); float32 to 1e-5 relative / 1e-6 absolute (a few ulps of values of order 1,
accumulated over at most a few hundred terms).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import normlab
from normlab.label_smoothing import LabelSmoothingCrossEntropy

TOL = {torch.float64: dict(rtol=1e-12, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}

# logits shapes: unbatched (C,), batched (N, C), and k-dimensional (N, C, d1, ..., dk)
SHAPES = [(5,), (7, 5), (3, 4, 6), (2, 3, 4, 5)]


def _target_shape(shape):
    return (shape[0], *shape[2:]) if len(shape) > 1 else ()


def _class_dim(shape):
    return 1 if len(shape) > 1 else 0


def _index_target(shape, device, ignore_index=None):
    num_classes = shape[_class_dim(shape)]
    target = torch.randint(0, num_classes, _target_shape(shape), device=device)
    if ignore_index is not None and target.ndim > 0:
        target.view(-1)[::3] = ignore_index  # every third element is ignored
    return target


def _prob_target(shape, dtype, device):
    return torch.softmax(3 * torch.randn(shape, dtype=dtype, device=device), _class_dim(shape))


def _value_and_grad(fn, logits):
    x = logits.detach().clone().requires_grad_(True)
    loss = fn(x)
    # a fixed random cotangent, so that reduction="none" checks every element's gradient
    cotangent = torch.randn(
        loss.shape, dtype=loss.dtype, generator=torch.Generator().manual_seed(1)
    )
    (grad,) = torch.autograd.grad(loss, x, cotangent.to(loss.device))
    return loss.detach(), grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["no-weight", "weight"])
@pytest.mark.parametrize("ignore_index", [-100, 1], ids=["ignore=-100", "ignore=1"])
@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.45, 1.0])
def test_index_targets_match_pytorch(
    device, dtype, shape, reduction, weighted, ignore_index, epsilon
):
    logits = torch.randn(shape, dtype=dtype, device=device)
    target = _index_target(shape, device, ignore_index)
    num_classes = shape[_class_dim(shape)]
    weight = torch.rand(num_classes, dtype=dtype, device=device) + 0.1 if weighted else None
    kwargs = dict(weight=weight, ignore_index=ignore_index, reduction=reduction)
    ours = _value_and_grad(
        lambda x: normlab.label_smoothing_cross_entropy(x, target, epsilon, **kwargs), logits
    )
    theirs = _value_and_grad(
        lambda x: F.cross_entropy(x, target, label_smoothing=epsilon, **kwargs), logits
    )
    # an unbatched target equal to ignore_index gives NaN for the mean, in both
    torch.testing.assert_close(ours[0], theirs[0], equal_nan=True, **TOL[dtype])
    torch.testing.assert_close(ours[1], theirs[1], equal_nan=True, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["no-weight", "weight"])
@pytest.mark.parametrize("epsilon", [0.0, 0.1, 1.0])
def test_probability_targets_match_pytorch(device, dtype, shape, reduction, weighted, epsilon):
    logits = torch.randn(shape, dtype=dtype, device=device)
    target = _prob_target(shape, dtype, device)
    num_classes = shape[_class_dim(shape)]
    weight = torch.rand(num_classes, dtype=dtype, device=device) + 0.1 if weighted else None
    kwargs = dict(weight=weight, reduction=reduction)
    ours = _value_and_grad(
        lambda x: normlab.label_smoothing_cross_entropy(x, target, epsilon, **kwargs), logits
    )
    theirs = _value_and_grad(
        lambda x: F.cross_entropy(x, target, label_smoothing=epsilon, **kwargs), logits
    )
    torch.testing.assert_close(ours[0], theirs[0], **TOL[dtype])
    torch.testing.assert_close(ours[1], theirs[1], **TOL[dtype])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_module_matches_cross_entropy_loss_and_shares_its_state_dict(device, reduction):
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    ours = LabelSmoothingCrossEntropy(0.2, weight=weight, ignore_index=2, reduction=reduction)
    theirs = torch.nn.CrossEntropyLoss(
        weight=weight, ignore_index=2, reduction=reduction, label_smoothing=0.2
    )
    ours.to(device)
    theirs.to(device)
    assert ours.weight.device.type == torch.device(device).type  # the buffer moved
    assert set(ours.state_dict()) == set(theirs.state_dict()) == {"weight"}
    fresh = LabelSmoothingCrossEntropy(0.2, weight=torch.ones(4, dtype=torch.float64))
    fresh.load_state_dict(theirs.state_dict())
    assert torch.equal(fresh.weight.cpu(), weight)
    logits = torch.randn(6, 4, 3, dtype=torch.float64, device=device)
    target = torch.randint(0, 4, (6, 3), device=device)
    torch.testing.assert_close(ours(logits, target), theirs(logits, target), **TOL[torch.float64])


def test_module_without_weight_has_an_empty_state_dict_and_a_readable_repr():
    loss = LabelSmoothingCrossEntropy(0.1, convention="others")
    assert loss.weight is None and dict(loss.state_dict()) == {}
    assert repr(loss) == (
        "LabelSmoothingCrossEntropy(epsilon=0.1, convention='others', ignore_index=-100, "
        "reduction='mean')"
    )


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["no-weight", "weight"])
@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.3, 0.6])
def test_others_convention_is_uniform_with_rescaled_epsilon(shape, reduction, weighted, epsilon):
    num_classes = shape[_class_dim(shape)]
    rescaled = epsilon * num_classes / (num_classes - 1)  # <= 1 for ε <= 0.6 and C >= 3
    logits = torch.randn(shape, dtype=torch.float64)
    target = _index_target(shape, "cpu", ignore_index=-100)
    weight = torch.rand(num_classes, dtype=torch.float64) + 0.1 if weighted else None
    kwargs = dict(weight=weight, reduction=reduction)
    others = normlab.label_smoothing_cross_entropy(
        logits, target, epsilon, convention="others", **kwargs
    )
    pytorch = F.cross_entropy(logits, target, label_smoothing=rescaled, **kwargs)
    torch.testing.assert_close(others, pytorch, equal_nan=True, **TOL[torch.float64])


def test_others_convention_puts_one_minus_epsilon_on_the_true_class_and_the_rest_evenly():
    # the source material's LabelSmoothingLoss, written out: q_y = 1 - ε, q_k = ε/(C - 1)
    logits = torch.randn(9, 6, dtype=torch.float64)
    target = torch.randint(0, 6, (9,))
    epsilon = 0.2
    q = torch.full((9, 6), epsilon / 5, dtype=torch.float64)
    q[torch.arange(9), target] = 1 - epsilon
    expected = -(q * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    ours = normlab.label_smoothing_cross_entropy(logits, target, epsilon, convention="others")
    torch.testing.assert_close(ours, expected, **TOL[torch.float64])
    # ... while PyTorch's label_smoothing with the same ε is a different loss
    assert not torch.isclose(F.cross_entropy(logits, target, label_smoothing=epsilon), expected)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weights_normalize_index_and_probability_targets_differently_as_in_pytorch(reduction):
    # pytorch #61309 / #104776: with weights, the mean over class indices divides by
    # Σ w_{y_i}, the mean over (one-hot) probabilities by N; "none" and "sum" agree
    logits = torch.randn(8, 5, dtype=torch.float64)
    target = torch.randint(0, 5, (8,))
    onehot = F.one_hot(target, 5).double()
    weight = torch.rand(5, dtype=torch.float64) + 0.1
    kwargs = dict(weight=weight, reduction=reduction)
    by_index = normlab.label_smoothing_cross_entropy(logits, target, 0.1, **kwargs)
    by_probs = normlab.label_smoothing_cross_entropy(logits, onehot, 0.1, **kwargs)
    torch.testing.assert_close(
        by_index, F.cross_entropy(logits, target, label_smoothing=0.1, **kwargs)
    )
    torch.testing.assert_close(
        by_probs, F.cross_entropy(logits, onehot, label_smoothing=0.1, **kwargs)
    )
    if reduction == "mean":
        ratio = weight[target].sum() / len(target)
        torch.testing.assert_close(by_probs / by_index, ratio)
        assert not torch.isclose(by_index, by_probs)
    else:
        torch.testing.assert_close(by_index, by_probs)


def test_ignored_elements_change_neither_the_sum_nor_the_mean():
    logits = torch.randn(10, 4, dtype=torch.float64)
    target = torch.randint(0, 4, (10,))
    weight = torch.rand(4, dtype=torch.float64) + 0.1
    kept = normlab.label_smoothing_cross_entropy(logits[:6], target[:6], 0.3, weight=weight)
    padded_target = target.clone()
    padded_target[6:] = -1
    with_padding = normlab.label_smoothing_cross_entropy(
        logits, padded_target, 0.3, weight=weight, ignore_index=-1
    )
    torch.testing.assert_close(kept, with_padding, **TOL[torch.float64])
    every_ignored = torch.full((10,), -100)
    assert normlab.label_smoothing_cross_entropy(logits, every_ignored).isnan()  # 0/0, as PyTorch


def test_zero_epsilon_with_minus_infinity_logits_is_plain_cross_entropy():
    # masked logits: 0·log p would be 0·(-inf) = NaN if the smoothing term were kept at ε = 0
    logits = torch.tensor([[2.0, -math.inf, 0.5], [0.1, 0.2, -math.inf]])
    target = torch.tensor([0, 1])
    ours = normlab.label_smoothing_cross_entropy(logits, target, 0.0)
    assert torch.isfinite(ours)
    torch.testing.assert_close(ours, F.cross_entropy(logits, target))


def test_empty_batch_gives_nan_mean_and_zero_sum_as_pytorch():
    logits = torch.randn(0, 3)
    target = torch.zeros(0, dtype=torch.int64)
    assert normlab.label_smoothing_cross_entropy(logits, target).isnan()
    assert normlab.label_smoothing_cross_entropy(logits, target, reduction="sum") == 0
    assert normlab.label_smoothing_cross_entropy(logits, torch.zeros(0, 3)).isnan()


def test_other_integer_target_dtypes_give_the_same_loss():
    logits = torch.randn(5, 4)
    target = torch.randint(0, 4, (5,))
    expected = normlab.label_smoothing_cross_entropy(logits, target)
    for dtype in (torch.uint8, torch.int32, torch.int16):
        torch.testing.assert_close(
            normlab.label_smoothing_cross_entropy(logits, target.to(dtype)), expected
        )


def test_gradient_is_softmax_minus_smoothed_target():
    # d/dz of -Σ q log softmax(z) is softmax(z) - q; averaged over the batch for "mean"
    logits = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 5, (6,))
    for convention in ("uniform", "others"):
        loss = normlab.label_smoothing_cross_entropy(logits, target, 0.2, convention=convention)
        (grad,) = torch.autograd.grad(loss, logits)
        q = normlab.smooth_labels(target, 5, 0.2, convention, dtype=torch.float64)
        torch.testing.assert_close(grad, (logits.softmax(1) - q).detach() / 6)


@given(
    num_classes=st.integers(2, 12),
    epsilon=st.floats(0.0, 1.0),
    convention=st.sampled_from(["uniform", "others"]),
)
def test_smoothed_targets_are_distributions_with_the_convention_s_values(
    num_classes, epsilon, convention
):
    target = torch.arange(num_classes)
    q = normlab.smooth_labels(target, num_classes, epsilon, convention, dtype=torch.float64)
    assert q.shape == (num_classes, num_classes)
    assert (q >= 0).all()
    torch.testing.assert_close(q.sum(1), torch.ones(num_classes, dtype=torch.float64))
    on, off = q.diagonal(), q[~torch.eye(num_classes, dtype=torch.bool)]
    if convention == "uniform":
        expected_on, expected_off = 1 - epsilon + epsilon / num_classes, epsilon / num_classes
    else:
        expected_on, expected_off = 1 - epsilon, epsilon / (num_classes - 1)
    torch.testing.assert_close(on, torch.full_like(on, expected_on))
    torch.testing.assert_close(off, torch.full_like(off, expected_off))


@given(num_classes=st.integers(2, 10), epsilon=st.floats(0.0, 1.0))
def test_others_targets_equal_uniform_targets_at_rescaled_epsilon(num_classes, epsilon):
    rescaled = epsilon * num_classes / (num_classes - 1)
    target = torch.arange(num_classes)
    others = normlab.smooth_labels(target, num_classes, epsilon, "others", dtype=torch.float64)
    by_formula = F.one_hot(target, num_classes) * (1 - rescaled) + rescaled / num_classes
    torch.testing.assert_close(others, by_formula.double())


@given(epsilon=st.floats(0.0, 1.0), convention=st.sampled_from(["uniform", "others"]))
def test_loss_equals_cross_entropy_against_smoothed_targets(epsilon, convention):
    logits = torch.randn(4, 3, 5, dtype=torch.float64)
    target = torch.randint(0, 3, (4, 5))
    q = normlab.smooth_labels(target, 3, epsilon, convention, dtype=torch.float64)
    assert q.shape == logits.shape  # the class dimension sits where cross_entropy wants it
    by_index = normlab.label_smoothing_cross_entropy(logits, target, epsilon, convention=convention)
    by_hand = -(q * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    torch.testing.assert_close(by_index, by_hand)


@given(epsilon=st.floats(0.01, 0.99), convention=st.sampled_from(["uniform", "others"]))
def test_loss_is_minimized_where_the_prediction_equals_the_smoothed_target(epsilon, convention):
    # cross-entropy H(q, p) >= H(q, q), with equality at p = q: the gradient vanishes at
    # logits = log q, and any other logits give a larger loss
    target = torch.tensor([2])
    q = normlab.smooth_labels(target, 4, epsilon, convention, dtype=torch.float64)
    best = q.log().requires_grad_(True)
    loss = normlab.label_smoothing_cross_entropy(best, target, epsilon, convention=convention)
    (grad,) = torch.autograd.grad(loss, best)
    assert grad.abs().max() < 1e-12
    entropy = -(q * q.log()).sum()
    torch.testing.assert_close(loss.detach(), entropy)
    other = best.detach() + torch.tensor([[0.0, 0.3, -0.2, 0.1]], dtype=torch.float64)
    assert (
        normlab.label_smoothing_cross_entropy(other, target, epsilon, convention=convention) > loss
    )


def test_smooth_labels_of_probability_targets_and_shapes():
    probs = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    uniform = normlab.smooth_labels(probs, 3, 0.3)
    torch.testing.assert_close(uniform, probs * 0.7 + 0.1)
    others = normlab.smooth_labels(probs, 3, 0.3, "others")
    torch.testing.assert_close(others, 0.7 * probs + 0.3 * (1 - probs) / 2)
    assert normlab.smooth_labels(torch.tensor(1), 4, 0.1).shape == (4,)
    assert normlab.smooth_labels(torch.zeros(2, 5, 7, dtype=torch.int64), 3, 0.1).shape == (
        2,
        3,
        5,
        7,
    )
    assert normlab.smooth_labels(torch.tensor([0]), 2, 0.1).dtype == torch.get_default_dtype()
    assert normlab.smooth_labels(probs.float(), 3, 0.1).dtype == torch.float32
    # zero smoothing gives back the one-hot target; one class leaves nothing to smooth
    torch.testing.assert_close(
        normlab.smooth_labels(torch.tensor([1, 0]), 2, 0.0), torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    )
    torch.testing.assert_close(normlab.smooth_labels(torch.tensor([0]), 1, 0.5), torch.ones(1, 1))


LOGITS = torch.randn(4, 3)
TARGET = torch.tensor([0, 1, 2, 0])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, TARGET, -0.1),
            ValueError,
            r"epsilon must lie in \[0, 1\], got -0.1",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, TARGET, 1.5),
            ValueError,
            r"epsilon must lie in \[0, 1\], got 1.5",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, TARGET, math.nan),
            ValueError,
            "epsilon must not be NaN",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, TARGET, "0.1"),
            TypeError,
            "epsilon must be a real number",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, TARGET, convention="pytorch"),
            ValueError,
            "convention must be one of 'uniform', 'others'; got 'pytorch'",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(
                torch.randn(4, 1), torch.zeros(4, dtype=torch.int64), convention="others"
            ),
            ValueError,
            "needs at least 2 classes, got 1",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, torch.tensor([0, 1, 3, 0])),
            ValueError,
            r"target holds class index 3, outside \[0, 3\)",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, torch.tensor([0, -1, 2, 0])),
            ValueError,
            r"class index -1, outside \[0, 3\) \(and is not ignore_index=-100\)",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, TARGET[:3]),
            ValueError,
            r"must have shape \(4,\), got \(3,\)",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(torch.randn(4, 3, 5), TARGET),
            ValueError,
            r"must have shape \(4, 5\), got \(4,\)",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, torch.full((4, 2), 0.5)),
            ValueError,
            r"probability targets must have the shape of logits \(4, 3\)",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, torch.full((4, 3), 0.5)),
            ValueError,
            "must sum to 1 over the class dimension 1; the largest deviation is 0.5",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(
                LOGITS, torch.tensor([[1.5, -0.5, 0.0]] * 4)
            ),
            ValueError,
            "must be >= 0",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(
                LOGITS, torch.full((4, 3), 1 / 3), ignore_index=1
            ),
            ValueError,
            "ignore_index=1 is not supported with probability targets",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, TARGET.bool()),
            TypeError,
            "target must hold integer class indices or floating-point class probabilities",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(TARGET, TARGET),
            TypeError,
            "logits must be a floating-point tensor",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, [0, 1, 2, 0]),
            TypeError,
            "target must be a torch.Tensor",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(torch.tensor(1.0), torch.tensor(0)),
            ValueError,
            "logits must have a class dimension",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(torch.randn(4, 0), TARGET),
            ValueError,
            "logits must have at least one class",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, TARGET, weight=torch.ones(4)),
            ValueError,
            r"one entry per class \(3\), got shape \(4,\)",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(
                LOGITS, TARGET, weight=torch.ones(3, dtype=torch.int64)
            ),
            TypeError,
            "weight must be a floating-point tensor",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, TARGET, reduction="avg"),
            ValueError,
            "reduction must be one of 'none', 'mean', 'sum'; got 'avg'",
        ),
        (
            lambda: normlab.label_smoothing_cross_entropy(LOGITS, TARGET, ignore_index=1.0),
            TypeError,
            "ignore_index must be an int",
        ),
        (lambda: LabelSmoothingCrossEntropy(1.2), ValueError, r"epsilon must lie in \[0, 1\]"),
        (lambda: LabelSmoothingCrossEntropy(convention="ls"), ValueError, "convention must be"),
        (
            lambda: LabelSmoothingCrossEntropy(weight=torch.ones(2, 2)),
            ValueError,
            r"weight must be a 1-D tensor of class weights, got shape \(2, 2\)",
        ),
        (lambda: LabelSmoothingCrossEntropy(reduction="batchmean"), ValueError, "reduction"),
        (
            lambda: LabelSmoothingCrossEntropy(convention="others")(
                torch.randn(2, 1), torch.zeros(2, dtype=torch.int64)
            ),
            ValueError,
            "at least 2 classes",
        ),
    ],
)
def test_loss_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((TARGET, 3, 1.1), {}, ValueError, r"epsilon must lie in \[0, 1\], got 1.1"),
        ((TARGET, 3, -0.5), {}, ValueError, r"epsilon must lie in \[0, 1\]"),
        ((TARGET, 3, 0.1, "label"), {}, ValueError, "convention must be one of"),
        ((torch.tensor([0]), 1, 0.1, "others"), {}, ValueError, "at least 2 classes, got 1"),
        ((TARGET, 2, 0.1), {}, ValueError, r"target holds class index 2, outside \[0, 2\)"),
        ((TARGET, 0, 0.1), {}, ValueError, "num_classes must be a positive int"),
        ((TARGET, 3.0, 0.1), {}, TypeError, "num_classes must be an int"),
        ((TARGET.tolist(), 3, 0.1), {}, TypeError, "target must be a torch.Tensor"),
        ((TARGET.bool(), 3, 0.1), {}, TypeError, "integer class indices"),
        ((torch.full((2, 4), 0.25), 3, 0.1), {}, ValueError, "num_classes=3 entries"),
        ((torch.full((2, 3), 0.5), 3, 0.1), {}, ValueError, "must sum to 1"),
        ((torch.tensor(0.5), 3, 0.1), {}, ValueError, r"shape \(C,\) or \(N, C, \.\.\.\)"),
        ((TARGET, 3, 0.1), {"dtype": torch.int64}, TypeError, "dtype must be a floating"),
        ((TARGET, 3, 0.1), {"dtype": "float64"}, TypeError, "dtype must be a torch.dtype"),
    ],
)
def test_smooth_labels_bad_input(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        normlab.smooth_labels(*args, **kwargs)


def test_pytorch_silently_ignores_a_negative_epsilon_and_we_refuse_it():
    # documents the PyTorch behaviour the chapter mentions (torch 2.13: no error, plain CE)
    logits, target = torch.randn(5, 4), torch.randint(0, 4, (5,))
    torch.testing.assert_close(
        F.cross_entropy(logits, target, label_smoothing=-0.5), F.cross_entropy(logits, target)
    )
    with pytest.raises(ValueError, match="epsilon must lie in"):
        normlab.label_smoothing_cross_entropy(logits, target, -0.5)


def _random_rotation(dim, generator):
    q, _ = torch.linalg.qr(torch.randn(dim, dim, dtype=torch.float64, generator=generator))
    return q


def test_template_plane_puts_the_templates_on_a_triangle_and_keeps_in_plane_distances():
    g = torch.Generator().manual_seed(0)
    templates = torch.randn(3, 7, dtype=torch.float64, generator=g)
    corners = normlab.label_smoothing.template_plane_projection(templates, templates)
    torch.testing.assert_close(corners[0], torch.zeros(2, dtype=torch.float64))
    assert abs(corners[1, 1]) < 1e-12 and corners[1, 0] > 0  # w1 on the first axis
    torch.testing.assert_close(torch.pdist(corners), torch.pdist(templates))
    # points of the plane (affine combinations of the templates) keep their distances
    mix = torch.rand(20, 3, dtype=torch.float64, generator=g)
    mix = mix / mix.sum(1, keepdim=True)
    in_plane = mix @ templates
    coords = normlab.label_smoothing.template_plane_projection(in_plane, templates)
    torch.testing.assert_close(torch.pdist(coords), torch.pdist(in_plane))
    # moving a point orthogonally to the plane does not move its projection
    basis, _ = torch.linalg.qr(
        torch.stack([templates[1] - templates[0], templates[2] - templates[0]], 1)
    )
    normal = torch.randn(7, dtype=torch.float64, generator=g)
    normal = normal - basis @ (basis.T @ normal)
    torch.testing.assert_close(
        normlab.label_smoothing.template_plane_projection(in_plane + normal, templates), coords
    )
    assert (
        normlab.label_smoothing.template_plane_projection(in_plane.float(), templates).dtype
        == torch.float32
    )


def test_cluster_tightness_known_value_and_invariances():
    # two classes: points at distance r around centroids at distance d -> r / d
    r, d = 0.5, 4.0
    offsets = torch.tensor([[r, 0.0], [-r, 0.0], [0.0, r], [0.0, -r]], dtype=torch.float64)
    points = torch.cat([offsets, offsets + torch.tensor([d, 0.0], dtype=torch.float64)])
    labels = torch.tensor([0] * 4 + [1] * 4)
    assert normlab.label_smoothing.cluster_tightness(points, labels) == pytest.approx(r / d)
    g = torch.Generator().manual_seed(1)
    cloud = torch.randn(60, 5, dtype=torch.float64, generator=g)
    classes = torch.randint(0, 3, (60,), generator=g)
    base = normlab.label_smoothing.cluster_tightness(cloud, classes)
    moved = 3.7 * cloud @ _random_rotation(5, g) + torch.randn(5, dtype=torch.float64, generator=g)
    assert normlab.label_smoothing.cluster_tightness(moved, classes) == pytest.approx(
        base, rel=1e-10
    )
    # pulling every point halfway to its centroid halves the tightness
    centroids = torch.stack([cloud[classes == c].mean(0) for c in range(3)])
    pulled = 0.5 * (cloud + centroids[classes])
    assert normlab.label_smoothing.cluster_tightness(pulled, classes) == pytest.approx(
        base / 2, rel=1e-10
    )


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: normlab.label_smoothing.template_plane_projection(
                torch.randn(4, 5), torch.randn(2, 5)
            ),
            ValueError,
            r"templates must have shape \(3, D\)",
        ),
        (
            lambda: normlab.label_smoothing.template_plane_projection(
                torch.randn(4, 5), torch.randn(3, 6)
            ),
            ValueError,
            "features have 5 dimensions but templates have 6",
        ),
        (
            lambda: normlab.label_smoothing.template_plane_projection(
                torch.randn(5), torch.randn(3, 5)
            ),
            ValueError,
            "features must be a 2-D tensor",
        ),
        (
            lambda: normlab.label_smoothing.template_plane_projection(
                torch.randn(4, 2), torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
            ),
            ValueError,
            "lie on one line",
        ),
        (
            lambda: normlab.label_smoothing.template_plane_projection(
                torch.ones(4, 3, dtype=torch.int64), torch.randn(3, 3)
            ),
            TypeError,
            "features must be a floating-point tensor",
        ),
        (
            lambda: normlab.label_smoothing.cluster_tightness(
                torch.randn(4, 2), torch.zeros(4, dtype=torch.int64)
            ),
            ValueError,
            "at least 2 classes, got 1",
        ),
        (
            lambda: normlab.label_smoothing.cluster_tightness(
                torch.randn(4, 2), torch.tensor([0, 1, 0])
            ),
            ValueError,
            r"labels must have shape \(4,\)",
        ),
        (
            lambda: normlab.label_smoothing.cluster_tightness(
                torch.randn(4, 2), torch.tensor([0.0, 1, 0, 1])
            ),
            TypeError,
            "labels must hold integer class indices",
        ),
        (
            lambda: normlab.label_smoothing.cluster_tightness(
                torch.ones(4, 2), torch.tensor([0, 1, 0, 1])
            ),
            ValueError,
            "all class centroids coincide",
        ),
        # NaN is not "coinciding" nor "collinear": the message must name the NaN
        (
            lambda: normlab.label_smoothing.cluster_tightness(
                torch.tensor([[0.0, 0], [1, 1], [math.nan, 0], [2, 2]]), torch.tensor([0, 1, 0, 1])
            ),
            ValueError,
            r"points must be finite, got 1 non-finite entries \(NaN\)",
        ),
        (
            lambda: normlab.label_smoothing.template_plane_projection(
                torch.randn(4, 2), torch.full((3, 2), math.nan)
            ),
            ValueError,
            "templates must be finite",
        ),
        (
            lambda: normlab.label_smoothing.template_plane_projection(
                torch.tensor([[math.inf, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
            ),
            ValueError,
            r"features must be finite.*\(inf\)",
        ),
        (
            lambda: normlab.label_smoothing.cluster_tightness(
                torch.randn(4, 2), torch.tensor([True, False] * 2)
            ),
            TypeError,
            "labels must hold integer class indices, got dtype torch.bool",
        ),
    ],
)
def test_template_plane_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
