"""normlab.sync_batchnorm: against batch norm on the concatenated batch, on 1, 2 and 3 processes.

The multi-process tests spawn gloo process groups on the CPU through
normlab.scaffolding.launch.launch. Starting a process costs seconds, so each launch runs many
cases (functools.partial of the library's workers) and the tests below read its results from
a module-scoped fixture.
"""

from __future__ import annotations

import functools
import inspect
import math
import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import normlab
from normlab.examples.sync_workers import forward_on_each_rank, shard_steps
from normlab.scaffolding.launch import launch, run_calls
from normlab.sync_batchnorm import batch_moments, stats_from_moments

# float32: the synchronized and the reference layer sum the same numbers in different orders
# (per shard then across shards, against one pass), a few float32 ulps (1.2e-7) times the
# O(1) values; 1e-5 is the bound. float64 agrees to ~1e-15.
TOL32 = {"rtol": 1e-5, "atol": 1e-5}
TOL64 = {"rtol": 1e-10, "atol": 1e-10}
# every batch-norm input rank, (N, C, *) with N divisible into the uneven shards below
SHAPES = {2: (8, 3), 3: (8, 3, 5), 4: (8, 3, 4, 5), 5: (8, 3, 2, 3, 4)}
TORCH_BN = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}
STEPS = 3


def batches(shape, dtype=torch.float32, steps=STEPS, seed=0, offset=2.0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(shape, generator=g, dtype=dtype) * scale + offset for _ in range(steps)]
    gs = [torch.randn(shape, generator=g, dtype=dtype) for _ in range(steps)]
    return xs, gs


def affine_(module: nn.Module, seed: int = 1) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if module.weight is not None:
            module.weight.copy_(torch.rand(module.weight.shape, generator=g) + 0.5)
            module.bias.copy_(torch.rand(module.bias.shape, generator=g) - 0.5)
    return module


def reference(ndim, xs, gs, dtype=torch.float32, **kwargs):
    """torch.nn.BatchNorm on the whole batch: outputs, input gradients, final state."""
    ref = affine_(TORCH_BN[ndim](xs[0].shape[1], dtype=dtype, **kwargs))
    outs, grads = [], []
    for x, g in zip(xs, gs, strict=True):
        x = x.clone().requires_grad_()
        out = ref(x)
        out.backward(g)
        outs.append(out.detach())
        grads.append(x.grad)
    return ref, outs, grads


def assert_matches_full_batch(results, name, ref, outs, grads, tol):
    """The ranks' pieces, concatenated (outputs, input gradients) or summed (parameter
    gradients, as DDP's all-reduce does), equal the reference; buffers equal on every rank."""
    for k in range(len(outs)):
        torch.testing.assert_close(
            torch.cat([r[name]["output"][k] for r in results]), outs[k], **tol
        )
        torch.testing.assert_close(
            torch.cat([r[name]["grad_input"][k] for r in results]), grads[k], **tol
        )
    if ref.weight is not None:
        torch.testing.assert_close(
            sum(r[name]["grad_weight"] for r in results), ref.weight.grad, **tol
        )
        torch.testing.assert_close(sum(r[name]["grad_bias"] for r in results), ref.bias.grad, **tol)
    for r in results:
        for key in ("running_mean", "running_var", "num_batches_tracked"):
            expected = getattr(ref, key)
            if expected is None:
                assert r[name][key] is None
            else:
                torch.testing.assert_close(r[name][key], expected, **tol)


def sync_and_plain(ndim, channels, dtype=torch.float32, **kwargs):
    sync = affine_(normlab.SyncBatchNorm(channels, dtype=dtype, **kwargs))
    plain_cls = {2: normlab.BatchNorm1d, 3: normlab.BatchNorm1d, 4: normlab.BatchNorm2d}
    plain = affine_(plain_cls.get(ndim, normlab.BatchNorm3d)(channels, dtype=dtype, **kwargs))
    return {"sync": sync, "plain": plain}


# ----------------------------------------------------------- the cases each launch runs

TWO_SIZES = [5, 3]  # uneven on purpose
THREE_SIZES = [4, 3, 1]  # one rank with a single sample
LARGE_MEAN = 1e4


def large_mean_input():
    return torch.randn(16, 2, 6, 6, generator=torch.Generator().manual_seed(0)) + LARGE_MEAN


