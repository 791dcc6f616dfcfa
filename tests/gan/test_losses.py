"""The GAN losses against their formulas and against PyTorch's binary cross-entropy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import normlab
from normlab import gan


def logits(n=7, seed=0, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(n, generator=g, dtype=dtype)).to(device)


def test_minimax_discriminator_loss_is_the_formula_and_pytorchs_bce(device):
    real, fake = logits(device=device), logits(5, seed=1, device=device)
    d_real, d_fake = real.sigmoid(), fake.sigmoid()
    formula = -(d_real.log().mean() + (1 - d_fake).log().mean())
    bce = F.binary_cross_entropy_with_logits(
        real, torch.ones_like(real)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    ours = gan.minimax_discriminator_loss(real, fake)
    # float64 throughout: agreement to rounding of a few log/exp evaluations
    torch.testing.assert_close(ours, formula, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours, bce, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gan.non_saturating_discriminator_loss(real, fake), ours)


def test_generator_losses_are_the_formulas(device):
    fake = logits(device=device)
    d = fake.sigmoid()
    torch.testing.assert_close(gan.minimax_generator_loss(fake), (1 - d).log().mean())
    torch.testing.assert_close(gan.non_saturating_generator_loss(fake), -d.log().mean())
    torch.testing.assert_close(gan.wasserstein_generator_loss(fake), -fake.mean())
    torch.testing.assert_close(gan.hinge_generator_loss(fake), -fake.mean())


def test_wasserstein_and_hinge_critic_losses_are_the_formulas(device):
    real, fake = logits(device=device), logits(4, seed=2, device=device)
    torch.testing.assert_close(gan.wasserstein_critic_loss(real, fake), fake.mean() - real.mean())
    hinge = torch.clamp(1 - real, min=0).mean() + torch.clamp(1 + fake, min=0).mean()
    torch.testing.assert_close(gan.hinge_discriminator_loss(real, fake), hinge)


def test_losses_stay_finite_for_huge_logits():
    # log(sigmoid(s)) computed naively is -inf at s = -800 in float64; softplus is exact
    s = torch.tensor([-800.0, 800.0], dtype=torch.float64)
    for value in (
        gan.minimax_discriminator_loss(s, s),
        gan.minimax_generator_loss(s),
        gan.non_saturating_generator_loss(s),
    ):
        assert math.isfinite(value.item())
    assert gan.non_saturating_generator_loss(s).item() == pytest.approx(400.0)


def test_generator_gradients_saturate_only_for_the_minimax_loss():
    # d/ds of the minimax loss is -sigmoid(s); of the non-saturating one, -(1 - sigmoid(s))
    s = torch.tensor([-8.0, 0.0, 8.0], dtype=torch.float64, requires_grad=True)
    (g_minimax,) = torch.autograd.grad(gan.minimax_generator_loss(s) * 3, s)
    (g_ns,) = torch.autograd.grad(gan.non_saturating_generator_loss(s) * 3, s)
    torch.testing.assert_close(g_minimax, -s.detach().sigmoid())
    torch.testing.assert_close(g_ns, -(1 - s.detach().sigmoid()))
    # where the discriminator rejects the fake (s = -8), only the NS gradient is large
    assert abs(g_minimax[0]) < 1e-3 < 0.99 < abs(g_ns[0])


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.3])
def test_one_sided_label_smoothing_softens_only_the_real_targets(epsilon):
    real, fake = logits(), logits(5, seed=1)
    expected = F.binary_cross_entropy_with_logits(
        real, torch.full_like(real, 1 - epsilon)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    ours = gan.minimax_discriminator_loss(real, fake, label_smoothing=epsilon)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    # the same rule as normlab.one_sided_smooth_labels
    target = normlab.one_sided_smooth_labels(torch.ones(3), epsilon)
    assert target.tolist() == pytest.approx([1 - epsilon] * 3)


def test_label_smoothing_moves_the_optimal_real_logit_to_logit_of_one_minus_epsilon():
    # d/ds BCE(s, 1 - eps) = sigmoid(s) - (1 - eps): zero at sigmoid(s) = 0.8 for eps = 0.2,
    # so the discriminator is no longer rewarded for ever larger real logits
    fake = torch.tensor([-5.0], dtype=torch.float64)
    slopes = []
    for value in (0.0, torch.logit(torch.tensor(0.8, dtype=torch.float64)).item(), 5.0):
        s = torch.tensor([value], dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(
            gan.minimax_discriminator_loss(s, fake, label_smoothing=0.2), s
        )
        slopes.append(grad.item())
    assert slopes[0] < 0 and abs(slopes[1]) < 1e-15 and slopes[2] > 0


@given(st.lists(st.floats(-50, 50), min_size=1, max_size=8), st.floats(-50, 50))
def test_wasserstein_loss_is_antisymmetric_and_shift_invariant(values, shift):
    a = torch.tensor(values, dtype=torch.float64)
    b = a.flip(0) * 0.5 + 1.0
    forward = gan.wasserstein_critic_loss(a, b)
    torch.testing.assert_close(gan.wasserstein_critic_loss(b, a), -forward)
    # adding a constant to the critic changes nothing: only differences of f matter
    torch.testing.assert_close(gan.wasserstein_critic_loss(a + shift, b + shift), forward)


@given(st.lists(st.floats(-20, 20), min_size=1, max_size=8))
def test_hinge_loss_is_nonnegative_and_zero_beyond_the_margins(values):
    s = torch.tensor(values, dtype=torch.float64)
    assert gan.hinge_discriminator_loss(s, s).item() >= 0
    assert gan.hinge_discriminator_loss(s.abs() + 1, -s.abs() - 1).item() == 0.0


def test_shapes_need_not_match_between_real_and_fake():
    assert gan.wasserstein_critic_loss(torch.ones(4, 1), torch.zeros(3)).item() == -1.0


def test_loss_registry():
    assert set(gan.LOSSES) == {"minimax", "non_saturating", "wasserstein", "hinge"}
    pair = gan.get_loss("hinge")
    assert pair.discriminator is gan.hinge_discriminator_loss
    assert pair.generator is gan.hinge_generator_loss
    assert not pair.supports_label_smoothing
    assert gan.get_loss("minimax").supports_label_smoothing


def test_bad_inputs():
    with pytest.raises(ValueError, match="loss must be one of"):
        gan.get_loss("vanilla")
    with pytest.raises(TypeError, match="real_scores must be a floating-point tensor"):
        gan.minimax_discriminator_loss(torch.ones(3, dtype=torch.int64), torch.zeros(3))
    with pytest.raises(TypeError, match="fake_scores must be a torch.Tensor"):
        gan.non_saturating_generator_loss([0.5])
    with pytest.raises(ValueError, match="fake_scores must be non-empty"):
        gan.hinge_discriminator_loss(torch.ones(2), torch.ones(0))
    # the message names the caller's argument, not one_sided_smooth_labels' epsilon
    with pytest.raises(ValueError, match=r"^label_smoothing must lie in \[0, 1\).*got 1.0"):
        gan.minimax_discriminator_loss(torch.ones(2), torch.ones(2), label_smoothing=1.0)
    with pytest.raises(ValueError, match=r"^label_smoothing must lie in \[0, 1\)"):
        gan.minimax_discriminator_loss(torch.ones(2), torch.ones(2), label_smoothing=-0.1)
    with pytest.raises(TypeError, match="^label_smoothing must be a real number"):
        gan.non_saturating_discriminator_loss(torch.ones(2), torch.ones(2), label_smoothing="0.1")
