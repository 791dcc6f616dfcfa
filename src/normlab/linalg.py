"""Vector and matrix norms from their definitions, and power iteration for the spectral norm.

``vector_norm`` and ``matrix_norm`` take the same ``ord`` values as ``torch.linalg.vector_norm``
and ``torch.linalg.matrix_norm`` and agree with them (the tests check every ``ord``). They are
written from the definitions so that each line can be read against the formula; PyTorch's
versions are the ones to use in production code.

``power_iteration`` estimates the largest singular value of a matrix with a few
matrix-vector products. It is the estimator behind spectral normalization
(Miyato et al., 2018, Appendix A): with the left vector ``u`` kept from one call to the next,
one iteration per training step is enough to track the spectral norm of a slowly changing
weight.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from normlab._validation import (
    check_bool,
    check_dims,
    check_finite,
    check_finite_positive_float,
    check_floating,
    check_floating_dtype,
    check_ndim,
    check_nonempty,
    check_positive_int,
)

__all__ = [
    "MATRIX_ORDS",
    "vector_norm",
    "matrix_norm",
    "singular_values",
    "spectral_radius",
    "power_iteration",
    "random_matrix_with_singular_values",
]

#: The ``ord`` values ``matrix_norm`` accepts (those of ``torch.linalg.matrix_norm``).
MATRIX_ORDS: tuple[str | float, ...] = ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)


# --------------------------------------------------------------------------- helpers


def _safe_root(s: torch.Tensor, p: float) -> torch.Tensor:
    """``s ** (1/p)`` for ``s >= 0`` whose gradient at ``s == 0`` is 0 instead of NaN.

    PyTorch defines the gradient of the 2-norm at the zero vector as 0 (a subgradient); a
    plain ``sqrt`` would give ``0 * inf = NaN`` there.
    """
    positive = s > 0
    safe = torch.where(positive, s, torch.ones_like(s))
    return torch.where(positive, safe.pow(1.0 / p), torch.zeros_like(s))


def _check_vector_ord(ord: object) -> float:
    if isinstance(ord, str):
        raise TypeError(
            f"ord must be a real number for a vector norm, got the string {ord!r}; "
            "'fro' and 'nuc' are matrix norms (use matrix_norm)"
        )
    if isinstance(ord, bool) or not isinstance(ord, numbers.Real):
        raise TypeError(f"ord must be a real number or ±inf, got {type(ord).__name__}")
    if math.isnan(ord):
        raise ValueError("ord must not be NaN")
    return float(ord)


# --------------------------------------------------------------------------- vector norms


def vector_norm(
    x: torch.Tensor,
    ord: float = 2,
    dim: int | Sequence[int] | None = None,
    keepdim: bool = False,
) -> torch.Tensor:
    r"""The vector p-norm of ``x`` over ``dim`` (all elements when ``dim`` is None).

    .. math::

        \|x\|_p = \Big(\sum_i |x_i|^p\Big)^{1/p}, \qquad \|x\|_0 = \#\{i : x_i \neq 0\},

        \|x\|_\infty = \max_i |x_i|, \qquad \|x\|_{-\infty} = \min_i |x_i|.

    Only ``p >= 1`` gives a norm (the triangle inequality fails below 1); other values are
    accepted because ``torch.linalg.vector_norm`` accepts them.

    Args:
        x: real floating-point tensor of any shape, non-empty.
        ord: ``p``; any real number, ``math.inf`` or ``-math.inf``.
        dim: axis or axes to reduce; ``None`` flattens ``x``.
        keepdim: keep the reduced axes with size 1.

    Returns:
        Tensor of norms with the reduced axes removed (or kept with size 1).

    Raises:
        TypeError: ``x`` is not a floating-point tensor, ``ord`` is not a real number, ``dim``
            is not an int, a tuple of ints or None, or ``keepdim`` is not a bool.
        ValueError: ``x`` is empty, ``ord`` is NaN, or ``dim`` is out of range or repeated.
    """
    x = check_floating(x, "x")
    check_nonempty(x, "x")
    p = _check_vector_ord(ord)
    dims = check_dims(dim, x.ndim)
    check_bool(keepdim, "keepdim")
    a = x.abs()
    if p == math.inf:
        return a.amax(dim=dims, keepdim=keepdim)
    if p == -math.inf:
        return a.amin(dim=dims, keepdim=keepdim)
    if p == 0:
        return (a != 0).sum(dim=dims, keepdim=keepdim).to(x.dtype)
    if p == 1:
        return a.sum(dim=dims, keepdim=keepdim)
    if p > 0:
        # Scale by the largest entry first, so that |x_i|^p neither underflows to 0 nor
        # overflows to inf (LAPACK's nrm2 does the same): ||x||_p = m * ||x / m||_p.
        m = a.amax(dim=dims, keepdim=True)
        scaled = a / torch.where(m > 0, m, torch.ones_like(m))
        root = _safe_root(scaled.pow(p).sum(dim=dims, keepdim=True), p)
        out = m * root
        return out if keepdim else out.squeeze(dims) if dims else out
    # p < 0: a zero entry makes the sum infinite and the norm 0, as in PyTorch.
    return a.pow(p).sum(dim=dims, keepdim=keepdim).pow(1.0 / p)


# --------------------------------------------------------------------------- matrix norms


def singular_values(A: torch.Tensor) -> torch.Tensor:
    r"""Singular values of the matrices in ``A`` (shape ``(*, m, n)``), in descending order.

    Computed from their definition, :math:`\sigma_i(A) = \sqrt{\lambda_i(A^\top A)}`, with
    the eigenvalues of the smaller Gram matrix (:math:`A^\top A` or :math:`A A^\top`, which share
    their non-zero eigenvalues). Forming the Gram matrix squares the condition number, so it is
    formed in float64 and the result cast back; ``torch.linalg.svdvals`` avoids the squaring
    altogether and is the better tool outside a lesson.

    Returns:
        Tensor of shape ``(*, min(m, n))``.

    Raises:
        TypeError: ``A`` is not a floating-point tensor.
        ValueError: ``A`` has fewer than 2 dimensions, is empty, or holds NaN or inf.
    """
    A = check_floating(A, "A")
    if A.ndim < 2:
        raise ValueError(f"A must have at least 2 dimensions (a matrix), got {A.ndim}-D")
    check_nonempty(A, "A")
    check_finite(A, "A")  # eigvalsh would blame a NaN on ill-conditioning
    # Divide by the largest entry so that the Gram matrix cannot overflow; sigma scales back.
    scale = A.detach().abs().amax(dim=(-2, -1), keepdim=True).to(torch.float64)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    A64 = A.to(torch.float64) / scale
    gram = A64.mT @ A64 if A.shape[-1] <= A.shape[-2] else A64 @ A64.mT
    eigenvalues = torch.linalg.eigvalsh(gram)  # ascending, real because the Gram is symmetric
    # Rounding can leave tiny negative eigenvalues where the true value is 0.
    sigma = _safe_root(eigenvalues.clamp_min(0), 2.0)
    return (sigma.flip(-1) * scale.squeeze(-1)).to(A.dtype)


def _check_matrix_norm_arguments(A: torch.Tensor, ord: object, dim: object) -> tuple[int, int]:
    """Validate ``matrix_norm``'s arguments; return the (row, column) axes, non-negative."""
    A = check_floating(A, "A")
    if A.ndim < 2:
        raise ValueError(
            f"A must have at least 2 dimensions (a matrix), got a {A.ndim}-D tensor of shape "
            f"{tuple(A.shape)}; for vectors use vector_norm"
        )
    check_nonempty(A, "A")
    if isinstance(ord, bool) or ord not in MATRIX_ORDS:
        allowed = ", ".join(repr(o) for o in MATRIX_ORDS)
        raise ValueError(f"ord must be one of {allowed} for a matrix norm, got {ord!r}")
    if not isinstance(dim, (tuple, list)):
        raise TypeError(
            f"dim must be a pair of axes (rows, columns) such as (-2, -1), got "
            f"{type(dim).__name__} ({dim!r})"
        )
    if len(dim) != 2:
        raise ValueError(f"dim must be a pair of axes (rows, columns), got {dim!r}")
    rows, cols = check_dims(dim, A.ndim)  # two distinct axes: it rejects repeats
    return rows, cols


