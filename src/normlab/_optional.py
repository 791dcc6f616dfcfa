"""Optional dependencies: import them when a function needs them, or say how to install them.

normlab itself needs only torch, NumPy and tqdm. A few functions need more, declared as
extras in pyproject.toml: ``data`` (scikit-learn, SciPy) and ``notebook`` (ipywidgets,
matplotlib, IPython). normlab is installed from its repository, not from PyPI, so the hint
names the repository: ``pip install "normlab[data]"`` would look for a package of that name
on PyPI.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["REPOSITORY", "install_hint", "import_optional"]

#: Where pip installs normlab from (the package is not published on PyPI).
REPOSITORY = "git+https://github.com/normlab/normlab.git"


def install_hint(extra: str) -> str:
    """The pip command that installs normlab with ``extra`` (``"data"``, ``"notebook"``)."""
    return f'pip install "normlab[{extra}] @ {REPOSITORY}"'


def import_optional(module: str, *, package: str, extra: str, needed_by: str) -> ModuleType:
    """Import ``module``, or raise an ImportError that says what needs it and how to install it.

    Args:
        module: the module to import, e.g. ``"scipy.optimize"``.
        package: the distribution pip installs it from, e.g. ``"scipy"``, ``"scikit-learn"``.
        extra: normlab's extra that declares it.
        needed_by: what needs it, e.g. ``"normlab.gan.wasserstein1"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{needed_by} needs {package} (module {module!r} could not be imported: {err}). "
            f"Install it with: pip install {package}; or install normlab with its "
            f"'{extra}' extra: {install_hint(extra)} "
            f'(in a clone of the repository: pip install -e ".[{extra}]")'
        ) from err
