"""interactive_figure (normlab.scaffolding.book): controls redraw a figure, no Output widget."""

from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from normlab.scaffolding.book import interactive_figure  # noqa: E402


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

    from normlab.scaffolding.display import summarize_seeds

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
    from normlab.scaffolding.display import summarize_seeds

    with pytest.raises(ValueError, match=message):
        summarize_seeds(runs, row)


# --- precomputed frames for the built book ----------------------------------------

import base64  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402

from normlab.scaffolding.book import (  # noqa: E402
    BOOK_BUILD_VARIABLE,
    FramePlayer,
    control_values,
    frame_grid,
    frame_player,
)


def test_control_values_enumerate_every_kind_of_control():
    assert control_values(widgets.IntSlider(value=4, min=2, max=10, step=4))[0] == [2, 6, 10]
    values, labels = control_values(widgets.FloatSlider(value=0.1, min=0.0, max=0.3, step=0.1))
    assert values == pytest.approx([0.0, 0.1, 0.2, 0.3]) and labels == [
        "0.00",
        "0.10",
        "0.20",
        "0.30",
    ]
    values, _ = control_values(widgets.FloatLogSlider(value=0.1, base=10, min=-3, max=0, step=1))
    assert values == pytest.approx([1e-3, 1e-2, 1e-1, 1.0])
    assert control_values(widgets.SelectionSlider(options=[1, 2, 4], value=2)) == (
        [1, 2, 4],
        ["1", "2", "4"],
    )
    assert control_values(widgets.Dropdown(options=[("one", 1), ("two", 2)], value=2)) == (
        [1, 2],
        ["one", "two"],
    )
    assert control_values(widgets.Checkbox(value=True))[0] == [False, True]
    assert control_values(widgets.ToggleButtons(options=[1, 3]))[0] == [1, 3]
    assert control_values(widgets.Text(value="abc"))[0] == ["abc"]


def test_frame_grid_stays_in_budget_keeps_initial_values_and_favours_the_first_control():
    grid = frame_grid([32, 138, 60], [7, 119, 11], 24)
    assert math.prod(len(g) for g in grid) <= 24  # an explicit budget
    assert all(start in picks for picks, start in zip(grid, [7, 119, 11], strict=True))
    assert len(grid[0]) >= len(grid[1]) >= len(grid[2]) >= 2
    assert grid[0][0] == 0 and grid[0][-1] == 31  # the ends of the range are kept
    # everything fits: every value
    assert frame_grid([3, 2], [1, 0], 24) == [[0, 1, 2], [0, 1]]
    # more controls than the budget allows two values each: the last ones are frozen
    grid = frame_grid([5, 3, 32, 21], [1, 1, 0, 0], 4)
    assert [len(g) for g in grid] == [2, 2, 1, 1] and grid[2] == [0] and grid[3] == [0]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_frame_player_draws_every_combination_in_product_order():
    calls = []

    def draw(n, flag):
        calls.append((n, flag))
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(range(n + 1), "o-", color="C3" if flag else "C0")
        return fig

    n = widgets.IntSlider(value=3, min=1, max=5)
    flag = widgets.Checkbox(value=False, description="flag")
    player = frame_player(draw, {"n": n, "flag": flag}, budget=10)
    # the initial values first (to time the frames), then every other combination once
    assert calls[0] == (3, False) and len(calls) == 10
    assert sorted(calls) == list(itertools.product([1, 2, 3, 4, 5], [False, True]))
    assert len(player.frames) == 10 and len(set(player.frames)) == 10  # all different
    assert player.labels == [["1", "2", "3", "4", "5"], ["off", "on"]]
    assert player.initial == [2, 0] and player.index([2, 0]) == 4
    assert player.index([4, 1]) == 9
    assert plt.get_fignums() == []
    assert png_size(player.frames[0])[0] > 100
    # every frame is the figure of its own values: redraw one and compare
    redrawn = frame_player(draw, {"n": widgets.IntSlider(value=4, min=4, max=4), "flag": flag})
    assert redrawn.frames[0] == player.frames[player.index([3, 0])]


def test_frame_player_html_is_self_contained():
    player = frame_player(
        lambda a, b: plt.figure(figsize=(1, 1)),
        {
            "a": widgets.SelectionSlider(options=[1, 2, 4], value=2, description="a"),
            "b": widgets.IntSlider(value=0, min=0, max=0),
        },
    )
    page = player._repr_html_()
    assert page.count('type="range"') == 1  # b has one value: shown as fixed
    assert "b: 0 (fixed)" in page
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    data = json.loads(re.search(r'<script type="application/json">(.*?)</script>', page).group(1))
    assert data["labels"] == [["1", "2", "4"], ["0"]] and data["initial"] == [1, 0]
    frames = [base64.b64decode(f.split(",", 1)[1]) for f in data["frames"]]
    assert frames == player.frames
    shown = re.search(r'<img src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(shown) == player.frames[player.index(player.initial)]
    assert 'data-frames="3"' in page and "Precomputed when the book was built" in page


def test_frame_player_gives_a_slow_figure_fewer_frames():
    import time

    def slow(n):
        time.sleep(0.05)
        return plt.figure(figsize=(1, 1))

    control = {"n": widgets.IntSlider(value=0, min=0, max=20)}
    capped = frame_player(slow, control, budget=16, seconds=0.2)
    assert 2 <= len(capped.frames) <= 4  # 0.2 s at >= 0.05 s a frame
    assert capped.labels[0][capped.initial[0]] == "0"
    assert len(frame_player(slow, control, budget=6, seconds=None).frames) == 6


def test_frame_player_bad_input():
    with pytest.raises(ValueError, match="budget must be an int >= 1"):
        frame_player(lambda n: plt.figure(), {"n": widgets.IntSlider()}, budget=0)
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        frame_player(lambda n: None, {"n": widgets.IntSlider(max=2)})
    with pytest.raises(ValueError, match="seconds must be a positive number or None"):
        frame_player(lambda n: plt.figure(), {"n": widgets.IntSlider()}, seconds=0)
    with pytest.raises(ValueError, match=r"one frame per combination \(2\), got 1"):
        FramePlayer(["n"], [["1", "2"]], [0], [b"x"])


def test_in_the_book_build_the_widget_becomes_precomputed_frames(shell, monkeypatch):
    shown = []
    monkeypatch.setattr(shell.display_pub, "publish", lambda data, **kw: shown.append(data))
    monkeypatch.setenv(BOOK_BUILD_VARIABLE, "1")
    slider = widgets.IntSlider(value=2, min=1, max=3)
    interactive_figure(lambda n: plt.figure(figsize=(1, 1)), n=slider)
    assert len(shown) == 1  # no widget view: nothing that needs a kernel or widget scripts
    assert "application/vnd.jupyter.widget-view+json" not in shown[0]
    assert 'data-frames="3"' in shown[0]["text/html"]
    assert plt.get_fignums() == []
