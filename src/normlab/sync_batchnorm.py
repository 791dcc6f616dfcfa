r"""Synchronized batch normalization: the statistics of the global batch, across processes.

In data-parallel training every process (rank) sees only its shard of the batch. Plain
batch normalization then normalizes each shard with the shard's own mean and variance, a
noisy estimate when the per-device batch is small. :class:`SyncBatchNorm` normalizes every
shard with the mean and variance of the **whole** batch, exchanged with
``torch.distributed`` (Peng et al. 2018, MegDet; Zhang et al. 2018):

- forward: each rank packs, per channel, its count :math:`n_r`, sum :math:`S_r` and sum of
  squares :math:`Q_r` into one ``(3, C)`` tensor (:func:`batch_moments`); one all-reduce adds
  them; :func:`stats_from_moments` turns the totals into
  :math:`\mu = S/n` and :math:`\sigma^2 = Q/n - \mu^2`;
- backward: the input gradient of batch norm needs two per-channel sums over the batch,
  :math:`\sum dy` and :math:`\sum dy\,(x - \mu)`; one all-reduce of a ``(2, C)`` tensor
  makes them global, and the hand-derived backward of :mod:`normlab.normalization` does the
  rest.

Numerics: :math:`Q/n - \mu^2` cancels catastrophically when :math:`|\mu| \gg \sigma`. Each
rank therefore computes its moments by the *corrected two-pass* algorithm (Chan, Golub &
LeVeque 1983) and the packed sums are formed and reduced in float64, which keeps the
relative error of the variance near :math:`10^{-16} (\mu/\sigma)^2`, far below float32's
resolution for any realistic activation.

Before the real all-reduce, one small all-reduce of the ranks' input shapes lets every rank
raise the **same** clear error when one rank's shard is bad (empty, wrong channel count,
unsupported rank), instead of some ranks waiting forever in a collective. The exchange
also carries whether each rank's input requires grad, since that decides whether the
backward all-reduces: a rank whose input alone requires grad would otherwise wait in the
backward until the timeout (or, if another collective's byte count happened to match, get
a wrong gradient).
"""

from __future__ import annotations

from typing import Any, TypeGuard, cast

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

from normlab._validation import check_floating
from normlab.normalization import update_running_stats
from normlab.normalization._ops import (
    as_compute,
    backward_elemt,
    backward_reduce,
    per_channel,
    reduce_dims,
)
from normlab.normalization.modules import BatchNormBase

__all__ = [
    "batch_moments",
    "stats_from_moments",
    "SyncBatchNormFunction",
    "SyncBatchNorm",
    "convert_sync_batchnorm",
    "is_batch_norm",
]


# ------------------------------------------------------------ moments, and their combination


def batch_moments(input: Tensor) -> Tensor:
    r"""Per-channel count, sum and sum of squares of a shard, packed as one float64 tensor.

    .. math:: \begin{pmatrix} n \\ S \\ Q \end{pmatrix}_c
              = \begin{pmatrix} m \\ \sum_i x_{ic} \\ \sum_i x_{ic}^2 \end{pmatrix}

    over the :math:`m = N \cdot \prod \text{spatial}` positions of channel :math:`c`. The
    moments of a union of shards are the **sums** of the shards' moments, so an all-reduce
    (sum) of this tensor over the ranks gives the moments of the global batch, and
    :func:`stats_from_moments` its mean and variance.

    The sums are not accumulated naively (:math:`\sum x^2` in float32 loses every digit of
    the variance when :math:`|\mu| \gg \sigma`): the shard's mean and centered sum of
    squares come from the corrected two-pass algorithm (Chan, Golub & LeVeque 1983),
    :math:`\bar x + \tfrac1m\sum_i d_i` and :math:`\sum_i d_i^2 - \tfrac1m(\sum_i d_i)^2`
    with :math:`d_i = x_i - \bar x` (the second terms recover what rounding :math:`\bar x`
    lost), and only then are :math:`S = m\mu` and :math:`Q = M_2 + m\mu^2` formed, in
    float64.

    Args:
        input: ``(N, C, *)`` floating-point tensor; may be empty (all moments 0).

    Returns:
        ``(3, C)`` float64 tensor on ``input``'s device: rows count, sum, sum of squares.

    Raises:
        TypeError: ``input`` is not a floating-point tensor.
        ValueError: ``input`` has fewer than 2 dimensions.
    """
    input = check_floating(input, "input")
    if input.ndim < 2:
        raise ValueError(
            f"input must be an (N, C, *) tensor with at least 2 dimensions, got shape "
            f"{tuple(input.shape)}"
        )
    x = as_compute(input)
    channels = x.shape[1]
    count = x.numel() // channels if channels else 0
    if count == 0:
        return torch.zeros(3, channels, dtype=torch.float64, device=x.device)
    dims = reduce_dims(x)
    rough = x.mean(dims)
    centered = x - per_channel(rough, x)
    residual = centered.mean(dims).double()  # what rounding the first mean lost
    mean = rough.double() + residual
    m2 = count * ((centered * centered).mean(dims).double() - residual * residual)
    n = torch.full_like(mean, count)
    return torch.stack([n, n * mean, m2.clamp_min(0) + n * mean * mean])


