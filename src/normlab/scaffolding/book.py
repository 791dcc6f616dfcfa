"""Support for the book's notebooks: showing the library's source, and interactive figures.

A chapter explains an implementation by displaying it from the library, so the code the
reader sees is exactly the code that is tested. Its widgets redraw a figure when a control
moves; :func:`interactive_figure` does that without an ``Output`` widget (see there why),
and, when the book is built, replaces the widget by precomputed frames that a slider in the
page flips through without a kernel (:func:`frame_player`).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import html
import inspect
import io
import itertools
import json
import math
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from normlab._optional import import_optional
from normlab.scaffolding.settings import env_flag

__all__ = [
    "SourceCode",
    "show_source",
    "interactive_figure",
    "frame_player",
    "FramePlayer",
    "control_values",
    "frame_grid",
    "BOOK_BUILD_VARIABLE",
    "BOOK_FRAMES",
    "BOOK_SECONDS",
]

#: Set to ``"1"`` in the environment of the book build (by the Sphinx extension in
#: ``_ext/normlab_build.py``, which the kernels inherit): :func:`interactive_figure` then
#: shows precomputed frames instead of the live widget.
BOOK_BUILD_VARIABLE = "NORMLAB_BOOK_BUILD"
#: Most frames :func:`interactive_figure` draws per widget when the book is built.
BOOK_FRAMES = 16
#: The time budget, in seconds, for the frames of one widget (estimated from the first
#: frame); a widget whose figure is slow to draw gets fewer frames, at least two.
BOOK_SECONDS = 8.0


class SourceCode:
    """Source text that Jupyter (and the rendered book) shows as a highlighted code block."""

    def __init__(self, source: str, language: str = "python") -> None:
        self.source = source
        self.language = language

    def _repr_markdown_(self) -> str:
        return f"```{self.language}\n{self.source}\n```"

    def __repr__(self) -> str:
        return self.source

    def __str__(self) -> str:
        return self.source


def _strip_docstring(source: str) -> str:
    tree = ast.parse(source)
    node = tree.body[0]
    body = getattr(node, "body", None)
    if not body or not isinstance(body[0], ast.Expr):
        return source
    value = body[0].value
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return source
    lines = source.splitlines()
    start, end = body[0].lineno - 1, body[0].end_lineno
    return "\n".join(lines[:start] + lines[end:])


def show_source(obj: Callable[..., object] | ModuleType, *, docstring: bool = True) -> SourceCode:
    """The source code of a function, class or method, ready to display in a notebook.

    Args:
        obj: a function, class, method or module of the library (anything ``inspect`` can read).
        docstring: keep the docstring; ``False`` shows only the code.

    Returns:
        A :class:`SourceCode`; as the last expression of a cell it renders as highlighted
        Python.
    """
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (TypeError, OSError) as err:
        raise TypeError(
            f"obj must be a function, class, method or module with readable source, got {obj!r}"
        ) from err
    if not docstring:
        source = _strip_docstring(source)
    return SourceCode(source.rstrip("\n"))


def control_values(control: Any) -> tuple[list[Any], list[str]]:
    """Every value an ipywidgets control can take, and how the widget would print it.

    Sliders give their ``min..max`` grid in steps of ``step`` (a log slider its powers of
    ``base``), selections their options, checkboxes and toggles ``False, True``; any other
    value widget just its current value.

    Returns:
        ``(values, labels)``, two lists of the same length, in the control's order.
    """
    import ipywidgets as widgets

    if isinstance(control, widgets.widget_selection._Selection):
        values = list(control._options_values)
        return values, [str(label) for label in control._options_labels]
    if isinstance(control, widgets.FloatLogSlider):
        n = int(round((control.max - control.min) / control.step))
        values = [control.base ** (control.min + i * control.step) for i in range(n + 1)]
        return values, [format(v, control.readout_format) for v in values]
    if isinstance(control, widgets.FloatSlider):
        n = int(round((control.max - control.min) / control.step))
        digits = max(0, -math.floor(math.log10(control.step))) if control.step > 0 else 6
        values = [round(control.min + i * control.step, digits + 2) for i in range(n + 1)]
        return values, [format(v, control.readout_format) for v in values]
    if isinstance(control, widgets.IntSlider):
        values = list(range(control.min, control.max + 1, control.step))
        return values, [str(v) for v in values]
    if isinstance(control.value, bool):
        return [False, True], ["off", "on"]
    return [control.value], [str(control.value)]


def frame_grid(sizes: Sequence[int], initial: Sequence[int], budget: int) -> list[list[int]]:
    """Indices of the values to precompute for each control, at most ``budget`` frames.

    Every control keeps its initial value. While the product of the counts exceeds the
    budget, the control with the most values loses one (the later control on ties, so the
    first knob, usually the one the text is about, keeps the finest grid); below two values
    each, the last controls are frozen at their initial value. What is left of the budget
    then goes back to the first controls.

    Args:
        sizes: number of values of each control.
        initial: index of each control's initial value.
        budget: most frames, >= 1.

    Returns:
        For each control, sorted indices into its values (evenly spaced, with the initial).
    """
    counts = list(sizes)
    while math.prod(counts) > budget:
        reducible = [i for i, k in enumerate(counts) if k > 2]
        if reducible:
            i = max(reducible, key=lambda j: (counts[j], j))
        else:
            i = max(j for j, k in enumerate(counts) if k > 1)
        counts[i] -= 1
    for i, size in enumerate(sizes):  # spend what is left of the budget, first knob first
        while counts[i] < size and math.prod(counts) // counts[i] * (counts[i] + 1) <= budget:
            counts[i] += 1
    grid = []
    for size, start, count in zip(sizes, initial, counts, strict=True):
        if count == 1:
            grid.append([start])
            continue
        picked = {round(k * (size - 1) / (count - 1)) for k in range(count)}
        if start not in picked:
            # the nearest grid value gives way to the initial one (the ends stay, if more
            # than two values are kept, so that the slider still spans the whole range)
            inner = picked - {0, size - 1} if count > 2 else picked
            picked.remove(min(inner, key=lambda v: (abs(v - start), v)))
            picked.add(start)
        grid.append(sorted(picked))
    return grid


# Swaps the image when a range input moves: the frame of positions (p_0, ..., p_k) is at
# index ((p_0 * n_1 + p_1) * n_2 + ...), the order of itertools.product.
_PLAYER_JS = """(function () {
  var root = document.getElementById(__ROOT__);
  var data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  var img = root.querySelector("img");
  var inputs = root.querySelectorAll("input[type=range]");
  function show() {
    var pos = data.initial.slice();
    inputs.forEach(function (el) {
      var i = +el.dataset.control;
      pos[i] = +el.value;
      root.querySelector('output[data-control="' + i + '"]').textContent = data.labels[i][pos[i]];
    });
    var k = 0;
    for (var i = 0; i < pos.length; i++) { k = k * data.labels[i].length + pos[i]; }
    img.src = data.frames[k];
    root.dataset.frame = k;
  }
  inputs.forEach(function (el) { el.addEventListener("input", show); });
})();"""


_CONTROL_STYLE = "display:inline-block;margin:0 1.5em 0.3em 0;white-space:nowrap"


class FramePlayer:
    """Precomputed figures and the controls that choose among them, as self-contained HTML.

    ``frames`` are PNG images, one per combination of the controls' values, in the order
    of ``itertools.product`` over the controls (the last control varies fastest). The HTML
    has one ``<input type="range">`` per control that has more than one value, an ``<img>``
    showing the initial frame, and a few lines of JavaScript that swap the image when an
    input moves: no kernel, no widget library, no network.
    """

    def __init__(
        self,
        names: Sequence[str],
        labels: Sequence[Sequence[str]],
        initial: Sequence[int],
        frames: Sequence[bytes],
        seconds: float = 0.0,
        note: str = "",
    ) -> None:
        if math.prod(len(v) for v in labels) != len(frames):
            raise ValueError(
                f"need one frame per combination ({math.prod(len(v) for v in labels)}), "
                f"got {len(frames)}"
            )
        self.names, self.labels = list(names), [list(v) for v in labels]
        self.initial, self.frames = list(initial), list(frames)
        self.seconds, self.note = seconds, note

    def index(self, positions: Sequence[int]) -> int:
        """The frame shown when control ``i`` is at its ``positions[i]``-th value."""
        index = 0
        for position, values in zip(positions, self.labels, strict=True):
            index = index * len(values) + position
        return index

    def _repr_html_(self) -> str:
        digest = hashlib.sha1(b"".join(self.frames[:1]) + repr(self.labels).encode())
        uid = "normlab-frames-" + digest.hexdigest()[:12]
        sources = [
            "data:image/png;base64," + base64.b64encode(frame).decode("ascii")
            for frame in self.frames
        ]
        rows = []
        for i, (name, labels, start) in enumerate(
            zip(self.names, self.labels, self.initial, strict=True)
        ):
            if len(labels) == 1:
                rows.append(
                    f'<span class="normlab-control" style="{_CONTROL_STYLE}">'
                    f"{html.escape(name)}: {html.escape(labels[0])} (fixed)</span>"
                )
                continue
            rows.append(
                f'<label class="normlab-control" style="{_CONTROL_STYLE}">'
                f"{html.escape(name)} "
                f'<input type="range" min="0" max="{len(labels) - 1}" step="1" '
                f'value="{start}" data-control="{i}" aria-label="{html.escape(name)}"> '
                f'<output data-control="{i}" style="display:inline-block;min-width:3em">'
                f"{html.escape(labels[start])}</output></label>"
            )
        start = self.index(self.initial)
        script = _PLAYER_JS.replace("__ROOT__", json.dumps(uid))
        payload = json.dumps(
            {"labels": self.labels, "initial": self.initial, "frames": sources}
        ).replace("</", "<\\/")
        return (
            f'<div class="normlab-frames" id="{uid}" data-frames="{len(self.frames)}" '
            f'data-seconds="{self.seconds:.2f}" data-frame="{start}">'
            f'<div class="normlab-controls">{"".join(rows)}</div>'
            f'<img src="{sources[start]}" alt="figure for the chosen values" '
            'style="max-width:100%">'
            '<p class="normlab-frames-note" style="font-size:0.8em;opacity:0.8">'
            f"{html.escape(self.note)}</p>"
            f'<script type="application/json">{payload}</script>'
            f"<script>{script}</script></div>"
        )

    def __repr__(self) -> str:
        return f"<FramePlayer: {len(self.frames)} precomputed figures of {self.names}>"


def _png(figure: Any) -> bytes:
    # as the inline backend renders a figure (tight bounding box), so frames look the same

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def frame_player(
    draw: Callable[..., Any],
    controls: Mapping[str, Any],
    budget: int = BOOK_FRAMES,
    seconds: float | None = BOOK_SECONDS,
) -> FramePlayer:
    """Draw ``draw`` for a grid of the controls' values and return the player of the frames.

    Args:
        draw: function of the controls' values returning a matplotlib figure.
        controls: ipywidgets value widgets keyed by ``draw``'s parameter names.
        budget: most frames (see :func:`frame_grid` for how the grid is chosen).
        seconds: time allowed for all frames. After every frame the time the rest of the
            grid needs is re-estimated (from the frames drawn so far, the first excepted:
            it pays one-off costs); when it would not fit, the grid shrinks (to 2 frames at
            least). It may overrun by a frame or two. ``None``: no limit. (The number of
            frames may then differ between a fast and a slow machine.)

    Returns:
        A :class:`FramePlayer` (it renders as HTML), with the seconds the frames took.
    """
    import matplotlib.pyplot as plt

    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise ValueError(f"budget must be an int >= 1, got {budget!r}")
    if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"seconds must be a positive number or None, got {seconds!r}")
    names, values, labels, initial = [], [], [], []
    for name, control in controls.items():
        vals, labs = control_values(control)
        start = _position(vals, control.value)
        names.append(control.description or name)
        values.append(vals)
        labels.append(labs)
        initial.append(start)
    sizes = [len(v) for v in values]

    def render(combination: tuple[int, ...]) -> bytes:
        chosen = zip(controls, combination, strict=True)
        figure = draw(**{name: values[i][k] for i, (name, k) in enumerate(chosen)})
        if not hasattr(figure, "savefig"):
            raise TypeError(f"draw must return a matplotlib Figure, got {type(figure).__name__}")
        frame = _png(figure)
        plt.close(figure)
        return frame

    started = time.perf_counter()
    drawn: dict[tuple[int, ...], bytes] = {}
    costs: list[float] = []

    def draw_once(combination: tuple[int, ...]) -> None:
        tick = time.perf_counter()
        drawn[combination] = render(combination)
        costs.append(time.perf_counter() - tick)

    draw_once(tuple(initial))
    grid = frame_grid(sizes, initial, budget)
    while True:
        todo = [c for c in itertools.product(*grid) if c not in drawn]
        if not todo:
            break
        draw_once(todo[0])
        count = math.prod(len(g) for g in grid)
        if seconds is None or count <= 2:
            continue
        # the frames' cost can vary with the values: re-estimate after every frame, from
        # the frames after the first (which also pays one-off costs: fonts, caches)
        pace = sum(costs[1:]) / len(costs[1:])
        spent = time.perf_counter() - started
        if spent + (len(todo) - 1) * pace > seconds:
            fits = int(max(seconds - spent, 0.0) / max(pace, 1e-9)) + sum(
                c in drawn for c in itertools.product(*grid)
            )
            grid = frame_grid(sizes, initial, max(2, min(count - 1, fits)))
    frames = [drawn[c] for c in itertools.product(*grid)]
    elapsed = time.perf_counter() - started
    kept = [[labels[i][k] for k in picks] for i, picks in enumerate(grid)]
    positions = [picks.index(start) for picks, start in zip(grid, initial, strict=True)]
    note = (
        f"Precomputed when the book was built: {len(frames)} figures, for the values the "
        "sliders offer here. Run the notebook for the live widget, which redraws the "
        "figure for every value of every control."
    )
    return FramePlayer(names, kept, positions, frames, elapsed, note)


def _position(values: Sequence[Any], value: Any) -> int:
    """Index of the value nearest ``value`` (a float slider's value may be rounded)."""
    for i, v in enumerate(values):
        if v == value:
            return i
    try:
        return min(range(len(values)), key=lambda i: abs(values[i] - value))
    except TypeError:
        return 0


def interactive_figure(draw: Callable[..., Any], /, **controls: Any) -> None:
    """Show controls (sliders, checkboxes, ...) that redraw a matplotlib figure.

    ``draw(**values)`` receives the current value of every control, by name, and returns a
    new ``matplotlib.figure.Figure`` (it must not call ``plt.show()``). The controls are
    displayed first, then the figure, which is replaced in place whenever a control moves.

    When the book is built (the environment variable :data:`BOOK_BUILD_VARIABLE` is
    ``"1"``), callbacks could never run in the page, so the live widget is replaced by a
    :func:`frame_player`: up to :data:`BOOK_FRAMES` figures drawn now for a grid of the
    controls' values, and sliders in the page that flip between them without a kernel (no
    widget state, hence no widget scripts from a CDN, is saved in the notebook).

    Why not ``ipywidgets.interactive``: it draws into an ``Output`` widget, and when a
    notebook is executed by nbclient (Jupyter Book, nbconvert) the executor answers that
    widget's messages on the kernel's shell channel while it waits for the cell's reply on
    the same channel; now and then the reply is missed and the cell hangs until its timeout
    (jupyter/nbclient#312). Updating a figure displayed with a ``display_id`` involves no
    ``Output`` widget and no message back to the kernel.

    Args:
        draw: function of the controls' values returning a figure.
        **controls: ipywidgets value widgets, keyed by ``draw``'s parameter names; a control
            without a description is labelled with its name.

    Raises:
        TypeError: ``draw`` is not callable, or a control is not an ipywidgets widget with a
            ``value``.
        ValueError: no control is given.
    """
    # Imported here: the library must import without the notebook stack ("notebook" extra).
    options = {"extra": "notebook", "needed_by": "normlab.scaffolding.interactive_figure"}
    widgets = import_optional("ipywidgets", package="ipywidgets", **options)
    plt = import_optional("matplotlib.pyplot", package="matplotlib", **options)
    display = import_optional("IPython.display", package="ipython", **options).display

    if not callable(draw):
        raise TypeError(f"draw must be callable, got {type(draw).__name__}")
    if not controls:
        raise ValueError("interactive_figure needs at least one control")
    for name, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise TypeError(
                f"control {name!r} must be an ipywidgets value widget (e.g. IntSlider), "
                f"got {type(control).__name__}"
            )
        if not getattr(control, "description", "x"):
            control.description = name

    if env_flag(BOOK_BUILD_VARIABLE):
        display(frame_player(draw, controls))
        return

    def render() -> Any:
        figure = draw(**{name: control.value for name, control in controls.items()})
        if not hasattr(figure, "savefig"):
            raise TypeError(f"draw must return a matplotlib Figure, got {type(figure).__name__}")
        # closed, so that the inline backend does not show it a second time at the end of
        # the cell; a closed figure still renders when displayed
        plt.close(figure)
        return figure

    display(widgets.VBox(list(controls.values())))
    handle = display(render(), display_id=True)

    def redraw(_change: object) -> None:
        handle.update(render())

    for control in controls.values():
        control.observe(redraw, names="value")
