"""Diagrams of the book, drawn in code: what the layers and games of the chapters look like.

Each function returns a ``matplotlib.figure.Figure`` built from patches and text, drawn
from the same facts the library implements: the residual block and stage layout of
:class:`normlab.models.ResNet`, the axes that each normalization layer of
:mod:`normlab.normalization` averages over, the collectives of
:class:`normlab.sync_batchnorm.SyncBatchNorm`, and the losses of :mod:`normlab.gan`. The
tests compare every claim a diagram makes with the library (``tests/test_diagrams.py``).

Every patch that carries a claim has a ``gid`` (``patch.get_gid()``) naming what it
stands for, e.g. ``"cell:0:2"`` (sample 0, channel 2) or ``"block:2:0:projection"``;
highlighted patches have the face colour :data:`HIGHLIGHT`.

matplotlib is imported inside the functions, so that ``import normlab`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from normlab._validation import check_positive_int

__all__ = [
    "HIGHLIGHT",
    "resnet_diagram",
    "normalization_axes_diagram",
    "sync_batchnorm_diagram",
    "gan_diagram",
    "axes_shared",
    "GAN_LOSSES",
]

#: Face colour of the elements, blocks or messages a diagram points at.
HIGHLIGHT = "#4c8fd6"
_PLAIN = "#eef1f5"
_EDGE = "#39424e"
_ACCENT = "#f0b44c"  # projection shortcuts, all-reduces, losses
# text sizes in points; the diagrams are 6.4-7 in wide and shown at 96-100 % of that in
# the book's 688 px column, so these are about the sizes a reader sees
_SMALL, _TEXT, _TITLE = 8, 8.5, 10


def _canvas(ax: Any, width: float, height: float) -> None:
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")


def _box(
    ax: Any,
    x: float,
    y: float,
    w: float,
    h: float,
    text: str,
    *,
    gid: str | None = None,
    color: str = _PLAIN,
    fontsize: float = _TEXT,
    dashed: bool = False,
) -> Any:
    """A rounded box centred at ``(x, y)`` with ``text`` inside."""
    from matplotlib.patches import FancyBboxPatch

    patch = FancyBboxPatch(
        (x - w / 2, y - h / 2),
        w,
        h,
        boxstyle="round,pad=0.02,rounding_size=0.08",
        facecolor=color,
        edgecolor=_EDGE,
        linewidth=1,
        linestyle="--" if dashed else "-",
    )
    patch.set_gid(gid)
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return patch


def _arrow(
    ax: Any,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    gid: str | None = None,
    color: str = _EDGE,
    dashed: bool = False,
    connection: str = "arc3",
) -> Any:
    from matplotlib.patches import FancyArrowPatch

    patch = FancyArrowPatch(
        start,
        end,
        arrowstyle="-|>",
        mutation_scale=9,
        color=color,
        linewidth=1,
        linestyle="--" if dashed else "-",
        connectionstyle=connection,
        shrinkA=1,
        shrinkB=1,
    )
    patch.set_gid(gid)
    ax.add_patch(patch)
    return patch


# ------------------------------------------------------------------ residual network


def _residual_block_panel(left: Any) -> None:
    """The left panel of :func:`resnet_diagram`: one basic block and its shortcut."""
    _canvas(left, 3.9, 7.4)
    steps = ["conv 3×3, stride s", "BN", "ReLU", "conv 3×3", "BN"]
    ys = [6.1, 5.3, 4.5, 3.7, 2.9]
    _box(left, 1.3, 7.0, 1.6, 0.45, "x", gid="block-input")
    _arrow(left, (1.3, 6.77), (1.3, ys[0] + 0.23))
    for k, (label, y) in enumerate(zip(steps, ys, strict=True)):
        _box(left, 1.3, y, 2.3, 0.45, label, gid=f"layer:{k}")
        if k + 1 < len(ys):
            _arrow(left, (1.3, y - 0.23), (1.3, ys[k + 1] + 0.23))
    _arrow(left, (1.3, ys[-1] - 0.23), (1.3, 1.95 + 0.2))
    from matplotlib.patches import Circle

    add = Circle((1.3, 1.95), 0.2, facecolor="white", edgecolor=_EDGE, gid="sum")
    left.add_patch(add)
    left.text(1.3, 1.95, "+", ha="center", va="center", fontsize=10)
    _arrow(left, (1.3, 1.75), (1.3, 1.2 + 0.23))
    _box(left, 1.3, 1.2, 1.6, 0.45, "ReLU", gid="layer:out")
    _arrow(left, (1.3, 0.97), (1.3, 0.45))
    left.text(1.3, 0.3, "out", ha="center", va="center", fontsize=_TEXT)
    # the shortcut runs down the right-hand side, from x to the sum
    left.plot([2.1, 2.6, 2.6], [7.0, 7.0, 1.95], color=_EDGE, lw=1)
    _arrow(left, (2.6, 1.95), (1.5, 1.95), gid="shortcut")
    left.text(
        2.7,
        4.5,
        "shortcut:\nidentity,\nor 1×1 conv\n+ BN where\nwidth or\nresolution\nchange",
        ha="left",
        va="center",
        fontsize=_SMALL,
    )
    left.set_title("Residual block", fontsize=_TITLE)


def resnet_diagram(
    blocks: int = 3, widths: Sequence[int] = (16, 32, 64), image_size: int = 8
) -> Any:
    """The basic residual block, and the stages of :class:`normlab.models.ResNet`.

    Left: ``ReLU(F(x) + shortcut(x))`` with ``F = conv 3×3 → BN → ReLU → conv 3×3 → BN``;
    the shortcut is the identity, or a 1×1 convolution and BN (He et al. 2016a's option B,
    which :class:`normlab.models.ResidualBlock` uses) where the width or the resolution
    changes. Right: the stem, three stages of ``blocks`` blocks (``widths`` channels,
    resolution halved by the first block of stages 2 and 3), pooling and the classifier:
    ``6·blocks + 2`` weighted layers.

    Args:
        blocks: residual blocks per stage (``n`` in the paper).
        widths: channels of the stages.
        image_size: side of the input images (8 for the digits).

    Returns:
        The figure. Each block of the right panel is a patch with gid
        ``"block:{stage}:{index}:{shortcut}"`` (stages and indices from 0, shortcut
        ``"identity"`` or ``"projection"``); projections are drawn in the accent colour.
    """
    import matplotlib.pyplot as plt

    blocks = check_positive_int(blocks, "blocks")
    widths = [check_positive_int(w, "widths[i]") for w in widths]
    image_size = check_positive_int(image_size, "image_size")
    if not widths:
        raise ValueError("widths must contain at least one width, got []")

    fig, (left, right) = plt.subplots(
        1, 2, figsize=(7.0, 4.4), gridspec_kw={"width_ratios": [1.15, 1.9]}
    )
    _residual_block_panel(left)

    # --- the stages
    shown = blocks if blocks <= 6 else 6
    _canvas(right, 7.6, 7.4)
    sizes = [image_size // 2**i for i in range(len(widths))]
    rows = 2 + len(widths)
    ys = [6.8 - k * (6.3 / (rows - 1)) for k in range(rows)]
    _box(right, 3.8, ys[0], 5.4, 0.5, f"stem: conv 3×3, {widths[0]} ch, BN, ReLU", gid="stem")
    previous = widths[0]
    for i, (width, size) in enumerate(zip(widths, sizes, strict=True)):
        y = ys[1 + i]
        label = f"stage {i + 1}\n{width} ch\n{size}×{size}"
        right.text(0.05, y, label, fontsize=_SMALL, va="center")
        step = 5.6 / shown
        first = 1.6 + step / 2
        # from the previous row (the stem, or the last block of the previous stage)
        _arrow(right, (first if i == 0 else 1.6 + 5.6 - step / 2, ys[i] - 0.28), (first, y + 0.3))
        for j in range(shown):
            index = j if (j < shown - 1 or shown == blocks) else blocks - 1
            stride = 2 if i > 0 and index == 0 else 1
            projection = stride != 1 or (previous if index == 0 else width) != width
            x = 1.6 + step * (j + 0.5)
            label = "1×1 proj" if projection else "id"
            label += "\n/2" if stride == 2 else ""
            _box(
                right,
                x,
                y,
                step * 0.82,
                0.55,
                label,
                gid=f"block:{i}:{index}:{'projection' if projection else 'identity'}",
                color=_ACCENT if projection else _PLAIN,
                fontsize=_SMALL,
            )
            if j + 1 < shown:
                _arrow(right, (x + step * 0.41, y), (x + step * 0.59, y))
            if shown < blocks and j == shown - 2:
                right.text(x + step / 2, y, "…", ha="center", va="center", fontsize=_TITLE)
        previous = width
    _arrow(right, (1.6 + 5.6 - (5.6 / shown) / 2, ys[-2] - 0.3), (3.8, ys[-1] + 0.27))
    _box(right, 3.8, ys[-1], 5.4, 0.5, "global average pool, fully connected", gid="head")
    per_stage = "block per stage" if blocks == 1 else "blocks per stage"
    right.set_title(
        f"ResNet: {blocks} {per_stage}, 6n + 2 = {6 * blocks + 2} layers"
        if len(widths) == 3
        else f"ResNet: {blocks} {per_stage}, {2 * blocks * len(widths) + 2} layers",
        fontsize=_TITLE,
    )
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------- normalization

_LAYERS = ("BatchNorm", "LayerNorm", "InstanceNorm", "GroupNorm")
_AVERAGED = {
    "BatchNorm": "N, H, W\n(one mean per channel)",
    "LayerNorm": "C, H, W\n(one mean per sample)",
    "InstanceNorm": "H, W\n(one per sample and channel)",
    "GroupNorm": "H, W and a group of channels\n(one per sample and group)",
}


def axes_shared(layer: str, batch: int, channels: int, groups: int = 1) -> list[list[bool]]:
    """Which ``(sample, channel)`` slices of an ``(N, C, H, W)`` block share the mean and
    variance of sample 0, channel 0 (each slice is all its ``H × W`` positions).

    Args:
        layer: ``"BatchNorm"``, ``"LayerNorm"``, ``"InstanceNorm"`` or ``"GroupNorm"``.
        batch, channels: ``N`` and ``C``.
        groups: number of channel groups of ``"GroupNorm"`` (must divide ``channels``).

    Returns:
        ``shared[n][c]``, a ``batch × channels`` table of booleans.
    """
    if layer not in _LAYERS:
        raise ValueError(f"layer must be one of {list(_LAYERS)}, got {layer!r}")
    batch = check_positive_int(batch, "batch")
    channels = check_positive_int(channels, "channels")
    groups = check_positive_int(groups, "groups")
    if channels % groups:
        raise ValueError(f"groups must divide channels ({channels}), got {groups}")
    per_group = channels // groups

    def shared(n: int, c: int) -> bool:
        if layer == "BatchNorm":
            return c == 0
        if layer == "LayerNorm":
            return n == 0
        if layer == "InstanceNorm":
            return n == 0 and c == 0
        return n == 0 and c < per_group

    return [[shared(n, c) for c in range(channels)] for n in range(batch)]


def normalization_axes_diagram(batch: int = 4, channels: int = 6, groups: int = 3) -> Any:
    """The elements of an ``(N, C, H, W)`` block that share one mean and variance, for
    batch, layer, instance and group normalization (after Wu & He 2018, figure 2).

    Each panel is the block seen from the front (rows: samples ``N``; columns: channels
    ``C``), with ``H × W`` going back; the highlighted slices are normalized together with
    sample 0, channel 0 (the top-left slice).

    Args:
        batch, channels: ``N`` and ``C`` of the block.
        groups: channel groups of the group-norm panel.

    Returns:
        The figure, one axes per layer (titles ``"BatchNorm"``, ...). The front face of
        each panel is made of patches with gid ``"cell:{n}:{c}"``; highlighted ones have
        face colour :data:`HIGHLIGHT`.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    # validates batch, channels and groups
    tables = {
        layer: axes_shared(layer, batch, channels, groups if layer == "GroupNorm" else 1)
        for layer in _LAYERS
    }
    fig, axes = plt.subplots(2, 2, figsize=(6.4, 6.0))
    cell, depth = 0.5, 0.9  # side of a front cell; depth of the H × W direction (oblique)
    dx, dy = depth * 0.6, depth * 0.45
    for ax, layer in zip(axes.flat, _LAYERS, strict=True):
        shared = tables[layer]
        width, height = channels * cell, batch * cell
        _canvas(ax, width + dx + 0.9, height + dy + 0.9)
        x0, y0 = 0.7, 0.3

        for n in range(batch):
            for c in range(channels):
                x, y = x0 + c * cell, y0 + (batch - 1 - n) * cell
                on = shared[n][c]
                patch = Polygon(
                    [(x, y), (x + cell, y), (x + cell, y + cell), (x, y + cell)],
                    facecolor=HIGHLIGHT if on else _PLAIN,
                    edgecolor=_EDGE,
                    linewidth=0.8,
                )
                patch.set_gid(f"cell:{n}:{c}")
                ax.add_patch(patch)
        top = y0 + height
        for c in range(channels):  # the top face: sample 0 of every channel, going back
            x = x0 + c * cell
            ax.add_patch(
                Polygon(
                    [(x, top), (x + cell, top), (x + cell + dx, top + dy), (x + dx, top + dy)],
                    facecolor=HIGHLIGHT if shared[0][c] else _PLAIN,
                    edgecolor=_EDGE,
                    linewidth=0.8,
                    alpha=0.8,
                )
            )
        right = x0 + width
        for n in range(batch):  # the side face: the last channel of every sample
            y = y0 + (batch - 1 - n) * cell
            ax.add_patch(
                Polygon(
                    [
                        (right, y),
                        (right + dx, y + dy),
                        (right + dx, y + cell + dy),
                        (right, y + cell),
                    ],
                    facecolor=HIGHLIGHT if shared[n][channels - 1] else _PLAIN,
                    edgecolor=_EDGE,
                    linewidth=0.8,
                    alpha=0.8,
                )
            )
        ax.text(x0 + width / 2, y0 - 0.18, "C (channels)", ha="center", va="top", fontsize=_SMALL)
        ax.text(
            x0 - 0.12,
            y0 + height / 2,
            "N (samples)",
            ha="right",
            va="center",
            rotation=90,
            fontsize=_SMALL,
        )
        ax.text(
            right + dx + 0.06,
            y0 + height + dy / 2,
            "H, W\n(depth)",
            ha="left",
            va="center",
            fontsize=_SMALL,
        )
        title = layer if layer != "GroupNorm" else f"GroupNorm, G = {groups}"
        ax.set_title(f"{title}: over {_AVERAGED[layer]}", fontsize=_TEXT)
    fig.suptitle(
        f"Elements that share one mean and variance (N = {batch}, C = {channels})",
        fontsize=_TITLE,
    )
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------- SyncBatchNorm


