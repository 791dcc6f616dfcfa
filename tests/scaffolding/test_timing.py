import pytest
import torch
from torch import nn

import normlab
import normlab.examples.normalization_benchmark


def test_time_call_counts_calls_and_orders_statistics():
    calls = []
    t = normlab.scaffolding.time_call(lambda: calls.append(1), repeats=5, warmup=2)
    assert len(calls) == 7 and t.repeats == 5
    assert 0 <= t.best <= t.median
    assert "ms" in str(t)


def test_time_forward_backward_fills_gradients(device):
    module = nn.Linear(4, 3).to(device)
    x = torch.randn(8, 4, device=device, requires_grad=True)
    t = normlab.scaffolding.time_forward_backward(module, x, repeats=3)
    assert t.best > 0
    assert x.grad is not None and module.weight.grad is not None


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: normlab.scaffolding.time_call(1), TypeError, "fn must be callable"),
        (
            lambda: normlab.scaffolding.time_call(lambda: None, repeats=0),
            ValueError,
            "repeats must be a positive",
        ),
        (
            lambda: normlab.scaffolding.time_call(lambda: None, warmup=-1),
            ValueError,
            "warmup must be >= 0",
        ),
        (
            lambda: normlab.scaffolding.time_forward_backward(lambda x: x, torch.ones(1)),
            TypeError,
            "nn.Module",
        ),
        (
            lambda: normlab.scaffolding.time_forward_backward(nn.Linear(1, 1)),
            ValueError,
            "at least one input",
        ),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_compare_forward_backward_times_every_module(device):
    a, b = nn.Linear(4, 3).to(device), nn.Linear(4, 3).to(device)
    x = torch.randn(8, 4, device=device)
    times = normlab.scaffolding.timing.compare_forward_backward({"a": a, "b": b}, x, repeats=3)
    assert set(times) == {"a", "b"} and all(t.repeats == 3 and t.best > 0 for t in times.values())
    assert a.weight.grad is not None and b.weight.grad is not None


def test_benchmark_normalization_rows_and_table():
    rows = normlab.examples.normalization_benchmark.benchmark_normalization(
        "cpu", repeats=1, layers=["GroupNorm"]
    )
    assert [r.layer for r in rows] == ["GroupNorm", "GroupNorm"]
    assert all(r.ratio > 0 and r.device == "cpu" for r in rows)
    table = normlab.scaffolding.timing.format_comparisons(rows)
    assert table.splitlines()[0].split() == [
        "layer",
        "input",
        "shape",
        "device",
        "normlab",
        "torch",
        "ratio",
    ]
    assert len(table.splitlines()) == 3


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: normlab.scaffolding.timing.compare_forward_backward({}, torch.ones(2, 2)),
            ValueError,
            "at least one",
        ),
        (
            lambda: normlab.scaffolding.timing.compare_forward_backward({"f": abs}, torch.ones(2)),
            TypeError,
            r"modules\['f'\] must be a torch.nn.Module",
        ),
        (
            lambda: normlab.scaffolding.timing.compare_forward_backward(
                {"f": nn.Identity()}, torch.ones(2, dtype=torch.long)
            ),
            TypeError,
            "floating-point",
        ),
        (
            lambda: normlab.scaffolding.timing.compare_forward_backward(
                {"f": nn.Identity()}, torch.ones(2), repeats=0
            ),
            ValueError,
            "repeats must be a positive",
        ),
    ],
)
def test_compare_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
