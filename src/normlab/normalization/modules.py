r"""The normalization modules, with ``torch.nn``'s signatures, parameters and buffers.

Batch norm (1d/2d/3d), instance norm (1d/2d/3d), layer norm and group norm. As in
``torch/nn/modules/batchnorm.py``, one base class holds what batch and instance norm share
(parameters, running buffers, their bookkeeping and ``state_dict`` versions) and each
public class only fixes the input ranks it accepts. ``BatchNormBase`` is also the base of
:class:`~normlab.sync_batchnorm.SyncBatchNorm`, which is why its name is public within the
package.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from normlab._validation import check_bool, check_floating, check_fraction, check_positive_int
from normlab.normalization._checks import check_eps, check_normalized_shape
from normlab.normalization.functional import batch_norm, group_norm, instance_norm, layer_norm

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "GroupNorm",
]


def _register_affine(
    module: nn.Module,
    enabled: bool,
    bias: bool,
    shape: tuple[int, ...],
    factory: dict[str, Any],
) -> None:
    """Register ``weight`` and ``bias`` (uninitialised) or ``None`` placeholders, as torch.nn."""
    if enabled:
        module.weight = nn.Parameter(torch.empty(shape, **factory))
        if bias:
            module.bias = nn.Parameter(torch.empty(shape, **factory))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def _reset_affine(module: _NormBase | LayerNorm | GroupNorm) -> None:
    """:math:`\\gamma = 1`, :math:`\\beta = 0` for whichever of the two exist."""
    if module.weight is not None:
        nn.init.ones_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


class _NormBase(nn.Module):
    """What batch and instance norm share: parameters, running buffers and their bookkeeping.

    Mirrors ``torch.nn.modules.batchnorm._NormBase``: the same attributes, parameter and
    buffer names (``weight``, ``bias``, ``running_mean``, ``running_var``,
    ``num_batches_tracked``) and the same ``state_dict`` version, so state dicts load across.
    """

    # version 2 added num_batches_tracked; older state dicts lack it (see
    # _load_from_state_dict)
    _version = 2
    num_features: int
    eps: float
    momentum: float | None
    affine: bool
    track_running_stats: bool
    # Registered in __init__ as parameters and buffers, or as None without affine or
    # running statistics; declared (as torch.nn's batch norm declares its buffers) so that a
    # type checker sees Tensor | None instead of nn.Module.__getattr__'s Tensor | Module.
    weight: Tensor | None
    bias: Tensor | None
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.num_features = check_positive_int(num_features, "num_features")
        self.eps = check_eps(eps)
        self.momentum = None if momentum is None else check_fraction(momentum, "momentum")
        self.affine = check_bool(affine, "affine")
        self.track_running_stats = check_bool(track_running_stats, "track_running_stats")
        check_bool(bias, "bias")
        _register_affine(self, affine, bias, (num_features,), factory)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            # an integer count, never cast by .to(dtype) or .half()
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch seen."""
        if self.track_running_stats:  # then __init__ registered the three buffers
            cast(Tensor, self.running_mean).zero_()
            cast(Tensor, self.running_var).fill_(1)
            cast(Tensor, self.num_batches_tracked).zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, and :math:`\\gamma = 1`, :math:`\\beta = 0`."""
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        version = local_metadata.get("version")
        if (version is None or version < 2) and self.track_running_stats:
            # state dicts saved before num_batches_tracked existed: start counting at 0
            key = prefix + "num_batches_tracked"
            if key not in state_dict:
                state_dict[key] = torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(
            state_dict,
            prefix,
            local_metadata,
            strict,
            missing_keys,
            unexpected_keys,
            error_msgs,
        )


class BatchNormBase(_NormBase):
    """Batch normalization over axis 1; subclasses only fix the accepted input ranks."""

    _ranks: tuple[int, ...] = ()
    _shapes: str = ""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._ranks:
            ranks = " or ".join(f"{r}-D" for r in self._ranks)
            raise ValueError(
                f"{type(self).__name__} expects a {ranks} input {self._shapes}, got a "
                f"{input.ndim}-D tensor of shape {tuple(input.shape)}"
            )

    def _exponential_average_factor(self) -> float:
        """Count a training batch in ``num_batches_tracked`` and return the weight of its
        statistics in the running estimates: ``momentum``, or ``1 / num_batches_tracked``
        (a cumulative average) for ``momentum=None``, as PyTorch's batch norm and its
        SyncBatchNorm compute it (``momentum``, or 0 for ``None``, when no batch is
        counted)."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            tracked = cast(Tensor, self.num_batches_tracked)  # a buffer when tracking
            tracked.add_(1)
            if self.momentum is None:  # cumulative moving average: the plain mean so far
                factor = 1.0 / float(tracked)
        return factor

    def forward(self, input: Tensor) -> Tensor:
        """Normalize ``input`` with batch statistics (training) or running ones (eval)."""
        check_floating(input, "input")
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(
                f"{type(self).__name__}({self.num_features}) got an input with "
                f"{input.shape[1]} channels (axis 1) of shape {tuple(input.shape)}"
            )
        factor = self._exponential_average_factor()
        # batch statistics in training, and in eval when no running statistics exist
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
        )


