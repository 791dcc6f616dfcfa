"""Support for the book's notebooks: showing the library's source, and interactive figures.

A chapter explains an implementation by displaying it from the library, so the code the
reader sees is exactly the code that is tested. Its widgets redraw a figure when a control
moves; :func:`interactive_figure` does that without an ``Output`` widget (see there why).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

__all__ = ["SourceCode", "show_source", "interactive_figure"]


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
    # Imported here: the library must import without the notebook stack.
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

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
