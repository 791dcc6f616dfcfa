r"""Lipschitz constants of single layers: linear maps, activations and convolutions.

A linear layer's constant is :math:`\sigma(W)`; an elementwise activation's is
:math:`\sup_t |\phi'(t)|`; a convolution's is its operator norm **for a given input size**,
which is not the spectral norm of its reshaped kernel (:func:`conv_operator_norm`: exact by
FFT for circular padding, Sedghi et al. 2019, and power iteration through the convolution
and its transpose otherwise). The bounds for whole networks are in
:mod:`normlab.lipschitz.bounds`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from normlab._validation import (
    check_callable,
    check_choice,
    check_floating,
    check_floating_dtype,
    check_input_shape,
    check_module,
    check_nonempty,
    check_positive_int,
)

__all__ = [
    "TRANSPOSED_CONVS",
    "SUPPORTED_ACTIVATIONS",
    "activation_lipschitz",
    "circular_conv_singular_values",
    "operator_norm",
    "conv_operator_norm",
    "layer_lipschitz",
    "eval_mode",
]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: The transposed convolutions (their weight is ``(in, out, *kernel)``, not ``(out, in, ...)``).
TRANSPOSED_CONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_SHAPE_PRESERVING = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
# What isinstance(conv, _CONVS + TRANSPOSED_CONVS) narrows to: the helpers below take it,
# so that a type checker sees the layers' typed attributes (weight, stride, padding ...).
_Conv = (
    nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.ConvTranspose1d | nn.ConvTranspose2d | nn.ConvTranspose3d
)


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Put ``module`` and all its children in eval mode, then restore each one's flag: the
    constants are measured without running a spectral norm's power iteration or changing
    BatchNorm buffers."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


def _sup_abs_derivative(fn: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """``sup |fn'(t)|`` of a smooth scalar function whose derivative peaks inside [-20, 20].

    A float64 grid (step 2e-4) locates the peak and a second one (step 4e-8) around it
    refines it; for a smooth derivative the error is then of order ``step**2``, far below
    float64 rounding.
    """

    def largest_slope(t: torch.Tensor) -> tuple[float, float]:
        t = t.requires_grad_(True)
        with torch.enable_grad():
            (slope,) = torch.autograd.grad(fn(t).sum(), t)
        i = int(slope.abs().argmax())
        return slope[i].abs().item(), t[i].item()

    _, peak = largest_slope(torch.linspace(-20.0, 20.0, 200_001, dtype=torch.float64))
    fine = torch.linspace(peak - 4e-4, peak + 4e-4, 20_001, dtype=torch.float64)
    return largest_slope(fine)[0]


def _gelu_tanh(t: torch.Tensor) -> torch.Tensor:
    return F.gelu(t, approximate="tanh")


# Exact constants of elementwise activations: sup_t |phi'(t)|.
def _activation_constant(module: nn.Module) -> float | None:
    if isinstance(module, (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Tanh, nn.Softsign, nn.CELU)):
        return 1.0  # slopes in [0, 1], reaching 1 (CELU: exp(t / alpha) -> 1 at t = 0)
    if isinstance(module, nn.Softplus):
        return 1.0  # derivative sigmoid(beta * t) -> 1, whatever beta
    if isinstance(module, nn.LeakyReLU):
        return max(1.0, abs(module.negative_slope))
    if isinstance(module, nn.PReLU):
        return max(1.0, module.weight.detach().abs().max().item())
    if isinstance(module, nn.ELU):
        return max(1.0, abs(module.alpha))  # alpha * e^t -> alpha as t -> 0-
    if isinstance(module, nn.SELU):
        return 1.0507009873554805 * 1.6732632423543772  # scale * alpha, as t -> 0-
    if isinstance(module, nn.Sigmoid):
        return 0.25  # sigmoid' = s (1 - s), largest at t = 0
    if isinstance(module, nn.Hardsigmoid):
        return 1.0 / 6.0
    if isinstance(module, nn.Hardswish):
        return 1.5  # (2t + 3) / 6 at t = 3
    if isinstance(module, nn.GELU):
        if module.approximate == "none":
            # phi(t) = t * Phi(t): phi'' = 0 at t = sqrt(2), phi' = Phi(sqrt 2) + sqrt 2 N(sqrt 2)
            r = math.sqrt(2.0)
            return 0.5 * (1 + math.erf(r / math.sqrt(2))) + r * math.exp(-1.0) / math.sqrt(
                2 * math.pi
            )
        return _sup_abs_derivative(_gelu_tanh)
    if isinstance(module, nn.SiLU):
        return _sup_abs_derivative(F.silu)
    if isinstance(module, nn.Mish):
        return _sup_abs_derivative(F.mish)
    return None


SUPPORTED_ACTIVATIONS = (
    "ReLU, ReLU6, LeakyReLU, PReLU, ELU, CELU, SELU, GELU, SiLU, Mish, Softplus, "
    "Tanh, Sigmoid, Hardtanh, Hardsigmoid, Hardswish, Softsign"
)


# --------------------------------------------------------------------------- layers


def activation_lipschitz(module: nn.Module) -> float:
    r"""The Lipschitz constant :math:`\sup_t |\phi'(t)|` of an elementwise activation.

    An elementwise map with slope at most :math:`L` everywhere has Jacobian
    :math:`\operatorname{diag}(\phi'(x_i))`, whose spectral norm is at most :math:`L`:
    ReLU 1, LeakyReLU(:math:`a`) :math:`\max(1, |a|)`, ELU(:math:`\alpha`)
    :math:`\max(1, \alpha)`, SELU :math:`\lambda\alpha \approx 1.758`, sigmoid 1/4, GELU
    :math:`\Phi(\sqrt2) + \sqrt2\,\varphi(\sqrt2) \approx 1.129`, SiLU :math:`\approx 1.100`.

    Args:
        module: one of ReLU, ReLU6, LeakyReLU, PReLU, ELU, CELU, SELU, GELU, SiLU, Mish,
            Softplus, Tanh, Sigmoid, Hardtanh, Hardsigmoid, Hardswish, Softsign.

    Returns:
        The constant, a float.

    Raises:
        TypeError: ``module`` is not one of those activations.
    """
    constant = _activation_constant(module)
    if constant is None:
        raise TypeError(
            f"module must be an elementwise activation ({SUPPORTED_ACTIVATIONS}), "
            f"got {type(module).__name__}"
        )
    return constant


def circular_conv_singular_values(
    weight: torch.Tensor,
    input_size: Sequence[int],
    *,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> torch.Tensor:
    r"""All singular values of a stride-1 convolution with circular padding (Sedghi et al.).

    A convolution that wraps around an input of spatial size :math:`n_1 \times \dots` is
    block-circulant; the Fourier transform diagonalizes it into one small
    :math:`c_\text{out} \times c_\text{in}` matrix per frequency :math:`\omega`,

    .. math::

        \hat K(\omega) = \sum_{p} K[:, :, p]\, e^{-2\pi i \langle \omega, p / n\rangle},

    and the operator's singular values are the union of theirs (Sedghi, Gupta & Long, 2019,
    Theorem 6). Exact, and fast: one FFT and :math:`\prod n_i` small SVDs. Applies to a
    PyTorch ``ConvNd(..., padding_mode="circular")`` whose output has the input's spatial
    size (stride 1, padding :math:`d(k-1)/2`); cross-correlation instead of convolution
    only conjugates :math:`\hat K`, which leaves singular values unchanged.

    Args:
        weight: ``(c_out, c_in / groups, k_1, ..., k_d)`` real floating-point kernel,
            ``d`` = 1, 2 or 3.
        input_size: the spatial input size ``(n_1, ..., n_d)``, each at least the
            (dilated) kernel size.
        groups: the convolution's ``groups``; the operator is block diagonal per group.
        dilation: the convolution's dilation (an int or one per spatial axis).

    Returns:
        Tensor of the :math:`\prod n_i \cdot \min(c_\text{out}, c_\text{in})` singular values
        (per group), in descending order, in ``weight``'s dtype (computed in float64).

    Raises:
        TypeError: ``weight`` is not a floating-point tensor; sizes are not ints.
        ValueError: ``weight`` is not 3-D to 5-D or empty; ``input_size`` has the wrong
            length or is smaller than the kernel; ``groups`` does not divide ``c_out``.
    """
    weight = check_floating(weight, "weight")
    if weight.ndim not in (3, 4, 5):
        raise ValueError(
            "weight must be a 3-D, 4-D or 5-D conv kernel (c_out, c_in/groups, *kernel), "
            f"got a {weight.ndim}-D tensor of shape {tuple(weight.shape)}"
        )
    check_nonempty(weight, "weight")
    d = weight.ndim - 2
    size = check_input_shape(input_size, "input_size")
    if len(size) != d:
        raise ValueError(
            f"input_size must have {d} entries for a {weight.ndim}-D kernel, got {size}"
        )
    groups = check_positive_int(groups, "groups")
    if weight.shape[0] % groups:
        raise ValueError(f"groups ({groups}) must divide c_out ({weight.shape[0]})")
    # Anything but a sequence is one dilation for every axis, checked as an int below.
    given = tuple(dilation) if isinstance(dilation, (tuple, list)) else (dilation,) * d
    if len(given) != d:
        raise ValueError(f"dilation must be an int or have {d} entries, got {dilation!r}")
    dilations = tuple(check_positive_int(x, "dilation") for x in given)
    kernel = weight.detach().to(torch.float64)
    if any(x > 1 for x in dilations):  # place the taps d apart, zeros in between
        full = [(k - 1) * x + 1 for k, x in zip(kernel.shape[2:], dilations, strict=True)]
        dilated = kernel.new_zeros(*kernel.shape[:2], *full)
        taps = (slice(None), slice(None), *(slice(None, None, x) for x in dilations))
        dilated[taps] = kernel
        kernel = dilated
    if any(k > n for k, n in zip(kernel.shape[2:], size, strict=True)):
        raise ValueError(
            f"input_size {size} must be at least the (dilated) kernel size "
            f"{tuple(kernel.shape[2:])}: a larger kernel would wrap around onto itself"
        )
    spatial = tuple(range(2, kernel.ndim))
    transforms = torch.fft.fftn(kernel, s=size, dim=spatial)  # (c_out, c_in_g, *size)
    transforms = transforms.movedim((0, 1), (-2, -1))  # (*size, c_out, c_in_g)
    c_out, c_in_g = kernel.shape[:2]
    transforms = transforms.reshape(*size, groups, c_out // groups, c_in_g)
    sigma = torch.linalg.svdvals(transforms).flatten()
    return sigma.sort(descending=True).values.to(weight.dtype)


def operator_norm(
    fn: Callable[[torch.Tensor], torch.Tensor],
    input_shape: Sequence[int],
    *,
    n_iters: int = 100,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> float:
    r"""The spectral norm of a **linear** map, by power iteration through it and its adjoint.

    Iterates :math:`x \leftarrow A^\top A x / \|A^\top A x\|_2` and returns
    :math:`\|A x\|_2`, a lower estimate of :math:`\|A\|_2` that converges like
    Chapter 1's power iteration (the rate is set by the gap between the top two singular
    values). :math:`A^\top y` is applied by autograd, as the vector-Jacobian product of
    ``fn``; for a convolution that is the transposed convolution. Nothing is stored, so any
    linear map works: a conv layer without bias, a pooling layer, a composition of them.

    Args:
        fn: a linear function of a batch ``(1, *input_shape)`` (no bias: ``fn(0) = 0``).
        input_shape: the shape of one input, without the batch axis.
        n_iters: power iterations, at least 1.
        dtype: floating dtype of the iterate.
        device: device of the iterate (default: the CPU).
        generator: random generator for the starting vector (on ``device``).

    Returns:
        The estimate, a float (0 for the zero map).

    Raises:
        TypeError: ``fn`` is not callable; ``input_shape`` is not a tuple of ints.
        ValueError: ``n_iters < 1``.
    """
    check_callable(fn, "fn")
    shape = check_input_shape(input_shape)
    n_iters = check_positive_int(n_iters, "n_iters")
    check_floating_dtype(dtype, "dtype")
    x = torch.randn((1, *shape), dtype=dtype, device=device, generator=generator)
    x = x / x.norm()
    with torch.enable_grad():
        for _ in range(n_iters):
            x.requires_grad_(True)
            y = fn(x)
            if not isinstance(y, torch.Tensor):
                raise TypeError(f"fn must return a tensor, got {type(y).__name__}")
            if not y.requires_grad:  # fn ignores its input (torch.zeros_like): the zero map
                return 0.0
            # A map that ignores its input (the zero map, torch.zeros_like) leaves y out of
            # x's graph: its adjoint is 0, so A^T A x = 0.
            (x,) = torch.autograd.grad(
                y, x, grad_outputs=y.detach(), allow_unused=True, materialize_grads=True
            )
            norm = x.norm()
            if norm == 0:
                return 0.0
            x = x / norm
    with torch.no_grad():
        return fn(x).norm().item()


def _conv_output_shape(conv: _Conv, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Run ``conv`` on zeros to get the output shape; turn PyTorch's error into ours."""
    weight = conv.weight
    try:
        with torch.no_grad():
            out = conv(torch.zeros((1, *shape), dtype=weight.dtype, device=weight.device))
    except RuntimeError as err:
        raise ValueError(
            f"input_shape {shape} does not fit {conv}: {str(err).splitlines()[0]}"
        ) from err
    return tuple(out.shape[1:])


