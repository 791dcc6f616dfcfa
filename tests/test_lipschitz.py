"""normlab.lipschitz against dense matrices, SVDs and exact piecewise-linear analysis."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import normlab
from normlab.lipschitz import LipschitzLowerBound

# Float64 operators: the FFT and the dense SVD agree to ~1e-13; power iteration is run long
# enough on these tiny operators to converge to ~1e-9 relative.
EXACT = dict(rtol=1e-10, atol=1e-12)


def dense_matrix(fn, input_shape, dtype=torch.float64):
    """The matrix of a linear map, column by column: fn applied to every basis vector."""
    n = math.prod(input_shape)
    basis = torch.eye(n, dtype=dtype).reshape(n, *input_shape)
    with torch.no_grad():
        return fn(basis).reshape(n, -1).T


def conv_matrix(conv, input_shape):
    return dense_matrix(lambda x: conv._conv_forward(x, conv.weight, None), input_shape)


CONVS = {
    "zeros 2d": (lambda: nn.Conv2d(3, 4, 3, padding=1), (3, 6, 6)),
    "zeros 2d no padding": (lambda: nn.Conv2d(2, 5, 3), (2, 6, 5)),
    "stride 2": (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 7, 7)),
    "dilation, groups": (lambda: nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2), (4, 7, 7)),
    "reflect": (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (2, 5, 5)),
    "replicate 1d": (lambda: nn.Conv1d(2, 3, 5, padding=2, padding_mode="replicate"), (2, 9)),
    "zeros 3d": (lambda: nn.Conv3d(2, 2, 3, padding=1), (2, 4, 4, 3)),
    "circular 2d": (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular"), (3, 6, 6)),
    "circular 1d": (lambda: nn.Conv1d(3, 2, 5, padding=2, padding_mode="circular"), (3, 8)),
    "circular, dilation, groups": (
        lambda: nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, padding_mode="circular"),
        (4, 7, 7),
    ),
    "circular 3d": (lambda: nn.Conv3d(2, 3, 3, padding=1, padding_mode="circular"), (2, 4, 4, 4)),
}


@pytest.mark.parametrize("case", list(CONVS))
def test_conv_operator_norm_matches_the_dense_matrix(case):
    make, shape = CONVS[case]
    torch.manual_seed(0)
    conv = make().double()
    exact = torch.linalg.matrix_norm(conv_matrix(conv, shape), 2).item()
    # The top singular values of a convolution are clustered (neighbouring frequencies), so
    # power iteration converges slowly: a lower estimate, within 1e-3 after 1000 iterations.
    power = normlab.conv_operator_norm(conv, shape, method="power", n_iters=1000)
    assert exact * (1 - 1e-3) <= power <= exact * (1 + 1e-12)
    auto = normlab.conv_operator_norm(conv, shape, n_iters=1000)  # FFT when circular: exact
    assert auto == pytest.approx(exact, rel=1e-12 if case.startswith("circular") else 1e-3)


@pytest.mark.parametrize("case", [c for c in CONVS if c.startswith("circular")])
def test_fft_gives_every_singular_value_of_a_circular_conv(case):
    make, shape = CONVS[case]
    torch.manual_seed(1)
    conv = make().double()
    dense = torch.linalg.svdvals(conv_matrix(conv, shape))
    fft = normlab.lipschitz.circular_conv_singular_values(
        conv.weight, shape[1:], groups=conv.groups, dilation=conv.dilation
    )
    assert fft.shape == dense.shape
    torch.testing.assert_close(fft, dense, **EXACT)
    assert normlab.conv_operator_norm(conv, shape, method="fft") == pytest.approx(
        dense[0].item(), rel=1e-12
    )


def test_transposed_conv_operator_norm_matches_the_dense_matrix():
    torch.manual_seed(2)
    conv = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1).double()
    shape = (3, 4, 4)

    def linear(x):
        return nn.functional.conv_transpose2d(x, conv.weight, None, 2, 1)

    exact = torch.linalg.matrix_norm(dense_matrix(linear, shape), 2).item()
    estimate = normlab.conv_operator_norm(conv, shape, n_iters=300)
    assert exact * (1 - 1e-3) <= estimate <= exact * (1 + 1e-12)


@given(st.integers(0, 10_000), st.sampled_from([1, 3, 5]), st.integers(5, 9))
def test_reshaped_kernel_norm_brackets_the_operator_norm(seed, k, n):
    """sigma(W reshaped) <= ||conv|| <= sqrt(k * k) sigma(W reshaped), stride 1, circular."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(4, 3, k, k, generator=g, dtype=torch.float64)
    reshaped = torch.linalg.matrix_norm(weight.flatten(1), 2).item()
    operator = normlab.lipschitz.circular_conv_singular_values(weight, (n, n))[0].item()
    assert reshaped * (1 - 1e-12) <= operator <= k * reshaped * (1 + 1e-12)


