"""K seeds trained at once reproduce K runs of train_gan; StackedMLP equals its K modules;
bad input is refused with a clear error.

Tolerances: float32 throughout. The batched matrix products sum in another order than the
single-seed ones, so the two paths differ by rounding, about 1e-7 relative per operation
(measured: at most 2e-7 in any parameter after 20 steps, 4e-7 in any loss, over all the
variants below). atol 1e-5 leaves a margin of 50 above that and sits 100 times below one
optimizer step (lr 1e-3): a misaligned random stream, a missed or extra critic step or a
wrong loss moves parameters by a step or more and fails.

Adam with spectral normalization and the hinge loss is tested with SGD instead: there a
hidden bias gets a gradient that cancels to rounding noise (3e-8, measured), and Adam's
first step turns any nonzero noise into a step of ±lr whose sign is the noise's, so the two
paths differ by about lr in that one element. That is Adam's, not the batching's doing.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import normlab
from normlab import gan

RING = gan.ring_of_gaussians()
SEEDS = [3, 5, 8]
ATOL = 1e-5


def generator_factory(latent=2, out=2, tanh=False):
    return lambda: gan.MLPGenerator(
        latent, (16, 16), out, output_activation=nn.Tanh if tanh else None
    )


def critic_factory(features=2, sn=False):
    if sn:
        return lambda: normlab.spectrally_normalize(gan.MLPCritic(features, (16, 16)))
    return lambda: gan.MLPCritic(features, (16, 16))


def adam(lr=1e-3, betas=(0.5, 0.999)):
    return lambda params: torch.optim.Adam(params, lr=lr, betas=betas)


def sgd(lr=0.05):
    return lambda params: torch.optim.SGD(params, lr=lr)


def rmsprop(lr=5e-4):
    return lambda params: torch.optim.RMSprop(params, lr=lr)


DIGITS = torch.rand(200, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1

VARIANTS = {
    "non_saturating": dict(generator_optimizer=adam(), critic_optimizer=adam()),
    "non_saturating+smoothing": dict(label_smoothing=0.1, critic_optimizer=adam()),
    "minimax, SGD generator": dict(
        loss="minimax", generator_optimizer=sgd(), critic_optimizer=adam()
    ),
    "wgan_clip": dict(
        loss="wasserstein",
        clip_value=0.01,
        n_critic=3,
        generator_optimizer=rmsprop(),
        critic_optimizer=rmsprop(),
    ),
    "wgan_gp": dict(
        loss="wasserstein",
        gp_weight=10.0,
        n_critic=3,
        generator_optimizer=adam(betas=(0.5, 0.9)),
        critic_optimizer=adam(betas=(0.5, 0.9)),
    ),
    "sn_gan": dict(sn=True, generator_optimizer=adam(), critic_optimizer=adam()),
    "sn_gan_hinge": dict(
        sn=True, loss="hinge", generator_optimizer=sgd(0.01), critic_optimizer=sgd(0.01)
    ),
    "sn+gp": dict(sn=True, gp_weight=1.0, critic_optimizer=adam()),
    "digits (64-D tensor, tanh)": dict(data=DIGITS, digits=True, critic_optimizer=adam()),
}


def build(variant):
    options = dict(VARIANTS[variant])
    sn, digits = options.pop("sn", False), options.pop("digits", False)
    data = options.pop("data", RING)
    generators = generator_factory(8, 64, tanh=True) if digits else generator_factory()
    critics = critic_factory(64 if digits else 2, sn=sn)
    return generators, critics, data, options


def tensors(*modules):
    return [t.detach().clone() for m in modules for t in m.state_dict().values()]


def assert_close(first, second, atol=ATOL):
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, atol=atol, rtol=0, equal_nan=True)


def mean_sample(generator, critic):
    z = torch.randn(64, generator[0].in_features, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        # the critic in training mode, as train_gan leaves it: a spectrally normalized one
        # runs a power iteration here, which the batched run must see as well
        return {"x": generator(z).mean().item(), "score": critic(generator(z)).mean().item()}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_ensemble_reproduces_separate_train_gan_runs(variant):
    generators, critics, data, options = build(variant)
    settings = dict(steps=20, batch_size=32, device="cpu", progress=False, **options)
    ensemble = gan.train_gan_ensemble(
        generators, critics, data, seeds=SEEDS, eval_every=10, evaluate=mean_sample, **settings
    )
    assert len(ensemble) == len(SEEDS) and ensemble.seeds == SEEDS
    for k, seed in enumerate(SEEDS):
        torch.manual_seed(seed)
        generator, critic = generators(), critics()
        history = gan.train_gan(
            generator, critic, data, seed=seed, eval_every=10, evaluate=mean_sample, **settings
        )
        mine = ensemble.histories[k]
        assert_close(
            tensors(generator, critic), tensors(ensemble.generators[k], ensemble.critics[k])
        )
        for column in ("critic_loss", "critic_gap", "penalty", "generator_loss"):
            assert len(getattr(mine, column)) == 20
            assert_close(
                [torch.tensor(getattr(history, column))], [torch.tensor(getattr(mine, column))]
            )
        assert mine.eval_steps == history.eval_steps == [0, 10, 20]
        for name in ("x", "score"):
            assert_close([torch.tensor(history.metrics[name])], [torch.tensor(mine.metrics[name])])
        assert (mine.generator_steps, mine.critic_steps) == (
            history.generator_steps,
            history.critic_steps,
        )
        assert not mine.diverged and mine.seconds > 0


def test_one_seed_and_given_modules_match_factories():
    """K = 1 is train_gan itself, and modules built by hand equal the factories' (same
    seeding: torch.manual_seed(seed), generator first)."""
    one = gan.train_gan_ensemble(
        generator_factory(), critic_factory(), RING, seeds=[4], steps=15, batch_size=16
    )
    torch.manual_seed(4)
    generator, critic = generator_factory()(), critic_factory()()
    gan.train_gan(generator, critic, RING, seed=4, steps=15, batch_size=16, device="cpu")
    assert_close(tensors(generator, critic), tensors(one.generators[0], one.critics[0]))

    built = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        built.append((generator_factory()(), critic_factory()()))
    by_hand = gan.train_gan_ensemble(
        [g for g, _ in built], [c for _, c in built], RING, seeds=SEEDS, steps=15, batch_size=16
    )
    by_factory = gan.train_gan_ensemble(
        generator_factory(), critic_factory(), RING, seeds=SEEDS, steps=15, batch_size=16
    )
    for k in range(len(SEEDS)):
        assert by_hand.generators[k] is built[k][0]  # trained in place
        assert_close(
            tensors(by_hand.generators[k], by_hand.critics[k]),
            tensors(by_factory.generators[k], by_factory.critics[k]),
            atol=0,
        )


def test_global_random_state_is_left_alone():
    before = torch.get_rng_state()
    gan.train_gan_ensemble(
        generator_factory(), critic_factory(), RING, seeds=[0, 1], steps=3, batch_size=8
    )
    assert torch.equal(torch.get_rng_state(), before)


def test_a_diverging_seed_stops_where_train_gan_stops_it():
    """Seed 1's critic starts with a NaN weight: it stops at the first NaN check (step 50),
    as in train_gan, and the other seeds train on unaffected."""

    def models(seed, poison):
        torch.manual_seed(seed)
        generator, critic = generator_factory()(), critic_factory()()
        if poison:
            with torch.no_grad():
                critic[1].weight[0, 0] = float("nan")
        return generator, critic

    pairs = [models(s, poison=(k == 1)) for k, s in enumerate(SEEDS)]
    settings = dict(steps=60, batch_size=8, critic_optimizer=adam(), device="cpu")
    ensemble = gan.train_gan_ensemble(
        [g for g, _ in pairs], [c for _, c in pairs], RING, seeds=SEEDS, **settings
    )
    for k, seed in enumerate(SEEDS):
        generator, critic = models(seed, poison=(k == 1))
        history = gan.train_gan(generator, critic, RING, seed=seed, **settings)
        mine = ensemble.histories[k]
        assert mine.diverged == history.diverged == (k == 1)
        assert len(mine.critic_loss) == len(history.critic_loss) == (50 if k == 1 else 60)
        assert mine.generator_steps == history.generator_steps
        assert_close(
            tensors(generator, critic), tensors(ensemble.generators[k], ensemble.critics[k])
        )


@pytest.mark.parametrize("name", list(gan.LOSSES))
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_seed_losses_are_the_library_losses_row_by_row(name, smoothing):
    if smoothing and not gan.LOSSES[name].supports_label_smoothing:
        with pytest.raises(ValueError, match="label_smoothing applies"):
            gan.seed_losses(name, smoothing)
        return
    real, fake = torch.randn(2, 5, 40, generator=torch.Generator().manual_seed(2)) * 3
    discriminator, generator = gan.seed_losses(name, smoothing)
    loss = gan.get_loss(name)
    options = {"label_smoothing": smoothing} if smoothing else {}
    pairs = zip(real, fake, strict=True)
    expected_d = torch.stack([loss.discriminator(r, f, **options) for r, f in pairs])
    expected_g = torch.stack([loss.generator(f) for f in fake])
    torch.testing.assert_close(discriminator(real, fake), expected_d, atol=1e-6, rtol=0)
    torch.testing.assert_close(generator(fake), expected_g, atol=1e-6, rtol=0)


@pytest.mark.parametrize("sn", [False, True])
def test_stacked_mlp_equals_its_modules_and_shares_their_storage(sn):
    modules = [critic_factory(3, sn=sn)() for _ in range(4)]
    copies = copy.deepcopy(modules)  # the same power-iteration vectors, for the reference
    x = torch.randn(4, 10, 3)
    expected = torch.stack([m(x[k]) for k, m in enumerate(copies)])
    stacked = gan.StackedMLP(modules)
    torch.testing.assert_close(stacked(x), expected, atol=1e-6, rtol=0)
    if sn:  # both ran one power iteration, in training mode: same vectors after it
        for module, reference in zip(modules, copies, strict=True):
            for name, buffer in reference.named_buffers():
                torch.testing.assert_close(module.get_buffer(name), buffer, atol=1e-6, rtol=0)
    first = stacked.parameters()[0]
    with torch.no_grad():
        first[2].fill_(0.5)
    weight = modules[2][1].parametrizations.weight.original if sn else modules[2][1].weight
    assert torch.equal(weight, torch.full_like(weight, 0.5))


# --- bad input


def run(**overrides):
    arguments = dict(
        generators=generator_factory(),
        critics=critic_factory(),
        data=RING,
        seeds=[0, 1],
        steps=2,
        batch_size=8,
    )
    arguments.update(overrides)
    positional = [arguments.pop(k) for k in ("generators", "critics", "data")]
    return gan.train_gan_ensemble(*positional, **arguments)


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        (dict(seeds=[]), ValueError, r"at least one seed \(K >= 1\)"),
        (dict(seeds=[1, 1]), ValueError, "seeds must be distinct"),
        (dict(seeds=[0, 1.5]), TypeError, r"seeds\[1\] must be an int"),
        (dict(seeds=3), TypeError, "seeds must be a list or tuple of ints, got int"),
        (dict(generators=gan.MLPGenerator()), TypeError, "K seeds need K modules"),
        (dict(critics="MLPCritic"), TypeError, "critics must be callable"),
        (dict(critics=lambda: "critic"), TypeError, "critics factory must return a torch.nn"),
        (
            dict(critics=[gan.MLPCritic(2, (16, 16))]),
            ValueError,
            r"critics must hold one module per seed \(2\), got 1",
        ),
        (dict(critics=[gan.MLPCritic(), "x"]), TypeError, r"critics\[1\] must be a torch.nn"),
        (
            dict(critics=[gan.MLPCritic(2, (16,)), gan.MLPCritic(2, (16, 16))]),
            ValueError,
            "same architecture",
        ),
        (
            dict(critics=[gan.MLPCritic(2, (16,)), gan.MLPCritic(2, (8,))]),
            ValueError,
            "different shapes across seeds",
        ),
        (
            dict(critics=lambda: gan.ConvCritic(1, 4, image_size=4)),
            ValueError,
            r"layer 0 \(Conv2d\) cannot be stacked",
        ),
        (
            dict(critics=lambda: gan.MLPCritic(2, (8,), norm_layer=nn.BatchNorm1d)),
            ValueError,
            r"\(BatchNorm1d\) cannot be stacked",
        ),
        (
            dict(critic_optimizer=torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1)),
            TypeError,
            "not an optimizer instance",
        ),
        (
            dict(critic_optimizer=lambda p: torch.optim.LBFGS(p)),
            ValueError,
            "only an elementwise optimizer",
        ),
        (dict(critic_optimizer=lambda p: p), TypeError, "must return a torch.optim.Optimizer"),
        (
            dict(data=DataLoader(TensorDataset(torch.randn(32, 2)), batch_size=8)),
            TypeError,
            "use train_gan for DataLoader",
        ),
        (dict(data=torch.randn(32, 3)), ValueError, r"samples of shape \(2,\), the data has"),
        (
            dict(critics=lambda: nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))),
            ValueError,
            "one score per sample",
        ),
        (dict(loss="wasserstein", label_smoothing=0.1), ValueError, "label_smoothing applies"),
        (dict(loss="least_squares"), ValueError, "loss must be one of"),
        (dict(steps=0), ValueError, "steps must be a positive int"),
        (dict(eval_every=5), ValueError, "eval_every is set but no evaluate"),
        (dict(evaluate=[mean_sample]), ValueError, r"one per seed \(2\), got 1"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_input_is_refused(overrides, error, match):
    with pytest.raises(error, match=match):
        run(**overrides)


def test_stacked_mlp_bad_input():
    with pytest.raises(TypeError, match="non-empty list or tuple of nn.Module"):
        gan.StackedMLP([])
    with pytest.raises(TypeError, match=r"modules\[1\] must be a torch.nn.Module, got str"):
        gan.StackedMLP([gan.MLPCritic(), "critic"])
    with pytest.raises(ValueError, match=r"\['Flatten', 'ParametrizedLinear'.*same architecture"):
        gan.StackedMLP([gan.MLPCritic(), normlab.spectrally_normalize(gan.MLPCritic())])
    with pytest.raises(ValueError, match="no nn.Linear layer"):
        gan.StackedMLP([nn.Sequential(nn.ReLU()), nn.Sequential(nn.ReLU())])