def two_process_calls():
    calls = {}
    for ndim, shape in SHAPES.items():
        xs, gs = batches(shape)
        calls[f"{ndim}d"] = functools.partial(
            shard_steps, sync_and_plain(ndim, shape[1]), xs, gs, TWO_SIZES
        )
    xs, gs = batches(SHAPES[4], torch.float64)
    calls["float64"] = functools.partial(
        shard_steps, sync_and_plain(4, 3, torch.float64), xs, gs, TWO_SIZES
    )
    xs, gs = batches(SHAPES[4])
    calls["momentum_none"] = functools.partial(
        shard_steps, sync_and_plain(4, 3, momentum=None), xs, gs, TWO_SIZES
    )
    calls["no_affine_no_tracking"] = functools.partial(
        shard_steps,
        sync_and_plain(4, 3, affine=False, track_running_stats=False),
        xs,
        gs,
        TWO_SIZES,
    )
    trained = affine_(normlab.SyncBatchNorm(3))
    with torch.no_grad():
        trained.running_mean.uniform_(-1, 1)
        trained.running_var.uniform_(0.5, 2)
    calls["eval"] = functools.partial(
        shard_steps, {"sync": trained}, xs, gs, TWO_SIZES, train=False
    )
    x = large_mean_input()
    calls["large_mean"] = functools.partial(
        shard_steps, {"sync": normlab.SyncBatchNorm(2)}, [x], [torch.randn_like(x)], [10, 6]
    )
    calls["torch_sync_on_cpu"] = functools.partial(
        shard_steps, {"torch": nn.SyncBatchNorm(3)}, xs[:1], gs[:1], TWO_SIZES, catch_errors=True
    )
    bn = normlab.SyncBatchNorm(3)
    good = torch.randn(4, 3, 2, 2)
    calls["err_empty"] = functools.partial(forward_on_each_rank, bn, [good, good[:0]])
    calls["err_channels"] = functools.partial(
        forward_on_each_rank, bn, [good, torch.randn(4, 4, 2, 2)]
    )
    calls["err_models_differ"] = functools.partial(
        forward_on_each_rank,
        [normlab.SyncBatchNorm(3), normlab.SyncBatchNorm(4)],
        [good, torch.randn(4, 4, 2, 2)],
    )
    calls["err_input_rank"] = functools.partial(forward_on_each_rank, bn, [good, torch.randn(3)])
    calls["err_ndim_differ"] = functools.partial(
        forward_on_each_rank, bn, [good, torch.randn(4, 3, 5)]
    )
    calls["err_not_floating"] = functools.partial(
        forward_on_each_rank, bn, [torch.ones(4, 3, 2, 2, dtype=torch.long), good]
    )
    # only rank 0's input requires grad: its backward would all-reduce alone and hang
    calls["err_requires_grad"] = functools.partial(
        forward_on_each_rank, bn, [good.clone().requires_grad_(), good]
    )
    calls["ok_after_errors"] = functools.partial(forward_on_each_rank, bn, [good, good[:1]])
    return calls


def three_process_calls():
    calls = {}
    for ndim in (2, 4):
        xs, gs = batches(SHAPES[ndim])
        # (no plain batch norm here: on the rank with one sample and no spatial extent it
        # would raise, having one value per channel)
        sync = {"sync": sync_and_plain(ndim, 3)["sync"]}
        calls[f"{ndim}d"] = functools.partial(shard_steps, sync, xs, gs, THREE_SIZES)
    xs, gs = batches(SHAPES[4])
    calls["groups"] = functools.partial(
        shard_steps, sync_and_plain(4, 3), xs, gs, THREE_SIZES, process_groups=[[0, 2], [1]]
    )
    return calls


def run_launch(calls, world_size):
    names = list(calls)
    per_rank = launch(run_calls, world_size, [calls[n] for n in names], timeout=240)
    return {name: [rank[i] for rank in per_rank] for i, name in enumerate(names)}


@pytest.fixture(scope="module")
def two():
    return run_launch(two_process_calls(), 2)


@pytest.fixture(scope="module")
def three():
    return run_launch(three_process_calls(), 3)


# ---------------------------------------------------------------- two and three processes


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("ndim", sorted(SHAPES))
def test_two_processes_equal_batch_norm_on_the_whole_batch(two, ndim):
    xs, gs = batches(SHAPES[ndim])
    ref, outs, grads = reference(ndim, xs, gs)
    assert_matches_full_batch(two[f"{ndim}d"], "sync", ref, outs, grads, TOL32)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("ndim", sorted(SHAPES))
