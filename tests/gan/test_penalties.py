"""The gradient penalty of WGAN-GP and weight clipping."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from normlab import gan


class HalfSquaredNorm(nn.Module):
    """f(x) = ‖x‖² / 2 · scale, whose input gradient is scale · x: a hand-checkable critic."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))

    def forward(self, x):
        return 0.5 * self.scale * x.flatten(1).pow(2).sum(1)


def test_interpolates_use_one_epsilon_per_sample(device):
    real = torch.zeros(6, 3, 2, device=device)
    fake = torch.ones(6, 3, 2, device=device)
    points = gan.interpolate(real, fake, generator=torch.Generator(device).manual_seed(0))
    per_sample = points.flatten(1)
    # x̂ = ε·0 + (1 - ε)·1: constant within a sample, different across samples
    assert torch.all(per_sample == per_sample[:, :1])
    assert len(set(per_sample[:, 0].tolist())) == 6
    assert points.min() >= 0 and points.max() <= 1 and not points.requires_grad


def test_gradient_penalty_matches_a_hand_computation(device):
    g = torch.Generator().manual_seed(1)
    real = torch.randn(8, 3, dtype=torch.float64, generator=g).to(device)
    fake = torch.randn(8, 3, dtype=torch.float64, generator=g).to(device)
    critic = HalfSquaredNorm().to(device)
    seeded = torch.Generator(device).manual_seed(5)
    penalty = gan.gradient_penalty(critic, real, fake, generator=seeded)
    # redraw the same ε: ∇f(x̂) = x̂, so the penalty is mean (‖x̂‖ - 1)²
    eps = torch.rand(
        8, 1, generator=torch.Generator(device).manual_seed(5), device=device, dtype=torch.float64
    )
    x_hat = eps * real + (1 - eps) * fake
    expected = ((x_hat.norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(penalty, expected, rtol=1e-12, atol=1e-12)
    # the penalty reaches the critic's parameter: d/ds mean (s‖x̂‖ - 1)² at s = 1
    penalty.backward()
    norms = x_hat.norm(dim=1)
    torch.testing.assert_close(
        critic.scale.grad, (2 * (norms - 1) * norms).mean(), rtol=1e-12, atol=1e-12
    )


def test_gradient_penalty_is_zero_for_a_linear_critic_with_unit_weight(device):
    critic = nn.Sequential(nn.Linear(5, 1), nn.Flatten(0)).double().to(device)
    with torch.no_grad():
        critic[0].weight /= critic[0].weight.norm()
    real = torch.randn(16, 5, dtype=torch.float64, device=device)
    fake = torch.randn(16, 5, dtype=torch.float64, device=device)
    penalty = gan.gradient_penalty(critic, real, fake)
    assert penalty.item() < 1e-28  # (1 - 1)² up to float64 rounding of the norm
    # scaled weight: the gradient is w everywhere, penalty (‖w‖ - 1)², gradient into w
    with torch.no_grad():
        critic[0].weight *= 3
    penalty = gan.gradient_penalty(critic, real, fake)
    torch.testing.assert_close(penalty.item(), 4.0, rtol=1e-12, atol=1e-12)
    penalty.backward()
    w = critic[0].weight.detach()
    torch.testing.assert_close(critic[0].weight.grad, 2 * (3 - 1) * w / 3)
    assert critic[0].bias.grad is None or torch.all(critic[0].bias.grad == 0)


def test_gradient_penalty_of_a_flat_critic_is_one_with_finite_gradients():
    critic = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    with torch.no_grad():
        critic[0].weight.zero_()
    penalty = gan.gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2))
    assert penalty.item() == 1.0
    penalty.backward()
    assert torch.isfinite(critic[0].weight.grad).all()


def test_critic_gradient_norm_and_images(device):
    critic = gan.ConvCritic(channels=4).to(device)
    x = torch.randn(3, 1, 8, 8, device=device)
    norms = gan.critic_gradient_norm(critic, x)
    assert norms.shape == (3,) and torch.all(norms > 0)
    # each row is the gradient of that sample's own score
    for i in range(3):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(xi).sum(), xi)
        torch.testing.assert_close(norms[i], grad.norm(), rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # works even where gradients are disabled
        assert torch.equal(gan.critic_gradient_norm(critic, x), norms)


def test_clip_weights_bounds_every_parameter_and_keeps_the_small_ones():
    critic = gan.MLPCritic(2, (16, 16))
    before = [p.detach().clone() for p in critic.parameters()]
    gan.clip_weights(critic, 0.05)
    for old, new in zip(before, critic.parameters(), strict=True):
        assert new.abs().max() <= 0.05
        inside = old.abs() <= 0.05
        assert torch.equal(new[inside], old[inside])
        assert torch.equal(new[~inside], 0.05 * old[~inside].sign())


def test_bad_inputs():
    critic = gan.MLPCritic(3, (4,))
    with pytest.raises(ValueError, match="real and fake must have the same shape"):
        gan.gradient_penalty(critic, torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="real must be a batch of samples"):
        gan.gradient_penalty(critic, torch.randn(4), torch.randn(4))
    with pytest.raises(TypeError, match="critic must be a torch.nn.Module"):
        gan.gradient_penalty(lambda x: x.sum(1), torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(TypeError, match="fake must be a floating-point tensor"):
        gan.interpolate(torch.randn(2, 2), torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="c must be > 0"):
        gan.clip_weights(critic, 0.0)
    with pytest.raises(ValueError, match="c must be > 0"):
        gan.clip_weights(critic, -0.01)
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        gan.clip_weights([torch.ones(2)], 0.1)


class TwoScores(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x):
        return self.linear(x)


class Blind(nn.Module):
    """A critic that ignores its input: a constant score, with or without a weight."""

    def __init__(self, weighted: bool) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.ones(())) if weighted else None

    def forward(self, x):
        score = torch.ones(len(x), dtype=x.dtype)
        return score * self.bias if self.bias is not None else score


@pytest.mark.parametrize("weighted", [True, False])
def test_a_critic_that_ignores_its_input_has_gradient_zero_and_penalty_one(weighted):
    real, fake = torch.randn(4, 3), torch.randn(4, 3)
    norms = gan.critic_gradient_norm(Blind(weighted), real)
    assert torch.equal(norms, torch.zeros(4))
    assert gan.gradient_penalty(Blind(weighted), real, fake).item() == 1.0  # (0 - 1)^2


def test_hostile_critics_and_samples():
    real = torch.randn(4, 3)
    with pytest.raises(
        ValueError, match=r"critic must return one score per sample, shape \(4,\).*got \(4, 2\)"
    ):
        gan.gradient_penalty(TwoScores(), real, torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"critic must return one score per sample"):
        gan.critic_gradient_norm(TwoScores(), real)
    with pytest.raises(
        ValueError, match=r"^fake must be on the same device as real \(cpu\), got meta"
    ):
        gan.gradient_penalty(gan.MLPCritic(3, (4,)), real, torch.randn(4, 3, device="meta"))
    with pytest.raises(ValueError, match=r"^fake must have real's dtype \(torch.float32\)"):
        gan.interpolate(real, real.double())
