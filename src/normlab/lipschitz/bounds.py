r"""Upper and lower bounds on the Lipschitz constant of a whole network.

The product of the layers' constants (:mod:`normlab.lipschitz.layers`) is an upper bound
(:func:`lipschitz_upper_bound`, "AutoLip" in Virmaux & Scaman 2018); the largest gradient
norm found by gradient ascent (:func:`lipschitz_lower_bound_gradient`) and the largest
difference quotient over sampled pairs (:func:`lipschitz_lower_bound_pairs`) are lower
bounds. Computing the constant exactly is NP-hard already for two-layer ReLU networks
(Virmaux & Scaman 2018), so the truth lies between the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from normlab._validation import (
    check_batch,
    check_callable,
    check_finite,
    check_input_shape,
    check_module,
    check_nonnegative_int,
    check_positive_float,
)
from normlab.lipschitz.layers import eval_mode, layer_lipschitz

__all__ = [
    "lipschitz_constants",
    "lipschitz_upper_bound",
    "LipschitzLowerBound",
    "lipschitz_lower_bound_gradient",
    "lipschitz_lower_bound_pairs",
]


def _layers(net: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """The leaves of a (nested) ``nn.Sequential``, with their qualified names."""
    for name, child in net.named_children():
        qualified = f"{prefix}{name}"
        if isinstance(child, nn.Sequential):
            yield from _layers(child, qualified + ".")
        else:
            yield qualified, child


def lipschitz_constants(
    net: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    n_iters: int = 100,
    generator: torch.Generator | None = None,
) -> list[tuple[str, float]]:
    """The Lipschitz constant of every layer of a sequential network, in order.

    Args:
        net: an ``nn.Sequential`` (nested ones are flattened), or a single layer.
        input_shape: shape of one input without the batch axis; required when the network
            has convolutions (each conv is measured on the shape that reaches it).
        n_iters: power iterations for convolutions that need them.
        generator: random generator for those power iterations.

    Returns:
        A list of ``(name, constant)`` pairs, one per layer, named as in
        ``net.named_modules()``.

    Raises:
        TypeError: ``net`` is not a module, or contains an unsupported layer.
        ValueError: ``input_shape`` is missing for a convolution, or does not fit the network.
    """
    check_module(net, "net")
    layers = list(_layers(net)) if isinstance(net, nn.Sequential) else [("", net)]
    shape = None if input_shape is None else check_input_shape(input_shape)
    constants = []
    with eval_mode(net):
        for name, layer in layers:
            constants.append(
                (name, layer_lipschitz(layer, shape, n_iters=n_iters, generator=generator))
            )
            if shape is not None:  # the shape that reaches the next layer
                try:
                    weight = next(iter(layer.parameters()), None)
                    zeros = (
                        torch.zeros((1, *shape))
                        if weight is None
                        else torch.zeros((1, *shape), dtype=weight.dtype, device=weight.device)
                    )
                    with torch.no_grad():
                        shape = tuple(layer(zeros).shape[1:])
                except RuntimeError as err:
                    raise ValueError(
                        f"input_shape does not fit layer {name!r} ({layer}): "
                        f"{str(err).splitlines()[0]}"
                    ) from err
    return constants


def lipschitz_upper_bound(
    net: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    n_iters: int = 100,
    generator: torch.Generator | None = None,
) -> float:
    r"""An upper bound on a sequential network's Lipschitz constant: the product of its layers'.

    For :math:`f = f_n \circ \dots \circ f_1`,
    :math:`\|f(x) - f(y)\| \le \prod_i L(f_i)\, \|x - y\|`; for a ReLU network this is
    :math:`\prod_i \sigma(W_i)` (Miyato et al., 2018, eq. 7; "AutoLip" in Virmaux & Scaman,
    2018). It ignores how the layers' top singular directions line up and which units the
    activations switch off, so it can be loose by orders of magnitude in deep networks.

    Args:
        net: an ``nn.Sequential`` of supported layers (see
            :func:`~normlab.lipschitz.layers.layer_lipschitz`).
        input_shape: shape of one input without the batch axis; required for convolutions.
        n_iters: power iterations for convolutions that need them.
        generator: random generator for those power iterations.

    Returns:
        The bound, a float.

    Raises:
        TypeError: an unsupported layer.
        ValueError: see :func:`~normlab.lipschitz.bounds.lipschitz_constants`.
    """
    return math.prod(
        c for _, c in lipschitz_constants(net, input_shape, n_iters=n_iters, generator=generator)
    )


# --------------------------------------------------------------------------- lower bounds


@dataclass(frozen=True)
class LipschitzLowerBound:
    """A certified lower bound on a Lipschitz constant, and where it was attained.

    Attributes:
        value: the bound: a gradient norm :math:`\\|\\nabla f(x)\\|_2`, or a difference
            quotient :math:`\\|f(x) - f(y)\\|_2 / \\|x - y\\|_2`.
        x: the point (one input, without the batch axis).
        y: the second point of the pair, or ``None`` for a gradient norm.
        history: the best value so far after each ascent step (entry 0: at the start).
    """

    value: float
    x: torch.Tensor
    y: torch.Tensor | None = None
    history: list[float] = field(default_factory=list)


def _check_points(x: object, name: str) -> torch.Tensor:
    x = check_batch(x, name, "a batch of points")
    return check_finite(x, name)  # a NaN norm never beats the best so far: value -1 unseen


def _check_finite_values(values: torch.Tensor, what: str) -> None:
    """Raise if ``f`` gave NaN or inf at the starting points (no bound could be certified)."""
    if not bool(torch.isfinite(values).all()):
        raise ValueError(
            f"f gave non-finite {what}; a NaN or infinite value certifies no bound "
            "(check f and the points)"
        )


def _scalar_outputs(out: torch.Tensor, batch: int) -> torch.Tensor:
    if out.shape not in ((batch,), (batch, 1)):
        raise ValueError(
            f"f must return one number per point, shape ({batch},) or ({batch}, 1), got "
            f"{tuple(out.shape)}; for vector outputs use lipschitz_lower_bound_pairs"
        )
    return out.reshape(batch)


def lipschitz_lower_bound_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    steps: int = 100,
    lr: float = 1e-2,
) -> LipschitzLowerBound:
    r"""A lower bound :math:`\max \|\nabla_x f(x)\|_2`, by gradient ascent from many starts.

    Every gradient norm is a lower bound on the Lipschitz constant of a scalar function.
    Starting from the points ``x``, Adam ascends :math:`\|\nabla_x f(x)\|_2` (its gradient
    needs a double backward) and the largest norm seen at any step is returned.

    For a ReLU network :math:`f` is piecewise linear, so :math:`\nabla f` is piecewise
    constant and the ascent direction is zero almost everywhere: the points do not move and
    the bound is the best starting point. Give many starts, or use
    :func:`~normlab.lipschitz.bounds.lipschitz_lower_bound_pairs`.

    Args:
        f: a function of a batch ``(B, *input_shape)`` returning ``(B,)`` or ``(B, 1)``
            (e.g. a critic; put modules in eval mode first).
        x: starting points ``(B, *input_shape)``, floating point.
        steps: ascent steps, ``>= 0`` (0: just the gradient norms at ``x``).
        lr: Adam's learning rate, > 0.

    Returns:
        A :class:`~normlab.lipschitz.bounds.LipschitzLowerBound` with the point where the best norm
        was found.

    Raises:
        TypeError: ``f`` is not callable; ``x`` is not a floating-point tensor.
        ValueError: ``x`` is not a batch; ``f`` does not return one number per point;
            ``steps < 0``; ``lr <= 0``.
    """
    check_callable(f, "f")
    _check_points(x, "x")
    steps = check_nonnegative_int(steps, "steps")
    lr = check_positive_float(lr, "lr")
    points = x.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([points], lr=lr)
    best, best_x, history = -1.0, points.detach()[0].clone(), []
    with torch.enable_grad():
        for step in range(steps + 1):
            out = _scalar_outputs(f(points), len(points))
            (grad,) = torch.autograd.grad(out.sum(), points, create_graph=step < steps)
            norms = grad.flatten(1).norm(dim=1)
            if step == 0:
                _check_finite_values(norms.detach(), "gradient norms at the starting points x")
            i = int(norms.argmax())
            if norms[i].item() > best:
                best, best_x = norms[i].item(), points.detach()[i].clone()
            history.append(best)
            if step == steps:
                break
            # Only the points get gradients (f's parameters are left alone); for a piecewise
            # linear f the points may not even be in the graph of the norms: direction 0.
            (direction,) = (
                torch.autograd.grad(-norms.sum(), points, allow_unused=True, materialize_grads=True)
                if norms.requires_grad
                else (torch.zeros_like(points),)
            )
            points.grad = direction
            optimizer.step()
    return LipschitzLowerBound(value=best, x=best_x, history=history)


def lipschitz_lower_bound_pairs(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int = 0,
    lr: float = 1e-2,
) -> LipschitzLowerBound:
    r"""A lower bound :math:`\max \|f(x) - f(y)\|_2 / \|x - y\|_2` over pairs of points.

    Each pair's difference quotient is a lower bound, by the definition of the Lipschitz
    constant; it needs no gradient, so it works for vector outputs and for piecewise-linear
    networks alike. With ``steps > 0``, Adam then moves both points of every pair to
    increase its quotient (this works for ReLU networks, where the gradient norm cannot be
    ascended); the best quotient seen is returned.

    Args:
        f: a function of a batch ``(B, *input_shape)`` returning ``(B, *output_shape)``.
        x: first points ``(B, *input_shape)``.
        y: second points, same shape; every pair must differ.
        steps: ascent steps, ``>= 0``.
        lr: Adam's learning rate, > 0.

    Returns:
        A :class:`~normlab.lipschitz.bounds.LipschitzLowerBound` with the best pair.

    Raises:
        TypeError: ``f`` is not callable; ``x`` or ``y`` is not a floating-point tensor.
        ValueError: shapes differ or are not batches; a pair has ``x == y``; ``steps < 0``;
            ``lr <= 0``.
    """
    check_callable(f, "f")
    _check_points(x, "x")
    _check_points(y, "y")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if not bool(((x - y).flatten(1).norm(dim=1) > 0).all()):
        raise ValueError("every pair must have x != y (a quotient 0/0 bounds nothing)")
    steps = check_nonnegative_int(steps, "steps")
    lr = check_positive_float(lr, "lr")
    xs = x.detach().clone().requires_grad_(True)
    ys = y.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([xs, ys], lr=lr)
    best, best_pair, history = -1.0, (xs.detach()[0].clone(), ys.detach()[0].clone()), []
    with torch.enable_grad():
        for step in range(steps + 1):
            distance = (xs - ys).flatten(1).norm(dim=1)
            quotient = (f(xs) - f(ys)).flatten(1).norm(dim=1) / distance
            valid = distance > 0  # a pair that collapsed during the ascent bounds nothing
            q = torch.where(valid, quotient, torch.zeros_like(quotient)).detach()
            if step == 0:
                _check_finite_values(q, "difference quotients at the starting pairs (x, y)")
            i = int(q.argmax())
            if q[i].item() > best:
                best, best_pair = q[i].item(), (xs.detach()[i].clone(), ys.detach()[i].clone())
            history.append(best)
            if step == steps:
                break
            xs.grad, ys.grad = torch.autograd.grad(-quotient[valid].sum(), (xs, ys))
            optimizer.step()
    return LipschitzLowerBound(value=best, x=best_pair[0], y=best_pair[1], history=history)
