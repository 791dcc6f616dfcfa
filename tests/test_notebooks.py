"""Conventions every chapter notebook follows (CONTRIBUTING.md "A chapter", "How to use")."""

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
IDS = [str(p.relative_to(ROOT / "chapters")) for p in NOTEBOOKS]
# the chapters, and one solutions notebook per chapter, of the same file name
CHAPTERS = [p for p in NOTEBOOKS if p.parent == ROOT / "chapters"]
CHAPTER_IDS = [p.name for p in CHAPTERS]
SOLUTIONS_DIR = ROOT / "chapters" / "solutions"
SOLUTIONS = [p for p in NOTEBOOKS if p.parent == SOLUTIONS_DIR]
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
    assert re.search(r"^from normlab\.scaffolding import \(?[^)]*\bsetup_chapter\b", first, re.M)


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
# normlab.scaffolding.interactive_figure redraws a figure through a display_id instead.
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
                f"{path.name}: use normlab.scaffolding.interactive_figure instead of {pattern!r} "
                f"(nbclient#312): {source[:80]}"
            )


@pytest.mark.parametrize("path", CHAPTERS, ids=CHAPTER_IDS)
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


# Exercises and their worked solutions (issue 15). In a chapter each exercise is an item
#   k. (ex-NN-k)=
#      **Title.** text ... {ref}`Solution <sol-NN-k>`
# of its "## Exercises" section; chapters/solutions/<the chapter's file name> has, for each,
#   (sol-NN-k)=
#   ## Exercise k: Title
#   {ref}`Back to the exercise <ex-NN-k>`
# followed by the worked answer, with at least one asserting code cell.
EXERCISE_ITEM = re.compile(r"^(\d+)\. (?:\((ex-\d\d-\d+)\)=\s*\n\s*)?\*\*(.+?)\*\*", re.M)


def chapter_number(path: Path) -> str:
    return path.name[:2]


def exercises(path: Path) -> list[tuple[int, str | None, str, str]]:
    """(k, target, title, item text) of each exercise of a chapter, in order."""
    cells = [c for c in load(path)["cells"] if c["cell_type"] == "markdown"]
    sections = ["".join(c["source"]) for c in cells if "## Exercises" in "".join(c["source"])]
    assert len(sections) == 1, f"{path.name}: {len(sections)} cells with '## Exercises'"
    section = sections[0].split("## Exercises", 1)[1].split("\n## ", 1)[0]
    found = list(EXERCISE_ITEM.finditer(section))
    items = []
    for match, following in zip(found, [*found[1:], None], strict=True):
        end = following.start() if following else len(section)
        title = match.group(3).strip().removesuffix(".")
        items.append((int(match.group(1)), match.group(2), title, section[match.start() : end]))
    return items


def solutions_path(chapter: Path) -> Path:
    return SOLUTIONS_DIR / chapter.name


def test_every_chapter_has_a_solutions_notebook():
    missing = [p.name for p in CHAPTERS if not solutions_path(p).exists()]
    assert not missing, f"chapters without chapters/solutions/<name>.ipynb: {missing}"


def test_every_solutions_notebook_belongs_to_a_chapter():
    names = {p.name for p in CHAPTERS}
    assert SOLUTIONS, "no solutions notebooks under chapters/solutions/"
    for path in SOLUTIONS:
        assert path.name in names, f"solutions/{path.name} has no chapter of that name"


def with_solutions(chapters: list[Path]) -> list:
    """Only the chapters whose solutions notebook exists (the test above lists the others)."""
    return [
        pytest.param(p, id=p.name)
        if solutions_path(p).exists()
        else pytest.param(p, id=p.name, marks=pytest.mark.skip(reason="no solutions yet"))
        for p in chapters
    ]


@pytest.mark.parametrize("path", with_solutions(CHAPTERS))
def test_every_exercise_has_a_target_and_links_to_its_solution(path):
    nn = chapter_number(path)
    items = exercises(path)
    assert items, f"{path.name}: no exercises found"
    assert [k for k, *_ in items] == list(range(1, len(items) + 1)), f"{path.name}: numbering"
    for k, target, title, text in items:
        assert target == f"ex-{nn}-{k}", f"{path.name}: exercise {k} ({title}) needs (ex-{nn}-{k})="
        assert f"{{ref}}`Solution <sol-{nn}-{k}>`" in text, (
            f"{path.name}: exercise {k} ({title}) does not link to sol-{nn}-{k}"
        )


