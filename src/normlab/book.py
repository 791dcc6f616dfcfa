"""Support for the book's notebooks: showing the library's source inside a chapter.

A chapter explains an implementation by displaying it from the library, so the code the
reader sees is exactly the code that is tested.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

__all__ = ["SourceCode", "show_source"]


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
