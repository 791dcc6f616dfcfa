"""normlab.normalization against torch.nn: outputs, gradients, buffers, state dicts, errors."""

from __future__ import annotations

import copy
import inspect
import itertools
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import normlab
import normlab.normalization as N

# float32 kernels sum in different orders: normalized outputs are O(1), so a few ulps of
# float32 (eps 1.2e-7) times the reduction length bound the difference; float64 is exact
# to ~1e-15 relative.
TOL = {torch.float32: {"rtol": 2e-5, "atol": 2e-5}, torch.float64: {"rtol": 1e-10, "atol": 1e-10}}
DTYPES = [torch.float32, torch.float64]
TORCH_HAS_BIAS_FLAG = "bias" in inspect.signature(nn.BatchNorm2d).parameters


def close(a, b, dtype):
    torch.testing.assert_close(a, b, **TOL[dtype])


def randomize_affine(ref: nn.Module) -> None:
    """Non-trivial gamma/beta so that the affine gradients are tested too."""
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(0.5, 1.5)


def run_steps(ours, ref, shape, dtype, device, steps=3, offset=2.0, scale=3.0):
    """Train-mode forward/backward on the same inputs; compare everything along the way."""
    for _ in range(steps):
        x = (torch.randn(shape, dtype=dtype, device=device) * scale + offset).requires_grad_()
        g = torch.randn(shape, dtype=dtype, device=device)
        y_ours, y_ref = ours(x), ref(x)
        close(y_ours, y_ref, dtype)
        gx_ours = torch.autograd.grad(y_ours, [x, *ours.parameters()], g)
        gx_ref = torch.autograd.grad(y_ref, [x, *ref.parameters()], g)
        for a, b in zip(gx_ours, gx_ref, strict=True):
            close(a, b, dtype)
        compare_state(ours, ref, dtype)
    return x


def compare_state(ours, ref, dtype):
    s_ours, s_ref = ours.state_dict(), ref.state_dict()
    assert list(s_ours) == list(s_ref)
    for key in s_ref:
        assert s_ours[key].dtype == s_ref[key].dtype, key
        assert s_ours[key].shape == s_ref[key].shape, key
        if s_ref[key].dtype == torch.long:
            assert torch.equal(s_ours[key], s_ref[key]), key
        else:
            close(s_ours[key], s_ref[key], dtype)


def twins(ours_cls, ref_cls, *args, **kwargs):
    ref = ref_cls(*args, **kwargs)
    randomize_affine(ref)
    ours = ours_cls(*args, **kwargs)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


# ------------------------------------------------------------------------ batch norm

BN_CASES = [
    (N.BatchNorm1d, nn.BatchNorm1d, (16, 5)),
    (N.BatchNorm1d, nn.BatchNorm1d, (8, 5, 7)),
    (N.BatchNorm2d, nn.BatchNorm2d, (6, 5, 4, 3)),
    (N.BatchNorm3d, nn.BatchNorm3d, (3, 5, 2, 3, 4)),
]
BN_OPTIONS = [
    {},
    {"momentum": None},
    {"momentum": 1.0},
    {"affine": False},
    {"track_running_stats": False},
    {"affine": False, "track_running_stats": False},
]
if TORCH_HAS_BIAS_FLAG:
    BN_OPTIONS.append({"bias": False})


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("options", BN_OPTIONS, ids=str)
@pytest.mark.parametrize("ours_cls, ref_cls, shape", BN_CASES, ids=lambda c: str(c))
def test_batch_norm_matches_torch(ours_cls, ref_cls, shape, options, dtype, device):
    ours, ref = twins(ours_cls, ref_cls, shape[1], dtype=dtype, device=device, **options)
    x = run_steps(ours, ref, shape, dtype, device)
    ours.eval(), ref.eval()
    close(ours(x), ref(x), dtype)
    compare_state(ours, ref, dtype)  # eval never touches the buffers
    # eval-mode gradients use the running statistics
    g = torch.randn_like(x)
    for a, b in zip(
        torch.autograd.grad(ours(x), [x, *ours.parameters()], g),
        torch.autograd.grad(ref(x), [x, *ref.parameters()], g),
        strict=True,
    ):
        close(a, b, dtype)


def test_batch_norm_momentum_none_is_the_plain_average_of_batch_statistics():
    # PyTorch's _test_batchnorm_simple_average: the cumulative average of two batches
    bn = N.BatchNorm1d(4, momentum=None)
    a, b = torch.randn(10, 4) + 3, torch.randn(10, 4) * 2
    bn(a), bn(b)
    torch.testing.assert_close(bn.running_mean, (a.mean(0) + b.mean(0)) / 2)
    torch.testing.assert_close(bn.running_var, (a.var(0) + b.var(0)) / 2)  # unbiased
    assert bn.num_batches_tracked.item() == 2
    bn.reset_running_stats()
    bn(a)
    torch.testing.assert_close(bn.running_mean, a.mean(0))
    torch.testing.assert_close(bn.running_var, a.var(0))


def test_running_var_is_updated_with_the_unbiased_variance():
    bn = N.BatchNorm2d(3)
    x = torch.randn(4, 3, 2, 2) * 2
    bn(x)
    unbiased = x.transpose(0, 1).reshape(3, -1).var(1, correction=1)
    torch.testing.assert_close(bn.running_var, 0.9 * 1 + 0.1 * unbiased)
    biased = x.transpose(0, 1).reshape(3, -1).var(1, correction=0)
    assert not torch.allclose(bn.running_var, 0.9 + 0.1 * biased)


def test_momentum_convention_is_the_weight_of_the_new_batch():
    # PyTorch's momentum m equals 1 - momentum in the "momentum * old + (1 - momentum) *
    # new" convention of many tutorials
    x = torch.randn(32, 3)
    ours = N.BatchNorm1d(3, momentum=0.25)
    ours(x)
    torch.testing.assert_close(ours.running_mean, 0.75 * 0 + 0.25 * x.mean(0))


def test_num_batches_tracked_counts_training_batches_only():
    bn = N.BatchNorm1d(3)
    bn(torch.randn(4, 3))
    bn.eval()
    bn(torch.randn(4, 3))
    assert bn.num_batches_tracked.item() == 1 and bn.num_batches_tracked.dtype == torch.long
    untracked = N.BatchNorm1d(3, track_running_stats=False)
    assert untracked.num_batches_tracked is None and untracked.running_mean is None


