"""Package hygiene: version, typing marker, light import, documented public API."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import normlab
from normlab.book import SourceCode

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_single_sourced():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "normlab.__version__" }' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", normlab.__version__)


def test_py_typed_marker_ships_with_the_package():
    assert (Path(normlab.__file__).parent / "py.typed").exists()


def test_importing_normlab_stays_light():
    code = (
        "import sys, normlab; "
        "heavy = [m for m in ('matplotlib', 'ipywidgets', 'sklearn', 'scipy', 'IPython') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_exists_and_has_a_docstring():
    for name in normlab.__all__:
        if name == "__version__":
            continue
        obj = getattr(normlab, name)
        assert inspect.getdoc(obj), f"normlab.{name} has no docstring"


def test_every_public_module_is_in_the_api_reference():
    api = (ROOT / "api.md").read_text()
    documented = set(re.findall(r"automodule:: (normlab[\w.]*)", api))
    for name in normlab.__all__:
        if name == "__version__":
            continue
        module = getattr(normlab, name).__module__
        assert module in documented, f"normlab.{name} lives in {module}, missing from api.md"


def test_requirements_pin_the_tested_environment():
    lines = {ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()}
    assert "torch==2.13.0" in lines
    assert "jupyter-book>=1.0.4,<2" in lines
    assert any(ln.startswith("-e .") for ln in lines)


def test_show_source_returns_highlightable_markdown():
    shown = normlab.show_source(normlab.power_iteration)
    assert isinstance(shown, SourceCode)
    assert shown._repr_markdown_().startswith("```python\ndef power_iteration(")
    assert '"""' in shown.source
    bare = normlab.show_source(normlab.power_iteration, docstring=False)
    assert '"""' not in bare.source and "def power_iteration(" in bare.source
    assert "for _ in range(n_iters):" in bare.source


def test_show_source_rejects_objects_without_source():
    with pytest.raises(TypeError, match="obj must be a function, class, method or module"):
        normlab.show_source(3)


def test_progress_bar_is_quiet_when_asked(monkeypatch, capsys):
    monkeypatch.setenv("NORMLAB_QUIET", "1")
    assert normlab.progress.is_quiet()
    assert list(normlab.progress_bar(range(3))) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("NORMLAB_QUIET", "0")
    assert not normlab.progress.is_quiet()
