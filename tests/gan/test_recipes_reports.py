"""The papers' recipes as data, and the ring and digits reports of Chapters 8-10: the values
the papers give, the numbers the chapters computed by hand before, and clear errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import normlab
from normlab import gan

RING = gan.ring_of_gaussians()


# --------------------------------------------------------------------------- recipes


def test_the_recipes_are_the_papers_settings():
    r = gan.RECIPES
    assert list(r) == ["GAN", "WGAN-clip", "WGAN-GP", "SN-GAN", "SN-GAN (hinge)"]
    # Arjovsky et al., Algorithm 1: RMSprop(5e-5), c = 0.01, n_critic = 5
    clip = r["WGAN-clip"]
    assert (clip.loss, clip.optimizer, clip.lr, clip.clip_value, clip.n_critic) == (
        "wasserstein",
        "rmsprop",
        5e-5,
        0.01,
        5,
    )
    # Gulrajani et al., Algorithm 1: Adam(1e-4, (0, 0.9)), lambda = 10, n_critic = 5
    gp = r["WGAN-GP"]
    assert (gp.lr, gp.betas, gp.gp_weight, gp.n_critic, gp.clip_value) == (
        1e-4,
        (0.0, 0.9),
        10.0,
        5,
        None,
    )
    # Radford et al. / Miyato et al. setting C: Adam(2e-4, (0.5, 0.999)), one critic step
    for name in ["GAN", "SN-GAN", "SN-GAN (hinge)"]:
        assert (r[name].lr, r[name].betas, r[name].n_critic) == (2e-4, (0.5, 0.999), 1)
    assert [r[n].spectral_norm for n in r] == [False, False, False, True, True]
    assert r["SN-GAN (hinge)"].loss == "hinge"
    assert all(recipe.source and recipe.citation for recipe in r.values())
    bib = Path(normlab.__file__).parents[2] / "references.bib"
    if bib.exists():  # not in an installed library without the book
        text = bib.read_text()
        assert all(f"{{{recipe.citation}," in text for recipe in r.values())


def test_miyato_settings_are_table_1():
    s = gan.MIYATO_SETTINGS
    assert {k: tuple(v) for k, v in s.items()} == {
        "A": (1e-4, 0.5, 0.9, 5),
        "B": (1e-4, 0.5, 0.999, 1),
        "C": (2e-4, 0.5, 0.999, 1),
        "D": (1e-3, 0.5, 0.9, 5),
        "E": (1e-3, 0.5, 0.999, 5),
        "F": (1e-3, 0.9, 0.999, 5),
    }
    clip_with_d = gan.RECIPES["WGAN-clip"].with_setting(s["D"])
    assert (clip_with_d.optimizer, clip_with_d.lr, clip_with_d.betas) == ("adam", 1e-3, (0.5, 0.9))
    assert clip_with_d.clip_value == 0.01 and clip_with_d.n_critic == 5
    assert gan.RECIPES["WGAN-GP"].with_setting(s["C"]).n_critic == 1


def test_train_gan_options_build_the_papers_optimizers():
    model = nn.Linear(2, 1)
    options = gan.RECIPES["WGAN-clip"].train_gan_options()
    assert set(options) == {
        "loss",
        "n_critic",
        "clip_value",
        "gp_weight",
        "generator_optimizer",
        "critic_optimizer",
    }
    optimizer = options["critic_optimizer"](model.parameters())
    assert isinstance(optimizer, torch.optim.RMSprop) and optimizer.defaults["lr"] == 5e-5
    optimizer = gan.RECIPES["WGAN-GP"].train_gan_options()["generator_optimizer"](
        model.parameters()
    )
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.defaults["lr"] == 1e-4 and optimizer.defaults["betas"] == (0.0, 0.9)
    faster = gan.RECIPES["WGAN-GP"].replace(lr=1e-3)
    assert faster.lr == 1e-3 and gan.RECIPES["WGAN-GP"].lr == 1e-4  # a copy


def test_a_recipe_trains_with_train_gan_as_the_keywords_would():
    recipe = gan.RECIPES["WGAN-GP"].replace(lr=1e-3)
    runs = []
    for options in [
        recipe.train_gan_options(),
        dict(
            loss="wasserstein",
            n_critic=5,
            gp_weight=10.0,
            generator_optimizer=lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.0, 0.9)),
            critic_optimizer=lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.0, 0.9)),
        ),
    ]:
        torch.manual_seed(0)
        g, d = gan.MLPGenerator(2, (16,)), gan.MLPCritic(2, (16,))
        gan.train_gan(g, d, RING, steps=5, batch_size=32, device="cpu", progress=False, **options)
        runs.append([p.detach().clone() for p in g.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


def test_prepare_critic_normalizes_every_layer_only_for_sn_recipes():
    sn = gan.RECIPES["SN-GAN"].prepare_critic(gan.MLPCritic(2, (8, 8)))
    linears = [m for m in sn.modules() if isinstance(m, nn.Linear)]
    assert linears and all(hasattr(m, "parametrizations") for m in linears)
    plain = gan.RECIPES["GAN"].prepare_critic(gan.MLPCritic(2, (8, 8)))
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())


def test_bad_recipes_are_refused():
    base = gan.RECIPES["GAN"]
    with pytest.raises(ValueError, match="loss must be one of.*got 'wgan'"):
        base.replace(loss="wgan")
    with pytest.raises(ValueError, match="optimizer must be one of.*got 'sgd'"):
        base.replace(optimizer="sgd")
    with pytest.raises(ValueError, match="lr must be > 0, got -0.1"):
        base.replace(lr=-0.1)
    with pytest.raises(ValueError, match="n_critic must be a positive int"):
        base.replace(n_critic=0)
    with pytest.raises(ValueError, match=r"betas must be a pair.*\(0.5, 1.0\)"):
        base.replace(betas=(0.5, 1.0))
    with pytest.raises(ValueError, match="betas apply to Adam only"):
        gan.RECIPES["WGAN-clip"].replace(betas=(0.5, 0.9))
    with pytest.raises(ValueError, match="clip_value must be > 0"):
        base.replace(clip_value=0.0)
    with pytest.raises(ValueError, match="gp_weight must be >= 0"):
        base.replace(gp_weight=-1.0)
    with pytest.raises(TypeError, match="spectral_norm must be a bool, got 1"):
        base.replace(spectral_norm=1)
    with pytest.raises(TypeError, match="setting must be an OptimizerSetting, got tuple"):
        base.with_setting((1e-4, 0.5, 0.9, 5))
    with pytest.raises(TypeError, match="critic must be a torch.nn.Module, got str"):
        base.prepare_critic("critic")


# --------------------------------------------------------------------------- ring report


def trained_generator(seed=0):
    torch.manual_seed(seed)
    g, d = gan.MLPGenerator(2, (16, 16)), gan.MLPCritic(2, (16, 16))
    adam = lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.5, 0.999))  # noqa: E731
    gan.train_gan(
        g,
        d,
        RING,
        steps=300,
        batch_size=64,
        device="cpu",
        progress=False,
        generator_optimizer=adam,
        critic_optimizer=adam,
    )
    return g


def test_ring_report_is_what_chapters_8_and_9_computed_by_hand():
    generator = trained_generator()
    report = gan.ring_report(generator, RING, sample_seed=3, reference_seed=12345)
    # the chapters' code: generate with seed 3, statistics of all 2 500, W1 of the first
    # 1 000 against 1 000 fresh ring samples drawn with seed 12345
    final = gan.generate(generator, 2500, rng=torch.Generator().manual_seed(3))
    stats = gan.mode_statistics(final, RING)
    w1 = gan.wasserstein1(
        final[:1000], RING.sample(1000, generator=torch.Generator().manual_seed(12345))
    )
    assert torch.equal(report.samples, final)
    assert torch.equal(report.statistics.counts, stats.counts)
    for field in ["modes_covered", "modes_well_covered", "high_quality_fraction"]:
        assert getattr(report.statistics, field) == getattr(stats, field)
    assert report.statistics.high_quality_fraction > 0  # a report with something in it
    assert report.w1 == w1
    history = gan.GANHistory(critic_steps=4, critic_seconds=0.002)
    assert report.row(history) == {
        "modes": stats.modes_covered,
        "modes>=20": stats.modes_well_covered,
        "HQ %": 100 * stats.high_quality_fraction,
        "KL": stats.kl_to_uniform,
        "W1": w1,
        "ms/step": 1e3 * 0.002 / 4,
    }
    assert "ms/step" not in report.row()


def test_ring_w1_floor_is_two_real_sample_sets():
    perfect = RING.sample(2500, generator=torch.Generator().manual_seed(1))
    expected = gan.wasserstein1(
        perfect[:1000], RING.sample(1000, generator=torch.Generator().manual_seed(12345))
    )
    assert gan.ring_w1_floor(RING) == expected
    assert 0 < expected < 0.2  # finite samples: above 0, far below a collapsed generator


def test_mode_shares_rows_sum_to_one_or_zero():
    counts = [torch.tensor([2, 0, 2]), torch.tensor([0, 0, 0]), torch.tensor([1, 3, 0])]
    shares = gan.mode_shares(counts)
    np.testing.assert_array_equal(shares, [[0.5, 0, 0.5], [0, 0, 0], [0.25, 0.75, 0]])
    np.testing.assert_array_equal(gan.mode_shares(torch.stack(counts)), shares)


def test_ring_report_errors():
    generator = gan.MLPGenerator(2, (4,))
    with pytest.raises(TypeError, match="generator must be a torch.nn.Module, got str"):
        gan.ring_report("G", RING)
    with pytest.raises(TypeError, match="mixture must be a GaussianMixture, got Tensor"):
        gan.ring_report(generator, RING.centres)
    with pytest.raises(ValueError, match="n_w1 must be at most n_samples=100, got 200"):
        gan.ring_report(generator, RING, n_samples=100, n_w1=200)
    with pytest.raises(ValueError, match="n_samples must be a positive int"):
        gan.ring_report(generator, RING, n_samples=0)
    with pytest.raises(TypeError, match="history must be a GANHistory, got dict"):
        gan.ring_report(generator, RING, n_samples=10, n_w1=10).row({})
    with pytest.raises(TypeError, match="counts must be a non-empty list"):
        gan.mode_shares([])
    with pytest.raises(ValueError, match=r"counts must have shape \(T, n_modes\)"):
        gan.mode_shares(torch.zeros(3))
    with pytest.raises(ValueError, match="n_w1 must be at most"):
        gan.ring_w1_floor(RING, n_samples=10, n_w1=20)


# --------------------------------------------------------------------------- digits report


@pytest.fixture(scope="module")
def reference():
    return gan.digits_reference(seed=0, device="cpu")


def test_digits_reference_is_what_the_chapters_set_up(reference):
    # Chapter 8's set-up cell, as it was written in the notebook
    digits = normlab.load_digits(scale="symmetric", flatten=True, seed=0)
    classifier, accuracy = gan.train_digits_classifier(device="cpu", seed=0)
    with torch.no_grad():
        features = classifier.features(digits.train.x)
        real_fd = gan.frechet_distance(classifier.features(digits.test.x), features)
        real_classes = gan.class_statistics(classifier(digits.test.x))
    assert reference.accuracy == accuracy > 0.9
    assert torch.equal(reference.features, features)
    assert torch.equal(reference.train_x, digits.train.x)
    assert reference.real_fd == real_fd
    assert torch.equal(reference.real_classes.counts, real_classes.counts)
    assert reference.pixel_w1_floor == gan.wasserstein1(
        digits.train.x[: len(digits.test.x)], digits.test.x
    )


def test_digits_report_is_the_chapters_row(reference):
    torch.manual_seed(0)
    generator = gan.MLPGenerator(16, (32,), 64, output_activation=nn.Tanh)
    samples = gan.generate(generator, 1000, rng=torch.Generator().manual_seed(5))
    row = reference.report(samples)
    with torch.no_grad():
        logits = reference.classifier(samples)
        classes = gan.class_statistics(logits)
        fd = gan.frechet_distance(reference.classifier.features(samples), reference.features)
    assert row == {
        "classes": classes.modes_covered,
        "cls>=20": classes.modes_well_covered,
        "HQ %": 100 * classes.high_quality_fraction,
        "FD": fd,
        "W1": gan.wasserstein1(samples[: len(reference.test_x)], reference.test_x),
    }
    assert row["FD"] > reference.real_fd  # an untrained generator is far from the digits
    images = reference.report(samples.reshape(-1, 1, 8, 8))  # images give the same row
    assert images == row


def test_digits_report_errors(reference):
    with pytest.raises(TypeError, match="samples must be a floating-point tensor"):
        reference.report(torch.zeros(400, 64, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"digits \(N, 64\) or \(N, 1, 8, 8\), got \(400, 10\)"):
        reference.report(torch.zeros(400, 10))
    with pytest.raises(ValueError, match="at least .* digits"):
        reference.report(torch.zeros(3, 64))
    with pytest.raises(TypeError, match="flatten must be a bool, got str"):
        gan.digits_reference(flatten="yes")


# --------------------------------------------------------------------------- the table


def test_comparison_table_prints_means_and_spreads(capsys):
    ring = {
        "GAN": {"modes": (7.6, 0.55), "HQ %": (40.0, 5.0), "W1": (0.3, 0.05), "ms/step": (1.0, 0.1)}
    }
    digits = {
        "GAN": {
            "classes": (10.0, 0.0),
            "HQ %": (80.0, 2.0),
            "W1": (9.0, 0.5),
            "ms/step": (2.0, math.nan),
        }
    }
    lines = gan.comparison_table({"ring": (ring, "modes"), "digits": (digits, "classes")})
    assert capsys.readouterr().out.splitlines() == lines
    assert lines[0].split() == ["data", "method", "modes/classes", "HQ", "%", "W1", "ms/step"]
    assert lines[1].split() == [
        "ring",
        "GAN",
        "7.6",
        "±",
        "0.55",
        "40",
        "±",
        "5",
        "0.3",
        "±",
        "0.05",
        "1",
        "±",
        "0.1",
    ]
    assert lines[2].split()[-1] == "2"  # a single seed: no spread
    with pytest.raises(ValueError, match=r"method 'GAN' has no column\(s\) \['modes'\]"):
        gan.comparison_table({"digits": (digits, "modes")})
    with pytest.raises(ValueError, match="sections must be a non-empty mapping"):
        gan.comparison_table({})


def test_comparison_table_columns_never_run_together():
    # a 14-character cell (1.89 ± 0.031 next to 0.985 ± 1.2e-16) ran into the next column
    # when the columns had a fixed width of 14
    wide = {"SN-GAN": {"modes": (1.89, 0.031), "HQ %": (0.985, 1.2e-16),
                       "W1": (123456.0, 0.5), "ms/step": (1.0, 0.1)}}
    lines = gan.comparison_table({"ring": (wide, "modes")})
    cells = lines[1].split("  ")
    assert [c.strip() for c in cells if c.strip()][2:] == [
        "1.89 ± 0.031", "0.985 ± 1.2e-16", "1.23e+05 ± 0.5", "1 ± 0.1"
    ]
    assert len({len(line) for line in lines}) == 1  # header and rows line up
