"""Label smoothing: soft targets for classifiers and for GAN discriminators.

A classifier trained with cross-entropy on one-hot targets is rewarded for pushing its
logits apart without limit. Label smoothing (Szegedy et al., 2016, section 7) trains on a
softened target instead. Two conventions are in use, and they differ:

- ``"uniform"`` (Szegedy et al.; ``torch.nn.CrossEntropyLoss(label_smoothing=ε)``): mix the
  one-hot target with the uniform distribution, ``q = (1 - ε)·onehot + ε/C``. Every class
  gets ε/C, *including* the true class, which therefore gets ``1 - ε + ε/C``.
- ``"others"`` (the widely copied ``LabelSmoothingLoss``): the true class gets ``1 - ε`` and
  each of the ``C - 1`` other classes gets ``ε/(C - 1)``.

They are the same family: ``"others"`` with ε is ``"uniform"`` with ``ε' = ε·C/(C - 1)``.

One-sided label smoothing (Salimans et al., 2016, section 3.4) softens only the
discriminator's *real* targets, from 1 to 1 - epsilon, and leaves the fake targets at 0:
smoothing the fake targets too would reward the generator for samples that the
discriminator already finds implausible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from normlab._validation import (
    check_choice,
    check_class_indices,
    check_finite,
    check_floating,
    check_floating_dtype,
    check_fraction,
    check_int,
    check_integer_labels,
    check_ndim,
    check_nonempty,
    check_one_sided_smoothing,
    check_probabilities,
    check_real,
    check_tensor,
)

__all__ = [
    "CONVENTIONS",
    "smooth_labels",
    "label_smoothing_cross_entropy",
    "LabelSmoothingCrossEntropy",
    "class_index_loss",
    "probability_target_loss",
    "template_plane_projection",
    "cluster_tightness",
    "one_sided_smooth_labels",
]

#: Names of the two smoothing conventions, ``"uniform"`` (ε/C on every class, PyTorch's)
#: and ``"others"`` (ε/(C - 1) on every class but the true one).
CONVENTIONS = ("uniform", "others")
_REDUCTIONS = ("none", "mean", "sum")


def _check_convention(convention: object, num_classes: int) -> None:
    check_choice(convention, "convention", CONVENTIONS)
    if convention == "others" and num_classes < 2:
        raise ValueError(
            'convention="others" spreads epsilon over the C - 1 other classes, so it needs '
            f"at least 2 classes, got {num_classes}"
        )


def _uniform_epsilon(epsilon: float, num_classes: int, convention: str) -> float:
    """The ε of the ``"uniform"`` convention that gives the same target as ``convention``."""
    if convention == "uniform":
        return epsilon
    # (1 - ε')·onehot + ε'/C puts ε'/C on a wrong class; ε'/C = ε/(C - 1) gives ε' = εC/(C - 1),
    # and then the true class gets 1 - ε' + ε'/C = 1 - ε, as "others" wants.
    return epsilon * num_classes / (num_classes - 1)


def _check_class_indices(
    target: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> None:
    if target.dtype == torch.bool or target.is_floating_point() or target.is_complex():
        raise TypeError(
            "target must hold integer class indices or floating-point class probabilities, "
            f"got dtype {target.dtype}"
        )
    check_class_indices(target, "target", num_classes, ignore_index)


def _check_probabilities(target: torch.Tensor, class_dim: int) -> None:
    check_probabilities(
        target,
        "probability targets",
        class_dim,
        "probability targets",
        f" over the class dimension {class_dim}",
    )


def _check_epsilon(epsilon: object) -> float:
    epsilon = check_real(epsilon, "epsilon")
    return check_fraction(epsilon, "epsilon")


def smooth_labels(
    target: torch.Tensor,
    num_classes: int,
    epsilon: float,
    convention: str = "uniform",
    *,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The smoothed target distribution of a classification target.

    ``"uniform"``: ``q = (1 - ε)·onehot + ε/C`` (Szegedy et al., 2016; PyTorch's
    ``label_smoothing``). ``"others"``: ``q = (1 - ε)·onehot + ε/(C - 1)·(1 - onehot)``.
    Probability targets ``t`` are smoothed the same way, with ``t`` in place of ``onehot``.

    Args:
        target: class indices of shape ``()``, ``(N,)`` or ``(N, d1, ..., dk)`` (any integer
            dtype), or class probabilities of shape ``(C,)`` or ``(N, C, d1, ..., dk)``.
        num_classes: the number of classes ``C``.
        epsilon: the smoothing ε in [0, 1].
        convention: ``"uniform"`` or ``"others"`` (see the module docstring).
        dtype: floating dtype of the result; default: the target's dtype for probability
            targets, ``torch.get_default_dtype()`` for class indices.

    Returns:
        Target probabilities with the class dimension where ``torch.nn.functional.cross_entropy``
        expects it: shape ``(C,)`` for a 0-D target, ``(N, C, d1, ..., dk)`` for a target
        of shape ``(N, d1, ..., dk)``. (``torch.nn.functional.one_hot`` puts it last instead.)

    Raises:
        TypeError: ``target`` is not a tensor or is boolean; ``num_classes`` is not an int;
            ``epsilon`` is not a real number; ``dtype`` is not a floating dtype.
        ValueError: ε outside [0, 1]; unknown ``convention``; ``"others"`` with fewer than 2
            classes; class indices outside [0, C); probability targets whose class dimension
            is not ``C`` long, with negative entries, or that do not sum to 1.
    """
    target = check_tensor(target, "target")
    num_classes = check_int(num_classes, "num_classes")
    if num_classes < 1:
        raise ValueError(f"num_classes must be a positive int (>= 1), got {num_classes}")
    epsilon = _check_epsilon(epsilon)
    _check_convention(convention, num_classes)
    if dtype is not None:
        check_floating_dtype(dtype, "dtype")

    if target.is_floating_point():
        class_dim = 0 if target.ndim <= 1 else 1
        if target.ndim == 0 or target.shape[class_dim] != num_classes:
            raise ValueError(
                f"probability targets must have num_classes={num_classes} entries along the "
                f"class dimension (shape (C,) or (N, C, ...)), got shape {tuple(target.shape)}"
            )
        _check_probabilities(target, class_dim)
        onehot = target if dtype is None else target.to(dtype)
    else:
        _check_class_indices(target, num_classes)
        onehot = F.one_hot(target.long(), num_classes).to(dtype or torch.get_default_dtype())
        if onehot.ndim > 2:  # (N, d1, ..., C) -> (N, C, d1, ...), cross_entropy's layout
            onehot = onehot.movedim(-1, 1)
    eps = _uniform_epsilon(epsilon, num_classes, convention)
    return onehot * (1.0 - eps) + eps / num_classes


