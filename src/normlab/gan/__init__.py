"""GANs and Wasserstein GANs: data, models, losses, Lipschitz constraints, training, metrics.

One module per idea, as in the book's Part IV:

- :mod:`normlab.gan.data`: the ring and the grid of Gaussians (seeded samplers);
- :mod:`normlab.gan.models`: MLP and small convolutional generators and critics;
- :mod:`normlab.gan.losses`: minimax, non-saturating, Wasserstein and hinge losses;
- :mod:`normlab.gan.penalties`: the gradient penalty of WGAN-GP and weight clipping;
- :mod:`normlab.gan.steps`: one critic update (loss, penalty, clipping), which the loop runs;
- :mod:`normlab.gan.training`: one loop for every variant, with exact resume;
- :mod:`normlab.gan.stacked` and :mod:`normlab.gan.ensemble`: K seeds of an MLP GAN trained
  at once, weights stacked along a seed dimension, reproducing K ``train_gan`` runs;
- :mod:`normlab.gan.recipes`: the papers' settings (loss, ``n_critic``, optimizer) as data;
- :mod:`normlab.gan.metrics`: mode coverage, exact W1, a digits classifier and Fréchet
  distance;
- :mod:`normlab.gan.reports`: the ring and digits reports and tables of Chapters 8-10.
"""

from normlab.gan.data import GaussianMixture, grid_of_gaussians, ring_of_gaussians
from normlab.gan.ensemble import GANEnsemble, seed_losses, train_gan_ensemble
from normlab.gan.losses import (
    LOSSES,
    GANLoss,
    get_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    minimax_discriminator_loss,
    minimax_generator_loss,
    non_saturating_discriminator_loss,
    non_saturating_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from normlab.gan.metrics import (
    DigitsClassifier,
    ModeStatistics,
    class_statistics,
    frechet_distance,
    mode_statistics,
    train_digits_classifier,
    wasserstein1,
)
from normlab.gan.models import ConvCritic, ConvGenerator, MLPCritic, MLPGenerator
from normlab.gan.penalties import clip_weights, critic_gradient_norm, gradient_penalty, interpolate
from normlab.gan.recipes import MIYATO_SETTINGS, RECIPES, OptimizerSetting, Recipe
from normlab.gan.reports import (
    DigitsReference,
    RingReport,
    comparison_table,
    digits_reference,
    mode_shares,
    ring_report,
    ring_sample,
    ring_w1_floor,
)
from normlab.gan.stacked import StackedMLP
from normlab.gan.steps import CriticStep, critic_step
from normlab.gan.training import GANHistory, generate, has_batch_norm, train_gan

__all__ = [
    # data
    "GaussianMixture",
    "ring_of_gaussians",
    "grid_of_gaussians",
    # models
    "MLPGenerator",
    "MLPCritic",
    "ConvGenerator",
    "ConvCritic",
    # losses
    "minimax_discriminator_loss",
    "minimax_generator_loss",
    "non_saturating_discriminator_loss",
    "non_saturating_generator_loss",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "GANLoss",
    "LOSSES",
    "get_loss",
    # Lipschitz constraints
    "gradient_penalty",
    "interpolate",
    "critic_gradient_norm",
    "clip_weights",
    # training
    "critic_step",
    "CriticStep",
    "train_gan",
    "GANHistory",
    "generate",
    "has_batch_norm",
    # several seeds at once
    "train_gan_ensemble",
    "GANEnsemble",
    "StackedMLP",
    "seed_losses",
    # metrics
    "ModeStatistics",
    "mode_statistics",
    "class_statistics",
    "wasserstein1",
    "frechet_distance",
    "DigitsClassifier",
    "train_digits_classifier",
    # recipes and reports (chapters 8-10)
    "Recipe",
    "RECIPES",
    "OptimizerSetting",
    "MIYATO_SETTINGS",
    "RingReport",
    "ring_report",
    "ring_sample",
    "ring_w1_floor",
    "mode_shares",
    "DigitsReference",
    "digits_reference",
    "comparison_table",
]