def _check_conv_input(conv: _Conv, input_shape: object) -> tuple[int, ...]:
    shape = check_input_shape(input_shape)
    d = len(conv.kernel_size)
    if len(shape) != d + 1:
        raise ValueError(
            f"input_shape must be (channels, {d} spatial sizes) for {type(conv).__name__}, "
            f"got {shape}"
        )
    if shape[0] != conv.in_channels:
        raise ValueError(
            f"input_shape {shape} has {shape[0]} channels, but {type(conv).__name__} expects "
            f"in_channels = {conv.in_channels}"
        )
    _conv_output_shape(conv, shape)
    return shape


def _linear_part(conv: _Conv) -> Callable[[torch.Tensor], torch.Tensor]:
    """The convolution without its bias (the bias shifts outputs, it does not stretch)."""
    weight = conv.weight  # read once: a spectrally normalized weight is computed here
    if isinstance(conv, TRANSPOSED_CONVS):
        transposed = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
        op = transposed[len(conv.kernel_size)]
        # torch types padding as str | tuple for every conv; a transposed one refuses strings
        padding = cast(tuple[int, ...], conv.padding)
        return lambda x: op(
            x,
            weight,
            None,
            conv.stride,
            padding,
            conv.output_padding,
            conv.groups,
            conv.dilation,
        )
    return lambda x: conv._conv_forward(x, weight, None)  # handles every padding_mode