def matrix_norm(
    A: torch.Tensor,
    ord: str | float = "fro",
    dim: tuple[int, int] = (-2, -1),
    keepdim: bool = False,
) -> torch.Tensor:
    r"""A matrix norm of ``A``, batched over every axis not in ``dim``.

    ======  ========================================  ==========================================
    ord     norm                                      formula
    ======  ========================================  ==========================================
    'fro'   Frobenius                                 :math:`\sqrt{\sum_{ij} a_{ij}^2}`
    'nuc'   nuclear (trace norm)                      :math:`\sum_i \sigma_i`
    2       spectral, induced by the vector 2-norm    :math:`\sigma_{\max}`
    -2      smallest singular value (not a norm)      :math:`\sigma_{\min}`
    1       induced by the vector 1-norm              :math:`\max_j \sum_i |a_{ij}|` (columns)
    -1      smallest column sum (not a norm)          :math:`\min_j \sum_i |a_{ij}|`
    inf     induced by the vector ∞-norm              :math:`\max_i \sum_j |a_{ij}|` (rows)
    -inf    smallest row sum (not a norm)             :math:`\min_i \sum_j |a_{ij}|`
    ======  ========================================  ==========================================

    Args:
        A: real floating-point tensor with at least 2 dimensions, non-empty.
        ord: one of :data:`MATRIX_ORDS`.
        dim: the two axes that hold the matrix rows and columns.
        keepdim: keep the two reduced axes with size 1.

    Returns:
        Tensor of norms, one per matrix.

    Raises:
        TypeError: ``A`` is not a floating-point tensor; ``dim`` is not a tuple;
            ``keepdim`` is not a bool.
        ValueError: ``A`` has fewer than 2 dimensions or is empty; ``ord`` is unknown;
            ``dim`` is not two distinct axes; ``A`` holds NaN or inf (for the norms that
            need singular values).
    """
    rows, cols = _check_matrix_norm_arguments(A, ord, dim)
    check_bool(keepdim, "keepdim")
    B = A.movedim((rows, cols), (-2, -1))
    if ord == "fro":
        out = vector_norm(B, 2, dim=(-2, -1))
    elif ord in (1, -1):
        column_sums = B.abs().sum(dim=-2)
        out = column_sums.amax(dim=-1) if ord == 1 else column_sums.amin(dim=-1)
    elif ord in (math.inf, -math.inf):
        row_sums = B.abs().sum(dim=-1)
        out = row_sums.amax(dim=-1) if ord == math.inf else row_sums.amin(dim=-1)
    else:
        sigma = singular_values(B)
        if ord == "nuc":
            out = sigma.sum(dim=-1)
        elif ord == 2:
            out = sigma[..., 0]
        else:  # -2
            out = sigma[..., -1]
    if keepdim:
        for axis in sorted((rows, cols)):
            out = out.unsqueeze(axis)
    return out