def stats_from_moments(moments: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    r"""Mean, **biased** variance and count per channel from summed :func:`batch_moments`.

    .. math:: \mu = S / n, \qquad \sigma^2 = Q / n - \mu^2 .

    This is the law of total variance: the variance of the union of shards is the
    count-weighted mean of the shards' variances **plus** the variance of their means; the
    plain average of the shards' variances misses the second term and the weights.

    Args:
        moments: ``(3, C)`` rows count, sum, sum of squares (float64), with every count > 0.

    Returns:
        ``(mean, var, count)``, each of shape ``(C,)`` and dtype float64.

    Raises:
        TypeError: ``moments`` is not a floating-point tensor.
        ValueError: ``moments`` is not ``(3, C)``, not finite, or has a count <= 0 (the
            mean of no values is undefined: every rank's shard was empty).
    """
    moments = check_floating(moments, "moments")
    if moments.ndim != 2 or moments.shape[0] != 3:
        raise ValueError(
            "moments must have shape (3, C) (rows count, sum, sum of squares), got "
            f"{tuple(moments.shape)}"
        )
    if not torch.isfinite(moments).all():
        raise ValueError("moments must be finite, got NaN or inf entries")
    count, total, squares = moments.double().unbind(0)
    if (count <= 0).any():
        raise ValueError(
            f"moments must have a count > 0 in every channel, got counts {count.tolist()} "
            "(an empty global batch has no mean or variance)"
        )
    mean = total / count
    var = (squares / count - mean * mean).clamp_min(0)
    return mean, var, count


# --------------------------------------------------------------- agreeing on the shapes

_MAX_DIMS = 6  # shape entries exchanged for the error messages; more are elided
# A row per rank: problem code, ndim, channels, values per channel, whether the backward
# will all-reduce (grad mode on and the input requiring grad), shape[:_MAX_DIMS]. Everything
# the sequence of collectives depends on is in the row, so that the ranks can agree on it.
_FIELDS = 5 + _MAX_DIMS
_SHAPE = 5  # index of the first shape entry
_OK, _NOT_FLOATING, _BAD_NDIM, _BAD_CHANNELS = 0, 1, 2, 3


def _local_report(input: object, num_features: int) -> list[int]:
    """This rank's row of the shape exchange; problems are reported, never raised, here."""
    if not isinstance(input, Tensor):
        return [_NOT_FLOATING, -1, -1, -1, 0] + [-1] * _MAX_DIMS
    shape = list(input.shape)[:_MAX_DIMS]
    shape += [-1] * (_MAX_DIMS - len(shape))
    channels = input.shape[1] if input.ndim >= 2 else -1
    count = input.numel() // channels if channels > 0 else 0
    if not input.is_floating_point():
        code = _NOT_FLOATING
    elif input.ndim < 2:
        code = _BAD_NDIM
    elif channels != num_features:
        code = _BAD_CHANNELS
    else:
        code = _OK
    # SyncBatchNormFunction.backward all-reduces exactly when the input needs a gradient
    reduces_in_backward = int(torch.is_grad_enabled() and input.requires_grad)
    return [code, input.ndim, channels, count, reduces_in_backward, *shape]


def _shape_text(row: list[int]) -> str:
    ndim, shape = row[1], [s for s in row[_SHAPE:] if s >= 0]
    if ndim < 0:
        return "not a tensor"
    text = ", ".join(map(str, shape)) + (", ..." if ndim > _MAX_DIMS else "")
    return f"({text}{',' if ndim == 1 else ''})"


def _agree_on_input(
    input: object, num_features: int, group: Any, device: torch.device, name: str
) -> list[int]:
    """Exchange every rank's input shape (one small all-reduce) and raise the same error on
    every rank if any rank's input is unusable, or if the ranks would not make the same
    collectives (an input that requires grad on some ranks only: those would wait in the
    backward all-reduce). Returns the values per channel of each rank.
    """
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    table = torch.zeros(world, _FIELDS, dtype=torch.long, device=device)
    table[rank] = torch.tensor(_local_report(input, num_features), dtype=torch.long)
    dist.all_reduce(table, group=group)  # each rank filled only its row: a sum gathers
    rows = table.tolist()
    shapes = "; ".join(f"rank {r}: {_shape_text(row)}" for r, row in enumerate(rows))

    def ranks_with(code: int) -> list[int]:
        return [r for r, row in enumerate(rows) if row[0] == code]

    if bad := ranks_with(_NOT_FLOATING):
        raise TypeError(
            f"{name}: the input on rank(s) {bad} is not a floating-point tensor "
            f"(inputs by rank: {shapes})"
        )
    if bad := ranks_with(_BAD_NDIM):
        raise ValueError(
            f"{name} expects inputs of shape (N, C, *) with at least 2 dimensions; rank(s) "
            f"{bad} passed fewer (inputs by rank: {shapes})"
        )
    if bad := ranks_with(_BAD_CHANNELS):
        raise RuntimeError(
            f"{name}({num_features}): the input on rank(s) {bad} does not have "
            f"{num_features} channels on axis 1 (inputs by rank: {shapes})"
        )
    if len({row[1] for row in rows}) > 1:
        raise ValueError(
            f"{name}: every rank must pass an input with the same number of dimensions "
            f"(inputs by rank: {shapes})"
        )
    if len({row[2] for row in rows}) > 1:
        raise RuntimeError(
            f"{name}: the ranks disagree on the number of channels, so their statistics "
            f"cannot be combined; build the same model on every rank (inputs by rank: "
            f"{shapes})"
        )
    if len({row[4] for row in rows}) > 1:
        needing = [r for r, row in enumerate(rows) if row[4]]
        others = [r for r, row in enumerate(rows) if not row[4]]
        raise ValueError(
            f"{name}: the input requires grad on rank(s) {needing} but not on rank(s) "
            f"{others} (or grad mode is off there); the backward pass all-reduces on the "
            "ranks whose input requires grad, so they would wait for the others forever. "
            "Give every rank's input the same requires_grad, under the same grad mode "
            f"(inputs by rank: {shapes})"
        )
    if bad := [r for r, row in enumerate(rows) if row[3] == 0]:
        raise ValueError(
            f"{name}: the shard on rank(s) {bad} is empty (no values per channel); every "
            "rank must contribute at least one sample to a synchronized batch, e.g. drop "
            f"the last incomplete batch or split it evenly (inputs by rank: {shapes})"
        )
    return [row[3] for row in rows]


# ---------------------------------------------------------------- forward and backward


def _split_mean(mean: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``mean`` (float64) as ``hi + lo`` in ``dtype``: subtracting ``hi`` and then ``lo``
    centers a large-mean float32 input with float64's accuracy instead of float32's."""
    hi = mean.to(dtype)
    return hi, (mean - hi.double()).to(dtype)


def _center(x: Tensor, hi: Tensor, lo: Tensor) -> Tensor:
    return (x - per_channel(hi, x)).sub_(per_channel(lo, x))


class _SyncBatchNormCtx(FunctionCtx):
    """What ``SyncBatchNormFunction.forward`` keeps on ``ctx`` for the backward.

    Declared for type checkers only: the ``ctx`` autograd passes is its own object, on which
    the forward sets these attributes.
    """

    count: int
    group: Any
    has_bias: bool
    saved_tensors: tuple[Any, ...]  # (input, weight or None, hi, lo, invstd)
    needs_input_grad: tuple[bool, ...]


class SyncBatchNormFunction(torch.autograd.Function):
    r"""Training-mode batch norm with given global statistics and a synchronized backward.

    ``output = SyncBatchNormFunction.apply(input, weight, bias, mean, invstd, count,
    process_group)`` normalizes this rank's ``input`` ``(N, C, *)`` with the **global**
    per-channel ``mean`` (float64) and ``invstd`` :math:`= 1/\sqrt{\sigma^2 + \epsilon}`,
    computed from all ranks' shards of ``count`` values per channel in total.

    Backward (Ioffe & Szegedy 2015, section 3, taken over the global batch): the input
    gradient

    .. math:: \frac{\partial L}{\partial x_i} = \gamma\,\mathrm{invstd}\Big(dy_i -
              \frac{\sum dy}{n} - \hat x_i\,\frac{\mathrm{invstd}\sum dy\,(x-\mu)}{n}\Big)

    needs the two sums over **every** rank's values, obtained by one all-reduce of a
    ``(2, C)`` tensor; :math:`n` is the global ``count``. The weight and bias gradients are
    this rank's share, :math:`\mathrm{invstd}\sum_{\text{rank}} dy\,(x - \mu)` and
    :math:`\sum_{\text{rank}} dy`: summed over the ranks, which is what
    ``DistributedDataParallel``'s gradient all-reduce does for every parameter, they are
    those of batch norm on the whole batch. When the input needs no gradient, the backward
    communicates nothing. Double backward is not supported.
    """

    @staticmethod
    def forward(
        ctx: _SyncBatchNormCtx,
        input: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        mean: Tensor,
        invstd: Tensor,
        count: int,
        process_group: Any,
    ) -> Tensor:
        """Normalize this rank's ``input`` with the global ``mean`` and ``invstd``."""
        x = as_compute(input)
        hi, lo = _split_mean(mean, x.dtype)
        invstd = invstd.to(x.dtype)
        output = _center(x, hi, lo)
        output.mul_(per_channel(invstd if weight is None else weight * invstd, x))
        if bias is not None:
            output.add_(per_channel(bias, x))
        # torch's stub says Tensor, but save_for_backward accepts None (documented) and hands
        # it back as None
        ctx.save_for_backward(input, weight, hi, lo, invstd)  # type: ignore[arg-type]
        ctx.count, ctx.group, ctx.has_bias = count, process_group, bias is not None
        return output.to(input.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: _SyncBatchNormCtx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        """Input gradient from the all-reduced sums; this rank's weight and bias shares."""
        input, weight, hi, lo, invstd = ctx.saved_tensors
        x, dy = as_compute(input), as_compute(grad_output)
        centered = _center(x, hi, lo)
        sum_dy, sum_dy_xmu = backward_reduce(dy, centered)  # this rank's share
        grad_input = grad_weight = grad_bias = None
        if weight is not None and ctx.needs_input_grad[1]:
            grad_weight = (sum_dy_xmu * invstd).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = sum_dy.to(weight.dtype if weight is not None else input.dtype)
        if ctx.needs_input_grad[0]:
            sums = torch.stack([sum_dy, sum_dy_xmu]).double()
            dist.all_reduce(sums, group=ctx.group)
            total_dy, total_dy_xmu = sums.to(x.dtype).unbind(0)
            w = None if weight is None else as_compute(weight)
            grad_input = backward_elemt(
                dy, centered, invstd, w, total_dy, total_dy_xmu, ctx.count
            ).to(input.dtype)
        return grad_input, grad_weight, grad_bias, None, None, None, None


# ------------------------------------------------------------------------------ the module


class SyncBatchNorm(BatchNormBase):
    r"""Batch normalization with the statistics of the batch across all processes, like
    :class:`torch.nn.SyncBatchNorm`.

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}}\,\gamma + \beta

    where, in training mode inside an initialized process group of more than one rank,
    :math:`\mathrm{E}` and :math:`\mathrm{Var}` (biased) run over the channel's values on
    **every** rank of ``process_group``: output, input, weight and bias gradients (summed
    over the ranks) and the running statistics equal those of batch norm on the
    concatenated batch, for shards of any sizes. Costs per layer and step: in forward, one
    all-reduce of the ranks' shapes (a few integers per rank, so that a bad shard raises
    the same error on every rank instead of a hang) and one of a ``(3, C)`` float64 tensor
    (:func:`batch_moments`); in backward, one of a ``(2, C)`` tensor.

    In eval mode, outside an initialized process group, or in a group of one rank, nothing
    is communicated and the layer **is** :class:`normlab.normalization.BatchNorm1d` /
    ``2d`` / ``3d`` (any input with at least 2 dimensions). Every rank must call the layer the
    same number of times, in the same mode (a rank in eval mode while the others train
    leaves them waiting until the process group's timeout).

    Differences from :class:`torch.nn.SyncBatchNorm`, which has the same constructor,
    parameters, buffers and ``state_dict``: it synchronizes CPU tensors too (with the gloo
    backend), where PyTorch's raises ``ValueError`` inside an initialized group; it combines
    the ranks with one all-reduce of sums instead of an all-gather of means and variances;
    a rank with an empty shard is an error (PyTorch lets it contribute nothing).

    Args:
        num_features: ``C`` of an input ``(N, C, *)``.
        eps: added to the variance, > 0. Default: 1e-5.
        momentum: weight of the new batch in the running estimates (PyTorch's convention);
            ``None`` for a cumulative average.
        affine: learn per-channel ``weight`` (init 1) and ``bias`` (init 0).
        track_running_stats: keep ``running_mean``, ``running_var`` and
            ``num_batches_tracked`` buffers.
        process_group: the ranks whose shards form the batch; ``None`` for the default
            (world) group.
        device, dtype: where and in which dtype to create parameters and buffers.
        bias: with ``affine``, learn the shift too (keyword-only, as in PyTorch).

    Raises:
        TypeError, ValueError, RuntimeError: on every rank of the group alike, when any
            rank's input is not floating-point, has fewer than 2 dimensions, the wrong
            number of channels, or no values; or the ranks' inputs disagree in rank,
            channels or ``requires_grad`` (grad mode included).
    """

    _ranks = ()  # any rank >= 2, checked in _check_input_dim

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(
                f"{type(self).__name__} expects an input of shape (N, C, *) with at least 2 "
                f"dimensions, got a {input.ndim}-D tensor of shape {tuple(input.shape)}"
            )

    def _sync_group(self) -> Any | None:
        """The group to synchronize over, or ``None`` when batch norm alone is exact."""
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return None
        group = self.process_group if self.process_group is not None else dist.group.WORLD
        if dist.get_rank(group) < 0:
            raise RuntimeError(
                f"{type(self).__name__}: this process (global rank {dist.get_rank()}) is "
                "not a member of the layer's process_group"
            )
        return group if dist.get_world_size(group) > 1 else None

    def _device(self, input: object) -> torch.device:
        if isinstance(input, Tensor):
            return input.device
        for t in (*self.parameters(), *self.buffers()):
            return t.device
        return torch.device("cpu")

    def forward(self, input: Tensor) -> Tensor:
        """Normalize ``input`` ``(N, C, *)``; synchronized in training inside a group."""
        group = self._sync_group()
        if group is None:
            return super().forward(input)
        name = type(self).__name__
        counts = _agree_on_input(input, self.num_features, group, self._device(input), name)
        count = sum(counts)
        factor = self._exponential_average_factor()  # counts the batch too
        with torch.no_grad():
            moments = batch_moments(input)
            dist.all_reduce(moments, group=group)
            mean, var, _ = stats_from_moments(moments)
            invstd = torch.rsqrt(var + self.eps)
        output = SyncBatchNormFunction.apply(
            input, self.weight, self.bias, mean, invstd, count, group
        )
        if self.track_running_stats:
            running_mean = cast(Tensor, self.running_mean)
            running_var = cast(Tensor, self.running_var)
            update_running_stats(running_mean, running_var, mean, var, count, factor)
        return output

    @classmethod
    def convert_sync_batchnorm(
        cls, module: nn.Module, process_group: Any | None = None
    ) -> nn.Module:
        """Same as :func:`convert_sync_batchnorm` (PyTorch's spelling, as a class method)."""
        return convert_sync_batchnorm(module, process_group)


def is_batch_norm(
    module: nn.Module,
) -> TypeGuard[nn.modules.batchnorm._BatchNorm | BatchNormBase]:
    """Whether ``module`` is a batch norm layer, torch's or normlab's (SyncBatchNorm too)."""
    return isinstance(module, (nn.modules.batchnorm._BatchNorm, BatchNormBase))


def convert_sync_batchnorm(module: nn.Module, process_group: Any | None = None) -> nn.Module:
    """Replace every batch norm in ``module`` by a :class:`SyncBatchNorm`, like
    ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``.

    Every ``BatchNorm1d/2d/3d`` (or ``SyncBatchNorm``) from ``torch.nn`` or normlab, at any
    depth, becomes a :class:`SyncBatchNorm` with the same hyper-parameters that **shares**
    its parameter and buffer tensors (so the optimizer's parameters, values, dtypes and
    devices carry over) and its train/eval mode; every other module is left as it is.
    Convert before wrapping the model in ``DistributedDataParallel``.

    Args:
        module: a model, or a single batch-norm layer.
        process_group: the group the new layers synchronize over; ``None`` for the world.

    Returns:
        ``module``, changed in place; but if ``module`` itself is a batch norm, a **new**
        :class:`SyncBatchNorm` (assign the result).

    Raises:
        TypeError: ``module`` is not an ``nn.Module``.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    converted = module
    if is_batch_norm(module):
        converted = SyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            process_group,
            bias=module.bias is not None,
        )
        if module.affine:
            converted.weight = module.weight
            converted.bias = module.bias
        # the same tensors, or None without running statistics (nn.Module's __setattr__ is
        # typed Tensor | Module, but a registered buffer may be set to None)
        for buffer in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(converted, buffer, getattr(module, buffer))
        converted.training = module.training
        if hasattr(module, "qconfig"):
            converted.qconfig = module.qconfig
    for name, child in module.named_children():
        converted.add_module(name, convert_sync_batchnorm(child, process_group))
    return converted
