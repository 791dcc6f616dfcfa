"""Progress bars that show while a reader trains a model and stay quiet in builds and tests.

A bar written into a notebook's stored output is noise in the rendered book, so bars are
disabled whenever the flag ``NORMLAB_QUIET`` (or tqdm's own ``TQDM_DISABLE``) is on; the
Makefile sets it for ``make book`` and ``make test``. See :mod:`.settings` for the
values a flag accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["QUIET_ENV_VAR", "is_quiet", "hidden", "progress_bar"]

from normlab.scaffolding.settings import QUIET_ENV_VAR, quiet


def is_quiet() -> bool:
    """True when ``NORMLAB_QUIET`` (or ``TQDM_DISABLE``) asks for silence.

    Raises:
        ValueError: the variable holds something that is not a flag value.
    """
    return quiet()


def hidden(progress: bool | None) -> bool | None:
    """The ``disable`` of :func:`progress_bar` for a loop's ``progress`` argument: ``True``
    shows the bar, ``False`` hides it, ``None`` leaves it to :func:`is_quiet`."""
    return None if progress is None else not progress


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