def test_constant_kernel_attains_the_upper_end():
    weight = torch.ones(2, 3, 3, 3, dtype=torch.float64)
    reshaped = torch.linalg.matrix_norm(weight.flatten(1), 2).item()
    operator = normlab.lipschitz.circular_conv_singular_values(weight, (6, 6))[0].item()
    assert operator == pytest.approx(3 * reshaped, rel=1e-12)


def test_spectral_normalization_does_not_make_a_conv_1_lipschitz():
    torch.manual_seed(0)
    conv = normlab.spectral_norm(nn.Conv2d(8, 8, 3, padding=1))
    norm = normlab.conv_operator_norm(conv, (8, 8, 8), n_iters=300)
    assert norm > 1.2  # the reshaped matrix has sigma ~ 1, the operator does not


def test_operator_norm_of_a_matrix_and_of_zero():
    A = torch.randn(7, 5, dtype=torch.float64)
    est = normlab.lipschitz.operator_norm(
        lambda x: x @ A.T, (5,), n_iters=2000, dtype=torch.float64
    )
    assert est == pytest.approx(torch.linalg.matrix_norm(A, 2).item(), rel=1e-9)
    assert normlab.lipschitz.operator_norm(lambda x: 0 * x, (3,)) == 0.0


def test_operator_norm_is_seedable():
    conv = nn.Conv2d(2, 2, 3, padding=1)
    a = normlab.conv_operator_norm(
        conv, (2, 5, 5), method="power", n_iters=3, generator=torch.Generator().manual_seed(0)
    )
    b = normlab.conv_operator_norm(
        conv, (2, 5, 5), method="power", n_iters=3, generator=torch.Generator().manual_seed(0)
    )
    assert a == b


# ---------------------------------------------------------------------------- activations


ACTIVATIONS = [
    nn.ReLU(),
    nn.ReLU6(),
    nn.LeakyReLU(0.2),
    nn.LeakyReLU(-1.5),
    nn.ELU(),
    nn.ELU(2.0),
    nn.CELU(0.5),
    nn.SELU(),
    nn.GELU(),
    nn.GELU(approximate="tanh"),
    nn.SiLU(),
    nn.Mish(),
    nn.Softplus(beta=3.0),
    nn.Tanh(),
    nn.Sigmoid(),
    nn.Hardtanh(),
    nn.Hardsigmoid(),
    nn.Hardswish(),
    nn.Softsign(),
]


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_activation_constant_is_the_largest_slope(activation):
    t = torch.linspace(-30, 30, 600_001, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(activation(t).sum(), t)
    largest = slope.abs().max().item()
    constant = normlab.lipschitz.activation_lipschitz(activation)
    # never below a slope the function has (1e-7: PyTorch's hardsigmoid backward uses the
    # float32 constant 1/6); where the supremum is a one-sided limit at a kink (ELU, SELU),
    # the grid gets within one step of it
    assert largest <= constant * (1 + 1e-7)
    assert constant == pytest.approx(largest, rel=1e-3)


def test_prelu_uses_its_learned_slope():
    prelu = nn.PReLU(3)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor([0.1, -2.5, 0.3]))
    assert normlab.lipschitz.activation_lipschitz(prelu) == pytest.approx(2.5)


# ---------------------------------------------------------------------------- networks


