"""Small models used across the chapters.

Every model takes a ``norm_layer`` factory (``num_features -> nn.Module``) so that the same
architecture can be trained with no normalization, with ``torch.nn`` layers or with the
library's own, which is how the chapters compare them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from normlab._validation import check_module, check_positive_int
from normlab.normalization import BatchNorm2d

__all__ = [
    "NormFactory",
    "hidden_layers",
    "MLP",
    "LeNet",
    "ConvNet",
    "ResidualBlock",
    "ResNet",
    "he_initialize",
]

#: A callable that builds a normalization layer for ``num_features`` features or channels,
#: e.g. ``torch.nn.BatchNorm1d`` or ``lambda c: torch.nn.GroupNorm(4, c)``.
NormFactory = Callable[[int], nn.Module]


def hidden_layers(
    in_features: int,
    widths: Sequence[int],
    norm_layer: NormFactory | None,
    activation: Callable[[], nn.Module],
) -> tuple[list[nn.Module], int]:
    """The hidden part of an MLP, ``[Linear → norm → activation]`` for each width (no norm
    when ``norm_layer`` is ``None``), and the width of its output. Arguments as checked by
    :class:`MLP` and the GAN models that build on it."""
    layers: list[nn.Module] = []
    previous = in_features
    for width in widths:
        layers.append(nn.Linear(previous, width))
        if norm_layer is not None:
            layers.append(norm_layer(width))
        layers.append(activation())
        previous = width
    return layers, previous


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
        hidden, previous = hidden_layers(in_features, widths, norm_layer, activation)
        layers: list[nn.Module] = [nn.Flatten(), *hidden]
        layers.append(nn.Linear(previous, out_features))
        super().__init__(*layers)

    def __getitem__(self, idx: int | slice) -> nn.Module:
        # nn.Sequential slices by calling type(self)(...), which MLP's constructor cannot
        # take; a slice (e.g. model[:-1], the network up to its penultimate layer) is a
        # plain nn.Sequential sharing the same layers.
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)


@torch.no_grad()
def he_initialize(model: nn.Module) -> nn.Module:
    """Re-initialize every convolution and linear layer of ``model`` for ReLU networks.

    Each weight is drawn from ``N(0, 2 / fan_in)`` (He et al. 2015, "Delving deep into
    rectifiers": a ReLU halves the second moment, the factor 2 restores it, so the signal
    keeps its scale through depth) and each bias is set to zero. PyTorch's default,
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, has variance ``1 / (3 fan_in)``, a sixth of
    that. Normalization layers are left as they are. Draws from the global generator:
    seed it first.

    Args:
        model: any module; its ``nn.Conv*d`` and ``nn.Linear`` submodules are changed in place.

    Returns:
        ``model`` itself, so that ``he_initialize(LeNet())`` reads as a constructor.
    """
    check_module(model, "model")
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def _check_widths(widths: Sequence[int], name: str) -> list[int]:
    widths = list(widths)
    if not widths:
        raise ValueError(f"{name} must contain at least one width, got {widths}")
    return [check_positive_int(w, f"{name}[i]") for w in widths]


class LeNet(nn.Module):
    """A LeNet-style CNN (LeCun et al. 1998) for 8 × 8 images such as the digits.

    ``[conv 3×3 → norm → activation → avg-pool 2] × 2 → flatten → [linear → norm →
    activation] × 2 → linear``: 8 × 8 → 4 × 4 → 2 × 2 feature maps, as in the original
    design (two convolutions with average pooling, then three fully connected layers) but
    sized for 8 × 8 inputs. Normalization sits between each affine map (convolution or
    linear) and its activation, where Ioffe & Szegedy (2015) place batch norm.

    Args:
        in_channels: channels of the input images.
        num_classes: number of outputs.
        channels: the two convolutions' output channels.
        hidden: the two hidden fully connected widths.
        norm_layer: factory for the feature maps' normalization (e.g.
            :class:`normlab.normalization.BatchNorm2d`), or ``None``.
        fc_norm_layer: factory for the hidden features' normalization (e.g.
            :class:`normlab.normalization.BatchNorm1d`), or ``None``.
        activation: factory for the activation module (LeNet used a sigmoid).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        channels: tuple[int, int] = (6, 16),
        hidden: tuple[int, int] = (120, 84),
        norm_layer: NormFactory | None = None,
        fc_norm_layer: NormFactory | None = None,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        c1, c2 = _check_widths(channels, "channels")
        h1, h2 = _check_widths(hidden, "hidden")
        features: list[nn.Module] = []
        previous = in_channels
        for width in (c1, c2):
            # a bias before a normalization is cancelled by its mean subtraction
            features.append(nn.Conv2d(previous, width, 3, padding=1, bias=norm_layer is None))
            if norm_layer is not None:
                features.append(norm_layer(width))
            features += [activation(), nn.AvgPool2d(2)]
            previous = width
        classifier: list[nn.Module] = [nn.Flatten()]
        previous = c2 * 2 * 2
        for width in (h1, h2):
            classifier.append(nn.Linear(previous, width, bias=fc_norm_layer is None))
            if fc_norm_layer is not None:
                classifier.append(fc_norm_layer(width))
            classifier.append(activation())
            previous = width
        classifier.append(nn.Linear(previous, num_classes))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(*classifier)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, num_classes)`` of images ``(N, in_channels, 8, 8)``."""
        return self.classifier(self.features(x))


class ConvNet(nn.Sequential):
    """An all-convolutional classifier: ``[conv 3×3 → norm → ReLU] × k → global average
    pool → linear``.

    The network of the group-normalization comparison: every convolution is followed by the
    normalization under test, and no layer other than the normalizations depends on the
    batch. Convolutions have no bias (the normalization's shift replaces it).

    Args:
        in_channels: channels of the input images.
        num_classes: number of outputs.
        channels: output channels of the convolutions, e.g. ``(32, 32, 32, 32, 64)``.
        strides: the convolutions' strides (same length as ``channels``); default all 1.
        norm_layer: factory ``channels -> module`` for the normalization after each
            convolution, e.g. ``lambda c: normlab.GroupNorm(4, c)``; ``None`` for none.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        channels: Sequence[int] = (32, 32, 32, 32, 64),
        strides: Sequence[int] | None = None,
        norm_layer: NormFactory | None = None,
    ) -> None:
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        widths = _check_widths(channels, "channels")
        strides = [1] * len(widths) if strides is None else list(strides)
        if len(strides) != len(widths):
            raise ValueError(
                f"strides must have one entry per convolution ({len(widths)}), got {strides}"
            )
        layers: list[nn.Module] = []
        previous = in_channels
        for width, stride in zip(widths, strides, strict=True):
            check_positive_int(stride, "strides[i]")
            layers.append(nn.Conv2d(previous, width, 3, stride=stride, padding=1, bias=False))
            if norm_layer is not None:
                layers.append(norm_layer(width))
            layers.append(nn.ReLU())
            previous = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, num_classes)]
        super().__init__(*layers)


