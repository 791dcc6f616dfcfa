"""K copies of one MLP with their weights stacked along a leading *seed* dimension.

A GAN of the ring chapters is tiny (2-64-64-2): one training step of one seed spends most of
its time in per-operation overhead, not in arithmetic. Running K seeds as K separate models
pays that overhead K times. Stacking the K weight matrices of each layer into one tensor
``(K, out, in)`` and running every layer as one batched matrix product,

    ``y[k] = x[k] W[k]ᵀ + b[k]``, i.e. ``torch.baddbmm(b, x, W.mT)`` for ``x`` of shape
    ``(K, N, in)``,

pays it once. The seeds never mix: every operation is either batched over ``k`` or
elementwise, so the gradient of a sum of per-seed losses with respect to ``W[k]`` is seed
``k``'s own gradient, and an elementwise optimizer (Adam, SGD, RMSprop...) over the stacked
tensors is exactly K independent optimizers.

Spectral normalization (Miyato et al., 2018) is stacked the same way: one power-iteration
vector pair ``u[k], v[k]`` per seed and layer, refined by batched matrix-vector products at
every training-mode forward, as :class:`normlab.spectral_normalization.SpectralNorm` does for
one layer. :class:`normlab.gan.stacked.StackedMLP` is built from K ordinary modules and then
*binds* them: each seed's parameters and buffers become views of slice ``k`` of the stacked
tensors, so the K modules always show the current weights (for evaluation, sampling,
``state_dict``) without any copying.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from normlab._validation import check_module
from normlab.spectral_normalization import parametrizations_of, spectral_norm_of

__all__ = ["StackedMLP", "ELEMENTWISE_LAYERS"]

#: The layers applied to each seed's activations as they are (they act elementwise, so a
#: leading seed dimension changes nothing).
ELEMENTWISE_LAYERS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Identity,
)


def _flat_layers(module: nn.Module) -> list[nn.Module]:
    """The layers of a (possibly nested) ``nn.Sequential``, in order."""
    if isinstance(module, nn.Sequential):
        return [layer for child in module for layer in _flat_layers(child)]
    return [module]


class _PowerIterationNorm(Protocol):
    """What stacking reads and binds of a spectral normalization along dim 0 with power
    iteration buffers (normlab's parametrization or PyTorch's); for type checkers only."""

    _u: torch.Tensor
    _v: torch.Tensor
    eps: float
    n_power_iterations: int


def _shifted(dim: int) -> int:
    """An axis of one seed's tensor, as an axis of the stacked tensor (seed axis first)."""
    return dim + 1 if dim >= 0 else dim