def test_untracked_batch_norm_uses_batch_statistics_in_eval_mode():
    bn = N.BatchNorm1d(3, track_running_stats=False, affine=False).eval()
    x = torch.randn(8, 3) * 5 + 2
    torch.testing.assert_close(bn(x), N.normalize(x, 0))


def test_eval_mode_batch_of_one_works_and_single_values_train_with_spatial_extent():
    bn = N.BatchNorm1d(3)
    bn(torch.randn(1, 3, 2))  # two values per channel: fine
    bn.eval()
    assert bn(torch.randn(1, 3)).shape == (1, 3)


def test_empty_batch_leaves_running_statistics_alone_as_torch_does():
    ours, ref = N.BatchNorm2d(3), nn.BatchNorm2d(3)
    x = torch.randn(0, 3, 2, 2)
    assert ours(x).shape == ref(x).shape == x.shape
    compare_state(ours, ref, torch.float32)


def test_channels_last_input(device):
    ours, ref = twins(N.BatchNorm2d, nn.BatchNorm2d, 4, device=device)
    x = torch.randn(3, 4, 5, 6, device=device).to(memory_format=torch.channels_last)
    run_steps(ours, ref, x.shape, torch.float32, device, steps=1)
    x.requires_grad_()
    torch.testing.assert_close(ours(x), ref(x), **TOL[torch.float32])


def test_large_mean_keeps_gradients_accurate_in_float32():
    # x - mean is formed explicitly: sum(dy*x) - mean*sum(dy) would lose ~3 digits here
    x64 = torch.randn(64, 4, dtype=torch.float64) + 1000
    g = torch.randn(64, 4, dtype=torch.float64)
    ref = torch.autograd.grad(N.normalize(x64.requires_grad_(), 0), x64, g)[0]
    x32 = x64.detach().float().requires_grad_()
    ours = torch.autograd.grad(N.batch_norm(x32, None, None, training=True), x32, g.float())[0]
    # float32 rounds x to ~6e-5 absolute (1000 * 2**-24), i.e. 6e-5 of sigma = 1
    torch.testing.assert_close(ours.double(), ref, rtol=0, atol=2e-3)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda m: m.LayerNorm(16), (64, 16)),
        (lambda m: m.LayerNorm(16, elementwise_affine=False), (64, 16)),
        (lambda m: m.GroupNorm(2, 8), (16, 8, 4)),
        (lambda m: m.InstanceNorm1d(8, affine=True), (16, 8, 6)),
    ],
)
def test_per_sample_kernels_stay_accurate_in_float32_for_a_large_mean(make, shape):
    # single-pass statistics, E[x²] − E[x]², would lose about 6 of float32's 7 digits of
    # the variance at mean 1000, sigma 1; the kernels centre first, and write the input
    # gradient as slope·x + offset, which cancels only down to the rounding of x itself
    ours, ref = make(N), make(nn)
    with torch.no_grad():
        for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
            p.uniform_(0.5, 1.5)
            q.copy_(p)
    x64 = torch.randn(shape, dtype=torch.float64) + 1000
    g = torch.randn(shape, dtype=torch.float64)
    exact_input = x64.float().double().requires_grad_()  # the float32 input, exactly
    ref64 = copy.deepcopy(ref).double()
    y64 = ref64(exact_input)
    exact = torch.autograd.grad(y64, exact_input, g)[0]
    x32 = x64.float().requires_grad_()
    y32 = ours(x32)
    # the float32 mean of values near 1000 rounds at ~1e-4, so x − μ does too (torch: alike)
    torch.testing.assert_close(y32.double(), y64.detach(), rtol=0, atol=1e-3)
    grad = torch.autograd.grad(y32, x32, g.float())[0]
    # x − μ is exact in float32 (Sterbenz), but slope·x rounds at 1000·2⁻²⁴ ≈ 6e-5
    # relative to the gradient's scale of about 1 (torch's own kernels: 2e-4 to 3e-4 here)
    torch.testing.assert_close(grad.double(), exact, rtol=0, atol=2e-3)


def test_group_norm_statistics_are_those_of_torch_native_group_norm():
    x = torch.randn(4, 6, 5)
    w, b = torch.rand(6) + 0.5, torch.randn(6)
    out, mean, invstd = N.GroupNormFunction.apply(x, 3, w, b, 1e-5)
    ref_out, ref_mean, ref_invstd = torch.native_group_norm(x, w, b, 4, 6, 5, 3, 1e-5)
    close(out, ref_out, torch.float32)
    close(mean, ref_mean, torch.float32)
    close(invstd, ref_invstd, torch.float32)
    assert mean.shape == invstd.shape == (4, 3)


