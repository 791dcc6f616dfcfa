"""Toy mixtures, and the generators and critics of normlab.gan."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from normlab import gan
from normlab.scaffolding import image_grid


def test_ring_centres_are_at_angles_two_pi_k_over_k():
    ring = gan.ring_of_gaussians(dtype=torch.float64)
    assert ring.n_modes == 8 and ring.dim == 2 and ring.std == 0.02
    angles = torch.atan2(ring.centres[:, 1], ring.centres[:, 0]) % (2 * math.pi)
    expected = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    torch.testing.assert_close(angles, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(ring.centres.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    # all distinct: the nearest other centre is one chord 2·2·sin(π/8) away
    gaps = torch.cdist(ring.centres, ring.centres) + 10 * torch.eye(8, dtype=torch.float64)
    assert gaps.min().item() == pytest.approx(4 * math.sin(math.pi / 8))


def test_linspace_ring_would_have_only_seven_distinct_modes():
    # the common mistake this module avoids (RESEARCH.md, tutorial errors)
    angles = torch.linspace(0, 2 * math.pi, 8, dtype=torch.float64)
    centres = 2 * torch.stack([angles.cos(), angles.sin()], dim=1)
    assert torch.allclose(centres[0], centres[-1], atol=1e-12)


def test_grid_centres():
    grid = gan.grid_of_gaussians(dtype=torch.float64)
    assert grid.n_modes == 25 and grid.std == 0.05
    assert sorted(set(grid.centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert sorted(set(grid.centres[:, 1].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({tuple(c) for c in grid.centres.tolist()}) == 25


def test_mixture_samples_are_seeded_and_have_the_right_moments(device):
    ring = gan.ring_of_gaussians(device=device, dtype=torch.float64)
    seeded = torch.Generator(device).manual_seed(3)
    a, modes = ring.sample(20000, generator=seeded, return_modes=True)
    b = ring.sample(20000, generator=torch.Generator(device).manual_seed(3))
    assert torch.equal(a, b) and a.device.type == device.type and a.dtype == torch.float64
    counts = torch.bincount(modes, minlength=8).double() / 20000
    assert torch.all((counts - 1 / 8).abs() < 0.015)  # 5 binomial standard deviations
    residual = a - ring.centres[modes]
    assert residual.std().item() == pytest.approx(0.02, rel=0.03)


def test_mixture_bad_inputs():
    with pytest.raises(ValueError, match="centres must be a 2-D tensor"):
        gan.GaussianMixture(torch.zeros(3), 0.1)
    with pytest.raises(ValueError, match="std must be > 0"):
        gan.GaussianMixture(torch.zeros(3, 2), 0.0)
    with pytest.raises(TypeError, match="centres must be a floating-point tensor"):
        gan.GaussianMixture(torch.zeros(3, 2, dtype=torch.int64), 0.1)
    with pytest.raises(ValueError, match="n must be a positive int"):
        gan.ring_of_gaussians().sample(0)
    with pytest.raises(ValueError, match="n_modes must be a positive int"):
        gan.ring_of_gaussians(0)
    with pytest.raises(ValueError, match="radius must be > 0"):
        gan.ring_of_gaussians(radius=-1.0)
    with pytest.raises(ValueError, match="spacing must be > 0"):
        gan.grid_of_gaussians(spacing=0.0)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: gan.GaussianMixture(torch.tensor([[0.0, math.inf]]), 0.1),
            ValueError,
            r"centres must be finite.*inf",
        ),
        (
            lambda: gan.GaussianMixture(torch.tensor([[math.nan, 0.0]]), 0.1),
            ValueError,
            r"centres must be finite.*NaN",
        ),
        (
            lambda: gan.GaussianMixture(torch.zeros(3, 2), math.inf),
            ValueError,
            "std must be finite",
        ),
        (
            lambda: gan.GaussianMixture(torch.zeros(3, 2), math.nan),
            ValueError,
            "std must not be NaN",
        ),
        (lambda: gan.ring_of_gaussians(radius=math.inf), ValueError, "radius must be finite"),
        (lambda: gan.grid_of_gaussians(spacing=math.inf), ValueError, "spacing must be finite"),
        # the dtype is the caller's argument: not "centres must be a floating-point tensor"
        (
            lambda: gan.ring_of_gaussians(dtype=torch.int64),
            TypeError,
            "^dtype must be a floating-point dtype",
        ),
        (lambda: gan.grid_of_gaussians(dtype="float64"), TypeError, "^dtype must be a torch.dtype"),
    ],
)
def test_mixture_rejects_non_finite_parameters_and_bad_dtypes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_mlp_shapes_and_structure():
    generator = gan.MLPGenerator(3, (16, 8), 2, output_activation=nn.Tanh)
    critic = gan.MLPCritic(2, (16, 16, 16))
    z = torch.randn(5, 3)
    x = generator(z)
    assert x.shape == (5, 2) and x.abs().max() < 1 and generator.latent_dim == 3
    assert critic(x).shape == (5,)
    assert sum(isinstance(m, nn.Linear) for m in critic) == 4
    layer_normed = gan.MLPCritic(2, (8,), norm_layer=nn.LayerNorm)
    assert any(isinstance(m, nn.LayerNorm) for m in layer_normed)
    assert gan.MLPCritic(64, (8,))(torch.randn(4, 1, 8, 8)).shape == (4,)


def test_conv_models_on_digit_sized_images():
    generator = gan.ConvGenerator(latent_dim=10, channels=8)
    critic = gan.ConvCritic(channels=8)
    images = generator(torch.randn(4, 10))
    assert images.shape == (4, 1, 8, 8) and images.abs().max() < 1
    assert critic(images).shape == (4,)
    big = gan.ConvGenerator(latent_dim=4, channels=4, out_channels=3, image_size=16)
    assert big(torch.randn(2, 4)).shape == (2, 3, 16, 16)
    assert gan.ConvCritic(3, 4, image_size=16)(torch.randn(2, 3, 16, 16)).shape == (2,)
    with_bn = gan.ConvGenerator(channels=4, norm_layer=nn.BatchNorm2d)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in with_bn) == 2
    assert gan.has_batch_norm(with_bn) and not gan.has_batch_norm(critic)


def test_model_bad_inputs():
    with pytest.raises(ValueError, match="image_size must be a multiple of 4"):
        gan.ConvGenerator(image_size=10)
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        gan.MLPGenerator(0)
    with pytest.raises(ValueError, match=r"hidden_features\[1\] must be a positive int"):
        gan.MLPCritic(2, (8, 0))
    # a bare int is the common slip for one hidden layer
    with pytest.raises(TypeError, match=r"hidden_features must be a tuple or list.*got int \(8\)"):
        gan.MLPGenerator(2, 8)
    with pytest.raises(TypeError, match="hidden_features must be a tuple or list"):
        gan.MLPCritic(2, 8)
    with pytest.raises(TypeError, match="norm_layer must be callable"):
        gan.MLPCritic(2, (8,), norm_layer="layer")
    with pytest.raises(TypeError, match="^activation must be a factory.*instance ReLU"):
        gan.MLPGenerator(2, (8,), activation=nn.ReLU())
    with pytest.raises(TypeError, match="^output_activation must be a factory"):
        gan.MLPGenerator(2, (8,), output_activation=nn.Tanh())
    with pytest.raises(TypeError, match="channels must be an int"):
        gan.ConvCritic(channels=2.5)


# --- image_grid ----------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["flat", "hw", "chw"])
def test_image_grid_places_each_image_row_by_row_with_margins(layout):
    images = torch.randn(5, 8, 8)
    given = {"flat": images.reshape(5, 64), "hw": images, "chw": images[:, None]}[layout]
    grid = image_grid(given, columns=3, pad=1, fill=-1.0)
    assert grid.shape == (2 * 9 + 1, 3 * 9 + 1)
    for i in range(5):
        top, left = 1 + (i // 3) * 9, 1 + (i % 3) * 9
        torch.testing.assert_close(grid[top : top + 8, left : left + 8], images[i])
    # margins and the missing sixth image are the fill value
    mask = torch.ones_like(grid, dtype=torch.bool)
    for i in range(5):
        top, left = 1 + (i // 3) * 9, 1 + (i % 3) * 9
        mask[top : top + 8, left : left + 8] = False
    assert (grid[mask] == -1.0).all()


def test_image_grid_other_shapes_no_padding_and_detached():
    images = torch.randn(4, 2, 3, requires_grad=True)
    grid = image_grid(images, columns=4, image_shape=(2, 3), pad=0, fill=0.0)
    assert grid.shape == (2, 12) and not grid.requires_grad
    torch.testing.assert_close(grid, images.detach().permute(1, 0, 2).reshape(2, 12))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"images": torch.zeros(3, 64, dtype=torch.long)}, TypeError, "images must be a floating"),
        ({"images": torch.zeros(0, 64)}, ValueError, "images must be non-empty"),
        ({"images": torch.zeros(3, 60)}, ValueError, "do not split into 8 x 8 images"),
        ({"columns": 0}, ValueError, "columns"),
        ({"pad": -1}, ValueError, "pad must be >= 0"),
        ({"image_shape": (8,)}, ValueError, "image_shape must be a tuple"),
        ({"image_shape": (8, 0)}, ValueError, "image_shape must be a tuple"),
    ],
)
def test_image_grid_bad_input(kwargs, error, message):
    arguments = {"images": torch.zeros(3, 64), **kwargs}
    with pytest.raises(error, match=message):
        image_grid(**arguments)