def _fft_applies(conv: _Conv, shape: tuple[int, ...]) -> bool:
    """Sedghi's method is exact for a stride-1 circular convolution that keeps the size."""
    return (
        isinstance(conv, _CONVS)
        and conv.padding_mode == "circular"
        and all(s == 1 for s in conv.stride)
        and _conv_output_shape(conv, shape)[1:] == shape[1:]
    )


def conv_operator_norm(
    conv: nn.Module,
    input_shape: Sequence[int],
    *,
    method: str = "auto",
    n_iters: int = 100,
    generator: torch.Generator | None = None,
) -> float:
    r"""The operator norm :math:`\max_x \|\mathrm{conv}(x)\|_2 / \|x\|_2` of a conv layer.

    This is the layer's Lipschitz constant (the bias does not count) and depends on the
    input size and on the padding. It lies between the spectral norm of the reshaped kernel
    :math:`W \in \mathbb{R}^{c_\text{out} \times c_\text{in} k_1 \cdots k_d}` (what spectral
    normalization divides by) and :math:`\sqrt{k_1 \cdots k_d}` times it, for stride 1.

    Args:
        conv: ``Conv1d/2d/3d`` (any padding mode, stride, dilation, groups) or
            ``ConvTranspose1d/2d/3d``.
        input_shape: ``(c_in, n_1, ..., n_d)``, one input without the batch axis.
        method: ``"fft"``: exact, Sedghi et al.'s method, only for a stride-1 circular
            convolution that keeps the spatial size; ``"power"``: power iteration through
            the convolution and its transpose (:func:`~normlab.lipschitz.layers.operator_norm`),
            any convolution;
            ``"auto"``: ``"fft"`` where it applies, else ``"power"``.
        n_iters: power iterations for ``"power"``.
        generator: random generator for the power iteration's start.

    Returns:
        The operator norm, a float. The power method returns a lower estimate that
        converges from below.

    Raises:
        TypeError: ``conv`` is not a convolution; ``input_shape`` is not a tuple of ints.
        ValueError: ``input_shape`` does not fit the layer (channels, number of axes, too
            small for the kernel); ``method`` is unknown, or ``"fft"`` where it is not exact.
    """
    if not isinstance(conv, _CONVS + TRANSPOSED_CONVS):
        raise TypeError(
            f"conv must be a Conv1d/2d/3d or ConvTranspose1d/2d/3d, got {type(conv).__name__}"
        )
    check_choice(method, "method", ("auto", "fft", "power"))
    with eval_mode(conv):
        shape = _check_conv_input(conv, input_shape)
        fft_ok = _fft_applies(conv, shape)
        if method == "fft" and not fft_ok:
            raise ValueError(
                "method='fft' is exact only for a stride-1 Conv with padding_mode='circular' "
                f"whose output keeps the input's spatial size; {conv} on {shape} is not one "
                "(use method='power')"
            )
        if fft_ok and method != "power":
            sigma = circular_conv_singular_values(
                conv.weight, shape[1:], groups=conv.groups, dilation=conv.dilation
            )
            return sigma[0].item()
        weight = conv.weight
        return operator_norm(
            _linear_part(conv),
            shape,
            n_iters=n_iters,
            dtype=weight.dtype,
            device=weight.device,
            generator=generator,
        )


