"""normlab.spectral_norm against torch.nn.utils.parametrizations.spectral_norm and eq. 12."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

import normlab
from normlab.spectral_normalization import WARMUP_ITERATIONS, SpectralNorm

# Float32 parity: both implementations run the same operations in the same order, so the
# results agree to the last bit on the CPU; 1e-6 leaves room for other kernels (CUDA).
ATOL32 = dict(rtol=1e-6, atol=1e-6)
# Float64 formulas (eq. 12, normalization) hold to rounding, ~1e-15 relative.
ATOL64 = dict(rtol=1e-10, atol=1e-12)

LAYERS = {
    "Linear": (lambda: nn.Linear(20, 40), (5, 20)),
    "Conv1d": (lambda: nn.Conv1d(3, 6, 3), (2, 3, 9)),
    "Conv2d": (lambda: nn.Conv2d(3, 8, 3, padding=1), (2, 3, 6, 6)),
    "Conv3d": (lambda: nn.Conv3d(2, 4, 2), (2, 2, 4, 4, 4)),
    "ConvTranspose1d": (lambda: nn.ConvTranspose1d(3, 5, 3), (2, 3, 7)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 4, (5, 6)), (2, 3, 4, 4)),
}


def twin(make, device, seed=0, n_power_iterations=1, **kwargs):
    """The same layer twice, one with PyTorch's SN, one with normlab's, from the same seed."""
    torch.manual_seed(seed)
    layer = make().to(device)
    ours = copy.deepcopy(layer)
    torch.manual_seed(seed + 1)
    torch_spectral_norm(layer, n_power_iterations=n_power_iterations, **kwargs)
    torch.manual_seed(seed + 1)
    normlab.spectral_norm(ours, n_power_iterations=n_power_iterations, **kwargs)
    return layer, ours


def buffers(module, name="weight"):
    p = module.parametrizations[name][0]
    return p._u, p._v


# ---------------------------------------------------------------------------- parity


@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_registration_matches_pytorch(device, layer_name):
    theirs, ours = twin(LAYERS[layer_name][0], device)
    for a, b in zip(buffers(theirs), buffers(ours), strict=True):
        torch.testing.assert_close(b, a, **ATOL32)
    torch.testing.assert_close(ours.weight, theirs.weight, **ATOL32)
    assert ours.parametrizations.weight[0].dim == theirs.parametrizations.weight[0].dim


@pytest.mark.parametrize("n_power_iterations", [1, 3])
@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_training_run_matches_pytorch(device, layer_name, n_power_iterations):
    """Forward, backward and SGD steps with the GAN pattern D(real) - D(fake)."""
    make, shape = LAYERS[layer_name]
    theirs, ours = twin(make, device, n_power_iterations=n_power_iterations)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1)
    opt_o = torch.optim.SGD(ours.parameters(), lr=0.1)
    for _ in range(4):
        real, fake = torch.randn(shape, device=device), torch.randn(shape, device=device)
        for model, opt in [(theirs, opt_t), (ours, opt_o)]:
            opt.zero_grad()
            (model(real).square().mean() - model(fake).abs().mean()).backward()
        torch.testing.assert_close(
            ours.parametrizations.weight.original.grad,
            theirs.parametrizations.weight.original.grad,
            **ATOL32,
        )
        opt_t.step()
        opt_o.step()
        for a, b in zip(buffers(theirs), buffers(ours), strict=True):
            torch.testing.assert_close(b, a, **ATOL32)
    x = torch.randn(shape, device=device)
    torch.testing.assert_close(ours(x), theirs(x), **ATOL32)


def test_power_iteration_reproduces_the_buffers():
    """The parametrization runs Chapter 1's power iteration, started from v."""
    layer = nn.Linear(30, 50).double()
    torch.manual_seed(3)
    torch.randn(50, dtype=torch.float64)  # u is drawn first (and overwritten), then v
    v0 = torch.randn(30, dtype=torch.float64)
    torch.manual_seed(3)
    normlab.spectral_norm(layer)
    u, v = buffers(layer)
    # 15 warm-up iterations, plus one: register_parametrization evaluates the
    # parametrization once (in training mode) to check its output's shape and dtype.
    _, u_ref, v_ref = normlab.power_iteration(
        layer.parametrizations.weight.original, WARMUP_ITERATIONS + 1, v=v0
    )
    torch.testing.assert_close(u, u_ref, **ATOL64)
    torch.testing.assert_close(v, v_ref, **ATOL64)