def exact_lipschitz_1d(net):
    """The exact constant of a ReLU network on R: the largest slope over its linear pieces.

    Breakpoints are found layer by layer: on each interval between known breakpoints every
    pre-activation is affine, so its zero is computed exactly.
    """
    linears = [m for m in net if isinstance(m, nn.Linear)]
    breakpoints: list[float] = []
    for depth in range(1, len(linears)):
        prefix = net[: 2 * depth - 1]  # up to the depth-th Linear, before its ReLU
        points = sorted(breakpoints)
        edges = [points[0] - 1e3] + points + [points[-1] + 1e3] if points else [-1e3, 1e3]
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            with torch.no_grad():
                za, zb = prefix(torch.tensor([[a], [b]], dtype=torch.float64))
            for i in range(za.numel()):
                if (za[i] > 0) != (zb[i] > 0) and za[i] != zb[i]:
                    breakpoints.append(a - za[i].item() * (b - a) / (zb[i] - za[i]).item())
    points = sorted(breakpoints)
    edges = [points[0] - 1.0] + points + [points[-1] + 1.0] if points else [-1.0, 1.0]
    mids = torch.tensor([[(a + b) / 2] for a, b in zip(edges[:-1], edges[1:], strict=True)])
    mids = mids.to(torch.float64).requires_grad_(True)
    (slopes,) = torch.autograd.grad(net(mids).sum(), mids)
    return slopes.abs().max().item()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_upper_bound_true_constant_lower_bounds_are_ordered(seed, depth):
    torch.manual_seed(seed)
    layers, width = [], 1
    for _ in range(depth):
        layers += [nn.Linear(width, 8), nn.ReLU()]
        width = 8
    net = nn.Sequential(*layers, nn.Linear(width, 1)).double()
    true = exact_lipschitz_1d(net)
    upper = normlab.lipschitz_upper_bound(net)
    x = torch.linspace(-5, 5, 64, dtype=torch.float64).unsqueeze(1)
    by_gradient = normlab.lipschitz_lower_bound_gradient(net, x, steps=3)
    by_pairs = normlab.lipschitz_lower_bound_pairs(net, x, x.flip(0) + 0.01, steps=30, lr=0.05)
    assert upper >= true * (1 - 1e-12)
    assert true >= by_gradient.value * (1 - 1e-9)
    assert true >= by_pairs.value * (1 - 1e-9)
    assert by_pairs.value >= by_pairs.history[0]


def test_linear_network_bounds_are_exact_for_a_single_layer():
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 3, bias=False)).double()
    sigma = torch.linalg.matrix_norm(net[1].weight, 2).item()
    assert normlab.lipschitz_upper_bound(net) == pytest.approx(sigma, rel=1e-12)
    # gradient lower bound on a linear map: pairs along the top right singular vector
    _, _, Vh = torch.linalg.svd(net[1].weight.detach())
    x = torch.zeros(1, 6, dtype=torch.float64)
    bound = normlab.lipschitz_lower_bound_pairs(net, x, x + Vh[0])
    assert bound.value == pytest.approx(sigma, rel=1e-12)


def test_gradient_bound_on_an_affine_function_is_its_norm():
    a = torch.tensor([3.0, -4.0], dtype=torch.float64)
    bound = normlab.lipschitz_lower_bound_gradient(lambda x: x @ a + 1, torch.randn(5, 2).double())
    assert bound.value == pytest.approx(5.0)
    assert isinstance(bound, LipschitzLowerBound) and bound.y is None


def test_gradient_ascent_climbs_on_a_smooth_network_and_stalls_on_relu():
    torch.manual_seed(0)
    x = torch.randn(32, 2)
    smooth = nn.Sequential(
        nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1)
    )
    climbed = normlab.lipschitz_lower_bound_gradient(smooth, x, steps=50, lr=0.05)
    assert climbed.history == sorted(climbed.history)
    assert climbed.value > climbed.history[0]
    relu = nn.Sequential(
        nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)
    )
    stalled = normlab.lipschitz_lower_bound_gradient(relu, x, steps=20, lr=0.05)
    assert stalled.value == stalled.history[0]  # grad f is piecewise constant: no direction


def test_lower_bounds_leave_the_network_alone():
    net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    before = [p.clone() for p in net.parameters()]
    x = torch.randn(8, 2)
    normlab.lipschitz_lower_bound_gradient(net, x, steps=3)
    normlab.lipschitz_lower_bound_pairs(net, x, x + 1, steps=3)
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_bounds_of_a_conv_network_track_shapes():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU()),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 1),
    ).double()
    constants = normlab.lipschitz.lipschitz_constants(net, (1, 8, 8), n_iters=200)
    assert [name for name, _ in constants] == ["0", "1", "2.0", "2.1", "3", "4"]
    assert constants[1][1] == 1.0 and constants[3][1] == 1.0
    conv = net[2][0]
    exact = torch.linalg.matrix_norm(conv_matrix(conv, (4, 8, 8)), 2).item()
    assert constants[2][1] == pytest.approx(exact, rel=1e-3)
    upper = normlab.lipschitz_upper_bound(net, (1, 8, 8), n_iters=200)
    assert upper == pytest.approx(math.prod(c for _, c in constants), rel=1e-3)
    x = torch.randn(16, 1, 8, 8, dtype=torch.float64)
    assert normlab.lipschitz_lower_bound_gradient(net, x, steps=0).value <= upper


