"""Generators and critics for the GAN chapters: MLPs for points in the plane, small
convolutional networks for 8 × 8 digits.

Every critic returns one score per sample, shape ``(N,)``: a logit for the GAN losses, an
unbounded real number for the Wasserstein and hinge losses. No critic here uses batch
normalization unless asked to (``norm_layer``), because the gradient penalty of WGAN-GP is a
per-sample quantity that batch statistics would couple (Gulrajani et al., 2017, section 4);
:func:`normlab.gan.training.train_gan` refuses a batch-normalized critic with a penalty.
Any other ``nn.Module`` with the same input/output convention can replace these, for example
a critic whose layers are spectrally normalized.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from torch import nn

from normlab._validation import check_callable, check_positive_int
from normlab.models import NormFactory, hidden_layers

__all__ = ["MLPGenerator", "MLPCritic", "ConvGenerator", "ConvCritic"]

# LeakyReLU with slope 0.2 for negative inputs, the critic activation of DCGAN
_leaky_relu = partial(nn.LeakyReLU, 0.2)


def _check_factory(factory: object, name: str, what: str) -> None:
    """A factory is called once per layer: a module instance would be called on no input."""
    if isinstance(factory, nn.Module):
        raise TypeError(
            f"{name} must be a factory {what} such as the class nn.ReLU, got the module "
            f"instance {factory!r}"
        )
    check_callable(factory, name, f"a factory {what}")


def _hidden_stack(
    in_features: int,
    hidden_features: Sequence[int],
    norm_layer: NormFactory | None,
    activation: Callable[[], nn.Module],
) -> tuple[list[nn.Module], int]:
    if not isinstance(hidden_features, (tuple, list)):
        raise TypeError(
            "hidden_features must be a tuple or list of layer widths, got "
            f"{type(hidden_features).__name__} ({hidden_features!r}); for one hidden layer "
            f"of width w write (w,)"
        )
    widths = [check_positive_int(w, f"hidden_features[{i}]") for i, w in enumerate(hidden_features)]
    if norm_layer is not None:
        _check_factory(norm_layer, "norm_layer", "width -> module")
    _check_factory(activation, "activation", "() -> module")
    return hidden_layers(in_features, widths, norm_layer, activation)


class MLPGenerator(nn.Sequential):
    """An MLP generator ``z ↦ x``: ``[Linear → norm → activation] × k → Linear → output``.

    Args:
        latent_dim: size of the noise vector ``z`` (drawn from ``N(0, I)`` by the training
            loop).
        hidden_features: widths of the hidden layers.
        out_features: size of each sample (2 for points in the plane).
        norm_layer: factory ``width -> module`` for a normalization after each hidden
            affine map, or ``None``.
        activation: factory for the hidden activation.
        output_activation: factory for a final activation (e.g. ``nn.Tanh`` for data in
            [-1, 1]), or ``None`` for an unbounded output.

    Shape:
        ``(N, latent_dim) -> (N, out_features)``.
    """

    def __init__(
        self,
        latent_dim: int = 2,
        hidden_features: Sequence[int] = (128, 128),
        out_features: int = 2,
        *,
        norm_layer: NormFactory | None = None,
        activation: Callable[[], nn.Module] = nn.ReLU,
        output_activation: Callable[[], nn.Module] | None = None,
    ) -> None:
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        check_positive_int(out_features, "out_features")
        layers, previous = _hidden_stack(latent_dim, hidden_features, norm_layer, activation)
        layers.append(nn.Linear(previous, out_features))
        if output_activation is not None:
            _check_factory(output_activation, "output_activation", "() -> module")
            layers.append(output_activation())
        super().__init__(*layers)


class MLPCritic(nn.Sequential):
    """An MLP critic (discriminator) ``x ↦ score``: ``Flatten → [Linear → norm →
    activation] × k → Linear(·, 1)``, returning one score per sample.

    Args:
        in_features: size of each (flattened) sample.
        hidden_features: widths of the hidden layers; twelve of them give the deep critic of
            Gulrajani et al. (2017), figure 1b.
        norm_layer: factory ``width -> module`` for a normalization after each hidden
            affine map (``nn.LayerNorm`` is compatible with a gradient penalty,
            ``nn.BatchNorm1d`` is not), or ``None``.
        activation: factory for the hidden activation.

    Shape:
        ``(N, *) -> (N,)``, where ``*`` flattens to ``in_features``.
    """

    def __init__(
        self,
        in_features: int = 2,
        hidden_features: Sequence[int] = (128, 128),
        *,
        norm_layer: NormFactory | None = None,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        check_positive_int(in_features, "in_features")
        layers, previous = _hidden_stack(in_features, hidden_features, norm_layer, activation)
        super().__init__(nn.Flatten(), *layers, nn.Linear(previous, 1), nn.Flatten(0))


def _check_image_size(image_size: int) -> int:
    image_size = check_positive_int(image_size, "image_size")
    if image_size % 4:
        raise ValueError(
            f"image_size must be a multiple of 4 (two stride-2 stages), got {image_size}"
        )
    return image_size


class ConvGenerator(nn.Sequential):
    """A small DCGAN-style generator for square images (Radford et al., 2016).

    ``z → Linear → (2C, s/4, s/4) → ConvTranspose(stride 2) → (C, s/2, s/2) →
    ConvTranspose(stride 2) → (out_channels, s, s) → tanh``, with ReLU activations and an
    optional normalization after the first two stages.

    Args:
        latent_dim: size of the noise vector ``z``.
        channels: ``C``, the channels of the last hidden stage (the first has ``2C``).
        out_channels: image channels (1 for the digits).
        image_size: side ``s`` of the square image, a multiple of 4 (8 for the digits).
        norm_layer: factory ``channels -> module`` applied to the hidden feature maps
            (e.g. ``nn.BatchNorm2d``, as in DCGAN), or ``None``.

    Shape:
        ``(N, latent_dim) -> (N, out_channels, s, s)``, values in (-1, 1).
    """

    def __init__(
        self,
        latent_dim: int = 16,
        channels: int = 32,
        *,
        out_channels: int = 1,
        image_size: int = 8,
        norm_layer: NormFactory | None = None,
    ) -> None:
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        channels = check_positive_int(channels, "channels")
        check_positive_int(out_channels, "out_channels")
        base = _check_image_size(image_size) // 4

        def normalize(c: int) -> list[nn.Module]:
            return [] if norm_layer is None else [norm_layer(c)]

        super().__init__(
            nn.Linear(latent_dim, 2 * channels * base * base),
            nn.Unflatten(1, (2 * channels, base, base)),
            *normalize(2 * channels),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),
            *normalize(channels),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, out_channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )


class ConvCritic(nn.Sequential):
    """A small convolutional critic for square images, mirroring :class:`ConvGenerator`.

    ``x → Conv(stride 2) → (C, s/2, s/2) → Conv(stride 2) → (2C, s/4, s/4) → Linear → score``
    with LeakyReLU(0.2) activations (Radford et al., 2016) and, optionally, a normalization
    after the second convolution.

    Args:
        in_channels: image channels.
        channels: ``C``, the channels of the first stage (the second has ``2C``).
        image_size: side ``s`` of the square image, a multiple of 4.
        norm_layer: factory ``channels -> module`` (e.g. ``lambda c: nn.GroupNorm(1, c)``,
            a layer norm that is compatible with a gradient penalty), or ``None``.
        activation: factory for the activation.

    Shape:
        ``(N, in_channels, s, s) -> (N,)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: int = 32,
        *,
        image_size: int = 8,
        norm_layer: NormFactory | None = None,
        activation: Callable[[], nn.Module] = _leaky_relu,
    ) -> None:
        check_positive_int(in_channels, "in_channels")
        channels = check_positive_int(channels, "channels")
        base = _check_image_size(image_size) // 4
        normalize = [] if norm_layer is None else [norm_layer(2 * channels)]
        super().__init__(
            nn.Conv2d(in_channels, channels, 4, stride=2, padding=1),
            activation(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),
            *normalize,
            activation(),
            nn.Flatten(),
            nn.Linear(2 * channels * base * base, 1),
            nn.Flatten(0),
        )