def solution_sections(path: Path) -> list[dict]:
    """The '## Exercise k: title' sections of a solutions notebook, with their cells."""
    sections: list[dict] = []
    for cell in load(path)["cells"]:
        source = "".join(cell["source"])
        heading = re.search(r"^## Exercise (\d+): (.+)$", source, re.M)
        if cell["cell_type"] == "markdown" and heading:
            before = source[: heading.start()].strip()
            sections.append(
                {
                    "k": int(heading.group(1)),
                    "title": heading.group(2).strip(),
                    "target": before,
                    "markdown": source[heading.end() :],
                    "code": [],
                }
            )
        elif sections and cell["cell_type"] == "code":
            sections[-1]["code"].append(source)
        elif sections:
            sections[-1]["markdown"] += "\n" + source
    return sections


@pytest.mark.parametrize("path", with_solutions(CHAPTERS))
def test_solutions_answer_every_exercise_in_order_with_an_assertion(path):
    nn, solutions = chapter_number(path), solutions_path(path)
    nb = load(solutions)
    chapter_title = "".join(load(path)["cells"][0]["source"]).splitlines()[0].removeprefix("# ")
    title = "".join(nb["cells"][0]["source"]).splitlines()[0]
    assert title == f"# Solutions to chapter {int(nn)}: {chapter_title}", title
    assert nb["metadata"].get("kernelspec") == load(path)["metadata"].get("kernelspec")
    sections = solution_sections(solutions)
    expected = [(k, t) for k, _, t, _ in exercises(path)]
    assert [(s["k"], s["title"]) for s in sections] == expected, (
        f"solutions/{path.name}: sections {[(s['k'], s['title']) for s in sections]}, "
        f"the chapter's exercises {expected}"
    )
    for s in sections:
        k = s["k"]
        assert s["target"] == f"(sol-{nn}-{k})=", (
            f"solutions/{path.name}: '## Exercise {k}' must directly follow (sol-{nn}-{k})="
        )
        assert f"{{ref}}`Back to the exercise <ex-{nn}-{k}>`" in s["markdown"], (
            f"solutions/{path.name}: exercise {k} has no link back to ex-{nn}-{k}"
        )
        assert any(ASSERTS.search(code) for code in s["code"]), (
            f"solutions/{path.name}: exercise {k} has no asserting code cell"
        )


# --- Thin pages (issue 14): what a reader must scroll past ------------------------------------
# A visible code cell is one the rendered book shows open: not folded by a `hide-input` or
# `hide-cell` tag, nor removed by `remove-input`/`remove-cell`. A code block of the book at
# a 1280 px window shows 79 characters (PEP 8's limit; the 80th is cut off: measured in
# Chromium), and a reader should not scroll past more than about 40 lines of code at once
# (CONTRIBUTING.md, "A chapter").
VISIBLE_LINES, LINE_WIDTH = 40, 79
FOLDED = {"hide-input", "hide-cell", "remove-input", "remove-cell"}


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
    problems = thin_page_problems(load(path))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


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


# --- Recorded runs (issue 11, point 5) ----------------------------------------------------------
# A chapter that shows a recorded run loads it with load_recording("recorded/...") (relative to
# the notebook's folder, where Jupyter runs it). The file must be committed and load: a chapter
# whose recording is missing would fail only when executed.
LOADS_RECORDING = re.compile(r"""load_recording\(\s*["']([^"']+)["']\s*\)""")


def recordings_loaded(nb: dict) -> list[str]:
    return [
        m for c in nb["cells"] if c["cell_type"] == "code"
        for m in LOADS_RECORDING.findall("".join(c["source"]))
    ]


def test_recording_paths_are_found_in_code():
    nb = {"cells": [{"cell_type": "code", "source": [
        'rec = load_recording("recorded/04_x.json")\n', "load_recording( 'a.json' )\n"]}]}
    assert recordings_loaded(nb) == ["recorded/04_x.json", "a.json"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_loaded_recording_exists_and_loads(path):
    from normlab.scaffolding.recording import load_recording

    for relative in recordings_loaded(load(path)):
        recording = load_recording(path.parent / relative)  # raises if missing or malformed
        assert recording.results, f"{path.name}: {relative} records no results"
        assert recording.commit != "unknown", f"{path.name}: {relative} names no commit"