_NORM_BASE_ARGS = """
    Args:
        num_features: ``C``, the number of channels (features) on axis 1.
        eps: added to the variance, > 0. Default: 1e-5.
        momentum: weight of the new batch in the running estimates,
            ``running = (1 - momentum)·running + momentum·batch`` (PyTorch's convention);
            ``None`` for a cumulative average (the plain mean of all batch statistics).
        affine: learn a per-channel scale ``weight`` (γ, init 1) and shift ``bias`` (β,
            init 0).
        track_running_stats: keep ``running_mean``, ``running_var`` (init 0 and 1) and
            ``num_batches_tracked`` buffers; without them, batch statistics are used in
            eval mode too.
        device, dtype: where and in which dtype to create parameters and buffers.
        bias: with ``affine``, learn the shift β too (keyword-only, as in PyTorch).
"""


class BatchNorm1d(BatchNormBase):
    __doc__ = (
        r"""Batch normalization of ``(N, C)`` or ``(N, C, L)`` inputs, like
    :class:`torch.nn.BatchNorm1d`.

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}}\,\gamma + \beta

    per channel over the batch (and length), with the batch's biased variance in training
    and the running estimates in eval mode; the running variance is updated with the
    unbiased batch variance (Ioffe & Szegedy 2015). Uses :func:`batch_norm`.
"""
        + _NORM_BASE_ARGS
    )
    _ranks = (2, 3)
    _shapes = "(N, C) or (N, C, L)"


class BatchNorm2d(BatchNormBase):
    __doc__ = (
        r"""Batch normalization of ``(N, C, H, W)`` inputs, like :class:`torch.nn.BatchNorm2d`.

    Each channel is normalized over the batch and every pixel, :math:`m = N H W` values
    (Ioffe & Szegedy 2015, section 3.2); see :class:`BatchNorm1d`.
"""
        + _NORM_BASE_ARGS
    )
    _ranks = (4,)
    _shapes = "(N, C, H, W)"


class BatchNorm3d(BatchNormBase):
    __doc__ = (
        r"""Batch normalization of ``(N, C, D, H, W)`` inputs, like :class:`torch.nn.BatchNorm3d`.

    Each channel is normalized over the batch and every voxel; see :class:`BatchNorm1d`.
"""
        + _NORM_BASE_ARGS
    )
    _ranks = (5,)
    _shapes = "(N, C, D, H, W)"


