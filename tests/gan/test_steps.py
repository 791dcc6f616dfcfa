"""The public critic step: the loops the chapters wrote out by hand, errors that name the
argument, and the loop of train_gan (tested unchanged in test_training.py) built on it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from normlab import gan

RING = gan.ring_of_gaussians()


def critic(seed=0, width=16):
    torch.manual_seed(seed)
    return gan.MLPCritic(2, (width, width))


def batches(rng, n=32):
    real = RING.sample(n, generator=rng)
    return real, real + torch.randn(real.shape, generator=rng)


def by_hand(model, optimizer, real, fake, objective, gp_weight, clip, rng):
    """Chapter 9's train_critic loop body, as it was written in the notebook."""
    real_scores, fake_scores = model(real), model(fake)
    if objective == "gan":
        loss = gan.minimax_discriminator_loss(real_scores, fake_scores)
    else:
        loss = gan.wasserstein_critic_loss(real_scores, fake_scores)
    if objective == "gp":
        loss = loss + gp_weight * gan.gradient_penalty(model, real, fake, generator=rng)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if objective == "clip":
        gan.clip_weights(model, clip)
    return loss.detach(), (real_scores.mean() - fake_scores.mean()).detach()


@pytest.mark.parametrize(
    "objective, loss, options",
    [
        ("gan", "minimax", {}),
        ("wgan", "wasserstein", {}),
        ("clip", "wasserstein", {"clip_value": 0.1}),
        ("gp", "wasserstein", {"gp_weight": 10.0}),
    ],
)
def test_critic_step_reproduces_the_chapters_loop_exactly(objective, loss, options):
    ours, theirs = critic(), critic()
    opt_ours = torch.optim.Adam(ours.parameters(), lr=1e-3, betas=(0.5, 0.9))
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=1e-3, betas=(0.5, 0.9))
    rng_ours, rng_theirs = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(25):
        real, fake = batches(rng_ours)
        step = gan.critic_step(
            ours,
            opt_ours,
            real,
            fake,
            loss=loss,
            generator=rng_ours,
            concatenate=False,
            **options,
        )
        real, fake = batches(rng_theirs)
        expected_loss, expected_gap = by_hand(
            theirs,
            opt_theirs,
            real,
            fake,
            objective,
            options.get("gp_weight", 0.0),
            options.get("clip_value"),
            rng_theirs,
        )
        assert torch.equal(step.loss, expected_loss)
        assert torch.equal(step.gap, expected_gap)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)


def test_one_call_for_both_batches_matches_two_calls_to_rounding():
    one, two = critic(1), critic(1)
    opt_one = torch.optim.SGD(one.parameters(), lr=1e-2)
    opt_two = torch.optim.SGD(two.parameters(), lr=1e-2)
    rng = torch.Generator().manual_seed(0)
    for _ in range(10):
        real, fake = batches(rng)
        a = gan.critic_step(one, opt_one, real, fake, concatenate=True)
        b = gan.critic_step(two, opt_two, real, fake, concatenate=False)
        torch.testing.assert_close(a.loss, b.loss)
    for p, q in zip(one.parameters(), two.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_what_the_step_returns():
    model = critic(2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # nothing moves
    real, fake = batches(torch.Generator().manual_seed(1))
    with torch.no_grad():
        gap = model(real).mean() - model(fake).mean()
    plain = gan.critic_step(model, optimizer, real, fake)
    assert math.isnan(plain.penalty.item())
    torch.testing.assert_close(plain.gap, gap)
    torch.testing.assert_close(plain.loss, -gap)  # Wasserstein: E f(fake) - E f(real)
    assert not plain.loss.requires_grad and plain.loss.ndim == 0
    penalized = gan.critic_step(
        model, optimizer, real, fake, gp_weight=10.0, generator=torch.Generator().manual_seed(4)
    )
    value = gan.gradient_penalty(model, real, fake, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(penalized.penalty, value.detach())
    torch.testing.assert_close(penalized.loss, -gap + 10.0 * value.detach())


def test_clipping_bounds_every_parameter_after_the_step():
    model = critic(3)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    real, fake = batches(torch.Generator().manual_seed(2))
    gan.critic_step(model, optimizer, real, fake, clip_value=0.01)
    assert max(p.abs().max().item() for p in model.parameters()) <= 0.01


def test_label_smoothing_and_a_custom_penalty():
    real, fake = batches(torch.Generator().manual_seed(5))
    model = critic(4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with torch.no_grad():
        expected = gan.minimax_discriminator_loss(model(real), model(fake), label_smoothing=0.2)
    step = gan.critic_step(model, optimizer, real, fake, loss="minimax", label_smoothing=0.2)
    torch.testing.assert_close(step.loss, expected)
    calls = []

    def at_real(model, real, fake, generator=None):
        calls.append(generator)
        return ((gan.critic_gradient_norm(model, real, create_graph=True) - 1) ** 2).mean()

    rng = torch.Generator()
    step = gan.critic_step(
        model, optimizer, real, fake, gp_weight=2.0, penalty=at_real, generator=rng
    )
    assert calls == [rng]
    torch.testing.assert_close(step.penalty, at_real(model, real, fake).detach())


def test_a_callable_loss():
    real, fake = batches(torch.Generator().manual_seed(6))
    model = critic(5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    step = gan.critic_step(model, optimizer, real, fake, loss=lambda r, f: (r - f).pow(2).mean())
    with torch.no_grad():
        torch.testing.assert_close(step.loss, (model(real) - model(fake)).pow(2).mean())


def test_bad_input_is_refused_with_a_message_naming_it():
    model = critic()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    real, fake = batches(torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match="critic must be a torch.nn.Module, got function"):
        gan.critic_step(lambda x: x, optimizer, real, fake)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer, got list"):
        gan.critic_step(model, [], real, fake)
    with pytest.raises(TypeError, match="real must be a floating-point tensor.*int64"):
        gan.critic_step(model, optimizer, real.long(), fake)
    with pytest.raises(TypeError, match="fake must be a floating-point tensor.*list"):
        gan.critic_step(model, optimizer, real, [1.0])
    with pytest.raises(ValueError, match=r"same shape.*\(32, 2\) and \(16, 2\)"):
        gan.critic_step(model, optimizer, real, fake[:16])
    with pytest.raises(ValueError, match="gp_weight must be >= 0, got -1"):
        gan.critic_step(model, optimizer, real, fake, gp_weight=-1.0)
    with pytest.raises(ValueError, match="clip_value must be > 0, got 0"):
        gan.critic_step(model, optimizer, real, fake, clip_value=0.0)
    with pytest.raises(ValueError, match="loss must be one of"):
        gan.critic_step(model, optimizer, real, fake, loss="wgan")
    with pytest.raises(TypeError, match="loss must be a loss name.*got int"):
        gan.critic_step(model, optimizer, real, fake, loss=3)
    with pytest.raises(ValueError, match="label_smoothing applies to.*'wasserstein'"):
        gan.critic_step(model, optimizer, real, fake, label_smoothing=0.1)
    with pytest.raises(ValueError, match="label_smoothing needs a loss given by name"):
        gan.critic_step(
            model, optimizer, real, fake, loss=lambda r, f: r.mean(), label_smoothing=0.1
        )
    with pytest.raises(TypeError, match="penalty must be callable, got str"):
        gan.critic_step(model, optimizer, real, fake, gp_weight=1.0, penalty="gp")
    two_outputs = nn.Sequential(nn.Linear(2, 2))
    opt2 = torch.optim.SGD(two_outputs.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"one score per sample.*\(32, 2\)"):
        gan.critic_step(two_outputs, opt2, real, fake)
