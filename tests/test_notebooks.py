"""Conventions every chapter notebook follows (see STYLE.md and "How to use this book")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    p for p in (ROOT / "chapters").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
IDS = [p.name for p in NOTEBOOKS]
REPOSITORY_URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def code_cells(nb: dict) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def markdown(nb: dict) -> str:
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def toc_files(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        if "file" in node:
            found.add(node["file"])
        if "root" in node:
            found.add(node["root"])
        for value in node.values():
            found |= toc_files(value)
    elif isinstance(node, list):
        for value in node:
            found |= toc_files(value)
    return found


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found under chapters/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name}: cell {i} carries outputs"
            assert cell.get("execution_count") is None, f"{path.name}: cell {i} has a count"


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    listed = toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    for path in NOTEBOOKS:
        assert str(path.relative_to(ROOT).with_suffix("")) in listed, f"{path} not in _toc.yml"
    for entry in listed:
        candidates = [ROOT / f"{entry}{ext}" for ext in (".md", ".ipynb")]
        assert any(c.exists() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_code_cell_sets_up_anywhere(path):
    first = code_cells(load(path))[0]
    # installs normlab from the book's repository only when it cannot be imported
    assert re.search(r"try:\s*\n\s*import normlab\s*\nexcept ImportError", first), first
    install = re.search(r'REPOSITORY = "([^"]+)"', first)
    assert install and install.group(1).removesuffix(".git") == REPOSITORY_URL
    assert re.search(r'%pip install --quiet "normlab\[data\] @ git\+\{REPOSITORY\}', first)
    # one set-up helper reads the knobs, seeds, sets threads and figures, and prints them
    assert "chapter = setup_chapter()" in first
    assert "from normlab.chapter import setup_chapter" in first


# What setup_chapter does once must not be redone (and drift) in the chapters' own cells.
SETUP_ONLY = [
    (r"\bos\.environ|\bgetenv\(", "reads an environment variable (use chapter.full/.seed)"),
    (r"set_num_threads\(", "sets the thread count (setup_chapter does)"),
    (r"%matplotlib|InlineBackend", "configures the figures (setup_chapter does)"),
    (r"seed_everything\(", "seeds globally (setup_chapter does; use chapter.seed(k))"),
]
# A literal seed ignores NORMLAB_SEED: every seed goes through chapter.seed(k).
LITERAL_SEEDS = r"(manual_seed\(\s*\d|\bseed\s*=\s*\d|default_rng\(\s*\d|random_state\s*=\s*\d)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_lives_in_one_place(path):
    for i, source in enumerate(code_cells(load(path))[1:], start=1):
        for pattern, what in SETUP_ONLY:
            assert not re.search(pattern, source), f"{path.name}: code cell {i} {what}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_seed_follows_the_seed_offset(path):
    for i, source in enumerate(code_cells(load(path))):
        for line in source.splitlines():
            assert not re.search(LITERAL_SEEDS, line), (
                f"{path.name}: code cell {i} draws a literal seed, which NORMLAB_SEED cannot "
                f"shift (use chapter.seed(k)): {line.strip()}"
            )


ASSERTS = re.compile(r"^\s*assert\b|assert_close\(|\bcheck\(", re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_asserting_cell_states_its_claim(path):
    """`make claims` (tools/claims.py) re-runs these cells under other seed offsets."""
    for i, cell in enumerate(c for c in load(path)["cells"] if c["cell_type"] == "code"):
        if not ASSERTS.search("".join(cell["source"])):
            continue
        meta = cell.get("metadata", {}).get("normlab", {})
        claim = meta.get("claim")
        assert isinstance(claim, str) and 10 <= len(claim) <= 200 and "\n" not in claim, (
            f"{path.name}: code cell {i} asserts, but its metadata has no one-line "
            f"normlab.claim (10-200 characters): {meta}"
        )
        assert meta.get("kind") in ("exact", "stochastic"), (
            f"{path.name}: code cell {i}: normlab.kind must be 'exact' (cannot depend on the "
            f"seed) or 'stochastic' (an outcome of training, sampling or timing), got {meta}"
        )


FORBIDDEN = [
    r"download\s*=\s*True",
    r"urlopen",
    r"urlretrieve",
    r"requests\.",
    r"\bwget\b",
    r"fetch_openml",
    r"torchvision\.datasets",
    r"torch\.hub",
    r"from_pretrained",
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_offline(path):
    for source in code_cells(load(path)):
        for pattern in FORBIDDEN:
            assert not re.search(pattern, source), (
                f"{path.name} downloads ({pattern}): {source[:80]}"
            )


# An Output widget (what ipywidgets.interact/interactive draw into) makes nbclient, hence the
# book build, hang now and then until the cell timeout (jupyter/nbclient#312);
# normlab.interactive_figure redraws a figure through a display_id instead.
HANGING_WIDGETS = [
    r"\binteractive\(",
    r"\binteract\(",
    r"@\w*\.?interact\b",
    r"interactive_output\(",
    r"\bOutput\(",
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_widgets_do_not_use_output_widgets(path):
    for source in code_cells(load(path)):
        for pattern in HANGING_WIDGETS:
            assert not re.search(pattern, source), (
                f"{path.name}: use normlab.interactive_figure instead of {pattern!r} "
                f"(nbclient#312): {source[:80]}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_follows_the_chapter_template(path):
    nb = load(path)
    assert nb["cells"][0]["cell_type"] == "markdown"
    assert "".join(nb["cells"][0]["source"]).startswith("# "), "first cell must be the title"
    headings = [h.lower() for h in re.findall(r"^#{2,3} (.+)$", markdown(nb), flags=re.M)]
    for required in ("learning objectives", "common mistakes", "exercises", "references"):
        assert any(required in h for h in headings), f"{path.name}: no '{required}' section"
    assert "{cite" in markdown(nb), f"{path.name} cites no reference"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_declares_its_time_budget(path):
    budget = load(path)["metadata"].get("normlab", {}).get("budget_seconds")
    assert isinstance(budget, int) and 0 < budget <= 90, f"{path.name}: budget {budget!r}"