def test_old_hook_api_iterates_in_miyatos_order():
    """torch.nn.utils.spectral_norm updates v first: power_iteration started from u."""
    layer = nn.Linear(12, 9).double()
    torch.nn.utils.spectral_norm(layer)
    u0 = layer.weight_u.clone()
    layer(torch.randn(2, 12, dtype=torch.float64))  # one iteration, in the forward pre-hook
    _, u, v = normlab.power_iteration(layer.weight_orig, 1, u=u0)
    torch.testing.assert_close(layer.weight_u, u, **ATOL64)
    torch.testing.assert_close(layer.weight_v, v, **ATOL64)


def test_naive_reimplementation(device):
    """PyTorch's own test recipe: u = N(W v), v = N(W^T u), W / (u . W v)."""
    layer = nn.Linear(7, 5).to(device)
    normlab.spectral_norm(layer)
    u, v = (b.clone() for b in buffers(layer))
    W = layer.parametrizations.weight.original.detach()
    u = nn.functional.normalize(W @ v, dim=0, eps=1e-12)
    v = nn.functional.normalize(W.T @ u, dim=0, eps=1e-12)
    torch.testing.assert_close(layer.weight, W / torch.dot(u, W @ v), **ATOL32)


def test_diagonal_weight_is_divided_by_its_largest_entry():
    layer = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.diag(torch.tensor([1.0, -3.0, 2.0, 0.5])))
    normlab.spectral_norm(layer)
    expected = torch.diag(torch.tensor([1.0, -3.0, 2.0, 0.5]) / 3.0)
    torch.testing.assert_close(layer.weight, expected)


# ---------------------------------------------------------------------------- the gradient


@pytest.mark.parametrize("layer_name", ["Linear", "Conv2d", "ConvTranspose2d"])
@pytest.mark.parametrize("training", [True, False])
def test_gradient_is_miyatos_eq_12(device, layer_name, training):
    """dL/dW = (G - <G, W_SN> u v^T) / sigma, with G = dL/dW_SN, in float64."""
    layer = LAYERS[layer_name][0]().double().to(device)
    normlab.spectral_norm(layer)
    layer.train(training)
    sn = layer.parametrizations.weight[0]
    W_sn = layer.weight  # runs one power iteration in training mode
    u, v = sn._u.clone(), sn._v.clone()  # the vectors this forward used
    G = torch.randn_like(W_sn)
    (W_sn * G).sum().backward()
    original = layer.parametrizations.weight.original
    W = sn._reshape_weight_to_matrix(original.detach())
    sigma = torch.dot(u, W @ v)
    G_mat = sn._reshape_weight_to_matrix(G)
    W_sn_mat = sn._reshape_weight_to_matrix(W_sn.detach())
    expected = (G_mat - (G_mat * W_sn_mat).sum() * torch.outer(u, v)) / sigma
    torch.testing.assert_close(sn._reshape_weight_to_matrix(original.grad), expected, **ATOL64)


def test_gradcheck_through_two_forwards():
    """The clones make D(x) + D(x) differentiable (PyTorch's test, with buffers reset)."""
    layer = nn.Linear(5, 3).double()
    normlab.spectral_norm(layer)
    u0, v0 = (b.clone() for b in buffers(layer))
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)

    def fn(inp):
        u, v = buffers(layer)
        u.copy_(u0)
        v.copy_(v0)
        return layer(inp) + layer(inp)

    assert torch.autograd.gradcheck(fn, (x,))
    layer.eval()
    assert torch.autograd.gradcheck(lambda inp: layer(inp) * 2, (x,))


# ---------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_normalized_spectral_norm_is_one_after_registration(layer_name):
    for seed in range(3):
        torch.manual_seed(seed)
        layer = normlab.spectral_norm(LAYERS[layer_name][0]())
        sn = layer.parametrizations.weight[0]
        layer.eval()
        sigma = torch.linalg.matrix_norm(sn._reshape_weight_to_matrix(layer.weight), 2)
        # the estimate is a lower bound of sigma(W), so sigma(W / estimate) >= 1
        assert 1 - 1e-6 <= sigma.item() <= 1.05