def test_plain_batch_norm_per_process_does_not(two, ndim):
    xs, gs = batches(SHAPES[ndim])
    _, outs, _ = reference(ndim, xs, gs)
    plain = torch.cat([r["plain"]["output"][0] for r in two[f"{ndim}d"]])
    assert (plain - outs[0]).abs().max() > 1e-2


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_float64_agrees_to_rounding(two):
    xs, gs = batches(SHAPES[4], torch.float64)
    ref, outs, grads = reference(4, xs, gs, torch.float64)
    assert_matches_full_batch(two["float64"], "sync", ref, outs, grads, TOL64)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cumulative_average_and_no_affine_no_tracking(two):
    xs, gs = batches(SHAPES[4])
    ref, outs, grads = reference(4, xs, gs, momentum=None)
    assert_matches_full_batch(two["momentum_none"], "sync", ref, outs, grads, TOL32)
    ref, outs, grads = reference(4, xs, gs, affine=False, track_running_stats=False)
    assert_matches_full_batch(two["no_affine_no_tracking"], "sync", ref, outs, grads, TOL32)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_each_training_step_communicates_three_times(two):
    # forward: the shape check and the moments; backward: the two gradient sums
    for rank in two["4d"]:
        assert rank["sync"]["collectives"].calls == {"all_reduce": 3 * STEPS}
        assert rank["plain"]["collectives"].total == 0
    moments_bytes = 3 * 3 * 8  # (3, C) float64
    check_bytes = 2 * 11 * 8  # (world, fields) int64: 5 fields (requires_grad too) + 6 dims
    sums_bytes = 2 * 3 * 8  # (2, C) float64
    expected = STEPS * (moments_bytes + check_bytes + sums_bytes)
    assert two["4d"][0]["sync"]["collectives"].bytes["all_reduce"] == expected


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_eval_mode_sends_nothing_and_uses_the_running_statistics(two):
    xs, _ = batches(SHAPES[4])
    results = two["eval"]
    ref = nn.BatchNorm2d(3).eval()
    ref.load_state_dict(affine_(normlab.SyncBatchNorm(3)).state_dict(), strict=False)
    for rank in results:
        assert rank["sync"]["collectives"].total == 0
        assert rank["sync"]["num_batches_tracked"].item() == 0
    with torch.no_grad():
        trained = results[0]["sync"]
        ref.running_mean.copy_(trained["running_mean"])
        ref.running_var.copy_(trained["running_var"])
    for k, x in enumerate(xs):
        out = torch.cat([r["sync"]["output"][k] for r in results])
        torch.testing.assert_close(out, ref(x), **TOL32)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_large_mean_does_not_cancel(two):
    """Mean 1e4, std 1 in float32: naive sums of squares lose every digit of the variance;
    the statistics here agree with float64 on the same data to float32 precision."""
    x = large_mean_input()
    results = two["large_mean"]
    exact = x.double()
    var, mean = torch.var_mean(exact, (0, 2, 3), correction=0)
    n = exact.numel() // 2
    running_var = 0.9 + 0.1 * var * n / (n - 1)
    for r in results:
        torch.testing.assert_close(
            r["sync"]["running_mean"].double(), 0.1 * mean, rtol=1e-6, atol=0
        )
        torch.testing.assert_close(
            r["sync"]["running_var"].double(), running_var, rtol=1e-5, atol=0
        )
    out = torch.cat([r["sync"]["output"][0] for r in results]).double()
    expected = (exact - mean[None, :, None, None]) / (var[None, :, None, None] + 1e-5).sqrt()
    assert (out - expected).abs().max() < 1e-4
    # the naive float32 formula would be useless here (that is what the test guards)
    naive = (x * x).mean((0, 2, 3)) - x.mean((0, 2, 3)) ** 2
    assert ((naive.double() - var).abs() / var).max() > 0.1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_torch_sync_batch_norm_refuses_cpu_tensors_in_a_group(two):
    for rank in two["torch_sync_on_cpu"]:
        assert rank["torch"]["error"].startswith("ValueError: SyncBatchNorm expected input tensor")


