"""Small models used across the chapters.

Every model takes a ``norm_layer`` factory (``num_features -> nn.Module``) so that the same
architecture can be trained with no normalization, with ``torch.nn`` layers or with the
library's own, which is how the chapters compare them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

from torch import nn

from normlab._validation import check_positive_int

__all__ = ["NormFactory", "MLP"]

#: A callable that builds a normalization layer for ``num_features`` features or channels,
#: e.g. ``torch.nn.BatchNorm1d`` or ``lambda c: torch.nn.GroupNorm(4, c)``.
NormFactory = Callable[[int], nn.Module]


class MLP(nn.Sequential):
    """A multilayer perceptron: ``Flatten → [Linear → norm → activation] × k → Linear``.

    The normalization sits between each hidden affine map and its activation, where
    Ioffe & Szegedy (2015) place batch normalization.

    Args:
        in_features: size of each (flattened) input.
        hidden_features: sizes of the hidden layers, e.g. ``(128, 128)``.
        out_features: number of outputs (classes for a classifier).
        norm_layer: factory for a normalization layer of the hidden width, or ``None``.
        activation: factory for the activation module.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: Sequence[int],
        out_features: int,
        *,
        norm_layer: NormFactory | None = None,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        widths = [check_positive_int(w, "hidden_features[i]") for w in hidden_features]
        layers: list[nn.Module] = [nn.Flatten()]
        previous = in_features
        for width in widths:
            layers.append(nn.Linear(previous, width))
            if norm_layer is not None:
                layers.append(norm_layer(width))
            layers.append(activation())
            previous = width
        layers.append(nn.Linear(previous, out_features))
        super().__init__(*layers)

    def __getitem__(self, idx: int | slice) -> nn.Module:
        # nn.Sequential slices by calling type(self)(...), which MLP's constructor cannot
        # take; a slice (e.g. model[:-1], the network up to its penultimate layer) is a
        # plain nn.Sequential sharing the same layers.
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)