@pytest.mark.parametrize(
    "make, shape, most",
    [
        # per step: the Function's forward, backward and the framework's own detaches;
        # this guards the operation counts of the fast paths (37 and 55 before they were
        # trimmed, against 5 and 9 in torch's fused kernels)
        (lambda m: m.LayerNorm(512), (8, 512), 29),
        (lambda m: m.GroupNorm(4, 32), (8, 32, 4, 4), 48),
    ],
)
def test_per_sample_kernels_dispatch_few_operations(make, shape, most):
    counts = normlab.scaffolding.timing.count_operations(make(N), torch.randn(shape))
    assert sum(counts.values()) <= most
    assert counts["linalg_vector_norm"] == 1 and counts["mean"] == 1  # statistics once
    torch_counts = normlab.scaffolding.timing.count_operations(make(nn), torch.randn(shape))
    assert sum(torch_counts.values()) < sum(counts.values())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_input_is_computed_in_float32(dtype):
    ours, ref = twins(N.BatchNorm1d, nn.BatchNorm1d, 6)
    x = torch.randn(32, 6).to(dtype)
    y_ours, y_ref = ours(x), ref(x)
    assert y_ours.dtype == dtype
    torch.testing.assert_close(y_ours.float(), y_ref.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------------- instance norm

IN_CASES = [
    (N.InstanceNorm1d, nn.InstanceNorm1d, (4, 3, 7)),
    (N.InstanceNorm1d, nn.InstanceNorm1d, (3, 7)),  # unbatched
    (N.InstanceNorm2d, nn.InstanceNorm2d, (4, 3, 5, 2)),
    (N.InstanceNorm2d, nn.InstanceNorm2d, (3, 5, 2)),
    (N.InstanceNorm3d, nn.InstanceNorm3d, (2, 3, 2, 3, 2)),
]
IN_OPTIONS = [
    {},
    {"affine": True},
    {"track_running_stats": True},
    {"affine": True, "track_running_stats": True, "momentum": 0.3},
    {"track_running_stats": True, "momentum": None},
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("options", IN_OPTIONS, ids=str)
@pytest.mark.parametrize("ours_cls, ref_cls, shape", IN_CASES, ids=lambda c: str(c))
def test_instance_norm_matches_torch(ours_cls, ref_cls, shape, options, dtype, device):
    channels = shape[1] if len(shape) == ours_cls._batched_rank else shape[0]
    ours, ref = twins(ours_cls, ref_cls, channels, dtype=dtype, device=device, **options)
    x = run_steps(ours, ref, shape, dtype, device)
    ours.eval(), ref.eval()
    close(ours(x), ref(x), dtype)
    compare_state(ours, ref, dtype)


def test_instance_norm_defaults_and_running_statistics():
    m = N.InstanceNorm2d(3)
    assert (m.affine, m.track_running_stats, m.weight, m.running_mean) == (False, False, None, None)
    # PyTorch's _test_InstanceNorm_general: with momentum 1 the running mean is the channel
    # mean over everything, the running variance the batch average of the per-instance
    # unbiased variances; num_batches_tracked does not move
    m = N.InstanceNorm1d(3, track_running_stats=True, momentum=1.0)
    x = torch.randn(5, 3, 8) * 2 + 1
    m(x)
    torch.testing.assert_close(m.running_mean, x.mean((0, 2)))
    torch.testing.assert_close(m.running_var, x.var(2, correction=1).mean(0))
    assert m.num_batches_tracked.item() == 0
    frozen = N.InstanceNorm1d(3, track_running_stats=True, momentum=None)
    frozen(x)
    torch.testing.assert_close(frozen.running_mean, torch.zeros(3))  # momentum None freezes


def test_instance_norm_train_equals_eval_without_tracking():
    m = N.InstanceNorm2d(3, affine=True)
    x = torch.randn(2, 3, 4, 4)
    y = m(x)
    torch.testing.assert_close(m.eval()(x), y)
    torch.testing.assert_close(y, N.normalize(x, (2, 3)))


# ---------------------------------------------------------------- layer and group norm

LN_CASES = [((4, 6), 6), ((3, 4, 5), (5,)), ((3, 4, 5), (4, 5)), ((2, 3, 4, 5), [3, 4, 5])]
LN_OPTIONS = [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-3}]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("options", LN_OPTIONS, ids=str)
@pytest.mark.parametrize("shape, normalized_shape", LN_CASES, ids=str)
def test_layer_norm_matches_torch(shape, normalized_shape, options, dtype, device):
    ours, ref = twins(
        N.LayerNorm, nn.LayerNorm, normalized_shape, dtype=dtype, device=device, **options
    )
    assert ours.normalized_shape == ref.normalized_shape
    x = run_steps(ours, ref, shape, dtype, device)
    close(ours.eval()(x), ref.eval()(x), dtype)


GN_CASES = [
    ((4, 12), 3),
    ((4, 6, 5), 2),
    ((3, 6, 4, 4), 1),
    ((3, 6, 4, 4), 6),
    ((2, 8, 3, 2, 2), 4),
]
GN_OPTIONS = [{}, {"affine": False}, {"eps": 1e-3}]
if TORCH_HAS_BIAS_FLAG:
    GN_OPTIONS.append({"bias": False})


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("options", GN_OPTIONS, ids=str)
@pytest.mark.parametrize("shape, groups", GN_CASES, ids=str)
def test_group_norm_matches_torch(shape, groups, options, dtype, device):
    ours, ref = twins(
        N.GroupNorm, nn.GroupNorm, groups, shape[1], dtype=dtype, device=device, **options
    )
    x = run_steps(ours, ref, shape, dtype, device)
    close(ours.eval()(x), ref.eval()(x), dtype)


def test_functional_forms_match_torch_functional(device):
    x = torch.randn(4, 6, 5, device=device, dtype=torch.float64)
    w, b = torch.rand(6, device=device, dtype=x.dtype), torch.randn(6, device=device, dtype=x.dtype)
    rm, rv = (
        torch.randn(6, device=device, dtype=x.dtype),
        torch.rand(6, device=device, dtype=x.dtype) + 0.5,
    )
    for training in (True, False):
        ours_rm, ref_rm, ours_rv, ref_rv = rm.clone(), rm.clone(), rv.clone(), rv.clone()
        close(
            N.batch_norm(x, ours_rm, ours_rv, w, b, training, 0.3, 1e-4),
            F.batch_norm(x, ref_rm, ref_rv, w, b, training, 0.3, 1e-4),
            x.dtype,
        )
        close(ours_rm, ref_rm, x.dtype), close(ours_rv, ref_rv, x.dtype)
    for use_input_stats in (True, False):
        ours_rm, ref_rm, ours_rv, ref_rv = rm.clone(), rm.clone(), rv.clone(), rv.clone()
        close(
            N.instance_norm(x, ours_rm, ours_rv, w, b, use_input_stats, 0.3, 1e-4),
            F.instance_norm(x, ref_rm, ref_rv, w, b, use_input_stats, 0.3, 1e-4),
            x.dtype,
        )
        close(ours_rm, ref_rm, x.dtype), close(ours_rv, ref_rv, x.dtype)
    close(N.group_norm(x, 3, w, b, 1e-4), F.group_norm(x, 3, w, b, 1e-4), x.dtype)
    close(N.group_norm(x, 2, None, b), F.group_norm(x, 2, None, b), x.dtype)
    close(N.group_norm(x, 2, w, None), F.group_norm(x, 2, w, None), x.dtype)
    lw, lb = (
        torch.rand(6, 5, dtype=x.dtype, device=device),
        torch.randn(5, dtype=x.dtype, device=device),
    )
    close(N.layer_norm(x, (6, 5), lw), F.layer_norm(x, (6, 5), lw), x.dtype)
    close(N.layer_norm(x, 5, None, lb), F.layer_norm(x, [5], None, lb), x.dtype)


# ------------------------------------------------------------- hand-derived backward


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 3, 2)])
@pytest.mark.parametrize("affine", ["weight+bias", "weight", "none"])
def test_batch_norm_function_gradcheck_and_gradgradcheck(shape, affine):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True) * 2 + 1
    w = torch.rand(shape[1], dtype=torch.float64) + 0.5
    b = torch.randn(shape[1], dtype=torch.float64)
    w = w.requires_grad_() if affine != "none" else None
    b = b.requires_grad_() if affine == "weight+bias" else None
    inputs = tuple(t for t in (x, w, b) if t is not None)

    def fn(*args):
        it = iter(args)
        xx = next(it)
        ww = next(it) if w is not None else None
        bb = next(it) if b is not None else None
        return N.BatchNormFunction.apply(xx, ww, bb, 1e-5)[0]

    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("shape, groups", [((3, 6, 4), 1), ((3, 6, 4), 2), ((3, 6, 4), 6)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_function_gradcheck_and_gradgradcheck(shape, groups, affine):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    params = (
        (torch.rand(6, dtype=torch.float64) + 0.5).requires_grad_(),
        torch.randn(6, dtype=torch.float64, requires_grad=True),
    )
    inputs = (x, *params) if affine else (x,)

    def fn(xx, *p):
        w, b = p if p else (None, None)
        return N.GroupNormFunction.apply(xx, groups, w, b, 1e-5)[0]

    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)


def test_layer_norm_supports_a_gradient_penalty(device):
    # WGAN-GP differentiates the input gradient: double backward through layer norm
    torch.manual_seed(1)
    ours = nn.Sequential(nn.Linear(4, 8), N.LayerNorm(8), nn.Tanh(), nn.Linear(8, 1)).to(device)
    ref = copy.deepcopy(ours)
    ref[1] = nn.LayerNorm(8).to(device)
    ref[1].load_state_dict(ours[1].state_dict())
    x = torch.randn(5, 4, device=device)
    for net in (ours, ref):
        xx = x.clone().requires_grad_()
        (g,) = torch.autograd.grad(net(xx).sum(), xx, create_graph=True)
        (g.norm(dim=1) - 1).pow(2).mean().backward()
    for p_ours, p_ref in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p_ours.grad, p_ref.grad, rtol=1e-4, atol=1e-5)