def spectral_radius(A: torch.Tensor) -> torch.Tensor:
    r"""The spectral radius :math:`\rho(A) = \max_i |\lambda_i(A)|` of square matrices.

    Not to be confused with the spectral norm :math:`\sigma_{\max}(A)`: the two agree for
    normal matrices (e.g. symmetric ones) but :math:`\rho(A) \le \sigma_{\max}(A)` in general,
    with equality failing for non-normal matrices such as ``[[1, 10], [0, 1]]``
    (:math:`\rho = 1`, :math:`\sigma_{\max} \approx 10.1`).

    Args:
        A: real floating-point tensor of shape ``(*, n, n)``.

    Returns:
        Tensor of shape ``(*)``, in ``A``'s dtype (float16 and bfloat16 are computed in
        float64: LAPACK has no half-precision eigensolver).

    Raises:
        TypeError: ``A`` is not a floating-point tensor.
        ValueError: ``A`` is not square, is empty, or holds NaN or inf.
    """
    A = check_floating(A, "A")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(
            f"A must be a square matrix (or a batch of them), got shape {tuple(A.shape)}"
        )
    check_nonempty(A, "A")
    check_finite(A, "A")  # a NaN matrix crashes oneMKL's balancing (SGEBAL), killing Python
    # LAPACK has no half-precision eigensolver: compute in float64 and cast back.
    A64 = A.to(torch.float64) if A.dtype in (torch.float16, torch.bfloat16) else A
    return torch.linalg.eigvals(A64).abs().amax(dim=-1).to(A.dtype)


# --------------------------------------------------------------------------- power iteration


def _power_of_two_scale(W: torch.Tensor) -> torch.Tensor:
    """``2^round(log2(max |W|))`` as a 0-d tensor of ``W``'s dtype (1 for a zero ``W``)."""
    largest = W.abs().amax().to(torch.float64)
    if not bool(largest > 0) or not bool(torch.isfinite(largest)):
        return torch.ones((), dtype=W.dtype, device=W.device)
    return torch.exp2(torch.round(torch.log2(largest))).to(W.dtype)


