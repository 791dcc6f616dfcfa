"""The digits loader, the MLP, and the classification training loop."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import normlab


def test_digits_split_sizes_ranges_and_types():
    d = normlab.load_digits(train_fraction=0.6, val_fraction=0.2, seed=0)
    sizes = [len(s.x) for s in d]
    assert sum(sizes) == 1797
    assert sizes[0] == pytest.approx(0.6 * 1797, abs=1)
    assert d.train.x.shape[1:] == (1, 8, 8) and d.train.x.dtype == torch.float32
    assert d.train.y.dtype == torch.int64 and set(d.train.y.tolist()) == set(range(10))
    assert d.train.x.min() >= 0.0 and d.train.x.max() <= 1.0
    flat = normlab.load_digits(scale="symmetric", flatten=True, dtype=torch.float64)
    assert flat.test.x.shape[1] == 64 and flat.test.x.dtype == torch.float64
    assert flat.train.x.min() == -1.0 and flat.train.x.max() == 1.0


def test_digits_split_is_seeded_and_stratified():
    a = normlab.load_digits(seed=3)
    b = normlab.load_digits(seed=3)
    c = normlab.load_digits(seed=4)
    assert torch.equal(a.train.x, b.train.x)
    assert not torch.equal(a.train.x, c.train.x)
    counts = torch.bincount(a.test.y, minlength=10).float()
    assert counts.max() - counts.min() <= 2  # each class holds ~1/10 of the test set


def test_digits_without_validation_set():
    d = normlab.load_digits(train_fraction=0.5, val_fraction=0.0)
    assert len(d.val.x) == 0 and len(d.train.x) + len(d.test.x) == 1797


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(train_fraction=1.0), ValueError, r"train_fraction must lie in \(0, 1\)"),
        (
            dict(train_fraction=0.7, val_fraction=0.3),
            ValueError,
            "train_fraction \\+ val_fraction must be < 1",
        ),
        (dict(scale="minmax"), ValueError, "scale must be one of 'unit', 'symmetric'"),
        (dict(seed=0.5), TypeError, "seed must be an int"),
        (dict(dtype=torch.int64), TypeError, "dtype must be a floating-point dtype"),
        (dict(dtype="float32"), TypeError, r"dtype must be a torch.dtype .*got str \('float32'\)"),
    ],
)
def test_digits_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        normlab.load_digits(**kwargs)


def test_mlp_structure_and_norm_placement():
    model = normlab.MLP(64, (32, 16), 10, norm_layer=nn.BatchNorm1d)
    kinds = [type(m).__name__ for m in model]
    assert kinds == [
        "Flatten",
        "Linear",
        "BatchNorm1d",
        "ReLU",
        "Linear",
        "BatchNorm1d",
        "ReLU",
        "Linear",
    ]
    assert model(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    with pytest.raises(ValueError, match="hidden_features"):
        normlab.MLP(64, (0,), 10)


def test_mlp_slices_share_layers_and_give_the_penultimate_features():
    model = normlab.MLP(64, (32, 16), 10)
    body = model[:-1]
    assert type(body) is nn.Sequential and len(body) == len(model) - 1
    assert body[1] is model[1]
    x = torch.randn(4, 64)
    torch.testing.assert_close(model[-1](body(x)), model(x))


def test_fit_classifier_learns_digits_and_is_deterministic():
    data = normlab.load_digits(flatten=True)

    def run():
        normlab.scaffolding.seed_everything(0)
        model = normlab.MLP(64, (64,), 10)
        history = normlab.fit_classifier(
            model, data.train, val=data.val, epochs=4, batch_size=64, device="cpu", seed=0
        )
        return model, history

    model, h1 = run()
    _, h2 = run()
    assert h1.epochs == 4 and len(h1.step_loss) == 4 * math.ceil(len(data.train.x) / 64)
    assert h1.train_loss == h2.train_loss and h1.val_accuracy == h2.val_accuracy
    assert h1.train_loss[-1] < h1.train_loss[0]
    assert h1.val_accuracy[-1] > 0.75  # chance is 0.1
    metrics = normlab.evaluate_classifier(model, data.test)
    assert metrics["accuracy"] > 0.75 and metrics["loss"] < 2.0
    assert model.training  # evaluation restores the mode


def test_fit_classifier_stops_when_the_loss_diverges():
    data = normlab.load_digits(flatten=True)
    normlab.scaffolding.seed_everything(0)
    model = normlab.MLP(64, (64,), 10)
    opt = torch.optim.SGD(model.parameters(), lr=1e30)
    h = normlab.fit_classifier(model, data.train, epochs=5, optimizer=opt, device="cpu")
    assert h.diverged and math.isnan(h.train_loss[-1]) and h.epochs < 5


def test_fit_classifier_accepts_optimizer_factory_and_custom_loss():
    data = normlab.load_digits(flatten=True)
    calls = []

    def loss_fn(logits, y):
        calls.append(1)
        return nn.functional.cross_entropy(logits, y, label_smoothing=0.1)

    model = normlab.MLP(64, (16,), 10)
    h = normlab.fit_classifier(
        model,
        data.train,
        epochs=1,
        batch_size=500,
        device="cpu",
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
        loss_fn=loss_fn,
        drop_last=True,
    )
    assert len(calls) == len(h.step_loss) == len(data.train.x) // 500
    assert math.isnan(h.val_accuracy[0])  # no validation data given


def test_predict_logits_uses_eval_mode_and_batches():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    x = torch.randn(10, 3)
    out = normlab.predict_logits(model, x, batch_size=3)
    model.eval()
    torch.testing.assert_close(out, model(x))


@pytest.mark.parametrize(
    "train, kwargs, error, message",
    [
        ([1, 2, 3], {}, TypeError, "train must be an \\(x, y\\) pair"),
        ((torch.ones(3, 2), [0, 1, 2]), {}, TypeError, "train must hold two tensors"),
        ((torch.ones(3, 2), torch.zeros(2, dtype=torch.int64)), {}, ValueError, "same length"),
        ((torch.ones(3, 2), torch.zeros(3)), {}, TypeError, "labels y must be int64"),
        (
            (torch.ones(3, 2), torch.zeros(3, dtype=torch.int64)),
            dict(epochs=0),
            ValueError,
            "epochs must be a positive int",
        ),
        (
            (torch.ones(3, 2), torch.zeros(3, dtype=torch.int64)),
            dict(batch_size=4, drop_last=True),
            ValueError,
            "leaves no batch",
        ),
        (
            (torch.ones(3, 2), torch.zeros(3, dtype=torch.int64)),
            dict(max_steps=0),
            ValueError,
            "max_steps must be a positive int",
        ),
        (
            (torch.ones(3, 2), torch.zeros(3, dtype=torch.int64)),
            dict(max_steps=2.5),
            TypeError,
            "max_steps",
        ),
    ],
)
def test_fit_classifier_bad_input(train, kwargs, error, message):
    with pytest.raises(error, match=message):
        normlab.fit_classifier(nn.Linear(2, 2), train, **kwargs)


_XY = (torch.ones(3, 2), torch.zeros(3, dtype=torch.int64))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: normlab.fit_classifier("mlp", _XY),
            TypeError,
            "^model must be a torch.nn.Module, got str",
        ),
        (
            lambda: normlab.predict_logits("mlp", torch.ones(3, 2)),
            TypeError,
            "^model must be a torch.nn.Module",
        ),
        (
            lambda: normlab.evaluate_classifier("mlp", _XY),
            TypeError,
            "^model must be a torch.nn.Module",
        ),
        (
            lambda: normlab.predict_logits(nn.Linear(2, 2), [[1.0, 2.0]]),
            TypeError,
            "^x must be a torch.Tensor, got list",
        ),
        (
            lambda: normlab.predict_logits(nn.Linear(2, 2), torch.ones(3, 2, dtype=torch.int64)),
            TypeError,
            "^x must be a floating-point tensor",
        ),
        (
            lambda: normlab.fit_classifier(
                nn.Linear(2, 2), (torch.ones(3, 2, dtype=torch.int64), _XY[1])
            ),
            TypeError,
            "^train: inputs x must be a floating-point tensor, got dtype torch.int64",
        ),
        (
            lambda: normlab.fit_classifier(nn.Linear(2, 2), _XY, optimizer="adam"),
            TypeError,
            "^optimizer must be callable .*got str",
        ),
        (
            lambda: normlab.fit_classifier(nn.Linear(2, 2), _XY, optimizer=lambda params: "sgd"),
            TypeError,
            "optimizer factory .* must return a torch.optim.Optimizer, got str",
        ),
        (
            lambda: normlab.fit_classifier(nn.Linear(2, 2), _XY, loss_fn="cross_entropy"),
            TypeError,
            "^loss_fn must be callable",
        ),
        (
            lambda: normlab.fit_classifier(nn.Linear(2, 2), _XY, on_step=[]),
            TypeError,
            "^on_step must be callable",
        ),
        (
            lambda: normlab.fit_classifier(
                nn.Linear(2, 2), (_XY[0], torch.full((3, 5), 0.2)), device="cpu"
            ),
            ValueError,
            r"^train: soft targets y of shape \(3, 5\) must have one probability.*\(3, 2\)",
        ),
    ],
)
def test_training_loop_names_the_bad_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_fit_classifier_trains_on_soft_targets():
    # soft targets (e.g. a teacher's probabilities) reach loss_fn unchanged and the training
    # accuracy is counted against their argmax: one-hot soft targets reproduce hard labels
    data = normlab.load_digits(flatten=True)
    onehot = torch.nn.functional.one_hot(data.train.y, 10).float()
    histories = []
    for y in (data.train.y, onehot):
        normlab.scaffolding.seed_everything(0)
        model = normlab.MLP(64, (32,), 10)
        histories.append(normlab.fit_classifier(model, (data.train.x, y), epochs=3, device="cpu"))
    hard, soft = histories
    assert soft.train_accuracy == hard.train_accuracy
    assert soft.step_loss == pytest.approx(hard.step_loss, rel=1e-5)
    with pytest.raises(TypeError, match=r"int64 class indices or floating \(N, C\)"):
        normlab.fit_classifier(model, (data.train.x, onehot[:, 0]), epochs=1, device="cpu")


def test_fit_classifier_calls_on_step_after_every_step_with_gradients():
    data = normlab.load_digits(flatten=True)
    model = normlab.MLP(64, (16,), 10)
    seen = []

    def record(step, net):
        assert net is model
        seen.append((step, net[1].weight.grad.norm().item()))

    history = normlab.fit_classifier(
        model, data.train, epochs=2, batch_size=256, device="cpu", on_step=record
    )
    assert [s for s, _ in seen] == list(range(len(history.step_loss)))
    assert all(norm > 0 for _, norm in seen)


def test_fit_classifier_max_steps_cuts_the_run_and_matches_the_uncut_prefix():
    # 1 078 digits at batch 100: 11 steps per epoch; 25 steps = 2 epochs and 3 steps
    data = normlab.load_digits(flatten=True)
    runs = {}
    for max_steps in (None, 25):
        normlab.scaffolding.seed_everything(0)
        model = normlab.MLP(64, (16,), 10)
        runs[max_steps] = normlab.fit_classifier(
            model, data.train, epochs=4, batch_size=100, device="cpu", max_steps=max_steps
        )
    full, cut = runs[None], runs[25]
    assert len(full.step_loss) == 44 and len(cut.step_loss) == 25
    assert cut.epochs == 3  # the cut third epoch is recorded
    assert cut.step_loss == full.step_loss[:25]  # same seed: the same first 25 steps
    assert cut.train_loss[:2] == full.train_loss[:2]
    # more steps than epochs allow: epochs is the upper bound
    normlab.scaffolding.seed_everything(0)
    short = normlab.fit_classifier(
        normlab.MLP(64, (16,), 10),
        data.train,
        epochs=1,
        batch_size=100,
        device="cpu",
        max_steps=1000,
    )
    assert len(short.step_loss) == 11


def test_he_initialize_draws_n_0_2_over_fan_in_and_zeroes_the_biases():
    torch.manual_seed(0)
    model = normlab.he_initialize(normlab.LeNet(hidden=(400, 300), norm_layer=normlab.BatchNorm2d))
    linear = model.classifier[1]  # Linear(64, 400) with a bias
    conv = model.features[0]  # Conv2d(1, 6, 3) before a batch norm: no bias
    for layer, fan_in in [(linear, 64), (model.classifier[3], 400), (conv, 9)]:
        w = layer.weight.detach().flatten()
        # the sample variance of k normal draws has relative standard error sqrt(2 / k)
        tolerance = 5 * math.sqrt(2 / w.numel())
        assert abs(w.var().item() * fan_in / 2 - 1) < tolerance, (layer, w.var())
        assert abs(w.mean().item()) < 5 * math.sqrt(2 / fan_in / w.numel())
    assert torch.equal(linear.bias, torch.zeros_like(linear.bias))
    assert conv.bias is None
    norm = model.features[1]  # normalization layers are left alone
    assert torch.equal(norm.weight, torch.ones(6)) and torch.equal(norm.bias, torch.zeros(6))
    # PyTorch's default draws a sixth of that variance: the signal shrinks with depth
    default = normlab.LeNet(hidden=(400, 300)).classifier[3].weight.detach()
    assert default.var().item() * 400 == pytest.approx(1 / 3, rel=0.05)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got list"):
        normlab.he_initialize([nn.Linear(2, 2)])


def test_lenet_shapes_and_norm_placement():
    model = normlab.LeNet(norm_layer=normlab.BatchNorm2d, fc_norm_layer=normlab.BatchNorm1d)
    assert model(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "AvgPool2d"] * 2
    assert model.features[0].bias is None  # the normalization's shift replaces it
    plain = normlab.LeNet(activation=nn.Sigmoid)
    assert plain.features[0].bias is not None
    assert not any(isinstance(m, nn.BatchNorm2d | normlab.BatchNorm2d) for m in plain.modules())
    assert isinstance(plain.features[1], nn.Sigmoid)
    with pytest.raises(ValueError, match="channels"):
        normlab.LeNet(channels=())


def test_convnet_strides_and_norms():
    model = normlab.ConvNet(
        channels=(8, 8, 16), strides=(1, 2, 2), norm_layer=lambda c: normlab.GroupNorm(4, c)
    )
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    assert sum(isinstance(m, normlab.GroupNorm) for m in model) == 3
    with pytest.raises(ValueError, match="strides must have one entry per convolution"):
        normlab.ConvNet(channels=(8, 8), strides=(1,))


def test_residual_block_shortcuts():
    same = normlab.ResidualBlock(8, 8)
    assert isinstance(same.shortcut, nn.Identity)
    down = normlab.ResidualBlock(8, 16, stride=2)
    assert isinstance(down.shortcut[0], nn.Conv2d) and down.shortcut[0].kernel_size == (1, 1)
    assert isinstance(down.norm1, normlab.BatchNorm2d)
    x = torch.randn(2, 8, 8, 8)
    assert down(x).shape == (2, 16, 4, 4)
    # the block adds its input: with the residual branch zeroed, it is ReLU(x)
    with torch.no_grad():
        same.norm2.weight.zero_()
    same.eval()
    torch.testing.assert_close(same(x), torch.relu(x))
    plain = normlab.ResidualBlock(8, 8, residual=False)
    assert plain.shortcut is None
    with torch.no_grad():
        plain.norm2.weight.zero_()
    assert torch.equal(plain.eval()(x), torch.zeros_like(x))


@pytest.mark.parametrize("blocks, depth", [(1, 8), (3, 20)])
def test_resnet_depth_and_shapes(blocks, depth):
    net = normlab.ResNet(widths=(4, 8, 16), blocks=blocks)
    plain = normlab.ResNet(widths=(4, 8, 16), blocks=blocks, residual=False)
    assert net.depth == plain.depth == depth
    convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == depth - 1  # every weighted layer but the linear classifier
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert sum(p.numel() for p in net.parameters()) > sum(p.numel() for p in plain.parameters())
