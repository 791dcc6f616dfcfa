"""Spectral normalization as a parametrization: a layer computes with W / σ(W).

Miyato et al. (2018) make every layer of a GAN critic 1-Lipschitz (as a matrix) by dividing
its weight by its spectral norm σ(W), the largest singular value, estimated by power
iteration with vectors kept from one training step to the next (Chapter 1). The division is
a differentiable function of the raw weight: the optimizer updates the raw ``W``, and the
gradient flows through σ(W) as well as through W (Miyato et al., eq. 12).

:func:`normlab.spectral_normalization.spectral_norm` registers that function with
``torch.nn.utils.parametrize``, exactly like ``torch.nn.utils.parametrizations.spectral_norm``:
same arguments and defaults, same parameter and buffer names
(``parametrizations.weight.original``, ``..._u``, ``..._v``), so state dicts load across;
same warm-up iterations at registration, one iteration per access of the weight in
training mode and none in eval mode. Given the same starting vectors (the same seed), the
normalized weights agree to rounding error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm
from torch.nn.utils.spectral_norm import SpectralNorm as HookSpectralNorm

from normlab._validation import (
    check_finite_positive_float,
    check_floating,
    check_int,
    check_module,
    check_nonempty,
    check_positive_int,
)
from normlab.lipschitz import TRANSPOSED_CONVS

__all__ = [
    "WARMUP_ITERATIONS",
    "SpectralNorm",
    "spectral_norm",
    "remove_spectral_norm",
    "spectrally_normalize",
    "spectral_norm_of",
    "parametrizations_of",
]

#: Power iterations run when the parametrization is constructed, as in PyTorch, so that the
#: first forward already divides by a good estimate of σ(W). Registering it adds one more:
#: ``register_parametrization`` evaluates the parametrization once to check its output.
WARMUP_ITERATIONS = 15

#: The layers :func:`spectrally_normalize` normalizes: those of the critics of Part IV.
NORMALIZED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class SpectralNorm(nn.Module):
    r"""The parametrization :math:`W \mapsto W / \hat\sigma(W)` with persistent power iteration.

    The weight is viewed as a matrix with ``weight.shape[dim]`` rows (the outputs) and every
    other axis flattened into the columns; for a conv weight ``(c_out, c_in, k_h, k_w)`` that
    is :math:`c_\text{out} \times c_\text{in} k_h k_w` (Miyato et al., Sec. 2.1). Buffers
    ``_u`` (one entry per row) and ``_v`` (one per column) hold the current estimates of the
    top singular vectors, and :math:`\hat\sigma = u^\top W v`. A 1-D weight is divided by
    its Euclidean norm exactly, with no buffers.

    Use :func:`normlab.spectral_normalization.spectral_norm` to register it; the class is
    public so that it can be found with ``isinstance`` in ``module.parametrizations[name]``.

    Raises:
        TypeError: ``weight`` is not real floating point; ``n_power_iterations`` or ``dim``
            is not an int.
        ValueError: ``weight`` is empty; ``n_power_iterations < 1``; ``eps`` is not finite
            and > 0.
        IndexError: ``dim`` is not an axis of ``weight``.

    Args:
        weight: the tensor to normalize, real floating point, at least 1-D.
        n_power_iterations: iterations per forward in training mode, at least 1.
        dim: the axis of ``weight`` that indexes the outputs.
        eps: safety term of the normalizations (``F.normalize``'s ``eps``).
    """

    # The buffers registered in __init__ (for a weight of 2 or more axes), declared so that a
    # type checker sees tensors instead of nn.Module.__getattr__'s Tensor | Module.
    _u: torch.Tensor
    _v: torch.Tensor

    def __init__(
        self,
        weight: torch.Tensor,
        n_power_iterations: int = 1,
        dim: int = 0,
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        n_power_iterations, dim, eps = _check_arguments(weight, n_power_iterations, dim, eps)
        self.dim = dim % weight.ndim
        self.eps = eps
        self.n_power_iterations = n_power_iterations
        if weight.ndim > 1:
            weight_mat = self._reshape_weight_to_matrix(weight.detach())
            h, w = weight_mat.shape
            # The same random calls as PyTorch, in the same order, so that one seed gives
            # both implementations the same starting vectors.
            u = weight_mat.new_empty(h).normal_(0, 1)
            v = weight_mat.new_empty(w).normal_(0, 1)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=eps))
            self._power_method(weight_mat, WARMUP_ITERATIONS)

    def _reshape_weight_to_matrix(self, weight: torch.Tensor) -> torch.Tensor:
        """``(..., d_dim, ...)`` → ``(d_dim, prod(other axes))``: outputs first, then flatten."""
        if self.dim != 0:
            weight = weight.movedim(self.dim, 0)
        return weight.flatten(1)

    @torch.no_grad()
    def _power_method(self, weight_mat: torch.Tensor, n_iters: int) -> None:
        """Update ``_u`` and ``_v`` by ``n_iters`` iterations, in place.

        The iteration of :func:`normlab.linalg.power_iteration` started from ``v`` (PyTorch's
        order: ``u`` from ``v``, then ``v`` from ``u``); ``power_iteration(W, k, v=v0)``
        returns the same vectors. It is written out here, without argument checks, because
        it runs on every forward. The buffers are written in place (``out=``): module
        replicas made by ``DataParallel`` share their storage, so the update reaches the
        original module.
        """
        for _ in range(n_iters):
            F.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps, out=self._u)
            F.normalize(torch.mv(weight_mat.mT, self._u), dim=0, eps=self.eps, out=self._v)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        """Return ``weight / sigma``; in training mode, first refine ``_u`` and ``_v``."""
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)  # exact: σ of a vector is its norm
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        # Clones, because the next forward (e.g. D(fake) after D(real)) overwrites the
        # buffers in place, while autograd still needs these values for the backward.
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        # u and v are constants for autograd, so d sigma / dW = u v^T (Miyato et al., eq. 12).
        sigma = torch.dot(u, torch.mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        """Assigning ``module.weight = X`` stores ``X`` itself as the raw weight (as PyTorch)."""
        return value

    def extra_repr(self) -> str:
        return f"n_power_iterations={self.n_power_iterations}, dim={self.dim}, eps={self.eps}"


def _check_arguments(
    weight: object, n_power_iterations: object, dim: object, eps: object, name: str = "weight"
) -> tuple[int, int, float]:
    """Validate the parametrization's arguments; return them as int, int, float."""
    n_power_iterations = check_positive_int(n_power_iterations, "n_power_iterations")
    eps = check_finite_positive_float(eps, "eps")
    weight = check_floating(weight, name)
    check_nonempty(weight, name)
    dim = check_int(dim, "dim")
    if not -weight.ndim <= dim < weight.ndim:
        raise IndexError(
            f"dim must be an axis of {name}, a {weight.ndim}-D tensor of shape "
            f"{tuple(weight.shape)} (in [{-weight.ndim}, {weight.ndim - 1}]), got {dim}"
        )
    return n_power_iterations, dim, eps


def parametrizations_of(module: nn.Module, name: str) -> parametrize.ParametrizationList:
    """``module.parametrizations[name]`` (``module`` is parametrized), typed as what it is."""
    # nn.Module.__getattr__ types every submodule as Tensor | Module
    parametrizations = cast(nn.ModuleDict, module.parametrizations)
    return cast(parametrize.ParametrizationList, parametrizations[name])


def spectral_norm_of(module: nn.Module, name: str) -> nn.Module | HookSpectralNorm | None:
    """The spectral normalization already applied to ``module.<name>``, if any.

    Recognizes this module's parametrization, PyTorch's (``parametrizations.spectral_norm``)
    and PyTorch's old hook (``torch.nn.utils.spectral_norm``).
    """
    if parametrize.is_parametrized(module, name):
        for p in parametrizations_of(module, name):
            if isinstance(p, (SpectralNorm, _SpectralNorm)):
                return p
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, HookSpectralNorm) and hook.name == name:
            return hook
    return None