def test_backward_pieces_compose_to_the_autograd_gradient():
    # the pieces a synchronized batch norm exchanges between processes
    x = torch.randn(5, 3, 4, dtype=torch.float64, requires_grad=True)
    w, b = torch.rand(3, dtype=torch.float64) + 0.5, torch.randn(3, dtype=torch.float64)
    dy = torch.randn_like(x)
    mean, var = N.batch_norm_stats(x.detach())
    invstd = torch.rsqrt(var + 1e-5)
    torch.testing.assert_close(
        N.batch_norm_elemt(x.detach(), mean, invstd, w, b),
        F.batch_norm(x.detach(), None, None, w, b, True, 0.0, 1e-5),
    )
    sum_dy, sum_dy_xmu = N.batch_norm_backward_reduce(dy, x.detach(), mean)
    grad = N.batch_norm_backward_elemt(dy, x.detach(), mean, invstd, w, sum_dy, sum_dy_xmu, 20)
    wr, br = w.clone().requires_grad_(), b.clone().requires_grad_()
    expected = torch.autograd.grad(F.batch_norm(x, None, None, wr, br, True), (x, wr, br), dy)
    torch.testing.assert_close(grad, expected[0])
    torch.testing.assert_close(sum_dy_xmu * invstd, expected[1])
    torch.testing.assert_close(sum_dy, expected[2])
    rm, rv = torch.zeros(3, dtype=x.dtype), torch.ones(3, dtype=x.dtype)
    N.update_running_stats(rm, rv, mean, var, 20, 0.1)
    torch.testing.assert_close(rv, 0.9 + 0.1 * var * 20 / 19)


# ------------------------------------------------------------------------------ laws

shapes = st.tuples(
    st.integers(2, 4), st.sampled_from([2, 4, 6]), st.integers(2, 4), st.integers(2, 4)
)


@given(shape=shapes, shift=st.floats(-50, 50), scale=st.floats(0.1, 20), seed=st.integers(0, 99))
def test_outputs_are_invariant_to_shifting_and_scaling_along_their_axes(shape, shift, scale, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, dtype=torch.float64, generator=g)
    n, c = shape[:2]
    # a different shift and positive scale for every set of elements that share statistics
    per_channel = (
        torch.randn(1, c, 1, 1, generator=g, dtype=x.dtype) * shift,
        torch.rand(1, c, 1, 1, generator=g, dtype=x.dtype) * scale + 0.1,
    )
    per_sample = (
        torch.randn(n, 1, 1, 1, generator=g, dtype=x.dtype) * shift,
        torch.rand(n, 1, 1, 1, generator=g, dtype=x.dtype) * scale + 0.1,
    )
    per_instance = (
        torch.randn(n, c, 1, 1, generator=g, dtype=x.dtype) * shift,
        torch.rand(n, c, 1, 1, generator=g, dtype=x.dtype) * scale + 0.1,
    )
    eps = 1e-12  # tiny, so that scaling the input does not change eps's relative weight
    cases = [
        (lambda t: N.batch_norm(t, None, None, training=True, eps=eps), per_channel),
        (lambda t: N.layer_norm(t, shape[1:], eps=eps), per_sample),
        (lambda t: N.group_norm(t, 2, eps=eps), per_sample),
        (lambda t: N.instance_norm(t, eps=eps), per_instance),
    ]
    for layer, (b, a) in cases:
        torch.testing.assert_close(layer(a * x + b), layer(x), rtol=1e-7, atol=1e-7)


@given(shape=shapes, seed=st.integers(0, 99))
def test_group_norm_with_one_group_is_layer_norm_and_with_c_groups_is_instance_norm(shape, seed):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    c = shape[1]
    gn1 = N.GroupNorm(1, c, affine=False)(x)
    torch.testing.assert_close(gn1, N.LayerNorm(shape[1:], elementwise_affine=False)(x))
    torch.testing.assert_close(N.GroupNorm(c, c, affine=False)(x), N.InstanceNorm2d(c)(x))


