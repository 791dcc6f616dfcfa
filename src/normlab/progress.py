"""Progress bars that show while a reader trains a model and stay quiet in builds and tests.

A bar written into a notebook's stored output is noise in the rendered book, so bars are
disabled whenever the environment variable ``NORMLAB_QUIET`` is set to a non-empty value
other than ``0`` (the Makefile sets it for ``make book`` and ``make test``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["QUIET_ENV_VAR", "is_quiet", "progress_bar"]

#: Environment variable that silences every progress bar of the library.
QUIET_ENV_VAR = "NORMLAB_QUIET"


def is_quiet() -> bool:
    """True when ``NORMLAB_QUIET`` asks for silence."""
    return os.environ.get(QUIET_ENV_VAR, "").strip() not in ("", "0")


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    disable: bool | None = None,
    leave: bool = False,
) -> Any:
    """Wrap ``iterable`` in a tqdm bar (a notebook widget in Jupyter, text in a terminal).

    Args:
        iterable: what to iterate over; may be ``None`` for a bar updated by hand.
        total: number of steps, when ``iterable`` has no length.
        desc: label shown before the bar.
        disable: ``True`` hides the bar; ``None`` (default) hides it when :func:`is_quiet`.
        leave: keep the finished bar on screen.

    Returns:
        A ``tqdm`` object; iterate over it, or call ``update``/``set_postfix`` on it.
    """
    # Imported here: tqdm.auto pulls in ipywidgets inside Jupyter, and importing normlab
    # must stay light.
    from tqdm.auto import tqdm

    if disable is None:
        disable = is_quiet()
    return tqdm(iterable, total=total, desc=desc, disable=disable, leave=leave)
