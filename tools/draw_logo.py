"""Draw the book's logo and favicon (run once; the images are committed).

The unit balls of the 1-, 2- and infinity-norms in the plane: a diamond inside a circle
inside a square, the first picture of chapter 1.

    python tools/draw_logo.py   # writes images/logo.png, images/logo.svg, images/favicon.png
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

IMAGES = Path(__file__).resolve().parents[1] / "images"
COLORS = {"1": "#d1495b", "2": "#00798c", "inf": "#30638e"}


def draw(size_inches: float, line_width: float, with_name: bool) -> plt.Figure:
    width = size_inches * (3.1 if with_name else 1.0)
    fig = plt.figure(figsize=(width, size_inches))
    ax = fig.add_axes((0, 0, size_inches / width, 1))
    t = np.linspace(0, 2 * np.pi, 400)
    ax.plot([1, -1, -1, 1, 1], [1, 1, -1, -1, 1], color=COLORS["inf"], lw=line_width)
    ax.plot(np.cos(t), np.sin(t), color=COLORS["2"], lw=line_width)
    ax.plot([1, 0, -1, 0, 1], [0, 1, 0, -1, 0], color=COLORS["1"], lw=line_width)
    ax.set(xlim=(-1.12, 1.12), ylim=(-1.12, 1.12), aspect="equal")
    ax.axis("off")
    if with_name:
        fig.text(
            0.42,
            0.5,
            "normlab",
            fontsize=30 * size_inches / 1.2,
            va="center",
            family="DejaVu Sans",
            color="#222222",
        )
    return fig


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    logo = draw(1.2, 3.0, with_name=True)
    logo.savefig(IMAGES / "logo.png", dpi=200, transparent=True)
    logo.savefig(IMAGES / "logo.svg", transparent=True)
    favicon = draw(0.64, 2.2, with_name=False)
    favicon.savefig(IMAGES / "favicon.png", dpi=100, transparent=True)


if __name__ == "__main__":
    main()