def sync_batchnorm_diagram(world_size: int = 3) -> Any:
    """How :class:`normlab.sync_batchnorm.SyncBatchNorm` trains on ``world_size`` ranks.

    Forward: each rank reduces its shard to per-channel moments ``(n, Σx, Σx²)``
    (:func:`normlab.sync_batchnorm.batch_moments`); one all-reduce (sum) of that
    ``(3, C)`` tensor gives every rank the moments of the whole batch, hence the same mean
    and variance (:func:`normlab.sync_batchnorm.stats_from_moments`); each rank normalizes
    its own shard with them. Backward: each rank reduces its ``dy`` to ``(Σdy, Σdy·(x−μ))``;
    one all-reduce of that ``(2, C)`` tensor gives the sums over the whole batch that the
    input gradient needs. (Before the forward all-reduce, a small all-reduce of the ranks'
    input shapes lets every rank fail with the same error on bad input; the figure notes it.)

    Args:
        world_size: number of ranks drawn, >= 1.

    Returns:
        The figure. The all-reduces are patches with gid ``"all_reduce:forward:(3, C)"`` and
        ``"all_reduce:backward:(2, C)"``; the per-rank boxes have gids
        ``"rank:{r}:{step}"``.
    """
    import matplotlib.pyplot as plt

    world_size = check_positive_int(world_size, "world_size")
    fig, ax = plt.subplots(figsize=(7.0, 6.4))
    span = 7.0
    _canvas(ax, span + 1.4, 10.4)
    column = span / world_size
    xs = [1.4 + column * (r + 0.5) for r in range(world_size)]
    w = min(1.9, column * 0.9)
    forward = [
        (9.6, "shard $x_r$\n$(N_r, C, H, W)$", "shard"),
        (8.5, "local moments\n$n_r, \\Sigma x, \\Sigma x^2$", "moments"),
        (6.3, "same $\\mu, \\sigma^2$\non every rank", "stats"),
        (5.2, "$y_r = \\gamma\\,\\hat x_r + \\beta$", "output"),
    ]
    backward = [
        (4.0, "local sums\n$\\Sigma dy, \\Sigma dy\\,(x-\\mu)$", "grad-sums"),
        (1.8, "input gradient\n$\\partial L/\\partial x_r$", "grad-input"),
    ]
    for r, x in enumerate(xs):
        ax.text(x, 10.3, f"rank {r}", ha="center", fontsize=_TEXT, weight="bold")
        for (y, text, step), (y_next, _, _) in zip(
            forward, forward[1:] + [(None, "", "")], strict=True
        ):
            _box(ax, x, y, w, 0.75, text, gid=f"rank:{r}:{step}", fontsize=_SMALL)
            if y_next is not None and step != "moments":
                _arrow(ax, (x, y - 0.4), (x, y_next + 0.4))
        for y, text, step in backward:
            _box(ax, x, y, w, 0.75, text, gid=f"rank:{r}:{step}", fontsize=_SMALL)
        _arrow(ax, (x, 8.1), (x, 7.65))  # moments -> all-reduce
        _arrow(ax, (x, 6.95), (x, 6.7))  # all-reduce -> stats
        _arrow(ax, (x, 4.8), (x, 4.4), dashed=True)  # the loss sends dy back
        _arrow(ax, (x, 3.6), (x, 3.15))
        _arrow(ax, (x, 2.45), (x, 2.2))
    _box(
        ax,
        1.4 + span / 2,
        7.3,
        span - 0.1,
        0.75,
        "all_reduce (sum) of the $(3, C)$ moments\n= the moments of the whole batch",
        gid="all_reduce:forward:(3, C)",
        color=_ACCENT,
    )
    _box(
        ax,
        1.4 + span / 2,
        2.8,
        span - 0.1,
        0.75,
        "all_reduce (sum) of the $(2, C)$ gradient sums\n= the sums over the whole batch",
        gid="all_reduce:backward:(2, C)",
        color=_ACCENT,
    )
    ax.text(0.05, 8.4, "forward", fontsize=_TEXT, rotation=90, va="center")
    ax.text(0.05, 3.2, "backward", fontsize=_TEXT, rotation=90, va="center")
    ax.text(
        0.1,
        0.75,
        "$\\gamma, \\beta$ gradients: each rank's share, summed by DDP's gradient all-reduce.\n"
        "Not drawn: one small all-reduce of the input shapes before the moments, so that\n"
        "bad input fails on every rank with the same error.",
        fontsize=_SMALL,
        va="center",
    )
    ax.set_title(f"SyncBatchNorm on {world_size} ranks", fontsize=_TITLE)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ GANs

