"""Package hygiene: version, typing marker, light import, documented public API."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

import normlab
from normlab._version import RELEASE, git_revision
from normlab.scaffolding.book import SourceCode

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_single_sourced():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "normlab._version.RELEASE" }' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", RELEASE)
    assert normlab.__version__.split("+")[0] == RELEASE


def test_every_release_has_a_changelog_entry_and_citation():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(RELEASE)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M)
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: \"?{re.escape(RELEASE)}\"?$", citation, re.M)
    assert f"version = {{{RELEASE}}}" in (ROOT / "cite.md").read_text()


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout (e.g. an sdist)")
def test_version_names_the_commit_of_a_checkout():
    head = _git(ROOT, "rev-parse", "HEAD")
    match = re.fullmatch(r"(\d+\.\d+\.\d+)\+g([0-9a-f]{7,})(\.dirty)?", normlab.__version__)
    assert match, normlab.__version__
    assert head.startswith(match.group(2))


def test_git_revision_follows_commits_and_uncommitted_changes(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    _git(tmp_path, "add", "pyproject.toml")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    first = git_revision(tmp_path)
    assert first == "g" + _git(tmp_path, "rev-parse", "--short=7", "HEAD")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert git_revision(tmp_path) == first + ".dirty"
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two")
    second = git_revision(tmp_path)
    assert second != first and not second.endswith(".dirty")


def test_git_revision_ignores_directories_that_are_not_a_normlab_checkout(tmp_path):
    assert git_revision(tmp_path) is None  # no pyproject.toml, no .git
    _git(tmp_path, "init", "-q")
    assert git_revision(tmp_path) is None  # a repository without pyproject.toml


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


def _requirement_lines(path: Path) -> list[str]:
    lines = (ln.split("#")[0].strip() for ln in path.read_text().splitlines())
    return [ln for ln in lines if ln]


def test_requirements_pin_torch_and_install_the_library_with_its_extras():
    lines = _requirement_lines(ROOT / "requirements.txt")
    assert "torch==2.13.0" in lines
    assert "jupyter-book>=1.0.4,<2" in lines
    assert "jupyterlab>=4" in lines  # the README's `jupyter lab` command
    assert "-e .[data,notebook,test]" in lines


def test_the_lock_pins_every_package_exactly():
    lock = ROOT / "requirements-lock.txt"
    pinned = {}
    for line in _requirement_lines(lock):
        name, sep, version = line.partition("==")
        assert sep and re.fullmatch(r"[\w.!]+", version), f"not an exact pin: {line!r}"
        pinned[name.lower().replace("_", "-")] = version
    assert re.search(r"^# Python 3\.\d+$", lock.read_text(), re.M)
    assert "normlab" not in pinned  # installed from src/, editable
    for line in _requirement_lines(ROOT / "requirements.txt"):
        if line.startswith("-e"):
            continue
        name, op, floor = re.split(r"(==|>=)", line.split(",")[0])
        name = name.lower().replace("_", "-")
        assert name in pinned, f"{name} is in requirements.txt but not in the lock"
        assert Version(pinned[name]) >= Version(floor), f"{name}: lock below the floor {floor}"
    assert pinned["torch"] == "2.13.0"  # no +cpu: the same line serves every platform


def test_show_source_returns_highlightable_markdown():
    shown = normlab.scaffolding.show_source(normlab.power_iteration)
    assert isinstance(shown, SourceCode)
    assert shown._repr_markdown_().startswith("```python\ndef power_iteration(")
    assert '"""' in shown.source
    bare = normlab.scaffolding.show_source(normlab.power_iteration, docstring=False)
    assert '"""' not in bare.source and "def power_iteration(" in bare.source
    assert "for _ in range(n_iters):" in bare.source


def test_show_source_rejects_objects_without_source():
    with pytest.raises(TypeError, match="obj must be a function, class, method or module"):
        normlab.scaffolding.show_source(3)


def test_progress_bar_is_quiet_when_asked(monkeypatch, capsys):
    monkeypatch.setenv("NORMLAB_QUIET", "1")
    assert normlab.scaffolding.progress.is_quiet()
    assert list(normlab.scaffolding.progress_bar(range(3))) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("NORMLAB_QUIET", "0")
    assert not normlab.scaffolding.progress.is_quiet()


def _documented_modules() -> set[str]:
    return set(re.findall(r"automodule:: (normlab[\w.]*)", (ROOT / "api.md").read_text()))


def test_every_documented_name_is_importable_where_the_api_reference_says():
    # api.md documents each module's __all__: every listed name must exist in that module
    for module_name in sorted(_documented_modules()):
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{module_name}.__all__ lists {name}, which is missing"


def test_the_top_level_holds_what_a_user_reaches_for():
    # the layers, the losses and the main functions; the scaffolding lives in its subpackage
    scaffolding = set(normlab.scaffolding.__all__)
    assert not scaffolding & set(normlab.__all__)
    assert len(normlab.__all__) <= 50
    for name in ("BatchNorm2d", "GroupNorm", "spectral_norm", "label_smoothing_cross_entropy"):
        assert name in normlab.__all__


def _library_imports():
    """(importing module, imported module, name) for every ``from normlab... import`` in src."""
    package = Path(normlab.__file__).parent
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("normlab"):
                for alias in node.names:
                    yield module, node.module, alias.name


# none: the pieces SyncBatchNorm shares with the normalization layers are the package's
# internal API (normlab.normalization._ops, public names in a private module)
PRIVATE_IMPORT_EXCEPTIONS: set[str] = set()


def test_no_module_imports_a_private_name_of_another():
    private = [
        f"{module} imports {source}.{name}"
        for module, source, name in _library_imports()
        if name.startswith("_")
        and name != "__version__"
        and module not in PRIVATE_IMPORT_EXCEPTIONS
    ]
    assert not private, private


def test_the_scaffolding_imports_no_subject_module_and_nothing_imports_the_examples():
    for module, source, name in _library_imports():
        # the chapter set-up prints the version (imported when called: a cycle otherwise)
        if module.startswith("normlab.scaffolding") and name != "__version__":
            assert source.startswith(("normlab.scaffolding", "normlab._")), (module, source)
        if not module.startswith("normlab.examples"):
            assert not source.startswith("normlab.examples"), (module, source)