def spectral_norm(
    module: nn.Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> nn.Module:
    r"""Apply spectral normalization to the parameter ``name`` of ``module``.

    .. math::

        W_\text{SN} = \frac{W}{\sigma(W)}, \qquad
        \sigma(W) = \max_{h \neq 0} \frac{\|W h\|_2}{\|h\|_2} \approx u^\top W v,

    with :math:`u, v` refined by ``n_power_iterations`` power iterations each time the weight
    is accessed in training mode, and frozen in eval mode (Miyato et al., 2018). A drop-in
    replacement for ``torch.nn.utils.parametrizations.spectral_norm``: same signature,
    defaults, parameter and buffer names, state dict keys, and the same numbers given the
    same seed.

    The weight is a function of the raw parameter (``module.parametrizations.<name>.original``),
    never rewritten in place, so the optimizer updates the raw weight and the gradient flows
    through :math:`\sigma`:
    :math:`\partial L/\partial W = (G - \langle G, W_\text{SN}\rangle\, u v^\top)/\sigma`
    with :math:`G = \partial L/\partial W_\text{SN}` (Miyato et al., eq. 12).

    Args:
        module: the layer, e.g. ``nn.Linear`` or ``nn.Conv2d``.
        name: name of the weight parameter (or buffer) to normalize.
        n_power_iterations: power iterations per training-mode access, at least 1.
        eps: safety term of the normalizations, > 0.
        dim: axis of the weight that indexes the outputs. ``None`` chooses 1 for
            ``ConvTranspose1d/2d/3d`` (whose weights are ``(in, out, *kernel)``) and 0
            otherwise.

    Returns:
        ``module``, with the parametrization registered.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``; ``name`` is not a string; the tensor is
            not real floating point; ``n_power_iterations`` or ``dim`` is not an int.
        ValueError: ``module`` has no tensor called ``name``, or it is empty;
            ``n_power_iterations < 1``; ``eps`` is not finite and > 0.
        IndexError: ``dim`` is not an axis of the weight (PyTorch's error type).
        RuntimeError: ``name`` already has spectral normalization (this module's, PyTorch's
            parametrization or PyTorch's old hook): applying it twice would divide twice.
    """
    check_module(module, "module")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    n_power_iterations = check_positive_int(n_power_iterations, "n_power_iterations")
    eps = check_finite_positive_float(eps, "eps")
    # Checked before reading the weight: reading a spectrally normalized weight in training
    # mode would run a power iteration.
    if spectral_norm_of(module, name) is not None:
        raise RuntimeError(
            f"{name!r} of {type(module).__name__} already has spectral normalization; "
            "remove it first (normlab.remove_spectral_norm) instead of dividing twice"
        )
    weight = getattr(module, name, None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(
            f"module {type(module).__name__} has no parameter or buffer named {name!r}"
        )
    if dim is None:
        dim = 1 if isinstance(module, TRANSPOSED_CONVS) else 0
    _check_arguments(weight, n_power_iterations, dim, eps, f"module.{name}")
    parametrize.register_parametrization(
        module, name, SpectralNorm(weight, n_power_iterations, dim, eps)
    )
    return module


def remove_spectral_norm(module: nn.Module, name: str = "weight") -> nn.Module:
    """Remove the spectral normalization of ``module.<name>``, keeping the normalized weight.

    The parameter ``name`` becomes a plain ``nn.Parameter`` holding :math:`W/\\hat\\sigma`
    computed with the stored ``u`` and ``v``, without a further power iteration: the weight
    the module uses in eval mode. (PyTorch's ``parametrize.remove_parametrizations`` runs one
    more iteration when the parametrization is in training mode.)

    Args:
        module: a module on which :func:`normlab.spectral_normalization.spectral_norm` was applied.
        name: the normalized parameter.

    Returns:
        ``module``.

    Raises:
        TypeError: ``module`` is not an ``nn.Module`` or ``name`` is not a string.
        ValueError: ``module.<name>`` has no spectral normalization from this module, or it
            carries other parametrizations as well.
    """
    check_module(module, "module")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    found = spectral_norm_of(module, name)
    if not isinstance(found, SpectralNorm):
        raise ValueError(
            f"spectral_norm of {name!r} not found in {type(module).__name__} "
            "(remove PyTorch's own with torch.nn.utils.parametrize.remove_parametrizations)"
        )
    if len(parametrizations_of(module, name)) != 1:
        raise ValueError(
            f"{name!r} of {type(module).__name__} carries other parametrizations besides "
            "spectral normalization; remove them together with "
            "torch.nn.utils.parametrize.remove_parametrizations"
        )
    found.eval()  # no power iteration while the final weight is computed
    parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return module


def spectrally_normalize(
    module: nn.Module, spectral_norm: Callable[..., nn.Module] | None = None, **options: Any
) -> nn.Module:
    """Spectrally normalize the weight of every Linear and Conv layer of ``module``.

    The SN-GAN critic of Miyato et al. (2018): ``W -> W / sigma(W)`` in every layer, so that
    the product of the layers' spectral norms (an upper bound of the critic's Lipschitz
    constant for a dense network, Chapter 2) is about 1.

    Args:
        module: a network, e.g. ``normlab.gan.MLPCritic``; changed in place.
        spectral_norm: the function applied to each layer, ``layer -> layer``; default
            :func:`spectral_norm` (pass ``torch.nn.utils.parametrizations.spectral_norm``
            to compare with PyTorch's).
        **options: keyword arguments of ``spectral_norm``, e.g. ``n_power_iterations``.

    Returns:
        ``module``.

    Raises:
        TypeError: ``module`` is not an ``nn.Module`` or ``spectral_norm`` is not callable.
        ValueError: ``module`` has no Linear or Conv layer (nothing would be normalized).
    """
    check_module(module, "module")
    if spectral_norm is None:
        spectral_norm = globals()["spectral_norm"]
    if not callable(spectral_norm):
        raise TypeError(f"spectral_norm must be callable, got {type(spectral_norm).__name__}")
    layers = [m for m in module.modules() if isinstance(m, NORMALIZED_LAYERS)]
    if not layers:
        raise ValueError(
            f"module ({type(module).__name__}) has no Linear or Conv1d/2d/3d layer to normalize"
        )
    for layer in layers:
        spectral_norm(layer, **options)
    return module
