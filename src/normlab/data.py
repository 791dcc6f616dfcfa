"""The scikit-learn digits, as tensors split for training, validation and test.

1 797 grey-level images of 8 × 8 pixels (values 0–16) of the digits 0–9, bundled with
scikit-learn, so every chapter runs offline. scikit-learn is imported only when the data is
loaded; it comes with normlab's ``data`` extra
(``pip install "normlab[data] @ git+https://github.com/normlab/normlab.git"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from normlab._optional import import_optional
from normlab._validation import check_choice, check_floating_dtype, check_fraction, check_int

__all__ = ["Split", "Digits", "load_digits"]


class Split(NamedTuple):
    """Inputs ``x`` and integer class labels ``y`` of one part of a data set."""

    x: torch.Tensor
    y: torch.Tensor

    def to(self, device: torch.device | str) -> Split:
        """Both tensors moved to ``device``."""
        return Split(self.x.to(device), self.y.to(device))


class Digits(NamedTuple):
    """The three parts of the digits data set."""

    train: Split
    val: Split
    test: Split


def _import_sklearn_digits() -> tuple[Callable[..., Any], Callable[..., Any]]:
    # scikit-learn bundles the digits data
    options = {"package": "scikit-learn", "extra": "data", "needed_by": "normlab.load_digits"}
    datasets = import_optional("sklearn.datasets", **options)
    model_selection = import_optional("sklearn.model_selection", **options)
    return datasets.load_digits, model_selection.train_test_split


def load_digits(
    *,
    train_fraction: float = 0.6,
    val_fraction: float = 0.2,
    seed: int = 0,
    scale: str = "unit",
    flatten: bool = False,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Digits:
    """Load the digits and split them, stratified by class, into train, validation and test.

    Args:
        train_fraction: share of the 1 797 images used for training, in (0, 1).
        val_fraction: share used for validation, in [0, 1); the test set gets the rest,
            which must be non-empty.
        seed: seed of the random split (the same seed gives the same split everywhere).
        scale: ``"unit"`` maps pixel values to [0, 1]; ``"symmetric"`` to [-1, 1] (the range
            of a tanh generator's output).
        flatten: return inputs of shape ``(N, 64)`` instead of images ``(N, 1, 8, 8)``.
        dtype: floating dtype of the inputs.
        device: where the tensors live (CPU when ``None``).

    Returns:
        A :class:`Digits` of three :class:`Split`; labels are ``int64`` in 0…9.
    """
    train_fraction = check_fraction(train_fraction, "train_fraction", closed=False)
    val_fraction = check_fraction(val_fraction, "val_fraction")
    if train_fraction + val_fraction >= 1:
        raise ValueError(
            "train_fraction + val_fraction must be < 1 so that a test set remains, got "
            f"{train_fraction} + {val_fraction}"
        )
    seed = check_int(seed, "seed")
    check_choice(scale, "scale", ("unit", "symmetric"))
    check_floating_dtype(dtype, "dtype")

    sk_load_digits, train_test_split = _import_sklearn_digits()
    data = sk_load_digits()
    images, labels = data.images, data.target  # (1797, 8, 8) in 0..16, (1797,)
    x_train, x_rest, y_train, y_rest = train_test_split(
        images, labels, train_size=train_fraction, stratify=labels, random_state=seed
    )
    val_share = val_fraction / (1 - train_fraction)
    if val_share > 0:
        x_val, x_test, y_val, y_test = train_test_split(
            x_rest, y_rest, train_size=val_share, stratify=y_rest, random_state=seed
        )
    else:
        x_val, y_val = x_rest[:0], y_rest[:0]
        x_test, y_test = x_rest, y_rest

    def as_split(x: object, y: object) -> Split:
        xt = torch.as_tensor(x, dtype=torch.float64) / 16.0
        if scale == "symmetric":
            xt = 2.0 * xt - 1.0
        xt = xt.reshape(len(xt), 64) if flatten else xt.reshape(len(xt), 1, 8, 8)
        yt = torch.as_tensor(y, dtype=torch.int64)
        return Split(xt.to(dtype=dtype, device=device), yt.to(device=device))

    return Digits(as_split(x_train, y_train), as_split(x_val, y_val), as_split(x_test, y_test))