def test_bounds_run_in_eval_mode_and_restore_the_flags():
    net = nn.Sequential(normlab.spectral_norm(nn.Linear(3, 5)), nn.ReLU(), nn.Linear(5, 1))
    u = net[0].parametrizations.weight[0]._u.clone()
    net.train()
    normlab.lipschitz_upper_bound(net)
    assert torch.equal(u, net[0].parametrizations.weight[0]._u)  # no power iteration
    assert all(m.training for m in net.modules())
    net[2].eval()
    normlab.lipschitz_upper_bound(net)
    assert net[0].training and not net[2].training


def test_spectrally_normalized_mlp_bound_is_about_one():
    net = normlab.MLP(2, (16, 16), 1)
    for m in net:
        if isinstance(m, nn.Linear):
            normlab.spectral_norm(m)
    assert 1 - 1e-6 <= normlab.lipschitz_upper_bound(net) <= 1.1


# ---------------------------------------------------------------------------- errors


def test_errors():
    conv = nn.Conv2d(3, 4, 3)
    relu_net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    cases = [
        (lambda: normlab.lipschitz.activation_lipschitz(nn.Linear(2, 2)), TypeError, "elementwise"),
        (lambda: normlab.layer_lipschitz(nn.BatchNorm1d(3)), TypeError, "BatchNorm1d"),
        (lambda: normlab.layer_lipschitz("relu"), TypeError, "torch.nn.Module"),
        (lambda: normlab.layer_lipschitz(conv), ValueError, "input_shape is required for Conv2d"),
        (
            lambda: normlab.conv_operator_norm(conv, (2, 8, 8)),
            ValueError,
            "has 2 channels, but Conv2d expects in_channels = 3",
        ),
        (
            lambda: normlab.conv_operator_norm(conv, (3, 8)),
            ValueError,
            r"input_shape must be \(channels, 2 spatial sizes\)",
        ),
        (
            lambda: normlab.conv_operator_norm(conv, (3, 2, 8)),
            ValueError,
            r"input_shape \(3, 2, 8\) does not fit Conv2d",
        ),
        (lambda: normlab.conv_operator_norm(conv, (3, 0, 8)), ValueError, "positive int"),
        (lambda: normlab.conv_operator_norm(conv, [3, 8, 8.0]), TypeError, "must be an int"),
        (lambda: normlab.conv_operator_norm(conv, 8), TypeError, "tuple of ints"),
        (lambda: normlab.conv_operator_norm(nn.Linear(2, 2), (2,)), TypeError, "Conv1d/2d/3d"),
        (
            lambda: normlab.conv_operator_norm(conv, (3, 8, 8), method="svd"),
            ValueError,
            "method must be one of",
        ),
        (
            lambda: normlab.conv_operator_norm(conv, (3, 8, 8), method="fft"),
            ValueError,
            "method='fft' is exact only for",
        ),
        (
            lambda: normlab.conv_operator_norm(
                nn.Conv2d(3, 4, 3, padding_mode="circular"), (3, 8, 8), method="fft"
            ),
            ValueError,
            "keeps the input's spatial size",
        ),
        (
            lambda: normlab.lipschitz.circular_conv_singular_values(torch.ones(2, 2, 3, 3), (2, 5)),
            ValueError,
            "at least the \\(dilated\\) kernel size",
        ),
        (
            lambda: normlab.lipschitz.circular_conv_singular_values(torch.ones(2, 3, 3), (5, 5)),
            ValueError,
            "input_size must have 1 entries",
        ),
        (
            lambda: normlab.lipschitz.circular_conv_singular_values(torch.ones(2, 3), (5,)),
            ValueError,
            "3-D, 4-D or 5-D conv kernel",
        ),
        (
            lambda: normlab.lipschitz.circular_conv_singular_values(
                torch.ones(3, 2, 3, 3), (5, 5), groups=2
            ),
            ValueError,
            r"groups \(2\) must divide c_out \(3\)",
        ),
        (
            lambda: normlab.lipschitz.circular_conv_singular_values(
                torch.ones(2, 2, 3, 3, dtype=torch.int64), (5, 5)
            ),
            TypeError,
            "weight must be a floating-point tensor",
        ),
        (lambda: normlab.lipschitz.operator_norm(3, (2,)), TypeError, "fn must be callable"),
        (
            lambda: normlab.lipschitz.operator_norm(lambda x: x, (2,), n_iters=0),
            ValueError,
            "n_iters",
        ),
        (
            lambda: normlab.lipschitz_upper_bound(nn.Sequential(conv)),
            ValueError,
            "input_shape is required",
        ),
        (
            lambda: normlab.lipschitz_upper_bound(
                nn.Sequential(nn.Linear(2, 3), nn.Linear(4, 1)), (2,)
            ),
            ValueError,
            "input_shape does not fit layer '1'",
        ),
        (
            lambda: normlab.lipschitz_upper_bound(nn.Sequential(nn.LayerNorm(2))),
            TypeError,
            "LayerNorm",
        ),
        (
            lambda: normlab.lipschitz.lipschitz_constants([nn.ReLU()]),
            TypeError,
            "net must be a torch.nn.Module",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_gradient(relu_net, torch.randn(4, 2)),
            ValueError,
            r"f must return one number per point, shape \(4,\) or \(4, 1\), got \(4, 2\)",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_gradient(relu_net, torch.randn(2)),
            ValueError,
            "x must be a batch of points",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_gradient(
                relu_net, torch.ones(2, 2, dtype=torch.int64)
            ),
            TypeError,
            "x must be a floating-point tensor",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_gradient(3, torch.randn(2, 2)),
            TypeError,
            "callable",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_gradient(relu_net, torch.randn(4, 2), steps=-1),
            ValueError,
            "steps must be >= 0",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_gradient(relu_net, torch.randn(4, 2), lr=0),
            ValueError,
            "lr must be > 0",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_pairs(
                relu_net, torch.ones(3, 2), torch.ones(3, 2)
            ),
            ValueError,
            "every pair must have x != y",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_pairs(
                relu_net, torch.ones(3, 2), torch.ones(2, 2)
            ),
            ValueError,
            "x and y must have the same shape",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_pairs(
                relu_net, torch.ones(3, 2), torch.zeros(3, 2), steps=-2
            ),
            ValueError,
            "steps must be >= 0",
        ),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


# ---------------------------------------------------------------------------- hostile inputs


def _square(z):
    return (z**2).sum(1)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: normlab.lipschitz_lower_bound_gradient(_square, torch.full((2, 3), math.nan)),
            r"x must be finite.*NaN",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_gradient(_square, torch.full((2, 3), math.inf)),
            r"x must be finite.*inf",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_pairs(
                lambda z: z, torch.full((2, 3), math.nan), torch.zeros(2, 3)
            ),
            "x must be finite",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_pairs(
                lambda z: z, torch.zeros(2, 3), torch.full((2, 3), math.inf)
            ),
            "y must be finite",
        ),
        # finite points where f itself breaks down: no bound is certified either
        (
            lambda: normlab.lipschitz_lower_bound_gradient(
                lambda z: z.sqrt().sum(1), torch.zeros(2, 3)
            ),
            "f gave non-finite gradient norms",
        ),
        (
            lambda: normlab.lipschitz_lower_bound_pairs(
                lambda z: 1 / z, torch.zeros(2, 3), torch.ones(2, 3)
            ),
            "f gave non-finite difference quotients",
        ),
    ],
)
def test_lower_bounds_reject_non_finite_values(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: normlab.lipschitz.circular_conv_singular_values(
                torch.randn(2, 2, 3, 3), (8, 8), dilation=1.0
            ),
            TypeError,
            r"dilation must be an int, got float \(1.0\)",
        ),
        (
            lambda: normlab.lipschitz.circular_conv_singular_values(
                torch.randn(2, 2, 3, 3), (8, 8), dilation=(2.0, 1)
            ),
            TypeError,
            "dilation must be an int, got float",
        ),
        (
            lambda: normlab.lipschitz.operator_norm(lambda z: z, (3,), dtype="float32"),
            TypeError,
            "dtype must be a torch.dtype",
        ),
        (
            lambda: normlab.lipschitz.operator_norm(lambda z: z, (3,), dtype=torch.int64),
            TypeError,
            "dtype must be a floating-point dtype",
        ),
        (
            lambda: normlab.lipschitz.operator_norm(lambda z: 0, (3,)),
            TypeError,
            "fn must return a tensor, got int",
        ),
    ],
)
def test_hostile_arguments_are_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("zero_map", [lambda z: 0 * z, torch.zeros_like])
def test_operator_norm_of_the_zero_map_is_zero(zero_map):
    assert normlab.lipschitz.operator_norm(zero_map, (2, 3), n_iters=3) == 0.0


def test_half_precision_layers_are_measured_in_float64():
    torch.manual_seed(0)
    linear = nn.Linear(4, 3)
    exact = torch.linalg.matrix_norm(linear.weight.detach().half().double(), 2).item()
    assert normlab.layer_lipschitz(linear.half()) == pytest.approx(exact, rel=1e-12)