def test_estimate_converges_to_the_spectral_norm():
    layer = normlab.spectral_norm(nn.Linear(20, 40))
    for _ in range(200):
        layer.weight  # noqa: B018 - every training-mode access runs one iteration
    sigma = torch.linalg.matrix_norm(layer.weight.detach(), 2)
    assert abs(sigma.item() - 1) < 1e-5


def test_buffers_parameters_and_state_dict_keys():
    layer = normlab.spectral_norm(nn.Conv2d(3, 4, 5))
    sn = layer.parametrizations.weight[0]
    assert isinstance(sn, SpectralNorm)
    assert sn._u.shape == (4,) and sn._v.shape == (75,)
    assert isinstance(layer.parametrizations.weight.original, nn.Parameter)
    assert {n for n, _ in layer.named_buffers()} == {
        "parametrizations.weight.0._u",
        "parametrizations.weight.0._v",
    }
    assert "weight" not in dict(layer.named_parameters())
    assert layer.weight.shape == layer.parametrizations.weight.original.shape
    assert layer.weight.stride() == layer.parametrizations.weight.original.stride()
    assert set(layer.state_dict()) == {
        "bias",
        "parametrizations.weight.original",
        "parametrizations.weight.0._u",
        "parametrizations.weight.0._v",
    }
    transposed = normlab.spectral_norm(nn.ConvTranspose2d(3, 4, (5, 6)))
    w = transposed.parametrizations.weight
    assert w[0].dim == 1 and w[0]._u.shape == w.original[0, :, 0, 0].shape == (4,)


def test_training_mode_iterates_on_every_access_and_eval_mode_never(device):
    layer = normlab.spectral_norm(nn.Linear(6, 8)).to(device)
    u = buffers(layer)[0]
    pointer = u.data_ptr()
    before = u.clone()
    layer.weight  # noqa: B018
    assert not torch.equal(u, before)
    assert u.data_ptr() == pointer  # updated in place (DataParallel replicas share storage)
    x = torch.randn(3, 6, device=device)
    last_train_output = layer(x)
    layer.eval()
    frozen = [b.clone() for b in buffers(layer)]
    out1, out2 = layer(x), layer(x)
    assert torch.equal(out1, out2)
    torch.testing.assert_close(out1, last_train_output)
    for a, b in zip(frozen, buffers(layer), strict=True):
        assert torch.equal(a, b)


def test_cached_runs_one_iteration():
    layer = normlab.spectral_norm(nn.Linear(6, 8))
    reference = copy.deepcopy(layer)
    with parametrize.cached():
        for _ in range(3):
            layer.weight  # noqa: B018
    reference.weight  # noqa: B018 - exactly one access
    torch.testing.assert_close(buffers(layer)[0], buffers(reference)[0], rtol=0, atol=0)


def test_one_dimensional_weight_is_divided_by_its_norm():
    layer = normlab.spectral_norm(nn.Linear(3, 5), name="bias")
    original = layer.parametrizations.bias.original
    torch.testing.assert_close(layer.bias, original / original.norm())
    assert not list(layer.parametrizations.bias[0].buffers())
    torch.testing.assert_close(
        layer.bias, torch_spectral_norm(copy.deepcopy(layer), name="weight").bias
    )


@given(st.floats(min_value=1e-3, max_value=1e3))
def test_scale_invariance(c):
    """W_SN depends only on the direction of W: (cW) / sigma(cW) = W / sigma(W), c > 0."""
    torch.manual_seed(0)
    layer = normlab.spectral_norm(nn.Linear(6, 4).double()).eval()
    W_sn = layer.weight.detach()
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(c)
    torch.testing.assert_close(layer.weight, W_sn, **ATOL64)


def test_assigning_the_weight_stores_it_raw():
    layer = normlab.spectral_norm(nn.Linear(3, 3))
    new = torch.randn(3, 3) * 7
    layer.weight = new
    torch.testing.assert_close(layer.parametrizations.weight.original, new)


