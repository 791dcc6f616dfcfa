"""normlab.scaffolding.diagrams: each diagram claims what the library does."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402

import normlab  # noqa: E402
from normlab import gan  # noqa: E402
from normlab.examples.sync_workers import shard_steps  # noqa: E402
from normlab.scaffolding import diagrams  # noqa: E402
from normlab.scaffolding.launch import launch  # noqa: E402
from normlab.sync_batchnorm import _FIELDS  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def patches_by_gid(fig, prefix):
    return {
        p.get_gid(): p
        for ax in fig.axes
        for p in ax.patches
        if p.get_gid() and p.get_gid().startswith(prefix)
    }


def texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])


# --- (a) residual network ---------------------------------------------------------


@pytest.mark.parametrize("blocks, widths", [(3, (16, 32, 64)), (2, (16, 16, 32)), (1, (8, 16, 32))])
def test_resnet_diagram_shows_the_blocks_and_shortcuts_of_normlab_resnet(blocks, widths):
    fig = diagrams.resnet_diagram(blocks, widths)
    drawn = {
        tuple(int(k) for k in gid.split(":")[1:3]): gid.split(":")[3]
        for gid in patches_by_gid(fig, "block:")
    }
    net = normlab.ResNet(widths=widths, blocks=blocks)
    actual = {}
    for k, block in enumerate(net.blocks):
        kind = "identity" if isinstance(block.shortcut, torch.nn.Identity) else "projection"
        actual[k // blocks, k % blocks] = kind
    assert drawn == actual
    assert f"6n + 2 = {net.depth} layers" in texts(fig)
    for i, width in enumerate(widths):
        assert f"stage {i + 1}\n{width} ch\n{8 // 2**i}×{8 // 2**i}" in texts(fig)
    for gid, patch in patches_by_gid(fig, "block:").items():
        assert same_color(patch.get_facecolor(), diagrams._ACCENT) == gid.endswith("projection")


def test_resnet_diagram_elides_long_stages_but_keeps_first_and_last_block():
    fig = diagrams.resnet_diagram(9)
    indices = {int(gid.split(":")[2]) for gid in patches_by_gid(fig, "block:0:")}
    assert len(indices) == 6 and {0, 8} <= indices
    assert "…" in texts(fig) and "6n + 2 = 56 layers" in texts(fig)


# --- (b) normalization axes -------------------------------------------------------


def influence(layer, shape):
    """Which (n, c) slices the output at (0, 0, 0, 0) depends on: exactly those that share
    its mean and variance (an element outside reaches the output through no path)."""
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    layer(x)[0, 0, 0, 0].backward()
    reached = x.grad.abs().amax((2, 3)) > 0
    # all or none of a slice's positions (the mean couples them all)
    assert ((x.grad.abs() > 0).all((2, 3)) == reached).all()
    return reached.tolist()


@pytest.mark.parametrize("batch, channels, groups", [(4, 6, 3), (3, 8, 2), (2, 4, 4)])
def test_normalization_diagram_highlights_what_normlab_layers_average_over(batch, channels, groups):
    torch.manual_seed(0)
    shape = (batch, channels, 3, 3)
    layers = {
        "BatchNorm": normlab.BatchNorm2d(channels).double(),
        "LayerNorm": normlab.LayerNorm(shape[1:]).double(),
        "InstanceNorm": normlab.InstanceNorm2d(channels).double(),
        "GroupNorm": normlab.GroupNorm(groups, channels).double(),
    }
    fig = diagrams.normalization_axes_diagram(batch, channels, groups)
    assert len(fig.axes) == 4
    for ax, (name, layer) in zip(fig.axes, layers.items(), strict=True):
        assert ax.get_title().startswith(name)
        cells = {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith("cell:")}
        assert len(cells) == batch * channels
        drawn = [
            [
                same_color(cells[f"cell:{n}:{c}"].get_facecolor(), diagrams.HIGHLIGHT)
                for c in range(channels)
            ]
            for n in range(batch)
        ]
        assert drawn == influence(layer.train(), shape), name
        g = groups if name == "GroupNorm" else 1
        assert drawn == diagrams.axes_shared(name, batch, channels, g)


def test_group_norm_with_one_group_is_layer_norm_and_with_c_groups_instance_norm():
    assert diagrams.axes_shared("GroupNorm", 3, 4, 1) == diagrams.axes_shared("LayerNorm", 3, 4)
    assert diagrams.axes_shared("GroupNorm", 3, 4, 4) == diagrams.axes_shared("InstanceNorm", 3, 4)


@pytest.mark.parametrize(
    "args, message",
    [
        (("Norm", 2, 4), "layer must be one of"),
        (("GroupNorm", 2, 6, 4), r"groups must divide channels \(6\), got 4"),
        (("BatchNorm", 0, 4), "batch"),
    ],
)
def test_axes_shared_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        diagrams.axes_shared(*args)


# --- (c) SyncBatchNorm ---------------------------------------------------------


def test_sync_batchnorm_diagram_draws_one_column_per_rank_and_two_all_reduces():
    fig = diagrams.sync_batchnorm_diagram(world_size=4)
    ranks = {gid.split(":")[1] for gid in patches_by_gid(fig, "rank:")}
    assert ranks == {"0", "1", "2", "3"}
    assert set(patches_by_gid(fig, "all_reduce:")) == {
        "all_reduce:forward:(3, C)",
        "all_reduce:backward:(2, C)",
    }


def test_sync_batchnorm_diagram_matches_the_collectives_of_a_real_two_rank_step():
    channels, world = 5, 2
    x = torch.randn(6, channels, 2, 2)
    report = launch(
        shard_steps,
        world,
        {"bn": normlab.SyncBatchNorm(channels)},
        [x],
        [torch.randn_like(x)],
        [3, 3],
        timeout=240,
    )
    log = report[0]["bn"]["collectives"]
    drawn = patches_by_gid(diagrams.sync_batchnorm_diagram(world), "all_reduce:")
    # the drawn all-reduces, plus the shape agreement that the figure's note mentions
    assert log.calls["all_reduce"] == len(drawn) + 1
    shape_table = world * _FIELDS * 8  # int64, one row per rank
    assert log.bytes["all_reduce"] == (3 * channels + 2 * channels) * 8 + shape_table
    assert tuple(normlab.sync_batchnorm.batch_moments(x).shape) == (3, channels)
    assert "Not drawn: one small all-reduce of the input shapes" in texts(
        diagrams.sync_batchnorm_diagram(world)
    )


# --- (d) GAN and WGAN -----------------------------------------------------------


def test_gan_diagram_names_the_library_losses_and_their_formulas_hold():
    fig = diagrams.gan_diagram()
    assert len(fig.axes) == 2
    shown = {tuple(gid.split(":")[1:]) for gid in patches_by_gid(fig, "loss:")}
    assert shown == {
        ("gan", "generator", "non_saturating_generator_loss"),
        ("gan", "discriminator", "non_saturating_discriminator_loss"),
        ("wgan", "generator", "wasserstein_generator_loss"),
        ("wgan", "critic", "wasserstein_critic_loss"),
    }
    for game, player, _function in shown:
        assert diagrams.GAN_LOSSES[game][player][0] in texts(fig)
    # the formulas the boxes print, against the library functions they name (f = logits)
    torch.manual_seed(0)
    real, fake = torch.randn(50, dtype=torch.float64), torch.randn(40, dtype=torch.float64)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected = {
        "non_saturating_discriminator_loss": -d_real.log().mean() - (1 - d_fake).log().mean(),
        "non_saturating_generator_loss": -d_fake.log().mean(),
        "wasserstein_critic_loss": fake.mean() - real.mean(),
        "wasserstein_generator_loss": -fake.mean(),
    }
    for name, value in expected.items():
        fn = getattr(gan, name)
        got = fn(real, fake) if "generator" not in name else fn(fake)
        torch.testing.assert_close(got, value)
    assert "no sigmoid" in texts(fig) and "clip every weight" in texts(fig)


def test_diagrams_fit_the_column_and_validate_their_arguments():
    for fig in (
        diagrams.resnet_diagram(),
        diagrams.normalization_axes_diagram(),
        diagrams.sync_batchnorm_diagram(),
        diagrams.gan_diagram(),
    ):
        assert fig.get_size_inches()[0] <= 7.0  # about the column at the book's resolution
    with pytest.raises(ValueError, match="blocks"):
        diagrams.resnet_diagram(0)
    with pytest.raises(TypeError, match="world_size"):
        diagrams.sync_batchnorm_diagram(2.5)


# --- legibility: text fits its box, at the size the book shows --------------------------------
ALL_DIAGRAMS = {
    "resnet": lambda: diagrams.resnet_diagram(blocks=3),
    "resnet-1": lambda: diagrams.resnet_diagram(blocks=1),
    "axes": diagrams.normalization_axes_diagram,
    "sync": diagrams.sync_batchnorm_diagram,
    "gan": diagrams.gan_diagram,
}


@pytest.mark.parametrize("name", list(ALL_DIAGRAMS))
def test_every_label_fits_inside_its_box_and_the_figure(name):
    from matplotlib.patches import FancyBboxPatch

    fig = ALL_DIAGRAMS[name]()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    checked = 0
    for ax in fig.axes:
        boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
        for text in ax.texts:
            if not text.get_text().strip():
                continue
            extent = text.get_window_extent(renderer)
            assert page.x0 <= extent.x0 and extent.x1 <= page.x1, (name, text.get_text())
            centre = ax.transData.transform(text.get_position())
            holder = [b for b in boxes if b.get_window_extent(renderer).contains(*centre)]
            for box in holder:  # a label drawn at a box's centre stays inside it
                outline = box.get_window_extent(renderer)
                assert outline.x0 <= extent.x0 and extent.x1 <= outline.x1, (name, text.get_text())
                checked += 1
        for box in boxes:
            outline = box.get_window_extent(renderer)
            assert page.x0 <= outline.x0 and outline.x1 <= page.x1 + 1, (name, box.get_gid())
    assert name == "axes" or checked >= 5
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_text().strip():
            assert text.get_fontsize() >= 8, (name, text.get_text(), text.get_fontsize())


def test_resnet_title_counts_blocks_in_the_singular_and_plural():
    one = diagrams.resnet_diagram(blocks=1).axes[1].get_title()
    three = diagrams.resnet_diagram(blocks=3).axes[1].get_title()
    assert "1 block per stage" in one and "3 blocks per stage" in three