@given(shape=shapes, groups=st.sampled_from([1, 2]), seed=st.integers(0, 99))
def test_every_layer_is_normalize_over_its_axes(shape, groups, seed):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    n, c, h, w = shape
    torch.testing.assert_close(
        N.batch_norm(x, None, None, training=True), N.normalize(x, (0, 2, 3))
    )
    torch.testing.assert_close(N.layer_norm(x, (c, h, w)), N.normalize(x, (1, 2, 3)))
    torch.testing.assert_close(N.instance_norm(x), N.normalize(x, (2, 3)))
    torch.testing.assert_close(
        N.group_norm(x, groups), N.normalize(x.view(n, groups, -1), 2).view(shape)
    )


def test_normalized_slices_have_mean_zero_and_unit_variance():
    # PyTorch's _test_*Norm_general checks, with a tiny eps
    x = torch.randn(4, 6, 5, 5, dtype=torch.float64) * 3 + 7
    y = N.GroupNorm(3, 6, eps=1e-12, affine=False)(x).view(4, 3, -1)
    torch.testing.assert_close(y.mean(-1), torch.zeros(4, 3, dtype=x.dtype))
    torch.testing.assert_close(y.var(-1, correction=0), torch.ones(4, 3, dtype=x.dtype))


# ----------------------------------------------------------- modules mirror torch.nn

MODULE_PAIRS = [
    (N.BatchNorm1d, nn.BatchNorm1d, (5,)),
    (N.BatchNorm2d, nn.BatchNorm2d, (5,)),
    (N.BatchNorm3d, nn.BatchNorm3d, (5,)),
    (N.InstanceNorm1d, nn.InstanceNorm1d, (5,)),
    (N.InstanceNorm2d, nn.InstanceNorm2d, (5,)),
    (N.InstanceNorm3d, nn.InstanceNorm3d, (5,)),
    (N.LayerNorm, nn.LayerNorm, ((5, 3),)),
    (N.GroupNorm, nn.GroupNorm, (5, 10)),
]


@pytest.mark.parametrize("ours_cls, ref_cls, args", MODULE_PAIRS, ids=lambda c: str(c))
def test_constructor_signature_repr_parameters_and_buffers_mirror_torch(ours_cls, ref_cls, args):
    ours_sig, ref_sig = inspect.signature(ours_cls), inspect.signature(ref_cls)
    for name, param in ref_sig.parameters.items():
        assert name in ours_sig.parameters, name
        assert ours_sig.parameters[name].default == param.default, name
        assert ours_sig.parameters[name].kind == param.kind, name
    options = [{}, {"dtype": torch.float64}]
    if ours_cls in (N.InstanceNorm1d, N.InstanceNorm2d, N.InstanceNorm3d):
        options.append({"affine": True, "track_running_stats": True})
    for kwargs in options:
        ours, ref = ours_cls(*args, **kwargs), ref_cls(*args, **kwargs)
        assert repr(ours) == repr(ref)
        assert ours.extra_repr() == ref.extra_repr()
        for (n1, p1), (n2, p2) in itertools.zip_longest(
            itertools.chain(ours.named_parameters(), ours.named_buffers()),
            itertools.chain(ref.named_parameters(), ref.named_buffers()),
        ):
            assert (n1, p1.dtype, p1.shape, p1.requires_grad) == (
                n2,
                p2.dtype,
                p2.shape,
                p2.requires_grad,
            )
            assert torch.equal(p1, p2)
        assert ours._version == ref._version


@pytest.mark.parametrize("ours_cls, ref_cls, args", MODULE_PAIRS, ids=lambda c: str(c))
def test_state_dicts_load_across_in_both_directions(ours_cls, ref_cls, args):
    kwargs = (
        {"affine": True, "track_running_stats": True} if "Instance" in ours_cls.__name__ else {}
    )
    ref, ours = ref_cls(*args, **kwargs), ours_cls(*args, **kwargs)
    randomize_affine(ref)
    for module in (ref, ours):
        for buffer in module.buffers():
            if buffer.is_floating_point():
                buffer.uniform_(0.5, 2.0)
            else:
                buffer.fill_(7)
    original_ref = copy.deepcopy(ref.state_dict())
    ours.load_state_dict(ref.state_dict())  # torch -> normlab
    compare_state(ours, ref, torch.float32)
    fresh_ref = ref_cls(*args, **kwargs)
    fresh_ref.load_state_dict(ours.state_dict())  # normlab -> torch
    for key, value in original_ref.items():
        assert torch.equal(fresh_ref.state_dict()[key], value)
    # also inside a model
    model_ref = nn.Sequential(nn.Identity(), ref_cls(*args, **kwargs))
    model_ours = nn.Sequential(nn.Identity(), ours_cls(*args, **kwargs))
    model_ours.load_state_dict(model_ref.state_dict())
    assert model_ref.state_dict()._metadata["1"] == model_ours.state_dict()._metadata["1"]


def test_old_state_dicts_without_num_batches_tracked_still_load():
    ref = nn.BatchNorm1d(3)
    state = ref.state_dict()
    del state["num_batches_tracked"]
    state._metadata[""]["version"] = 1  # saved before num_batches_tracked existed
    ours = N.BatchNorm1d(3)
    ours.num_batches_tracked.fill_(5)
    ours.load_state_dict(state)
    assert ours.num_batches_tracked.item() == 0
    state._metadata[""]["version"] = 2
    with pytest.raises(RuntimeError, match="num_batches_tracked"):
        N.BatchNorm1d(3).load_state_dict(state)


def test_pre_0_4_instance_norm_checkpoints_with_running_stats_are_refused():
    state = nn.InstanceNorm1d(3, track_running_stats=True).state_dict()
    del state._metadata[""]["version"]
    with pytest.raises(RuntimeError, match="Unexpected running stats buffer"):
        N.InstanceNorm1d(3).load_state_dict(state)


def test_reset_parameters_and_factory_kwargs():
    bn = N.BatchNorm2d(4, dtype=torch.float64)
    assert bn.weight.dtype == bn.running_var.dtype == torch.float64
    assert bn.num_batches_tracked.dtype == torch.long
    with torch.no_grad():
        bn.weight.fill_(3), bn.running_mean.fill_(2)
    bn(torch.randn(3, 4, 2, 2, dtype=torch.float64))
    bn.reset_parameters()
    assert torch.equal(bn.weight, torch.ones(4, dtype=torch.float64))
    assert torch.equal(bn.running_mean, torch.zeros(4, dtype=torch.float64))
    assert bn.num_batches_tracked.item() == 0
    # .half() / .double() convert floating buffers and keep the counter an integer
    assert bn.half().num_batches_tracked.dtype == torch.long