# ---------------------------------------------------------------------------- state dicts


@pytest.mark.parametrize("direction", ["torch_to_normlab", "normlab_to_torch"])
def test_state_dict_loads_across_implementations(direction):
    theirs, ours = twin(LAYERS["Conv2d"][0], torch.device("cpu"), seed=5)
    for _ in range(3):
        theirs.weight  # noqa: B018 - move the source's buffers away from the target's
    source, target = (theirs, ours) if direction == "torch_to_normlab" else (ours, theirs)
    target.load_state_dict(source.state_dict())
    x = torch.randn(LAYERS["Conv2d"][1])
    for mode in ["eval", "train", "train", "eval"]:
        source.train(mode == "train")
        target.train(mode == "train")
        torch.testing.assert_close(target(x), source(x), **ATOL32)


def test_state_dict_round_trip_reproduces_outputs():
    layer = normlab.spectral_norm(nn.Linear(5, 7))
    layer.weight  # noqa: B018
    state = copy.deepcopy(layer.state_dict())
    x = torch.randn(2, 5)
    expected = []
    for mode in ["eval", "train", "train", "eval"]:
        layer.train(mode == "train")
        expected.append(layer(x))
    fresh = normlab.spectral_norm(nn.Linear(5, 7))
    fresh.load_state_dict(state, strict=True)
    for mode, want in zip(["eval", "train", "train", "eval"], expected, strict=True):
        fresh.train(mode == "train")
        torch.testing.assert_close(fresh(x), want, rtol=0, atol=0)


# ---------------------------------------------------------------------------- removal


@pytest.mark.parametrize("training", [True, False])
def test_remove_keeps_the_eval_weight(training):
    layer = normlab.spectral_norm(nn.Linear(4, 6))
    layer.train(training)
    layer.eval()
    eval_weight = layer.weight.detach().clone()
    x = torch.randn(3, 4)
    eval_output = layer(x)
    layer.train(training)
    normlab.remove_spectral_norm(layer)
    assert not parametrize.is_parametrized(layer)
    assert isinstance(layer.weight, nn.Parameter)
    torch.testing.assert_close(layer.weight.detach(), eval_weight, rtol=0, atol=0)
    torch.testing.assert_close(layer(x), eval_output, rtol=0, atol=0)
    assert layer.training == training


def test_spectral_norm_can_be_applied_again_after_removal():
    layer = normlab.remove_spectral_norm(normlab.spectral_norm(nn.Linear(4, 6)))
    normlab.spectral_norm(layer)
    assert parametrize.is_parametrized(layer, "weight")


# ---------------------------------------------------------------------------- errors


