"""Running code on several local processes with ``torch.distributed``, for tests and demos.

:func:`launch` starts one process per rank (the ``spawn`` start method, so it works from a
notebook), joins them into a process group (gloo on CPU by default), runs a function in
each and returns every rank's result, with timeouts everywhere so that a mistake ends in an
exception instead of a hang. The functions it runs must be importable (defined in a
module, not in a notebook cell) so that the new processes can unpickle them (chapter 6's
workers are in :mod:`normlab.examples.sync_workers`).

:func:`count_collectives` counts the collective calls made through ``torch.distributed``'s
Python functions, to check how often a layer communicates.

Training scripts launched with ``torchrun`` do not need any of this: ``torchrun`` starts the
processes and sets the environment that ``torch.distributed.init_process_group`` reads (see
:mod:`normlab.examples.ddp_digits`).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import pickle
import queue as queue_module
import socket
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.distributed as dist
from torch import Tensor

from normlab._validation import check_choice, check_positive_float, check_positive_int

__all__ = [
    "find_free_port",
    "launch",
    "run_calls",
    "CollectiveLog",
    "count_collectives",
]

_COLLECTIVES = (
    "all_reduce",
    "all_gather",
    "all_gather_into_tensor",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "broadcast",
    "reduce",
    "all_to_all",
    "barrier",
)


def find_free_port() -> int:
    """A TCP port on the loopback interface that is free now (the OS picks it: bind to 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------- launching


def _serialize(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _deserialize(data: bytes) -> object:
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def _pack_error(err: BaseException) -> bytes:
    trace = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    try:
        exc = pickle.loads(pickle.dumps(err))
    except Exception:  # an exception that does not survive pickling: keep its text
        exc = RuntimeError(f"{type(err).__name__}: {err}")
    return pickle.dumps((exc, trace))


def _run_rank(
    rank: int,
    world_size: int,
    port: int,
    backend: str,
    timeout: float,
    threads: int,
    call: bytes,
    results: Any,
) -> None:
    """The body of every spawned process."""
    torch.set_num_threads(threads)
    try:
        # launch() serialized this triple
        fn, args, kwargs = cast(
            "tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]", _deserialize(call)
        )
        dist.init_process_group(
            backend,
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout),
        )
        if backend == "nccl":
            torch.cuda.set_device(rank % torch.cuda.device_count())
        result = fn(*args, **kwargs)
        results.put((rank, True, _serialize(result), time.time()))
    except SystemExit as err:  # re-raised in the parent, it would end the parent too
        message = f"rank {rank} exited with code {err.code!r} (SystemExit)"
        results.put((rank, False, _pack_error(RuntimeError(message)), time.time()))
    except BaseException as err:  # reported to the parent, which re-raises it
        results.put((rank, False, _pack_error(err), time.time()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def launch(
    fn: Callable[..., Any],
    world_size: int,
    *args: Any,
    backend: str = "gloo",
    timeout: float = 120.0,
    threads: int = 1,
    return_exceptions: bool = False,
    **kwargs: Any,
) -> list[Any]:
    """Run ``fn(*args, **kwargs)`` in ``world_size`` new processes joined in a process group.

    Each process initializes ``torch.distributed`` (rank ``0 … world_size − 1``, the given
    ``backend``, a free loopback port, and ``timeout`` for every collective), calls the
    function, and sends back its result (any object ``torch.save`` can store; tensors
    arrive on the CPU). Inside ``fn``, ``torch.distributed.get_rank()`` tells the rank.

    Args:
        fn: a function importable by name (defined in a module; a lambda or a function
            defined in a notebook cannot be sent to a new process).
        world_size: number of processes, >= 1.
        *args: positional arguments of ``fn``, the same for every rank (picklable).
        backend: ``"gloo"`` (CPU and GPU tensors) or ``"nccl"`` (one GPU per rank; rank
            ``r`` uses GPU ``r``).
        timeout: seconds allowed for the whole run, and for each collective inside it.
        threads: ``torch.set_num_threads`` in each process (1 keeps several processes on a
            laptop from competing for the cores).
        return_exceptions: return a rank's exception in its place in the list instead of
            raising the first one.
        **kwargs: keyword arguments of ``fn``, the same for every rank (picklable).

    Returns:
        The results of ranks ``0 … world_size − 1``, in order.

    Raises:
        TypeError: ``fn`` cannot be pickled.
        TimeoutError: some rank did not finish within ``timeout`` seconds (it is killed).
        Exception: without ``return_exceptions``, the root cause: the exception of the rank
            that failed first on its own (not one that failed because a peer was gone,
            such as gloo's "connection closed by peer"), re-raised here with that rank's
            traceback and the other ranks' errors as notes. A rank that exits or dies
            gives a ``RuntimeError`` naming it and its exit code.
    """
    world_size = check_positive_int(world_size, "world_size")
    timeout = check_positive_float(timeout, "timeout")
    threads = check_positive_int(threads, "threads")
    check_choice(backend, "backend", ("gloo", "nccl"))
    try:
        pickle.dumps(fn)
    except Exception as err:
        raise TypeError(
            f"fn must be importable by name to run in a new process (a function defined in a "
            f"module, not a lambda or a notebook function), got {fn!r}"
        ) from err
    # serialized here, not by the process start-up: torch.multiprocessing would put the
    # tensors in shared memory, and every rank would then update the same buffers
    call = _serialize((fn, args, kwargs))
    context = torch.multiprocessing.get_context("spawn")
    results = context.Queue()
    port = find_free_port()
    processes = [
        context.Process(
            target=_run_rank,
            args=(rank, world_size, port, backend, timeout, threads, call, results),
            daemon=True,
        )
        for rank in range(world_size)
    ]
    for process in processes:
        process.start()
    # rank -> (succeeded, payload, when it finished or failed, by the wall clock)
    outcomes: dict[int, tuple[bool, bytes, float]] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(outcomes) < world_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                rank, ok, payload, when = results.get(timeout=min(remaining, 0.5))
            except queue_module.Empty:
                for rank, process in enumerate(processes):
                    crashed = process.exitcode not in (None, 0)
                    if crashed and rank not in outcomes and results.empty():
                        message = f"rank {rank} died with exit code {process.exitcode}"
                        # it died before now: the time it was noticed bounds its failure
                        outcomes[rank] = (False, _pack_error(RuntimeError(message)), time.time())
                continue
            outcomes[rank] = (ok, payload, when)
            if not ok:  # the others fail soon (their peer is gone) or finish
                deadline = min(deadline, time.monotonic() + 15.0)
    finally:
        for rank, process in enumerate(processes):
            if rank in outcomes:  # done: give it a moment to leave the group cleanly
                process.join(timeout=5.0)
            if process.is_alive():
                process.kill()
                process.join()
        results.close()
    missing = [rank for rank in range(world_size) if rank not in outcomes]
    values: list[Any] = []
    for rank in range(world_size):
        if rank in missing:
            values.append(TimeoutError(f"rank {rank} did not finish within {timeout:g} s"))
            continue
        ok, payload, _ = outcomes[rank]
        if ok:
            values.append(_deserialize(payload))
        else:
            exc, trace = pickle.loads(payload)
            if hasattr(exc, "add_note"):  # Python >= 3.11
                exc.add_note(f"(raised on rank {rank} of {world_size})\n{trace}")
            values.append(exc)
    if not return_exceptions:
        failed = [rank for rank, v in enumerate(values) if isinstance(v, BaseException)]
        if failed:
            times = {rank: outcomes[rank][2] for rank in outcomes}
            raise _root_cause(values, failed, times)
    return values


# A rank whose peer has died or left fails in its next collective with one of these (gloo's
# messages); that error is a consequence, not the cause.
_COLLATERAL_MESSAGES = (
    "connection closed by peer",
    "connection reset by peer",
    "caused by a remote worker",
    "broken pipe",
    "socket timeout",
    "connection refused",
)


def _is_collateral(error: BaseException) -> bool:
    """True if ``error`` is what a rank gets when another rank failed first."""
    if isinstance(error, TimeoutError):  # waited for a peer until the deadline
        return True
    if isinstance(error, dist.DistNetworkError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(m in text for m in _COLLATERAL_MESSAGES)


def _root_cause(values: list[Any], failed: list[int], times: dict[int, float]) -> BaseException:
    """The exception of the rank that failed first on its own, annotated with the others.

    A rank that raises (or dies) makes its peers fail in their next collective; those
    errors can reach the parent first, and the lowest failing rank is often such a peer.
    The root cause is the earliest failure that is not a peer's consequence (gloo's
    "connection closed/reset by peer", a timeout); only when every failure is one, the
    earliest of them.
    """
    never = float("inf")

    def order(rank: int) -> tuple[bool, float, int]:
        return (_is_collateral(values[rank]), times.get(rank, never), rank)

    cause, *others = sorted(failed, key=order)
    error = values[cause]
    if others and hasattr(error, "add_note"):
        lines = [
            f"rank {rank} failed too: {type(values[rank]).__name__}: "
            f"{(str(values[rank]).strip().splitlines() or [''])[0][:200]}"
            for rank in others
        ]
        error.add_note(
            f"root cause: rank {cause} failed first on its own; then\n" + "\n".join(lines)
        )
    return error


def run_calls(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Worker: call each of ``calls`` (e.g. ``functools.partial`` objects of importable
    functions) in turn and return their results, so that one :func:`launch` (one set of
    process start-ups, a second or more each) serves several experiments."""
    return [call() for call in calls]


# ------------------------------------------------------------------ counting collectives


@dataclass
class CollectiveLog:
    """Calls and payload bytes of each ``torch.distributed`` collective, by name."""

    calls: dict[str, int] = field(default_factory=Counter)
    bytes: dict[str, int] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Number of collective calls of every kind."""
        return sum(self.calls.values())


def _payload_bytes(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors)


@contextlib.contextmanager
def count_collectives() -> Iterator[CollectiveLog]:
    """Count the collectives called through ``torch.distributed``'s Python API meanwhile.

    ``with count_collectives() as log: ...`` then ``log.calls["all_reduce"]``. The functions
    of the ``torch.distributed`` module are wrapped for the duration of the block (code that
    calls them as ``torch.distributed.all_reduce(...)`` or ``dist.all_reduce(...)`` is
    counted; communication issued from C++, such as ``DistributedDataParallel``'s gradient
    buckets, is not).
    """
    log = CollectiveLog()
    originals = {name: getattr(dist, name) for name in _COLLECTIVES if hasattr(dist, name)}

    def counting(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            log.calls[name] += 1
            log.bytes[name] += _payload_bytes(args, kwargs)
            return original(*args, **kwargs)

        return wrapper

    for name, original in originals.items():
        setattr(dist, name, counting(name, original))
    try:
        yield log
    finally:
        for name, original in originals.items():
            setattr(dist, name, original)