def _batch_norm_2d(channels: int) -> nn.Module:
    return BatchNorm2d(channels)


class ResidualBlock(nn.Module):
    """The basic residual block of He et al. (2016): ``ReLU(F(x) + shortcut(x))``.

    ``F`` is ``conv 3×3 (stride) → norm → ReLU → conv 3×3 → norm``. The shortcut is the
    identity when the shape is unchanged, and a ``1×1`` convolution with the same stride
    followed by a normalization (the paper's "projection shortcut", option B) when the
    number of channels or the resolution changes. With ``residual=False`` the shortcut is
    dropped and the block is two plain layers: the "plain network" the paper compares
    against.

    Args:
        in_channels, out_channels: channels before and after the block.
        stride: stride of the first convolution (2 halves the resolution).
        norm_layer: normalization factory; default :class:`normlab.normalization.BatchNorm2d`.
        residual: add the shortcut.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        *,
        norm_layer: NormFactory | None = None,
        residual: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_positive_int(stride, "stride")
        norm = _batch_norm_2d if norm_layer is None else norm_layer
        self.residual = bool(residual)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.norm1 = norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = norm(out_channels)
        self.shortcut: nn.Module | None = None
        if residual:
            if stride != 1 or in_channels != out_channels:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                    norm(out_channels),
                )
            else:
                self.shortcut = nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        """``(N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)``."""
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class ResNet(nn.Module):
    """A small ResNet in the CIFAR layout of He et al. (2016, section 4.2), for 8 × 8 images.

    ``conv 3×3 → norm → ReLU``, then three stages of ``blocks`` residual blocks with
    ``widths`` channels (the first block of stages 2 and 3 halves the resolution:
    8 × 8 → 4 × 4 → 2 × 2), then global average pooling and a linear classifier. It has
    ``6·blocks + 2`` weighted layers, as the paper's ResNet-20/32/44/56 (``blocks`` = 3, 5,
    7, 9). With ``residual=False`` every shortcut is removed: the paper's plain network of
    the same depth.

    Args:
        in_channels: channels of the input images.
        num_classes: number of outputs.
        widths: channels of the three stages.
        blocks: residual blocks per stage.
        norm_layer: normalization factory; default :class:`normlab.normalization.BatchNorm2d`.
        residual: keep the shortcuts.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        widths: Sequence[int] = (16, 32, 64),
        blocks: int = 1,
        norm_layer: NormFactory | None = None,
        residual: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(num_classes, "num_classes")
        widths = _check_widths(widths, "widths")
        blocks = check_positive_int(blocks, "blocks")
        norm = _batch_norm_2d if norm_layer is None else norm_layer
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            norm(widths[0]),
            nn.ReLU(),
        )
        stages: list[nn.Module] = []
        previous = widths[0]
        for i, width in enumerate(widths):
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                stages.append(
                    ResidualBlock(previous, width, stride, norm_layer=norm_layer, residual=residual)
                )
                previous = width
        self.blocks = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, num_classes)
        )

    @property
    def depth(self) -> int:
        """The number of weighted layers on the longest path (the stem convolution, two
        per block, and the classifier), as the paper counts depth."""
        return 2 + 2 * len(self.blocks)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, num_classes)`` of images ``(N, in_channels, H, W)``."""
        return self.head(self.blocks(self.stem(x)))