def test_errors():
    cases = [
        (lambda: normlab.spectral_norm("linear"), TypeError, "module must be a torch.nn.Module"),
        (lambda: normlab.spectral_norm(nn.Linear(2, 2), name=3), TypeError, "name must be a str"),
        (
            lambda: normlab.spectral_norm(nn.ReLU()),
            ValueError,
            "ReLU has no parameter or buffer named 'weight'",
        ),
        (
            lambda: normlab.spectral_norm(nn.Linear(2, 2), name="weights"),
            ValueError,
            "no parameter or buffer named 'weights'",
        ),
        (
            lambda: normlab.spectral_norm(nn.Linear(2, 2), n_power_iterations=0),
            ValueError,
            r"n_power_iterations must be a positive int \(>= 1\), got 0",
        ),
        (
            lambda: normlab.spectral_norm(nn.Linear(2, 2), n_power_iterations=1.5),
            TypeError,
            "n_power_iterations must be an int",
        ),
        (
            lambda: normlab.spectral_norm(nn.Linear(2, 2), eps=0.0),
            ValueError,
            "eps must be > 0, got 0.0",
        ),
        (
            lambda: normlab.spectral_norm(nn.Linear(2, 2), eps=-1e-12),
            ValueError,
            "eps must be > 0",
        ),
        (
            lambda: normlab.spectral_norm(nn.Linear(2, 2), eps=float("inf")),
            ValueError,
            "eps must be finite, got inf",
        ),
        (
            lambda: normlab.SpectralNorm(torch.ones(2, 2), eps=float("inf")),
            ValueError,
            "eps must be finite",
        ),
        (
            lambda: normlab.spectral_norm(nn.Linear(2, 2), dim=2),
            IndexError,
            r"dim must be an axis of module.weight, a 2-D tensor .* got 2",
        ),
        (
            lambda: normlab.spectral_norm(nn.Linear(2, 2), dim=0.0),
            TypeError,
            "dim must be an int",
        ),
        (
            lambda: normlab.spectral_norm(normlab.spectral_norm(nn.Linear(2, 2))),
            RuntimeError,
            "'weight' of ParametrizedLinear already has spectral normalization",
        ),
        (
            lambda: normlab.spectral_norm(torch_spectral_norm(nn.Linear(2, 2))),
            RuntimeError,
            "already has spectral normalization",
        ),
        (
            lambda: normlab.spectral_norm(torch.nn.utils.spectral_norm(nn.Linear(2, 2))),
            RuntimeError,
            "already has spectral normalization",
        ),
        (
            lambda: SpectralNorm(torch.ones(3, 3, dtype=torch.int64)),
            TypeError,
            "weight must be a floating-point tensor",
        ),
        (lambda: SpectralNorm(torch.ones(0, 3)), ValueError, "weight must be non-empty"),
        (
            lambda: SpectralNorm(torch.ones(3, 3), n_power_iterations=-1),
            ValueError,
            "n_power_iterations must be a positive int",
        ),
        (lambda: normlab.remove_spectral_norm(3), TypeError, "module must be a torch.nn.Module"),
        (
            lambda: normlab.remove_spectral_norm(nn.Linear(2, 2)),
            ValueError,
            "spectral_norm of 'weight' not found in Linear",
        ),
        (
            lambda: normlab.remove_spectral_norm(torch_spectral_norm(nn.Linear(2, 2))),
            ValueError,
            "not found",
        ),
        (
            lambda: normlab.remove_spectral_norm(normlab.spectral_norm(nn.Linear(2, 2)), 1),
            TypeError,
            "name must be a str",
        ),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


def test_remove_refuses_stacked_parametrizations():
    layer = normlab.spectral_norm(nn.Linear(3, 3))
    torch.nn.utils.parametrizations.orthogonal(layer)
    with pytest.raises(ValueError, match="carries other parametrizations"):
        normlab.remove_spectral_norm(layer)


def test_checks_come_before_any_power_iteration():
    layer = normlab.spectral_norm(nn.Linear(3, 3))
    u = buffers(layer)[0].clone()
    with pytest.raises(RuntimeError):
        normlab.spectral_norm(layer)
    assert torch.equal(u, buffers(layer)[0])  # the weight was not read in training mode


def test_spectrally_normalize_every_layer_like_torch():
    torch.manual_seed(0)
    critic = normlab.gan.ConvCritic(1, 8)
    ours, theirs = copy.deepcopy(critic), copy.deepcopy(critic)
    torch.manual_seed(1)
    assert normlab.spectrally_normalize(ours) is ours
    torch.manual_seed(1)
    normlab.spectrally_normalize(theirs, torch_spectral_norm)
    layers = [m for m in critic.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(layers) >= 2
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(ours.eval()(x), theirs.eval()(x), rtol=1e-5, atol=1e-6)
    for layer in ours.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            assert parametrize.is_parametrized(layer, "weight")


def test_spectrally_normalize_forwards_options_and_rejects_bad_input():
    mlp = normlab.spectrally_normalize(normlab.gan.MLPCritic(2, (8,)), n_power_iterations=3)
    first = next(m for m in mlp.modules() if isinstance(m, nn.Linear))
    assert first.parametrizations.weight[0].n_power_iterations == 3
    with pytest.raises(TypeError, match="module must be a torch.nn.Module, got int"):
        normlab.spectrally_normalize(3)
    with pytest.raises(TypeError, match="spectral_norm must be callable, got str"):
        normlab.spectrally_normalize(nn.Linear(2, 2), "sn")
    with pytest.raises(ValueError, match="has no Linear or Conv1d/2d/3d layer"):
        normlab.spectrally_normalize(nn.ReLU())