class _InstanceNorm(_NormBase):
    """Instance normalization; subclasses fix the accepted ranks (batched and unbatched)."""

    _batched_rank = 0

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    def _check_input_dim(self, input: Tensor) -> None:
        ranks = (self._batched_rank - 1, self._batched_rank)
        if input.ndim not in ranks:
            raise ValueError(
                f"{type(self).__name__} expects a {ranks[0]}-D (unbatched) or {ranks[1]}-D "
                f"(batched) input, got a {input.ndim}-D tensor of shape "
                f"{tuple(input.shape)}"
            )

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        version = local_metadata.get("version")
        if version is None and not self.track_running_stats:
            # checkpoints from before PyTorch 0.4 stored running statistics that an
            # untracked instance norm does not have; refuse them as PyTorch does
            stale = [
                prefix + k for k in ("running_mean", "running_var") if prefix + k in state_dict
            ]
            if stale:
                error_msgs.append(
                    f"Unexpected running stats buffer(s) {' and '.join(stale)} for "
                    f"{type(self).__name__} with track_running_stats=False; remove them "
                    "from the state dict, or build the layer with track_running_stats=True"
                )
                for key in stale:
                    state_dict.pop(key)
        super()._load_from_state_dict(
            state_dict,
            prefix,
            local_metadata,
            strict,
            missing_keys,
            unexpected_keys,
            error_msgs,
        )

    def forward(self, input: Tensor) -> Tensor:
        """Normalize each channel of each sample (batched or unbatched ``input``)."""
        check_floating(input, "input")
        self._check_input_dim(input)
        channel_axis = input.ndim - (self._batched_rank - 1)
        if input.shape[channel_axis] != self.num_features:
            message = (
                f"{type(self).__name__}({self.num_features}) got an input with "
                f"{input.shape[channel_axis]} channels (axis {channel_axis}) of shape "
                f"{tuple(input.shape)}"
            )
            if self.affine or self.track_running_stats:
                raise ValueError(message)
            # PyTorch only warns here: the layer has nothing per channel
            warnings.warn(message + "; num_features is unused since affine=False", stacklevel=2)
        unbatched = input.ndim == self._batched_rank - 1
        x = input.unsqueeze(0) if unbatched else input
        out = instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            # PyTorch passes 0 for momentum=None: the running statistics then stay frozen
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )
        return out.squeeze(0) if unbatched else out


_INSTANCE_ARGS = """
    Args:
        num_features: ``C``, the number of channels (features) on the channel axis.
        eps: added to the variance, > 0. Default: 1e-5.
        momentum: weight of the new batch in the running estimates (averaged over the batch),
            ``running = (1 - momentum)·running + momentum·batch`` (PyTorch's convention);
            ``None`` freezes them (PyTorch passes 0), unlike batch norm's cumulative average.
        affine: (default ``False``) learn a per-channel scale ``weight`` (γ, init 1) and
            shift ``bias`` (β, init 0).
        track_running_stats: (default ``False``) keep ``running_mean``, ``running_var``
            (init 0 and 1) and ``num_batches_tracked`` buffers (the count stays 0, as in
            PyTorch), and normalize with them in eval mode; without them, instance
            statistics are used in eval mode too.
        device, dtype: where and in which dtype to create parameters and buffers.
        bias: with ``affine``, learn the shift β too (keyword-only, as in PyTorch).
"""


class InstanceNorm1d(_InstanceNorm):
    __doc__ = (
        r"""Instance normalization of ``(N, C, L)`` or unbatched ``(C, L)`` inputs, like
    :class:`torch.nn.InstanceNorm1d`.

    Each channel of each sample is normalized over its own positions (Ulyanov et al. 2016),
    in training **and** evaluation by default (``track_running_stats=False``). Uses
    :func:`instance_norm`.
"""
        + _INSTANCE_ARGS
    )
    _batched_rank = 3


class InstanceNorm2d(_InstanceNorm):
    __doc__ = (
        r"""Instance normalization of ``(N, C, H, W)`` or ``(C, H, W)`` inputs, like
    :class:`torch.nn.InstanceNorm2d`; see :class:`InstanceNorm1d`.
"""
        + _INSTANCE_ARGS
    )
    _batched_rank = 4