def _check_start_vector(x: torch.Tensor, name: str, size: int, W: torch.Tensor, what: str) -> None:
    """Validate a starting vector of ``power_iteration`` (``u`` or ``v``)."""
    x = check_floating(x, name)
    if x.shape != (size,):
        raise ValueError(
            f"{name} must have shape ({size},) to match W of shape {tuple(W.shape)} "
            f"({what}), got {tuple(x.shape)}"
        )
    if x.dtype != W.dtype or x.device != W.device:
        raise ValueError(
            f"{name} must have W's dtype and device ({W.dtype}, {W.device}), "
            f"got ({x.dtype}, {x.device})"
        )
    check_finite(x, name)
    if not bool(x.detach().abs().amax() > 0):
        raise ValueError(f"{name} must be a non-zero vector: power iteration cannot leave 0")


def _check_power_iteration_arguments(
    W: torch.Tensor,
    n_iters: object,
    u: torch.Tensor | None,
    eps: object,
    v: torch.Tensor | None = None,
) -> tuple[int, float]:
    """Validate ``power_iteration``'s arguments; return ``n_iters`` and ``eps``."""
    W = check_floating(W, "W")
    check_ndim(W, "W", 2, "(a matrix; reshape higher-dimensional weights first, e.g. W.flatten(1))")
    check_nonempty(W, "W")
    n_iters = check_positive_int(n_iters, "n_iters")
    eps = check_finite_positive_float(eps, "eps")
    if u is not None and v is not None:
        raise ValueError(
            "pass at most one starting vector: u (the iteration starts with v <- W^T u) "
            "or v (it starts with u <- W v), not both"
        )
    if u is not None:
        _check_start_vector(u, "u", W.shape[0], W, "one entry per row of W")
    if v is not None:
        _check_start_vector(v, "v", W.shape[1], W, "one entry per column of W")
    return n_iters, eps


