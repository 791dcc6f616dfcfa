r"""Normalization layers built from their formula: batch, layer, instance and group norm.

Every layer of the family computes the same thing,

.. math::

    y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}}\,\gamma + \beta ,

with the *biased* variance, and the members differ only in **the axes over which**
:math:`\mathrm{E}` and :math:`\mathrm{Var}` are taken, for an input of shape
``(N, C, *spatial)``:

=======================  ==================================================================
module                   what it holds
=======================  ==================================================================
``reference``            :func:`normalize`, the formula, differentiated by autograd
``_checks``, ``_ops``    the internal API: argument checks, and the unchecked tensor
                         pieces that the kernels and :mod:`normlab.sync_batchnorm` share
``pieces``               batch norm's forward and backward passes in checked steps
``kernels``              the ``autograd.Function`` classes, hand-derived backward passes
``functional``           ``batch_norm``, ``instance_norm``, ``layer_norm``, ``group_norm``
``modules``              the ``torch.nn``-compatible layers
=======================  ==================================================================

Every public name is importable from this package (``normlab.normalization.X``) and from
``normlab``.

References: Ioffe & Szegedy 2015 (batch norm), Ba, Kiros & Hinton 2016 (layer norm),
Ulyanov, Vedaldi & Lempitsky 2016 (instance norm), Wu & He 2018 (group norm).
"""

from normlab.normalization.functional import batch_norm, group_norm, instance_norm, layer_norm
from normlab.normalization.kernels import BatchNormFunction, GroupNormFunction, LayerNormFunction
from normlab.normalization.modules import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
)
from normlab.normalization.pieces import (
    batch_norm_backward_elemt,
    batch_norm_backward_reduce,
    batch_norm_elemt,
    batch_norm_stats,
    update_running_stats,
)
from normlab.normalization.reference import normalize

__all__ = [
    # the one idea
    "normalize",
    # batch normalization's hand-derived forward and backward, in reusable pieces
    "batch_norm_stats",
    "batch_norm_elemt",
    "batch_norm_backward_reduce",
    "batch_norm_backward_elemt",
    "update_running_stats",
    "BatchNormFunction",
    "GroupNormFunction",
    "LayerNormFunction",
    # functional forms, with torch.nn.functional's signatures
    "batch_norm",
    "instance_norm",
    "layer_norm",
    "group_norm",
    # modules, with torch.nn's signatures
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "GroupNorm",
]
