"""One-sided label smoothing for GAN discriminators (Salimans et al., 2016)."""

import pytest
import torch

import normlab


@pytest.mark.parametrize("dtype", [torch.bool, torch.int64, torch.float32, torch.float64])
def test_real_targets_are_softened_and_fake_targets_stay_zero(dtype):
    target = torch.tensor([1, 0, 1, 0]).to(dtype)
    out = normlab.one_sided_smooth_labels(target, 0.1)
    expected_dtype = dtype if dtype.is_floating_point else torch.float32
    assert out.dtype == expected_dtype
    torch.testing.assert_close(out, torch.tensor([0.9, 0.0, 0.9, 0.0], dtype=expected_dtype))


def test_zero_epsilon_is_the_identity_and_input_is_untouched():
    target = torch.ones(2, 3)
    out = normlab.one_sided_smooth_labels(target, 0.0)
    assert torch.equal(out, target) and out is not target


def test_used_with_bce_it_moves_the_optimal_real_probability_to_one_minus_epsilon():
    # the minimizer of BCE(sigmoid(z), 1 - eps) over z is sigmoid(z) = 1 - eps
    z = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([z], lr=5.0)
    target = normlab.one_sided_smooth_labels(torch.ones(1), 0.2)
    for _ in range(500):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(z, target).backward()
        opt.step()
    assert torch.sigmoid(z).item() == pytest.approx(0.8, abs=1e-4)


@pytest.mark.parametrize(
    "target, epsilon, error, message",
    [
        ([1, 0], 0.1, TypeError, "target must be a torch.Tensor"),
        (torch.tensor([1.0, 0.5]), 0.1, ValueError, "only 0 \\(fake\\) and 1 \\(real\\)"),
        (torch.tensor([2, 0]), 0.1, ValueError, "only 0"),
        (torch.ones(2), 1.0, ValueError, r"epsilon must lie in \[0, 1\)"),
        (torch.ones(2), -0.1, ValueError, "epsilon must lie in"),
        (torch.ones(2), "0.1", TypeError, "epsilon must be a real number"),
        (torch.ones(2), float("nan"), ValueError, "epsilon must not be NaN"),
        # a complex target would lose its imaginary part in .to(float32)
        (
            torch.ones(2, dtype=torch.complex64),
            0.1,
            TypeError,
            "target must be a bool, integer or real",
        ),
        (torch.tensor([1 + 1j, 0j]), 0.1, TypeError, "got dtype torch.complex64"),
    ],
)
def test_bad_input(target, epsilon, error, message):
    with pytest.raises(error, match=message):
        normlab.one_sided_smooth_labels(target, epsilon)
