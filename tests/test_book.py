"""normlab.book.interactive_figure: controls that redraw a figure without an Output widget."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from normlab.book import interactive_figure  # noqa: E402


@pytest.fixture
def shell():
    # display() needs a running IPython shell to return a display handle
    return InteractiveShell.instance()


def test_redraws_with_the_new_value_and_leaves_no_open_figure(shell, monkeypatch):
    shown, updated = [], []
    monkeypatch.setattr(shell.display_pub, "publish", lambda data, **kw: shown.append((data, kw)))
    calls = []

    def draw(n, label):
        calls.append((n, label))
        fig, ax = plt.subplots()
        ax.plot(range(n))
        return fig

    n = widgets.IntSlider(value=3, min=1, max=10)
    label = widgets.Checkbox(value=True)
    interactive_figure(draw, n=n, label=label)
    assert calls == [(3, True)]
    assert n.description == "n" and label.description == "label"
    n.value = 7
    label.value = False
    assert calls == [(3, True), (7, True), (7, False)]
    assert plt.get_fignums() == []  # every figure was closed after rendering
    updated = [kw for _, kw in shown if kw.get("update")]
    assert len(updated) == 2  # the two redraws replaced the figure in place


def test_keeps_an_existing_description(shell):
    slider = widgets.FloatSlider(value=0.5, description="ratio")
    interactive_figure(lambda r: plt.figure(), r=slider)
    assert slider.description == "ratio"


@pytest.mark.parametrize(
    "draw, controls, error, message",
    [
        (3, {"n": widgets.IntSlider()}, TypeError, "draw must be callable"),
        (lambda: plt.figure(), {}, ValueError, "at least one control"),
        (lambda n: plt.figure(), {"n": 3}, TypeError, "control 'n' must be an ipywidgets"),
        (lambda n: None, {"n": widgets.IntSlider()}, TypeError, "must return a matplotlib Figure"),
    ],
)
def test_bad_input(shell, draw, controls, error, message):
    with pytest.raises(error, match=message):
        interactive_figure(draw, **controls)


# --- summarize_seeds -----------------------------------------------------------------


def test_summarize_seeds_prints_every_seed_and_returns_mean_and_sample_sd(capsys):
    import math

    from normlab.book import summarize_seeds

    runs = {"GAN": {0: 1.0, 1: 2.0, 2: 6.0}, "WGAN-clip": {7: 4.0}}
    summary = summarize_seeds(runs, lambda r: {"x": r, "twice": 2 * r}, "title line")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "title line"
    assert lines[1].split() == ["method", "seed", "x", "twice"]
    # 3 seeds + mean for GAN, 1 seed + mean for WGAN-clip
    assert [line.split()[:2] for line in lines[2:]] == [
        ["GAN", "0"],
        ["GAN", "1"],
        ["GAN", "2"],
        ["GAN", "mean"],
        ["WGAN-clip", "7"],
        ["WGAN-clip", "mean"],
    ]
    assert summary["GAN"]["x"] == pytest.approx((3.0, math.sqrt(7.0)))  # ddof=1
    assert summary["GAN"]["twice"] == pytest.approx((6.0, 2 * math.sqrt(7.0)))
    mean, sd = summary["WGAN-clip"]["x"]
    assert mean == 4.0 and math.isnan(sd)  # one seed has no spread


@pytest.mark.parametrize(
    "runs, row, message",
    [
        ({}, lambda r: {"x": r}, "runs must be a non-empty mapping"),
        ([1, 2], lambda r: {"x": r}, "runs must be a non-empty mapping"),
        ({"GAN": {}}, lambda r: {"x": r}, r"runs\['GAN'\] must be a non-empty mapping"),
        (
            {"GAN": {0: 1, 1: 2}},
            lambda r: {"x": r} if r == 1 else {"y": r},
            "row gave columns",
        ),
    ],
)
def test_summarize_seeds_bad_input(runs, row, message):
    from normlab.book import summarize_seeds

    with pytest.raises(ValueError, match=message):
        summarize_seeds(runs, row)