class _StackedLinear:
    """Layer ``i`` of every seed: ``weight (K, out, in)``, ``bias (K, 1, out)`` or None, and
    for a spectrally normalized layer the vectors ``u (K, out)`` and ``v (K, in)``."""

    def __init__(self, layers: Sequence[nn.Linear], index: int) -> None:
        found = [spectral_norm_of(layer, "weight") for layer in layers]
        if any((s is None) != (found[0] is None) for s in found):
            raise ValueError(
                f"layer {index} is spectrally normalized in some seeds' modules and not in "
                "others; every seed must have the same architecture"
            )
        spectral = None if found[0] is None else self._check_spectral(layers, found, index)
        self.spectral = None if spectral is None else spectral[0]
        raw: list[torch.Tensor]
        if spectral is not None:
            raw = [parametrizations_of(layer, "weight").original for layer in layers]
        else:
            if any(parametrize.is_parametrized(layer) for layer in layers):
                raise ValueError(
                    f"layer {index} ({layers[0]!r}) carries a parametrization other than "
                    "spectral normalization, which StackedMLP cannot stack"
                )
            raw = [layer.weight for layer in layers]
        self.weight = _stack_parameters(raw, f"layer {index} weight")
        biases = [layer.bias for layer in layers]
        if any((b is None) != (biases[0] is None) for b in biases):
            raise ValueError(f"layer {index} has a bias in some seeds' modules and not in others")
        self.bias: nn.Parameter | None = None
        if biases[0] is not None:
            self.bias = _stack_parameters([b.unsqueeze(0) for b in biases], f"layer {index} bias")
        self.u: torch.Tensor | None = None  # (K, out) and (K, in) with spectral norm
        self.v: torch.Tensor | None = None
        if spectral is not None:
            with torch.no_grad():
                self.u = torch.stack([s._u for s in spectral])
                self.v = torch.stack([s._v for s in spectral])
            self.eps = float(spectral[0].eps)
            self.n_power_iterations = int(spectral[0].n_power_iterations)
        self.layers = list(layers)

    @staticmethod
    def _check_spectral(
        layers: Sequence[nn.Linear], spectral: Sequence[object], index: int
    ) -> Sequence[_PowerIterationNorm]:
        """``spectral`` (one normalization per seed, none None) if every one can be stacked."""
        for layer, s in zip(layers, spectral, strict=True):
            if getattr(s, "dim", 0) != 0 or not hasattr(s, "_u"):
                raise ValueError(
                    f"layer {index}: only spectral normalization along dim 0 with power "
                    f"iteration buffers _u, _v can be stacked, got {s!r}"
                )
            if len(parametrizations_of(layer, "weight")) != 1:
                raise ValueError(
                    f"layer {index} carries other parametrizations besides spectral "
                    "normalization, which StackedMLP cannot stack"
                )
        # a parametrization (hence normlab's or PyTorch's) along dim 0 with buffers _u, _v
        checked = cast(Sequence[_PowerIterationNorm], spectral)
        first = checked[0]
        for s in checked[1:]:
            if (s.eps, s.n_power_iterations) != (first.eps, first.n_power_iterations):
                raise ValueError(
                    f"layer {index}: the seeds' spectral normalizations differ (eps, "
                    "n_power_iterations); every seed must have the same settings"
                )
        return checked

    def parameters(self) -> list[nn.Parameter]:
        return [self.weight] + ([] if self.bias is None else [self.bias])

    def bind(self) -> None:
        """Make every seed's tensors views of their slice of the stacked ones."""
        for k, layer in enumerate(self.layers):
            if self.spectral is None:
                layer.weight.data = self.weight.detach()[k]
            else:
                parametrizations_of(layer, "weight").original.data = self.weight.detach()[k]
                # the one __init__ checked; u and v exist with it
                spectral = cast(_PowerIterationNorm, spectral_norm_of(layer, "weight"))
                u, v = cast(torch.Tensor, self.u), cast(torch.Tensor, self.v)
                # buffers, assigned (not .data): the in-place power iteration of the seed's
                # own module (in an evaluation callback, as in train_gan) then updates the
                # stacked vectors too
                spectral._u = u[k]
                spectral._v = v[k]
            if self.bias is not None:
                layer.bias.data = self.bias.detach()[k, 0]

    def weight_for_forward(self, training: bool) -> torch.Tensor:
        """The weight to multiply by: ``W``, or ``W[k] / σ̂(W[k])`` for every seed.

        In training mode the vectors are first refined by ``n_power_iterations`` power
        iterations (``u ← normalize(W v)``, ``v ← normalize(Wᵀ u)``, PyTorch's order), in
        place; ``σ̂ = uᵀ W v`` with ``u, v`` constants for autograd (Miyato et al., eq. 12).
        """
        if self.spectral is None:
            return self.weight
        stacked_u, stacked_v = cast(torch.Tensor, self.u), cast(torch.Tensor, self.v)
        if training:
            with torch.no_grad():
                weight = self.weight.detach()
                for _ in range(self.n_power_iterations):
                    wv = torch.bmm(weight, stacked_v.unsqueeze(-1)).squeeze(-1)
                    F.normalize(wv, dim=1, eps=self.eps, out=stacked_u)
                    wtu = torch.bmm(weight.mT, stacked_u.unsqueeze(-1)).squeeze(-1)
                    F.normalize(wtu, dim=1, eps=self.eps, out=stacked_v)
        # clones: the next forward overwrites the vectors while autograd still needs these
        u, v = stacked_u.clone(), stacked_v.clone()
        sigma = (u * torch.bmm(self.weight, v.unsqueeze(-1)).squeeze(-1)).sum(-1)
        return self.weight / sigma[:, None, None]

    def __call__(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        weight = self.weight_for_forward(training)
        if self.bias is None:
            return torch.bmm(x, weight.mT)
        return torch.baddbmm(self.bias, x, weight.mT)


def _stack_parameters(tensors: Sequence[torch.Tensor], what: str) -> nn.Parameter:
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"{what} has different shapes across seeds: {sorted(shapes)}")
    flags = {t.requires_grad for t in tensors}
    if len(flags) != 1:
        raise ValueError(f"{what} requires grad in some seeds' modules and not in others")
    with torch.no_grad():
        stacked = torch.stack([t.detach() for t in tensors])
    return nn.Parameter(stacked, requires_grad=flags.pop())


