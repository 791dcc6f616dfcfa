r"""Lipschitz constants of layers, and upper and lower bounds for whole networks.

A function :math:`f` is :math:`L`-Lipschitz (in the Euclidean norm) when
:math:`\|f(x) - f(y)\|_2 \le L \|x - y\|_2` for all :math:`x, y`; its Lipschitz constant is
the smallest such :math:`L`. For a differentiable :math:`f` it equals
:math:`\sup_x \|J_f(x)\|_2`, the largest spectral norm of its Jacobian.

- Layers (:func:`~normlab.lipschitz.layers.layer_lipschitz`): a linear layer's constant is
  :math:`\sigma(W)`; an elementwise activation's is :math:`\sup_t |\phi'(t)|`; a
  convolution's is its operator norm **for a given input size**, which is not the spectral
  norm of its reshaped kernel (:func:`~normlab.lipschitz.layers.conv_operator_norm`: exact by FFT
  for circular padding, Sedghi et al. 2019, and power iteration through the convolution and
  its transpose otherwise).
- Networks: the product of the layers' constants is an upper bound
  (:func:`~normlab.lipschitz.bounds.lipschitz_upper_bound`, "AutoLip" in Virmaux & Scaman 2018);
  the largest gradient norm found by gradient ascent
  (:func:`~normlab.lipschitz.bounds.lipschitz_lower_bound_gradient`) and the largest difference
  quotient over sampled pairs (:func:`~normlab.lipschitz.bounds.lipschitz_lower_bound_pairs`) are
  lower bounds. Computing the constant exactly is NP-hard already for two-layer ReLU
  networks (Virmaux & Scaman 2018), so the truth lies between the two.

Bounds are computed with the network in eval mode (restored afterwards), so that measuring
does not run the power iteration of spectrally normalized layers or change BatchNorm
buffers.

Two modules: :mod:`normlab.lipschitz.layers` (single layers) and
:mod:`normlab.lipschitz.bounds` (whole networks); every name is importable from
``normlab.lipschitz`` too.
"""

from normlab.lipschitz.bounds import (
    LipschitzLowerBound,
    lipschitz_constants,
    lipschitz_lower_bound_gradient,
    lipschitz_lower_bound_pairs,
    lipschitz_upper_bound,
)
from normlab.lipschitz.layers import (
    SUPPORTED_ACTIVATIONS,
    TRANSPOSED_CONVS,
    activation_lipschitz,
    circular_conv_singular_values,
    conv_operator_norm,
    eval_mode,
    layer_lipschitz,
    operator_norm,
)

__all__ = [
    "TRANSPOSED_CONVS",
    "SUPPORTED_ACTIVATIONS",
    "LipschitzLowerBound",
    "activation_lipschitz",
    "circular_conv_singular_values",
    "operator_norm",
    "conv_operator_norm",
    "layer_lipschitz",
    "eval_mode",
    "lipschitz_constants",
    "lipschitz_upper_bound",
    "lipschitz_lower_bound_gradient",
    "lipschitz_lower_bound_pairs",
]