def _check_weight(weight: object, num_classes: int) -> torch.Tensor | None:
    if weight is None:
        return None
    weight = check_floating(weight, "weight")
    if weight.ndim != 1 or weight.shape[0] != num_classes:
        raise ValueError(
            f"weight must be a 1-D tensor with one entry per class ({num_classes}), got shape "
            f"{tuple(weight.shape)}"
        )
    return weight


def _reduce(loss: torch.Tensor, reduction: str, denominator: torch.Tensor | float) -> torch.Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / denominator


def label_smoothing_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    epsilon: float = 0.1,
    *,
    convention: str = "uniform",
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy against label-smoothed targets.

    Per element, with ``p = softmax(logits)`` over the class dimension, the smoothed target
    ``q`` of :func:`smooth_labels` and class weights ``w`` (all ones by default):
    ``loss = -Σ_c w_c q_c log p_c = (1 - ε')·w_y·(-log p_y) + (ε'/C)·Σ_c w_c·(-log p_c)``,
    where ε' is ε for ``"uniform"`` and ε·C/(C - 1) for ``"others"``
    (Szegedy et al., 2016; Müller, Kornblith and Hinton, 2019).

    With ``convention="uniform"`` this equals
    ``torch.nn.functional.cross_entropy(logits, target, weight=weight,
    ignore_index=ignore_index, reduction=reduction, label_smoothing=epsilon)``, including
    PyTorch's normalization of ``reduction="mean"``, which differs between the two target
    kinds when there are class weights (pytorch issues #61309 and #107680):

    - class-index targets: the sum is divided by ``Σ_i w_{y_i}``, the summed weights of the
      non-ignored elements' *target* classes (the count of non-ignored elements without
      weights), as in ``nll_loss``;
    - probability targets: the sum is divided by the number of elements ``N·d1·…·dk``,
      whatever the weights.

    So one-hot probability targets give the same loss as class indices for ``"none"`` and
    ``"sum"``, and for ``"mean"`` without weights, but with weights the two means differ by
    the factor ``Σ_i w_{y_i} / N``.

    Args:
        logits: unnormalized scores, shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``.
        target: class indices of shape ``()``, ``(N,)`` or ``(N, d1, ..., dk)`` (any integer
            dtype), or class probabilities of the same shape as ``logits``.
        epsilon: the smoothing ε in [0, 1]; 0 gives plain cross-entropy.
        convention: ``"uniform"`` (ε/C on every class, PyTorch's) or ``"others"``
            (ε/(C - 1) on every wrong class).
        weight: optional class weights, shape ``(C,)``; cast to the dtype and device of
            ``logits``.
        ignore_index: a class-index target value whose elements contribute nothing, neither
            to the sum nor to the mean's denominator. Must be negative with probability
            targets (as in PyTorch, which does not support it there).
        reduction: ``"none"`` (shape of the target's batch dimensions), ``"mean"`` or
            ``"sum"``.

    Returns:
        The loss: a 0-D tensor, or the per-element losses for ``reduction="none"``. The mean
        over no (non-ignored) elements is NaN, as in PyTorch.

    Raises:
        TypeError: ``logits`` or ``weight`` is not a floating tensor; ``target`` is not a
            tensor or is boolean; ``epsilon`` or ``ignore_index`` has the wrong type.
        ValueError: ε outside [0, 1]; unknown ``convention`` or ``reduction``; ``"others"``
            with fewer than 2 classes; shapes that do not match; class indices outside
            [0, C) that are not ``ignore_index``; probability targets that are negative or
            do not sum to 1; ``ignore_index >= 0`` with probability targets; ``weight`` of
            the wrong shape. (PyTorch raises ``RuntimeError``/``IndexError`` for most of
            these, and silently treats a negative or NaN ε as 0.)
    """
    logits = check_floating(logits, "logits")
    target = check_tensor(target, "target")
    if logits.ndim == 0:
        raise ValueError("logits must have a class dimension: shape (C,) or (N, C, ...)")
    class_dim = 0 if logits.ndim == 1 else 1
    num_classes = logits.shape[class_dim]
    if num_classes == 0:
        raise ValueError(f"logits must have at least one class, got shape {tuple(logits.shape)}")
    epsilon = _check_epsilon(epsilon)
    _check_convention(convention, num_classes)
    weight = _check_weight(weight, num_classes)
    ignore_index = check_int(ignore_index, "ignore_index")
    check_choice(reduction, "reduction", _REDUCTIONS)
    eps = _uniform_epsilon(epsilon, num_classes, convention)
    if weight is not None:
        weight = weight.to(dtype=logits.dtype, device=logits.device)
        # (C,) -> (C, 1, ..., 1) so that it broadcasts along the class dimension
        weight = weight.view(num_classes, *([1] * (logits.ndim - class_dim - 1)))
    log_p = torch.log_softmax(logits, dim=class_dim)

    if target.is_floating_point():
        if target.shape != logits.shape:
            raise ValueError(
                "probability targets must have the shape of logits "
                f"{tuple(logits.shape)}, got {tuple(target.shape)}"
            )
        if ignore_index >= 0:
            raise ValueError(
                f"ignore_index={ignore_index} is not supported with probability targets "
                "(leave it negative, e.g. the default -100)"
            )
        _check_probabilities(target, class_dim)
        target = target.to(dtype=logits.dtype, device=logits.device)
        return probability_target_loss(log_p, target, eps, weight, reduction)

    expected = logits.shape[:1] + logits.shape[2:] if logits.ndim > 1 else torch.Size([])
    if target.shape != expected:
        raise ValueError(
            f"class-index targets for logits of shape {tuple(logits.shape)} must have shape "
            f"{tuple(expected)}, got {tuple(target.shape)}"
        )
    _check_class_indices(target, num_classes, ignore_index)
    target = target.to(device=logits.device).long()
    return class_index_loss(log_p, target, eps, weight, ignore_index, reduction)


def class_index_loss(
    log_p: torch.Tensor,
    target: torch.Tensor,
    eps: float,
    weight: torch.Tensor | None,
    ignore_index: int,
    reduction: str,
) -> torch.Tensor:
    """``(1 - ε)·w_y·(-log p_y) + (ε/C)·Σ_c w_c·(-log p_c)``; the mean divides by ``Σ w_y``.

    ``log_p`` is log-softmax with the classes in dimension 1 (0 if unbatched), ``weight``
    ``None`` or already broadcastable along it, ``eps`` in the uniform convention. The
    class-index kernel of :func:`label_smoothing_cross_entropy`, which checks the inputs
    and converts the convention before calling it; this function checks nothing again.
    """
    class_dim = 0 if log_p.ndim == 1 else 1
    num_classes = log_p.shape[class_dim]
    keep = target != ignore_index
    masked = not bool(keep.all())  # nothing ignored: skip the masking
    # any valid class for the ignored elements; their loss is zeroed below
    safe = torch.where(keep, target, 0) if masked else target
    nll = -log_p.gather(class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    if weight is None:
        denominator = keep.sum()
    else:
        target_weight = weight.reshape(-1)[safe]
        if masked:
            target_weight = target_weight * keep
        nll = nll * target_weight
        denominator = target_weight.sum()  # as nll_loss: target classes' weights
    loss = nll
    # skipped at ε = 0, where 0·log p would turn a -inf logit into NaN (as PyTorch)
    if eps > 0:
        weighted = log_p if weight is None else log_p * weight
        smooth = -weighted.sum(dim=class_dim)
        loss = (1.0 - eps) * nll + (eps / num_classes) * smooth
    if masked:
        loss = loss.masked_fill(~keep, 0.0)
    return _reduce(loss, reduction, denominator)


def probability_target_loss(
    log_p: torch.Tensor,
    target: torch.Tensor,
    eps: float,
    weight: torch.Tensor | None,
    reduction: str,
) -> torch.Tensor:
    """``-Σ_c w_c q_c log p_c`` with ``q = (1 - ε)·target + ε/C``; the mean divides by N.

    Arguments as for :func:`class_index_loss`; ``target`` has the shape of ``log_p``.
    The probability-target kernel of :func:`label_smoothing_cross_entropy` (checked there).
    """
    class_dim = 0 if log_p.ndim == 1 else 1
    num_classes = log_p.shape[class_dim]
    q = target * (1.0 - eps) + eps / num_classes if eps > 0 else target
    terms = -q * log_p if weight is None else -q * log_p * weight
    loss = terms.sum(dim=class_dim)
    # PyTorch divides by the number of elements here, not by the summed weights
    return _reduce(loss, reduction, log_p.numel() / num_classes)


class LabelSmoothingCrossEntropy(nn.Module):
    """Cross-entropy against label-smoothed targets, as a module.

    A drop-in replacement for ``torch.nn.CrossEntropyLoss(label_smoothing=epsilon)`` that also
    offers the ``"others"`` convention; see :func:`label_smoothing_cross_entropy` for the
    formula and the normalization of ``reduction="mean"``. Like PyTorch's loss, the class
    weights are a buffer named ``weight``, so state dicts load across.

    Args:
        epsilon: the smoothing ε in [0, 1].
        convention: ``"uniform"`` (PyTorch's) or ``"others"``.
        weight: optional class weights, shape ``(C,)``.
        ignore_index: class-index target value to ignore.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Raises:
        TypeError, ValueError: for the same bad arguments as
            :func:`label_smoothing_cross_entropy`, at construction.
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        epsilon: float = 0.1,
        *,
        convention: str = "uniform",
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.epsilon = _check_epsilon(epsilon)
        check_choice(convention, "convention", CONVENTIONS)
        if weight is not None:
            weight = check_floating(weight, "weight")
            if weight.ndim != 1:
                raise ValueError(
                    f"weight must be a 1-D tensor of class weights, got shape {tuple(weight.shape)}"
                )
        self.convention = convention
        self.ignore_index = check_int(ignore_index, "ignore_index")
        check_choice(reduction, "reduction", _REDUCTIONS)
        self.reduction = reduction
        self.register_buffer("weight", weight)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of logits ``input`` against ``target`` (see the class docstring)."""
        return label_smoothing_cross_entropy(
            input,
            target,
            self.epsilon,
            convention=self.convention,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return (
            f"epsilon={self.epsilon}, convention={self.convention!r}, "
            f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"
        )


def template_plane_projection(features: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
    """Coordinates of features in the plane through three class templates.

    Müller, Kornblith and Hinton (2019, section 2) visualize what label smoothing does to the
    penultimate layer: the logit of class ``k`` is ``w_k · x + b_k``, so the rows ``w_k`` of
    the last linear layer are class *templates*; they take three classes, find an
    orthonormal basis of the plane through their three templates, and project the
    penultimate activations ``x`` onto it. Here ``e1 ∝ w1 - w0`` and ``e2 ∝`` the part of
    ``w2 - w0`` orthogonal to ``e1``, and the coordinates are ``((x - w0)·e1, (x - w0)·e2)``:
    template ``w0`` sits at the origin and ``w1`` on the positive first axis.

    Args:
        features: penultimate activations, shape ``(N, D)``.
        templates: the three templates, shape ``(3, D)`` (e.g. ``last_linear.weight[[0, 1, 2]]``).

    Returns:
        Coordinates of shape ``(N, 2)``, in the dtype of ``features``. Distances between
        points that lie in the plane are preserved.

    Raises:
        TypeError: an argument is not a floating tensor.
        ValueError: wrong shapes, NaN or inf entries, or templates on one line (they span no
            plane).
    """
    features = check_floating(features, "features")
    templates = check_floating(templates, "templates")
    check_ndim(features, "features", 2, "of shape (N, D)")
    check_finite(features, "features")
    check_finite(templates, "templates")  # else NaN reads as "templates lie on one line"
    if templates.ndim != 2 or templates.shape[0] != 3:
        raise ValueError(
            f"templates must have shape (3, D), one row per class, got {tuple(templates.shape)}"
        )
    if templates.shape[1] != features.shape[1]:
        raise ValueError(
            f"features have {features.shape[1]} dimensions but templates have {templates.shape[1]}"
        )
    w = templates.to(dtype=torch.float64, device=features.device)
    first, second = w[1] - w[0], w[2] - w[0]
    e1 = first / first.norm()
    second = second - (second @ e1) * e1  # Gram-Schmidt
    if not second.norm() > 1e-12 * max(first.norm().item(), 1.0):
        raise ValueError("the three templates lie on one line, so they span no plane")
    e2 = second / second.norm()
    basis = torch.stack([e1, e2], dim=1)  # (D, 2), orthonormal columns
    return ((features.double() - w[0]) @ basis).to(features.dtype)


def cluster_tightness(points: torch.Tensor, labels: torch.Tensor) -> float:
    """How tight the classes' clusters are relative to how far apart they are.

    ``tightness = mean_c mean_{i ∈ c} ‖x_i - μ_c‖ / mean_{c < c'} ‖μ_c - μ_c'‖``, with class
    centroids ``μ_c``: the mean distance of a point to its own class centroid (averaged over
    classes, so each class counts equally) divided by the mean distance between centroids.
    Smaller means tighter, better separated clusters; the value does not change when all
    points are translated, rotated or scaled together. Used to put a number on the
    penultimate-layer pictures of :func:`template_plane_projection`.

    Args:
        points: shape ``(N, D)``, e.g. the ``(N, 2)`` template-plane coordinates.
        labels: class of each point, shape ``(N,)``; at least two classes must be present.

    Returns:
        The tightness as a Python float.

    Raises:
        TypeError: ``points`` is not a floating tensor or ``labels`` not an integer tensor.
        ValueError: wrong shapes, NaN or inf points, fewer than two classes, or all
            centroids equal.
    """
    points = check_floating(points, "points")
    check_ndim(points, "points", 2, "of shape (N, D)")
    check_nonempty(points, "points")
    check_finite(points, "points")  # a NaN centroid would read as "centroids coincide"
    labels = check_integer_labels(labels, "labels")
    if labels.shape != points.shape[:1]:
        raise ValueError(
            f"labels must have shape ({points.shape[0]},), one per point, got {tuple(labels.shape)}"
        )
    x = points.double()
    classes = labels.unique()
    if len(classes) < 2:
        raise ValueError(f"cluster_tightness needs at least 2 classes, got {len(classes)}")
    centroids, spreads = [], []
    for c in classes:
        members = x[labels == c]
        centroid = members.mean(dim=0)
        centroids.append(centroid)
        spreads.append((members - centroid).norm(dim=1).mean())
    between = torch.pdist(torch.stack(centroids)).mean()
    if not between > 0:
        raise ValueError("all class centroids coincide, so their distance is 0")
    return float(torch.stack(spreads).mean() / between)


def one_sided_smooth_labels(target: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Binary discriminator targets with one-sided label smoothing.

    Maps each real target 1 to ``1 - epsilon`` and keeps each fake target 0 at 0:
    ``target * (1 - epsilon)``.

    Args:
        target: tensor of 0s (fake) and 1s (real), of any shape; bool, integer or floating.
        epsilon: smoothing in [0, 1); 0 returns the targets unchanged (as floats).

    Returns:
        Floating tensor of the same shape (``float32`` unless ``target`` is floating, in which
        case its dtype is kept), ready for ``binary_cross_entropy_with_logits``.

    Raises:
        TypeError: ``target`` is not a tensor or is complex, or ``epsilon`` is not a real
            number.
        ValueError: ``target`` holds values other than 0 and 1; ``epsilon`` is outside [0, 1).
    """
    target = check_tensor(target, "target")
    if target.is_complex():  # .to(float32) would silently drop the imaginary part
        raise TypeError(
            f"target must be a bool, integer or real floating tensor, got dtype {target.dtype}"
        )
    epsilon = check_one_sided_smoothing(epsilon, "epsilon")
    values = target if target.is_floating_point() else target.to(torch.float32)
    if not bool(((values == 0) | (values == 1)).all()):
        raise ValueError("target must hold only 0 (fake) and 1 (real) for one-sided smoothing")
    return values * (1.0 - epsilon)
