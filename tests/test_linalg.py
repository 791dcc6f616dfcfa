"""normlab.linalg against torch.linalg and against exact computations."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import normlab
from normlab.linalg import MATRIX_ORDS

# Tolerances: float64 results agree with torch.linalg to ~1e-12 relative; the float32
# singular values come from a float64 Gram matrix, so they agree to float32 rounding.
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=2e-5, atol=1e-6)}
VECTOR_ORDS = [1, 2, 3, 0.5, 1.5, -1, -2.5, 0, math.inf, -math.inf]

# ---------------------------------------------------------------------------- vector_norm


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ord", VECTOR_ORDS)
@pytest.mark.parametrize(
    "shape, dim",
    [
        ((7,), None),
        ((4, 5), None),
        ((4, 5), 1),
        ((4, 5), -2),
        ((2, 3, 4), (0, 2)),
        ((3, 1, 2), (1,)),
    ],
)
@pytest.mark.parametrize("keepdim", [False, True])
def test_vector_norm_matches_torch(device, dtype, ord, shape, dim, keepdim):
    x = torch.randn(shape, dtype=dtype, device=device)
    ours = normlab.vector_norm(x, ord, dim=dim, keepdim=keepdim)
    theirs = torch.linalg.vector_norm(x, ord, dim=dim, keepdim=keepdim)
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, **TOL[dtype])


@pytest.mark.parametrize("ord", VECTOR_ORDS)
def test_vector_norm_with_zero_entries_matches_torch(ord):
    x = torch.tensor([[0.0, 3.0, -4.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(
        normlab.vector_norm(x, ord, dim=1), torch.linalg.vector_norm(x, ord, dim=1)
    )


def test_vector_norm_worked_example():
    x = torch.tensor([3.0, -4.0])
    assert normlab.vector_norm(x, 1).item() == 7.0
    assert normlab.vector_norm(x, 2).item() == 5.0
    assert normlab.vector_norm(x, math.inf).item() == 4.0
    assert normlab.vector_norm(x, 0).item() == 2.0


@pytest.mark.parametrize("ord", [1, 1.5, 2, 3, math.inf])
def test_vector_norm_gradient_matches_torch(ord):
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    (g_ours,) = torch.autograd.grad(normlab.vector_norm(x, ord, dim=1).sum(), x)
    (g_torch,) = torch.autograd.grad(torch.linalg.vector_norm(x, ord, dim=1).sum(), x)
    torch.testing.assert_close(g_ours, g_torch)


def test_vector_norm_gradient_at_zero_is_zero_like_torch():
    # PyTorch picks the subgradient 0 at the zero vector; a naive sqrt would give NaN.
    x = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(normlab.vector_norm(x, 2), x)
    assert torch.equal(g, torch.zeros(5, dtype=torch.float64))


# ---------------------------------------------------------------------------- matrix_norm


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ord", MATRIX_ORDS)
@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 6), (2, 5, 3), (2, 3, 4, 5), (1, 1)])
def test_matrix_norm_matches_torch(device, dtype, ord, shape):
    A = torch.randn(shape, dtype=dtype, device=device)
    ours = normlab.matrix_norm(A, ord)
    theirs = torch.linalg.matrix_norm(A, ord)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, **TOL[dtype])


@pytest.mark.parametrize("ord", MATRIX_ORDS)
@pytest.mark.parametrize("dim", [(0, 2), (2, 0), (-1, 1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm_dim_and_keepdim_match_torch(ord, dim, keepdim):
    A = torch.randn(3, 4, 5, dtype=torch.float64)
    ours = normlab.matrix_norm(A, ord, dim=dim, keepdim=keepdim)
    theirs = torch.linalg.matrix_norm(A, ord, dim=dim, keepdim=keepdim)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs)


def test_matrix_norm_worked_example():
    # The 2 x 2 example of the book: column sums 4, 6; row sums 3, 7.
    A = torch.tensor([[1.0, -2.0], [3.0, -4.0]], dtype=torch.float64)
    assert normlab.matrix_norm(A, 1).item() == 6.0
    assert normlab.matrix_norm(A, math.inf).item() == 7.0
    assert normlab.matrix_norm(A, "fro").item() == pytest.approx(math.sqrt(30))
    # sigma_1^2 + sigma_2^2 = 30 and sigma_1 * sigma_2 = |det A| = 2
    s1 = math.sqrt((30 + math.sqrt(30**2 - 16)) / 2)
    assert normlab.matrix_norm(A, 2).item() == pytest.approx(s1)
    assert normlab.matrix_norm(A, "nuc").item() == pytest.approx(s1 + 2 / s1)


def test_singular_values_match_svdvals_and_are_sorted(device):
    A = torch.randn(3, 7, 4, dtype=torch.float64, device=device)
    s = normlab.singular_values(A)
    torch.testing.assert_close(s, torch.linalg.svdvals(A))
    assert (s[..., :-1] >= s[..., 1:]).all()


def test_singular_values_of_rank_deficient_matrix_are_zero_not_nan():
    A = torch.ones(4, 3, dtype=torch.float64)  # rank 1: sigma = (sqrt(12), 0, 0)
    s = normlab.singular_values(A)
    assert not torch.isnan(s).any()
    torch.testing.assert_close(s, torch.tensor([math.sqrt(12), 0.0, 0.0], dtype=torch.float64))


def test_spectral_radius_differs_from_spectral_norm_for_non_normal_matrix():
    A = torch.tensor([[1.0, 10.0], [0.0, 1.0]], dtype=torch.float64)
    assert normlab.spectral_radius(A).item() == pytest.approx(1.0)
    assert normlab.matrix_norm(A, 2).item() == pytest.approx(5 + math.sqrt(26))
    S = torch.randn(5, 5, dtype=torch.float64)
    S = S + S.T  # symmetric, hence normal: the two agree
    torch.testing.assert_close(normlab.spectral_radius(S), normlab.matrix_norm(S, 2))


# ---------------------------------------------------------------------------- power_iteration


def matrix_with_singular_values(sigmas, m, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return normlab.random_matrix_with_singular_values(sigmas, m, n, generator=g)


@pytest.mark.parametrize("m, n", [(6, 4), (4, 6), (5, 5)])
def test_random_matrix_has_the_requested_singular_values(m, n):
    sigmas = [3.0, 2.5, 0.5]
    W = matrix_with_singular_values(sigmas, m, n)
    assert W.shape == (m, n) and W.dtype == torch.float64
    expected = torch.tensor(sigmas + [0.0] * (min(m, n) - 3), dtype=torch.float64)
    torch.testing.assert_close(torch.linalg.svdvals(W), expected, atol=1e-12, rtol=1e-12)
    assert not torch.equal(W, matrix_with_singular_values(sigmas, m, n, seed=1))


@pytest.mark.parametrize(
    "sigmas, error, message",
    [
        ([], ValueError, "between 1 and min"),
        ([1.0] * 5, ValueError, r"min\(m, n\) = 4"),
        ([1.0, -1.0], ValueError, "finite and non-negative"),
    ],
)
def test_random_matrix_bad_singular_values(sigmas, error, message):
    with pytest.raises(error, match=message):
        normlab.random_matrix_with_singular_values(sigmas, 5, 4)


@pytest.mark.parametrize("shape", [(50, 50), (80, 30), (30, 80)])
def test_power_iteration_reaches_svd_value_with_clear_gap(device, shape):
    m, n = shape
    sigmas = [3.0, 1.5] + [1.0] * (min(m, n) - 2)
    W = matrix_with_singular_values(sigmas, m, n).to(device)
    g = torch.Generator(device=device).manual_seed(1)
    sigma, u, v = normlab.power_iteration(W, n_iters=30, generator=g)
    exact = torch.linalg.matrix_norm(W, 2)
    assert abs(sigma - exact) / exact < 1e-4
    assert u.shape == (m,) and v.shape == (n,)
    torch.testing.assert_close(
        torch.linalg.vector_norm(u), torch.ones((), dtype=W.dtype, device=device)
    )
    # u and v are the top singular vectors (up to a common sign)
    U, S, Vh = torch.linalg.svd(W)
    assert abs(torch.dot(u, U[:, 0])) > 1 - 1e-6
    assert abs(torch.dot(v, Vh[0])) > 1 - 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_power_iteration_never_overshoots(dtype):
    W = torch.randn(64, 40, dtype=dtype)
    exact = torch.linalg.matrix_norm(W.double(), 2).item()
    u = None
    slack = 1e-5 if dtype == torch.float32 else 1e-12
    for _ in range(60):
        sigma, u, _ = normlab.power_iteration(W, 1, u=u)
        assert sigma.item() <= exact * (1 + slack)


def iterations_to_converge(W, u, tol=1e-6, limit=500):
    exact = torch.linalg.matrix_norm(W, 2)
    for k in range(1, limit + 1):
        sigma, u, _ = normlab.power_iteration(W, 1, u=u)
        if abs(sigma - exact) / exact < tol:
            return k
    return limit + 1


def test_warm_start_converges_in_fewer_iterations():
    sigmas = [2.0, 1.8, 1.5] + [1.0] * 37
    W = matrix_with_singular_values(sigmas, 60, 40)
    _, u_old, _ = normlab.power_iteration(W, 200)
    # the weight moves a little, as it does during one optimizer step
    W_new = W + 1e-3 * torch.randn(60, 40, dtype=W.dtype)
    warm = iterations_to_converge(W_new, u_old)
    cold = iterations_to_converge(W_new, torch.randn(60, dtype=W.dtype))
    # measured: 2-4 warm against 25-41 cold over five seeds
    assert warm * 4 < cold


def test_power_iteration_does_not_modify_its_inputs():
    W = torch.randn(5, 3, dtype=torch.float64)
    u = torch.randn(5, dtype=torch.float64)
    W0, u0 = W.clone(), u.clone()
    normlab.power_iteration(W, 5, u=u)
    assert torch.equal(W, W0) and torch.equal(u, u0)


def test_power_iteration_runs_without_grad_and_is_seedable():
    W = torch.randn(6, 4, requires_grad=True)
    sigma, u, v = normlab.power_iteration(W, 3, generator=torch.Generator().manual_seed(0))
    assert not sigma.requires_grad and not u.requires_grad and not v.requires_grad
    again = normlab.power_iteration(W, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sigma, again[0])


def test_power_iteration_is_the_normalised_power_of_the_gram_matrix():
    W = torch.randn(7, 5, dtype=torch.float64)
    u0 = torch.randn(7, dtype=torch.float64)
    _, u, v = normlab.power_iteration(W, 4, u=u0)
    krylov = torch.linalg.matrix_power(W @ W.T, 4) @ u0
    torch.testing.assert_close(u, krylov / krylov.norm())


def test_power_iteration_of_zero_matrix_is_zero():
    sigma, u, v = normlab.power_iteration(torch.zeros(3, 4), 2)
    assert sigma.item() == 0.0


# ---------------------------------------------------------------------------- properties

finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)
vectors = arrays("float64", st.integers(1, 8), elements=finite)


@given(vectors, vectors, st.sampled_from([1, 1.5, 2, 3, math.inf]), finite)
def test_vector_norm_axioms(xa, ya, p, c):
    n = min(len(xa), len(ya))
    x, y = torch.from_numpy(xa[:n]), torch.from_numpy(ya[:n])
    nx, ny = normlab.vector_norm(x, p), normlab.vector_norm(y, p)
    assert nx >= 0
    assert (nx == 0) == bool((x == 0).all())
    # absolute homogeneity and the triangle inequality, up to float64 rounding
    assert math.isclose(
        normlab.vector_norm(c * x, p).item(), abs(c) * nx.item(), rel_tol=1e-9, abs_tol=1e-9
    )
    assert normlab.vector_norm(x + y, p) <= (nx + ny) * (1 + 1e-12) + 1e-12


matrices = st.tuples(st.integers(1, 6), st.integers(1, 6)).flatmap(
    lambda s: arrays("float64", s, elements=st.floats(-100, 100, allow_nan=False, width=64))
)


@given(matrices, st.sampled_from(["fro", "nuc", 1, 2, math.inf]))
def test_matrix_norm_axioms(a, ord):
    A = torch.from_numpy(a)
    B = torch.flip(A, dims=(0,)) * 0.5 - 1.0
    nA = normlab.matrix_norm(A, ord)
    assert nA >= 0
    assert (
        normlab.matrix_norm(A + B, ord) <= (nA + normlab.matrix_norm(B, ord)) * (1 + 1e-10) + 1e-9
    )


@given(matrices, st.sampled_from([1, 2, math.inf]))
def test_induced_norms_are_submultiplicative(a, ord):
    A = torch.from_numpy(a)
    B = torch.from_numpy(a).T.flip(dims=(1,)) + 0.25
    lhs = normlab.matrix_norm(A @ B, ord)
    rhs = normlab.matrix_norm(A, ord) * normlab.matrix_norm(B, ord)
    assert lhs <= rhs * (1 + 1e-10) + 1e-9


@given(matrices, st.integers(0, 2**31 - 1))
def test_largest_singular_value_bounds_every_stretch(a, seed):
    W = torch.from_numpy(a)
    x = torch.randn(W.shape[1], dtype=W.dtype, generator=torch.Generator().manual_seed(seed))
    sigma1 = normlab.matrix_norm(W, 2)
    stretch = torch.linalg.vector_norm(W @ x) / torch.linalg.vector_norm(x)
    assert stretch <= sigma1 * (1 + 1e-10) + 1e-12


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: normlab.vector_norm([1.0, 2.0]), TypeError, "x must be a torch.Tensor, got list"),
        (
            lambda: normlab.vector_norm(torch.arange(3)),
            TypeError,
            "x must be a floating-point tensor.*int64",
        ),
        (lambda: normlab.vector_norm(torch.empty(0)), ValueError, "x must be non-empty"),
        (
            lambda: normlab.vector_norm(torch.ones(3), "fro"),
            TypeError,
            "'fro' and 'nuc' are matrix norms",
        ),
        (
            lambda: normlab.vector_norm(torch.ones(3), float("nan")),
            ValueError,
            "ord must not be NaN",
        ),
        (lambda: normlab.vector_norm(torch.ones(3), True), TypeError, "ord must be a real number"),
        (
            lambda: normlab.vector_norm(torch.ones(2, 3), dim=2),
            ValueError,
            r"dim must index an axis of a 2-D tensor",
        ),
        (
            lambda: normlab.vector_norm(torch.ones(2, 3), dim=(0, -2)),
            ValueError,
            "must not repeat an axis",
        ),
        (
            lambda: normlab.matrix_norm(torch.ones(3)),
            ValueError,
            "A must have at least 2 dimensions.*1-D",
        ),
        (lambda: normlab.matrix_norm(torch.tensor(1.0)), ValueError, "at least 2 dimensions.*0-D"),
        (lambda: normlab.matrix_norm(torch.ones(0, 3)), ValueError, "A must be non-empty"),
        (lambda: normlab.matrix_norm(torch.ones(2, 2, dtype=torch.int32)), TypeError, "int32"),
        (
            lambda: normlab.matrix_norm(torch.ones(2, 2), 3),
            ValueError,
            "ord must be one of 'fro', 'nuc'.*got 3",
        ),
        (lambda: normlab.matrix_norm(torch.ones(2, 2), "spectral"), ValueError, "got 'spectral'"),
        (lambda: normlab.matrix_norm(torch.ones(2, 2), True), ValueError, "got True"),
        (lambda: normlab.matrix_norm(torch.ones(2, 2), dim=(0,)), ValueError, "dim must be a pair"),
        (lambda: normlab.matrix_norm(torch.ones(2, 2), dim=(1, 1)), ValueError, "must not repeat"),
        (lambda: normlab.spectral_radius(torch.ones(2, 3)), ValueError, "square matrix"),
        (lambda: normlab.power_iteration(torch.ones(3)), ValueError, "W must be a 2-D tensor.*1-D"),
        (
            lambda: normlab.power_iteration(torch.tensor(2.0)),
            ValueError,
            "W must be a 2-D tensor.*0-D",
        ),
        (
            lambda: normlab.power_iteration(torch.ones(2, 3, 4)),
            ValueError,
            "W must be a 2-D tensor.*flatten.*got a 3-D",
        ),
        (lambda: normlab.power_iteration(torch.ones(0, 4)), ValueError, "W must be non-empty"),
        (
            lambda: normlab.power_iteration(torch.ones(3, 3, dtype=torch.int64)),
            TypeError,
            "W must be a floating-point",
        ),
        (
            lambda: normlab.power_iteration(torch.ones(3, 3), n_iters=0),
            ValueError,
            r"n_iters must be a positive int \(>= 1\), got 0",
        ),
        (
            lambda: normlab.power_iteration(torch.ones(3, 3), n_iters=2.0),
            TypeError,
            "n_iters must be an int",
        ),
        (lambda: normlab.power_iteration(torch.ones(3, 3), eps=0.0), ValueError, "eps must be > 0"),
        (
            lambda: normlab.power_iteration(torch.ones(3, 4), u=torch.ones(4)),
            ValueError,
            r"u must have shape \(3,\).*got \(4,\)",
        ),
        (
            lambda: normlab.power_iteration(torch.ones(3, 4), u=torch.ones(3, 1)),
            ValueError,
            r"u must have shape \(3,\)",
        ),
        (
            lambda: normlab.power_iteration(torch.ones(3, 4), u=torch.ones(3, dtype=torch.float64)),
            ValueError,
            "u must have W's dtype",
        ),
        (
            lambda: normlab.power_iteration(torch.ones(3, 4), u=torch.zeros(3)),
            ValueError,
            "u must be a non-zero vector",
        ),
        (
            lambda: normlab.power_iteration(torch.ones(3, 4), u=torch.ones(3, dtype=torch.int64)),
            TypeError,
            "u must be a floating-point",
        ),
    ],
)
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------- power_iteration, v


def test_power_iteration_from_v_is_the_same_alternation_half_a_step_later():
    """Starting from v0 (PyTorch's order) = starting from u0 = normalize(W v0) (Miyato's)."""
    W = torch.randn(9, 6, dtype=torch.float64)
    v0 = torch.randn(6, dtype=torch.float64)
    sigma_v, u_v, v_v = normlab.power_iteration(W, 5, v=v0)
    u0 = torch.nn.functional.normalize(W @ v0, dim=0)
    # from u0, Miyato's order computes v1, u1, ..., v4, u4 after 4 iterations, then v5
    _, u_u, v_u = normlab.power_iteration(W, 4, u=u0)
    torch.testing.assert_close(u_v, u_u, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(v_v, torch.nn.functional.normalize(W.T @ u_u, dim=0))
    assert sigma_v <= torch.linalg.matrix_norm(W, 2) * (1 + 1e-12)
    torch.testing.assert_close(sigma_v, torch.dot(u_v, W @ v_v))


def test_power_iteration_from_v_does_not_modify_it():
    v0 = torch.randn(4)
    copy = v0.clone()
    normlab.power_iteration(torch.randn(3, 4), 3, v=v0)
    assert torch.equal(v0, copy)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(u=torch.ones(3), v=torch.ones(4)), "pass at most one starting vector"),
        (dict(v=torch.ones(3)), r"v must have shape \(4,\) .*one entry per column of W"),
        (dict(v=torch.zeros(4)), "v must be a non-zero vector"),
        (dict(v=torch.ones(4, dtype=torch.float64)), "v must have W's dtype and device"),
    ],
)
def test_power_iteration_v_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        normlab.power_iteration(torch.ones(3, 4), 2, **kwargs)


def test_power_iteration_v_must_be_floating():
    with pytest.raises(TypeError, match="v must be a floating-point tensor"):
        normlab.power_iteration(torch.ones(3, 4), 2, v=torch.ones(4, dtype=torch.int64))


# ---------------------------------------------------------------------------- hostile inputs


NAN_3x3 = torch.full((3, 3), math.nan)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: normlab.vector_norm(torch.ones(3), keepdim="no"),
            TypeError,
            "keepdim must be a bool",
        ),
        (
            lambda: normlab.matrix_norm(torch.ones(2, 2), keepdim=1),
            TypeError,
            "keepdim must be a bool",
        ),
        (
            lambda: normlab.vector_norm(torch.ones(3, 2), dim=1.0),
            TypeError,
            "dim must be an int, a tuple",
        ),
        (
            lambda: normlab.vector_norm(torch.ones(3, 2), dim=True),
            TypeError,
            "dim must be an int, a tuple",
        ),
        (
            lambda: normlab.matrix_norm(torch.ones(3, 2), dim=None),
            TypeError,
            "dim must be a pair of axes",
        ),
        (
            lambda: normlab.power_iteration(torch.ones(3, 3), eps=math.inf),
            ValueError,
            "eps must be finite",
        ),
        (
            lambda: normlab.power_iteration(torch.ones(3, 4), u=torch.full((3,), math.nan)),
            ValueError,
            r"u must be finite, got 3 non-finite entries \(NaN\)",
        ),
        (
            lambda: normlab.power_iteration(
                torch.ones(3, 4), v=torch.tensor([1.0, math.inf, 0, 0])
            ),
            ValueError,
            r"v must be finite, got 1 non-finite entries \(inf\)",
        ),
        (lambda: normlab.singular_values(NAN_3x3), ValueError, "A must be finite"),
        (lambda: normlab.matrix_norm(NAN_3x3, "nuc"), ValueError, "A must be finite"),
        (lambda: normlab.matrix_norm(NAN_3x3, 2), ValueError, "A must be finite"),
        # oneMKL's SGEBAL segfaults on a NaN matrix: the check must come before LAPACK
        (lambda: normlab.spectral_radius(NAN_3x3), ValueError, "A must be finite"),
        (lambda: normlab.spectral_radius(torch.eye(3) * math.inf), ValueError, "A must be finite"),
        (
            lambda: normlab.random_matrix_with_singular_values([1.0], 3, 3, dtype=torch.int64),
            TypeError,
            "dtype must be a floating-point dtype.*torch.int64",
        ),
        (
            lambda: normlab.random_matrix_with_singular_values([1.0], 3, 3, dtype="float32"),
            TypeError,
            r"dtype must be a torch.dtype.*got str \('float32'\)",
        ),
    ],
)
def test_hostile_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("keepdim", [False, True])
def test_empty_dim_reduces_every_axis_like_torch(keepdim):
    x = torch.randn(3, 4, dtype=torch.float64)
    for ord in (2, 1, math.inf, 0, -1):
        ours = normlab.vector_norm(x, ord, dim=(), keepdim=keepdim)
        theirs = torch.linalg.vector_norm(x, ord, dim=(), keepdim=keepdim)
        assert ours.shape == theirs.shape == ((1, 1) if keepdim else ())
        torch.testing.assert_close(ours, theirs, **TOL[torch.float64])


@pytest.mark.parametrize(
    "dtype, scale",
    [(torch.float32, 1e20), (torch.float32, 1e-20), (torch.float64, 1e-15), (torch.float64, 1e150)],
)
def test_power_iteration_survives_extreme_scales(dtype, scale):
    """Without rescaling, float32 ||W^T u||^2 overflows at 1e20 and 1e-15 drowns in eps."""
    W = matrix_with_singular_values([3.0, 1.0], 6, 4).to(dtype) * scale
    sigma, u, v = normlab.power_iteration(W, 30)
    torch.testing.assert_close(
        sigma, torch.linalg.matrix_norm(W.double(), 2).to(dtype), rtol=1e-5, atol=0
    )
    for vec in (u, v):
        torch.testing.assert_close(vec.norm(), torch.ones((), dtype=dtype))


def test_power_iteration_rescaling_leaves_ordinary_iterates_bit_identical():
    """Scaling by a power of two is exact: the same bits as iterating on W itself."""
    g = torch.Generator().manual_seed(3)
    W = torch.randn(7, 5, generator=g) * 37.0
    u = torch.randn(7, generator=g)
    _, ours_u, ours_v = normlab.power_iteration(W, 4, u=u)
    F = torch.nn.functional
    ref_u = F.normalize(u, dim=0, eps=1e-12)
    for _ in range(4):
        ref_v = F.normalize(W.T @ ref_u, dim=0, eps=1e-12)
        ref_u = F.normalize(W @ ref_v, dim=0, eps=1e-12)
    assert torch.equal(ours_u, ref_u) and torch.equal(ours_v, ref_v)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_spectral_radius_of_half_precision_is_computed_in_float64(dtype):
    A = torch.tensor([[0.5, 2.0], [0.0, -1.5]])
    rho = normlab.spectral_radius(A.to(dtype))
    assert rho.dtype == dtype
    assert rho.item() == 1.5
