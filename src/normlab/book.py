"""Support for the book's notebooks: showing the library's source, and interactive figures.

A chapter explains an implementation by displaying it from the library, so the code the
reader sees is exactly the code that is tested. Its widgets redraw a figure when a control
moves; :func:`interactive_figure` does that without an ``Output`` widget (see there why).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from normlab._optional import import_optional

__all__ = ["SourceCode", "show_source", "interactive_figure", "summarize_seeds"]


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


def show_source(obj: object, *, docstring: bool = True) -> SourceCode:
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


def interactive_figure(draw: Callable[..., Any], /, **controls: Any) -> None:
    """Show controls (sliders, checkboxes, ...) that redraw a matplotlib figure.

    ``draw(**values)`` receives the current value of every control, by name, and returns a
    new ``matplotlib.figure.Figure`` (it must not call ``plt.show()``). The controls are
    displayed first, then the figure, which is replaced in place whenever a control moves.
    In a static rendering (the book's HTML), the figure drawn with the initial values is
    what the reader sees under the controls.

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
    options = {"extra": "notebook", "needed_by": "normlab.interactive_figure"}
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


def summarize_seeds(
    runs: Mapping[str, Mapping[Any, Any]],
    row: Callable[[Any], Mapping[str, float]],
    title: str | None = None,
) -> dict[str, dict[str, tuple[float, float]]]:
    """Print one line per method and seed, then each method's mean ± standard deviation.

    The chapters run every experiment over a few seeds and report the spread, not one lucky
    run; this is the table they print.

    Args:
        runs: ``{method: {seed: run}}``, with the same seeds or not for every method.
        row: turns one ``run`` into ``{column: number}``; every run must give the same
            columns.
        title: a line printed above the table.

    Returns:
        ``{method: {column: (mean, sd)}}``, the sample standard deviation (``ddof=1``;
        ``nan`` for a single seed).
    """
    import numpy as np

    if not isinstance(runs, Mapping) or not runs:
        raise ValueError(
            f"runs must be a non-empty mapping {{method: {{seed: run}}}}, got {runs!r}"
        )
    rows: dict[str, dict[Any, Mapping[str, float]]] = {}
    for method, by_seed in runs.items():
        if not isinstance(by_seed, Mapping) or not by_seed:
            raise ValueError(
                f"runs[{method!r}] must be a non-empty mapping {{seed: run}}, got {by_seed!r}"
            )
        rows[method] = {seed: row(run) for seed, run in by_seed.items()}
    keys = list(next(iter(next(iter(rows.values())).values())))
    for method, by_seed in rows.items():
        for seed, values in by_seed.items():
            if list(values) != keys:
                raise ValueError(
                    f"row gave columns {list(values)} for method {method!r}, seed {seed!r}; "
                    f"expected {keys} as for the first run"
                )
    # cells as text first, so that every column is as wide as its widest cell
    lines: list[list[str]] = [["method", "seed", *keys]]
    summary = {}
    for method, by_seed in rows.items():
        values = np.array([[float(v[k]) for k in keys] for v in by_seed.values()])
        for seed, line in zip(by_seed, values, strict=True):
            lines.append([str(method), str(seed), *(f"{v:.3g}" for v in line)])
        mean = values.mean(0)
        sd = values.std(0, ddof=1) if len(values) > 1 else np.full(len(keys), np.nan)
        pairs = zip(mean, sd, strict=True)
        lines.append([str(method), "mean", *(f"{m:.3g}±{d:.2g}" for m, d in pairs)])
        summary[method] = {k: (float(m), float(d)) for k, m, d in zip(keys, mean, sd, strict=True)}
    widths = [max(len(line[j]) for line in lines) for j in range(len(keys) + 2)]
    if title is not None:
        print(title)
    for line in lines:
        cells = [line[0].ljust(widths[0] + 1), line[1].rjust(widths[1])]
        cells += [cell.rjust(max(widths[j + 2], 9) + 2) for j, cell in enumerate(line[2:])]
        print("".join(cells))
    return summary
