"""PyTorch's own test entries for the normalization family, applied to normlab's twins.

The cases are generated at test time from ``torch.testing._internal``: the ``module_db``
entries of ``nn.BatchNorm1d/2d/3d``, ``nn.LayerNorm``, ``nn.InstanceNorm1d/2d/3d`` and
``nn.GroupNorm`` (constructor arguments and inputs of ``test/test_modules.py``) and the
``op_db`` entries of ``nn.functional.batch_norm/layer_norm/instance_norm/group_norm``.
Each case runs the checks of ``test_modules.py`` that apply to a re-implementation:

* forward parity with torch on the same inputs and parameters, running buffers included,
  in training and evaluation mode;
* gradients of the input and the parameters against torch's;
* ``gradcheck`` with batched gradients and forward-mode AD, and batched
  ``gradgradcheck`` (both declared supported by every entry here), in float64;
* ``torch.func``: ``jacrev`` and ``vmap`` over ``functional_call`` behave as torch's
  (the same values, or an error where torch raises one, e.g. the in-place running-stat
  update of a training batch norm under ``vmap``);
* ``state_dict`` keys and loading across, and ``repr``.

Deviations that remain are marked ``xfail(strict=True)`` with the reason: normlab
requires ``eps > 0`` and ``momentum`` in [0, 1], which some op entries violate on
purpose (torch computes with ``eps = -0.5`` or ``momentum = -1.2``).

Inputs with more than 64 elements (parameters included) are gradchecked in ``fast_mode``
(random projections)
to keep the module within about a minute on two CPU cores.
"""

from __future__ import annotations

import sys
import types
import unittest
import warnings

import pytest
import torch
from torch import nn
from torch.autograd import gradcheck, gradgradcheck
from torch.func import functional_call, jacrev, vmap

import normlab

try:  # torch.testing._internal.common_utils imports expecttest (requirements.txt)
    import expecttest  # noqa: F401
except ImportError:  # only its TestCase base class is needed to build the databases
    sys.modules["expecttest"] = types.SimpleNamespace(TestCase=unittest.TestCase)

from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402
from torch.testing._internal.common_modules import module_db  # noqa: E402

DTYPE = torch.float64
MODULES = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.LayerNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.GroupNorm,
)
OPS = {
    "nn.functional.batch_norm": normlab.batch_norm,
    "nn.functional.layer_norm": normlab.layer_norm,
    "nn.functional.instance_norm": normlab.instance_norm,
    "nn.functional.group_norm": normlab.group_norm,
}


def _clone(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(value.requires_grad)
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _gradcheck_kwargs(*tensors: torch.Tensor) -> dict:
    large = sum(t.numel() for t in tensors) > 64
    return {"fast_mode": large, "check_batched_grad": True}


# ------------------------------------------------------------------------ module entries


def _module_cases():
    cases = []
    for info in module_db:
        if info.module_cls not in MODULES:
            continue
        for training in (True, False) if info.train_and_eval_differ else (True,):
            samples = info.module_inputs_func(
                info, device="cpu", dtype=DTYPE, requires_grad=True, training=training
            )
            for i, sample in enumerate(samples):
                mode = "train" if training else "eval"
                name = f"{info.module_cls.__name__}-{mode}-{i}-{sample.desc or 'default'}"
                cases.append(pytest.param(info, training, i, id=name))
    return cases


MODULE_CASES = _module_cases()


def _sample(info, training, index):
    samples = info.module_inputs_func(
        info, device="cpu", dtype=DTYPE, requires_grad=True, training=training
    )
    return samples[index]


def _make_pair(info, sample, training):
    """torch's module and normlab's twin, with identical (randomized) state."""
    ctor = sample.constructor_input
    torch.manual_seed(0)
    ref = info.module_cls(*ctor.args, **ctor.kwargs, dtype=DTYPE)
    ours = getattr(normlab, info.module_cls.__name__)(*ctor.args, **ctor.kwargs, dtype=DTYPE)
    with torch.no_grad():  # non-trivial parameters and buffers, so that parity means something
        for t in ref.parameters():
            t.copy_(torch.randn_like(t))
        for name, t in ref.named_buffers():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + (0.5 if "var" in name else -0.5))
    ours.load_state_dict(ref.state_dict())
    ref.train(training)
    ours.train(training)
    return ref, ours


def _forward(module, sample):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InstanceNorm's channel-count warning, as in torch
        return module(*_clone(sample.forward_input.args), **_clone(sample.forward_input.kwargs))