def test_training_a_network_gives_the_same_losses_as_torch():
    torch.manual_seed(0)

    def net(norm2d, norm1d):
        return nn.Sequential(
            nn.Conv2d(1, 4, 3),
            norm2d(4),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * 6 * 6, 8),
            norm1d(8),
            nn.ReLU(),
            nn.Linear(8, 3),
        )

    ref = net(nn.BatchNorm2d, nn.BatchNorm1d).double()
    ours = net(N.BatchNorm2d, N.BatchNorm1d).double()
    ours.load_state_dict(ref.state_dict())
    x, y = torch.randn(16, 1, 8, 8, dtype=torch.float64), torch.randint(0, 3, (16,))
    losses = {}
    for name, model in (("ref", ref), ("ours", ours)):
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        losses[name] = []
        for _ in range(5):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[name].append(loss.item())
    assert losses["ours"] == pytest.approx(losses["ref"], rel=1e-10)
    compare_state(ours, ref, torch.float64)


def test_the_layers_and_functionals_are_exported_from_normlab():
    # the top level holds what a user reaches for (the layers and their functional forms);
    # the kernels and their pieces stay in normlab.normalization (issue 13)
    layers = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "InstanceNorm1d",
              "InstanceNorm2d", "InstanceNorm3d", "GroupNorm", "batch_norm", "layer_norm",
              "instance_norm", "group_norm", "normalize"}
    assert layers <= set(N.__all__) and layers <= set(normlab.__all__)
    for name in set(normlab.__all__) & set(N.__all__):
        assert getattr(normlab, name) is getattr(N, name)


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "call, error, message",
    [
        # wrong rank, for each class
        (
            lambda: N.BatchNorm1d(3)(torch.randn(2, 3, 4, 5)),
            ValueError,
            "BatchNorm1d expects a 2-D or 3-D",
        ),
        (
            lambda: N.BatchNorm2d(3)(torch.randn(2, 3)),
            ValueError,
            r"BatchNorm2d expects a 4-D input \(N, C, H, W\)",
        ),
        (
            lambda: N.BatchNorm3d(3)(torch.randn(2, 3, 4, 4)),
            ValueError,
            "BatchNorm3d expects a 5-D",
        ),
        (
            lambda: N.InstanceNorm1d(3)(torch.randn(3)),
            ValueError,
            "InstanceNorm1d expects a 2-D .unbatched. or 3-D",
        ),
        (
            lambda: N.InstanceNorm2d(3)(torch.randn(3, 5)),
            ValueError,
            "InstanceNorm2d expects a 3-D",
        ),
        (
            lambda: N.InstanceNorm3d(3)(torch.randn(3, 5, 5)),
            ValueError,
            "InstanceNorm3d expects a 4-D",
        ),
        (
            lambda: N.GroupNorm(1, 3)(torch.randn(3)),
            ValueError,
            "at least 2 dimensions",
        ),
        (lambda: N.group_norm(torch.randn(3), 1), ValueError, "at least 2 dimensions"),
        (lambda: N.batch_norm(torch.randn(3), None, None, training=True), ValueError, "at least 2"),
        (lambda: N.instance_norm(torch.randn(2, 3)), ValueError, "at least one spatial"),
        # a training batch with a single value per channel
        (lambda: N.BatchNorm1d(3)(torch.randn(1, 3)), ValueError, "more than 1 value per channel"),
        (
            lambda: N.BatchNorm2d(3)(torch.randn(1, 3, 1, 1)),
            ValueError,
            r"input size \(1, 3, 1, 1\)",
        ),
        (
            lambda: N.InstanceNorm1d(3)(torch.randn(2, 3, 1)),
            ValueError,
            "more than 1 spatial element",
        ),
        (lambda: N.GroupNorm(4, 4)(torch.randn(1, 4)), ValueError, "single value"),
        # channels
        (
            lambda: N.BatchNorm2d(3)(torch.randn(2, 4, 3, 3)),
            RuntimeError,
            r"BatchNorm2d\(3\) got an input with 4 channels",
        ),
        (lambda: N.GroupNorm(2, 4)(torch.randn(2, 6, 3)), RuntimeError, "6 channels"),
        (lambda: N.InstanceNorm1d(3, affine=True)(torch.randn(2, 4, 5)), ValueError, "4 channels"),
        (
            lambda: N.GroupNorm(3, 10),
            ValueError,
            r"num_channels \(10\) must be divisible by num_groups \(3\)",
        ),
        (
            lambda: N.group_norm(torch.randn(2, 6, 3), 4),
            RuntimeError,
            "not divisible by num_groups=4",
        ),
        (
            lambda: N.batch_norm(torch.randn(2, 3), torch.zeros(4), torch.ones(4)),
            RuntimeError,
            r"running_mean must have shape \(3,\)",
        ),
        (
            lambda: N.batch_norm(torch.randn(2, 3), None, None, torch.ones(4), training=True),
            RuntimeError,
            "weight must have shape",
        ),
        (lambda: N.batch_norm(torch.randn(2, 3), torch.zeros(3), None), ValueError, "both be None"),
        (
            lambda: N.batch_norm(torch.randn(2, 3), None, None),
            RuntimeError,
            "running_mean and running_var are None",
        ),
        (
            lambda: N.instance_norm(torch.randn(2, 3, 4), use_input_stats=False),
            RuntimeError,
            "are None",
        ),
        # normalized_shape
        (
            lambda: N.LayerNorm(4)(torch.randn(2, 5)),
            RuntimeError,
            r"normalized_shape=\[4\] requires an input of shape \[\*, 4\], got \[2, 5\]",
        ),
        (lambda: N.LayerNorm((3, 4))(torch.randn(3)), RuntimeError, "requires an input of shape"),
        (lambda: N.LayerNorm([]), ValueError, "non-empty sequence"),
        (lambda: N.LayerNorm(0), ValueError, "normalized_shape.i. must be a positive int"),
        (
            lambda: N.layer_norm(torch.randn(2, 3), 3, torch.ones(4)),
            RuntimeError,
            r"weight must have shape \(3,\)",
        ),
        # eps
        (lambda: N.BatchNorm1d(3, eps=0), ValueError, "eps must be > 0"),
        (lambda: N.LayerNorm(3, eps=-1e-5), ValueError, "eps must be > 0"),
        (lambda: N.GroupNorm(1, 3, eps=0.0), ValueError, "eps must be > 0"),
        (lambda: N.InstanceNorm2d(3, eps=0), ValueError, "eps must be > 0"),
        (
            lambda: N.batch_norm(torch.randn(4, 3), None, None, training=True, eps=0),
            ValueError,
            "eps must be > 0",
        ),
        (lambda: N.normalize(torch.randn(4, 3), 0, eps=0), ValueError, "eps must be > 0"),
        # non-floating input
        (
            lambda: N.BatchNorm1d(3)(torch.ones(4, 3, dtype=torch.long)),
            TypeError,
            "input must be a floating-point tensor",
        ),
        (lambda: N.LayerNorm(3)(torch.ones(4, 3, dtype=torch.int32)), TypeError, "floating-point"),
        (
            lambda: N.GroupNorm(1, 3)(torch.ones(4, 3, dtype=torch.bool)),
            TypeError,
            "floating-point",
        ),
        (
            lambda: N.InstanceNorm1d(3)(torch.ones(4, 3, 2, dtype=torch.long)),
            TypeError,
            "floating-point",
        ),
        (lambda: N.normalize([1.0, 2.0], 0), TypeError, "must be a torch.Tensor"),
        # other arguments
        (lambda: N.BatchNorm1d(0), ValueError, "num_features must be a positive int"),
        (lambda: N.BatchNorm1d(3.0), TypeError, "num_features must be an int"),
        (lambda: N.BatchNorm1d(3, momentum=1.5), ValueError, r"momentum must lie in \[0, 1\]"),
        (lambda: N.BatchNorm1d(3, affine=1), TypeError, "affine must be a bool"),
        (lambda: N.GroupNorm(0, 4), ValueError, "num_groups must be a positive int"),
        (lambda: N.normalize(torch.randn(2, 3), ()), ValueError, "non-empty"),
        (lambda: N.normalize(torch.randn(2, 3), (0, -2)), ValueError, "must not repeat"),
        (lambda: N.normalize(torch.randn(2, 3), 2), ValueError, "out of range for a 2-D input"),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_instance_norm_channel_mismatch_without_affine_only_warns_as_in_torch():
    x = torch.randn(2, 4, 5)
    with pytest.warns(UserWarning, match="num_features is unused since affine=False"):
        y = N.InstanceNorm1d(3)(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.testing.assert_close(y, nn.InstanceNorm1d(3)(x))


# ------------------------------------- issue 12: bad input that used to pass or mislead

_x, _c = torch.randn(4, 3), torch.ones(3)
_meta = torch.ones(3, device="meta")
INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    "call, error, message",
    [
        # non-finite or invalid eps (inf used to map every input to 0)
        (
            lambda: N.batch_norm(_x, None, None, training=True, eps=INF),
            ValueError,
            "eps must be a finite",
        ),
        (lambda: N.BatchNorm1d(3, eps=INF), ValueError, "eps must be a finite"),
        (lambda: N.LayerNorm(3, eps=INF), ValueError, "eps must be a finite"),
        (lambda: N.layer_norm(_x, (3,), eps=NAN), ValueError, "eps must not be NaN"),
        (lambda: N.group_norm(_x, 1, eps=-1.0), ValueError, "eps must be > 0"),
        (lambda: N.GroupNorm(1, 3, eps="1e-5"), TypeError, "eps must be a real number"),
        # non-bool flags ("no" is truthy and used to train)
        (
            lambda: N.batch_norm(_x, _c * 0, _c.clone(), training="no"),
            TypeError,
            "training must be a bool",
        ),
        (
            lambda: N.instance_norm(torch.randn(2, 3, 4), use_input_stats=1),
            TypeError,
            "use_input_stats must be a bool",
        ),
        # tensors on two devices: the message names the argument
        (
            lambda: N.batch_norm(_x, _meta, _meta, training=False),
            RuntimeError,
            "running_mean is on device meta",
        ),
        (
            lambda: N.batch_norm(_x, None, None, _meta, training=True),
            RuntimeError,
            "weight is on device meta",
        ),
        (lambda: N.layer_norm(_x, (3,), _meta), RuntimeError, "weight is on device meta but input"),
        (lambda: N.group_norm(_x, 1, None, _meta), RuntimeError, "bias is on device meta"),
        (
            lambda: N.BatchNorm2d(3, device="meta")(torch.randn(2, 3, 2, 2)),
            RuntimeError,
            "running_mean is on device meta but input is on device cpu",
        ),
        # the public building blocks check their arguments
        (
            lambda: N.batch_norm_stats(torch.randn(0, 3)),
            ValueError,
            "input of shape .0, 3. has no values",
        ),
        (
            lambda: N.batch_norm_stats(torch.randn(3)),
            ValueError,
            "batch_norm_stats expects an input of shape",
        ),
        (
            lambda: N.batch_norm_elemt(_x, torch.zeros(4), _c),
            ValueError,
            r"batch_norm_elemt: mean must have shape \(3,\)",
        ),
        (
            lambda: N.batch_norm_elemt(_x, torch.zeros(3, dtype=torch.long), _c),
            TypeError,
            "mean must be a floating-point tensor",
        ),
        (lambda: N.batch_norm_elemt(_x, _c, _meta), RuntimeError, "invstd is on device meta"),
        (
            lambda: N.batch_norm_backward_reduce(torch.randn(4, 1), _x, _c),
            ValueError,
            r"grad_output must have the input's shape \(4, 3\)",
        ),
        (
            lambda: N.batch_norm_backward_reduce(_x, _x, torch.zeros(1)),
            ValueError,
            r"mean must have shape \(3,\)",
        ),
        (
            lambda: N.batch_norm_backward_elemt(_x, _x, _c, _c, None, _c, _c, 0),
            ValueError,
            "count must be a number of values per channel >= 1",
        ),
        (
            lambda: N.batch_norm_backward_elemt(_x, _x, _c, _c, torch.ones(2), _c, _c, 4),
            ValueError,
            r"weight must have shape \(3,\)",
        ),
        (
            lambda: N.update_running_stats(_c.clone(), _c.clone(), _c, _c, 4, 1.5),
            ValueError,
            r"momentum must lie in \[0, 1\]",
        ),
        (
            lambda: N.update_running_stats(_c.clone(), _c.clone(), _c, _c, 1, 0.1),
            ValueError,
            "count must be a number of values per channel >= 2",
        ),
        (
            lambda: N.update_running_stats(_c.clone(), _c.clone(), torch.ones(4), _c, 4, 0.1),
            ValueError,
            r"mean must have shape \(3,\)",
        ),
        (
            lambda: N.update_running_stats(torch.ones(3, 1), _c.clone(), _c, _c, 4, 0.1),
            ValueError,
            "running_mean must be 1-D",
        ),
    ],
)
def test_bad_input_found_by_issue_12(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------ empty batches (issue 12)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda m: m.LayerNorm(5), (0, 5)),
        (lambda m: m.GroupNorm(2, 4), (0, 4, 2, 2)),
        (lambda m: m.BatchNorm1d(5), (0, 5, 2)),
        (lambda m: m.BatchNorm2d(3), (0, 3, 2, 2)),
    ],
)
def test_empty_batches_give_zero_gradients_and_a_connected_graph_like_torch(make, shape):
    ours, ref = make(N), make(nn)
    x_ours = torch.randn(shape, requires_grad=True)
    x_ref = x_ours.detach().clone().requires_grad_()
    out_ours, out_ref = ours(x_ours), ref(x_ref)
    assert out_ours.shape == out_ref.shape and out_ours.requires_grad
    out_ours.sum().backward()
    out_ref.sum().backward()
    assert x_ours.grad is not None and x_ours.grad.shape == x_ref.grad.shape
    for (name, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
        assert p.grad is not None, name  # zeros, not None: DDP reduces every gradient
        torch.testing.assert_close(p.grad, q.grad)
        assert not p.grad.any()
    for (name, b), (_, c) in zip(ours.named_buffers(), ref.named_buffers(), strict=True):
        torch.testing.assert_close(b, c, msg=name)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_of_an_empty_1d_input_returns_an_empty_tensor_like_torch(training):
    ours = N.batch_norm(torch.randn(0), torch.zeros(0), torch.ones(0), training=training)
    ref = F.batch_norm(torch.randn(0), torch.zeros(0), torch.ones(0), training=training)
    assert ours.shape == ref.shape == (0,)
    with pytest.raises(ValueError, match="at least 2 dimensions"):  # non-empty 1-D: no channel
        N.batch_norm(torch.randn(3), torch.zeros(3), torch.ones(3), training=training)


def test_layer_norm_keeps_bfloat16_with_float32_parameters_like_torch():
    x = torch.randn(4, 8, dtype=torch.bfloat16)
    ours, ref = N.LayerNorm(8), nn.LayerNorm(8)
    assert ours(x).dtype == ref(x).dtype == torch.bfloat16
    torch.testing.assert_close(ours(x), ref(x), atol=2e-2, rtol=2e-2)  # bfloat16: 8-bit mantissa


# ------------------------------------------------------ autograd transforms (issue 12)

TRANSFORM_LAYERS = [
    (lambda m: m.BatchNorm1d(3, track_running_stats=False), (4, 3)),
    (lambda m: m.BatchNorm2d(3).eval(), (2, 3, 2, 2)),
    (lambda m: m.LayerNorm(5), (3, 5)),
    (lambda m: m.LayerNorm((2, 5), elementwise_affine=False), (3, 2, 5)),
    (lambda m: m.InstanceNorm2d(2, affine=True), (2, 2, 3, 3)),
    (lambda m: m.GroupNorm(2, 4), (3, 4, 5)),
]


@pytest.mark.parametrize("make, shape", TRANSFORM_LAYERS)
def test_vmap_jvp_jacrev_and_batched_gradients_match_torch(make, shape):
    torch.manual_seed(0)
    ours, ref = make(N).double(), make(nn).double()
    with torch.no_grad():
        for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
            p.copy_(torch.randn_like(p))
            q.copy_(p)
    x = torch.randn(shape, dtype=torch.float64)
    stacked = torch.stack([x, 3 * x - 1])
    torch.testing.assert_close(torch.func.vmap(ours)(stacked), torch.func.vmap(ref)(stacked))
    t = torch.randn_like(x)
    torch.testing.assert_close(torch.func.jvp(ours, (x,), (t,)), torch.func.jvp(ref, (x,), (t,)))
    torch.testing.assert_close(torch.func.jacrev(ours)(x), torch.func.jacrev(ref)(x))
    import torch.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        tangent = fwAD.unpack_dual(ours(fwAD.make_dual(x, t))).tangent
        expected = fwAD.unpack_dual(ref(fwAD.make_dual(x, t))).tangent
    torch.testing.assert_close(tangent, expected)
    xr = x.clone().requires_grad_()
    grads = torch.randn(2, *ours(x).shape, dtype=torch.float64)
    (got,) = torch.autograd.grad(ours(xr), xr, grads, is_grads_batched=True)
    (want,) = torch.autograd.grad(ref(xr), xr, grads, is_grads_batched=True)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(
        torch.autograd.functional.jacobian(ours, x, vectorize=True),
        torch.autograd.functional.jacobian(ref, x, vectorize=True),
    )


def test_per_sample_gradients_through_functional_call_match_a_loop():
    model = nn.Sequential(
        nn.Linear(4, 6), N.LayerNorm(6), nn.ReLU(), N.GroupNorm(2, 6), nn.Linear(6, 1)
    )
    x, y = torch.randn(5, 4), torch.randn(5, 1)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xi, yi):
        return (torch.func.functional_call(model, p, (xi.unsqueeze(0),)) - yi).pow(2).sum()

    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(params, x, y)
    for i in range(5):
        model.zero_grad()
        loss(dict(model.named_parameters()), x[i], y[i]).backward()
        for name, p in model.named_parameters():
            torch.testing.assert_close(per_sample[name][i], p.grad, msg=name)


def test_training_batch_norm_under_vmap_raises_as_torch_and_works_without_running_stats():
    stacked = torch.randn(2, 4, 3)
    with pytest.raises(RuntimeError):
        torch.func.vmap(nn.BatchNorm1d(3))(stacked)
    with pytest.raises(RuntimeError):  # the in-place running-stat update of a batched value
        torch.func.vmap(N.BatchNorm1d(3))(stacked)
    ours, ref = (
        N.BatchNorm1d(3, track_running_stats=False),
        nn.BatchNorm1d(3, track_running_stats=False),
    )
    torch.testing.assert_close(torch.func.vmap(ours)(stacked), torch.func.vmap(ref)(stacked))
