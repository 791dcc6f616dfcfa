"""The GAN training loop: every variant learns, resume is bit-identical, errors are clear."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import normlab
from normlab import gan

RING = gan.ring_of_gaussians()


def small_models(seed=0, width=32, dropout=False):
    torch.manual_seed(seed)
    generator = gan.MLPGenerator(2, (width, width))
    critic = gan.MLPCritic(2, (width, width))
    if dropout:  # draws from PyTorch's global generator during training
        critic.insert(2, nn.Dropout(0.2))
    return generator, critic


def parameters(*modules):
    return [p.detach().clone() for m in modules for p in m.state_dict().values()]


def identical(first, second):
    return all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def ring_w1(generator, n=256):
    fake = gan.generate(generator, n, rng=torch.Generator().manual_seed(7))
    real = RING.sample(n, generator=torch.Generator().manual_seed(8))
    return gan.wasserstein1(fake, real)


def adam(lr, betas=(0.5, 0.999)):
    return lambda params: torch.optim.Adam(params, lr=lr, betas=betas)


VARIANTS = {
    "non_saturating": dict(loss="non_saturating"),
    "minimax": dict(loss="minimax"),
    "non_saturating+smoothing": dict(loss="non_saturating", label_smoothing=0.1),
    "wgan_clip": dict(
        loss="wasserstein",
        clip_value=0.05,
        n_critic=5,
        critic_optimizer=lambda p: torch.optim.RMSprop(p, lr=5e-4),
        generator_optimizer=lambda p: torch.optim.RMSprop(p, lr=5e-4),
    ),
    "wgan_gp": dict(
        loss="wasserstein",
        gp_weight=1.0,
        n_critic=5,
        critic_optimizer=adam(1e-3, (0.5, 0.9)),
        generator_optimizer=adam(1e-3, (0.5, 0.9)),
    ),
    "hinge": dict(loss="hinge"),
}


def distance_to_the_circle(generator, n=512):
    """Mean |‖G(z)‖ - 2|: how far the samples are from the ring's circle. It falls for every
    variant long before the samples settle on the modes (W1 and mode counts still wander
    while a GAN hops between modes)."""
    fake = gan.generate(generator, n, rng=torch.Generator().manual_seed(7))
    return (fake.norm(dim=1) - 2).abs().mean().item()


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_short_run_of_each_variant_moves_the_samples_to_the_ring(name):
    generator, critic = small_models()
    options = {"critic_optimizer": adam(1e-3), "generator_optimizer": adam(1e-3)}
    options.update(VARIANTS[name])
    n_critic = options.get("n_critic", 1)
    steps = 300 // n_critic
    history = gan.train_gan(
        generator,
        critic,
        RING,
        steps=steps,
        batch_size=64,
        device="cpu",
        eval_every=steps // 3,
        evaluate=lambda g, d: {"distance": distance_to_the_circle(g)},
        **options,
    )
    distance = history.metrics["distance"]
    assert history.eval_steps == [0, steps // 3, 2 * steps // 3, steps]
    assert distance[0] > 1.5 and distance[-1] < 0.6 * distance[0], distance
    assert len(history.critic_loss) == len(history.generator_loss) == steps
    assert history.critic_steps == steps * n_critic
    assert history.seconds_per_critic_step > 0 and not history.diverged
    if options.get("gp_weight"):
        assert all(p >= 0 for p in history.penalty)
    else:
        assert all(math.isnan(p) for p in history.penalty)


def test_wasserstein_runs_lower_the_exact_w1():
    for options in (VARIANTS["wgan_clip"], VARIANTS["wgan_gp"]):
        generator, critic = small_models()
        history = gan.train_gan(
            generator,
            critic,
            RING,
            steps=100,
            batch_size=64,
            device="cpu",
            eval_every=100,
            evaluate=lambda g, d: {"w1": ring_w1(g)},
            **options,
        )
        w1 = history.metrics["w1"]
        assert w1[-1] < 0.6 * w1[0], w1


def test_clipping_keeps_the_critic_inside_the_box():
    generator, critic = small_models()
    gan.train_gan(
        generator,
        critic,
        RING,
        loss="wasserstein",
        clip_value=0.01,
        steps=5,
        n_critic=2,
        device="cpu",
    )
    assert max(p.abs().max().item() for p in critic.parameters()) <= 0.01


class Interrupted(Exception):
    """Stands for a crash or a Ctrl-C in the middle of training."""


def run(tmp_path, data, interrupt_at=None, checkpoint_every=10, steps=30, **options):
    dropout = options.pop("dropout", False)
    generator, critic = small_models(dropout=dropout)
    calls = []

    def evaluate(g, d):
        calls.append(1)
        if len(calls) == interrupt_at:
            raise Interrupted
        torch.randn(3)  # evaluation may use the global generator: it must not matter
        return {"w1_small": ring_w1(g, 32)}

    kwargs = dict(
        steps=steps,
        batch_size=16,
        device="cpu",
        seed=3,
        eval_every=5,
        evaluate=evaluate,
        checkpoint_path=tmp_path / "run.pt",
        checkpoint_every=checkpoint_every,
        **options,
    )
    try:
        history = gan.train_gan(generator, critic, data, **kwargs)
    except Interrupted:
        # a fresh process would build fresh models: the checkpoint must restore everything
        generator, critic = small_models(seed=99, dropout=dropout)
        history = gan.train_gan(generator, critic, data, **kwargs)
    return parameters(generator, critic), history


class Points(Dataset):
    """A map-style dataset that is not a TensorDataset."""

    def __init__(self, n=100):
        self.x = RING.sample(n, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


RESUME_CASES = {
    "mixture, GP, dropout": (
        RING,
        dict(loss="wasserstein", gp_weight=1.0, n_critic=2, dropout=True),
    ),
    "tensor, clipping": (RING.sample(50), dict(loss="wasserstein", clip_value=0.1, n_critic=3)),
    "dataloader, smoothing": (
        DataLoader(TensorDataset(RING.sample(40), torch.zeros(40)), batch_size=16, shuffle=True),
        dict(loss="non_saturating", label_smoothing=0.2),
    ),
    "dataset": (Points(), dict(loss="hinge")),
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_interrupted_and_resumed_equals_uninterrupted_bit_for_bit(tmp_path, case):
    data, options = RESUME_CASES[case]
    whole, whole_history = run(tmp_path / "a", data, **dict(options))
    # the 5th evaluation (after step 20) raises before that step's checkpoint is written:
    # the second call resumes from step 10 and replays steps 11-20
    pieces, resumed_history = run(tmp_path / "b", data, interrupt_at=5, **dict(options))
    assert identical(whole, pieces)
    assert resumed_history.critic_loss == whole_history.critic_loss
    assert resumed_history.metrics == whole_history.metrics
    assert resumed_history.eval_steps == [0, 5, 10, 15, 20, 25, 30]


def test_resume_with_a_spectrally_normalized_critic(tmp_path):
    def models():
        torch.manual_seed(0)
        critic = gan.MLPCritic(2, (16, 16))
        for i, m in enumerate(critic):
            if isinstance(m, nn.Linear):
                critic[i] = nn.utils.parametrizations.spectral_norm(m)
        return gan.MLPGenerator(2, (16,)), critic

    kwargs = dict(loss="hinge", steps=20, batch_size=16, device="cpu", checkpoint_every=10)
    g1, d1 = models()
    gan.train_gan(g1, d1, RING, checkpoint_path=tmp_path / "one.pt", **kwargs)
    g2, d2 = models()
    gan.train_gan(g2, d2, RING, checkpoint_path=tmp_path / "two.pt", **{**kwargs, "steps": 10})
    g3, d3 = models()
    gan.train_gan(g3, d3, RING, checkpoint_path=tmp_path / "two.pt", **kwargs)
    assert identical(parameters(g1, d1), parameters(g3, d3))


def test_evaluation_does_not_change_the_training_trajectory():
    results = []
    for every in (None, 3):
        generator, critic = small_models(dropout=True)
        evaluate = (lambda g, d: {"noise": torch.randn(()).item()}) if every else None
        gan.train_gan(
            generator,
            critic,
            RING,
            steps=12,
            batch_size=8,
            device="cpu",
            eval_every=every,
            evaluate=evaluate,
        )
        results.append(parameters(generator, critic))
    assert identical(*results)


def test_seeded_runs_repeat_and_different_seeds_differ():
    outcomes = []
    for seed in (0, 0, 1):
        generator, critic = small_models()
        gan.train_gan(generator, critic, RING, steps=10, batch_size=8, device="cpu", seed=seed)
        outcomes.append(parameters(generator))
    assert identical(outcomes[0], outcomes[1])
    assert not identical(outcomes[0], outcomes[2])


def test_concatenated_and_separate_critic_batches_agree():
    results = []
    for together in (True, False):
        generator, critic = small_models()
        gan.train_gan(
            generator,
            critic,
            RING,
            steps=5,
            batch_size=8,
            device="cpu",
            concatenate_batches=together,
        )
        results.append(parameters(generator, critic))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)  # float32 summation order


def test_training_on_digits_with_the_conv_models(device):
    digits = normlab.load_digits(scale="symmetric")
    torch.manual_seed(0)
    generator, critic = gan.ConvGenerator(8, 8), gan.ConvCritic(1, 8)
    history = gan.train_gan(generator, critic, digits.train, steps=20, batch_size=32, device=device)
    assert len(history.generator_loss) == 20
    assert next(generator.parameters()).device.type == device.type
    samples = gan.generate(generator, 5)
    assert samples.shape == (5, 1, 8, 8)


def test_divergence_stops_training():
    class Exploding(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(2))

        def forward(self, x):
            return (x @ self.w) / 0.0 * 0.0  # NaN scores

    generator, _ = small_models()
    history = gan.train_gan(generator, Exploding(), RING, steps=200, batch_size=8, device="cpu")
    assert history.diverged and history.generator_steps < 200


def test_existing_checkpoint_with_another_configuration_is_refused(tmp_path):
    generator, critic = small_models()
    path = tmp_path / "c.pt"
    gan.train_gan(
        generator, critic, RING, steps=2, batch_size=8, device="cpu", checkpoint_path=path
    )
    with pytest.raises(ValueError, match="another configuration.*batch_size: saved 8, now 16"):
        gan.train_gan(
            generator, critic, RING, steps=4, batch_size=16, device="cpu", checkpoint_path=path
        )
    # a finished run asked for no more steps returns its history without training
    history = gan.train_gan(
        generator, critic, RING, steps=2, batch_size=8, device="cpu", checkpoint_path=path
    )
    assert history.generator_steps == 2


def test_bad_inputs():
    generator, critic = small_models()
    bn_critic = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1), nn.Flatten(0))
    call = lambda **kw: gan.train_gan(  # noqa: E731
        kw.pop("g", generator),
        kw.pop("d", critic),
        kw.pop("data", RING),
        **{"steps": 1, "device": "cpu", **kw},
    )
    with pytest.raises(ValueError, match="loss must be one of"):
        call(loss="wgan")
    with pytest.raises(ValueError, match="label_smoothing applies to"):
        call(loss="wasserstein", label_smoothing=0.1)
    with pytest.raises(ValueError, match="must not use batch normalization"):
        call(d=bn_critic, loss="wasserstein", gp_weight=10.0)
    with pytest.raises(ValueError, match="clip_value must be > 0"):
        call(loss="wasserstein", clip_value=0.0)
    with pytest.raises(ValueError, match="eval_every is set but no evaluate"):
        call(eval_every=5)
    with pytest.raises(ValueError, match="checkpoint_every is set but checkpoint_path"):
        call(checkpoint_every=5)
    with pytest.raises(TypeError, match="data must be a GaussianMixture"):
        call(data="ring")
    with pytest.raises(ValueError, match="fewer than batch_size"):
        call(data=torch.randn(10, 2), batch_size=16)
    with pytest.raises(ValueError, match="latent_dim is needed"):
        call(g=nn.Linear(2, 2))
    with pytest.raises(ValueError, match="differs from generator.latent_dim"):
        call(latent_dim=3)
    with pytest.raises(TypeError, match="critic_optimizer must be"):
        call(critic_optimizer="adam")
    with pytest.raises(ValueError, match="n_critic must be a positive int"):
        call(n_critic=0)
    with pytest.raises(ValueError, match=r"label_smoothing must lie in \[0, 1\)"):
        call(label_smoothing=1.0)


class _TwoScoreCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, x):
        return self.linear(x)


def test_hostile_models_and_optimizers():
    generator, critic = small_models()
    call = lambda **kw: gan.train_gan(  # noqa: E731
        kw.pop("g", generator),
        kw.pop("d", critic),
        RING,
        **{"steps": 1, "batch_size": 8, "device": "cpu", **kw},
    )
    # a normlab BatchNorm couples the samples just as torch's does
    nl_bn_critic = nn.Sequential(
        nn.Linear(2, 4), normlab.BatchNorm1d(4), nn.Linear(4, 1), nn.Flatten(0)
    )
    assert gan.has_batch_norm(nl_bn_critic)
    with pytest.raises(ValueError, match="must not use batch normalization"):
        call(d=nl_bn_critic, loss="wasserstein", gp_weight=10.0)
    for concatenate in (True, False):
        with pytest.raises(
            ValueError, match=r"critic must return one score per sample.*got \(8, 2\)"
        ):
            call(d=_TwoScoreCritic(), concatenate_batches=concatenate)
    with pytest.raises(ValueError, match=r"critic must return one score per sample"):
        call(d=_TwoScoreCritic(), loss="wasserstein", gp_weight=1.0)
    with pytest.raises(
        ValueError, match="^generator_optimizer holds .* not parameters of the generator"
    ):
        call(generator_optimizer=torch.optim.Adam(critic.parameters()))
    with pytest.raises(ValueError, match="^critic_optimizer holds .* not parameters of the critic"):
        call(critic_optimizer=lambda params: torch.optim.SGD(generator.parameters(), lr=0.1))
    with pytest.raises(ValueError, match=r"^label_smoothing must lie in \[0, 1\)"):
        call(label_smoothing=-0.1)


def test_a_normlab_batch_norm_critic_scores_real_and_fake_separately_by_default():
    """Concatenating would normalize real and fake with shared statistics."""
    torch.manual_seed(0)
    generator = gan.MLPGenerator(2, (8,))
    critic = nn.Sequential(nn.Linear(2, 4), normlab.BatchNorm1d(4), nn.Linear(4, 1), nn.Flatten(0))
    seen = []
    critic[1].register_forward_hook(lambda m, args, out: seen.append(len(args[0])))
    gan.train_gan(generator, critic, RING, steps=1, batch_size=8, device="cpu")
    assert seen and all(n == 8 for n in seen)


# --- damaged and mismatched checkpoints ------------------------------------------------


def _train_small(path, data=RING, **options):
    generator, critic = small_models(width=8)
    kwargs = dict(steps=2, batch_size=8, device="cpu", checkpoint_path=path)
    return gan.train_gan(generator, critic, data, **{**kwargs, **options})


def _flip_64_bytes(raw):
    middle = len(raw) // 2
    flipped = bytes(b ^ 0xFF for b in raw[middle : middle + 64])
    return raw[:middle] + flipped + raw[middle + 64 :]


def _rewrite_payload(path, change):
    from normlab.gan.checkpoint import _read_checkpoint, _save_checkpoint

    _save_checkpoint(path, change(_read_checkpoint(path)))


DAMAGES = {
    "empty": (lambda path: path.write_bytes(b""), "is empty"),
    "truncated": (lambda path: path.write_bytes(path.read_bytes()[:-1000]), "is corrupted"),
    "64 flipped bytes": (
        lambda path: path.write_bytes(_flip_64_bytes(path.read_bytes())),
        "is corrupted",
    ),
    "random bytes": (
        lambda path: path.write_bytes(
            bytes(torch.randint(256, (4096,), generator=torch.Generator().manual_seed(0)).tolist())
        ),
        "is not a normlab.gan checkpoint",
    ),
    "plain torch.save": (
        lambda path: torch.save({"format": 1}, path),
        "is not a normlab.gan checkpoint",
    ),
    "a list": (
        lambda path: _rewrite_payload(path, lambda c: list(c)),
        "holds a list, not the dict",
    ),
    "missing entry": (
        lambda path: _rewrite_payload(
            path, lambda c: {k: v for k, v in c.items() if k != "critic"}
        ),
        "lacks the entries critic",
    ),
    "mangled state": (
        lambda path: _rewrite_payload(path, lambda c: {**c, "critic": {"bogus": torch.ones(1)}}),
        "does not fit this run",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_checkpoint_is_refused_naming_the_file(tmp_path, damage):
    path = tmp_path / "run.pt"
    _train_small(path)
    spoil, message = DAMAGES[damage]
    spoil(path)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.* {message}") as info:
        _train_small(path, steps=4)
    assert "checkpoint" in str(info.value)


MISMATCHES = {
    "optimizer class": (
        dict(critic_optimizer=lambda p: torch.optim.SGD(p, lr=1e-3)),
        r"critic_optimizer of class torch.optim.adam.Adam, now torch.optim.sgd.SGD",
    ),
    "learning rate": (
        dict(generator_optimizer=adam(1e-3)),
        r"other generator_optimizer hyperparameters \(param_groups\[0\] lr: saved 0.0002, "
        r"now 0.001\)",
    ),
    "tensor instead of mixture": (
        dict(data=RING.sample(64)),
        r"while training on a GaussianMixture with 8 modes, but data is now a tensor of "
        r"shape \(64, 2\)",
    ),
    "another mixture": (
        dict(data=gan.grid_of_gaussians()),
        "but data is now a GaussianMixture with 25 modes",
    ),
}


@pytest.mark.parametrize("mismatch", list(MISMATCHES))
def test_resuming_with_other_optimizers_or_data_is_refused(tmp_path, mismatch):
    path = tmp_path / "run.pt"
    _train_small(path)
    options, message = MISMATCHES[mismatch]
    with pytest.raises(
        ValueError, match=rf"^the checkpoint {re.escape(str(path))} was saved .*{message}"
    ):
        _train_small(path, steps=4, **options)


def test_resuming_on_a_tensor_of_another_size_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    _train_small(path, data=RING.sample(64))
    with pytest.raises(
        ValueError, match=r"tensor of shape \(64, 2\).*now a tensor of shape \(80, 2\)"
    ):
        _train_small(path, data=RING.sample(80), steps=4)
    # the same data (and the same settings) resumes
    assert _train_small(path, data=RING.sample(64), steps=3).generator_steps == 3