ERRORS = {
    "err_empty": r"ValueError: SyncBatchNorm: the shard on rank\(s\) \[1\] is empty",
    "err_channels": r"RuntimeError: SyncBatchNorm\(3\): the input on rank\(s\) \[1\] does not "
    r"have 3 channels",
    "err_models_differ": r"RuntimeError: SyncBatchNorm: the ranks disagree on the number of "
    r"channels",
    "err_input_rank": r"ValueError: SyncBatchNorm expects inputs of shape \(N, C, \*\) with at "
    r"least 2 dimensions; rank\(s\) \[1\] passed fewer",
    "err_ndim_differ": r"ValueError: SyncBatchNorm: every rank must pass an input with the same "
    r"number of dimensions",
    "err_not_floating": r"TypeError: SyncBatchNorm: the input on rank\(s\) \[0\] is not a "
    r"floating-point tensor",
    "err_requires_grad": r"ValueError: SyncBatchNorm: the input requires grad on rank\(s\) "
    r"\[0\] but not on rank\(s\) \[1\]",
}


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", sorted(ERRORS))
def test_a_bad_shard_raises_the_same_clear_error_on_every_rank(two, case):
    messages = two[case]
    assert all(isinstance(m, str) for m in messages), messages
    assert len(set(messages)) == 1, messages  # the same error everywhere, nobody hangs
    assert re.match(ERRORS[case], messages[0]), messages[0]
    assert "rank 0: (4, 3, 2, 2)" in messages[0] or case == "err_not_floating"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_group_still_works_after_the_errors(two):
    outputs = two["ok_after_errors"]
    assert all(isinstance(o, torch.Tensor) for o in outputs)
    whole = torch.cat(outputs)
    mean = whole.mean((0, 2, 3))
    var = whole.var((0, 2, 3), correction=0)
    torch.testing.assert_close(mean, torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(var, torch.ones(3), atol=1e-3, rtol=0)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("ndim", [2, 4])
def test_three_processes_with_uneven_shards(three, ndim):
    xs, gs = batches(SHAPES[ndim])
    ref, outs, grads = reference(ndim, xs, gs)
    assert_matches_full_batch(three[f"{ndim}d"], "sync", ref, outs, grads, TOL32)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_process_groups_synchronize_only_their_members(three):
    xs, gs = batches(SHAPES[4])
    results = three["groups"]
    pieces = [x.split(THREE_SIZES) for x in xs]
    grad_pieces = [g.split(THREE_SIZES) for g in gs]
    # ranks 0 and 2 form one batch; rank 1 alone is plain batch norm
    pair = [torch.cat([p[0], p[2]]) for p in pieces]
    pair_grads = [torch.cat([p[0], p[2]]) for p in grad_pieces]
    ref, outs, _ = reference(4, pair, pair_grads)
    for k in range(STEPS):
        joined = torch.cat([results[0]["sync"]["output"][k], results[2]["sync"]["output"][k]])
        torch.testing.assert_close(joined, outs[k], **TOL32)
    for r in (results[0], results[2]):
        torch.testing.assert_close(r["sync"]["running_var"], ref.running_var, **TOL32)
    alone, outs, _ = reference(4, [p[1] for p in pieces], [p[1] for p in grad_pieces])
    for k in range(STEPS):
        torch.testing.assert_close(results[1]["sync"]["output"][k], outs[k], **TOL32)
    assert results[1]["sync"]["collectives"].total == 0


# ------------------------------------------------------------------------ one process


@pytest.mark.parametrize("ndim", sorted(SHAPES))
@pytest.mark.parametrize("momentum", [0.1, None])
def test_without_a_process_group_it_is_batch_norm(device, ndim, momentum):
    shape = SHAPES[ndim]
    ours = affine_(normlab.SyncBatchNorm(shape[1], momentum=momentum)).to(device)
    ref = affine_(TORCH_BN[ndim](shape[1], momentum=momentum)).to(device)
    theirs = affine_(nn.SyncBatchNorm(shape[1], momentum=momentum)).to(device)
    xs, gs = batches(shape)
    for x, g in zip(xs, gs, strict=True):
        x = x.to(device).requires_grad_()
        results = []
        for module in (ours, ref, theirs):
            out = module(x)
            grads = torch.autograd.grad(out, [x, *module.parameters()], g.to(device))
            results.append((out, *grads))
        for mine, *others in zip(*results, strict=True):
            for other in others:
                torch.testing.assert_close(mine, other, **TOL32)
    for module in (ref, theirs):
        for key, value in module.state_dict().items():
            torch.testing.assert_close(ours.state_dict()[key], value, **TOL32)
    ours.eval()
    ref.eval()
    x = torch.randn(shape, device=device)
    torch.testing.assert_close(ours(x), ref(x), **TOL32)


def test_same_constructor_parameters_buffers_and_state_dict_as_torch():
    ours = inspect.signature(normlab.SyncBatchNorm.__init__).parameters
    theirs = inspect.signature(nn.SyncBatchNorm.__init__).parameters
    assert list(ours) == list(theirs)
    for name in theirs:
        assert ours[name].default == theirs[name].default, name
        assert ours[name].kind == theirs[name].kind, name
    a, b = normlab.SyncBatchNorm(5, process_group="g"), nn.SyncBatchNorm(5)
    assert a.process_group == "g"
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]
    assert [n for n, _ in a.named_buffers()] == [n for n, _ in b.named_buffers()]
    state = affine_(nn.SyncBatchNorm(5)).state_dict()
    a.load_state_dict(state)
    b.load_state_dict(a.state_dict())
    for key, value in state.items():
        assert a.state_dict()[key].dtype == value.dtype
        torch.testing.assert_close(b.state_dict()[key], value)
    assert repr(a) == repr(b)