class InstanceNorm3d(_InstanceNorm):
    __doc__ = (
        r"""Instance normalization of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs, like
    :class:`torch.nn.InstanceNorm3d`; see :class:`InstanceNorm1d`.
"""
        + _INSTANCE_ARGS
    )
    _batched_rank = 5


class LayerNorm(nn.Module):
    r"""Layer normalization over the trailing ``normalized_shape``, like ``torch.nn.LayerNorm``.

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \odot \gamma + \beta

    with the statistics of each sample over its last ``len(normalized_shape)`` dimensions
    and an **element-wise** affine map (Ba et al. 2016). No running statistics: training and
    evaluation compute the same thing. Uses :func:`layer_norm`.

    Args:
        normalized_shape: trailing shape to normalize over; an int means one dimension.
        eps: added to the variance, > 0. Default: 1e-5.
        elementwise_affine: learn ``weight`` (init 1) and ``bias`` (init 0) of shape
            ``normalized_shape``.
        bias: with ``elementwise_affine``, learn the bias too.
        device, dtype: where and in which dtype to create the parameters.
    """

    normalized_shape: tuple[int, ...]
    eps: float
    elementwise_affine: bool
    weight: Tensor | None  # parameters, or None without the affine map (see _NormBase)
    bias: Tensor | None

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.normalized_shape = check_normalized_shape(normalized_shape)
        self.eps = check_eps(eps)
        self.elementwise_affine = check_bool(elementwise_affine, "elementwise_affine")
        check_bool(bias, "bias")
        _register_affine(self, elementwise_affine, bias, self.normalized_shape, factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """:math:`\\gamma = 1`, :math:`\\beta = 0`."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        """Normalize ``input`` over its trailing ``normalized_shape`` dimensions."""
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(nn.Module):
    r"""Group normalization, like :class:`torch.nn.GroupNorm`.

    The ``num_channels`` channels are split into ``num_groups`` groups of consecutive
    channels; each group of each sample is normalized over its channels and positions, then
    a per-channel affine map is applied (Wu & He 2018). Independent of the batch size; no
    running statistics. ``GroupNorm(1, C)`` is layer norm over ``(C, *)`` (with a
    per-channel instead of per-element affine map) and ``GroupNorm(C, C)`` is instance
    norm. Uses :func:`group_norm`.

    Args:
        num_groups: ``G``, which must divide ``num_channels`` (the paper's default is 32).
        num_channels: ``C``, the channels expected on axis 1.
        eps: added to the variance, > 0. Default: 1e-5.
        affine: learn per-channel ``weight`` (init 1) and ``bias`` (init 0).
        device, dtype: where and in which dtype to create the parameters.
        bias: with ``affine``, learn the bias too (keyword-only, as in PyTorch).

    Raises:
        ValueError: ``num_channels`` is not divisible by ``num_groups``.
    """

    num_groups: int
    num_channels: int
    eps: float
    affine: bool
    weight: Tensor | None  # parameters, or None without the affine map (see _NormBase)
    bias: Tensor | None

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.num_groups = check_positive_int(num_groups, "num_groups")
        self.num_channels = check_positive_int(num_channels, "num_channels")
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.eps = check_eps(eps)
        self.affine = check_bool(affine, "affine")
        check_bool(bias, "bias")
        _register_affine(self, affine, bias, (num_channels,), factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """:math:`\\gamma = 1`, :math:`\\beta = 0`."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        """Normalize each group of channels of each sample of ``input`` ``(N, C, *)``."""
        check_floating(input, "input")
        if input.ndim >= 2 and input.shape[1] != self.num_channels:
            raise RuntimeError(
                f"GroupNorm({self.num_groups}, {self.num_channels}) got an input with "
                f"{input.shape[1]} channels (axis 1) of shape {tuple(input.shape)}"
            )
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
            f"affine={self.affine}, bias={self.bias is not None}"
        )
