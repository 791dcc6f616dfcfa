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
