"""The papers' training recipes, as data: loss, critic steps, constraint and optimizer.

Each GAN variant of Part IV comes with the settings its paper trained it with. They are
written here once, with their sources, and the chapters take them from here (changing a
learning rate for a short CPU run with :meth:`Recipe.replace`, and saying so):

========================  ==============  ========  =================================  ======
recipe                    loss            n_critic  optimizer (generator and critic)   source
========================  ==============  ========  =================================  ======
GAN                       non-saturating  1         Adam(2e-4, betas=(0.5, 0.999))     [R]
WGAN-clip (c = 0.01)      Wasserstein     5         RMSprop(5e-5)                      [A]
WGAN-GP (λ = 10)          Wasserstein     5         Adam(1e-4, betas=(0, 0.9))         [G]
SN-GAN                    non-saturating  1         Adam(2e-4, betas=(0.5, 0.999))     [M]
SN-GAN (hinge)            hinge           1         Adam(2e-4, betas=(0.5, 0.999))     [M]
========================  ==============  ========  =================================  ======

[R] Radford et al. (2016), DCGAN, section 4; [A] Arjovsky et al. (2017), Algorithm 1;
[G] Gulrajani et al. (2017), Algorithm 1; [M] Miyato et al. (2018), setting C of Table 1
and eq. 17 for the hinge loss. Miyato et al.'s six optimizer settings A-F (Table 1) are
:data:`MIYATO_SETTINGS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict, cast

import torch
from torch import nn

from normlab._validation import (
    check_module,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
)
from normlab.gan.losses import LOSSES

__all__ = ["Recipe", "RECIPES", "OptimizerSetting", "MIYATO_SETTINGS"]

_OPTIMIZERS = ("adam", "rmsprop")


@dataclass(frozen=True)
class Recipe:
    """How a paper trains its GAN: the loss, the critic steps, the constraint, the optimizer.

    Attributes:
        name: the method's name in the book's tables.
        loss: a loss name of :func:`normlab.gan.losses.get_loss`.
        n_critic: critic steps per generator step.
        optimizer: ``"adam"`` or ``"rmsprop"``, the same for generator and critic.
        lr: the learning rate of both.
        betas: Adam's ``(β1, β2)`` (``None`` for RMSprop).
        clip_value: weight clipping ``c`` after every critic step (``None``: none).
        gp_weight: ``λ`` of the gradient penalty (0: none).
        spectral_norm: spectrally normalize every Linear and Conv layer of the critic.
        source: where the settings come from (paper, section or table).
        citation: the paper's key in the book's ``references.bib``.
    """

    name: str
    loss: str
    n_critic: int
    optimizer: str
    lr: float
    betas: tuple[float, float] | None = None
    clip_value: float | None = None
    gp_weight: float = 0.0
    spectral_norm: bool = False
    source: str = ""
    citation: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str, got {self.name!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        check_positive_int(self.n_critic, "n_critic")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        check_positive_float(self.lr, "lr")
        if self.optimizer == "adam":
            if (
                not isinstance(self.betas, tuple)
                or len(self.betas) != 2
                or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas)
            ):
                raise ValueError(
                    f"betas must be a pair (beta1, beta2) in [0, 1) for Adam, got {self.betas!r}"
                )
        elif self.betas is not None:
            raise ValueError(f"betas apply to Adam only, got betas={self.betas!r} for RMSprop")
        if self.clip_value is not None:
            check_positive_float(self.clip_value, "clip_value")
        check_nonnegative_float(self.gp_weight, "gp_weight")
        if not isinstance(self.spectral_norm, bool):
            raise TypeError(f"spectral_norm must be a bool, got {self.spectral_norm!r}")

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed (checked like a new recipe), e.g. ``lr=1e-3``."""
        return dataclasses.replace(self, **changes)

    def make_optimizer(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        """The optimizer as a factory ``params -> optimizer``, as ``train_gan`` takes it."""
        lr, betas = self.lr, self.betas
        if self.optimizer == "adam":
            adam_betas = cast(tuple[float, float], betas)  # __post_init__ checked Adam's pair
            return lambda params: torch.optim.Adam(params, lr=lr, betas=adam_betas)
        return lambda params: torch.optim.RMSprop(params, lr=lr)

    def train_gan_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`normlab.gan.training.train_gan` for this recipe:
        ``loss``, ``n_critic``, ``clip_value``, ``gp_weight`` and both optimizers."""
        return {
            "loss": self.loss,
            "n_critic": self.n_critic,
            "clip_value": self.clip_value,
            "gp_weight": self.gp_weight,
            "generator_optimizer": self.make_optimizer(),
            "critic_optimizer": self.make_optimizer(),
        }

    def prepare_critic(self, critic: nn.Module) -> nn.Module:
        """The critic ready for this recipe: spectrally normalized (in place) if it asks."""
        check_module(critic, "critic")
        if self.spectral_norm:
            from normlab.spectral_normalization import spectrally_normalize

            spectrally_normalize(critic)
        return critic

    def with_setting(self, setting: OptimizerSetting) -> Recipe:
        """This recipe trained with one of Miyato et al.'s settings: Adam with the
        setting's ``lr`` and betas, and its ``n_critic`` (clipping and penalty kept)."""
        if not isinstance(setting, OptimizerSetting):
            raise TypeError(f"setting must be an OptimizerSetting, got {type(setting).__name__}")
        return self.replace(
            optimizer="adam",
            lr=setting.lr,
            betas=(setting.beta1, setting.beta2),
            n_critic=setting.n_critic,
        )


class _OptimizerFields(TypedDict):
    """Recipe's optimizer fields, typed so that ``Recipe(..., **fields)`` type-checks."""

    optimizer: str
    lr: float
    betas: tuple[float, float]


_ADAM_DCGAN: _OptimizerFields = {"optimizer": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}

#: The papers' recipes by name (see the module docstring for the sources).
RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in [
        Recipe(
            "GAN",
            "non_saturating",
            1,
            **_ADAM_DCGAN,
            source="Radford et al. (2016), DCGAN, section 4: Adam(2e-4), beta1 = 0.5",
            citation="radford2016unsupervised",
        ),
        Recipe(
            "WGAN-clip",
            "wasserstein",
            5,
            "rmsprop",
            5e-5,
            clip_value=0.01,
            source="Arjovsky et al. (2017), Algorithm 1: RMSprop(5e-5), c = 0.01, n_critic = 5",
            citation="arjovsky2017wasserstein",
        ),
        Recipe(
            "WGAN-GP",
            "wasserstein",
            5,
            "adam",
            1e-4,
            betas=(0.0, 0.9),
            gp_weight=10.0,
            source="Gulrajani et al. (2017), Algorithm 1: Adam(1e-4, betas=(0, 0.9)), "
            "lambda = 10, n_critic = 5",
            citation="gulrajani2017improved",
        ),
        Recipe(
            "SN-GAN",
            "non_saturating",
            1,
            **_ADAM_DCGAN,
            spectral_norm=True,
            source="Miyato et al. (2018), Table 1 setting C: Adam(2e-4, betas=(0.5, 0.999)), "
            "n_dis = 1",
            citation="miyato2018spectral",
        ),
        Recipe(
            "SN-GAN (hinge)",
            "hinge",
            1,
            **_ADAM_DCGAN,
            spectral_norm=True,
            source="Miyato et al. (2018), eq. 17 (hinge loss) with Table 1 setting C",
            citation="miyato2018spectral",
        ),
    ]
}


class OptimizerSetting(NamedTuple):
    """One row of Miyato et al.'s Table 1: Adam's ``lr``, ``beta1``, ``beta2`` and the
    critic steps per generator step ``n_critic`` (their ``n_dis``)."""

    lr: float
    beta1: float
    beta2: float
    n_critic: int


#: The six optimizer settings of Miyato et al. (2018, Table 1) that every method was
#: trained with (A from Gulrajani et al., B from Warde-Farley and Bengio, C from Radford
#: et al., D to F aggressive ones).
MIYATO_SETTINGS: dict[str, OptimizerSetting] = {
    "A": OptimizerSetting(1e-4, 0.5, 0.9, 5),
    "B": OptimizerSetting(1e-4, 0.5, 0.999, 1),
    "C": OptimizerSetting(2e-4, 0.5, 0.999, 1),
    "D": OptimizerSetting(1e-3, 0.5, 0.9, 5),
    "E": OptimizerSetting(1e-3, 0.5, 0.999, 5),
    "F": OptimizerSetting(1e-3, 0.9, 0.999, 5),
}
