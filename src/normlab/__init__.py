"""normlab: norms, normalization layers, label smoothing, GANs and spectral normalization,
built from first principles and tested against PyTorch.

The library behind the *normlab* book. Each module mirrors a part of the book:

- :mod:`normlab.linalg`: vector and matrix norms, singular values, power iteration.
- :mod:`normlab.models`, :mod:`normlab.training`, :mod:`normlab.data`: the small models,
  the training loop and the digits data used by the experiments.
- :mod:`normlab.normalization`: batch, layer, instance and group normalization from their
  formula, with hand-derived backward passes, mirroring ``torch.nn``.
- :mod:`normlab.sync_batchnorm`: batch normalization synchronized across processes with
  ``torch.distributed``; :mod:`normlab.distributed` runs code on several local processes;
  ``python -m normlab.examples.ddp_digits`` trains with DDP under ``torchrun``.
- :mod:`normlab.label_smoothing`: label-smoothed targets and the cross-entropy against them
  (both conventions, PyTorch's included), and one-sided smoothing for GAN discriminators.
- :mod:`normlab.calibration`: reliability diagrams, expected calibration error and
  temperature scaling.
- :mod:`normlab.gan`: GANs and Wasserstein GANs: toy data, models, losses, the gradient
  penalty and weight clipping, a training loop with exact resume, and sample-quality metrics.
- :mod:`normlab.lipschitz`: Lipschitz constants of layers (including the true operator norm
  of a convolution), upper and lower bounds for whole networks.
- :mod:`normlab.spectral_normalization`: ``spectral_norm``, a drop-in for PyTorch's
  parametrization.
- :mod:`normlab.device`, :mod:`normlab.progress`, :mod:`normlab.book`,
  :mod:`normlab.benchmark`: choosing CPU or GPU, seeding, quiet progress bars, showing source
  code in the chapters, and timing.

Importing ``normlab`` imports only PyTorch and NumPy.
"""

from normlab import gan  # noqa: F401 - normlab.gan is part of the API
from normlab._version import version as _version
from normlab.benchmark import Timing, time_call, time_forward_backward
from normlab.book import interactive_figure, show_source, summarize_seeds
from normlab.calibration import (
    ReliabilityDiagram,
    expected_calibration_error,
    fit_temperature,
    reliability_diagram,
)
from normlab.data import Digits, Split, load_digits
from normlab.device import available_devices, get_device, seed_everything
from normlab.distributed import CollectiveLog, count_collectives, launch
from normlab.gan import (
    ConvCritic,
    ConvGenerator,
    GANHistory,
    GaussianMixture,
    MLPCritic,
    MLPGenerator,
    clip_weights,
    frechet_distance,
    gradient_penalty,
    grid_of_gaussians,
    mode_statistics,
    ring_of_gaussians,
    train_gan,
    wasserstein1,
)
from normlab.label_smoothing import (
    LabelSmoothingCrossEntropy,
    cluster_tightness,
    label_smoothing_cross_entropy,
    one_sided_smooth_labels,
    smooth_labels,
    template_plane_projection,
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
    LipschitzLowerBound,
    activation_lipschitz,
    circular_conv_singular_values,
    conv_operator_norm,
    layer_lipschitz,
    lipschitz_constants,
    lipschitz_lower_bound_gradient,
    lipschitz_lower_bound_pairs,
    lipschitz_upper_bound,
    operator_norm,
)
from normlab.models import MLP, ConvNet, LeNet, ResidualBlock, ResNet, he_initialize
from normlab.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    BatchNormFunction,
    GroupNorm,
    GroupNormFunction,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    LayerNormFunction,
    batch_norm,
    batch_norm_backward_elemt,
    batch_norm_backward_reduce,
    batch_norm_elemt,
    batch_norm_stats,
    group_norm,
    instance_norm,
    layer_norm,
    normalize,
    update_running_stats,
)
from normlab.progress import progress_bar
from normlab.spectral_normalization import (
    SpectralNorm,
    remove_spectral_norm,
    spectral_norm,
    spectrally_normalize,
)
from normlab.sync_batchnorm import (
    SyncBatchNorm,
    SyncBatchNormFunction,
    batch_moments,
    convert_sync_batchnorm,
    stats_from_moments,
)
from normlab.training import History, evaluate_classifier, fit_classifier, predict_logits

#: The release and the git commit of this code, e.g. ``0.2.0+g86e2858`` (see
#: :mod:`normlab._version`); the chapters print it in their first cell.
__version__ = _version()

__all__ = [
    "__version__",
    # device and reproducibility
    "get_device",
    "available_devices",
    "seed_everything",
    # norms and power iteration
    "vector_norm",
    "matrix_norm",
    "singular_values",
    "spectral_radius",
    "power_iteration",
    "random_matrix_with_singular_values",
    # data, models, training
    "load_digits",
    "Digits",
    "Split",
    "MLP",
    "LeNet",
    "ConvNet",
    "ResidualBlock",
    "ResNet",
    "he_initialize",
    "fit_classifier",
    "evaluate_classifier",
    "predict_logits",
    "History",
    # normalization layers
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
    "BatchNormFunction",
    "GroupNormFunction",
    "LayerNormFunction",
    "batch_norm_stats",
    "batch_norm_elemt",
    "batch_norm_backward_reduce",
    "batch_norm_backward_elemt",
    "update_running_stats",
    # synchronized batch normalization and running on several processes
    "SyncBatchNorm",
    "convert_sync_batchnorm",
    "SyncBatchNormFunction",
    "batch_moments",
    "stats_from_moments",
    "launch",
    "count_collectives",
    "CollectiveLog",
    # label smoothing
    "smooth_labels",
    "label_smoothing_cross_entropy",
    "LabelSmoothingCrossEntropy",
    "template_plane_projection",
    "cluster_tightness",
    "one_sided_smooth_labels",
    # calibration
    "expected_calibration_error",
    "reliability_diagram",
    "ReliabilityDiagram",
    "fit_temperature",
    # GANs and Wasserstein GANs (the subpackage normlab.gan has the rest)
    "ring_of_gaussians",
    "grid_of_gaussians",
    "GaussianMixture",
    "MLPGenerator",
    "MLPCritic",
    "ConvGenerator",
    "ConvCritic",
    "gradient_penalty",
    "clip_weights",
    "train_gan",
    "GANHistory",
    "mode_statistics",
    "wasserstein1",
    "frechet_distance",
    # Lipschitz constants and bounds
    "activation_lipschitz",
    "circular_conv_singular_values",
    "operator_norm",
    "conv_operator_norm",
    "layer_lipschitz",
    "lipschitz_constants",
    "lipschitz_upper_bound",
    "lipschitz_lower_bound_gradient",
    "lipschitz_lower_bound_pairs",
    "LipschitzLowerBound",
    # spectral normalization
    "spectral_norm",
    "remove_spectral_norm",
    "spectrally_normalize",
    "SpectralNorm",
    # notebooks and benchmarks
    "progress_bar",
    "show_source",
    "interactive_figure",
    "summarize_seeds",
    "time_call",
    "time_forward_backward",
    "Timing",
]