def power_iteration(
    W: torch.Tensor,
    n_iters: int = 1,
    u: torch.Tensor | None = None,
    eps: float = 1e-12,
    *,
    v: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Estimate the largest singular value of a matrix by power iteration.

    Starting from a unit vector :math:`u \in \mathbb{R}^m`, for
    :math:`W \in \mathbb{R}^{m \times n}`, each iteration computes

    .. math::

        v \leftarrow \frac{W^\top u}{\|W^\top u\|_2}, \qquad
        u \leftarrow \frac{W v}{\|W v\|_2},

    and the estimate is :math:`\hat\sigma = u^\top W v` (Miyato et al., 2018, Algorithm 1).
    :math:`u` and :math:`v` converge to the top left and right singular vectors, their
    direction error shrinking like :math:`(\sigma_2/\sigma_1)^{2k}` after :math:`k` iterations;
    the relative error of :math:`\hat\sigma`, quadratic in the direction error, shrinks like
    :math:`(\sigma_2/\sigma_1)^{4k}`. For unit :math:`u, v`, :math:`u^\top W v \le \sigma_1`, so
    the estimate never overshoots (up to rounding).

    Runs under ``torch.no_grad()`` and never modifies ``W``, ``u`` or ``v``. Pass the returned
    ``u`` back in as ``u`` to warm-start the next call, as spectral normalization does once per
    training step.

    Passing a right vector ``v`` instead starts the same alternation one half-step later,
    :math:`u \leftarrow Wv/\|Wv\|_2` then :math:`v \leftarrow W^\top u/\|W^\top u\|_2`:
    the order of ``torch.nn.utils.parametrizations.spectral_norm``, whose buffers are
    reproduced by ``power_iteration(W, k, v=v0)`` (see
    :func:`normlab.spectral_normalization.spectral_norm`). The estimate is then
    :math:`u^\top W v = \|W^\top u\|_2`, again never above :math:`\sigma_1`.

    Args:
        W: real floating-point matrix of shape ``(m, n)``, any ``m`` and ``n``.
        n_iters: number of iterations, at least 1.
        u: starting left vector of shape ``(m,)``, non-zero, same dtype and device as ``W``;
            normalized before use. ``None`` draws one from a standard normal distribution.
        eps: added safety in the normalizations (``F.normalize``'s ``eps``), must be > 0.
        v: starting right vector of shape ``(n,)``, keyword only; starts with the update of
            ``u`` (PyTorch's order). Give ``u`` or ``v``, not both.
        generator: random generator for the starting vector when neither ``u`` nor ``v``
            is given.

    Returns:
        ``(sigma, u, v)``: the estimate (0-d tensor) and the unit vectors of shapes ``(m,)``
        and ``(n,)``.

    Raises:
        TypeError: ``W`` or ``u`` is not a floating-point tensor; ``n_iters`` is not an int.
        ValueError: ``W`` is not 2-D or is empty; ``n_iters < 1``; ``eps`` is not finite and
            > 0; ``u`` or ``v`` has the wrong shape, dtype or device, holds NaN or inf, or is
            zero; both are given.

    The iteration runs on :math:`W / 2^k`, with :math:`2^k` the power of two nearest the
    largest entry of ``W``: the unit vectors do not change (and, power-of-two scaling being
    exact, neither do their bits for ordinary ``W``), but ``W * 1e20`` in float32 no longer
    overflows and ``W * 1e-15`` no longer drowns in ``eps``, which therefore acts on the
    rescaled products.
    """
    n_iters, eps = _check_power_iteration_arguments(W, n_iters, u, eps, v)
    m = W.shape[0]
    with torch.no_grad():
        W = W.detach()
        # Iterate on W / 2^k with 2^k near the largest entry, so that neither ||W^T u||^2
        # overflows (W * 1e20 in float32) nor ||W v|| falls below eps (W * 1e-15): the unit
        # vectors are those of W, and scaling by a power of two rounds exactly, so for
        # ordinary W the iterates are bit-identical to iterating on W itself.
        scaled = W / _power_of_two_scale(W)
        if v is None:  # Miyato et al.'s order: v from u, then u from v
            if u is None:
                u = torch.randn(m, dtype=W.dtype, device=W.device, generator=generator)
            u = F.normalize(u.detach(), dim=0, eps=eps)  # a new tensor: the caller's is untouched
            for _ in range(n_iters):
                v = F.normalize(scaled.mT @ u, dim=0, eps=eps)
                u = F.normalize(scaled @ v, dim=0, eps=eps)
        else:  # PyTorch's order: the same alternation, shifted by half an iteration
            v = F.normalize(v.detach(), dim=0, eps=eps)
            for _ in range(n_iters):
                u = F.normalize(scaled @ v, dim=0, eps=eps)
                v = F.normalize(scaled.mT @ u, dim=0, eps=eps)
        assert u is not None and v is not None  # n_iters >= 1: the loop set both
        sigma = torch.dot(u, W @ v)
    return sigma, u, v


# --------------------------------------------------------------------------- test matrices


def random_matrix_with_singular_values(
    singular_values: Sequence[float] | torch.Tensor,
    m: int,
    n: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    r"""A random ``m × n`` matrix with the given singular values.

    The matrix is :math:`U \operatorname{diag}(\sigma) V^\top`, where :math:`U` and :math:`V`
    have orthonormal columns drawn uniformly (Haar measure), so the
    matrix is "generic" apart from its spectrum: the way to study how power iteration depends
    on the gap :math:`\sigma_2/\sigma_1` and on nothing else.

    Args:
        singular_values: ``k <= min(m, n)`` non-negative values (any order; unspecified ones
            are 0).
        m: number of rows.
        n: number of columns.
        generator: random generator (CPU) for reproducibility.
        dtype: floating dtype of the result (a ``torch.dtype``).

    Returns:
        Tensor of shape ``(m, n)`` on the CPU.

    Raises:
        TypeError: ``m`` or ``n`` is not an int; ``dtype`` is not a floating ``torch.dtype``.
        ValueError: ``m`` or ``n`` is < 1; wrong number of singular values, or negative or
            non-finite ones.
    """
    m = check_positive_int(m, "m")
    n = check_positive_int(n, "n")
    check_floating_dtype(dtype, "dtype")
    sigma = torch.as_tensor(singular_values, dtype=torch.float64).flatten()
    if sigma.numel() == 0 or sigma.numel() > min(m, n):
        raise ValueError(
            f"singular_values must hold between 1 and min(m, n) = {min(m, n)} values, "
            f"got {sigma.numel()}"
        )
    if bool((sigma < 0).any()) or not bool(torch.isfinite(sigma).all()):
        raise ValueError("singular_values must be finite and non-negative")

    def orthonormal_columns(rows: int, cols: int) -> torch.Tensor:
        q, r = torch.linalg.qr(torch.randn(rows, cols, dtype=torch.float64, generator=generator))
        # Fixing the signs of R's diagonal makes Q uniformly (Haar) distributed.
        return q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, 1.0)

    k = sigma.numel()
    U, V = orthonormal_columns(m, k), orthonormal_columns(n, k)
    return ((U * sigma) @ V.T).to(dtype)
