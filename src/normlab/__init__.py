"""normlab: norms, normalization layers, label smoothing, GANs and spectral normalization,
built from first principles and tested against PyTorch.

The library behind the *normlab* book. The subject, one module (or subpackage) per idea:

- :mod:`normlab.linalg`: vector and matrix norms, singular values, power iteration.
- :mod:`normlab.lipschitz`: Lipschitz constants of layers (including the true operator norm
  of a convolution), upper and lower bounds for whole networks.
- :mod:`normlab.normalization`: batch, layer, instance and group normalization from their
  formula, with hand-derived backward passes, mirroring ``torch.nn``.
- :mod:`normlab.sync_batchnorm`: batch normalization synchronized across processes with
  ``torch.distributed``.
- :mod:`normlab.label_smoothing`: label-smoothed targets and the cross-entropy against them
  (both conventions, PyTorch's included), and one-sided smoothing for GAN discriminators.
- :mod:`normlab.calibration`: reliability diagrams, expected calibration error and
  temperature scaling.
- :mod:`normlab.spectral_normalization`: ``spectral_norm``, a drop-in for PyTorch's
  parametrization.
- :mod:`normlab.gan`: GANs and Wasserstein GANs: toy data, models, losses, the gradient
  penalty and weight clipping, a training loop with exact resume, and sample-quality metrics.
- :mod:`normlab.models`, :mod:`normlab.training`, :mod:`normlab.data`: the small models,
  the training loop and the digits data the experiments run on.

Apart from the subject: :mod:`normlab.scaffolding` (devices, seeds, environment knobs,
progress bars, the chapters' set-up, timing, launching processes, display helpers) and
:mod:`normlab.examples` (chapter-only workers and ``python -m`` scripts). This namespace
holds what a user reaches for: the layers, the losses and the main functions; the rest is
in its module (``normlab.gan.train_gan``, ``normlab.scaffolding.show_source``).

Importing ``normlab`` imports only PyTorch and NumPy.
"""

from normlab import gan, scaffolding  # noqa: F401 - subpackages of the API
from normlab._version import version as _version
from normlab.calibration import expected_calibration_error, fit_temperature, reliability_diagram
from normlab.data import load_digits
from normlab.label_smoothing import (
    LabelSmoothingCrossEntropy,
    label_smoothing_cross_entropy,
    one_sided_smooth_labels,
    smooth_labels,
)
from normlab.linalg import (
    matrix_norm,
    power_iteration,
    random_matrix_with_singular_values,
    singular_values,
    spectral_radius,
    vector_norm,
)
from normlab.lipschitz import (
    conv_operator_norm,
    layer_lipschitz,
    lipschitz_lower_bound_gradient,
    lipschitz_lower_bound_pairs,
    lipschitz_upper_bound,
)
from normlab.models import MLP, ConvNet, LeNet, ResidualBlock, ResNet, he_initialize
from normlab.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    normalize,
)
from normlab.spectral_normalization import (
    SpectralNorm,
    remove_spectral_norm,
    spectral_norm,
    spectrally_normalize,
)
from normlab.sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm
from normlab.training import evaluate_classifier, fit_classifier, predict_logits

#: The release and the git commit of this code, e.g. ``0.2.0+g86e2858`` (see
#: :mod:`normlab._version`); the chapters print it in their first cell.
__version__ = _version()

__all__ = [
    "__version__",
    # norms and power iteration
    "vector_norm",
    "matrix_norm",
    "singular_values",
    "spectral_radius",
    "power_iteration",
    "random_matrix_with_singular_values",
    # Lipschitz constants and bounds
    "layer_lipschitz",
    "conv_operator_norm",
    "lipschitz_upper_bound",
    "lipschitz_lower_bound_gradient",
    "lipschitz_lower_bound_pairs",
    # normalization layers and their functional forms
    "normalize",
    "batch_norm",
    "layer_norm",
    "instance_norm",
    "group_norm",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "LayerNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "GroupNorm",
    # synchronized batch normalization
    "SyncBatchNorm",
    "convert_sync_batchnorm",
    # label smoothing and calibration
    "smooth_labels",
    "label_smoothing_cross_entropy",
    "LabelSmoothingCrossEntropy",
    "one_sided_smooth_labels",
    "expected_calibration_error",
    "reliability_diagram",
    "fit_temperature",
    # spectral normalization
    "spectral_norm",
    "remove_spectral_norm",
    "spectrally_normalize",
    "SpectralNorm",
    # the digits, the small models and their training loop
    "load_digits",
    "MLP",
    "LeNet",
    "ConvNet",
    "ResidualBlock",
    "ResNet",
    "he_initialize",
    "fit_classifier",
    "evaluate_classifier",
    "predict_logits",
]