def test_the_shape_exchange_carries_whether_the_backward_will_all_reduce():
    """The row each rank contributes says if its backward all-reduces (grad mode and
    requires_grad), so that the ranks can refuse to disagree before anyone hangs."""
    from normlab.sync_batchnorm import _local_report

    x = torch.randn(4, 3, 2, 2)
    assert _local_report(x, 3)[4] == 0
    assert _local_report(x.requires_grad_(), 3)[4] == 1
    with torch.no_grad():
        assert _local_report(x, 3)[4] == 0
    assert _local_report("x", 3)[4] == 0


def test_bad_input_without_a_group():
    bn = normlab.SyncBatchNorm(3)
    with pytest.raises(ValueError, match="at least 2 dimensions, got a 1-D tensor"):
        bn(torch.randn(3))
    with pytest.raises(RuntimeError, match=r"SyncBatchNorm\(3\) got an input with 4 channels"):
        bn(torch.randn(2, 4))
    with pytest.raises(TypeError, match="input must be a floating-point tensor"):
        bn(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(torch.randn(1, 3))
    with pytest.raises(ValueError, match="momentum"):
        normlab.SyncBatchNorm(3, momentum=2.0)


def test_double_backward_is_refused_not_wrong(monkeypatch):
    """The synchronized Function is once-differentiable; exercising it needs a group, so
    call it directly with a fake all-reduce (the world of one rank)."""
    monkeypatch.setattr(torch.distributed, "all_reduce", lambda t, group=None: None)
    x = torch.randn(6, 3, requires_grad=True)
    mean, var, count = stats_from_moments(batch_moments(x.detach()))
    invstd = torch.rsqrt(var + 1e-5)
    out = normlab.sync_batchnorm.SyncBatchNormFunction.apply(x, None, None, mean, invstd, 6, None)
    torch.testing.assert_close(out, torch.nn.functional.batch_norm(x, None, None, training=True))
    (grad,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()


# --------------------------------------------------------------- moments and their sums


@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    channels=st.integers(1, 4),
    spatial=st.integers(1, 5),
    offset=st.floats(-100, 100),
)
def test_moments_of_shards_sum_to_the_moments_of_the_batch(sizes, channels, spatial, offset):
    g = torch.Generator().manual_seed(sum(sizes) + channels)
    x = torch.randn(sum(sizes), channels, spatial, dtype=torch.float64, generator=g) + offset
    summed = sum(batch_moments(shard) for shard in x.split(sizes))
    torch.testing.assert_close(summed, batch_moments(x), rtol=1e-10, atol=1e-8)
    mean, var, count = stats_from_moments(summed)
    ref_var, ref_mean = torch.var_mean(x, (0, 2), correction=0)
    torch.testing.assert_close(mean, ref_mean, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(var, ref_var, rtol=1e-8, atol=1e-10)
    assert count.tolist() == [x.numel() // channels] * channels


def test_averaging_the_variances_is_wrong():
    """The law of total variance: the mean of the shards' variances misses the spread of
    their means (and their sizes)."""
    a, b = torch.randn(6, 2, dtype=torch.float64), torch.randn(2, 2, dtype=torch.float64) + 3
    _, var, _ = stats_from_moments(batch_moments(a) + batch_moments(b))
    true = torch.cat([a, b]).var(0, correction=0)
    torch.testing.assert_close(var, true)
    averaged = (a.var(0, correction=0) + b.var(0, correction=0)) / 2
    assert (averaged - true).abs().min() > 0.5


@pytest.mark.parametrize("mean", [1e2, 1e4, 1e5])
def test_moments_keep_their_precision_at_large_means(mean):
    x = torch.randn(64, 4, 8, 8, generator=torch.Generator().manual_seed(0)) + mean
    exact_var, exact_mean = torch.var_mean(x.double(), (0, 2, 3), correction=0)
    m, v, _ = stats_from_moments(sum(batch_moments(s) for s in x.split([40, 24])))
    # relative error of the variance ~ 1e-16 (mean/std)^2 from float64, plus float32's
    # rounding of the squared deviations (a few ulps of 1.2e-7)
    assert ((v - exact_var).abs() / exact_var).max() < 1e-6 + 1e-15 * mean**2
    assert ((m - exact_mean).abs()).max() < 1e-9 * mean


def test_moments_of_empty_and_half_inputs(device):
    empty = batch_moments(torch.randn(0, 3, 2, device=device))
    assert empty.shape == (3, 3) and empty.dtype == torch.float64 and not empty.any()
    half = torch.randn(5, 2, 3, device=device).half()
    torch.testing.assert_close(batch_moments(half), batch_moments(half.float()))
    with pytest.raises(ValueError, match=r"moments must have shape \(3, C\)"):
        stats_from_moments(torch.zeros(2, 3))


# ------------------------------------------------------------------------- conversion


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4, momentum=None, eps=1e-3)
        self.block = nn.Sequential(normlab.BatchNorm2d(4, affine=False), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 3), nn.BatchNorm1d(3))
        self.gn = normlab.GroupNorm(2, 4)
        self.inorm = nn.InstanceNorm2d(4)

    def forward(self, x):
        x = self.inorm(self.gn(self.block(self.bn(self.conv(x)))))
        return self.head(x)


def test_convert_replaces_every_batch_norm_and_shares_its_tensors():
    net = Net().double()
    net.bn.running_mean.fill_(0.5)
    net.bn.num_batches_tracked.fill_(7)
    net.head[2].eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    params_before = dict(net.named_parameters())
    others = {n: m for n, m in net.named_modules() if n in ("conv", "gn", "inorm", "head.1")}
    out = normlab.convert_sync_batchnorm(net, process_group="group")
    assert out is net
    for name in ("bn", "block.0", "head.2"):
        layer = net.get_submodule(name)
        assert type(layer) is normlab.SyncBatchNorm
        assert layer.process_group == "group"
    assert net.bn.momentum is None and net.bn.eps == 1e-3
    assert net.block[0].weight is None and net.block[0].bias is None
    assert not net.head[2].training and net.bn.training
    for name, module in others.items():
        assert net.get_submodule(name) is module  # everything else untouched
    for name, param in net.named_parameters():
        assert param is params_before[name]  # the optimizer's parameters carry over
        assert param.dtype == torch.float64
    for key, value in net.state_dict().items():
        assert value.dtype == before[key].dtype
        torch.testing.assert_close(value, before[key])
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    net(x)  # the converted model still runs (no group: batch norm)


def test_convert_a_bare_layer_returns_a_new_one():
    bn = nn.BatchNorm1d(3)
    converted = normlab.convert_sync_batchnorm(bn)
    assert converted is not bn and isinstance(converted, normlab.SyncBatchNorm)
    assert converted.weight is bn.weight and converted.running_var is bn.running_var
    again = normlab.SyncBatchNorm.convert_sync_batchnorm(nn.SyncBatchNorm(3))
    assert type(again) is normlab.SyncBatchNorm
    no_bias = normlab.convert_sync_batchnorm(normlab.BatchNorm1d(3, bias=False))
    assert no_bias.bias is None and no_bias.weight is not None
    with pytest.raises(TypeError, match="module must be a torch.nn.Module, got int"):
        normlab.convert_sync_batchnorm(3)
    assert math.isclose(converted.eps, 1e-5)


def test_batch_moments_and_stats_from_moments_check_their_input():
    from normlab.sync_batchnorm import batch_moments, stats_from_moments

    with pytest.raises(TypeError, match="input must be a floating-point tensor"):
        batch_moments(torch.ones(4, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="input must be an \\(N, C, \\*\\) tensor"):
        batch_moments(torch.randn(5))
    with pytest.raises(TypeError, match="moments must be a floating-point tensor"):
        stats_from_moments(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="moments must have a count > 0"):
        stats_from_moments(batch_moments(torch.randn(0, 4)))
    bad = batch_moments(torch.randn(6, 2))
    bad[1, 0] = float("nan")
    with pytest.raises(ValueError, match="moments must be finite"):
        stats_from_moments(bad)
    mean, var, count = stats_from_moments(batch_moments(torch.randn(6, 2, dtype=torch.float64)))
    assert count.tolist() == [6.0, 6.0] and (var >= 0).all()
