"""normlab.scaffolding.launch and chapter 6's workers: process groups, collectives, checks."""

from __future__ import annotations

import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
from torch import nn

import normlab
from normlab.examples.sync_workers import forward_on_each_rank, shard_steps
from normlab.scaffolding.launch import count_collectives, find_free_port, launch


def test_find_free_port_gives_a_bindable_port():
    port = find_free_port()
    assert 1024 <= port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_launch_returns_every_rank_result_or_exception_in_rank_order():
    linear = nn.Linear(2, 1)
    results = launch(
        forward_on_each_rank,
        2,
        linear,
        [torch.ones(3, 2), "not a tensor"],
        catch_errors=False,
        return_exceptions=True,
        timeout=180,
    )
    torch.testing.assert_close(results[0], linear(torch.ones(3, 2)).detach())
    assert isinstance(results[1], TypeError)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_launch_reraises_the_worker_exception_with_its_type():
    with pytest.raises(ValueError, match="invalid literal for int"):
        launch(int, 1, "not a number", timeout=180)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_launch_times_out_instead_of_hanging():
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="rank 0 did not finish within 3 s"):
        launch(time.sleep, 1, 60, timeout=3)
    assert time.monotonic() - start < 30


def fail_on_rank_one(how):
    """Worker (importable by the spawned ranks): rank 1 fails on its own, rank 0 meanwhile
    waits in a collective and gets gloo's collateral "connection closed by peer"."""
    if dist.get_rank() == 1:
        if how == "raise":
            raise ValueError("user bug")
        if how == "exit":
            os._exit(3)
        raise SystemExit(3)
    tensor = torch.ones(3)
    dist.all_reduce(tensor)
    return tensor


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "how, error, message",
    [
        ("raise", ValueError, "user bug"),
        ("exit", RuntimeError, "rank 1 died with exit code 3"),
    ],
)
def test_launch_reports_the_rank_that_failed_first_not_its_peers_collateral_error(
    how, error, message
):
    with pytest.raises(error) as info:
        launch(fail_on_rank_one, 2, how, timeout=120)
    assert str(info.value) == message  # (pytest's match= would also search the notes)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "root cause: rank 1 failed first on its own" in notes
    assert "rank 0 failed too: RuntimeError" in notes  # the peer's error, kept as a note


def test_root_cause_prefers_an_own_failure_over_earlier_collateral_ones():
    from normlab.scaffolding.launch import _root_cause

    peer_gone = RuntimeError("[pair.cc:553] Connection closed by peer [127.0.0.1]:47279")
    values = [peer_gone, ValueError("user bug"), TimeoutError("rank 2 did not finish")]
    # rank 0's collateral error came first; rank 1's own error is still the cause
    assert _root_cause(values, [0, 1, 2], {0: 1.0, 1: 2.0}) is values[1]
    # two own failures: the earlier one
    own = [KeyError("a"), ValueError("b")]
    assert _root_cause(own, [0, 1], {0: 5.0, 1: 4.0}) is own[1]
    # only collateral failures: the earliest
    gone = [RuntimeError("Connection reset by peer"), RuntimeError("connection closed by peer")]
    assert _root_cause(gone, [0, 1], {0: 3.0, 1: 2.0}) is gone[1]
    exited = RuntimeError("rank 1 exited with code 3 (SystemExit)")
    assert _root_cause([peer_gone, exited], [0, 1], {0: 1.0, 1: 2.0}) is exited


def test_launch_checks_its_arguments():
    with pytest.raises(TypeError, match="fn must be importable by name"):
        launch(lambda: 0, 1)
    with pytest.raises(ValueError, match="world_size"):
        launch(int, 0)
    with pytest.raises(ValueError, match="backend"):
        launch(int, 1, backend="mpi")
    with pytest.raises(ValueError, match="timeout"):
        launch(int, 1, timeout=0)


def test_count_collectives_counts_calls_and_bytes_and_restores(monkeypatch):
    calls = []
    monkeypatch.setattr(dist, "all_reduce", lambda t, group=None: calls.append(t))
    fake = dist.all_reduce
    with count_collectives() as log:
        dist.all_reduce(torch.zeros(3, 2, dtype=torch.float64))
        dist.all_reduce(torch.zeros(4, dtype=torch.long))
    assert log.calls == {"all_reduce": 2} and log.total == 2
    assert log.bytes["all_reduce"] == 3 * 2 * 8 + 4 * 8
    assert len(calls) == 2 and dist.all_reduce is fake


def test_workers_check_their_arguments_without_a_group():
    bn = normlab.SyncBatchNorm(2)
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match=r"sizes must have one entry per rank \(1\)"):
        shard_steps({"bn": bn}, [x], [x], [2, 2])
    with pytest.raises(ValueError, match="process_groups must partition the ranks 0..0"):
        shard_steps({"bn": bn}, [x], [x], [4], process_groups=[[0], [1]])
    with pytest.raises(ValueError, match=r"inputs must have one entry per rank \(1\)"):
        forward_on_each_rank(bn, [x, x])
    # one process, no group: the worker runs plain batch norm and reports it
    report = shard_steps({"bn": bn}, [x], [torch.ones_like(x)], [4])["bn"]
    assert report["collectives"].total == 0 and report["num_batches_tracked"].item() == 1
    assert forward_on_each_rank(bn, [torch.randn(3)]).startswith("ValueError:")