@pytest.mark.parametrize(("info", "training", "index"), MODULE_CASES)
def test_module_forward_buffers_and_gradients_match_torch(info, training, index):
    sample = _sample(info, training, index)
    ref, ours = _make_pair(info, sample, training)
    x_ref = _clone(sample.forward_input.args[0])
    x_ours = _clone(sample.forward_input.args[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out_ref, out_ours = ref(x_ref), ours(x_ours)
        torch.testing.assert_close(out_ours, out_ref)
        for (name, b_ours), (_, b_ref) in zip(
            ours.named_buffers(), ref.named_buffers(), strict=True
        ):
            torch.testing.assert_close(b_ours, b_ref, msg=f"buffer {name}")
        grad = torch.randn_like(out_ref)
        out_ref.backward(grad)
        out_ours.backward(grad)
    torch.testing.assert_close(x_ours.grad, x_ref.grad)
    for (name, p_ours), (_, p_ref) in zip(
        ours.named_parameters(), ref.named_parameters(), strict=True
    ):
        # zeros, not None, for an empty batch (a None gradient breaks DDP's reduction)
        assert p_ours.grad is not None and p_ref.grad is not None, name
        torch.testing.assert_close(p_ours.grad, p_ref.grad, msg=f"gradient of {name}")


@pytest.mark.parametrize(("info", "training", "index"), MODULE_CASES)
def test_module_gradcheck_batched_and_forward_ad(info, training, index):
    sample = _sample(info, training, index)
    _, ours = _make_pair(info, sample, training)
    names = [n for n, _ in ours.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in ours.parameters()]
    x = _clone(sample.forward_input.args[0])

    def f(x, *ps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return functional_call(ours, dict(zip(names, ps, strict=True)), (x,))

    inputs = (x, *params)
    kwargs = _gradcheck_kwargs(*inputs)
    assert gradcheck(f, inputs, check_forward_ad=True, **kwargs)
    if info.supports_gradgrad:
        assert gradgradcheck(f, inputs, check_fwd_over_rev=True, **kwargs)


def _same_behaviour(run_ref, run_ours):
    """Both raise, or both return the same values."""
    try:
        expected = run_ref()
    except Exception:
        with pytest.raises(Exception):  # noqa: B017 - torch's own error classes vary
            run_ours()
        return
    torch.testing.assert_close(run_ours(), expected)


@pytest.mark.parametrize(("info", "training", "index"), MODULE_CASES)
def test_module_torch_func_transforms_behave_as_torch(info, training, index):
    sample = _sample(info, training, index)
    x = sample.forward_input.args[0].detach()
    if x.numel() > 400:  # jacrev materializes a (numel x numel) Jacobian
        x = x[:4]

    def transform(module, how):
        ref_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        params = {k: v.detach() for k, v in module.named_parameters()}

        def call(p, xi):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return functional_call(module, p, (xi,))

        def run():
            module.load_state_dict(ref_state)
            if how == "jacrev":
                return jacrev(call, argnums=(0, 1))(params, x)
            # per-sample gradients of the parameters: vmap(grad) over a stack of inputs
            stacked = torch.stack([x, 2 * x + 1])
            loss = lambda p, xi: call(p, xi).pow(2).sum()  # noqa: E731
            return vmap(torch.func.grad(loss), in_dims=(None, 0))(params, stacked)

        return run

    ref, ours = _make_pair(info, sample, training)
    for how in ("jacrev", "vmap_grad"):
        _same_behaviour(transform(ref, how), transform(ours, how))


@pytest.mark.parametrize(("info", "training", "index"), MODULE_CASES[::3])
def test_module_state_dict_and_repr_match_torch(info, training, index):
    sample = _sample(info, training, index)
    ref, ours = _make_pair(info, sample, training)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert repr(ours) == repr(ref)
    back = info.module_cls(*sample.constructor_input.args, **sample.constructor_input.kwargs)
    back.load_state_dict(ours.state_dict())
    for key, value in back.state_dict().items():
        torch.testing.assert_close(value, ref.state_dict()[key].to(value.dtype), msg=key)


# ---------------------------------------------------------------------------- op entries


def _deviation(sample) -> str | None:
    eps = sample.kwargs.get("eps", 1e-5)
    momentum = sample.kwargs.get("momentum", 0.1)
    if eps <= 0:
        return (
            f"normlab requires eps > 0 (this entry uses eps={eps}): eps <= 0 turns a "
            "constant slice into 0/0 = NaN, so it is rejected with a ValueError"
        )
    if not 0.0 <= momentum <= 1.0:
        return (
            f"normlab requires momentum in [0, 1] (this entry uses momentum={momentum}): "
            "outside it the running average extrapolates, so it is rejected with a ValueError"
        )
    return None


def _op_cases():
    cases = []
    for info in op_db:
        if info.name not in OPS:
            continue
        samples = list(info.sample_inputs("cpu", DTYPE, requires_grad=True))
        for i, sample in enumerate(samples):
            name = f"{info.name.split('.')[-1]}-{info.variant_test_name or 'default'}-{i}"
            reason = _deviation(sample)
            marks = (
                [pytest.mark.xfail(reason=reason, raises=ValueError, strict=True)] if reason else []
            )
            cases.append(pytest.param(info, i, id=name, marks=marks))
    return cases


OP_CASES = _op_cases()


def _op_sample(info, index):
    return list(info.sample_inputs("cpu", DTYPE, requires_grad=True))[index]


def _is_buffer(sample, value) -> bool:
    """Running statistics are tensors in the entries that do not require grad."""
    return isinstance(value, torch.Tensor) and not value.requires_grad and value is not sample.input


@pytest.mark.parametrize(("info", "index"), OP_CASES)
def test_op_forward_buffers_and_gradients_match_torch(info, index):
    sample = _op_sample(info, index)
    ref_args = (_clone(sample.input), *_clone(sample.args))
    our_args = (_clone(sample.input), *_clone(sample.args))
    kwargs_ref, kwargs_ours = _clone(sample.kwargs), _clone(sample.kwargs)
    out_ours = OPS[info.name](*our_args, **kwargs_ours)
    out_ref = info.op(*ref_args, **kwargs_ref)
    torch.testing.assert_close(out_ours, out_ref)
    for a, b in [
        *zip(our_args, ref_args, strict=True),
        *zip(kwargs_ours.values(), kwargs_ref.values(), strict=True),
    ]:
        if isinstance(a, torch.Tensor) and not a.requires_grad:  # running buffers, updated
            torch.testing.assert_close(a, b)
    grad = torch.randn_like(out_ref)
    leaves_ours = [t for t in [*our_args, *kwargs_ours.values()] if _requires_grad(t)]
    leaves_ref = [t for t in [*ref_args, *kwargs_ref.values()] if _requires_grad(t)]
    if not out_ref.requires_grad:
        return
    got = torch.autograd.grad(out_ours, leaves_ours, grad, allow_unused=True)
    expected = torch.autograd.grad(out_ref, leaves_ref, grad, allow_unused=True)
    for g, e in zip(got, expected, strict=True):
        if e is None:
            assert g is None or not g.any()
        else:
            torch.testing.assert_close(g, e)


def _requires_grad(t) -> bool:
    return isinstance(t, torch.Tensor) and t.requires_grad


@pytest.mark.parametrize(("info", "index"), OP_CASES)
def test_op_gradcheck_batched_and_forward_ad(info, index):
    sample = _op_sample(info, index)
    fn = OPS[info.name]
    values = [sample.input, *sample.args, *sample.kwargs.values()]
    keys = list(sample.kwargs)
    differentiable = [i for i, v in enumerate(values) if _requires_grad(v)]

    def f(*diff):
        vals = [_clone(v) if isinstance(v, torch.Tensor) else v for v in values]
        for i, d in zip(differentiable, diff, strict=True):
            vals[i] = d
        n_pos = 1 + len(sample.args)
        return fn(*vals[:n_pos], **dict(zip(keys, vals[n_pos:], strict=True)))

    inputs = tuple(values[i].detach().clone().requires_grad_() for i in differentiable)
    kwargs = _gradcheck_kwargs(*inputs)
    assert gradcheck(f, inputs, check_forward_ad=info.supports_forward_ad, **kwargs)
    if info.supports_gradgrad:
        assert gradgradcheck(f, inputs, check_fwd_over_rev=info.supports_fwgrad_bwgrad, **kwargs)


def test_the_databases_hold_every_layer_and_functional():
    """The generated suite is not vacuous: every twin has cases."""
    names = {p.id.split("-")[0] for p in MODULE_CASES}
    assert names == {cls.__name__ for cls in MODULES}
    ops = {p.id.split("-")[0] for p in OP_CASES}
    assert ops == {name.split(".")[-1] for name in OPS}
