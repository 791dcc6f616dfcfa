"""torch.compile traces normlab's layers: the compiled module equals the eager one.

The functionals call the hand-derived autograd Functions through a fast path that
torch.compile's tracer cannot follow; this checks that they fall back to PyTorch's own
``Function.apply`` while tracing (a regression once made every layer fail to compile
with "AutogradFunctionVariable() is not a constant").

Not ``fullgraph=True``: torch's Dynamo does not trace into an autograd Function that has
a custom ``jvp`` (normlab's have one, for forward-mode AD), so each such call is a graph
break that runs eagerly; the rest of the model is compiled around it.
"""

from __future__ import annotations

import pytest
import torch

import normlab

CASES = [
    ("BatchNorm2d", lambda: normlab.BatchNorm2d(4), (6, 4, 3, 3)),
    ("LayerNorm", lambda: normlab.LayerNorm(5), (6, 4, 5)),
    ("GroupNorm", lambda: normlab.GroupNorm(2, 4), (6, 4, 3, 3)),
    ("InstanceNorm2d", lambda: normlab.InstanceNorm2d(4, affine=True), (6, 4, 3, 3)),
]


@pytest.mark.parametrize("name, make, shape", CASES, ids=[c[0] for c in CASES])
def test_compiled_layer_equals_eager(name, make, shape):
    torch.manual_seed(0)
    eager = make()
    compiled_module = make()
    compiled_module.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_module, backend="aot_eager")
    x = torch.randn(shape, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    g = torch.randn(shape)
    y, y2 = eager(x), compiled(x2)
    y.backward(g)
    y2.backward(g)
    # float32, same operations in another order at most: a few ulps
    torch.testing.assert_close(y2, y, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-5, atol=1e-6)
    for (n, p), p2 in zip(eager.named_parameters(), compiled_module.parameters(), strict=True):
        torch.testing.assert_close(p2.grad, p.grad, rtol=1e-5, atol=1e-6, msg=n)
    for (n, b), b2 in zip(eager.named_buffers(), compiled_module.buffers(), strict=True):
        torch.testing.assert_close(b2, b, rtol=1e-5, atol=1e-6, msg=n)
