"""Functions that need an optional dependency say which extra installs it, with a command
that works (normlab is installed from its repository, not from PyPI)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

import normlab
from normlab._optional import REPOSITORY, install_hint

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _hinted_requirement(message: str) -> Requirement:
    """The requirement inside the message's `pip install "..."` command, as pip parses it."""
    command = re.search(r'pip install "[^"]+"', message)
    assert command, message
    return Requirement(shlex.split(command.group())[2])


def _declared(extra: str) -> set[str]:
    return {Requirement(r).name for r in EXTRAS[extra]}


def test_install_hint_names_the_repository_and_an_existing_extra():
    for extra in ("data", "notebook"):
        requirement = _hinted_requirement(install_hint(extra))
        assert requirement.name == "normlab"
        assert requirement.extras == {extra}
        assert requirement.url == REPOSITORY and extra in EXTRAS


def test_wasserstein1_without_scipy_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # as if scipy were missing
    x, y = torch.randn(5, 2), torch.randn(5, 2)
    with pytest.raises(ImportError, match=r"normlab\.gan\.wasserstein1 needs scipy") as info:
        normlab.gan.wasserstein1(x, y)
    message = str(info.value)
    assert "pip install scipy" in message
    assert _hinted_requirement(message).extras == {"data"} and "scipy" in _declared("data")
    assert isinstance(info.value.__cause__, ImportError)


def test_load_digits_without_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"normlab\.load_digits needs scikit-learn") as info:
        normlab.load_digits()
    message = str(info.value)
    assert "pip install scikit-learn" in message
    assert _hinted_requirement(message).extras == {"data"}
    assert "scikit-learn" in _declared("data")


def test_interactive_figure_without_ipywidgets_names_the_notebook_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(
        ImportError, match=r"normlab\.scaffolding\.interactive_figure needs ipywidgets"
    ) as info:
        normlab.scaffolding.interactive_figure(lambda a: None, a=None)
    assert _hinted_requirement(str(info.value)).extras == {"notebook"}
    assert "ipywidgets" in _declared("notebook")


def test_the_extras_declare_what_the_library_imports():
    assert _declared("data") == {"scikit-learn", "scipy"}
    assert _declared("notebook") == {"ipywidgets", "matplotlib", "ipython"}
    assert {"pytest", "hypothesis", "pyyaml"} <= _declared("test")