#: ``{game: {player: (formula, function name in normlab.gan)}}`` of each loss that
#: :func:`gan_diagram` shows; the tests check that the functions compute these formulas.
GAN_LOSSES = {
    "gan": {
        "discriminator": (
            "$-\\mathbb{E}\\log D(x) - \\mathbb{E}\\log(1 - D(G(z)))$",
            "non_saturating_discriminator_loss",
        ),
        "generator": ("$-\\mathbb{E}\\log D(G(z))$", "non_saturating_generator_loss"),
    },
    "wgan": {
        "critic": ("$\\mathbb{E} f(G(z)) - \\mathbb{E} f(x)$", "wasserstein_critic_loss"),
        "generator": ("$-\\mathbb{E} f(G(z))$", "wasserstein_generator_loss"),
    },
}


def gan_diagram() -> Any:
    """The GAN game and the Wasserstein GAN's critic, side by side.

    Top: noise ``z`` → generator ``G`` → fake samples; the discriminator
    ``D = sigmoid(f)`` scores real and fake samples with a probability, and the two
    players minimize the losses of :mod:`normlab.gan.losses` (non-saturating generator
    loss, Goodfellow et al. 2014). Bottom: the critic ``f`` outputs an unbounded score; it
    is kept (about) 1-Lipschitz by weight clipping or a gradient penalty, and its loss
    estimates minus the Earth-Mover distance (Arjovsky et al. 2017; Gulrajani et al. 2017).

    Returns:
        The figure, two axes (the GAN, the WGAN). Loss boxes have gid
        ``"loss:{game}:{player}:{function}"`` where ``function`` is the name of the loss in
        :mod:`normlab.gan` (see :data:`GAN_LOSSES`).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(7.0, 5.6))
    for ax, game in zip(axes, ("gan", "wgan"), strict=True):
        _canvas(ax, 10.5, 4.1)
        wgan = game == "wgan"
        _box(ax, 0.9, 3.1, 1.4, 0.6, "noise $z$\n$\\sim N(0, I)$", gid=f"{game}:noise")
        _box(ax, 2.9, 3.1, 1.4, 0.6, "generator $G$", gid=f"{game}:generator", color=HIGHLIGHT)
        _box(ax, 4.9, 3.1, 1.4, 0.6, "fake $G(z)$", gid=f"{game}:fake")
        _box(ax, 4.9, 1.3, 1.4, 0.6, "real $x$\n$\\sim$ data", gid=f"{game}:real")
        judge = "critic $f$\n(no sigmoid)" if wgan else "discriminator\n$D = \\sigma(f)$"
        _box(ax, 6.7, 2.2, 1.6, 0.8, judge, gid=f"{game}:judge", color=HIGHLIGHT)
        _arrow(ax, (1.6, 3.1), (2.2, 3.1))
        _arrow(ax, (3.6, 3.1), (4.2, 3.1))
        _arrow(ax, (5.6, 3.1), (5.9, 2.45))
        _arrow(ax, (5.6, 1.3), (5.9, 1.95))
        score = "score $f(\\cdot) \\in \\mathbb{R}$" if wgan else "$D(\\cdot) \\in (0, 1)$"
        ax.text(6.7, 1.6, score, fontsize=_SMALL, ha="center", va="top")
        judge_player = "critic" if wgan else "discriminator"
        for player, y in (("generator", 3.3), (judge_player, 1.1)):
            formula, function = GAN_LOSSES[game][player]
            _box(
                ax,
                8.95,
                y,
                3.0,
                0.75,
                f"{player} loss\n{formula}",
                gid=f"loss:{game}:{player}:{function}",
                color=_ACCENT,
                fontsize=_SMALL,
            )
            _arrow(ax, (7.5, 2.2 + (0.2 if y > 2 else -0.2)), (7.6, y + (-0.3 if y > 2 else 0.3)))
        _arrow(ax, (8.3, 3.7), (2.9, 3.42), dashed=True, connection="arc3,rad=0.12")
        ax.text(5.6, 3.97, "gradient to G", fontsize=_SMALL, ha="center")
        if wgan:
            ax.text(
                0.2,
                0.55,
                "keep $f$ 1-Lipschitz: clip every weight to $[-c, c]$ (WGAN)\n"
                "or penalize $(\\Vert\\nabla f(\\hat x)\\Vert - 1)^2$ (WGAN-GP)",
                fontsize=_SMALL,
                va="center",
            )
            ax.set_title("Wasserstein GAN: the critic estimates $W_1$", fontsize=_TITLE)
        else:
            ax.text(
                0.2,
                0.55,
                "D learns to tell real from fake;\nG learns to make D call its samples real",
                fontsize=_SMALL,
                va="center",
            )
            ax.set_title("GAN: a game between generator and discriminator", fontsize=_TITLE)
    fig.tight_layout()
    return fig