def layer_lipschitz(
    module: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    n_iters: int = 100,
    generator: torch.Generator | None = None,
) -> float:
    r"""The Lipschitz constant of one layer (in the Euclidean norm, in eval mode).

    - ``Linear``: :math:`\sigma(W)`, exact (SVD);
    - ``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d``: the operator norm for ``input_shape``
      (:func:`~normlab.lipschitz.layers.conv_operator_norm`);
    - elementwise activations: :math:`\sup |\phi'|`
      (:func:`~normlab.lipschitz.layers.activation_lipschitz`);
    - ``Flatten``, ``Identity``, ``Dropout``: 1 (``Dropout`` is the identity in eval mode).

    A spectrally normalized layer is measured with the weight it uses, :math:`W/\hat\sigma`.

    Args:
        module: the layer.
        input_shape: shape of one input without the batch axis; required for convolutions.
        n_iters: power iterations for convolutions that need them.
        generator: random generator for those power iterations.

    Returns:
        The constant, a float.

    Raises:
        TypeError: the layer type is not supported.
        ValueError: a convolution without ``input_shape``, or with one that does not fit.
    """
    check_module(module, "module")
    with eval_mode(module):
        if isinstance(module, nn.Linear):
            # LAPACK has no half precision: float64, as normlab.linalg.singular_values does.
            weight = module.weight.detach().to(torch.float64)
            return torch.linalg.matrix_norm(weight, 2).item()
        if isinstance(module, _CONVS + TRANSPOSED_CONVS):
            if input_shape is None:
                raise ValueError(
                    f"input_shape is required for {type(module).__name__}: the operator norm "
                    "of a convolution depends on the size of its input"
                )
            return conv_operator_norm(module, input_shape, n_iters=n_iters, generator=generator)
        if isinstance(module, (nn.Flatten, *_SHAPE_PRESERVING)):
            return 1.0
        constant = _activation_constant(module)
        if constant is None:
            raise TypeError(
                f"cannot compute the Lipschitz constant of {type(module).__name__}; supported: "
                f"Linear, Conv1d/2d/3d, ConvTranspose1d/2d/3d, Flatten, Identity, Dropout, "
                f"and the activations {SUPPORTED_ACTIVATIONS}"
            )
        return constant
