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


# --- Thin pages (issue 14): what a reader must scroll past ------------------------------------
# A visible code cell is one the rendered book shows open: not folded by a `hide-input` or
# `hide-cell` tag, nor removed by `remove-input`/`remove-cell`. A code block of the book at
# a 1280 px window shows 79 characters (PEP 8's limit; the 80th is cut off: measured in
# Chromium), and a reader should not scroll past more than about 40 lines of code at once
# (STYLE.md, "Chapters").
VISIBLE_LINES, LINE_WIDTH = 40, 79
FOLDED = {"hide-input", "hide-cell", "remove-input", "remove-cell"}
# Chapters not yet converted to thin pages. The lead empties this set after converting them.
THIN_PAGE_EXCEPTIONS = {
    "08_gan.ipynb",  # owned by another helper for now (issue 14)
    "09_wgan.ipynb",  # owned by another helper for now (issue 14)
    "10_spectral_norm.ipynb",  # owned by another helper for now (issue 14)
}


def visible_code_cells(nb: dict) -> list[tuple[int, str]]:
    """``(index among the code cells, source)`` of the code cells the book shows open."""
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return [
        (i, "".join(c["source"]))
        for i, c in enumerate(cells)
        if not FOLDED & set(c.get("metadata", {}).get("tags", []))
    ]


def thin_page_problems(nb: dict) -> list[str]:
    problems = []
    for i, source in visible_code_cells(nb):
        lines = source.splitlines()
        if len(lines) > VISIBLE_LINES:
            problems.append(
                f"code cell {i} shows {len(lines)} lines (at most {VISIBLE_LINES}: fold "
                "plotting into a hide-input cell or a display helper)"
            )
        for number, line in enumerate(lines, start=1):
            if len(line) > LINE_WIDTH:
                problems.append(
                    f"code cell {i}, line {number} has {len(line)} characters "
                    f"(at most {LINE_WIDTH}): {line.strip()[:60]}"
                )
    return problems


def test_thin_page_check_catches_long_cells_and_lines():
    def notebook(source, tags=()):
        cell = {"cell_type": "code", "source": source, "metadata": {"tags": list(tags)}}
        return {"cells": [cell]}

    assert thin_page_problems(notebook("x = 1\n" * 40)) == []
    assert len(thin_page_problems(notebook("x = 1\n" * 41))) == 1
    assert len(thin_page_problems(notebook("x = '" + "a" * 74 + "'"))) == 1  # 80
    assert thin_page_problems(notebook("x = '" + "a" * 73 + "'")) == []  # 79
    assert thin_page_problems(notebook("x = 1\n" * 41, tags=["hide-input"])) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_pages_are_thin(path):
    if path.name in THIN_PAGE_EXCEPTIONS:
        pytest.skip(f"{path.name} is listed in THIN_PAGE_EXCEPTIONS")
    problems = thin_page_problems(load(path))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_thin_page_exceptions_name_existing_chapters():
    assert {p.name for p in NOTEBOOKS} >= THIN_PAGE_EXCEPTIONS


# --- Numbered figures (issue 14) -----------------------------------------------------------------
# A cell that shows a figure carries MyST-NB's figure options in its metadata,
# {"mystnb": {"figure": {"name": "fig-NN-...", "caption": "..."}}}: the book then wraps its
# output in a numbered figure ("Figure 3.2", numfig in _config.yml) that the prose cites with
# {numref}`fig-NN-...`. One figure per such cell: every output of the cell gets the options.
SHOWS_FIGURE = re.compile(r"plt\.show\(\)|\binteractive_figure\(|^fig = \w+_diagram\(", re.M)


def figure_options(cell: dict) -> dict:
    return cell.get("metadata", {}).get("mystnb", {}).get("figure", {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_figure_is_numbered_captioned_and_cited(path):
    if path.name in THIN_PAGE_EXCEPTIONS:
        pytest.skip(f"{path.name} is listed in THIN_PAGE_EXCEPTIONS")
    nb = load(path)
    prefix = f"fig-{path.name[:2]}-"
    cited = set(re.findall(r"\{numref\}`(?:[^`<]*<)?([\w-]+)>?`", markdown(nb)))
    names = []
    for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        source, options = "".join(cell["source"]), figure_options(cell)
        if not SHOWS_FIGURE.search(source):
            assert not options, f"{path.name}: code cell {i} has figure options but no figure"
            continue
        assert source.count("plt.show()") <= 1, f"{path.name}: code cell {i} shows two figures"
        name, caption = options.get("name", ""), options.get("caption", "")
        assert name.startswith(prefix), f"{path.name}: code cell {i}: figure name {name!r}"
        assert 20 <= len(caption) <= 400, f"{path.name}: code cell {i}: caption {caption!r}"
        assert name in cited, f"{path.name}: the prose never cites {{numref}}`{name}`"
        names.append(name)
    assert len(names) == len(set(names)), f"{path.name}: figure names repeat: {names}"
    assert cited <= set(names), f"{path.name}: cites figures it lacks: {cited - set(names)}"