class StackedMLP:
    """K MLPs of the same architecture, run as one with a leading seed dimension.

    Built from K modules, each an ``nn.Sequential`` (possibly nested) of ``nn.Linear``
    layers (optionally spectrally normalized, by normlab's or PyTorch's parametrization),
    elementwise activations (:data:`normlab.gan.stacked.ELEMENTWISE_LAYERS`) and
    ``nn.Flatten``; this covers :class:`normlab.gan.models.MLPGenerator` and
    :class:`normlab.gan.models.MLPCritic` without normalization layers. After construction
    the K modules' parameters and spectral-norm buffers are views into the stacked tensors
    (see the module docstring).

    Args:
        modules: the K modules, all on one device and with one dtype.

    Shape:
        ``(K, N, *features) -> (K, N, *out)``: seed ``k``'s slice is module ``k``'s output.

    Raises:
        TypeError: ``modules`` is not a non-empty sequence of ``nn.Module``.
        ValueError: a layer that cannot be stacked (convolutions, normalization layers,
            other parametrizations), or modules whose architectures differ.
    """

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        if not isinstance(modules, (list, tuple)) or not modules:
            raise TypeError(
                f"modules must be a non-empty list or tuple of nn.Module, got {modules!r}"
            )
        for k, module in enumerate(modules):
            check_module(module, f"modules[{k}]")
        per_seed = [_flat_layers(m) for m in modules]
        reference = per_seed[0]
        for k, layers in enumerate(per_seed[1:], start=1):
            kinds = [type(layer).__name__ for layer in layers]
            if kinds != [type(layer).__name__ for layer in reference]:
                raise ValueError(
                    f"modules[{k}] has layers {kinds}, modules[0] has "
                    f"{[type(layer).__name__ for layer in reference]}: every seed must "
                    "have the same architecture"
                )
        # a stacked linear layer, an elementwise layer, or Flatten's (start_dim, end_dim)
        self.steps: list[_StackedLinear | nn.Module | tuple[int, int]] = []
        for i, layer in enumerate(reference):
            same_position = [layers[i] for layers in per_seed]
            if isinstance(layer, nn.Linear):
                # every seed's layer i has the reference's type name (checked above): Linear
                self.steps.append(_StackedLinear(cast(list[nn.Linear], same_position), i))
            elif isinstance(layer, ELEMENTWISE_LAYERS):
                variants = sorted({repr(other) for other in same_position})
                if len(variants) != 1:
                    raise ValueError(f"layer {i} differs across seeds: {variants}")
                self.steps.append(layer)
            elif isinstance(layer, nn.Flatten):
                self.steps.append((_shifted(layer.start_dim), _shifted(layer.end_dim)))
            else:
                allowed = ", ".join(
                    c.__name__ for c in (nn.Linear, nn.Flatten, *ELEMENTWISE_LAYERS)
                )
                raise ValueError(
                    f"layer {i} ({type(layer).__name__}) cannot be stacked: StackedMLP runs "
                    f"{allowed}; train such a model with normlab.gan.train_gan"
                )
        self.modules = list(modules)
        self.n_models = len(modules)
        self.linears = [s for s in self.steps if isinstance(s, _StackedLinear)]
        if not self.linears:
            raise ValueError("modules have no nn.Linear layer: nothing to stack")
        for linear in self.linears:
            linear.bind()

    def parameters(self) -> list[nn.Parameter]:
        """The stacked parameters, ``(K, ...)`` each, in layer order (weight, then bias)."""
        return [p for linear in self.linears for p in linear.parameters()]

    def __call__(self, x: torch.Tensor, *, training: bool = True) -> torch.Tensor:
        """Run every seed's network on its slice ``x[k]``; ``training`` refines the
        spectral-norm vectors first, as a module in training mode does."""
        for step in self.steps:
            if isinstance(step, _StackedLinear):
                x = step(x, training)
            elif isinstance(step, tuple):
                x = x.flatten(*step)
            else:
                x = step(x)
        return x
